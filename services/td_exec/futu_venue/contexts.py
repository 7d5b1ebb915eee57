"""futu-api trade/quote contexts wired to the event loop.

Pushes and connection changes arrive on SDK threads; the :class:`Bridge` hands each one to the loop
with ``call_soon_threadsafe`` and nothing else runs on those threads. Context constructors retry
forever while OpenD is away, so they run on a daemon thread of their own (:func:`construct`), never on
the loop and never in the bounded SDK pool; a context built after the adapter gave up on it is closed
on that thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

import structlog

log = structlog.get_logger("td_exec.futu")


class Bridge(Protocol):
    """Loop-side receivers (called on the event loop thread)."""

    def order_pushed(self, acc_id: int, row: dict[str, Any]) -> None: ...

    def deal_pushed(self, acc_id: int, row: dict[str, Any]) -> None: ...

    def context_lost(self, ctx: Any, reason: str) -> None: ...

    def context_back(self, ctx: Any) -> None: ...


class ThreadBridge:
    """Posts SDK-thread events to a :class:`Bridge` on ``loop``; drops them once the loop is gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Bridge) -> None:
        self._loop = loop
        self._target = target

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed: the adapter has stopped
            pass

    def order(self, acc_id: int, row: dict[str, Any]) -> None:
        self.post(self._target.order_pushed, acc_id, row)

    def deal(self, acc_id: int, row: dict[str, Any]) -> None:
        self.post(self._target.deal_pushed, acc_id, row)

    def lost(self, ctx: Any, reason: str) -> None:
        self.post(self._target.context_lost, ctx, reason)

    def back(self, ctx: Any) -> None:
        self.post(self._target.context_back, ctx)


def trade_context_class(futu: ModuleType, bridge: ThreadBridge) -> type:
    """An ``OpenSecTradeContext`` that reports its socket's losses and returns to ``bridge``."""
    from futu.common.network_manager import CloseReason

    class BridgedTradeContext(futu.OpenSecTradeContext):  # type: ignore[misc, name-defined]
        def on_api_socket_reconnected(self) -> tuple[int, str]:
            # futu re-unlocks and re-subscribes the account pushes here, before we hear of it
            ret, msg = super().on_api_socket_reconnected()
            bridge.back(self)
            return ret, msg

        def on_disconnect(self, conn_id: int, reason: Any, msg: str) -> None:
            super().on_disconnect(conn_id, reason, msg)
            if reason is not CloseReason.Close:  # our own close() is not a loss
                bridge.lost(self, f"OpenD connection lost ({getattr(reason, 'name', reason)}: {msg})")

    return BridgedTradeContext


def push_handlers(futu: ModuleType, bridge: ThreadBridge) -> tuple[Any, Any]:
    """Order and deal push handlers; the account id is read from the push header (the SDK's row has none)."""
    from futu.trade.trade_query import UpdateDealPush, UpdateOrderPush

    class OrderHandler(futu.TradeOrderHandlerBase):  # type: ignore[misc, name-defined]
        def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
            ret, row = UpdateOrderPush.unpack_rsp(rsp_pb)
            if ret == 0:
                bridge.order(int(rsp_pb.s2c.header.accID), row)
            else:
                log.warning("futu order push not decodable", error=str(row))
            return ret, row

    class DealHandler(futu.TradeDealHandlerBase):  # type: ignore[misc, name-defined]
        def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
            ret, row = UpdateDealPush.unpack_rsp(rsp_pb)
            if ret == 0:
                bridge.deal(int(rsp_pb.s2c.header.accID), row)
            else:
                log.warning("futu deal push not decodable", error=str(row))
            return ret, row

    return OrderHandler(), DealHandler()


def construct(make: Callable[[], Any], *, name: str) -> asyncio.Future[Any]:
    """Build a context on a daemon thread. If the returned future is cancelled (the adapter moved on)
    before the constructor returns, the context is closed as soon as it exists."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def deliver(ctx: Any, exc: BaseException | None) -> None:
        if fut.cancelled():
            if ctx is not None:
                threading.Thread(target=ctx.close, name=f"{name}-close", daemon=True).start()
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(ctx)

    def run() -> None:
        ctx: Any = None
        error: BaseException | None = None
        try:
            ctx = make()
        except BaseException as exc:  # handed to the waiting coroutine
            error = exc
        try:
            loop.call_soon_threadsafe(deliver, ctx, error)
        except RuntimeError:  # the loop is gone: nobody will use this context
            if ctx is not None:
                ctx.close()

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut
