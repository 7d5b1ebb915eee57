"""Field lists of every webctp body, in the exact order webctp emits them (docs/ws_edge.md, 'Field order').

webctp copies CTP structs field by field, so a client may depend on key order; every body this edge
sends is built from one of these lists by :func:`blank` and then filled. A field's JSON type follows
CTP's C type: ``int`` fields are JSON integers, ``double`` fields JSON floats, everything else text.
"""

from __future__ import annotations

from typing import Any

DBL_MAX = 1.7976931348623157e308


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


# CTP C types by field name (a name has the same type in every struct it appears in).
INT_FIELDS = frozenset(_names("""
    FrontID, SessionID, VolumeTotalOriginal, MinVolume, IsAutoSuspend, RequestID, InstallID, NotifySequence,
    SettlementID, VolumeTraded, VolumeTotal, SequenceNo, UserForceClose, BrokerOrderSeq, ZCETotalTradedVolume,
    IsSwapOrder, Volume, AskVolume1, AskVolume2, AskVolume3, AskVolume4, AskVolume5, BidVolume1, BidVolume2,
    BidVolume3, BidVolume4, BidVolume5, UpdateMillisec, DeliveryYear, DeliveryMonth, MaxMarketOrderVolume,
    MinMarketOrderVolume, MaxLimitOrderVolume, MinLimitOrderVolume, VolumeMultiple, IsTrading, OrderActionRef,
    VolumeChange, MaxVolume, AbandonFrozen, CloseVolume, CombLongFrozen, CombPosition, CombShortFrozen, LongFrozen,
    OpenVolume, Position, ShortFrozen, StrikeFrozen, TasPosition, TodayPosition, YdPosition, YdStrikeFrozen,
    TimeFirstVolume, IsActive, ClientIPPort, IsRelative
"""))
FLOAT_FIELDS = frozenset(_names("""
    LimitPrice, StopPrice, Price, AskPrice1, AskPrice2, AskPrice3, AskPrice4, AskPrice5, BidPrice1, BidPrice2,
    BidPrice3, BidPrice4, BidPrice5, AveragePrice, BandingLowerPrice, BandingUpperPrice, ClosePrice, CurrDelta,
    HighestPrice, LastPrice, LowerLimitPrice, LowestPrice, OpenInterest, OpenPrice, PreClosePrice, PreDelta,
    PreOpenInterest, PreSettlementPrice, SettlementPrice, Turnover, UpperLimitPrice, PriceTick, LongMarginRatio,
    ShortMarginRatio, StrikePrice, UnderlyingMultiple, CloseAmount, CloseProfitByDate, CloseProfitByTrade,
    ExchMargin, LastSettlementPrice, Margin, MarginRateByMoney, MarginRateByVolume, PositionProfitByDate,
    PositionProfitByTrade, LongMarginRatioByMoney, LongMarginRatioByVolume, ShortMarginRatioByMoney,
    ShortMarginRatioByVolume, OrderActionCommByTrade, OrderActionCommByVolume, OrderCommByTrade, OrderCommByVolume,
    ExchFixedMargin, ExchMiniMargin, FixedMargin, MiniMargin, Royalty, OpenRatioByMoney, OpenRatioByVolume,
    CloseRatioByMoney, CloseRatioByVolume, CloseTodayRatioByMoney, CloseTodayRatioByVolume, StrikeRatioByMoney,
    StrikeRatioByVolume, CashIn, CloseProfit, Commission, ExchangeMargin, FrozenCash, FrozenCommission,
    FrozenMargin, LongFrozenAmount, OpenAmount, OpenCost, PositionCost, PositionCostOffset, PositionProfit,
    PreMargin, ShortFrozenAmount, StrikeFrozenAmount, TasPositionCost, UseMargin, Available, Balance, Credit,
    CurrMargin, DeliveryMargin, Deposit, ExchangeDeliveryMargin, FrozenSwap, FundMortgageAvailable, FundMortgageIn,
    FundMortgageOut, Interest, InterestBase, Mortgage, MortgageableFund, PreBalance, PreCredit, PreDeposit,
    PreFundMortgageIn, PreFundMortgageOut, PreMortgage, RemainSwap, Reserve, ReserveBalance,
    SpecProductCloseProfit, SpecProductCommission, SpecProductExchangeMargin, SpecProductFrozenCommission,
    SpecProductFrozenMargin, SpecProductMargin, SpecProductPositionProfit, SpecProductPositionProfitByAlg,
    Withdraw, WithdrawQuota, InputPrice, UnderlyingPrice
"""))

# --- response bodies, exact emitted order (docs/ws_edge.md, 'Field order') ------------------------

TD_LOGIN = _names("TradingDay, LoginTime, BrokerID, UserID, SystemName, FrontID, SessionID, MaxOrderRef, SHFETime, "
                  "DCETime, CZCETime, FFEXTime, INETime")
MD_LOGIN = _names("BrokerID, CZCETime, DCETime, FFEXTime, FrontID, INETime, LoginTime, MaxOrderRef, SessionID, "
                  "SHFETime, SystemName, SysVersion, TradingDay, UserID")
INSTRUMENT = _names("""
    InstrumentID, ExchangeID, InstrumentName, ExchangeInstID, ProductID, ProductClass, DeliveryYear, DeliveryMonth,
    MaxMarketOrderVolume, MinMarketOrderVolume, MaxLimitOrderVolume, MinLimitOrderVolume, VolumeMultiple, PriceTick,
    CreateDate, OpenDate, ExpireDate, StartDelivDate, EndDelivDate, InstLifePhase, IsTrading, PositionType,
    PositionDateType, LongMarginRatio, ShortMarginRatio, MaxMarginSideAlgorithm, UnderlyingInstrID, StrikePrice,
    OptionsType, UnderlyingMultiple, CombinationType""")
EXCHANGE = _names("ExchangeID, ExchangeName, ExchangeProperty")
PRODUCT = _names("""
    CloseDealType, ExchangeID, ExchangeProductID, MaxLimitOrderVolume, MaxMarketOrderVolume, MinLimitOrderVolume,
    MinMarketOrderVolume, MortgageFundUseRange, OpenLimitControlLevel, OrderFreqControlLevel, PositionDateType,
    PositionType, PriceTick, ProductClass, ProductID, ProductName, TradeCurrencyID, UnderlyingMultiple,
    VolumeMultiple""")
DEPTH_TD = _names("""
    ActionDay, AskPrice1, AskPrice2, AskPrice3, AskPrice4, AskPrice5, AskVolume1, AskVolume2, AskVolume3, AskVolume4,
    AskVolume5, AveragePrice, BandingLowerPrice, BandingUpperPrice, BidPrice1, BidPrice2, BidPrice3, BidPrice4,
    BidPrice5, BidVolume1, BidVolume2, BidVolume3, BidVolume4, BidVolume5, ClosePrice, CurrDelta, ExchangeID,
    ExchangeInstID, HighestPrice, InstrumentID, LastPrice, LowerLimitPrice, LowestPrice, OpenInterest, OpenPrice,
    PreClosePrice, PreDelta, PreOpenInterest, PreSettlementPrice, SettlementPrice, TradingDay, Turnover,
    UpdateMillisec, UpdateTime, UpperLimitPrice, Volume""")
DEPTH_MD = (*DEPTH_TD, "reserve1", "reserve2")  # the 48 fields of RtnDepthMarketData
POSITION_DETAIL = _names("""
    BrokerID, CloseAmount, CloseProfitByDate, CloseProfitByTrade, CloseVolume, CombInstrumentID, Direction,
    ExchMargin, ExchangeID, HedgeFlag, InstrumentID, InvestUnitID, InvestorID, LastSettlementPrice, Margin,
    MarginRateByMoney, MarginRateByVolume, OpenDate, OpenPrice, PositionProfitByDate, PositionProfitByTrade,
    SettlementID, SettlementPrice, SpecPosiType, TimeFirstVolume, TradeID, TradeType, TradingDay, Volume""")
EXCHANGE_MARGIN_RATE = _names("BrokerID, ExchangeID, HedgeFlag, InstrumentID, LongMarginRatioByMoney, "
                              "LongMarginRatioByVolume, ShortMarginRatioByMoney, ShortMarginRatioByVolume")
INSTRUMENT_ORDER_COMM_RATE = _names("BrokerID, ExchangeID, HedgeFlag, InstrumentID, InvestUnitID, InvestorID, "
                                    "InvestorRange, OrderActionCommByTrade, OrderActionCommByVolume, "
                                    "OrderCommByTrade, OrderCommByVolume")
OPTION_TRADE_COST = _names("BrokerID, ExchFixedMargin, ExchMiniMargin, ExchangeID, FixedMargin, HedgeFlag, "
                           "InstrumentID, InvestUnitID, InvestorID, MiniMargin, Royalty")
OPTION_COMM_RATE = _names("InvestorRange, BrokerID, InvestorID, OpenRatioByMoney, OpenRatioByVolume, "
                          "CloseRatioByMoney, CloseRatioByVolume, CloseTodayRatioByMoney, CloseTodayRatioByVolume, "
                          "StrikeRatioByMoney, StrikeRatioByVolume, ExchangeID, InvestUnitID, InstrumentID")
ORDER = _names("""
    BrokerID, InvestorID, OrderRef, UserID, OrderPriceType, Direction, CombOffsetFlag, CombHedgeFlag, LimitPrice,
    VolumeTotalOriginal, TimeCondition, GTDDate, VolumeCondition, MinVolume, ContingentCondition, StopPrice,
    ForceCloseReason, IsAutoSuspend, BusinessUnit, RequestID, OrderLocalID, ExchangeID, ParticipantID, ClientID,
    TraderID, InstallID, OrderSubmitStatus, NotifySequence, TradingDay, SettlementID, OrderSysID, OrderSource,
    OrderStatus, OrderType, VolumeTraded, VolumeTotal, InsertDate, InsertTime, ActiveTime, SuspendTime, UpdateTime,
    CancelTime, ActiveTraderID, ClearingPartID, SequenceNo, FrontID, SessionID, UserProductInfo, StatusMsg,
    UserForceClose, ActiveUserID, BrokerOrderSeq, RelativeOrderSysID, ZCETotalTradedVolume, IsSwapOrder, BranchID,
    InvestUnitID, AccountID, CurrencyID, MacAddress, InstrumentID, ExchangeInstID, IPAddress""")
MAX_ORDER_VOLUME = _names("BrokerID, InvestorID, InstrumentID, ExchangeID, InvestUnitID, MaxVolume, Direction, "
                          "OffsetFlag, HedgeFlag")
INPUT_ORDER_ACTION = _names("BrokerID, InvestorID, OrderActionRef, OrderRef, RequestID, FrontID, SessionID, "
                            "ExchangeID, OrderSysID, ActionFlag, LimitPrice, VolumeChange, UserID, InvestUnitID, "
                            "MacAddress, InstrumentID, IPAddress")
ORDER_ACTION = _names("""
    BrokerID, InvestorID, OrderActionRef, OrderRef, RequestID, FrontID, SessionID, ExchangeID, OrderSysID,
    ActionFlag, LimitPrice, VolumeChange, ActionDate, ActionTime, TraderID, InstallID, OrderLocalID, ActionLocalID,
    ParticipantID, ClientID, BusinessUnit, OrderActionStatus, UserID, StatusMsg, BranchID, InvestUnitID,
    MacAddress, InstrumentID, IPAddress""")
INPUT_ORDER = _names("""
    BrokerID, InvestorID, OrderRef, UserID, OrderPriceType, Direction, CombOffsetFlag, CombHedgeFlag, LimitPrice,
    VolumeTotalOriginal, TimeCondition, GTDDate, VolumeCondition, MinVolume, ContingentCondition, StopPrice,
    ForceCloseReason, IsAutoSuspend, BusinessUnit, RequestID, UserForceClose, IsSwapOrder, ExchangeID,
    InvestUnitID, AccountID, CurrencyID, ClientID, MacAddress, InstrumentID, IPAddress""")
USER_PASSWORD_UPDATE = _names("BrokerID, UserID, OldPassword, NewPassword")
TRADE_RTN = _names("""
    BrokerID, InvestorID, OrderRef, UserID, ExchangeID, TradeID, Direction, OrderSysID, ParticipantID, ClientID,
    TradingRole, OffsetFlag, HedgeFlag, Price, Volume, TradeDate, TradeTime, TradeType, PriceSource, TraderID,
    OrderLocalID, ClearingPartID, BusinessUnit, SequenceNo, TradingDay, SettlementID, BrokerOrderSeq, TradeSource,
    InvestUnitID, InstrumentID, ExchangeInstID""")
TRADE_QRY = tuple(sorted(TRADE_RTN))  # RspQryTrade: the same 31 fields, alphabetical (SWIG dir() order)
INVESTOR_POSITION = _names("""
    AbandonFrozen, BrokerID, CashIn, CloseAmount, CloseProfit, CloseProfitByDate, CloseProfitByTrade, CloseVolume,
    CombLongFrozen, CombPosition, CombShortFrozen, Commission, ExchangeID, ExchangeMargin, FrozenCash,
    FrozenCommission, FrozenMargin, HedgeFlag, InstrumentID, InvestUnitID, InvestorID, LongFrozen, LongFrozenAmount,
    MarginRateByMoney, MarginRateByVolume, OpenAmount, OpenCost, OpenVolume, PosiDirection, Position, PositionCost,
    PositionCostOffset, PositionDate, PositionProfit, PreMargin, PreSettlementPrice, SettlementID, SettlementPrice,
    ShortFrozen, ShortFrozenAmount, StrikeFrozen, StrikeFrozenAmount, TasPosition, TasPositionCost, TodayPosition,
    TradingDay, UseMargin, YdPosition, YdStrikeFrozen""")
TRADING_ACCOUNT = _names("""
    AccountID, Available, Balance, BizType, BrokerID, CashIn, CloseProfit, Commission, Credit, CurrMargin, CurrencyID,
    DeliveryMargin, Deposit, ExchangeDeliveryMargin, ExchangeMargin, FrozenCash, FrozenCommission, FrozenMargin,
    FrozenSwap, FundMortgageAvailable, FundMortgageIn, FundMortgageOut, Interest, InterestBase, Mortgage,
    MortgageableFund, PositionProfit, PreBalance, PreCredit, PreDeposit, PreFundMortgageIn, PreFundMortgageOut,
    PreMargin, PreMortgage, RemainSwap, Reserve, ReserveBalance, SettlementID, SpecProductCloseProfit,
    SpecProductCommission, SpecProductExchangeMargin, SpecProductFrozenCommission, SpecProductFrozenMargin,
    SpecProductMargin, SpecProductPositionProfit, SpecProductPositionProfitByAlg, TradingDay, Withdraw,
    WithdrawQuota""")
INVESTOR = _names("Address, BrokerID, CommModelID, IdentifiedCardNo, IdentifiedCardType, InvestorGroupID, InvestorID, "
                  "InvestorName, IsActive, MarginModelID, Mobile, OpenDate, Telephone")
TRADING_CODE = _names("BizType, BranchID, BrokerID, ClientID, ClientIDType, ExchangeID, InvestUnitID, InvestorID, "
                      "IsActive")
INSTRUMENT_MARGIN_RATE = _names("BrokerID, ExchangeID, HedgeFlag, InstrumentID, InvestUnitID, InvestorID, "
                                "InvestorRange, IsRelative, LongMarginRatioByMoney, LongMarginRatioByVolume, "
                                "ShortMarginRatioByMoney, ShortMarginRatioByVolume")
INSTRUMENT_COMMISSION_RATE = _names("BizType, BrokerID, CloseRatioByMoney, CloseRatioByVolume, CloseTodayRatioByMoney, "
                                    "CloseTodayRatioByVolume, ExchangeID, InstrumentID, InvestUnitID, InvestorID, "
                                    "InvestorRange, OpenRatioByMoney, OpenRatioByVolume")
# Unset one-character enums: openctp-ctp hands webctp a NUL for them, which json writes as "\u0000".
NUL = "\x00"
_NUL_DEFAULT = frozenset(_names("BizType, TradingRole, TradeType, PriceSource, IdentifiedCardType, OptionsType"))


def default(name: str) -> Any:
    if name in INT_FIELDS:
        return 0
    if name in FLOAT_FIELDS:
        return 0.0
    if name in _NUL_DEFAULT:
        return NUL
    return ""


_BLANKS: dict[tuple[str, ...], dict[str, Any]] = {}


def blank(names: tuple[str, ...]) -> dict[str, Any]:
    """A fresh body with every field at CTP's zero value, keys in emitted order."""
    template = _BLANKS.get(names)
    if template is None:
        template = _BLANKS[names] = {name: default(name) for name in names}
    return dict(template)


def fill(names: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    """``blank(names)`` updated with ``values``; a key not in ``names`` is a programming error."""
    body = blank(names)
    for key, value in values.items():
        if key not in body:
            raise KeyError(f"{key} is not a field of this body")
        body[key] = value
    return body
