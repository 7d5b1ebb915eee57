"""China's futures exchanges reached through CTP, and the ways they differ (docs/ctp.md, "Exchanges").

Each quirk is its own set even where two sets hold the same exchanges today: they are different facts
and change independently.
"""

from __future__ import annotations

SHFE, INE, DCE, CZCE, CFFEX, GFEX = "SHFE", "INE", "DCE", "CZCE", "CFFEX", "GFEX"

# Every ExchangeID a CTP front of a futures broker answers with.
CTP_EXCHANGES: tuple[str, ...] = (SHFE, INE, DCE, CZCE, CFFEX, GFEX)

EXCHANGE_NAMES: dict[str, str] = {
    SHFE: "上海期货交易所",
    INE: "上海国际能源交易中心",
    DCE: "大连商品交易所",
    CZCE: "郑州商品交易所",
    CFFEX: "中国金融期货交易所",
    GFEX: "广州期货交易所",
}

# Today's and yesterday's positions are kept apart: closing today's needs CloseToday, a plain Close
# closes yesterday's, and InvestorPosition has one row per part.
CLOSE_TODAY_EXCHANGES: frozenset[str] = frozenset({SHFE, INE})
# Their md fronts carry five book levels; the others level 1 only.
FIVE_LEVEL_EXCHANGES: frozenset[str] = frozenset({SHFE, INE})
# They take no any-price (market) orders: the exchange refuses them, not the front.
NO_MARKET_ORDER_EXCHANGES: frozenset[str] = frozenset({SHFE, INE})
# AveragePrice is per unit here; elsewhere Turnover / Volume, i.e. times the contract multiplier.
AVERAGE_PRICE_PER_UNIT: frozenset[str] = frozenset({CZCE})
# ActionDay carries the trading day (not the calendar day) during the night session.
ACTION_DAY_IS_TRADING_DAY: frozenset[str] = frozenset({DCE})
# TradingDay carries the calendar day (not the trading day) during the night session.
TRADING_DAY_IS_CALENDAR_DAY: frozenset[str] = frozenset({CZCE})
# Instrument ids carry one digit of year (TA601), not two (rb2601); also the only exchange whose
# orders fill ZCETotalTradedVolume.
ONE_DIGIT_YEAR_EXCHANGES: frozenset[str] = frozenset({CZCE})
