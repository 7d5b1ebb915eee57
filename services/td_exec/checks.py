"""Pre-trade checks: pure functions, one denial code per rule, evaluated before anything is stored.

Order of evaluation (the first failing rule is reported): numbers are finite → quantity positive →
quantity within bounds (``[td] max_order_qty``, and never beyond a venue's integer field) → instrument
known → order type / time in force / offset supported by the venue → lot multiple → a limit
price present → price on the tick → price inside the day's limits. The caller checks the caller's
permission and the account before this (``not_allowed``, ``unknown_account``).

Tick rule: :class:`InstrumentInfo` carries one ``price_tick``. Hong Kong stocks use the HKEX spread
table instead, whose tick depends on the price band, so for exchange ``HK`` the table decides.
A price within one millionth of a tick of the grid (float noise, or a client's rounding) passes and
is *snapped* onto the grid (:func:`snap_price`) before anything is stored or sent; anything further
off is denied (``price_off_tick``). No price leaves td_exec unrounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from td_exec.venue import Capabilities
from tradebus.orders.bounds import VENUE_QTY_MAX
from tradebus.schemas.account import InstrumentInfo
from tradebus.schemas.orders import OrderType, SubmitOrder
from tradebus.sim.instruments import hk_tick_size

_EPS = 1e-6
MAX_CLIENT_ORDER_ID = 64  # Futu's remark carries it: at most 64 UTF-8 bytes


@dataclass(frozen=True, slots=True)
class Denial:
    code: str
    reason: str


def tick_at(info: InstrumentInfo, price: float) -> float:
    return hk_tick_size(price) if info.exchange == "HK" else info.price_tick


def on_tick(info: InstrumentInfo, price: float) -> bool:
    """On the grid, or within ``_EPS`` of a tick of it (then :func:`snap_price` puts it on)."""
    tick = tick_at(info, price)
    if tick <= 0:
        return True
    units = price / tick
    return abs(units - round(units)) < _EPS


def snap_price(info: InstrumentInfo, price: float) -> float:
    """``price`` moved onto the tick grid, written with the tick's decimals (3120.0000001 → 3120.0)."""
    tick = tick_at(info, price)
    if tick <= 0:
        return price
    exponent = Decimal(repr(tick)).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return round(round(price / tick) * tick, decimals)


def check_client_order_id(client_order_id: str) -> Denial | None:
    raw = client_order_id.encode("utf-8")
    if not raw or len(raw) > MAX_CLIENT_ORDER_ID or any(ch.isspace() or not ch.isprintable() for ch in client_order_id):
        return Denial("bad_client_order_id",
                      f"client_order_id must be 1-{MAX_CLIENT_ORDER_ID} bytes of printable text without spaces")
    return None


def check_numbers(qty: int | None, price: float | None, max_qty: int) -> Denial | None:
    if price is not None and not math.isfinite(price):
        return Denial("not_finite", f"price {price} is not a finite number")
    if qty is not None and qty <= 0:
        return Denial("bad_qty", f"quantity must be positive, got {qty}")
    if qty is not None and qty > VENUE_QTY_MAX:
        return Denial("qty_too_large", f"quantity {qty} is beyond the venues' integer range (at most {VENUE_QTY_MAX})")
    if qty is not None and qty > max_qty:
        return Denial("qty_too_large", f"quantity {qty} is above the largest order size {max_qty} ([td] max_order_qty)")
    return None


def check_capabilities(cmd: SubmitOrder, caps: Capabilities) -> Denial | None:
    if cmd.order_type not in caps.order_types:
        return Denial("unsupported_order_type", f"order type {cmd.order_type} is not supported by {cmd.venue}")
    if cmd.time_in_force not in caps.time_in_force:
        return Denial("unsupported_tif", f"time in force {cmd.time_in_force} is not supported by {cmd.venue}")
    if cmd.offset not in caps.offsets:
        return Denial("unsupported_offset", f"offset {cmd.offset} is not supported by {cmd.venue}")
    return None


def check_qty_lot(info: InstrumentInfo, qty: int) -> Denial | None:
    if info.lot_size > 1 and qty % info.lot_size:
        return Denial("bad_lot", f"quantity {qty} is not a multiple of the lot size {info.lot_size} of {info.symbol}")
    return None


def check_price(info: InstrumentInfo, price: float) -> Denial | None:
    if price <= 0:
        return Denial("bad_price", f"price must be positive, got {price}")
    if not on_tick(info, price):
        return Denial("price_off_tick",
                      f"price {price} is not a multiple of the tick {tick_at(info, price)} of {info.symbol}")
    if info.upper_limit is not None and price > info.upper_limit + _EPS:
        return Denial("price_out_of_limits", f"price {price} is above today's upper limit {info.upper_limit}")
    if info.lower_limit is not None and price < info.lower_limit - _EPS:
        return Denial("price_out_of_limits", f"price {price} is below today's lower limit {info.lower_limit}")
    return None


def check_submit(cmd: SubmitOrder, info: InstrumentInfo | None, caps: Capabilities, max_qty: int) -> Denial | None:
    """Every rule that needs no venue round trip beyond the instrument's reference data."""
    denial = check_numbers(cmd.qty, cmd.price, max_qty)
    if denial:
        return denial
    if info is None:
        return Denial("unknown_instrument", f"unknown instrument {cmd.exchange}.{cmd.symbol} on {cmd.venue}")
    denial = check_capabilities(cmd, caps) or check_qty_lot(info, cmd.qty)
    if denial:
        return denial
    if cmd.order_type is OrderType.LIMIT:
        if cmd.price is None:
            return Denial("price_required", "a limit order needs a price")
        return check_price(info, cmd.price)
    return None


def exchange_grid(venue: str, exchange: str, symbol: str) -> InstrumentInfo | None:
    """The tick grid an exchange publishes, for an order whose facts the venue did not give: HKEX's
    spread table is a rule of the exchange, so HK prices are still checked and snapped without facts.
    Elsewhere the grid is the venue's fact (None): the price goes as given and the venue decides."""
    return InstrumentInfo(venue=venue, exchange=exchange, symbol=symbol) if exchange == "HK" else None


def check_submit_without_facts(cmd: SubmitOrder, caps: Capabilities, max_qty: int) -> Denial | None:
    """The rules that need no instrument facts, for an order whose facts the venue did not give
    (an OpenD without static information, a lookup that timed out): the venue decides the rest."""
    denial = check_numbers(cmd.qty, cmd.price, max_qty) or check_capabilities(cmd, caps)
    if denial:
        return denial
    if cmd.order_type is OrderType.LIMIT and cmd.price is None:
        return Denial("price_required", "a limit order needs a price")
    if cmd.price is not None and cmd.price <= 0:
        return Denial("bad_price", f"price must be positive, got {cmd.price}")
    grid = exchange_grid(cmd.venue, cmd.exchange, cmd.symbol)
    if grid is not None and cmd.price is not None and not on_tick(grid, cmd.price):
        return Denial("price_off_tick",
                      f"price {cmd.price} is not a multiple of the tick {tick_at(grid, cmd.price)} of {cmd.symbol}")
    return None


def check_modify(info: InstrumentInfo | None, qty: int | None, price: float | None, filled_qty: int,
                 max_qty: int) -> Denial | None:
    denial = check_numbers(qty, price, max_qty)
    if denial:
        return denial
    if qty is None and price is None:
        return Denial("nothing_to_modify", "give a new quantity, a new price or both")
    if info is None:
        return Denial("unknown_instrument", "the order's instrument is no longer known to the venue")
    if qty is not None:
        if qty <= filled_qty:
            return Denial("bad_qty", f"new quantity {qty} must exceed the filled quantity {filled_qty}")
        denial = check_qty_lot(info, qty)
        if denial:
            return denial
    if price is not None:
        return check_price(info, price)
    return None
