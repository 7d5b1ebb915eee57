"""Market-data answers built from bus messages: pure functions over :class:`Tick` and :class:`Bar`.

Shapes and number types follow the seed exactly: ``ticker`` fields are strings, ``depth`` levels and
``trades`` are numbers, ``records`` rows are ``[time_s, open, high, low, close, volume]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from fmz_edge.protocol import FmzError, ms, num, num_str
from tradebus.exchange_zones import EXCHANGE_TZ
from tradebus.schemas.market import Bar, Tick

DAY_S = 86_400


def raw(message: msgspec.Struct) -> Any:
    return msgspec.to_builtins(message)


def ticker(fmz_symbol: str, tick: Tick) -> dict[str, str]:
    bid, ask = tick.best_bid, tick.best_ask
    return {
        "symbol": fmz_symbol,
        "buy": num_str(bid.price if bid else None),
        "sell": num_str(ask.price if ask else None),
        "high": num_str(tick.high),
        "low": num_str(tick.low),
        "open": num_str(tick.open),
        "last": num_str(tick.last),
        "vol": num_str(tick.volume),
        "time": str(ms(tick.ts_event)),
    }


def depth(tick: Tick, limit: int) -> dict[str, Any]:
    cut = limit or None
    return {
        "time": ms(tick.ts_event),
        "asks": [[num(level.price), num(level.qty)] for level in tick.asks[:cut]],
        "bids": [[num(level.price), num(level.qty)] for level in tick.bids[:cut]],
    }


def _side(price: float, before: Tick | None) -> str:
    """The aggressor, guessed from the book before the trade (quote rule)."""
    if before is None:
        return "buy"
    ask, bid = before.best_ask, before.best_bid
    if ask is not None and price >= ask.price:
        return "buy"
    if bid is not None and price <= bid.price:
        return "sell"
    if ask is not None and bid is not None:
        return "buy" if price >= (ask.price + bid.price) / 2 else "sell"
    return "buy"


def trades(ticks: Sequence[Tick], limit: int) -> list[dict[str, Any]]:
    """Trades between consecutive ticks: the day volume's increase at the last price.

    A tick that does not raise the cumulative volume carries no trade (a quote change); a drop in
    volume is a new trading day, whose first tick's volume is the trade.
    """
    out: list[dict[str, Any]] = []
    before: Tick | None = None
    for tick in ticks:
        if before is not None and tick.volume >= before.volume:
            traded = tick.volume - before.volume
        elif before is not None:  # the volume restarted: a new trading day
            traded = tick.volume
        else:
            traded = 0  # the first tick read has no predecessor: its volume is not one trade
        if traded > 0 and tick.last is not None:
            out.append({"id": tick.seq, "time": ms(tick.ts_event), "price": num(tick.last), "amount": traded,
                        "type": _side(tick.last, before)})
        before = tick
    return out[-limit:] if limit else out


# --- records -----------------------------------------------------------------------------------------


def _bucket_start(bar: Bar, period_s: int, tz: dt.tzinfo) -> int:
    """Start (UTC seconds) of the ``period_s`` bucket holding ``bar``, aligned in exchange time."""
    start_s = bar.start_ns // 1_000_000_000
    if period_s >= DAY_S and bar.trading_day:
        # Futures days begin with the night session: a daily bar is the trading day, not the date.
        day = dt.datetime.strptime(bar.trading_day, "%Y%m%d").replace(tzinfo=tz)
        days = (day.toordinal() - 1) // (period_s // DAY_S) * (period_s // DAY_S) + 1
        return int(dt.datetime.fromordinal(days).replace(tzinfo=tz).timestamp())
    offset = int(tz.utcoffset(dt.datetime.fromtimestamp(start_s, dt.UTC)).total_seconds())  # type: ignore[union-attr]
    local = start_s + offset
    return local - local % period_s - offset


def aggregate(bars: Iterable[Bar], period_s: int, exchange: str, limit: int) -> list[list[float | int]]:
    """1-minute bars (oldest first) → the newest ``limit`` rows ``[time_s, open, high, low, close, volume]``.

    Newest first, as the seed's example lists them (``1500793319`` before ``1500793259``). The last
    bucket may still be filling, like the current bar of any FMZ exchange.
    """
    if period_s < 60 or period_s % 60:
        raise FmzError(f"period must be a whole number of minutes, got {period_s}s")
    tz = EXCHANGE_TZ.get(exchange, dt.UTC)
    rows: dict[int, list[float | int]] = {}
    for bar in bars:
        key = _bucket_start(bar, period_s, tz)
        row = rows.get(key)
        if row is None:
            rows[key] = [key, bar.open, bar.high, bar.low, bar.close, bar.volume]
        else:
            row[2] = max(row[2], bar.high)
            row[3] = min(row[3], bar.low)
            row[4] = bar.close
            row[5] += bar.volume
    newest = sorted(rows, reverse=True)[:limit]
    return [[num(v) for v in rows[key]] for key in newest]
