"""A stand-in for td_exec and md_ingest on the real bus, backed by the real simulated market.

It answers ``td.cmd.<venue>.<account>`` with the schemas td_exec uses (orders go into
:class:`tradebus.sim.SimMarket`, so fills, funds and positions are the simulator's), answers
``md.ctl.subscribe`` like md_ingest, and publishes the simulator's quotes as ``Tick`` on
``md.tick.*`` (stored by stream MD) and 1-minute ``Bar`` messages on ``md.bar.1m.*``. It records every
command it receives, so tests can assert that bad input reached nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
from nats.aio.msg import Msg

from tradebus import subjects
from tradebus.bus import Bus
from tradebus.schemas import MARKET_CONTROL_DECODER, TRADE_COMMAND_DECODER
from tradebus.schemas.account import (
    AccountSnapshot,
    FundsReply,
    InstrumentInfo,
    InstrumentsReply,
    PositionSide,
    PositionSnapshot,
    PositionsReply,
)
from tradebus.schemas.base import BusMessage
from tradebus.schemas.market import Bar, Level, SubscribeRequest, SubscriptionReply, Tick, UnsubscribeRequest
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    Offset,
    OrdersReply,
    OrderStatus,
    OrderType,
    OrderView,
    QueryFunds,
    QueryInstruments,
    QueryOrders,
    QueryPositions,
    QueryTrades,
    QueryVenue,
    Side,
    SubmitOrder,
    TimeInForce,
    TradesReply,
    TradeView,
    VenueInfo,
)
from tradebus.sim import InstrumentKind, SimMarket, SimOrder, SimOrderStatus, SimReject
from tradebus.sim import Offset as SimOffset
from tradebus.sim import Side as SimSide

SIM_STATUS = {
    SimOrderStatus.QUEUED: OrderStatus.ACCEPTED,
    SimOrderStatus.PARTIAL: OrderStatus.PARTIALLY_FILLED,
    SimOrderStatus.FILLED: OrderStatus.FILLED,
    SimOrderStatus.CANCELLED: OrderStatus.CANCELLED,
    SimOrderStatus.REJECTED: OrderStatus.REJECTED,
}
VENUE_OF = {"HK": "futu", "US": "futu"}  # everything else in the sim market is a CTP future


@dataclass
class Peer:
    bus: Bus
    market: SimMarket
    accounts: dict[tuple[str, str], set[str]]  # (venue, account) → users allowed
    commands: list[BusMessage] = field(default_factory=list)
    subscriptions: list[SubscribeRequest] = field(default_factory=list)
    coid_to_sim: dict[tuple[str, str, str], str] = field(default_factory=dict)
    remarks: dict[tuple[str, str, str], str] = field(default_factory=dict)
    seq: int = 0

    async def start(self) -> None:
        await self.bus.serve("td.cmd.>", self._td)
        await self.bus.serve(subjects.MD_CTL_SUBSCRIBE, self._md_ctl)
        await self.bus.serve(subjects.MD_CTL_UNSUBSCRIBE, self._md_ctl)

    # --- market data ------------------------------------------------------------------------------

    async def _md_ctl(self, msg: Msg) -> None:
        request = MARKET_CONTROL_DECODER.decode(msg.data)
        assert isinstance(request, SubscribeRequest | UnsubscribeRequest)
        if isinstance(request, SubscribeRequest):
            self.subscriptions.append(request)
        known = self.market.instrument(request.exchange, request.symbol) is not None
        reply = SubscriptionReply(ok=known, venue=request.venue, exchange=request.exchange, symbol=request.symbol,
                                  refcount=1 if known else 0, error="" if known else "unknown instrument")
        await self.bus.reply(msg, reply)

    def tick_of(self, exchange: str, symbol: str, ts_ns: int | None = None) -> Tick:
        quote = self.market.quote(exchange, symbol)
        self.seq += 1
        venue = VENUE_OF.get(exchange, "ctp")
        return Tick(venue=venue, exchange=exchange, symbol=symbol, seq=self.seq, ts_event=ts_ns or quote.ts_ns,
                    ts_init=ts_ns or quote.ts_ns, last=quote.last, last_qty=quote.last_qty, open=quote.open,
                    high=quote.high, low=quote.low, prev_close=quote.prev_close, volume=quote.volume,
                    turnover=quote.turnover, bids=tuple(Level(p, q) for p, q in quote.bids),
                    asks=tuple(Level(p, q) for p, q in quote.asks))

    async def publish_tick(self, exchange: str, symbol: str, *, step: bool = True) -> Tick:
        if step:
            self.market.step(exchange, symbol)
        tick = self.tick_of(exchange, symbol)
        # A JetStream publish (stored by MD like md_ingest's core publish) so the test knows it is stored.
        await self.bus.js.publish(subjects.md_tick(tick.venue, exchange, symbol), msgspec.json.encode(tick))
        return tick

    async def publish_bar(self, bar: Bar) -> None:
        subject = subjects.md_bar(bar.venue, bar.exchange, bar.symbol)
        await self.bus.js.publish(subject, msgspec.json.encode(bar))

    # --- trading ----------------------------------------------------------------------------------

    async def _td(self, msg: Msg) -> None:
        _, _, venue, account_token = msg.subject.split(".")
        account = subjects.unescape_token(account_token)
        command = TRADE_COMMAND_DECODER.decode(msg.data)
        self.commands.append(command)
        if isinstance(command, QueryVenue):  # what td_exec says of a venue: its accounts (no trading day here)
            accounts = sorted(a for v, a in self.accounts if v == venue)
            await self.bus.reply(msg, VenueInfo(venue=venue, connected=True, accounts=accounts))
            return
        if command.user not in self.accounts.get((venue, account), set()):
            await self.bus.reply(msg, CommandDenied(code="not_allowed", reason=f"user {command.user!r} may not "
                                                                                 f"use {venue}:{account}"))
            return
        await self.bus.reply(msg, self._answer(venue, account, command))

    def _answer(self, venue: str, account: str, command: BusMessage) -> BusMessage:
        try:
            if isinstance(command, SubmitOrder):
                return self._submit(venue, account, command)
            if isinstance(command, CancelOrder):
                sim_id = self.coid_to_sim.get((venue, account, command.client_order_id))
                if sim_id is None:
                    return CommandDenied(code="unknown_order", reason="no such order")
                self.market.cancel(account, sim_id)
                return CommandAccepted(order=self._view(venue, account, command.client_order_id))
            if isinstance(command, QueryOrders):
                views = [self._view(venue, account, coid)
                         for (v, a, coid) in self.coid_to_sim if (v, a) == (venue, account)]
                if command.client_order_id:
                    views = [v for v in views if v.client_order_id == command.client_order_id]
                if command.open_only:
                    views = [v for v in views if v.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)]
                return OrdersReply(orders=views)
            if isinstance(command, QueryFunds):
                return FundsReply(funds=[self._funds(venue, account)])
            if isinstance(command, QueryPositions):
                return PositionsReply(positions=self._positions(venue, account))
            if isinstance(command, QueryTrades):
                return TradesReply(trades=self._trades(venue, account))
            if isinstance(command, QueryInstruments):
                return InstrumentsReply(instruments=[
                    InstrumentInfo(venue=venue, exchange=i.market, symbol=i.symbol, name=i.name, kind=i.kind.value,
                                   currency=i.currency, lot_size=i.lot_size, price_tick=i.price_tick)
                    for i in self.market.instruments(command.exchange)
                    if command.symbol in (None, i.symbol)])
        except SimReject as exc:
            return CommandDenied(code=str(exc.reason), reason=exc.text)
        return CommandDenied(code="unsupported", reason=type(command).__name__)

    def _submit(self, venue: str, account: str, order: SubmitOrder) -> BusMessage:
        assert order.client_order_id
        sim = self.market.submit(account, order.exchange, order.symbol, SimSide(order.side.value), order.qty,
                                 order.price or 0.0,
                                 order.order_type,
                                 SimOffset(order.offset.value), remark=order.client_order_id)
        key = (venue, account, order.client_order_id)
        self.coid_to_sim[key] = sim.order_id
        return CommandAccepted(order=self._view(venue, account, order.client_order_id))

    def _view(self, venue: str, account: str, coid: str) -> OrderView:
        sim: SimOrder = self.market.order(account, self.coid_to_sim[(venue, account, coid)])
        return OrderView(venue=venue, account=account, client_order_id=coid, venue_order_id=sim.order_id,
                         exchange=sim.market, symbol=sim.symbol, side=Side(sim.side.value),
                         order_type=OrderType(sim.kind.value), offset=Offset(sim.offset.value),
                         time_in_force=TimeInForce.DAY, qty=sim.qty, price=sim.price or None,
                         status=SIM_STATUS[sim.status], filled_qty=sim.filled_qty,
                         avg_fill_price=sim.avg_fill_price if sim.filled_qty else None,
                         ts_created=sim.created_ns, ts_last=sim.updated_ns)

    def _funds(self, venue: str, account: str) -> AccountSnapshot:
        f = self.market.funds(account)
        return AccountSnapshot(venue=venue, account=account, currency=f.currency, cash=f.cash,
                               available=f.available, frozen=f.frozen_cash, margin=f.margin,
                               market_value=f.market_value, equity=f.equity, ts_event=1)

    def _positions(self, venue: str, account: str) -> list[PositionSnapshot]:
        out: list[PositionSnapshot] = []
        for p in self.market.positions(account):
            for side, qty, today, frozen, avg in ((PositionSide.LONG, p.long_qty, p.long_today, p.long_frozen,
                                                   p.long_avg_price),
                                                  (PositionSide.SHORT, p.short_qty, p.short_today, p.short_frozen,
                                                   p.short_avg_price)):
                if qty:
                    out.append(PositionSnapshot(venue=venue, account=account, exchange=p.market, symbol=p.symbol,
                                                side=side, qty=qty, today_qty=today, frozen_qty=frozen,
                                                avg_price=avg, margin=p.margin, unrealised_pnl=p.unrealised_pnl,
                                                ts_event=1))
        return out

    def _trades(self, venue: str, account: str) -> list[TradeView]:
        by_sim = {sim: coid for (v, a, coid), sim in self.coid_to_sim.items() if (v, a) == (venue, account)}
        return [TradeView(venue=venue, account=account, client_order_id=by_sim.get(t.order_id, ""),
                          venue_order_id=t.order_id, trade_id=t.trade_id, exchange=t.market, symbol=t.symbol,
                          side=Side(t.side.value), offset=Offset(t.offset.value), qty=t.qty, price=t.price,
                          fee=t.fee, ts_event=t.ts_ns)
                for t in self.market.trades(account)]


def new_market() -> SimMarket:
    market = SimMarket(seed=11)
    market.open_account("000001", kind=InstrumentKind.FUTURE, currency="CNY", cash=1_000_000.0)
    market.open_account("000002", kind=InstrumentKind.FUTURE, currency="CNY", cash=500_000.0)
    market.open_account("281756457", kind=InstrumentKind.STOCK, currency="HKD", cash=1_000_000.0)
    return market
