"""Fixtures for the simulated-market tests: a market on a fake clock with a recording listener."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tradebus.sim import InstrumentKind, Quote, SimMarket, SimOrder, SimTrade


class Recorder:
    """Keeps every listener call in order, as (kind, value)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, SimOrder | SimTrade | Quote]] = []

    def on_order(self, order: SimOrder) -> None:
        self.events.append(("order", order))

    def on_trade(self, trade: SimTrade) -> None:
        self.events.append(("trade", trade))

    def on_quote(self, quote: Quote) -> None:
        self.events.append(("quote", quote))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]

    def of(self, kind: str) -> list:
        return [v for k, v in self.events if k == kind]

    def clear(self) -> None:
        self.events.clear()


def fake_clock() -> Callable[[], int]:
    counter = itertools.count(1_700_000_000_000_000_000, 1_000_000)
    return lambda: next(counter)


@pytest.fixture
def clock_factory() -> Callable[[], Callable[[], int]]:
    return fake_clock


@pytest.fixture
def clock() -> Callable[[], int]:
    return fake_clock()


@pytest.fixture
def market(clock: Callable[[], int]) -> SimMarket:
    m = SimMarket(seed=11, clock=clock)
    m.open_account("hk", kind=InstrumentKind.STOCK, currency="HKD", cash=50_000_000.0)
    m.open_account("hk2", kind=InstrumentKind.STOCK, currency="HKD", cash=50_000_000.0)
    m.open_account("us", kind=InstrumentKind.STOCK, currency="USD", cash=100_000.0)
    m.open_account("fut", kind=InstrumentKind.FUTURE, currency="CNY", cash=2_000_000.0)
    m.open_account("fut2", kind=InstrumentKind.FUTURE, currency="CNY", cash=2_000_000.0)
    return m


@pytest.fixture
def recorder(market: SimMarket) -> Recorder:
    rec = Recorder()
    market.add_listener(rec.on_order, rec.on_trade, rec.on_quote)
    return rec
