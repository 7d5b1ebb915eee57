"""``FutuVenue``: OpenD trade contexts (one ``OpenSecTradeContext`` per market) behind the venue contract.

Lifecycle: the adapter follows the OpenD login state (``tradebus.opend_gate``); contexts exist only
while it is CONNECTED. Once every context is ready, accounts are listed, REAL ones unlocked, and
``on_connection(True)`` is reported; a lost socket reports ``False`` and futu-api's own reconnect
(which re-unlocks and re-subscribes the pushes) reports ``True`` again, after which the engine
reconciles. Futures contexts are not opened: opend_sim offers no Futu futures accounts.

Identity: ``remark`` is the client order id, so every push and query row maps back to its order after
any restart; deals carry only the venue order id, which is mapped through the orders seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import structlog

from td_exec.futu_venue.contexts import ThreadBridge, construct, push_handlers, trade_context_class
from td_exec.futu_venue.parse import (
    REMARK_MAX_BYTES,
    account_snapshot,
    fill_report,
    instrument_info,
    order_report,
    position_snapshot,
)
from td_exec.futu_venue.sdk import SdkCaller
from td_exec.venue import (
    Capabilities,
    FillReport,
    OrderRef,
    OrderReport,
    VenueOrder,
    VenueRejected,
    VenueSink,
    VenueUnknown,
    external_client_order_id,
)
from tradebus.bus import Bus
from tradebus.config import Config
from tradebus.futu.loader import import_futu
from tradebus.futu.markets import TRADE_MARKETS, VENUE, join_code
from tradebus.futu.trade import ENV_REAL, ENV_SIMULATE, ORDER_TYPE_TO_FUTU, SIDE_TO_FUTU, TIF_TO_FUTU
from tradebus.opend_gate import opend_states
from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSnapshot
from tradebus.schemas.auth import AuthState
from tradebus.schemas.orders import Offset, OrderType

log = structlog.get_logger("td_exec.futu")

CURRENCY_OF_MARKET: dict[str, str] = {"HK": "HKD", "US": "USD"}
UNKNOWN_STOCK_PREFIX = "Unknown stock"


@dataclass(slots=True)
class FutuAccount:
    acc_id: int
    env: str  # futu TrdEnv: "REAL" | "SIMULATE"
    market: str  # the trade context (market) that serves it


@dataclass(slots=True)
class _Cached:
    info: InstrumentInfo
    at: float  # monotonic seconds


class FutuVenue:
    name = VENUE
    capabilities = Capabilities(
        order_types=frozenset({OrderType.LIMIT, OrderType.MARKET}),
        time_in_force=frozenset(TIF_TO_FUTU),
        offsets=frozenset({Offset.NONE}),
        modify=True,
    )

    def __init__(self, config: Config, data_dir: Path, bus: Bus, *, markets: tuple[str, ...] = TRADE_MARKETS,
                 call_timeout_s: float | None = None, reconnect_interval_s: float = 6.0,
                 open_retry_s: float = 2.0, instrument_ttl_s: float = 3600.0) -> None:
        self._config = config
        self._bus = bus
        self._markets = markets
        self._reconnect_interval_s = reconnect_interval_s
        self._open_retry_s = open_retry_s
        self._instrument_ttl_s = instrument_ttl_s
        self._futu = import_futu(Path(data_dir) / "futu_home")
        # one budget for every SDK call; the engine's own (shorter) submit/cancel budgets sit above it
        self._caller = SdkCaller(timeout_s=call_timeout_s or config.td.query_timeout_s)
        self._sink: VenueSink | None = None
        self._bridge: ThreadBridge | None = None
        self._gate_task: asyncio.Task[None] | None = None
        self._open_task: asyncio.Task[None] | None = None
        self._contexts: dict[str, Any] = {}  # market -> trade context
        self._quote_ctx: Any = None
        self._down: set[int] = set()  # id() of contexts whose socket is lost
        self._connected = False
        self._accounts: dict[str, FutuAccount] = {}  # remembered across reconnects
        self._client_of: dict[str, str | None] = {}  # venue order id -> client order id
        self._instruments: dict[tuple[str, str], _Cached] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # connection -------------------------------------------------------------------------------

    async def start(self, sink: VenueSink) -> None:
        self._sink = sink
        self._bridge = ThreadBridge(asyncio.get_running_loop(), self)
        self._gate_task = asyncio.create_task(self._follow_gate(), name="futu.gate")

    async def stop(self) -> None:
        for task in (self._gate_task, self._open_task, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._gate_task, self._open_task, *self._tasks):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._gate_task = self._open_task = None
        await self._close_contexts("adapter stopping")
        self._caller.shutdown()

    @property
    def connected(self) -> bool:
        return self._connected

    async def _follow_gate(self) -> None:
        instance = self._config.futu.auth_instance
        async for state in opend_states(self._bus, instance):
            log.info("opend login state", instance=instance or "(none)", state=state.value)
            if state is AuthState.CONNECTED:
                if self._open_task is None or self._open_task.done():
                    self._open_task = asyncio.create_task(self._open_until_ready(), name="futu.open")
            else:
                await self._close_contexts(f"OpenD is {state.value}")

    async def _open_until_ready(self) -> None:
        while True:
            try:
                await self._open()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # OpenD refused or vanished half-way: start over
                log.warning("futu contexts could not be opened; retrying", error=str(exc),
                            retry_s=self._open_retry_s)
                await self._close_contexts(f"open failed: {exc}")
                await asyncio.sleep(self._open_retry_s)  # backoff between attempts, not a race wait

    async def _open(self) -> None:
        futu, bridge = self._futu, self._bridge
        assert bridge is not None
        host, port = self._config.futu.host, self._config.futu.port
        ctx_cls = trade_context_class(futu, bridge)
        order_handler, deal_handler = push_handlers(futu, bridge)
        try:
            for market in self._markets:
                trd_market = getattr(futu.TrdMarket, market)
                ctx = await construct(
                    lambda m=trd_market: ctx_cls(filter_trdmarket=m, host=host, port=port,
                                                 security_firm=futu.SecurityFirm.NONE),
                    name=f"futu-trade-{market}")
                ctx.set_sync_query_connect_timeout(self._caller.timeout_s)
                ctx.reconnect_interval = self._reconnect_interval_s
                ctx.set_handler(order_handler)
                ctx.set_handler(deal_handler)
                self._contexts[market] = ctx
            self._quote_ctx = await construct(lambda: futu.OpenQuoteContext(host=host, port=port),
                                              name="futu-quote")
            self._quote_ctx.set_sync_query_connect_timeout(self._caller.timeout_s)
            await self._discover_accounts()
            await self._unlock()
        except asyncio.CancelledError:
            await self._close_contexts("gate closed while opening")
            raise
        self._down.clear()
        self._report(True, f"OpenD {host}:{port} ready; accounts {sorted(self._accounts)}")

    async def _discover_accounts(self) -> None:
        for market, ctx in self._contexts.items():
            table = await self._caller.call(ctx.get_acc_list, what="get_acc_list")
            for row in table.to_dict("records"):
                key = str(int(row["acc_id"]))
                if key not in self._accounts:
                    self._accounts[key] = FutuAccount(int(row["acc_id"]), str(row["trd_env"]), market)

    async def _unlock(self) -> None:
        secret = self._config.futu.trade_pwd_md5
        for market, ctx in self._contexts.items():
            if not any(a.env == ENV_REAL and a.market == market for a in self._accounts.values()):
                continue
            if not secret:
                log.warning("REAL futu accounts but no futu.trade_pwd_md5: their orders will be refused",
                            market=market)
                continue
            try:
                # futu-api keeps the MD5 to unlock again by itself after every reconnect
                await self._caller.call(lambda c=ctx: c.unlock_trade(password_md5=secret.reveal()),
                                        what="unlock_trade")
            except VenueRejected as exc:  # a wrong password is not worth a retry loop; say it loudly
                log.error("futu unlock_trade refused; REAL orders will be refused", market=market,
                          reason=exc.reason)

    async def _close_contexts(self, reason: str) -> None:
        if self._open_task is not None and self._open_task is not asyncio.current_task():
            self._open_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._open_task
            self._open_task = None
        contexts = [*self._contexts.values(), *([self._quote_ctx] if self._quote_ctx is not None else [])]
        self._contexts = {}
        self._quote_ctx = None
        for ctx in contexts:
            with contextlib.suppress(Exception):
                await self._caller.run(ctx.close, what="close")
        self._report(False, reason)

    def _report(self, connected: bool, reason: str) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        log.info("futu venue connection", connected=connected, reason=reason)
        if self._sink is not None:
            self._sink.on_connection(connected, reason)

    # SDK-thread events, delivered on the loop (contexts.Bridge) --------------------------------

    def context_lost(self, ctx: Any, reason: str) -> None:
        if ctx in self._contexts.values():
            self._down.add(id(ctx))
            self._report(False, reason)

    def context_back(self, ctx: Any) -> None:
        if ctx not in self._contexts.values():
            return  # the first connect inside a constructor, or a context already dropped
        self._down.discard(id(ctx))
        if not self._down:
            self._report(True, "OpenD reconnected")

    def order_pushed(self, acc_id: int, row: dict[str, Any]) -> None:
        report = order_report(row, str(acc_id), reconciliation=False)
        self._remember(report)
        if self._sink is not None:
            self._sink.on_order(report)

    def deal_pushed(self, acc_id: int, row: dict[str, Any]) -> None:
        order_id = str(row.get("order_id"))
        if self._client_of.get(order_id) is not None:
            self._emit_fill(acc_id, row, self._client_of[order_id])
            return
        # a deal before (or without) its order push, or of an order placed elsewhere: the engine
        # needs the order first, so look it up and report it ahead of the fill
        task = asyncio.create_task(self._resolve_then_fill(acc_id, row), name="futu.deal-resolve")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve_then_fill(self, acc_id: int, row: dict[str, Any]) -> None:
        order_id = str(row.get("order_id"))
        with contextlib.suppress(VenueRejected, VenueUnknown, KeyError):
            for report in await self.query_orders(str(acc_id)):
                if report.venue_order_id == order_id and self._sink is not None:
                    self._sink.on_order(msgspec.structs.replace(report, reconciliation=False))
        self._emit_fill(acc_id, row, self._client_of.get(order_id))

    def _emit_fill(self, acc_id: int, row: dict[str, Any], client_order_id: str | None) -> None:
        report = fill_report(row, str(acc_id), client_order_id, reconciliation=False)
        if report is not None and self._sink is not None:
            self._sink.on_fill(report)

    def _remember(self, report: OrderReport) -> None:
        if report.venue_order_id is not None:
            self._client_of[report.venue_order_id] = report.client_order_id

    # accounts and reference data -----------------------------------------------------------

    def accounts(self) -> list[str]:
        return sorted(self._accounts)

    def external_client_order_id(self, venue_order_id: str) -> str:
        """``ext-<order id>``: OpenD's order ids are unique across days and accounts."""
        return external_client_order_id(venue_order_id)

    def account_env(self, account: str) -> str:
        """``"REAL"`` or ``"SIMULATE"`` (for operators and tests)."""
        return self._account(account).env

    def account_market(self, account: str) -> str:
        return self._account(account).market

    def _account(self, account: str) -> FutuAccount:
        acc = self._accounts.get(account)
        if acc is None:
            raise VenueRejected("unknown_account", f"futu account {account!r} is not listed by OpenD")
        return acc

    def _ctx(self, acc: FutuAccount, what: str) -> Any:
        ctx = self._contexts.get(acc.market)
        if ctx is None:
            # nothing was sent: definite, the venue has no such order
            raise VenueRejected("not_connected", f"{what}: OpenD is not connected")
        if id(ctx) in self._down:
            raise VenueRejected("not_connected", f"{what}: OpenD connection is down")
        return ctx

    async def instrument(self, exchange: str, symbol: str) -> InstrumentInfo | None:
        """Lot size from OpenD's static information (``get_stock_basicinfo``, proto 3202, a core call
        every OpenD serves), cached for ``instrument_ttl_s``; the HK tick comes from the spread table
        in the pre-trade checks. ``None`` only when OpenD says the code is unknown. When the facts
        cannot be had (no such call on this OpenD, a timeout) this raises and the order goes to OpenD,
        which decides; a cached value is used while OpenD is unreachable."""
        key = (exchange, symbol)
        cached = self._instruments.get(key)
        if cached is not None and time.monotonic() - cached.at < self._instrument_ttl_s:
            return cached.info
        ctx = self._quote_ctx
        if ctx is None:
            if cached is not None:
                return cached.info
            raise VenueUnknown("instrument lookup: OpenD is not connected")
        code = join_code(exchange, symbol)
        security_type = self._futu.SecurityType.STOCK
        try:
            table = await self._caller.call(lambda: ctx.get_stock_basicinfo(exchange, security_type, [code]),
                                            what="get_stock_basicinfo")
        except VenueRejected as exc:
            if exc.reason.startswith(UNKNOWN_STOCK_PREFIX):
                return None
            if cached is not None:
                return cached.info
            raise
        except VenueUnknown:
            if cached is not None:
                return cached.info
            raise
        rows = [r for r in table.to_dict("records") if str(r.get("code")) == code]
        if not rows:
            return None
        info = instrument_info(rows[0])
        self._instruments[key] = _Cached(info, time.monotonic())
        return info

    async def instruments(self, exchange: str | None = None) -> list[InstrumentInfo]:
        """The instruments looked up so far (OpenD's market-wide lists are large and rate-limited)."""
        return [c.info for (ex, _), c in sorted(self._instruments.items()) if exchange in (None, ex)]

    # orders -----------------------------------------------------------------------------------

    async def submit(self, order: VenueOrder) -> str | None:
        acc = self._account(order.account)
        remark = order.client_order_id
        if len(remark.encode("utf-8")) > REMARK_MAX_BYTES:
            raise VenueRejected("client_order_id_too_long",
                                f"futu remark holds at most {REMARK_MAX_BYTES} bytes; the client order id "
                                f"has {len(remark.encode('utf-8'))}")
        try:
            side = SIDE_TO_FUTU[order.side]
            kind = ORDER_TYPE_TO_FUTU[order.order_type]
            tif = TIF_TO_FUTU[order.time_in_force]
        except KeyError as exc:
            raise VenueRejected("unsupported", f"futu does not support {exc.args[0]}") from exc
        if order.offset is not Offset.NONE:
            raise VenueRejected("unsupported", "futu stock accounts take no offset")
        ctx = self._ctx(acc, "place_order")
        price = order.price if order.order_type is OrderType.LIMIT and order.price is not None else 0.0
        code = join_code(order.exchange, order.symbol)
        table = await self._caller.call(
            lambda: ctx.place_order(price=price, qty=order.qty, code=code, trd_side=side, order_type=kind,
                                    trd_env=acc.env, acc_id=acc.acc_id, remark=remark, time_in_force=tif),
            what="place_order")
        order_id = str(table["order_id"].iloc[0])
        self._client_of[order_id] = remark
        return order_id

    async def _venue_order_id(self, ref: OrderRef) -> str:
        if ref.venue_order_id:
            return ref.venue_order_id
        for report in await self.query_orders(ref.account):
            if report.client_order_id == ref.client_order_id and report.venue_order_id:
                return report.venue_order_id
        raise VenueRejected("unknown_order", f"OpenD has no order with remark {ref.client_order_id!r}")

    async def cancel(self, ref: OrderRef) -> None:
        acc = self._account(ref.account)
        ctx = self._ctx(acc, "cancel")
        order_id = await self._venue_order_id(ref)
        op = self._futu.ModifyOrderOp.CANCEL
        await self._caller.call(
            lambda: ctx.modify_order(op, order_id, 0, 0, trd_env=acc.env, acc_id=acc.acc_id), what="cancel")

    async def modify(self, ref: OrderRef, qty: int | None, price: float | None) -> None:
        acc = self._account(ref.account)
        ctx = self._ctx(acc, "modify")
        order_id = await self._venue_order_id(ref)
        if qty is None or price is None:  # futu's modify takes both: keep what the venue has
            current = next((r for r in await self.query_orders(ref.account) if r.venue_order_id == order_id), None)
            if current is None:
                raise VenueRejected("unknown_order", f"OpenD has no order {order_id}")
            qty = current.qty if qty is None else qty
            price = (current.price or 0.0) if price is None else price
        op = self._futu.ModifyOrderOp.NORMAL
        new_qty, new_price = qty, price
        await self._caller.call(
            lambda: ctx.modify_order(op, order_id, new_qty, new_price, trd_env=acc.env, acc_id=acc.acc_id),
            what="modify")

    # queries ----------------------------------------------------------------------------------

    async def query_orders(self, account: str) -> list[OrderReport]:
        acc = self._account(account)
        ctx = self._ctx(acc, "order_list_query")
        table = await self._caller.call(lambda: ctx.order_list_query(trd_env=acc.env, acc_id=acc.acc_id),
                                        what="order_list_query")
        reports = [order_report(row, account, reconciliation=True) for row in table.to_dict("records")]
        for report in reports:
            self._remember(report)
        return reports

    async def query_fills(self, account: str) -> list[FillReport]:
        """Today's deals. Paper (SIMULATE) accounts have no deals at OpenD: their fills show only as
        the orders' filled quantity (``query_orders``)."""
        acc = self._account(account)
        if acc.env == ENV_SIMULATE:
            return []
        ctx = self._ctx(acc, "deal_list_query")
        table = await self._caller.call(lambda: ctx.deal_list_query(trd_env=acc.env, acc_id=acc.acc_id),
                                        what="deal_list_query")
        rows = table.to_dict("records")
        if any(str(r.get("order_id")) not in self._client_of for r in rows):
            await self.query_orders(account)
        out: list[FillReport] = []
        for row in rows:
            report = fill_report(row, account, self._client_of.get(str(row.get("order_id"))), reconciliation=True)
            if report is not None:
                out.append(report)
        return out

    async def query_positions(self, account: str) -> list[PositionSnapshot]:
        acc = self._account(account)
        ctx = self._ctx(acc, "position_list_query")
        table = await self._caller.call(lambda: ctx.position_list_query(trd_env=acc.env, acc_id=acc.acc_id),
                                        what="position_list_query")
        return [position_snapshot(row, account) for row in table.to_dict("records")]

    async def query_funds(self, account: str) -> list[AccountSnapshot]:
        acc = self._account(account)
        ctx = self._ctx(acc, "accinfo_query")
        currency = CURRENCY_OF_MARKET.get(acc.market, "HKD")
        futu_currency = getattr(self._futu.Currency, currency)
        table = await self._caller.call(
            lambda: ctx.accinfo_query(trd_env=acc.env, acc_id=acc.acc_id, currency=futu_currency),
            what="accinfo_query")
        return [account_snapshot(row, account, currency) for row in table.to_dict("records")]


__all__ = ["FutuAccount", "FutuVenue"]
