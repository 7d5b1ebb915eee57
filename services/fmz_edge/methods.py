"""Every FMZ method, answered from the bus. One function per method, all in :data:`METHODS`.

Each function validates its params completely before it sends anything, so bad input never reaches
td_exec or md_ingest. It returns ``(data, raw)``; ``raw`` carries the tradebus messages the answer was
built from (FMZ shows it as the ``Info`` field).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from fmz_edge import market
from fmz_edge.marketdata import MarketData
from fmz_edge.orders import OPEN_STATUSES, order_object, trade_type
from fmz_edge.protocol import FmzError, num, num_str, param_float, param_int, param_str
from fmz_edge.symbols import EXCHANGES, Instrument, format_order_id, format_symbol, parse_order_id, parse_symbol
from fmz_edge.trading import Trading
from tradebus.config_sections.fmz import FmzConfig
from tradebus.ids import new_client_order_id
from tradebus.orders.bounds import VENUE_QTY_MAX
from tradebus.schemas.account import PositionSnapshot
from tradebus.schemas.orders import OrderType, OrderView, SubmitOrder

Answer = tuple[Any, Any]


@dataclass
class Call:
    venue: str
    account: str
    user: str
    params: dict[str, Any]
    http_method: str  # the docker's Http-Method header (exchange.IO); "" when absent
    trading: Trading
    md: MarketData
    config: FmzConfig

    def instrument(self, key: str = "symbol") -> Instrument:
        if key not in self.params:
            raise FmzError(f"params.{key} is required")
        return parse_symbol(self.params[key], self.venue)

    def optional_instrument(self) -> Instrument | None:
        return self.instrument() if self.params.get("symbol") not in (None, "") else None


def _raw(items: Any) -> Any:
    return msgspec.to_builtins(items)


def _is_futures(exchange: str) -> bool:
    return EXCHANGES[exchange][0] == "ctp"


def _same(view: OrderView, inst: Instrument | None) -> bool:
    return inst is None or (view.exchange, view.symbol) == (inst.exchange, inst.symbol)


# --- market data ---------------------------------------------------------------------------------------


async def ticker(call: Call) -> Answer:
    inst = call.instrument()
    tick = await call.md.tick(call.venue, *inst)
    return market.ticker(format_symbol(*inst), tick), _raw(tick)


async def depth(call: Call) -> Answer:
    inst = call.instrument()
    limit = param_int(call.params, "limit", 0)
    tick = await call.md.tick(call.venue, *inst)
    return market.depth(tick, limit), _raw(tick)


async def trades(call: Call) -> Answer:
    inst = call.instrument()
    ticks = await call.md.recent_ticks(call.venue, *inst, call.config.trades_lookback_s)
    rows = market.trades(ticks, call.config.trades_limit)
    return rows[::-1], None  # newest first, as the seed's example lists them


async def records(call: Call) -> Answer:
    inst = call.instrument()
    period_min = param_int(call.params, "period", 1, minimum=1)  # minutes: the seed's "60" is 60 minutes
    limit = param_int(call.params, "limit", 0) or call.config.records_default_limit
    limit = min(limit, call.config.records_max_limit)
    period_s = period_min * 60
    bars = await call.md.minute_bars(call.venue, *inst, period_s * (limit + 1))
    return market.aggregate(bars, period_s, inst.exchange, limit), None


# --- account ---------------------------------------------------------------------------------------------


def _holding(position: PositionSnapshot) -> dict[str, str]:
    """A stock holding as a spot asset: the base currency of its FMZ pair."""
    base = format_symbol(position.exchange, position.symbol).rpartition("_")[0]
    return {"currency": base, "free": num_str(position.qty - position.frozen_qty),
            "frozen": num_str(position.frozen_qty)}


async def _balances(call: Call) -> Answer:
    funds = await call.trading.funds()
    rows = [{"currency": f.currency, "free": num_str(f.available), "frozen": num_str(f.frozen)} for f in funds]
    positions: list[PositionSnapshot] = []
    if call.venue != "ctp":  # stocks are spot assets; futures positions are answered by `positions`
        positions = [p for p in await call.trading.positions() if not _is_futures(p.exchange)]
        rows += [_holding(p) for p in positions]
    return rows, {"funds": _raw(funds), "positions": _raw(positions)}


async def accounts(call: Call) -> Answer:
    return await _balances(call)


async def assets(call: Call) -> Answer:
    return await _balances(call)


async def positions(call: Call) -> Answer:
    inst = call.optional_instrument()
    found = [p for p in await call.trading.positions()
             if inst is None or (p.exchange, p.symbol) == (inst.exchange, inst.symbol)]
    rows = [{
        "symbol": format_symbol(p.exchange, p.symbol),
        "type": p.side.value,  # "long" | "short"
        "amount": p.qty,
        "frozen_amount": p.frozen_qty,
        "today_amount": p.today_qty,
        "price": num(p.avg_price),
        "profit": num(p.unrealised_pnl),
        "margin": num(p.margin),
    } for p in found]
    return rows, _raw(found)


# --- orders ----------------------------------------------------------------------------------------------


def _new_order(call: Call) -> SubmitOrder:
    inst = call.instrument()
    side, offset = trade_type(param_str(call.params, "type"), _is_futures(inst.exchange))
    amount = param_float(call.params, "amount")
    if not (0 < amount <= VENUE_QTY_MAX) or not amount.is_integer():
        raise FmzError(f"params.amount must be a positive whole number of shares or lots (at most {VENUE_QTY_MAX}), "
                       f"got {call.params['amount']!r}")
    price = param_float(call.params, "price")
    if not math.isfinite(price):
        raise FmzError(f"params.price must be a finite number, got {call.params['price']!r}")
    if price == -1:  # FMZ's market order: exchange.Buy(-1, amount)
        order_type, limit_price = OrderType.MARKET, None
    elif price > 0:
        order_type, limit_price = OrderType.LIMIT, price
    else:
        raise FmzError(f"params.price must be positive (or -1 for a market order), got {call.params['price']!r}")
    return SubmitOrder(venue=call.venue, account=call.account, exchange=inst.exchange, symbol=inst.symbol,
                       side=side, qty=int(amount), order_type=order_type, price=limit_price, offset=offset,
                       client_order_id=new_client_order_id("fmz"), remark="fmz", user=call.user)


async def trade(call: Call) -> Answer:
    view = await call.trading.submit(_new_order(call))
    return {"id": format_order_id(view.exchange, view.symbol, view.client_order_id)}, _raw(view)


async def orders(call: Call) -> Answer:
    inst = call.optional_instrument()
    views = [v for v in await call.trading.orders(open_only=True) if v.status in OPEN_STATUSES and _same(v, inst)]
    return [order_object(v, avg_as_string=True) for v in views], _raw(views)


async def _one_order(call: Call) -> OrderView:
    inst, client_order_id = parse_order_id(call.params.get("id"), call.venue)
    if call.params.get("symbol") not in (None, "") and call.instrument() != inst:
        raise FmzError(f"params.symbol {call.params['symbol']!r} does not match order id {call.params['id']!r}")
    views = await call.trading.orders(client_order_id=client_order_id)
    view = next((v for v in views if v.client_order_id == client_order_id), None)
    if view is None or not _same(view, inst):
        raise FmzError(f"order {call.params['id']!r} not found")
    return view


async def order(call: Call) -> Answer:
    view = await _one_order(call)
    return order_object(view, avg_as_string=False), _raw(view)


async def historyorders(call: Call) -> Answer:
    inst = call.optional_instrument()
    since_ms = param_int(call.params, "since", 0)
    limit = param_int(call.params, "limit", 0) or call.config.history_default_limit
    views = [v for v in await call.trading.orders(open_only=False)
             if v.status not in OPEN_STATUSES and _same(v, inst) and v.ts_created // 1_000_000 >= since_ms]
    views.sort(key=lambda v: v.ts_created, reverse=True)
    views = views[:limit]
    return [order_object(v, avg_as_string=False) for v in views], _raw(views)


async def cancel(call: Call) -> Answer:
    view = await _one_order(call)
    if view.status not in OPEN_STATUSES:
        raise FmzError(f"order {call.params['id']!r} is already {view.status.value}; nothing to cancel")
    after = await call.trading.cancel(view.client_order_id)
    return True, _raw(after)


# --- futures methods that CTP and stocks do not have ----------------------------------------------------


async def margin_level(call: Call) -> Answer:
    raise FmzError("SetMarginLevel is not supported: CTP futures margin is set by the exchange and broker "
                   "per contract, and stocks have no leverage setting")


async def fundings(call: Call) -> Answer:
    raise FmzError("GetFundings is not supported: funding rates exist only for perpetual swaps; "
                   "CTP futures and stocks have none")


# --- exchange.IO("api", …) pass-through ------------------------------------------------------------------


async def _api_orders(call: Call) -> Any:
    open_only = str(call.params.get("open_only", "")).lower() in ("1", "true")
    return _raw(await call.trading.orders(open_only=open_only))


async def _api_trades(call: Call) -> Any:
    client_order_id = None
    if call.params.get("id"):
        client_order_id = parse_order_id(call.params["id"], call.venue)[1]
    return _raw(await call.trading.trades(client_order_id))


async def _api_positions(call: Call) -> Any:
    return _raw(await call.trading.positions())


async def _api_funds(call: Call) -> Any:
    return _raw(await call.trading.funds())


async def _api_instruments(call: Call) -> Any:
    inst = call.optional_instrument()
    found = await call.trading.instruments(inst.exchange if inst else None, inst.symbol if inst else None)
    return _raw(found)


async def _api_tick(call: Call) -> Any:
    return _raw(await call.md.tick(call.venue, *call.instrument()))


API: dict[str, Callable[[Call], Awaitable[Any]]] = {
    "/orders": _api_orders,
    "/trades": _api_trades,
    "/positions": _api_positions,
    "/funds": _api_funds,
    "/instruments": _api_instruments,
    "/tick": _api_tick,
}


async def api(call: Call, path: str) -> Answer:
    if call.http_method and call.http_method.upper() != "GET":
        raise FmzError(f"exchange.IO pass-through is read-only: {call.http_method.upper()} {path} is not allowed")
    handler = API.get(path)
    if handler is None:
        raise FmzError(f"unknown exchange.IO path {path!r}; available: {', '.join(API)}")
    data = await handler(call)
    return data, None


METHODS: dict[str, Callable[[Call], Awaitable[Answer]]] = {
    "ticker": ticker,
    "depth": depth,
    "trades": trades,
    "records": records,
    "accounts": accounts,
    "assets": assets,
    "positions": positions,
    "trade": trade,
    "orders": orders,
    "order": order,
    "historyorders": historyorders,
    "cancel": cancel,
    "marginlevel": margin_level,
    "setmarginlevel": margin_level,
    "fundings": fundings,
}
API_PREFIX = "__api_"


async def dispatch(method: str, call: Call) -> Answer:
    if method.startswith(API_PREFIX):
        return await api(call, method[len(API_PREFIX):])
    handler = METHODS.get(method)
    if handler is None:
        raise FmzError(f"invalid method: {method}")
    return await handler(call)
