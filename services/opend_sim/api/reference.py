"""Reference data of the quote API: static info, trading days, market state, plates, capital flow.

* **Static info** (3202) comes from the instrument table: lot size, name, exchange; every simulated
  instrument is an equity. Listing dates are not simulated (empty).
* **Trading days** (3219) and **market state** (3223) come from ``tradebus.sim.calendar`` (HK, US and
  CN calendars: weekdays minus a small holiday table), at the market's clock.
* **Plates** (3204, 3205, 3207): a small fixed table of industry plates over the simulated stocks.
* **Capital flow** (3211): net inflow read off the bars: a bar that closes above its open counts its
  turnover as inflow, one below as outflow, split into order-size classes in fixed proportions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opend_sim.api import pb, qot_build, timefmt
from opend_sim.api.mapping import KL_DAY, MARKET_STATE, QOT_MARKET, QOT_MARKET_TO_SIM, TRADE_DATE_MARKET
from opend_sim.api.quotes import KL_MINUTE, QuoteError, QuoteService
from opend_sim.api.session import Session
from opend_sim.api.tape import Bar
from tradebus.sim import SimInstrument
from tradebus.sim.calendar import TIMEZONE, calendar_of, phase, trading_days

TRADE_DATE_WHOLE = 0  # Qot_Common.TradeDateType_Whole: no half days are simulated
MAX_TRADE_DATE_SPAN = timedelta(days=366 * 5)
PLATE_INDUSTRY = 1  # Qot_Common.PlateSetType_Industry
PLATE_ALL = 0
PERIOD_INTRADAY, PERIOD_DAY = 1, 2  # Qot_Common.PeriodType
CAPITAL_FLOW_DAYS = 30  # daily capital flow reaches this far back without a beginTime
# share of the net flow by order size: super, big, mid, small (main = super + big)
FLOW_SPLIT = (0.25, 0.3, 0.25, 0.2)


@dataclass(frozen=True)
class Plate:
    market: str  # the plate's own market (A-share plates live under SH, as at Futu)
    code: str
    name: str
    members: tuple[tuple[str, str], ...]  # (market, symbol)


PLATES: tuple[Plate, ...] = (
    Plate("HK", "BK1999", "Internet Services (sim)", (("HK", "00700"), ("HK", "09988"), ("HK", "03690"))),
    Plate("US", "BK2999", "Semiconductors & Hardware (sim)", (("US", "AAPL"), ("US", "NVDA"))),
    Plate("US", "BK2998", "Automobiles (sim)", (("US", "TSLA"),)),
    Plate("SH", "BK0999", "白酒 (sim)", (("SH", "600519"),)),
    Plate("SH", "BK0998", "保险 (sim)", (("SH", "601318"),)),
    Plate("SH", "BK0997", "银行 (sim)", (("SZ", "000001"),)),
    Plate("SH", "BK0996", "电池 (sim)", (("SZ", "300750"),)),
)
_PLATE_MARKETS: dict[str, tuple[str, ...]] = {"HK": ("HK",), "US": ("US",), "SH": ("SH", "SZ"), "SZ": ("SH", "SZ")}


class ReferenceService:
    def __init__(self, quotes: QuoteService, now_ns: Callable[[], int]) -> None:
        self._quotes = quotes
        self._now_ns = now_ns
        self._ids = {(i.market, i.symbol): n for n, i in enumerate(quotes.instruments(), start=1)}

    def handlers(self) -> dict[int, Callable[[Session, Any], Any]]:
        guard = QuoteService._guard
        return {3202: guard(3202, self.static_info), 3204: guard(3204, self.plate_set),
                3205: guard(3205, self.plate_security), 3207: guard(3207, self.owner_plate),
                3211: guard(3211, self.capital_flow), 3219: guard(3219, self.trade_dates),
                3223: guard(3223, self.market_state)}

    # 3202 ---------------------------------------------------------------------------------------

    def static_info(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        if c2s.securityList:
            insts = [self._quotes.instrument(sec) for sec in c2s.securityList]
        else:
            market = QOT_MARKET_TO_SIM.get(c2s.market)
            if market is None:
                raise QuoteError(f"Unknown market {c2s.market}")
            equity = c2s.secType in (0, qot_build.SECURITY_TYPE_EQUITY)
            insts = [i for i in self._quotes.instruments() if i.market == market] if equity else []
        rsp = pb.ok_response(3202)
        for inst in insts:
            self._fill_static(rsp.s2c.staticInfoList.add(), inst)
        return rsp

    def _fill_static(self, dst: Any, inst: SimInstrument) -> None:
        qot_build.fill_static_basic(dst.basic, inst, self._ids[(inst.market, inst.symbol)])

    # 3219, 3223 -----------------------------------------------------------------------------------

    def trade_dates(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        if c2s.HasField("security") and c2s.security.code:  # a code wins over the market (as futu-api says)
            calendar = calendar_of(self._quotes.instrument(c2s.security).market)
        else:
            calendar = TRADE_DATE_MARKET.get(c2s.market)
        if calendar is None:
            raise QuoteError(f"Trading days of market {c2s.market} are not simulated (HK, US and CN are)")
        first, last = _date(c2s.beginTime), _date(c2s.endTime)
        if last < first:
            raise QuoteError("The end date is earlier than the start date")
        if last - first > MAX_TRADE_DATE_SPAN:
            raise QuoteError("The date range is too long: at most 5 years per request")
        zone = ZoneInfo(TIMEZONE[calendar])
        rsp = pb.ok_response(3219)
        for day in trading_days(calendar, first, last):
            item = rsp.s2c.tradeDateList.add()
            item.time = day.isoformat()
            item.timestamp = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
            item.tradeDateType = TRADE_DATE_WHOLE
        return rsp

    def market_state(self, session: Session, req: Any) -> Any:
        insts = [self._quotes.instrument(sec) for sec in req.c2s.securityList]
        now = self._now_ns()
        rsp = pb.ok_response(3223)
        for inst in insts:
            info = rsp.s2c.marketInfoList.add()
            qot_build.fill_security(info.security, inst)
            info.name = inst.name
            info.marketState = MARKET_STATE[phase(calendar_of(inst.market), timefmt.local(inst.market, now))]
        return rsp

    # 3204, 3205, 3207 ---------------------------------------------------------------------------

    def plate_set(self, session: Session, req: Any) -> Any:
        market = QOT_MARKET_TO_SIM.get(req.c2s.market)
        if market is None:
            raise QuoteError(f"Unknown market {req.c2s.market}")
        rsp = pb.ok_response(3204)
        if req.c2s.plateSetType in (PLATE_ALL, PLATE_INDUSTRY):
            for plate in PLATES:
                if plate.members[0][0] in _PLATE_MARKETS[market]:
                    _fill_plate(rsp.s2c.plateInfoList.add(), plate)
        return rsp

    def plate_security(self, session: Session, req: Any) -> Any:
        plate = _find_plate(req.c2s.plate)
        rsp = pb.ok_response(3205)
        members = [self._quotes.instrument(_security(market, symbol)) for market, symbol in plate.members]
        for inst in members:
            self._fill_static(rsp.s2c.staticInfoList.add(), inst)
        return rsp

    def owner_plate(self, session: Session, req: Any) -> Any:
        insts = [self._quotes.instrument(sec) for sec in req.c2s.securityList]
        rsp = pb.ok_response(3207)
        for inst in insts:
            owner = rsp.s2c.ownerPlateList.add()
            qot_build.fill_security(owner.security, inst)
            owner.name = inst.name
            for plate in PLATES:
                if (inst.market, inst.symbol) in plate.members:
                    _fill_plate(owner.plateInfoList.add(), plate)
        return rsp

    # 3211 -------------------------------------------------------------------------------------

    def capital_flow(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        inst = self._quotes.instrument(c2s.security)
        period = c2s.periodType if c2s.HasField("periodType") else PERIOD_INTRADAY
        quote = self._quotes.live_quote(inst)
        today = timefmt.local(inst.market, quote.ts_ns).date()
        if period == PERIOD_INTRADAY:
            tape = self._quotes.tape(inst)
            bars = [b for b in tape.bars[KL_MINUTE].bars if b.label.date() == today]
            cumulative = True
        elif period == PERIOD_DAY:
            last = _date(c2s.endTime) if c2s.endTime else today
            first = _date(c2s.beginTime) if c2s.beginTime else last - timedelta(days=CAPITAL_FLOW_DAYS)
            bars = self._day_bars(inst, first, last, today)
            cumulative = False
        else:
            raise QuoteError("Capital flow is simulated for INTRADAY and DAY periods only")
        rsp = pb.ok_response(3211)
        total = 0.0
        for bar in bars:
            flow = _net_flow(bar)
            total = total + flow if cumulative else flow
            _fill_flow(rsp.s2c.flowItemList.add(), bar, total, intraday=cumulative)
        if bars:
            rsp.s2c.lastValidTime = bars[-1].label.strftime("%Y-%m-%d %H:%M:%S")
            rsp.s2c.lastValidTimestamp = bars[-1].label.timestamp()
        return rsp

    def _day_bars(self, inst: SimInstrument, first: date, last: date, today: date) -> list[Bar]:
        zone = timefmt.MARKET_TZ[inst.market]
        begin = datetime.combine(first, datetime.min.time(), zone)
        end = datetime.combine(last, datetime.max.time(), zone)
        bars, _ = self._quotes.history.page(inst, self._quotes.tape(inst), KL_DAY, begin, end, 0, 1000)
        return bars


def _net_flow(bar: Bar) -> float:
    if bar.high <= bar.low:
        return 0.0
    return round(bar.turnover * (bar.close - bar.open) / (bar.high - bar.low), 2)


def _fill_flow(dst: Any, bar: Bar, flow: float, *, intraday: bool) -> None:
    dst.inFlow = flow
    dst.time = bar.label.strftime("%Y-%m-%d %H:%M:%S" if intraday else "%Y-%m-%d")
    dst.timestamp = bar.label.timestamp()
    super_, big, mid, small = (round(flow * share, 2) for share in FLOW_SPLIT)
    dst.superInFlow, dst.bigInFlow, dst.midInFlow, dst.smlInFlow = super_, big, mid, small
    dst.mainInFlow = round(super_ + big, 2)


def _fill_plate(dst: Any, plate: Plate) -> None:
    dst.plate.market = QOT_MARKET[plate.market]
    dst.plate.code = plate.code
    dst.name = plate.name
    dst.plateType = PLATE_INDUSTRY


def _find_plate(security: Any) -> Plate:
    market = QOT_MARKET_TO_SIM.get(security.market)
    for plate in PLATES:
        if plate.code == security.code and market in _PLATE_MARKETS.get(plate.market, ()):
            return plate
    raise QuoteError(f"Unknown plate {market or security.market}.{security.code[:20]}")


def _security(market: str, symbol: str) -> Any:
    sec = pb.module("Qot_Common").Security()
    sec.market = QOT_MARKET[market]
    sec.code = symbol
    return sec


def _date(text: str) -> date:
    try:
        return datetime.strptime(text.strip()[:10], "%Y-%m-%d").date()
    except ValueError:
        raise QuoteError(f"Invalid date {text[:40]!r}: expected YYYY-MM-DD") from None
