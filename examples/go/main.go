// tradebus from Go with nats.go: the raw contract. Subscribe to ticks, place a limit order far from
// the market, see it accepted, cancel it. Prints one JSON line per step.
//
//	TRADEBUS_USER=alice TRADEBUS_PASSWORD=... go run .
//
// Environment: TRADEBUS_NATS_URL (nats://127.0.0.1:4222), TRADEBUS_USER, TRADEBUS_PASSWORD,
// TRADEBUS_ACCOUNT (ctp:000001), TRADEBUS_SYMBOL (ctp.SHFE.rb2601).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

const timeout = 10 * time.Second

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// token escapes a value as a subject token: letters, digits and '-' stand for themselves, any other
// byte becomes '_' and its upper-case hex (docs/schemas.md).
func token(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

func say(fields map[string]any) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func request(nc *nats.Conn, subject string, body map[string]any) map[string]any {
	data, _ := json.Marshal(body)
	msg, err := nc.Request(subject, data, timeout)
	if err != nil {
		fail("%s: %v", subject, err)
	}
	var reply map[string]any
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		fail("%s: undecodable reply: %v", subject, err)
	}
	_, apiError := reply["error"].(map[string]any) // a JetStream API refusal; our replies carry error ""
	if reply["type"] == "CommandDenied" || reply["ok"] == false || apiError {
		fail("%s: refused: %s", subject, msg.Data)
	}
	return reply
}

// followOrder brings one order's events. Nobody subscribes to td.evt itself (docs/security.md): a consumer
// of stream TD_EVT, filtered to the order and delivered to our own inbox, is made with one JetStream API
// request whose subject ends in the filter (all a bus user may send); the server removes it once nobody
// listens.
func followOrder(nc *nats.Conn, user, venue, accountID, coid string) *nats.Subscription {
	deliver := fmt.Sprintf("_INBOX.%s.events.%s", user, token(coid))
	events, err := nc.SubscribeSync(deliver)
	if err != nil {
		fail("subscribe %s: %v", deliver, err)
	}
	filter := fmt.Sprintf("td.evt.%s.%s.%s", venue, token(accountID), token(coid))
	name := "ex-" + token(coid)
	request(nc, fmt.Sprintf("$JS.API.CONSUMER.CREATE.TD_EVT.%s.%s", name, filter), map[string]any{
		"stream_name": "TD_EVT",
		"config": map[string]any{"name": name, "filter_subject": filter, "deliver_subject": deliver,
			"deliver_policy": "new", "ack_policy": "none", "inactive_threshold": int64(300e9)},
	})
	return events
}

func until(sub *nats.Subscription, what string, match func(map[string]any) bool) map[string]any {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var event map[string]any
		if json.Unmarshal(msg.Data, &event) == nil && match(event) {
			return event
		}
	}
	fail("timed out waiting for %s", what)
	return nil
}

func main() {
	user := env("TRADEBUS_USER", "")
	account := strings.SplitN(env("TRADEBUS_ACCOUNT", "ctp:000001"), ":", 2)
	parts := strings.SplitN(env("TRADEBUS_SYMBOL", "ctp.SHFE.rb2601"), ".", 3)
	if len(account) != 2 || len(parts) != 3 {
		fail("TRADEBUS_ACCOUNT is <venue>:<account> and TRADEBUS_SYMBOL <venue>.<exchange>.<symbol>")
	}
	venue, accountID, exchange, symbol := account[0], account[1], parts[1], parts[2]
	nc, err := nats.Connect(env("TRADEBUS_NATS_URL", nats.DefaultURL),
		nats.UserInfo(user, os.Getenv("TRADEBUS_PASSWORD")), nats.CustomInboxPrefix("_INBOX."+user))
	if err != nil {
		fail("connect: %v", err)
	}
	defer nc.Drain()

	instrument := map[string]any{"venue": venue, "exchange": exchange, "symbol": symbol, "requester": user + ":go"}
	request(nc, "md.ctl.subscribe", merge(instrument, map[string]any{"type": "SubscribeRequest"}))
	ticks, _ := nc.SubscribeSync(fmt.Sprintf("md.tick.%s.%s.%s", venue, token(exchange), token(symbol)))
	tick := until(ticks, "a tick with limits", func(t map[string]any) bool {
		return t["type"] == "Tick" && t["lower_limit"] != nil
	})
	ticks.Unsubscribe()
	say(map[string]any{"step": "tick", "symbol": symbol, "last": tick["last"], "lower_limit": tick["lower_limit"]})

	coid := fmt.Sprintf("go-%d", time.Now().UnixNano())
	cmd := fmt.Sprintf("td.cmd.%s.%s", venue, token(accountID))
	events := followOrder(nc, user, venue, accountID, coid)
	accepted := request(nc, cmd, map[string]any{
		"type": "SubmitOrder", "venue": venue, "account": accountID, "exchange": exchange, "symbol": symbol,
		"side": "buy", "qty": 1, "order_type": "limit", "price": tick["lower_limit"], "offset": "open",
		"client_order_id": coid, "user": user,
	})
	order, _ := accepted["order"].(map[string]any)
	say(map[string]any{"step": "submitted", "client_order_id": coid, "status": order["status"]})
	until(events, "OrderAccepted", func(e map[string]any) bool { return e["type"] == "OrderAccepted" })
	say(map[string]any{"step": "accepted", "client_order_id": coid})

	request(nc, cmd, map[string]any{"type": "CancelOrder", "venue": venue, "account": accountID,
		"client_order_id": coid, "user": user})
	until(events, "OrderCancelled", func(e map[string]any) bool { return e["type"] == "OrderCancelled" })
	say(map[string]any{"step": "cancelled", "client_order_id": coid})

	request(nc, "md.ctl.unsubscribe", merge(instrument, map[string]any{"type": "UnsubscribeRequest"}))
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
