"""Fill futu's quote messages (BasicQot, OrderBook, Ticker, KLine) from sim quotes and the tape."""

from __future__ import annotations

import math
from typing import Any

from opend_sim.api import timefmt
from opend_sim.api.mapping import EXCH_TYPE, QOT_MARKET, SECURITY_TYPE_EQUITY, TICKER_TYPE_AUTO_MATCH
from opend_sim.api.tape import Bar, Tick
from tradebus.sim import Quote, SimInstrument, hk_tick_size
from tradebus.sim.rng import Rng

REHAB_FORWARD = 1  # the push's rehabType when the client registered none (docs/simulators.md, 'Wire values')
PUSH_DATA_REALTIME = 1
_LEVEL_ORDER_SIZE = 4  # synthetic book: about four board lots per resting order


def code_str(market: str, symbol: str) -> str:
    return f"{market}.{symbol}"


def fill_security(dst: Any, inst: SimInstrument) -> None:
    dst.market = QOT_MARKET[inst.market]
    dst.code = inst.symbol


def price_spread(inst: SimInstrument, price: float) -> float:
    return hk_tick_size(price) if inst.market == "HK" else inst.price_tick


def fill_basic_qot(dst: Any, inst: SimInstrument, q: Quote) -> None:
    fill_security(dst.security, inst)
    dst.name = inst.name
    dst.isSuspended = False
    dst.listTime = ""
    dst.priceSpread = price_spread(inst, q.last)
    dst.updateTime = timefmt.seconds(inst.market, q.ts_ns)
    dst.updateTimestamp = timefmt.epoch(q.ts_ns)
    dst.highPrice = q.high or q.last
    dst.openPrice = q.open or q.last
    dst.lowPrice = q.low or q.last
    dst.curPrice = q.last
    dst.lastClosePrice = q.prev_close
    dst.volume = q.volume
    dst.turnover = q.turnover
    dst.turnoverRate = 0.0  # shares outstanding are not simulated
    high, low = dst.highPrice, dst.lowPrice
    dst.amplitude = round((high - low) / q.prev_close * 100, 3) if q.prev_close else 0.0


def fill_snapshot(dst: Any, inst: SimInstrument, q: Quote) -> None:
    """A 3203 snapshot: the reference data (lot size, spread at the current price) plus the day's quote."""
    fill_security(dst.security, inst)
    dst.name = inst.name
    dst.type = SECURITY_TYPE_EQUITY
    dst.isSuspend = False
    dst.listTime = ""
    dst.lotSize = inst.lot_size
    dst.priceSpread = price_spread(inst, q.last)
    dst.updateTime = timefmt.seconds(inst.market, q.ts_ns)
    dst.updateTimestamp = timefmt.epoch(q.ts_ns)
    dst.highPrice = q.high or q.last
    dst.openPrice = q.open or q.last
    dst.lowPrice = q.low or q.last
    dst.lastClosePrice = q.prev_close
    dst.curPrice = q.last
    dst.volume = q.volume
    dst.turnover = q.turnover
    dst.turnoverRate = 0.0  # shares outstanding are not simulated
    if q.asks:
        dst.askPrice, dst.askVol = q.asks[0][0], q.asks[0][1]
    if q.bids:
        dst.bidPrice, dst.bidVol = q.bids[0][0], q.bids[0][1]


def _fill_levels(dst_list: Any, levels: tuple[tuple[float, int], ...], lot: int, num: int) -> None:
    for price, volume in levels[:num]:
        level = dst_list.add()
        level.price = price
        level.volume = volume
        level.orederCount = max(1, math.ceil(volume / (lot * _LEVEL_ORDER_SIZE)))  # sic: futu's field name


def fill_order_book(s2c: Any, inst: SimInstrument, q: Quote, num: int) -> None:
    fill_security(s2c.security, inst)
    s2c.name = inst.name
    _fill_levels(s2c.orderBookAskList, q.asks, inst.lot_size, num)
    _fill_levels(s2c.orderBookBidList, q.bids, inst.lot_size, num)
    stamp = timefmt.millis(inst.market, q.ts_ns)
    s2c.svrRecvTimeBid = stamp
    s2c.svrRecvTimeAsk = stamp
    s2c.svrRecvTimeBidTimestamp = timefmt.epoch(q.ts_ns)
    s2c.svrRecvTimeAskTimestamp = timefmt.epoch(q.ts_ns)


def fill_ticker(dst: Any, inst: SimInstrument, tick: Tick) -> None:
    dst.time = timefmt.millis(inst.market, tick.ts_ns)
    dst.sequence = tick.sequence
    dst.dir = tick.direction
    dst.price = tick.price
    dst.volume = tick.volume
    dst.turnover = tick.turnover
    dst.type = TICKER_TYPE_AUTO_MATCH
    dst.pushDataType = PUSH_DATA_REALTIME
    dst.timestamp = timefmt.epoch(tick.ts_ns)


def fill_kline(dst: Any, bar: Bar) -> None:
    dst.time = bar.label.strftime("%Y-%m-%d %H:%M:%S")
    dst.isBlank = False
    dst.openPrice = bar.open
    dst.highPrice = bar.high
    dst.lowPrice = bar.low
    dst.closePrice = bar.close
    dst.lastClosePrice = bar.last_close
    dst.volume = bar.volume
    dst.turnover = bar.turnover
    dst.changeRate = round((bar.close - bar.last_close) / bar.last_close * 100, 3) if bar.last_close else 0.0
    dst.timestamp = bar.label.timestamp()


def fill_timeshare(dst: Any, bar: Bar, prev_close: float, day_volume: int, day_turnover: float) -> None:
    """One point of the intraday time-share chart: a minute bar plus the day's running average price."""
    dst.time = bar.label.strftime("%Y-%m-%d %H:%M:%S")
    dst.minute = bar.label.hour * 60 + bar.label.minute  # minutes since midnight, exchange time
    dst.isBlank = False
    dst.price = bar.close
    dst.lastClosePrice = prev_close
    dst.avgPrice = round(day_turnover / day_volume, 4) if day_volume else bar.close
    dst.volume = bar.volume
    dst.turnover = bar.turnover
    dst.timestamp = bar.label.timestamp()


BROKERS_PER_LEVEL = (1, 4)
BROKER_IDS = (1000, 9999)


def fill_broker_queue(s2c: Any, inst: SimInstrument, q: Quote, seed: int, levels: int) -> None:
    """HKEX broker queue: a few broker ids at each of the book's price levels (``pos`` 1 = best).

    The same price level of the same instrument always shows the same brokers (seeded by price), so a
    queue changes where the book changes."""
    fill_security(s2c.security, inst)
    s2c.name = inst.name
    for side, book in (("ask", q.asks), ("bid", q.bids)):
        target = s2c.brokerAskList if side == "ask" else s2c.brokerBidList
        for pos, (price, _qty) in enumerate(book[:levels], start=1):
            rng = Rng.for_key(seed, f"broker:{inst.market}.{inst.symbol}:{side}:{price:.4f}")
            for _ in range(rng.randint(*BROKERS_PER_LEVEL)):
                broker_id = rng.randint(*BROKER_IDS)
                entry = target.add()
                entry.id = broker_id
                entry.name = f"Sim Broker {broker_id}"
                entry.pos = pos


def fill_static_basic(dst: Any, inst: SimInstrument, stock_id: int) -> None:
    fill_security(dst.security, inst)
    dst.id = stock_id
    dst.lotSize = inst.lot_size
    dst.secType = SECURITY_TYPE_EQUITY
    dst.name = inst.name
    dst.listTime = ""  # listing dates are not simulated
    dst.delisting = False
    if inst.market in EXCH_TYPE:
        dst.exchType = EXCH_TYPE[inst.market]
