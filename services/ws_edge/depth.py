"""A bus :class:`Tick` as CTP ``DepthMarketData`` (48 fields on ``/md/``, 46 in ``RspQryDepthMarketData``).

CTP's "no value" marker is DBL_MAX; webctp turns it into the integer ``0`` in 22 price fields (and
in ``PreSettlementPrice`` on the MD push only) and passes it through in ``CurrDelta``. A tick field
that is ``None`` is the bus's form of DBL_MAX, so it becomes what webctp would have sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tradebus.ctp.exchanges import CTP_EXCHANGES
from tradebus.ctp.time import BEIJING
from tradebus.exchange_zones import EXCHANGE_TZ
from tradebus.schemas.market import Level, Tick
from ws_edge.fields import DBL_MAX, DEPTH_MD, DEPTH_TD, blank


def _price(value: float | None) -> float | int:
    return 0 if value is None else value


def _levels(body: dict[str, Any], side: str, levels: tuple[Level, ...]) -> None:
    for i, level in enumerate(levels[:5], start=1):
        body[f"{side}Price{i}"] = level.price
        body[f"{side}Volume{i}"] = level.qty


def depth_body(tick: Tick, instrument_id: str, *, md_push: bool) -> dict[str, Any]:
    body = blank(DEPTH_MD if md_push else DEPTH_TD)
    local = datetime.fromtimestamp(tick.ts_event / 1e9, EXCHANGE_TZ.get(tick.exchange, BEIJING))
    action_day = local.strftime("%Y%m%d")
    is_future = tick.exchange in CTP_EXCHANGES
    for side in ("Ask", "Bid"):  # the five levels start as "no value" (0), volumes as 0
        for i in range(1, 6):
            body[f"{side}Price{i}"] = 0
    _levels(body, "Ask", tick.asks)
    _levels(body, "Bid", tick.bids)
    body.update(
        ActionDay=action_day,
        AveragePrice=_price(tick.average_price),
        ClosePrice=0,
        CurrDelta=DBL_MAX,
        ExchangeID=tick.exchange,
        ExchangeInstID=tick.symbol,
        HighestPrice=_price(tick.high),
        InstrumentID=instrument_id,
        LastPrice=_price(tick.last),
        LowerLimitPrice=_price(tick.lower_limit),
        LowestPrice=_price(tick.low),
        OpenInterest=float(tick.open_interest or 0),
        OpenPrice=_price(tick.open),
        # Tick.prev_close is the pre-settlement price for futures and the previous close for stocks;
        # a futures tick carries its previous close in pre_close.
        PreClosePrice=_price(tick.pre_close) if is_future else _price(tick.prev_close),
        PreSettlementPrice=_price(tick.prev_close) if is_future else (0 if md_push else DBL_MAX),
        SettlementPrice=0,
        TradingDay=tick.trading_day or action_day,
        Turnover=float(tick.turnover),
        UpdateMillisec=local.microsecond // 1000,
        UpdateTime=local.strftime("%H:%M:%S"),
        UpperLimitPrice=_price(tick.upper_limit),
        Volume=tick.volume,
    )
    if md_push:
        body["reserve1"] = instrument_id  # fronts put the instrument here (it was the old InstrumentID)
    return body
