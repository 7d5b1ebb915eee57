"""CTP struct bodies (field name → value) built the way a CTP front fills them.

Every price with no value is DBL_MAX, as CTP sends it (open/high/low before the first trade,
close and settlement during the session, empty book levels). Market data quirks kept on purpose:

* ``ExchangeID`` is empty in ``OnRtnDepthMarketData`` (real fronts leave it empty and put the
  instrument in ``reserve1``): map instruments to exchanges through ``ReqQryInstrument``.
* Five book levels for SHFE and INE (their fronts carry them); level 1 only elsewhere, levels 2-5
  DBL_MAX / 0.
* ``AveragePrice`` = Turnover / Volume, which includes the contract multiplier everywhere except
  CZCE, whose fronts send it per unit.
* ``ActionDay`` is the calendar day of the quote, except DCE during the night session, whose
  fronts put the trading day there (the well-known DCE quirk).
* ``UpdateMillisec`` is 0 or 500, the half-second granularity of CTP L1 snapshots.

The codes, the exchange sets and Beijing time come from the CTP kit (``tradebus.ctp``, docs/ctp.md),
the same ones the clients read them with.
"""

from __future__ import annotations

import re
from typing import Any

from ctp_sim import clock
from ctp_sim.state import OrderRec
from tradebus.ctp import time as ctp_time
from tradebus.ctp.codes import (
    STATUS_MSG,
    BizType,
    CombinationType,
    HedgeFlag,
    InstLifePhase,
    MaxMarginSideAlgorithm,
    OffsetFlag,
    OrderSource,
    OrderType,
    PosiDirection,
    PositionDate,
    PositionDateType,
    PositionType,
    PriceSource,
    ProductClass,
    TradeSource,
    TradeType,
    TradingRole,
)
from tradebus.ctp.codes import OrderStatus as CtpStatus
from tradebus.ctp.exchanges import (
    ACTION_DAY_IS_TRADING_DAY,
    AVERAGE_PRICE_PER_UNIT,
    CLOSE_TODAY_EXCHANGES,
    CZCE,
    FIVE_LEVEL_EXCHANGES,
)
from tradebus.ctp.structs import DBL_MAX
from tradebus.sim import Funds, Position, Quote, SimInstrument, SimOrderStatus

STATUS_SIM2CTP: dict[SimOrderStatus, str] = {
    SimOrderStatus.QUEUED: CtpStatus.NO_TRADE_QUEUEING,
    SimOrderStatus.PARTIAL: CtpStatus.PART_TRADED_QUEUEING,
    SimOrderStatus.FILLED: CtpStatus.ALL_TRADED,
    SimOrderStatus.CANCELLED: CtpStatus.CANCELED,
}

_SYMBOL = re.compile(r"^([A-Za-z]+)(\d+)$")


def status_of(status: SimOrderStatus) -> tuple[str, str]:
    """The (OrderStatus, StatusMsg) a front reports for a simulated order's state."""
    code = STATUS_SIM2CTP.get(status, CtpStatus.CANCELED)
    return code, STATUS_MSG[code]


def product_id(symbol: str) -> str:
    found = _SYMBOL.match(symbol)
    return found.group(1) if found else symbol


def delivery(symbol: str, trading_day: str) -> tuple[int, int]:
    """(year, month) from ``rb2601`` / CZCE's three-digit ``TA601`` (decade from the trading day)."""
    found = _SYMBOL.match(symbol)
    if not found:
        return 0, 0
    digits = found.group(2)
    month = int(digits[-2:])
    if len(digits) == 3:  # CZCE's ids carry one digit of year
        decade = int(trading_day[:3]) * 10
        year = decade + int(digits[0])
        if year < int(trading_day[:4]):
            year += 10
        return year, month
    return 2000 + int(digits[:2]), month


def _dbl(value: float | None) -> float:
    return DBL_MAX if value is None else value


def depth(inst: SimInstrument, q: Quote, trading_day: str, pre_open_interest: float) -> dict[str, Any]:
    traded = q.volume > 0
    levels = 5 if inst.market in FIVE_LEVEL_EXCHANGES else 1
    body: dict[str, Any] = {
        "TradingDay": trading_day,
        "reserve1": inst.symbol,
        "ExchangeID": "",
        "reserve2": "",
        "LastPrice": q.last if traded else DBL_MAX,
        "PreSettlementPrice": q.prev_close,
        "PreClosePrice": q.prev_close,
        "PreOpenInterest": pre_open_interest,
        "OpenPrice": q.open if traded else DBL_MAX,
        "HighestPrice": q.high if traded else DBL_MAX,
        "LowestPrice": q.low if traded else DBL_MAX,
        "Volume": q.volume,
        "Turnover": q.turnover,
        "OpenInterest": float(q.open_interest),
        "ClosePrice": DBL_MAX,
        "SettlementPrice": DBL_MAX,
        "UpperLimitPrice": _dbl(q.upper_limit),
        "LowerLimitPrice": _dbl(q.lower_limit),
        "PreDelta": 0.0,
        "CurrDelta": DBL_MAX,
        "UpdateTime": ctp_time.clock_time(q.ts_ns),
        "UpdateMillisec": 500 if ctp_time.millis(q.ts_ns) >= 500 else 0,
        "AveragePrice": average_price(inst, q),
        "ActionDay": action_day(inst, q.ts_ns, trading_day),
        "InstrumentID": inst.symbol,
        "ExchangeInstID": "",
        "BandingUpperPrice": 0.0,
        "BandingLowerPrice": 0.0,
    }
    for i in range(5):
        bid = q.bids[i] if i < levels and i < len(q.bids) else None
        ask = q.asks[i] if i < levels and i < len(q.asks) else None
        body[f"BidPrice{i + 1}"] = bid[0] if bid else DBL_MAX
        body[f"BidVolume{i + 1}"] = bid[1] if bid else 0
        body[f"AskPrice{i + 1}"] = ask[0] if ask else DBL_MAX
        body[f"AskVolume{i + 1}"] = ask[1] if ask else 0
    return body


def average_price(inst: SimInstrument, q: Quote) -> float:
    if q.volume <= 0:
        return 0.0
    average = q.turnover / q.volume
    return average / inst.multiplier if inst.market in AVERAGE_PRICE_PER_UNIT else average


def action_day(inst: SimInstrument, ts_ns: int, trading_day: str) -> str:
    if inst.market in ACTION_DAY_IS_TRADING_DAY and clock.is_night(ts_ns):
        return trading_day
    return ctp_time.calendar_day(ts_ns)


def instrument(inst: SimInstrument, trading_day: str) -> dict[str, Any]:
    year, month = delivery(inst.symbol, trading_day)
    expire = f"{year:04d}{month:02d}15" if year else ""
    return {
        "InstrumentID": inst.symbol,
        "reserve1": inst.symbol,
        "ExchangeID": inst.market,
        "InstrumentName": inst.name,
        "ExchangeInstID": inst.symbol,
        "reserve2": inst.symbol,
        "ProductID": product_id(inst.symbol),
        "reserve3": product_id(inst.symbol),
        "ProductClass": ProductClass.FUTURES,
        "DeliveryYear": year,
        "DeliveryMonth": month,
        "MaxMarketOrderVolume": 1000,
        "MinMarketOrderVolume": 1,
        "MaxLimitOrderVolume": 1000,
        "MinLimitOrderVolume": 1,
        "VolumeMultiple": int(inst.multiplier),
        "PriceTick": inst.price_tick,
        "CreateDate": f"{year - 1:04d}{month:02d}01" if year else "",
        "OpenDate": f"{year - 1:04d}{month:02d}15" if year else "",
        "ExpireDate": expire,
        "StartDelivDate": expire,
        "EndDelivDate": expire,
        "InstLifePhase": InstLifePhase.STARTED,
        "IsTrading": 1,
        "PositionType": PositionType.GROSS,
        "PositionDateType": (PositionDateType.USE_HISTORY if inst.market in CLOSE_TODAY_EXCHANGES
                             else PositionDateType.NO_USE_HISTORY),
        "LongMarginRatio": inst.margin_rate,
        "ShortMarginRatio": inst.margin_rate,
        "MaxMarginSideAlgorithm": MaxMarginSideAlgorithm.YES,
        "StrikePrice": 0.0,
        "UnderlyingMultiple": 1.0,
        "CombinationType": CombinationType.FUTURE,
    }


def order(rec: OrderRec, broker_id: str, trading_day: str) -> dict[str, Any]:
    body = {k: v for k, v in rec.input.items() if k not in ("reserve1", "reserve2")}
    body.update(
        {
            "BrokerID": broker_id,
            "InvestorID": rec.investor,
            "UserID": rec.user,
            "OrderRef": rec.order_ref,
            "RequestID": rec.request_id,
            "InstrumentID": rec.instrument,
            "reserve1": rec.instrument,
            "ExchangeInstID": rec.instrument,
            "ExchangeID": rec.exchange,
            "OrderLocalID": rec.order_local_id,
            "ParticipantID": broker_id,
            "ClientID": f"{broker_id}{rec.investor}",
            "TraderID": f"{broker_id}sim",
            "InstallID": 1,
            "OrderSubmitStatus": rec.submit_status,
            "NotifySequence": 0,
            "TradingDay": trading_day,
            "SettlementID": 1,
            "OrderSysID": rec.order_sys_id,
            "OrderSource": OrderSource.PARTICIPANT,
            "OrderStatus": rec.status,
            "OrderType": OrderType.NORMAL,
            "VolumeTraded": rec.volume_traded,
            "VolumeTotal": rec.volume_total,
            "InsertDate": rec.insert_date,
            "InsertTime": rec.insert_time,
            "UpdateTime": rec.update_time,
            "CancelTime": rec.cancel_time,
            "ActiveTraderID": f"{broker_id}sim" if rec.order_sys_id else "",
            "SequenceNo": rec.sequence_no,
            "FrontID": rec.front_id,
            "SessionID": rec.session_id,
            "UserProductInfo": rec.user_product_info,
            "StatusMsg": rec.status_msg,
            "BrokerOrderSeq": rec.broker_order_seq,
            "ZCETotalTradedVolume": rec.volume_traded if rec.exchange == CZCE else 0,
        }
    )
    return body


def trade(rec: OrderRec, broker_id: str, trading_day: str, *, trade_id: str, price: float, volume: int,
          ts_ns: int, sequence_no: int) -> dict[str, Any]:
    return {
        "BrokerID": broker_id,
        "InvestorID": rec.investor,
        "reserve1": rec.instrument,
        "OrderRef": rec.order_ref,
        "UserID": rec.user,
        "ExchangeID": rec.exchange,
        "TradeID": trade_id,
        "Direction": rec.input.get("Direction", ""),
        "OrderSysID": rec.order_sys_id,
        "ParticipantID": broker_id,
        "ClientID": f"{broker_id}{rec.investor}",
        "TradingRole": TradingRole.BROKER,
        "reserve2": rec.instrument,
        "OffsetFlag": str(rec.input.get("CombOffsetFlag", OffsetFlag.OPEN))[:1],
        "HedgeFlag": str(rec.input.get("CombHedgeFlag", HedgeFlag.SPECULATION))[:1],
        "Price": price,
        "Volume": volume,
        "TradeDate": ctp_time.calendar_day(ts_ns),
        "TradeTime": ctp_time.clock_time(ts_ns),
        "TradeType": TradeType.COMMON,
        "PriceSource": PriceSource.LAST_PRICE,
        "TraderID": f"{broker_id}sim",
        "OrderLocalID": rec.order_local_id,
        "ClearingPartID": broker_id,
        "BusinessUnit": rec.input.get("BusinessUnit", ""),
        "SequenceNo": sequence_no,
        "TradingDay": trading_day,
        "SettlementID": 1,
        "BrokerOrderSeq": rec.broker_order_seq,
        "TradeSource": TradeSource.NORMAL,
        "InvestUnitID": rec.input.get("InvestUnitID", ""),
        "InstrumentID": rec.instrument,
        "ExchangeInstID": rec.instrument,
    }


def trading_account(funds: Funds, broker_id: str, investor: str, trading_day: str) -> dict[str, Any]:
    pre_balance = funds.equity - funds.realised_pnl - funds.unrealised_pnl + funds.fees
    return {
        "BrokerID": broker_id,
        "AccountID": investor,
        "PreBalance": pre_balance,
        "Balance": funds.equity,
        "Available": funds.available,
        "WithdrawQuota": max(funds.available, 0.0),
        "CurrMargin": funds.margin,
        "ExchangeMargin": funds.margin,
        "FrozenMargin": funds.frozen_cash,
        "FrozenCash": 0.0,
        "FrozenCommission": 0.0,
        "Commission": funds.fees,
        "CloseProfit": funds.realised_pnl,
        "PositionProfit": funds.unrealised_pnl,
        "TradingDay": trading_day,
        "SettlementID": 1,
        "CurrencyID": funds.currency,
        "BizType": BizType.FUTURE,
    }


def positions(pos: Position, inst: SimInstrument, broker_id: str, trading_day: str,
              last: float) -> list[dict[str, Any]]:
    """InvestorPosition records for one instrument: one per direction, and per date on SHFE/INE."""
    sides = (
        (PosiDirection.LONG, pos.long_qty, pos.long_today, pos.long_avg_price, pos.long_frozen),
        (PosiDirection.SHORT, pos.short_qty, pos.short_today, pos.short_avg_price, pos.short_frozen),
    )
    gross = sum(qty * avg for _, qty, _, avg, _ in sides) or 1.0
    records: list[dict[str, Any]] = []
    for direction, qty, today, avg, frozen in sides:
        if qty <= 0:
            continue
        share = qty * avg / gross
        sign = 1.0 if direction == PosiDirection.LONG else -1.0
        parts = ([(PositionDate.TODAY, today), (PositionDate.HISTORY, qty - today)]
                 if inst.market in CLOSE_TODAY_EXCHANGES else [(PositionDate.TODAY, qty)])
        for date_flag, volume in parts:
            if volume <= 0:
                continue
            cost = avg * volume * inst.multiplier
            records.append(
                {
                    "BrokerID": broker_id,
                    "InvestorID": pos.account,
                    "InstrumentID": inst.symbol,
                    "reserve1": inst.symbol,
                    "ExchangeID": inst.market,
                    "PosiDirection": direction,
                    "HedgeFlag": HedgeFlag.SPECULATION,
                    "PositionDate": date_flag,
                    "Position": volume,
                    "TodayPosition": today if date_flag == PositionDate.TODAY else 0,
                    "YdPosition": volume - today if date_flag == PositionDate.TODAY else volume,
                    # A close order on a long position freezes "short" volume in CTP's terms.
                    "LongFrozen": frozen if direction == PosiDirection.SHORT else 0,
                    "ShortFrozen": frozen if direction == PosiDirection.LONG else 0,
                    "OpenVolume": today if date_flag == PositionDate.TODAY else 0,
                    "PositionCost": cost,
                    "OpenCost": cost,
                    "UseMargin": pos.margin * share * (volume / qty),
                    "ExchangeMargin": pos.margin * share * (volume / qty),
                    "PositionProfit": sign * (last - avg) * volume * inst.multiplier,
                    "PreSettlementPrice": inst.ref_price,
                    "SettlementPrice": last,
                    "TradingDay": trading_day,
                    "SettlementID": 1,
                    "MarginRateByMoney": inst.margin_rate,
                    "MarginRateByVolume": 0.0,
                }
            )
    return records
