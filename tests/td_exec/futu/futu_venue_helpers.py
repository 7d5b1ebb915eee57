"""Shared helpers of the Futu adapter tests: the recording sink, configs, orders and book reads.

opend_sim's ``ServerThread`` (tests/opend_sim/api_conftest.py) is shared rather than copied.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "opend_sim"))

from api_conftest import TRADE_PWD_MD5, ServerThread, new_market  # noqa: F401  (re-exported)
from polling import until

from td_exec.futu_venue import FutuVenue
from td_exec.venue import CancelRejectReport, FillReport, OrderRef, OrderReport, VenueOrder
from tradebus.config import Config, FutuConfig, Secret
from tradebus.schemas.orders import OrderStatus, OrderType, Side
from tradebus.sim import hk_tick_size

WAIT = 15.0
HK, SYMBOL, LOT = "HK", "00700", 100


def new_order(account: str, cid: str, side: Side, qty: int, price: float | None,
              order_type: OrderType = OrderType.LIMIT) -> VenueOrder:
    return VenueOrder(account=account, client_order_id=cid, exchange=HK, symbol=SYMBOL, side=side,
                      order_type=order_type, qty=qty, price=price)


def ref(order: VenueOrder, venue_order_id: str | None) -> OrderRef:
    return OrderRef(account=order.account, client_order_id=order.client_order_id, venue_order_id=venue_order_id,
                    exchange=order.exchange, symbol=order.symbol)


def book(opend: ServerThread) -> tuple[tuple[tuple[float, int], ...], tuple[tuple[float, int], ...]]:
    quote = opend.call(lambda: opend.market.quote(HK, SYMBOL))
    return quote.bids, quote.asks


def resting_price(opend: ServerThread) -> float:
    bids, _ = book(opend)
    price = bids[0][0]
    for _ in range(5):
        price = round(price - hk_tick_size(price - 1e-9), 3)
    return price


def last_status(sink: RecordingSink, cid: str) -> OrderStatus | None:
    reports = sink.orders_of(cid)
    return reports[-1].status if reports else None




class RecordingSink:
    """A VenueSink that keeps everything and lets a test wait for a condition with a deadline."""

    def __init__(self) -> None:
        self.orders: list[OrderReport] = []
        self.fills: list[FillReport] = []
        self.cancel_rejects: list[CancelRejectReport] = []
        self.connections: list[tuple[bool, str]] = []
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        self._changed.set()

    def on_order(self, report: OrderReport) -> None:
        self.orders.append(report)
        self._touch()

    def on_fill(self, report: FillReport) -> None:
        self.fills.append(report)
        self._touch()

    def on_cancel_rejected(self, report: CancelRejectReport) -> None:
        self.cancel_rejects.append(report)
        self._touch()

    def on_connection(self, connected: bool, reason: str) -> None:
        self.connections.append((connected, reason))
        self._touch()

    @property
    def connected(self) -> bool:
        return bool(self.connections) and self.connections[-1][0]

    async def until(self, condition: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
        """Wait until ``condition()`` is truthy (re-checked on every report) and return its value."""
        return await until(condition, timeout, what or str(condition), changed=self._changed)

    def orders_of(self, client_order_id: str) -> list[OrderReport]:
        return [r for r in self.orders if r.client_order_id == client_order_id]

    def fills_of(self, client_order_id: str) -> list[FillReport]:
        return [r for r in self.fills if r.client_order_id == client_order_id]


def futu_config(port: int, *, instance: str = "", pwd_md5: str = TRADE_PWD_MD5) -> Config:
    return Config(futu=FutuConfig(host="127.0.0.1", port=port, trade_pwd_md5=Secret(pwd_md5),
                                  auth_instance=instance))


def account_of(adapter: FutuVenue, env: str, market: str = "HK") -> str:
    return next(a for a in adapter.accounts() if adapter.account_env(a) == env and adapter.account_market(a) == market)
