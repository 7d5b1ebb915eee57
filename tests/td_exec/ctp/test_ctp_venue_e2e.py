"""End to end: ``python -m td_exec`` (CTP only) and ``python -m ctp_sim`` as processes, a real NATS.

Orders go in as bus requests on ``td.cmd.ctp.000001``; what happened is read back from ``TD_EVT`` and
compared with the front's own view (a separate CTP session of the test, with its own journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from ctp_front import CtpFront
from ctp_venue_helpers import INVESTOR, RecordingSink, start_venue, venue_order
from polling import until_async

from td_exec.ctp_venue import CtpVenue
from td_exec.venue import OrderRef, VenueOrder
from tradebus.bus import Bus, RequestFailed, fold_stream
from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER
from tradebus.schemas.account import InstrumentInfo, PositionSide, PositionsReply
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    Offset,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrdersReply,
    OrderStatus,
    OrderSubmitted,
    QueryOrders,
    QueryPositions,
    SubmitOrder,
)
from tradebus.subjects import td_cmd, td_evt

ROOT = Path(__file__).resolve().parents[3]
SUBJECT = td_cmd("ctp", INVESTOR)
NOT_READY = {"reconciling", "venue_disconnected"}


class TdExec:
    """``python -m td_exec`` with only the CTP venue; killed or stopped by pid."""

    def __init__(self, nats_url: str, front: CtpFront, data_dir: Path) -> None:
        self.env = {**os.environ, "TRADEBUS_NATS_URL": nats_url, "TRADEBUS_DATA_DIR": str(data_dir),
                    "TRADEBUS_LOG_FORMAT": "json", "TRADEBUS_TD_FUTU": "0", "TRADEBUS_TD_CTP": "1",
                    "TRADEBUS_TD_SIM": "0", "TRADEBUS_CTP_TD_FRONT": front.td,
                    "TRADEBUS_CTP_PASSWORD": "123456", "TRADEBUS_CTP_AUTH_CODE": "0000000000000000",
                    "TRADEBUS_TD_INFLIGHT_GRACE_S": "60",
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs"),
                                                   os.environ.get("PYTHONPATH", "")])}
        self.process: asyncio.subprocess.Process | None = None
        self.output = bytearray()
        self._collector: asyncio.Task[None] | None = None

    async def start(self) -> TdExec:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "td_exec", "--health-port", "0", env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._collector = asyncio.create_task(self._collect(self.process))
        return self

    async def _collect(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(4096):
            self.output.extend(chunk)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.send_signal(sig)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._collector is not None:
            with contextlib.suppress(Exception):
                await self._collector
        self.process = None

    def tail(self) -> str:
        return self.output.decode(errors="replace")[-3000:]


async def request(bus: Bus, cmd: Any, timeout: float = 5.0) -> Any:
    return await bus.request(SUBJECT, cmd, TRADE_REPLY_DECODER, timeout=timeout)


async def submit_when_ready(bus: Bus, cmd: SubmitOrder, svc: TdExec, timeout: float = 30.0) -> Any:
    """Retry while td_exec starts, logs in or reconciles; anything else is the answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await request(bus, cmd)
            if not (isinstance(reply, CommandDenied) and reply.code in NOT_READY):
                return reply
        except RequestFailed:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"td_exec did not become ready:\n{svc.tail()}")
        await asyncio.sleep(0.2)


async def events(bus: Bus, coid: str) -> list[OrderEvent]:
    def add(acc: list[OrderEvent], ev: OrderEvent, _s: str, _q: int) -> list[OrderEvent]:
        acc.append(ev)
        return acc

    evs = await fold_stream(bus.js, td_evt("ctp", INVESTOR, coid), ORDER_EVENT_DECODER, add, [], idle_timeout=2.0)
    # td_exec stores the "not ready yet" denials of submit_when_ready's retries under the same id.
    return [e for e in evs if not (isinstance(e, OrderDenied) and e.code in NOT_READY)]


async def order_view(bus: Bus, coid: str) -> Any:
    reply = await request(bus, QueryOrders(venue="ctp", account=INVESTOR, client_order_id=coid))
    assert isinstance(reply, OrdersReply)
    return reply.orders[0] if reply.orders else None


async def until_status(bus: Bus, coid: str, status: OrderStatus, timeout: float = 20.0) -> Any:
    view = None

    async def reached() -> Any:
        nonlocal view
        view = await order_view(bus, coid)
        return view if view is not None and view.status is status else None

    # RequestFailed: td_exec (re)starting
    return await until_async(reached, timeout, f"{coid} to reach {status}", interval=0.2, ignore=(RequestFailed,),
                             detail=lambda: f"last {view}")


def order(coid: str, price: float | None, qty: int = 1, side: str = "buy", offset: str = "open") -> SubmitOrder:
    return SubmitOrder(venue="ctp", account=INVESTOR, exchange="SHFE", symbol="rb2601", side=side,  # type: ignore[arg-type]
                       qty=qty, price=price, offset=offset, client_order_id=coid)  # type: ignore[arg-type]


@pytest.fixture
async def observer(front: CtpFront, tmp_path: Path) -> Any:
    """A second session on the front (the test's own view of the truth), with its own journal."""
    venue, sink = await start_venue(front, tmp_path / "observer")
    try:
        yield venue, sink
    finally:
        await venue.stop()


def fills(evs: list[OrderEvent]) -> list[OrderFilled]:
    return [e for e in evs if isinstance(e, OrderFilled)]


async def test_submit_fill_partial_cancel_reject_through_td_exec(nats_server, bus: Bus, front: CtpFront,  # type: ignore[no-untyped-def]
                                                                 observer: tuple[CtpVenue, RecordingSink],
                                                                 tmp_path: Path) -> None:
    venue, _ = observer
    rb = await venue.instrument("SHFE", "rb2601")
    assert rb is not None and rb.upper_limit is not None and rb.lower_limit is not None
    svc = await TdExec(nats_server.url, front, tmp_path / "td").start()
    try:
        # More than the five levels show, at the upper limit: part trades at once, the rest as the market moves.
        reply = await submit_when_ready(bus, order("big-1", rb.upper_limit, qty=600), svc)
        assert isinstance(reply, CommandAccepted), (reply, svc.tail())
        done = await until_status(bus, "big-1", OrderStatus.FILLED)
        assert done.filled_qty == 600
        evs = await events(bus, "big-1")
        kinds = [type(e).__name__ for e in evs]
        assert kinds[:2] == ["OrderSubmitted", "OrderAccepted"] and set(kinds[2:]) == {"OrderFilled"}, kinds
        assert len(fills(evs)) > 1 and sum(f.fill_qty for f in fills(evs)) == 600
        assert len({f.trade_id for f in fills(evs)}) == len(fills(evs))
        assert all(f.trade_id.startswith("ctp:SHFE:") and f.venue_order_id for f in fills(evs))
        positions = await request(bus, QueryPositions(venue="ctp", account=INVESTOR))
        assert isinstance(positions, PositionsReply)
        [long] = [p for p in positions.positions if p.symbol == "rb2601"]
        assert (long.side, long.qty, long.today_qty) == (PositionSide.LONG, 600, 600)
        # A resting order, cancelled.
        assert isinstance(await request(bus, order("rest-1", rb.lower_limit)), CommandAccepted)
        await until_status(bus, "rest-1", OrderStatus.ACCEPTED)
        assert isinstance(await request(bus, CancelOrder(venue="ctp", account=INVESTOR, client_order_id="rest-1")),
                          CommandAccepted)
        await until_status(bus, "rest-1", OrderStatus.CANCELLED)
        # A venue reject: closing yesterday's position that does not exist (CTP error 51).
        await request(bus, order("close-yd", rb.lower_limit, side="sell", offset="close"))
        rejected = await until_status(bus, "close-yd", OrderStatus.REJECTED)
        assert "平昨仓位不足" in rejected.reason, rejected
        # Close today's position: the fills carry the offset.
        await request(bus, order("close-td", rb.lower_limit, qty=2, side="sell", offset="close_today"))
        await until_status(bus, "close-td", OrderStatus.FILLED)
        assert {f.offset for f in fills(await events(bus, "close-td"))} == {"close_today"}
    finally:
        await svc.stop()


async def test_killed_before_the_front_answers_then_restarted(nats_server, bus: Bus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    front = CtpFront(tmp_path / "front", "--order-ack-delay-ms", "3000", seed=5).start()
    svc = await TdExec(nats_server.url, front, tmp_path / "td").start()
    observer: CtpVenue | None = None
    try:
        reply = await submit_when_ready(bus, order("slow-1", 3298.0), svc)  # the day's upper limit: marketable
        assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.SUBMITTED, reply
        await svc.stop(signal.SIGKILL)  # OrderSubmitted is stored, the insert is at the slow front
        await svc.start()
        done = await until_status(bus, "slow-1", OrderStatus.FILLED, timeout=30)
        assert done.filled_qty == 1
        observer, _ = await start_venue(front, tmp_path / "observer")
        at_front = await observer.query_orders(INVESTOR)
        assert len(at_front) == 1 and at_front[0].venue_order_id == done.venue_order_id  # one venue order
        kinds = [type(e).__name__ for e in await events(bus, "slow-1")]
        assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderFilled"], kinds
    finally:
        if observer is not None:
            await observer.stop()
        await svc.stop()
        front.stop()


async def test_front_restart_replays_the_day_without_duplicate_fills_and_reconciles(  # type: ignore[no-untyped-def]
        nats_server, bus: Bus, front: CtpFront, observer: tuple[CtpVenue, RecordingSink], tmp_path: Path) -> None:
    venue, _ = observer
    rb = await venue.instrument("SHFE", "rb2601")
    assert rb is not None and rb.upper_limit is not None and rb.lower_limit is not None
    svc = await TdExec(nats_server.url, front, tmp_path / "td").start()
    try:
        await submit_when_ready(bus, order("fill-1", rb.upper_limit, qty=3), svc)
        await until_status(bus, "fill-1", OrderStatus.FILLED)
        for coid in ("open-a", "open-b"):
            await request(bus, order(coid, rb.lower_limit))
            await until_status(bus, coid, OrderStatus.ACCEPTED)
        before = fills(await events(bus, "fill-1"))
        # td_exec goes away; meanwhile another terminal cancels one of its orders and the front restarts.
        await svc.stop(signal.SIGKILL)
        view_a = await order_view_from_events(bus, "open-a")
        await venue.cancel(OrderRef(account=INVESTOR, client_order_id="open-a", venue_order_id=view_a,
                                    exchange="SHFE", symbol="rb2601"))
        await observer[1].wait(lambda: any(r.venue_order_id == view_a and r.status is OrderStatus.CANCELLED
                                           for r in observer[1].orders), what="cancel seen by the observer")
        front.stop(signal.SIGKILL)
        front.start()
        await svc.start()
        await until_status(bus, "open-a", OrderStatus.CANCELLED, timeout=30)
        # The day's replay after the re-login added no fill.
        after = fills(await events(bus, "fill-1"))
        assert [f.trade_id for f in after] == [f.trade_id for f in before]
        # The reconciled state equals the front's.
        await observer[1].wait(lambda: observer[1].connections[-1][0] and len(observer[1].connections) >= 3,
                               what="observer back")
        truth = {o.venue_order_id: (o.status, o.filled_qty) for o in await venue.query_orders(INVESTOR)}
        reply = await request(bus, QueryOrders(venue="ctp", account=INVESTOR))
        ours = {o.venue_order_id: (o.status, o.filled_qty) for o in reply.orders}
        assert ours == truth, (ours, truth)
        assert sorted(s for s, _ in ours.values()) == sorted(
            [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.ACCEPTED])
    finally:
        await svc.stop()


async def order_view_from_events(bus: Bus, coid: str) -> str:
    venue_ids = [e.venue_order_id for e in await events(bus, coid) if e.venue_order_id]
    assert venue_ids, coid
    return venue_ids[-1]


async def test_orders_of_another_session_become_external_orders_once(  # type: ignore[no-untyped-def]
        nats_server, bus: Bus, front: CtpFront, observer: tuple[CtpVenue, RecordingSink], tmp_path: Path) -> None:
    other, other_sink = observer  # another CTP session of the same investor: a second terminal
    rb = await other.instrument("SHFE", "rb2601")
    assert rb is not None and rb.upper_limit is not None and rb.lower_limit is not None
    svc = await TdExec(nats_server.url, front, tmp_path / "td").start()
    try:
        await submit_when_ready(bus, order("ours-1", rb.lower_limit), svc)  # td_exec is up and ready
        # the instrument list td_exec wrote to KV instruments (what ws_edge answers from)
        kv_rb = await (await bus.js.key_value("instruments")).get("ctp.SHFE.rb2601")
        assert msgspec.json.decode(kv_rb.value, type=InstrumentInfo) == rb
        key = await place_elsewhere(other, other_sink, venue_order("theirs-fill", price=rb.upper_limit, qty=2))
        pushed = other.external_client_order_id(key)
        assert pushed.startswith(f"ext-{other.trading_day}-")
        done = await until_status(bus, pushed, OrderStatus.FILLED)
        assert done.external and done.filled_qty == 2 and done.venue_order_id == key
        evs = await events(bus, pushed)
        assert isinstance(evs[0], OrderSubmitted) and evs[0].external and evs[0].offset is Offset.OPEN
        assert sum(f.fill_qty for f in fills(evs)) == 2

        # td_exec away while the other terminal places an order: reconciliation records it, once
        await svc.stop(signal.SIGKILL)
        key2 = await place_elsewhere(other, other_sink, venue_order("theirs-rest", price=rb.lower_limit))
        await other_sink.wait(lambda: any(r.venue_order_id == key2 and r.status is OrderStatus.ACCEPTED
                                          for r in other_sink.orders), what="resting order at the front")
        away = other.external_client_order_id(key2)
        for _ in range(2):  # a second restart replays the same day: nothing is added
            await svc.start()
            await until_status(bus, away, OrderStatus.ACCEPTED, timeout=30)
            kinds = [type(e).__name__ for e in await events(bus, away)]
            assert kinds == ["OrderSubmitted", "OrderAccepted"], kinds
            assert [type(e).__name__ for e in await events(bus, pushed)].count("OrderSubmitted") == 1
            await svc.stop()
        await svc.start()
        reply = await submit_when_ready(bus, QueryOrders(venue="ctp", account=INVESTOR), svc)  # type: ignore[arg-type]
        assert {o.client_order_id for o in reply.orders if o.external} == {pushed, away}
        assert {o.client_order_id for o in reply.orders if not o.external} == {"ours-1"}
    finally:
        await svc.stop()


async def place_elsewhere(other: CtpVenue, sink: RecordingSink, new: VenueOrder) -> str:
    """Insert through the other session; its FrontID:SessionID:OrderRef key, from its first report."""
    await other.submit(new)
    report = await sink.wait(lambda: next((r for r in sink.order_states(new.client_order_id) if r.venue_order_id),
                                          None), what="the other session's order report")
    return str(report.venue_order_id)


async def test_an_order_in_flight_when_its_holder_died_is_adopted_not_doubled(  # type: ignore[no-untyped-def]
        nats_server, bus: Bus, tmp_path: Path) -> None:
    """The holder dies after sending (slow front: no report stored); the next holder runs on another
    host (its own data dir, so its journal never saw those sends) and a new CTP session."""
    front = CtpFront(tmp_path / "front", "--order-ack-delay-ms", "1500", seed=5).start()
    observer: CtpVenue | None = None
    dead = await TdExec(nats_server.url, front, tmp_path / "td-a").start()
    heir = TdExec(nats_server.url, front, tmp_path / "td-b")
    try:
        observer, sink = await start_venue(front, tmp_path / "observer")  # another terminal of the investor
        rb = await observer.instrument("SHFE", "rb2601")
        assert rb is not None and rb.lower_limit is not None
        reply = await submit_when_ready(bus, order("lone", rb.lower_limit), dead)
        assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.SUBMITTED, reply
        for twin in ("twin-1", "twin-2"):  # two identical orders in flight: no pairing is certain
            reply = await request(bus, order(twin, rb.lower_limit, qty=2))
            assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.SUBMITTED, reply
        await dead.stop(signal.SIGKILL)
        # the three inserts are at the front, under the dead session's FrontID/SessionID
        at_front: list[Any] = []

        async def three_at_front() -> bool:
            at_front[:] = await observer.query_orders(INVESTOR)  # type: ignore[union-attr]
            return len(at_front) == 3

        await until_async(three_at_front, 20, "the dead holder's three orders at the front", interval=0.2)
        lone_key = next(r.venue_order_id for r in at_front if r.qty == 1)
        twin_keys = {str(r.venue_order_id) for r in at_front if r.qty == 2}

        await heir.start()
        lone = await until_status(bus, "lone", OrderStatus.ACCEPTED, timeout=30)
        assert lone.venue_order_id == lone_key
        for key in twin_keys:  # ambiguous: recorded as external, as before
            await until_status(bus, observer.external_client_order_id(key), OrderStatus.ACCEPTED, timeout=30)
        # a later identical order of another terminal has no candidate left: external
        elsewhere = await place_elsewhere(observer, sink, venue_order("theirs", price=rb.lower_limit))
        await until_status(bus, observer.external_client_order_id(elsewhere), OrderStatus.ACCEPTED, timeout=30)

        kinds = [type(e).__name__ for e in await events(bus, "lone")]
        assert kinds == ["OrderSubmitted", "OrderAccepted"], kinds
        reply = await request(bus, QueryOrders(venue="ctp", account=INVESTOR))
        externals = {o.client_order_id for o in reply.orders if o.external}
        assert externals == {observer.external_client_order_id(k) for k in {*twin_keys, elsewhere}}, externals
        assert observer.external_client_order_id(str(lone_key)) not in externals
        twins = {o.client_order_id: o.status for o in reply.orders if o.client_order_id.startswith("twin-")}
        assert twins == {"twin-1": OrderStatus.SUBMITTED, "twin-2": OrderStatus.SUBMITTED}, twins
        assert "not adopted: ambiguous" in heir.tail() or "not adopted: ambiguous" in heir.output.decode()
    finally:
        if observer is not None:
            await observer.stop()
        await heir.stop()
        await dead.stop()
        front.stop()
