"""Venue ``sim``: the venue contract implemented in-process on :class:`tradebus.sim.SimMarket`.

It behaves like a broker connection, not like a helper: pushes are delivered only while
"connected" and are *lost* while not (as on a dropped socket — reconciliation must recover them);
an order sent in "slow answer" mode is on the wire: it lands at the venue after the delay whether or
not the caller is still waiting (or still alive); the venue acknowledges an order (``ACCEPTED``)
before it reports the fills of that order; the client order id travels in the order's remark, as
with Futu. Queries answer from the venue's own state, so a test can compare td_exec's fold with
the truth.

Accounts: ``SIM-HK`` (HKD stocks), ``SIM-US`` (USD stocks), ``SIM-FUT`` (CNY futures). A counterparty
account per kind (``SIM-CP-…``) lets a test trade against our resting orders from "the market".
"""

from __future__ import annotations

import asyncio
from typing import Final

from td_exec.venue import (
    CancelRejectReport,
    Capabilities,
    FillReport,
    OrderRef,
    OrderReport,
    VenueOrder,
    VenueRejected,
    VenueSink,
    VenueUnknown,
    external_client_order_id,
)
from tradebus.ids import venue_trade_key
from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSide, PositionSnapshot
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import Offset, OrderStatus, OrderType, Side, TimeInForce
from tradebus.sim import InstrumentKind, SimMarket, SimOrder, SimOrderStatus, SimReject, SimTrade
from tradebus.sim import Offset as SimOffset
from tradebus.sim import Side as SimSide

STATUS_SIM2TD: Final[dict[SimOrderStatus, OrderStatus]] = {
    SimOrderStatus.QUEUED: OrderStatus.ACCEPTED,
    SimOrderStatus.PARTIAL: OrderStatus.PARTIALLY_FILLED,
    SimOrderStatus.FILLED: OrderStatus.FILLED,
    SimOrderStatus.CANCELLED: OrderStatus.CANCELLED,
    SimOrderStatus.REJECTED: OrderStatus.REJECTED,
}
SIDE_TD2SIM: Final[dict[Side, SimSide]] = {Side.BUY: SimSide.BUY, Side.SELL: SimSide.SELL}
SIDE_SIM2TD: Final[dict[SimSide, Side]] = {v: k for k, v in SIDE_TD2SIM.items()}
OFFSET_TD2SIM: Final[dict[Offset, SimOffset]] = {o: SimOffset(o.value) for o in Offset}
OFFSET_SIM2TD: Final[dict[SimOffset, Offset]] = {v: k for k, v in OFFSET_TD2SIM.items()}

# account → (kind, currency, starting cash)
ACCOUNTS: Final[dict[str, tuple[InstrumentKind, str, float]]] = {
    "SIM-HK": (InstrumentKind.STOCK, "HKD", 10_000_000.0),
    "SIM-US": (InstrumentKind.STOCK, "USD", 1_000_000.0),
    "SIM-FUT": (InstrumentKind.FUTURE, "CNY", 10_000_000.0),
}
COUNTERPARTIES: Final[dict[InstrumentKind, str]] = {InstrumentKind.FUTURE: "SIM-CP-FUT"}

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.LIMIT, OrderType.MARKET}),
    time_in_force=frozenset({TimeInForce.DAY}),
    offsets=frozenset(Offset),
    modify=True,
)


class SimVenue:
    name = "sim"
    capabilities = CAPABILITIES

    def __init__(self, market: SimMarket | None = None, *, tick_s: float = 0.0, seed: int = 7) -> None:
        self.market = market or SimMarket(seed=seed)
        existing = set(self.market.accounts())
        for account, (kind, currency, cash) in ACCOUNTS.items():
            if account not in existing:
                self.market.open_account(account, kind=kind, currency=currency, cash=cash)
        for account in COUNTERPARTIES.values():
            if account not in existing:
                self.market.open_account(account, kind=InstrumentKind.FUTURE, currency="CNY", cash=1e9)
        self.market.add_listener(self._on_sim_order, self._on_sim_trade)
        self.tick_s = tick_s
        self.answer_delay_s = 0.0  # "slow answer" mode: an order lands at the venue this long after it is sent
        self.connected = False
        self._sink: VenueSink | None = None
        self._capture: list[SimOrder | SimTrade] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.inserts = 0  # orders that reached the venue (for tests: "one venue order")
        self.trading_day = ""  # none by default; tests give it one to stand in for a CTP front's login day

    # --- connection ----------------------------------------------------------------------------------

    async def start(self, sink: VenueSink) -> None:
        self._sink = sink
        self.connected = True
        asyncio.get_running_loop().call_soon(sink.on_connection, True, "connected")
        if self.tick_s > 0 and not any(t.get_name() == "sim.ticker" for t in self._tasks):
            self._spawn(self._ticker(), "sim.ticker")

    async def stop(self) -> None:
        self.connected = False
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def set_connected(self, connected: bool) -> None:
        """Drop or restore the session (tests): while down, pushes are lost and calls fail."""
        if connected == self.connected:
            return
        self.connected = connected
        if self._sink is not None:
            self._sink.on_connection(connected, "connected" if connected else "simulated disconnect")

    def accounts(self) -> list[str]:
        return list(ACCOUNTS)

    def external_client_order_id(self, venue_order_id: str) -> str:
        return external_client_order_id(venue_order_id)

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)  # the market's clock
            self.market.step()

    # --- reference data ------------------------------------------------------------------------------

    async def instrument(self, exchange: str, symbol: str) -> InstrumentInfo | None:
        inst = self.market.instrument(exchange, symbol)
        if inst is None:
            return None
        quote = self.market.quote(exchange, symbol)
        return InstrumentInfo(venue=self.name, exchange=inst.market, symbol=inst.symbol, name=inst.name,
                              kind=inst.kind.value, currency=inst.currency, lot_size=inst.lot_size,
                              price_tick=inst.price_tick, multiplier=inst.multiplier,
                              upper_limit=quote.upper_limit, lower_limit=quote.lower_limit)

    async def instruments(self, exchange: str | None = None) -> list[InstrumentInfo]:
        out = []
        for inst in self.market.instruments(exchange):
            info = await self.instrument(inst.market, inst.symbol)
            if info is not None:
                out.append(info)
        return out

    # --- orders --------------------------------------------------------------------------------------

    def _require_connection(self) -> None:
        if not self.connected:
            raise VenueUnknown("disconnected")

    async def submit(self, order: VenueOrder) -> str | None:
        self._require_connection()
        if self.answer_delay_s <= 0:
            return self._place(order)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._spawn(self._land_later(order, answer, self.answer_delay_s), f"sim.insert.{order.client_order_id}")
        return await asyncio.shield(answer)

    async def _land_later(self, order: VenueOrder, answer: asyncio.Future[str], delay: float) -> None:
        await asyncio.sleep(delay)  # the order is on the wire; it arrives whatever the sender does meanwhile
        try:
            venue_id = self._place(order)
        except VenueRejected as exc:
            if not answer.done():
                answer.set_exception(exc)
            return
        if not answer.done():
            answer.set_result(venue_id)

    def _place(self, order: VenueOrder) -> str:
        self._capture = []
        try:
            placed = self.market.submit(order.account, order.exchange, order.symbol, SIDE_TD2SIM[order.side],
                                        order.qty, order.price or 0.0, order.order_type,
                                        OFFSET_TD2SIM[order.offset], remark=order.client_order_id)
        except SimReject as exc:
            raise VenueRejected(exc.reason.value, exc.text) from None
        finally:
            captured, self._capture = self._capture, None
        self.inserts += 1
        # Like a real venue: the acknowledgement is pushed before the fills it caused.
        self._push_order(self._report(placed, status=OrderStatus.ACCEPTED, filled=0))
        for item in captured or []:
            self._route(item)
        return placed.order_id

    def _find(self, ref: OrderRef) -> SimOrder:
        if ref.venue_order_id:
            return self.market.order(ref.account, ref.venue_order_id)
        for candidate in self.market.orders(ref.account):
            if candidate.remark == ref.client_order_id:
                return candidate
        raise VenueRejected("unknown_order", f"no order with remark {ref.client_order_id!r}")

    async def cancel(self, ref: OrderRef) -> None:
        self._require_connection()
        try:
            self.market.cancel(ref.account, self._find(ref).order_id)
        except SimReject as exc:
            raise VenueRejected(exc.reason.value, exc.text) from None

    async def modify(self, ref: OrderRef, qty: int | None, price: float | None) -> None:
        self._require_connection()
        try:
            current = self._find(ref)
            self.market.modify(ref.account, current.order_id, qty if qty is not None else current.qty,
                               price if price is not None else current.price)
        except SimReject as exc:
            raise VenueRejected(exc.reason.value, exc.text) from None

    # --- queries -------------------------------------------------------------------------------------

    async def query_orders(self, account: str) -> list[OrderReport]:
        self._require_connection()
        return [self._report(o, reconciliation=True) for o in self._orders(account)]

    async def query_fills(self, account: str) -> list[FillReport]:
        self._require_connection()
        return [self._fill(t, reconciliation=True) for t in self._trades(account)]

    async def query_positions(self, account: str) -> list[PositionSnapshot]:
        self._require_connection()
        out: list[PositionSnapshot] = []
        for pos in self.market.positions(account):
            for side, qty, today, avg in ((PositionSide.LONG, pos.long_qty, pos.long_today, pos.long_avg_price),
                                          (PositionSide.SHORT, pos.short_qty, pos.short_today, pos.short_avg_price)):
                if qty:
                    out.append(PositionSnapshot(venue=self.name, account=account, exchange=pos.market,
                                                symbol=pos.symbol, side=side, qty=qty, today_qty=today,
                                                yesterday_qty=qty - today, avg_price=avg, margin=pos.margin,
                                                unrealised_pnl=pos.unrealised_pnl, ts_event=now_ns()))
        return out

    async def query_funds(self, account: str) -> list[AccountSnapshot]:
        self._require_connection()
        f = self.market.funds(account)
        return [AccountSnapshot(venue=self.name, account=account, currency=f.currency, cash=f.cash,
                                available=f.available, frozen=f.frozen_cash, margin=f.margin,
                                market_value=f.market_value, equity=f.equity, realised_pnl=f.realised_pnl,
                                unrealised_pnl=f.unrealised_pnl, fees=f.fees, ts_event=now_ns())]

    def _orders(self, account: str) -> list[SimOrder]:
        try:
            return self.market.orders(account)
        except SimReject as exc:
            raise VenueRejected(exc.reason.value, exc.text) from None

    def _trades(self, account: str) -> list[SimTrade]:
        try:
            return self.market.trades(account)
        except SimReject as exc:
            raise VenueRejected(exc.reason.value, exc.text) from None

    # --- test helpers: the market acting on its own --------------------------------------------------

    def counterparty(self, exchange: str, symbol: str, side: Side, qty: int, price: float) -> SimOrder:
        """Another market participant trades (futures): crosses our resting orders at ``price``."""
        return self.market.submit(COUNTERPARTIES[InstrumentKind.FUTURE], exchange, symbol, SIDE_TD2SIM[side], qty,
                                  price, OrderType.LIMIT, SimOffset.OPEN)

    def venue_order(self, account: str, client_order_id: str) -> SimOrder | None:
        return next((o for o in self.market.orders(account) if o.remark == client_order_id), None)

    # --- pushes --------------------------------------------------------------------------------------

    def _on_sim_order(self, order: SimOrder) -> None:
        if self._capture is not None:
            self._capture.append(order)
        else:
            self._route(order)

    def _on_sim_trade(self, trade: SimTrade) -> None:
        if self._capture is not None:
            self._capture.append(trade)
        else:
            self._route(trade)

    def _route(self, item: SimOrder | SimTrade) -> None:
        if item.account not in ACCOUNTS:
            return
        if isinstance(item, SimTrade):
            if self.connected and self._sink is not None:
                self._sink.on_fill(self._fill(item))
        else:
            self._push_order(self._report(item))

    def _push_order(self, report: OrderReport) -> None:
        if self.connected and self._sink is not None:  # a push on a dead session is simply lost
            self._sink.on_order(report)

    def _report(self, o: SimOrder, *, status: OrderStatus | None = None, filled: int | None = None,
                reconciliation: bool = False) -> OrderReport:
        filled_qty = o.filled_qty if filled is None else filled
        return OrderReport(account=o.account, client_order_id=o.remark or None, venue_order_id=o.order_id,
                           exchange=o.market, symbol=o.symbol, side=SIDE_SIM2TD[o.side], qty=o.qty,
                           price=o.price if o.kind is OrderType.LIMIT else None,
                           status=status or STATUS_SIM2TD[o.status], filled_qty=filled_qty,
                           avg_fill_price=o.avg_fill_price if filled_qty else None,
                           code=o.reject_reason.value if o.reject_reason else "", reason=o.reject_text,
                           ts_event=o.updated_ns, reconciliation=reconciliation)

    def _fill(self, t: SimTrade, *, reconciliation: bool = False) -> FillReport:
        order = self.market.order(t.account, t.order_id)
        inst = self.market.instrument(t.market, t.symbol)
        return FillReport(account=t.account, client_order_id=order.remark or None, venue_order_id=t.order_id,
                          trade_id=venue_trade_key("sim", t.trade_id), exchange=t.market, symbol=t.symbol,
                          side=SIDE_SIM2TD[t.side], qty=t.qty, price=t.price, offset=OFFSET_SIM2TD[t.offset],
                          fee=t.fee, fee_currency=inst.currency if inst else "", ts_event=t.ts_ns,
                          reconciliation=reconciliation)


__all__ = ["ACCOUNTS", "CAPABILITIES", "CancelRejectReport", "SimVenue"]
