"""kill -9 one ws_edge while webctp clients trade through the other (issue 19), under
``tradebus up --nats-cluster 3 --ws-edge-instances 2``.

Two webctp clients of user ``demo`` trade through ws_edge/1 and ws_edge/2 at once, each order in turn on
CTP (rb2601 on ctp:000001, ctp_sim) and on Futu (HK.09988 on the demo's Hong Kong account, opend_sim): each
inserts a resting buy, waits for its first ``RtnOrder``, cancels it and waits for the cancel. With the flow
going, the client on ws_edge/2 fires a burst of inserts and ws_edge/2 is killed with SIGKILL the moment
TD_EVT holds the burst's second order, so orders are in flight when it dies: answered, reached td_exec but
not answered, or never sent on. Then:

* the client on ws_edge/1 loses nothing: every ReqOrderInsert answered, every order's RtnOrder stream
  complete (accepted, then cancelled), and its longest pause around the kill is measured;
* the supervisor restarts ws_edge/2; the killed client logs in again there (the time from the kill is *time to
  serve again*), lists its old session's orders with ``ReqQryOrder`` (the account book rebuilt from TD_EVT)
  and cancels the ones still working by their old FrontID + SessionID + OrderRef;
* every order sent on the killed socket is sent again with its own client order id
  (``ws-1-<SessionID>-<OrderRef>``, the id ws_edge gave it) on ``td.cmd``: one that reached td_exec is answered
  as the same order (``duplicate``), one that did not is placed now, once. A webctp client cannot send that
  id itself — its new login has a new SessionID, as on a CTP front, so a resent ReqOrderInsert is a new
  order by CTP's rules; it finds out what became of the old one with ReqQryOrder, as tested above;
* a web console login issued by ws_edge/2 before the kill is accepted by the restarted ws_edge/2 and by
  ws_edge/1 (KV ``console_sessions``);
* per venue, TD_EVT, the ``orders`` projection and the simulator's own order list agree one by one
  (order_flow.audit): lost 0, doubled 0, unanswered 0. The figures are printed as one ``edge-fault`` line
  (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from console_client import answer_of, console, resume
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from order_flow import Ledger, audit, projected, submitted_events
from polling import until, until_async
from up_harness import UpRun, finish_opend_login, instance_port_step, run_up, up_ports, wait_for, wait_healthy
from venue_truth import ctp_venue_order_ids, futu_venue_order_ids
from webctp_frames import depth_of
from webctp_trader import WORKING, Key, Leg, WebctpTrader
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake

from strategies.conftest import CTP, FUTU, add_bus_user, can_connect
from tradebus.cli.bus_access import OPERATOR_FILE
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CancelOrder, CommandAccepted

NODES = 3
WARM_ORDERS = 8  # accepted orders on each edge before the kill: the flow really flows
AFTER_ORDERS = 6  # and again on each edge once ws_edge/2 serves again
BURST = 6  # inserts fired on ws_edge/2 just before it is killed: some are in flight when it dies
# (webctp id, exchange, symbol, volume, how far under the bid the buy rests): rb2601 10 ticks of 1.0 under (inside
# CTP's daily price band); HK.09988 200 ticks of 0.1 under, some 15 % at the simulator's 100–200 HKD (a fill would
# spend the account's cash).
INSTRUMENTS = {"ctp": ("rb2601", "SHFE", "rb2601", 1, 10.0), "futu": ("HK.09988", "HK", "09988", 100, 20.0)}
RESENDER, RESENDER_PASSWORD = "resender", "resender-password"  # a bus user of both accounts (td.cmd)
SERVE_BOUND_S = 30.0

pytestmark = pytest.mark.timeout(150)


def _status_rows(run: UpRun) -> dict[str, dict[str, Any]]:
    return {row["service"]: row for row in wait_healthy(run, timeout=30)}


async def _legs(port: int, password: str) -> list[Leg]:
    """A resting buy of each instrument, priced under the bid that ws_edge/1's own /md/ shows a webctp client."""
    ids = tuple(spec[0] for spec in INSTRUMENTS.values())
    depth, all_seen = depth_of(ids)
    async with connect(f"ws://127.0.0.1:{port}/md/") as md:
        login = {"UserID": "demo", "Password": password}
        await md.send(json.dumps({"MsgType": "ReqUserLogin", "RequestID": 1, "ReqUserLogin": login}))
        await md.send(json.dumps({"MsgType": "SubscribeMarketData", "InstrumentID": list(ids)}))
        async with asyncio.timeout(20):
            while not all_seen(json.loads(await md.recv())):
                pass
    legs = []
    for venue_account in (CTP, FUTU):
        venue, account = venue_account.split(":")
        instrument_id, exchange, symbol, volume, under = INSTRUMENTS[venue]
        price = round(float(depth[instrument_id]["BidPrice1"]) - under, 2)
        legs.append(Leg(venue, account, instrument_id, exchange, symbol, volume, price))
    return legs


async def _bus(url: str, user: str, password: str) -> Client:
    return await nats.connect(
        servers=url.split(","),
        user=user,
        password=password,
        inbox_prefix=f"_INBOX.{user}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
    )


async def _console_token(port: int, password: str) -> str:
    ws = await console(port)
    try:
        await ws.send(json.dumps({"type": "login", "user": "demo", "password": password}))
        answer = await answer_of(ws, {"login_ok", "login_failed"})
        assert answer["type"] == "login_ok", answer
        return str(answer["token"])
    finally:
        await ws.close()


async def _token_accepted(port: int, token: str) -> bool:
    ws, answer = await resume(port, token)
    await ws.close()
    return answer["type"] == "login_ok" and answer["user"] == "demo"


def _keys(orders: list[dict[str, Any]], session_id: int) -> Counter[Key]:
    return Counter((session_id, int(o["OrderRef"])) for o in orders if int(o["SessionID"]) == session_id)


async def _old_session_book(reborn: WebctpTrader, victim: WebctpTrader, legs: list[Leg]) -> dict[Key, str]:
    """ReqQryOrder on the restarted edge (each account), once it lists every order the killed client saw
    answered: the old session's orders and their CTP status, each listed once."""

    async def listing() -> dict[Key, str] | None:
        orders = [order for leg in legs for order in await reborn.list_orders(leg.account)]
        counts = _keys(orders, victim.session_id)
        assert all(n == 1 for n in counts.values()), f"an order listed twice: {counts}"
        if not set(victim.accepted()) <= set(counts):
            return None
        return {
            (victim.session_id, int(o["OrderRef"])): o["OrderStatus"]
            for o in orders
            if int(o["SessionID"]) == victim.session_id
        }

    return await until_async(listing, 20, "the restarted ws_edge/2 to list the killed session's orders")


async def _resend_same_ids(url: str, victim: WebctpTrader, reached: set[Key]) -> dict[str, int]:
    """Every order of the killed socket sent again on td.cmd with its own client order id, as ws_edge sent it
    (user ``demo``): the ones td_exec had must come back as themselves; the others are placed now (and
    cancelled, so they do not rest)."""
    nc = await _bus(url, RESENDER, RESENDER_PASSWORD)
    outcome = Counter[str]()

    async def ask(subject: str, command: object) -> object:
        return TRADE_REPLY_DECODER.decode((await nc.request(subject, msgspec.json.encode(command), timeout=10)).data)

    try:
        for key, leg in victim.leg_of.items():
            subject, coid = f"td.cmd.{leg.venue}.{leg.account}", victim.coid(key)
            reply = await ask(subject, leg.submit(coid, "demo"))
            assert isinstance(reply, CommandAccepted), (key, reply)
            assert reply.duplicate == (key in reached), (key, reply.duplicate, key in reached)
            outcome["same_order" if reply.duplicate else "placed_now"] += 1
            if not reply.duplicate:
                cancel = CancelOrder(venue=leg.venue, account=leg.account, client_order_id=coid, user="demo")
                answer = await ask(subject, cancel)
                assert isinstance(answer, CommandAccepted), (key, answer)
    finally:
        await nc.close()
    return dict(outcome)


@dataclass
class KillSwitch:
    """kill -9 of the edge from inside the callback of a TD_EVT message: as soon as td_exec has stored one of
    the ``armed`` orders, before the edge's own fold of TD_EVT has (most likely) pushed its RtnOrder."""

    pid: int
    armed: set[str] = field(default_factory=set)
    killed_at: float = 0.0

    async def on_event(self, msg: Msg) -> None:
        if not self.killed_at and msg.subject.rsplit(".", 1)[1] in self.armed:
            os.kill(self.pid, signal.SIGKILL)
            self.killed_at = time.monotonic()


async def _login_again(port: int, password: str) -> WebctpTrader:
    async def attempt() -> WebctpTrader:
        return await WebctpTrader.login("edge2-again", port, "demo", password, timeout=3)

    return await until_async(
        attempt,
        SERVE_BOUND_S,
        "ws_edge/2 to serve a webctp login again",
        interval=0.05,
        ignore=(OSError, ConnectionError, TimeoutError, InvalidHandshake),
    )


def _venue_order_ids(run: UpRun, leg: Leg) -> list[str]:
    """The simulator's own order list of the leg's account."""
    return ctp_venue_order_ids(run) if leg.venue == "ctp" else futu_venue_order_ids(run, int(leg.account))


async def _audit(
    run: UpRun, operator: tuple[str, str], traders: list[WebctpTrader], victim: WebctpTrader, legs: list[Leg]
) -> dict[str, Any]:
    """Per venue: every order a client saw answered, and every order of the killed socket (each was sent
    again with its id, so td_exec has each once), compared one by one in TD_EVT, KV orders and the venue."""
    op = await _bus(run.nats_url, *operator)
    figures: dict[str, Any] = {}
    try:
        for leg in legs:
            ledger = Ledger(leg.venue, leg.account)
            ours = [(t, k) for t in traders for k in t.sent if t.leg_of[k].venue == leg.venue]
            ledger.sent = [t.coid(k) for t, k in ours]
            ledger.unanswered = [
                f"{t.name} {request} {t.coid(k)}"
                for t in traders
                for k, request in t.unanswered
                if t.leg_of[k].venue == leg.venue
            ]
            coids = sorted({t.coid(k) for t, k in ours if k in t.statuses or t is victim})

            async def settled(leg: Leg = leg, coids: list[str] = coids) -> bool:
                views = await projected(op, leg.venue, leg.account, coids)
                return len(views) == len(coids) and all(v.venue_order_id for v in views.values())

            await until_async(settled, 30, f"every accepted {leg.venue} order in KV orders with its venue order id")
            views = await projected(op, leg.venue, leg.account, ledger.sent)
            ledger.accepted = {coid: views[coid] for coid in coids}
            events = await submitted_events(op, leg.venue, leg.account)
            found = await asyncio.to_thread(_venue_order_ids, run, leg)
            result = audit(ledger, events, views, found)
            assert result.figures() == {"lost": 0, "doubled": 0, "unanswered": 0}, (leg.venue, result)
            figures[leg.venue] = {**result.figures(), "orders": len(coids), "venue_orders": len(found)}
    finally:
        await op.close()
    return figures


async def _trade_through_the_kill(
    run: UpRun, operator: tuple[str, str], password: str, ports: tuple[int, int]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The figures, and `tradebus status` as it was once both edges served the clients."""
    port1, port2 = ports
    legs = await _legs(port1, password)
    survivor = await WebctpTrader.login("edge1", port1, "demo", password)
    victim = await WebctpTrader.login("edge2", port2, "demo", password)
    token = await _console_token(port2, password)
    # Read now, with both edges serving: under a cluster that is still forming an edge can time out at its
    # start and be restarted by the supervisor before it serves (its row then says so).
    before_kill = await asyncio.to_thread(_status_rows, run)
    stop, victim_stop = asyncio.Event(), asyncio.Event()
    victim_flow = asyncio.create_task(victim.run(legs, victim_stop))
    flows = [asyncio.create_task(survivor.run(legs, stop)), victim_flow]
    traders = [survivor, victim]
    op = await _bus(run.nats_url, *operator)
    switch = KillSwitch(before_kill["ws_edge/2"]["pid"])
    watch = await op.jetstream().subscribe(
        "td.evt.>",
        stream="TD_EVT",
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
        cb=switch.on_event,
    )
    try:
        await until(
            lambda: len(survivor.accepted()) >= WARM_ORDERS and len(victim.accepted()) >= WARM_ORDERS,
            40,
            "the order flow on both edges",
        )
        # The killed client ends its order in hand, then fires a burst without waiting for answers; ws_edge/2
        # dies as soon as td_exec has stored the burst's second order (the edge handles a socket's frames one
        # at a time): the first is most likely answered, the second reached td_exec but most likely not the
        # client, the rest never left the edge.
        victim_stop.set()
        await victim_flow
        burst = [(victim.session_id, victim.next_ref + n) for n in range(1, BURST + 1)]
        switch.armed = {victim.coid(key) for key in burst[1:]}
        for n in range(BURST):
            await victim.insert(legs[n % len(legs)])
        await until(lambda: switch.killed_at, 15, "td_exec to store one of the burst's orders")
        killed_at = switch.killed_at
        await until(lambda: victim.closed, 10, "the killed edge's socket to close")
        assert not victim.unanswered, victim.unanswered  # silence while its edge was alive
        unanswered_at_kill = [k for k in victim.sent if not victim.answered(k)]

        reborn = await _login_again(port2, password)
        serve_s = time.monotonic() - killed_at
        traders.append(reborn)
        book = await _old_session_book(reborn, victim, legs)
        assert set(book) <= set(victim.sent), "an order listed under the old session that it never sent"
        for key, status in book.items():  # still working: cancel by the old FrontID + SessionID + OrderRef
            if status in WORKING:
                await reborn.cancel(key, victim.leg_of[key])

        async def old_orders_ended() -> bool:
            return all(s not in WORKING for s in (await _old_session_book(reborn, victim, legs)).values())

        await until_async(old_orders_ended, 20, "the killed session's working orders cancelled from the new one")
        resent = await _resend_same_ids(run.nats_url, victim, set(book))

        console_after = await _token_accepted(port2, token) and await _token_accepted(port1, token)
        assert console_after, "the console login issued by ws_edge/2 was not accepted after its restart"

        flows.append(asyncio.create_task(reborn.run(legs, stop)))
        before = len(survivor.accepted())
        await until(
            lambda: len(reborn.accepted()) >= AFTER_ORDERS and len(survivor.accepted()) >= before + AFTER_ORDERS,
            40,
            "the order flow on both edges after the restart",
        )
    finally:
        stop.set()
        victim_stop.set()
        await asyncio.gather(*flows)
        ended_at = time.monotonic()
        await watch.unsubscribe()
        await op.close()
        for trader in traders:
            await trader.close()

    # The surviving edge lost nothing: every insert answered, every order's RtnOrder stream complete.
    assert not survivor.unanswered and not reborn.unanswered, (survivor.unanswered, reborn.unanswered)
    for trader in (survivor, reborn):
        incomplete = [k for k in trader.sent if not trader.complete(k) and k not in trader.refused]
        assert not incomplete, f"{trader.name}: orders whose RtnOrder stream did not end: {incomplete}"
    figures = await _audit(run, operator, traders, victim, legs)
    pause = Ledger("", "", answered_at=survivor.answered_at).longest_pause(killed_at, ended_at)
    return {
        **figures,
        "survivor_pause_s": round(pause, 2),
        "serve_again_s": round(serve_s, 2),
        "in_flight_at_kill": len(unanswered_at_kill),
        "killed_socket_orders": len(victim.sent),
        "reached_td_exec": len(book),
        "reached_unanswered": len(set(book) & set(unanswered_at_kill)),
        **resent,
        "survivor_orders": len(survivor.sent),
        "console_token_kept": console_after,
    }, before_kill


def test_kill_9_of_one_ws_edge_loses_doubles_and_leaves_unanswered_nothing(tmp_path: Path) -> None:
    ports = up_ports()
    step = instance_port_step(ports)
    up_args = (
        "--nats-cluster",
        str(NODES),
        "--cluster-port",
        "0",
        "--ws-edge-instances",
        "2",
        "--instance-port-step",
        str(step),
    )
    with run_up(tmp_path, up_args=up_args, ports=ports) as run:
        creds_path = run.data_dir / OPERATOR_FILE
        wait_for(creds_path.exists, 30, "tradebus up to write the operator credentials")
        saved = json.loads(creds_path.read_text())
        run.nats_url = saved["url"]
        finish_opend_login(run)
        rows = wait_healthy(run, timeout=90)
        assert {"ws_edge/1", "ws_edge/2"} <= {row["service"] for row in rows}, rows
        added = add_bus_user(run, RESENDER, RESENDER_PASSWORD, f"{CTP},{FUTU}")
        assert added.returncode == 0, added.stderr
        for node_url in run.nats_url.split(","):
            wait_for(
                lambda url=node_url: can_connect(url, RESENDER, RESENDER_PASSWORD), 20, f"the bus user on {node_url}"
            )
        password, _, _ = run.demo_credentials()
        port1 = int(run.env["TRADEBUS_WS_MD_PORT"])
        figures, before = asyncio.run(
            _trade_through_the_kill(run, (saved["user"], saved["password"]), password, (port1, port1 + step))
        )

        print("edge-fault kill-9-ws-edge: " + json.dumps(figures, separators=(",", ":")))
        after = _status_rows(run)
        killed, survived = before["ws_edge/2"], before["ws_edge/1"]
        assert after["ws_edge/2"]["restarts"] > killed["restarts"] and after["ws_edge/2"]["pid"] != killed["pid"]
        assert (after["ws_edge/1"]["restarts"], after["ws_edge/1"]["pid"]) == (survived["restarts"], survived["pid"])
