"""Quote protos: 3001 Qot_Sub (with OpenD's quota rules), 3003 GetSubInfo, pulls and pushes.

OpenD's rules, as its FAQ states them (docs/simulators.md, 'Quote rules'): quota is counted per subscription type per
security across all connections; a subscription can be cancelled only after it has lasted one
minute, and one left by a closed connection keeps its quota until that minute is over; pull queries
need the matching subscription on the asking connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from opend_sim.api import framing, pb, qot_build, timefmt
from opend_sim.api.history_kl import HistoryBook
from opend_sim.api.mapping import (
    KL_TYPE_PERIOD,
    KL_TYPE_TO_SUB,
    QOT_MARKET,
    QOT_MARKET_TO_SIM,
    SUB_BROKER,
    SUB_ORDER_BOOK,
    SUB_QUOTE,
    SUB_RT,
    SUB_TICKER,
    SUB_TO_KL_TYPE,
    SUB_TYPE_NAME,
    SUPPORTED_SUB_TYPES,
)
from opend_sim.api.session import PUSH_SERIAL, Session
from opend_sim.api.tape import MAX_BARS, MAX_TICKS, Bar, InstrumentTape, Tick
from tradebus.sim import Quote, SimInstrument, SimMarket

SecKey = tuple[str, str]  # (market, symbol)
KL_MINUTE = 1  # Qot_Common.KLType_1Min: the time-share chart is made of these
SubKey = tuple[SecKey, int]  # (security, SubType)

ORDER_BOOK_MAX = 10
BROKER_LEVELS = 5  # the book's depth: every level has its brokers
SNAPSHOT_MAX_CODES = 400  # OpenD's limit per get_market_snapshot call
HISTORY_MAX_PER_PAGE = 1000  # request_history_kline pages by at most 1000 bars
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


class QuoteError(Exception):
    """A refusal to put in retMsg."""


@dataclass(slots=True)
class SubEntry:
    since: float  # monotonic seconds
    push: bool


class QuoteService:
    def __init__(self, market: SimMarket, *, quota: int, unsub_min_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._market = market
        self._quota = quota
        self._unsub_min = unsub_min_seconds
        self._clock = clock
        self._instruments: dict[SecKey, SimInstrument] = {
            (i.market, i.symbol): i for i in market.instruments() if i.market in QOT_MARKET}
        self._tapes: dict[SecKey, InstrumentTape] = {
            key: InstrumentTape(market.quote(*key)) for key in self._instruments}
        self._subs: dict[int, dict[SubKey, SubEntry]] = {}
        self._lingering: dict[SubKey, float] = {}  # closed connections' young subscriptions -> release time
        # every new quote, from market steps and from user trades between steps
        self._new_quotes: list[Quote] = []
        self._seed = market.seed
        self.history = HistoryBook(market.seed)
        market.add_listener(_ignore, _ignore, self._on_quote)

    def handlers(self) -> dict[int, Callable[[Session, Any], Any]]:
        return {3001: self._guard(3001, self.subscribe), 3003: self._guard(3003, self.sub_info),
                3004: self._guard(3004, self.basic_qot), 3006: self._guard(3006, self.kline),
                3008: self._guard(3008, self.rt_data), 3010: self._guard(3010, self.ticker),
                3012: self._guard(3012, self.order_book), 3014: self._guard(3014, self.broker_queue),
                3103: self._guard(3103, self.history_kline), 3203: self._guard(3203, self.snapshot)}

    def instrument(self, security: Any) -> SimInstrument:
        """The instrument a ``Qot_Common.Security`` names (QuoteError if unknown)."""
        return self._resolve(security)

    def instruments(self) -> list[SimInstrument]:
        return list(self._instruments.values())

    def live_quote(self, inst: SimInstrument) -> Quote:
        return self._tape(inst).quote

    @staticmethod
    def _guard(proto_id: int, fn: Callable[[Session, Any], Any]) -> Callable[[Session, Any], Any]:
        def run(session: Session, req: Any) -> Any:
            try:
                return fn(session, req)
            except QuoteError as exc:
                return pb.error_response(proto_id, str(exc))
        return run

    # subscription bookkeeping ----------------------------------------------------------------

    def used_keys(self) -> set[SubKey]:
        now = self._clock()
        self._lingering = {k: t for k, t in self._lingering.items() if t > now}
        used = set(self._lingering)
        for subs in self._subs.values():
            used.update(subs)
        return used

    def drop_session(self, session: Session) -> None:
        subs = self._subs.pop(session.conn_id, {})
        for key, entry in subs.items():
            release = entry.since + self._unsub_min
            self._lingering[key] = max(release, self._lingering.get(key, 0.0))

    def _resolve(self, security: Any) -> SimInstrument:
        market = QOT_MARKET_TO_SIM.get(security.market)
        inst = self._instruments.get((market, security.code)) if market else None
        if inst is None:
            prefix = market or str(security.market)
            raise QuoteError(f"Unknown stock {prefix}.{security.code}")
        return inst

    def _require(self, session: Session, inst: SimInstrument, sub_type: int) -> None:
        if ((inst.market, inst.symbol), sub_type) not in self._subs.get(session.conn_id, {}):
            code = qot_build.code_str(inst.market, inst.symbol)
            raise QuoteError(f"Please subscribe to {SUB_TYPE_NAME[sub_type]} data of {code} first "
                             f"before requesting it")

    # 3001 -------------------------------------------------------------------------------------

    def subscribe(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        mine = self._subs.setdefault(session.conn_id, {})
        if c2s.isUnsubAll:
            self._unsubscribe(mine, list(mine))
            return pb.ok_response(3001)
        insts = [self._resolve(sec) for sec in c2s.securityList]
        for sub_type in c2s.subTypeList:
            if sub_type not in SUPPORTED_SUB_TYPES:
                name = SUB_TYPE_NAME.get(sub_type, str(sub_type))
                raise QuoteError(f"Subscription type {name} is not supported by opend_sim")
            if sub_type == SUB_BROKER and c2s.isSubOrUnSub:
                for inst in insts:
                    if inst.market != "HK":
                        raise QuoteError(f"BROKER is only available for HK securities, not "
                                         f"{qot_build.code_str(inst.market, inst.symbol)}")
        keys = [((i.market, i.symbol), st) for i in insts for st in c2s.subTypeList]
        if c2s.isSubOrUnSub:
            self._subscribe(session, mine, keys, push=c2s.isRegOrUnRegPush)
            if c2s.isRegOrUnRegPush and c2s.isFirstPush:
                for key in keys:
                    self._first_push(session, key)
        else:
            self._unsubscribe(mine, keys)
        return pb.ok_response(3001)

    def _subscribe(self, session: Session, mine: dict[SubKey, SubEntry], keys: list[SubKey], *,
                   push: bool) -> None:
        used = self.used_keys()
        fresh = {k for k in keys if k not in used}
        if len(used) + len(fresh) > self._quota:
            raise QuoteError(f"Insufficient subscription quota: {len(used)} of {self._quota} used, "
                             f"{len(fresh)} more requested")
        now = self._clock()
        for key in keys:
            entry = mine.get(key)
            if entry is None:
                mine[key] = SubEntry(now, push)
            else:
                entry.push = push

    def _unsubscribe(self, mine: dict[SubKey, SubEntry], keys: list[SubKey]) -> None:
        now = self._clock()
        young = [k for k in keys if k in mine and now - mine[k].since < self._unsub_min]
        if young:
            (market, symbol), sub_type = young[0]
            raise QuoteError(f"Unsubscribe failed: {market}.{symbol} {SUB_TYPE_NAME[sub_type]} has been "
                             f"subscribed for less than one minute")
        for key in keys:
            mine.pop(key, None)

    # 3003 -------------------------------------------------------------------------------------

    def sub_info(self, session: Session, req: Any) -> Any:
        rsp = pb.ok_response(3003)
        s2c = rsp.s2c
        conn_ids = list(self._subs) if req.c2s.isReqAllConn else [session.conn_id]
        for conn_id in conn_ids:
            self._fill_conn_sub_info(s2c.connSubInfoList.add(), self._subs.get(conn_id, {}),
                                     own=conn_id == session.conn_id)
        used = len(self.used_keys())
        s2c.totalUsedQuota = used
        s2c.remainQuota = max(0, self._quota - used)
        return rsp

    def _fill_conn_sub_info(self, dst: Any, subs: dict[SubKey, SubEntry], *, own: bool) -> None:
        by_type: dict[int, list[SecKey]] = {}
        for sec, sub_type in subs:
            by_type.setdefault(sub_type, []).append(sec)
        for sub_type, secs in sorted(by_type.items()):
            info = dst.subInfoList.add()
            info.subType = sub_type
            for sec in secs:
                qot_build.fill_security(info.securityList.add(), self._instruments[sec])
        dst.usedQuota = len(subs)
        dst.isOwnConnData = own

    # pulls ------------------------------------------------------------------------------------

    def basic_qot(self, session: Session, req: Any) -> Any:
        insts = [self._resolve(sec) for sec in req.c2s.securityList]
        for inst in insts:
            self._require(session, inst, SUB_QUOTE)
        rsp = pb.ok_response(3004)
        for inst in insts:
            qot_build.fill_basic_qot(rsp.s2c.basicQotList.add(), inst, self._tape(inst).quote)
        return rsp

    def snapshot(self, session: Session, req: Any) -> Any:
        # OpenD serves snapshots without a subscription (it rate-limits them instead)
        insts = [self._resolve(sec) for sec in req.c2s.securityList]
        if len(insts) > SNAPSHOT_MAX_CODES:
            raise QuoteError(f"Too many securities: at most {SNAPSHOT_MAX_CODES} per snapshot request")
        rsp = pb.ok_response(3203)
        for inst in insts:
            qot_build.fill_snapshot(rsp.s2c.snapshotList.add().basic, inst, self._tape(inst).quote)
        return rsp

    def order_book(self, session: Session, req: Any) -> Any:
        inst = self._resolve(req.c2s.security)
        self._require(session, inst, SUB_ORDER_BOOK)
        rsp = pb.ok_response(3012)
        num = max(0, min(req.c2s.num, ORDER_BOOK_MAX))
        qot_build.fill_order_book(rsp.s2c, inst, self._tape(inst).quote, num)
        return rsp

    def ticker(self, session: Session, req: Any) -> Any:
        inst = self._resolve(req.c2s.security)
        self._require(session, inst, SUB_TICKER)
        rsp = pb.ok_response(3010)
        qot_build.fill_security(rsp.s2c.security, inst)
        rsp.s2c.name = inst.name
        num = max(0, min(req.c2s.maxRetNum, MAX_TICKS))
        ticks = list(self._tape(inst).ticks)[-num:] if num else []
        for tick in ticks:
            qot_build.fill_ticker(rsp.s2c.tickerList.add(), inst, tick)
        return rsp

    def kline(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        inst = self._resolve(c2s.security)
        sub_type = KL_TYPE_TO_SUB.get(c2s.klType)
        if sub_type is None:
            raise QuoteError(f"K-line type {c2s.klType} is not supported by opend_sim")
        self._require(session, inst, sub_type)
        rsp = pb.ok_response(3006)
        qot_build.fill_security(rsp.s2c.security, inst)
        rsp.s2c.name = inst.name
        for bar in self._latest_bars(inst, c2s.klType, min(c2s.reqNum, MAX_BARS)):
            qot_build.fill_kline(rsp.s2c.klList.add(), bar)
        return rsp

    def _latest_bars(self, inst: SimInstrument, kl_type: int, num: int) -> list[Bar]:
        tape = self._tape(inst)
        if kl_type in KL_TYPE_PERIOD:
            return self.history.latest_period_bars(inst, tape, kl_type, num)
        return tape.latest_bars(kl_type, num)

    def history_kline(self, session: Session, req: Any) -> Any:
        """3103: bars in [beginTime, endTime], a page at a time; no subscription needed (as OpenD)."""
        c2s = req.c2s
        inst = self._resolve(c2s.security)
        if c2s.klType not in KL_TYPE_TO_SUB:
            raise QuoteError(f"K-line type {c2s.klType} is not supported by opend_sim")
        zone = timefmt.MARKET_TZ[inst.market]
        begin, end = _parse_time(c2s.beginTime, zone), _parse_time(c2s.endTime, zone)
        if end < begin:
            raise QuoteError("The end time is earlier than the start time")
        limit = c2s.maxAckKLNum if c2s.HasField("maxAckKLNum") and c2s.maxAckKLNum > 0 else HISTORY_MAX_PER_PAGE
        offset = _page_offset(c2s.nextReqKey) if c2s.HasField("nextReqKey") else 0
        bars, next_offset = self.history.page(inst, self._tape(inst), c2s.klType, begin, end, offset,
                                              min(limit, HISTORY_MAX_PER_PAGE))
        rsp = pb.ok_response(3103)
        qot_build.fill_security(rsp.s2c.security, inst)
        rsp.s2c.name = inst.name
        for bar in bars:
            qot_build.fill_kline(rsp.s2c.klList.add(), bar)
        if next_offset is not None:
            rsp.s2c.nextReqKey = str(next_offset).encode()
        return rsp

    def rt_data(self, session: Session, req: Any) -> Any:
        inst = self._resolve(req.c2s.security)
        self._require(session, inst, SUB_RT)
        return self._rt_message(3008, inst, None)

    def _rt_message(self, proto_id: int, inst: SimInstrument, last: int | None) -> Any:
        """Today's time-share points (all, or the ``last`` ones for a push)."""
        tape = self._tape(inst)
        today = timefmt.local(inst.market, tape.quote.ts_ns).date()
        minutes = [bar for bar in tape.bars[KL_MINUTE].bars if bar.label.date() == today]
        rsp = pb.ok_response(proto_id)
        qot_build.fill_security(rsp.s2c.security, inst)
        rsp.s2c.name = inst.name
        volume, turnover = 0, 0.0
        points = []
        for bar in minutes:
            volume += bar.volume
            turnover += bar.turnover
            points.append((bar, volume, turnover))
        for bar, day_volume, day_turnover in points[-last:] if last else points:
            qot_build.fill_timeshare(rsp.s2c.rtList.add(), bar, tape.quote.prev_close, day_volume, day_turnover)
        return rsp

    def broker_queue(self, session: Session, req: Any) -> Any:
        inst = self._resolve(req.c2s.security)
        self._require(session, inst, SUB_BROKER)
        rsp = pb.ok_response(3014)
        qot_build.fill_broker_queue(rsp.s2c, inst, self._tape(inst).quote, self._seed, BROKER_LEVELS)
        return rsp

    def tape(self, inst: SimInstrument) -> InstrumentTape:
        return self._tape(inst)

    def _tape(self, inst: SimInstrument) -> InstrumentTape:
        return self._tapes[(inst.market, inst.symbol)]

    # pushes -----------------------------------------------------------------------------------

    def _on_quote(self, quote: Quote) -> None:
        self._new_quotes.append(quote)

    def flush(self, sessions: Iterable[Session]) -> None:
        """Feed the quotes the market produced since the last flush to the tapes and push them."""
        if not self._new_quotes:
            return
        quotes, self._new_quotes = self._new_quotes, []
        updated: dict[SecKey, list[Tick]] = {}
        for q in quotes:
            tape = self._tapes.get((q.market, q.symbol))
            if tape is None:
                continue
            ticks = updated.setdefault((q.market, q.symbol), [])
            tick = tape.update(q)
            if tick is not None:
                ticks.append(tick)
        if not updated:
            return
        packets: dict[SubKey, bytes | None] = {}
        for session in sessions:
            for key, entry in self._subs.get(session.conn_id, {}).items():
                if not entry.push or key[0] not in updated:
                    continue
                if key not in packets:
                    packets[key] = self._push_packet(key, updated[key[0]])
                packet = packets[key]
                if packet is not None:
                    session.send_raw(packet)

    def _first_push(self, session: Session, key: SubKey) -> None:
        tape = self._tapes[key[0]]
        built = self._push_message(key, list(tape.ticks)[-1:])
        if built is not None:
            session.defer_push(*built)

    def _push_packet(self, key: SubKey, ticks: list[Tick]) -> bytes | None:
        built = self._push_message(key, ticks)
        if built is None:
            return None
        proto_id, msg = built
        return framing.pack(proto_id, PUSH_SERIAL, pb.serialize(msg))

    def _push_message(self, key: SubKey, ticks: list[Tick]) -> tuple[int, Any] | None:
        sec, sub_type = key
        inst = self._instruments[sec]
        tape = self._tapes[sec]
        if sub_type == SUB_QUOTE:
            rsp = pb.ok_response(3005)
            qot_build.fill_basic_qot(rsp.s2c.basicQotList.add(), inst, tape.quote)
            return 3005, rsp
        if sub_type == SUB_ORDER_BOOK:
            rsp = pb.ok_response(3013)
            qot_build.fill_order_book(rsp.s2c, inst, tape.quote, ORDER_BOOK_MAX)
            return 3013, rsp
        if sub_type == SUB_RT:
            return 3009, self._rt_message(3009, inst, 1)
        if sub_type == SUB_BROKER:
            rsp = pb.ok_response(3015)
            qot_build.fill_broker_queue(rsp.s2c, inst, tape.quote, self._seed, BROKER_LEVELS)
            return 3015, rsp
        if sub_type == SUB_TICKER:
            if not ticks:
                return None
            rsp = pb.ok_response(3011)
            qot_build.fill_security(rsp.s2c.security, inst)
            rsp.s2c.name = inst.name
            for tick in ticks:
                qot_build.fill_ticker(rsp.s2c.tickerList.add(), inst, tick)
            return 3011, rsp
        return self._kline_push(inst, SUB_TO_KL_TYPE[sub_type])

    def _kline_push(self, inst: SimInstrument, kl_type: int) -> tuple[int, Any] | None:
        bars = self._latest_bars(inst, kl_type, 1)
        if not bars:
            return None
        rsp = pb.ok_response(3007)
        rsp.s2c.rehabType = qot_build.REHAB_FORWARD
        rsp.s2c.klType = kl_type
        qot_build.fill_security(rsp.s2c.security, inst)
        rsp.s2c.name = inst.name
        qot_build.fill_kline(rsp.s2c.klList.add(), bars[-1])
        return 3007, rsp


def _parse_time(text: str, zone: ZoneInfo) -> datetime:
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    raise QuoteError(f"Invalid time {text[:40]!r}: expected YYYY-MM-DD [HH:MM:SS]")


def _page_offset(key: bytes) -> int:
    text = key.decode("ascii", "replace")
    if not text.isdigit() or len(text) > 9:
        raise QuoteError("Invalid nextReqKey: pass back the one the previous page returned")
    return int(text)


def _ignore(_event: object) -> None:
    """The quote service listens to quotes only."""


