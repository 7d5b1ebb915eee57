"""The simulated market: instruments walking on seeded random paths, a book per instrument, accounts.

Pure and synchronous: a venue simulator calls :meth:`SimMarket.step` from its own timer (that sets
the tick rate) and turns the quotes, orders and trades it gets into its wire protocol. Listeners are
called synchronously, after the state change that caused them is complete, so a listener may
query the market.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable

import msgspec

from tradebus.sim import changes
from tradebus.sim.accounts import (
    Bucket,
    apply_fill,
    cash_needed,
    closable,
    close_bucket,
    closes_long,
    frozen_cash,
    frozen_position,
    funds_view,
    position_margin,
    position_view,
    reserves_cash,
    reserves_position,
)
from tradebus.sim.instruments import default_instruments, is_on_tick, limit_prices, tick_size
from tradebus.sim.matching import (
    PlannedFill,
    consume_level,
    crossing_levels,
    display_side,
    passive_queue,
    plan_fills,
    resting_by_priority,
)
from tradebus.sim.rng import Rng
from tradebus.sim.state import AccountRec, InstState, MarketState, OrderRec, inst_key
from tradebus.sim.types import (
    Funds,
    InstrumentKind,
    Offset,
    OrderType,
    Position,
    Quote,
    RejectReason,
    Side,
    SimInstrument,
    SimOrder,
    SimOrderStatus,
    SimReject,
    SimTrade,
)
from tradebus.sim.walk import (
    BOOK_DEPTH,
    advance_fair,
    clamp_to_limits,
    crowd_print,
    drift_open_interest,
    rebuild_book,
)

OrderListener = Callable[[SimOrder], None]
TradeListener = Callable[[SimTrade], None]
QuoteListener = Callable[[Quote], None]
Event = SimOrder | SimTrade | Quote

_OI_RANGE = (50_000, 300_000)
_MONEY_EPS = 1e-6


@dataclasses.dataclass(frozen=True, slots=True)
class _Listener:
    on_order: OrderListener
    on_trade: TradeListener
    on_quote: QuoteListener | None


_FLOAT_FIELDS = ("price_tick", "multiplier", "margin_rate", "ref_price", "fee_rate", "fee_per_lot")


def _normalised(inst: SimInstrument) -> SimInstrument:
    """Floats as floats, so a snapshot decodes to exactly what was encoded."""
    changes: dict[str, float] = {f: float(getattr(inst, f)) for f in _FLOAT_FIELDS}
    if inst.limit_pct is not None:
        changes["limit_pct"] = float(inst.limit_pct)
    return dataclasses.replace(inst, **changes)


def _new_inst_state(inst: SimInstrument, seed: int, now_ns: int) -> InstState:
    inst = _normalised(inst)
    rng = Rng.for_key(seed, inst_key(inst.market, inst.symbol))
    upper, lower = limit_prices(inst, inst.ref_price)
    oi = rng.randint(*_OI_RANGE) if inst.kind is InstrumentKind.FUTURE else 0
    ref = inst.ref_price
    return InstState(inst=inst, rng=rng, fair=ref, last=ref, open=ref, high=ref, low=ref, prev_close=ref,
                     upper=upper, lower=lower, open_interest=oi, ts_ns=now_ns)


class SimMarket:
    def __init__(self, instruments: Iterable[SimInstrument] | None = None, *, seed: int = 7,
                 clock: Callable[[], int] = time.time_ns) -> None:
        insts = list(instruments) if instruments is not None else default_instruments()
        now = clock()
        state = MarketState(seed=seed, instruments=[_new_inst_state(i, seed, now) for i in insts])
        for ist in state.instruments:
            rebuild_book(ist, state.take_prio())
        self._setup(state, clock)

    def _setup(self, state: MarketState, clock: Callable[[], int]) -> None:
        self._s = state
        self._clock = clock
        self._by_key = {ist.key: ist for ist in state.instruments}
        self._listeners: list[_Listener] = []
        self._pending: list[Event] = []

    @property
    def seed(self) -> int:
        return self._s.seed

    def now_ns(self) -> int:
        """The market's clock (UTC nanoseconds): what its quotes are stamped with."""
        return self._clock()

    # ------------------------------------------------------------------ instruments and quotes

    def instruments(self, market: str | None = None) -> list[SimInstrument]:
        return [ist.inst for ist in self._s.instruments if market is None or ist.inst.market == market]

    def instrument(self, market: str, symbol: str) -> SimInstrument | None:
        ist = self._by_key.get(inst_key(market, symbol))
        return ist.inst if ist is not None else None

    def add_instrument(self, inst: SimInstrument) -> bool:
        """List ``inst`` if it is not listed yet (a market restored from an older snapshot lacks newer
        instruments). Returns whether it was added."""
        if inst_key(inst.market, inst.symbol) in self._by_key:
            return False
        ist = _new_inst_state(inst, self._s.seed, self._clock())
        rebuild_book(ist, self._s.take_prio())
        self._s.instruments.append(ist)
        self._by_key[ist.key] = ist
        return True

    def quote(self, market: str, symbol: str) -> Quote:
        return self._build_quote(self._by_key[inst_key(market, symbol)])

    def step(self, market: str | None = None, symbol: str | None = None) -> list[Quote]:
        """One walk step for each selected instrument; resting orders the new book crosses fill."""
        targets = [ist for ist in self._s.instruments
                   if (market is None or ist.inst.market == market)
                   and (symbol is None or ist.inst.symbol == symbol)]
        if not targets and (market is not None or symbol is not None):
            raise KeyError(inst_key(market or "*", symbol or "*"))
        quotes = [self._step_one(ist) for ist in targets]
        self._flush()
        return quotes

    def _step_one(self, ist: InstState) -> Quote:
        ist.last_qty = 0
        advance_fair(ist, ist.inst.ref_price)
        rebuild_book(ist, self._s.take_prio())
        crowd = crowd_print(ist)
        if crowd is not None:
            self._print(ist, *crowd)
            drift_open_interest(ist, crowd[1])
        self._fill_resting(ist)
        return self._publish(ist)

    def _fill_resting(self, ist: InstState) -> None:
        for side in (Side.BUY, Side.SELL):
            for order in resting_by_priority(ist, self._s.orders, side):
                fills = crossing_levels(ist, order)
                if fills:
                    self._execute(ist, order, fills)
                    self._pending.append(order.view())

    def _print(self, ist: InstState, price: float, qty: int) -> None:
        if not ist.traded_today:
            ist.open = ist.high = ist.low = price
            ist.traded_today = True
        ist.high = max(ist.high, price)
        ist.low = min(ist.low, price)
        ist.last = price
        ist.last_qty = qty
        ist.volume += qty
        ist.turnover += price * qty * ist.inst.multiplier

    def _publish(self, ist: InstState) -> Quote:
        ist.seq += 1
        ist.ts_ns = self._clock()
        quote = self._build_quote(ist)
        self._pending.append(quote)
        return quote

    def _build_quote(self, ist: InstState) -> Quote:
        orders = self._s.orders
        return Quote(
            market=ist.inst.market, symbol=ist.inst.symbol, seq=ist.seq, ts_ns=ist.ts_ns, last=ist.last,
            open=ist.open, high=ist.high, low=ist.low, prev_close=ist.prev_close, volume=ist.volume,
            turnover=ist.turnover, open_interest=ist.open_interest,
            bids=display_side(ist, orders, Side.BUY, BOOK_DEPTH),
            asks=display_side(ist, orders, Side.SELL, BOOK_DEPTH),
            upper_limit=ist.upper, lower_limit=ist.lower, last_qty=ist.last_qty,
        )

    # ------------------------------------------------------------------ listeners

    def add_listener(self, on_order: OrderListener, on_trade: TradeListener,
                     on_quote: QuoteListener | None = None) -> None:
        """``on_quote`` (optional) gets every new quote: from step(), and from user trades between steps."""
        self._listeners.append(_Listener(on_order, on_trade, on_quote))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for event in pending:
            for lst in list(self._listeners):
                if isinstance(event, SimTrade):
                    lst.on_trade(event)
                elif isinstance(event, SimOrder):
                    lst.on_order(event)
                elif lst.on_quote is not None:
                    lst.on_quote(event)

    # ------------------------------------------------------------------ accounts

    def open_account(self, account: str, *, kind: InstrumentKind, currency: str, cash: float) -> None:
        if account in self._s.accounts:
            raise ValueError(f"account {account} already exists")
        self._s.accounts[account] = AccountRec(account=account, kind=kind, currency=currency, cash=cash)

    def accounts(self) -> list[str]:
        return list(self._s.accounts)

    def funds(self, account: str) -> Funds:
        acc = self._account(account)
        frozen = frozen_cash(self._working(acc), self._inst_of)
        return funds_view(acc, self.positions(account), frozen, self._ist)

    def positions(self, account: str) -> list[Position]:
        acc = self._account(account)
        working = self._working(acc)
        return [position_view(acc, pos, self._ist(pos.market, pos.symbol), working)
                for pos in acc.positions.values() if pos.long_qty or pos.short_qty]

    def orders(self, account: str) -> list[SimOrder]:
        acc = self._account(account)
        return [self._s.orders[oid].view() for oid in acc.order_ids]

    def order(self, account: str, order_id: str) -> SimOrder:
        return self._order(self._account(account), order_id).view()

    def trades(self, account: str) -> list[SimTrade]:
        return list(self._account(account).trades)

    def _account(self, account: str) -> AccountRec:
        acc = self._s.accounts.get(account)
        if acc is None:
            raise SimReject(RejectReason.UNKNOWN_ACCOUNT, f"account {account!r} does not exist")
        return acc

    def _order(self, acc: AccountRec, order_id: str) -> OrderRec:
        order = self._s.orders.get(order_id)
        if order is None or order.account != acc.account:
            raise SimReject(RejectReason.UNKNOWN_ORDER,
                            f"order {order_id!r} not found in account {acc.account}")
        return order

    def _working(self, acc: AccountRec) -> list[OrderRec]:
        return [o for oid in acc.order_ids if (o := self._s.orders[oid]).working]

    def _ist(self, market: str, symbol: str) -> InstState:
        return self._by_key[inst_key(market, symbol)]

    def _inst_of(self, market: str, symbol: str) -> SimInstrument:
        return self._ist(market, symbol).inst

    def _margin_used(self, acc: AccountRec) -> float:
        return sum((position_margin(p, self._ist(p.market, p.symbol)) for p in acc.positions.values()), 0.0)

    # ------------------------------------------------------------------ trading

    def submit(self, account: str, market: str, symbol: str, side: Side, qty: int, price: float = 0.0,
               kind: OrderType = OrderType.LIMIT, offset: Offset = Offset.NONE, remark: str = "") -> SimOrder:
        acc = self._account(account)
        ist = self._tradable(acc, market, symbol)
        self._check_offset(ist.inst, offset)
        self._check_qty(ist.inst, qty)
        limit: float | None = None
        if kind is OrderType.LIMIT:
            self._check_price(ist, price)
            limit = price
        plan = plan_fills(passive_queue(ist, self._s.orders, side, account), side, qty, limit)
        self._check_resources(acc, ist, side, offset, qty, limit, plan, exclude=None)
        if kind is OrderType.MARKET and not plan:
            raise SimReject(RejectReason.NO_LIQUIDITY, f"no liquidity on the other side of {market}.{symbol}")
        order = self._new_order(acc, ist.inst, side, offset, kind, limit or 0.0, qty, remark)
        self._execute(ist, order, plan)
        self._settle_aggressor(ist, order, traded=bool(plan))
        self._flush()
        return order.view()

    def _new_order(self, acc: AccountRec, inst: SimInstrument, side: Side, offset: Offset, kind: OrderType,
                   price: float, qty: int, remark: str) -> OrderRec:
        now = self._clock()
        order_id = str(self._s.next_order_id)
        self._s.next_order_id += 1
        order = OrderRec(order_id=order_id, account=acc.account, market=inst.market, symbol=inst.symbol,
                         side=side, offset=offset, kind=kind, price=price, qty=qty, created_ns=now,
                         updated_ns=now, prio=self._s.take_prio(), remark=remark)
        self._s.orders[order_id] = order
        acc.order_ids.append(order_id)
        return order

    def _settle_aggressor(self, ist: InstState, order: OrderRec, *, traded: bool) -> None:
        """After crossing: rest the remainder of a limit order; a market order's remainder is cancelled."""
        if order.remaining > 0 and order.kind is OrderType.MARKET:
            order.status = SimOrderStatus.CANCELLED
        elif order.remaining > 0 and order.order_id not in ist.resting:
            ist.resting.append(order.order_id)
        self._pending.append(order.view())
        if traded:
            self._publish(ist)

    def _execute(self, ist: InstState, order: OrderRec, plan: list[PlannedFill]) -> None:
        for fill in plan:
            source = fill.source
            if source.level is not None:
                consume_level(ist, source.level, fill.qty)
            self._fill(ist, order, fill.price, fill.qty)
            passive = source.order
            if passive is not None:
                self._fill(ist, passive, fill.price, fill.qty)
                self._pending.append(passive.view())
            self._print(ist, fill.price, fill.qty)

    def _fill(self, ist: InstState, order: OrderRec, price: float, qty: int) -> None:
        acc = self._s.accounts[order.account]
        fee = apply_fill(acc, ist.inst, order.side, order.offset, qty, price)
        now = self._clock()
        order.filled_qty += qty
        order.fill_value += price * qty
        order.updated_ns = now
        order.status = SimOrderStatus.FILLED if order.remaining == 0 else SimOrderStatus.PARTIAL
        if order.status is SimOrderStatus.FILLED and order.order_id in ist.resting:
            ist.resting.remove(order.order_id)
        trade = SimTrade(trade_id=str(self._s.next_trade_id), order_id=order.order_id, account=order.account,
                         market=order.market, symbol=order.symbol, side=order.side, offset=order.offset,
                         price=price, qty=qty, fee=fee, ts_ns=now)
        self._s.next_trade_id += 1
        acc.trades.append(trade)
        self._pending.append(trade)

    def cancel(self, account: str, order_id: str) -> SimOrder:
        order = self._active_order(self._account(account), order_id)
        order.status = SimOrderStatus.CANCELLED
        order.updated_ns = self._clock()
        ist = self._ist(order.market, order.symbol)
        ist.resting.remove(order.order_id)
        self._pending.append(order.view())
        self._flush()
        return order.view()

    def modify(self, account: str, order_id: str, qty: int, price: float) -> SimOrder:
        """``qty`` is the new total; a new price or a larger quantity loses time priority."""
        acc = self._account(account)
        order = self._active_order(acc, order_id)
        ist = self._ist(order.market, order.symbol)
        if qty <= order.filled_qty:
            raise SimReject(RejectReason.BAD_QUANTITY,
                            f"new quantity {qty} must exceed the filled quantity {order.filled_qty}")
        self._check_qty(ist.inst, qty)
        self._check_price(ist, price)
        new_remaining = qty - order.filled_qty
        self._check_resources(acc, ist, order.side, order.offset, new_remaining, price, [], exclude=order)
        if price != order.price or qty > order.qty:
            order.prio = self._s.take_prio()
            ist.resting.remove(order.order_id)
            ist.resting.append(order.order_id)
        price_changed = price != order.price
        order.qty, order.price, order.updated_ns = qty, price, self._clock()
        plan: list[PlannedFill] = []
        if price_changed:
            queue = passive_queue(ist, self._s.orders, order.side, account)
            plan = plan_fills(queue, order.side, order.remaining, price)
            self._execute(ist, order, plan)
        self._settle_aggressor(ist, order, traded=bool(plan))
        self._flush()
        return order.view()

    def _active_order(self, acc: AccountRec, order_id: str) -> OrderRec:
        order = self._order(acc, order_id)
        if not order.working:
            raise SimReject(RejectReason.ORDER_NOT_ACTIVE, f"order {order_id} is {order.status}, not working")
        return order

    # ------------------------------------------------------------------ checks, in the venue's order

    def _tradable(self, acc: AccountRec, market: str, symbol: str) -> InstState:
        ist = self._by_key.get(inst_key(market, symbol))
        if ist is None:
            raise SimReject(RejectReason.UNKNOWN_INSTRUMENT, f"unknown instrument {market}.{symbol}")
        inst = ist.inst
        if inst.kind is not acc.kind or inst.currency != acc.currency:
            raise SimReject(
                RejectReason.UNKNOWN_INSTRUMENT,
                f"{market}.{symbol} ({inst.kind}, {inst.currency}) cannot be traded in account "
                f"{acc.account} ({acc.kind}, {acc.currency})",
            )
        return ist

    @staticmethod
    def _check_offset(inst: SimInstrument, offset: Offset) -> None:
        if inst.kind is InstrumentKind.STOCK and offset is not Offset.NONE:
            raise SimReject(RejectReason.BAD_OFFSET, f"stock orders take no open/close offset, got {offset}")
        if inst.kind is InstrumentKind.FUTURE and offset is Offset.NONE:
            raise SimReject(RejectReason.BAD_OFFSET, "futures orders need an offset: open or close")

    @staticmethod
    def _check_qty(inst: SimInstrument, qty: int) -> None:
        if qty <= 0:
            raise SimReject(RejectReason.BAD_QUANTITY, f"quantity must be positive, got {qty}")
        if qty % inst.lot_size:
            raise SimReject(RejectReason.BAD_LOT_SIZE,
                            f"quantity {qty} is not a multiple of the board lot {inst.lot_size} "
                            f"of {inst.symbol}")

    @staticmethod
    def _check_price(ist: InstState, price: float) -> None:
        inst = ist.inst
        if not math.isfinite(price) or price <= 0:
            raise SimReject(RejectReason.PRICE_OFF_TICK, f"limit price must be positive, got {price}")
        if not is_on_tick(inst, price):
            raise SimReject(RejectReason.PRICE_OFF_TICK,
                            f"price {price} is not a multiple of the tick {tick_size(inst, price)} "
                            f"of {inst.symbol}")
        if (ist.upper is not None and price > ist.upper + 1e-9) or (
                ist.lower is not None and price < ist.lower - 1e-9):
            raise SimReject(RejectReason.PRICE_OUT_OF_LIMITS,
                            f"price {price} is outside today's limits [{ist.lower}, {ist.upper}] "
                            f"of {inst.symbol}")

    def _check_resources(self, acc: AccountRec, ist: InstState, side: Side, offset: Offset, qty: int,
                         limit: float | None, plan: list[PlannedFill], exclude: OrderRec | None) -> None:
        inst = ist.inst
        working = [o for o in self._working(acc) if o is not exclude]
        if reserves_cash(inst, side, offset):
            if limit is not None:
                need = cash_needed(inst, qty, limit)
            else:  # a market order needs what the liquidity it will take costs
                need = sum(cash_needed(inst, f.qty, f.price) for f in plan)
            available = acc.cash - frozen_cash(working, self._inst_of) - self._margin_used(acc)
            if need > available + _MONEY_EPS:
                reason, what = ((RejectReason.INSUFFICIENT_CASH, "cash") if inst.kind is InstrumentKind.STOCK
                                else (RejectReason.INSUFFICIENT_MARGIN, "margin"))
                raise SimReject(reason, f"insufficient {what}: need {need:.2f} {acc.currency}, "
                                        f"available {available:.2f}")
        if reserves_position(inst, side, offset):
            long_side = inst.kind is InstrumentKind.STOCK or closes_long(side)
            bucket = Bucket.ANY if inst.kind is InstrumentKind.STOCK else close_bucket(inst.market, offset)
            frozen = frozen_position(working, inst.market, inst.symbol, long_side=long_side)
            free = closable(acc.positions.get(ist.key), frozen, bucket, long_side=long_side)
            if qty > free:
                held = "long" if long_side else "short"
                where = "" if bucket == Bucket.ANY else f" {bucket}"
                raise SimReject(RejectReason.INSUFFICIENT_POSITION,
                                f"cannot {'sell' if inst.kind is InstrumentKind.STOCK else 'close'} {qty} "
                                f"{inst.symbol}: only {max(free, 0)} {held}{where} available")

    # ------------------------------------------------------------------ day roll and persistence

    def new_trading_day(self) -> None:
        """Today's positions become yesterday's, the day's orders and trades go, limits move to last."""
        for ist in self._s.instruments:
            self._roll_instrument(ist)
        for acc in self._s.accounts.values():
            acc.order_ids.clear()
            acc.trades.clear()
            for key, pos in list(acc.positions.items()):
                pos.long_today = pos.short_today = 0
                if not pos.long_qty and not pos.short_qty:
                    del acc.positions[key]
        self._s.orders.clear()
        for ist in self._s.instruments:
            rebuild_book(ist, self._s.take_prio())
            self._publish(ist)
        self._flush()

    @staticmethod
    def _roll_instrument(ist: InstState) -> None:
        ref = ist.last
        ist.inst = dataclasses.replace(ist.inst, ref_price=ref)
        ist.upper, ist.lower = limit_prices(ist.inst, ref)
        ist.fair = clamp_to_limits(ist, ist.fair)
        ist.prev_close = ist.open = ist.high = ist.low = ref
        ist.volume, ist.turnover, ist.last_qty, ist.traded_today = 0, 0.0, 0, False
        ist.resting.clear()

    def snapshot(self) -> bytes:
        return msgspec.json.encode(self._s)

    @classmethod
    def restore(cls, data: bytes, *, clock: Callable[[], int] = time.time_ns) -> SimMarket:
        market = cls.__new__(cls)
        market._setup(msgspec.json.decode(data, type=MarketState), clock)
        return market

    def change_marks(self) -> changes.Marks:
        """Marks for ``changes()`` that start after everything held now (take them with a snapshot)."""
        return changes.marks_of(self._s)

    def changes(self, accounts: Iterable[str], orders: Iterable[str], instruments: Iterable[str],
                marks: changes.Marks) -> changes.MarketChanges:
        """What the named accounts, orders and instruments (``market.symbol``) hold now, for a journal."""
        return changes.take(self._s, accounts, orders, instruments, marks)

    def apply_changes(self, change: changes.MarketChanges) -> None:
        """Put back a change taken by ``changes()`` (replaying a journal over a snapshot)."""
        changes.apply(self._s, change)
        self._by_key = {ist.key: ist for ist in self._s.instruments}
