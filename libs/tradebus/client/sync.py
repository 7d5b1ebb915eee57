"""The SDK for scripts and notebooks: the same objects, with every coroutine method run to completion.

``SyncClient.connect(...)`` starts an event loop on a background thread; each call of an async method
is run there and waited for (bounded by the method's own timeout, plus a margin), and the objects it
returns (quotes, accounts, target-position tasks) come back wrapped the same way. Attributes that are
not coroutines (``quote.last``, ``account.orders()``) are read directly.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

from tradebus.client.account import Account
from tradebus.client.client import DEFAULT_TIMEOUT_S, Client
from tradebus.client.history import BarSeries
from tradebus.client.quote import Quote
from tradebus.client.target import TargetPosTask
from tradebus.schemas.market import Tick

_WRAPPED = (Client, Quote, Account, TargetPosTask, BarSeries)


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tradebus.client", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class Sync:
    """A synchronous view of one SDK object."""

    def __init__(self, runner: _Loop, target: Any) -> None:
        self._runner = runner
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._wrap(self._runner.run(value(*args, **kwargs)))

            return call
        return self._wrap(value)

    def _wrap(self, value: Any) -> Any:
        return Sync(self._runner, value) if isinstance(value, _WRAPPED) else value

    def __repr__(self) -> str:
        return f"Sync({self._target!r})"


class SyncClient(Sync):
    @classmethod
    def connect(cls, url: str, user: str, password: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> SyncClient:
        runner = _Loop()
        try:
            client = runner.run(Client.connect(url, user, password, timeout=timeout))
        except BaseException:
            runner.stop()
            raise
        return cls(runner, client)

    def target_pos(self, account: Sync, quote: Sync, **options: Any) -> Sync:
        """A :class:`TargetPosTask` for a synchronous account and quote."""
        return Sync(self._runner, TargetPosTask(account._target, quote._target, **options))

    def ticks(self, name: str, since_ns: int) -> Iterator[Tick]:
        """``for tick in client.ticks(...)``: the asynchronous tick stream, one tick per step."""
        stream = self._target.ticks(name, since_ns)
        try:
            while True:
                try:
                    yield self._runner.run(anext(stream))
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(stream.aclose())

    def close(self) -> None:
        try:
            self._runner.run(self._target.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
