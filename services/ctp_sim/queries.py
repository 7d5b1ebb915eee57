"""``ReqQry*`` answers of the trading front.

Each answer is a stream of ``OnRspQry*`` calls, ``bIsLast`` on the final one; an empty result is a
single call with a NULL record, as CTP sends it. The one-query-per-second flow control is applied
by the api (the double returns -3 before sending), exactly where the native library applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ctp_sim import fields
from ctp_sim.config import FrontConfig
from ctp_sim.state import DayState
from tradebus.ctp.codes import (
    BizType,
    ClientIdType,
    ExchangeProperty,
    HedgeFlag,
    IdentifiedCardType,
    InvestorRange,
)
from tradebus.ctp.exchanges import EXCHANGE_NAMES
from tradebus.ctp.wire import Frame
from tradebus.sim import SimInstrument, SimMarket, SimReject

if TYPE_CHECKING:
    from ctp_sim.broker import TdSession

ReplyMany = Callable[["TdSession", str, str, int, list[dict[str, Any]]], None]
Bodies = list[dict[str, Any]]


def _matches(req: dict[str, Any], record: dict[str, Any], *keys: str) -> bool:
    """CTP query filters: an empty filter field matches everything."""
    return all(not req.get(k) or str(req[k]).strip() == str(record.get(k, "")).strip() for k in keys)


class QueryDesk:
    def __init__(self, config: FrontConfig, market: SimMarket, state: DayState,
                 instruments: dict[str, SimInstrument]) -> None:
        self.config = config
        self.market = market
        self.state = state
        self.instruments = instruments
        self._table: dict[str, tuple[str, str, Callable[[str, dict[str, Any]], Bodies]]] = {
            "ReqQryInstrument": ("OnRspQryInstrument", "CThostFtdcInstrumentField", self._instrument),
            "ReqQryExchange": ("OnRspQryExchange", "CThostFtdcExchangeField", self._exchange),
            "ReqQryTradingAccount": ("OnRspQryTradingAccount", "CThostFtdcTradingAccountField", self._account),
            "ReqQryInvestorPosition": (
                "OnRspQryInvestorPosition", "CThostFtdcInvestorPositionField", self._position,
            ),
            "ReqQryOrder": ("OnRspQryOrder", "CThostFtdcOrderField", self._order),
            "ReqQryTrade": ("OnRspQryTrade", "CThostFtdcTradeField", self._trade),
            "ReqQryDepthMarketData": (
                "OnRspQryDepthMarketData", "CThostFtdcDepthMarketDataField", self._depth,
            ),
            "ReqQryInvestor": ("OnRspQryInvestor", "CThostFtdcInvestorField", self._investor),
            "ReqQryTradingCode": ("OnRspQryTradingCode", "CThostFtdcTradingCodeField", self._trading_code),
            "ReqQrySettlementInfo": ("OnRspQrySettlementInfo", "CThostFtdcSettlementInfoField", self._settlement),
            "ReqQrySettlementInfoConfirm": (
                "OnRspQrySettlementInfoConfirm", "CThostFtdcSettlementInfoConfirmField", self._confirm,
            ),
            "ReqQryInstrumentMarginRate": (
                "OnRspQryInstrumentMarginRate", "CThostFtdcInstrumentMarginRateField", self._margin_rate,
            ),
            "ReqQryInstrumentCommissionRate": (
                "OnRspQryInstrumentCommissionRate", "CThostFtdcInstrumentCommissionRateField", self._fee_rate,
            ),
        }

    def answer(self, s: TdSession, frame: Frame, reply_many: ReplyMany) -> None:
        entry = self._table.get(frame.op)
        if entry is None:
            reply_many(s, "OnRsp" + frame.op[3:], "", frame.rid, [])
            return
        cb, st, build = entry
        reply_many(s, cb, st, frame.rid, build(s.investor or "", frame.body or {}))

    # --- one builder per query ----------------------------------------------------------------

    def _instrument(self, investor: str, req: dict[str, Any]) -> Bodies:
        day = self.state.trading_day
        bodies = [fields.instrument(i, day) for i in self.instruments.values()]
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID", "ProductID")]

    def _exchange(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies = [{"ExchangeID": k, "ExchangeName": v, "ExchangeProperty": ExchangeProperty.NORMAL}
                  for k, v in EXCHANGE_NAMES.items()]
        return [b for b in bodies if _matches(req, b, "ExchangeID")]

    def _account(self, investor: str, req: dict[str, Any]) -> Bodies:
        try:
            funds = self.market.funds(investor)
        except SimReject:
            return []
        return [fields.trading_account(funds, self.config.broker_id, investor, self.state.trading_day)]

    def _position(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies: Bodies = []
        for pos in self.market.positions(investor):
            inst = self.instruments.get(pos.symbol)
            if inst is None:
                continue
            last = self.market.quote(inst.market, inst.symbol).last
            bodies += fields.positions(pos, inst, self.config.broker_id, self.state.trading_day, last)
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID")]

    def _order(self, investor: str, req: dict[str, Any]) -> Bodies:
        day = self.state.trading_day
        bodies = [fields.order(r, self.config.broker_id, day) for r in self.state.orders if r.investor == investor]
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID", "OrderSysID")]

    def _trade(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies = [t for t in self.state.trades if t["InvestorID"] == investor]
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID", "TradeID")]

    def _depth(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies: Bodies = []
        for inst in self.instruments.values():
            body = fields.depth(inst, self.market.quote(inst.market, inst.symbol), self.state.trading_day, 0.0)
            body["ExchangeID"] = inst.market  # the trading front's query does name the exchange
            bodies.append(body)
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID")]

    def _investor(self, investor: str, req: dict[str, Any]) -> Bodies:
        return [{
            "InvestorID": investor,
            "BrokerID": self.config.broker_id,
            "InvestorGroupID": self.config.broker_id,
            "InvestorName": f"模拟投资者{investor}",
            "IdentifiedCardType": IdentifiedCardType.IDCARD,
            "IdentifiedCardNo": "",
            "IsActive": 1,
            "OpenDate": "20250101",
            "CommModelID": "1",
            "MarginModelID": "1",
        }]

    def _trading_code(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies = [{
            "InvestorID": investor,
            "BrokerID": self.config.broker_id,
            "ExchangeID": exchange,
            "ClientID": f"{self.config.broker_id}{investor}",
            "IsActive": 1,
            "ClientIDType": ClientIdType.SPECULATION,
            "BizType": BizType.FUTURE,
        } for exchange in fields.EXCHANGE_NAMES]
        return [b for b in bodies if _matches(req, b, "ExchangeID")]

    def _settlement(self, investor: str, req: dict[str, Any]) -> Bodies:
        return [{
            "TradingDay": self.state.trading_day,
            "SettlementID": 1,
            "BrokerID": self.config.broker_id,
            "InvestorID": investor,
            "SequenceNo": 1,
            "Content": "ctp_sim: 模拟账户，无结算单。",
            "AccountID": investor,
            "CurrencyID": "CNY",
        }]

    def _confirm(self, investor: str, req: dict[str, Any]) -> Bodies:
        stamp = self.state.confirmed.get(investor)
        if stamp is None:
            return []
        date, time_ = stamp.split()
        return [{
            "BrokerID": self.config.broker_id,
            "InvestorID": investor,
            "ConfirmDate": date,
            "ConfirmTime": time_,
            "SettlementID": 1,
            "AccountID": investor,
            "CurrencyID": "CNY",
        }]

    def _margin_rate(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies = [{
            "InstrumentID": i.symbol,
            "reserve1": i.symbol,
            "ExchangeID": i.market,
            "InvestorRange": InvestorRange.ALL,
            "BrokerID": self.config.broker_id,
            "InvestorID": investor,
            "HedgeFlag": HedgeFlag.SPECULATION,
            "LongMarginRatioByMoney": i.margin_rate,
            "LongMarginRatioByVolume": 0.0,
            "ShortMarginRatioByMoney": i.margin_rate,
            "ShortMarginRatioByVolume": 0.0,
            "IsRelative": 0,
        } for i in self.instruments.values()]
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID")]

    def _fee_rate(self, investor: str, req: dict[str, Any]) -> Bodies:
        bodies = [{
            "InstrumentID": i.symbol,
            "reserve1": i.symbol,
            "ExchangeID": i.market,
            "InvestorRange": InvestorRange.ALL,
            "BrokerID": self.config.broker_id,
            "InvestorID": investor,
            "OpenRatioByMoney": i.fee_rate,
            "OpenRatioByVolume": i.fee_per_lot,
            "CloseRatioByMoney": i.fee_rate,
            "CloseRatioByVolume": i.fee_per_lot,
            "CloseTodayRatioByMoney": i.fee_rate,
            "CloseTodayRatioByVolume": i.fee_per_lot,
            "BizType": BizType.FUTURE,
        } for i in self.instruments.values()]
        return [b for b in bodies if _matches(req, b, "InstrumentID", "ExchangeID")]
