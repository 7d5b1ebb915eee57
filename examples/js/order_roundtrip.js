// tradebus from JavaScript with the `nats` npm package and nothing else: the raw contract.
// Subscribe to ticks, place a limit order far from the market, see it accepted, cancel it.
//
//   npm install nats
//   TRADEBUS_USER=alice TRADEBUS_PASSWORD=... node examples/js/order_roundtrip.js
//
// Environment: TRADEBUS_NATS_URL (nats://127.0.0.1:4222), TRADEBUS_USER, TRADEBUS_PASSWORD,
// TRADEBUS_ACCOUNT (ctp:000001), TRADEBUS_SYMBOL (ctp.SHFE.rb2601). Prints one JSON line per step.
const { connect, JSONCodec } = require("nats");

const jc = JSONCodec();
const say = (fields) => console.log(JSON.stringify(fields));
// Subject tokens: letters, digits and '-' stand for themselves, any other character is '_' + the hex of
// its UTF-8 bytes (docs/schemas.md). The names used here need no escaping; this keeps them honest.
const token = (s) => Array.from(Buffer.from(s, "utf8")).map((b) => {
  const c = String.fromCharCode(b);
  return /[A-Za-z0-9-]/.test(c) ? c : "_" + b.toString(16).toUpperCase().padStart(2, "0");
}).join("");

async function request(nc, subject, body) {
  const reply = jc.decode((await nc.request(subject, jc.encode(body), { timeout: 10000 })).data);
  if (reply.type === "CommandDenied" || reply.ok === false || (reply.error && typeof reply.error === "object")) {
    throw new Error(`${subject}: ${JSON.stringify(reply)}`);
  }
  return reply;
}

// Order events: nobody subscribes to td.evt itself (docs/security.md). A consumer of stream TD_EVT, filtered
// to our order and delivered to our own inbox, brings them; it is made with one JetStream API request whose
// subject ends in the filter (all a bus user may send) and is removed by the server once nobody listens.
async function followOrder(nc, user, venue, accountId, coid) {
  const deliver = `_INBOX.${user}.events.${token(coid)}`;
  const events = nc.subscribe(deliver)[Symbol.asyncIterator]();
  const filter = `td.evt.${venue}.${token(accountId)}.${token(coid)}`;
  const name = `ex-${token(coid)}`;
  await request(nc, `$JS.API.CONSUMER.CREATE.TD_EVT.${name}.${filter}`, {
    stream_name: "TD_EVT", config: { name, filter_subject: filter, deliver_subject: deliver,
      deliver_policy: "new", ack_policy: "none", inactive_threshold: 300e9 } });
  return events;
}

// A subscription is one async iterator: read it with next(), so it can be waited on more than once.
async function until(messages, predicate, what) {
  const timer = setTimeout(() => { console.error(`timed out waiting for ${what}`); process.exit(1); }, 20000);
  for (;;) {
    const { value, done } = await messages.next();
    if (done) throw new Error(`subscription ended before ${what}`);
    const event = jc.decode(value.data);
    if (predicate(event)) { clearTimeout(timer); return event; }
  }
}

async function main() {
  const user = process.env.TRADEBUS_USER;
  const [venue, accountId] = (process.env.TRADEBUS_ACCOUNT || "ctp:000001").split(":");
  const [, exchange, symbol] = (process.env.TRADEBUS_SYMBOL || "ctp.SHFE.rb2601").match(/^[^.]+\.([^.]+)\.(.+)$/);
  const nc = await connect({ servers: process.env.TRADEBUS_NATS_URL || "nats://127.0.0.1:4222", user,
                             pass: process.env.TRADEBUS_PASSWORD, inboxPrefix: `_INBOX.${user}` });
  const instrument = { venue, exchange, symbol };
  await request(nc, "md.ctl.subscribe", { type: "SubscribeRequest", ...instrument, requester: `${user}:js` });

  const ticks = nc.subscribe(`md.tick.${venue}.${token(exchange)}.${token(symbol)}`);
  const tick = await until(ticks[Symbol.asyncIterator](), (t) => t.type === "Tick" && t.lower_limit != null, "a tick with limits");
  ticks.unsubscribe();
  say({ step: "tick", symbol, last: tick.last, lower_limit: tick.lower_limit });

  const coid = `js-${Date.now()}`;
  const events = await followOrder(nc, user, venue, accountId, coid);
  const accepted = await request(nc, `td.cmd.${venue}.${token(accountId)}`, {
    type: "SubmitOrder", venue, account: accountId, exchange, symbol, side: "buy", qty: 1, order_type: "limit",
    price: tick.lower_limit, offset: "open", client_order_id: coid, user });
  say({ step: "submitted", client_order_id: coid, status: accepted.order.status });
  await until(events, (e) => e.type === "OrderAccepted", "OrderAccepted");
  say({ step: "accepted", client_order_id: coid });

  await request(nc, `td.cmd.${venue}.${token(accountId)}`,
                { type: "CancelOrder", venue, account: accountId, client_order_id: coid, user });
  await until(events, (e) => e.type === "OrderCancelled", "OrderCancelled");
  say({ step: "cancelled", client_order_id: coid });

  await request(nc, "md.ctl.unsubscribe", { type: "UnsubscribeRequest", ...instrument, requester: `${user}:js` });
  await nc.drain();
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
