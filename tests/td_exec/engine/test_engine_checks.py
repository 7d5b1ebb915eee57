"""Every pre-trade denial: a CommandDenied reply with its code, an OrderDenied event (none for
``not_allowed``: reply-only), nothing at the venue."""

from __future__ import annotations

import asyncio
import math

import msgspec
import pytest
from td_engine_helpers import Harness, fut_order

from td_exec.engine import Engine
from tradebus.schemas.orders import CommandAccepted, CommandDenied, OrderDenied, SubmitOrder


def _cases(h: Harness) -> list[tuple[str, SubmitOrder]]:
    quote = h.venue.market.quote("SHFE", "rb2601")
    assert quote.upper_limit is not None and quote.lower_limit is not None
    bid = quote.bids[0][0]
    hk = h.venue.market.quote("HK", "00700").bids[0][0]
    stock = {"venue": "sim", "account": "SIM-HK", "exchange": "HK", "symbol": "00700", "side": "buy",
             "offset": "none"}
    return [
        ("unknown_account", fut_order("d-acct", price=bid, account="NOPE")),
        ("unknown_instrument", fut_order("d-inst", price=bid, symbol="zz9999")),
        ("bad_qty", fut_order("d-qty", qty=0, price=bid)),
        ("bad_lot", msgspec.convert({**stock, "qty": 150, "price": hk, "client_order_id": "d-lot"}, SubmitOrder)),
        ("price_off_tick", fut_order("d-tick", price=bid + 0.5)),
        ("not_finite", fut_order("d-nan", price=float("nan"))),
        ("not_finite", fut_order("d-inf", price=float("inf"))),
        ("price_out_of_limits", fut_order("d-lim", price=quote.upper_limit + 1.0)),
        ("unsupported_tif", fut_order("d-tif", price=bid, time_in_force="ioc")),
        ("price_required", fut_order("d-px", price=None)),
        ("not_allowed", fut_order("d-user", price=bid, user="mallory")),
    ]


async def test_each_pretrade_check_returns_its_code_and_an_event(harness: Harness) -> None:
    engine = harness.engine
    assert isinstance(engine, Engine)
    inserts = harness.venue.inserts
    for code, cmd in _cases(harness):
        # NaN/inf cannot travel in JSON, so the engine is asked directly; the rest go over the bus.
        direct = cmd.price is not None and not math.isfinite(cmd.price)
        reply = await engine.handle(cmd) if direct else await harness.request(cmd)
        assert isinstance(reply, CommandDenied), (code, reply)
        assert reply.code == code, (code, reply)
        assert reply.client_order_id == cmd.client_order_id
        events = await harness.events(cmd.client_order_id or "", cmd.account)
        if code == "not_allowed":  # a caller with no right to the account writes nothing into it
            assert events == [], events
            continue
        assert [type(e) for e in events] == [OrderDenied], (code, events)
        assert events[0].code == code
    assert harness.venue.inserts == inserts, "a denied order reached the venue"


async def test_user_allowed_on_account_passes_and_other_account_is_denied(harness: Harness) -> None:
    await asyncio.to_thread(harness.users.add, "alice", "correct horse battery", ["sim:SIM-FUT"])
    bid = harness.venue.market.quote("SHFE", "rb2601").bids[-1][0]
    ok = await harness.request(fut_order("u-ok", price=bid, user="alice"))
    assert isinstance(ok, CommandAccepted)
    other = msgspec.structs.replace(fut_order("u-no", price=bid, user="alice"), account="SIM-HK")
    denied = await harness.request(other)
    assert isinstance(denied, CommandDenied) and denied.code == "not_allowed"


@pytest.mark.parametrize("order_type", ["market"])
async def test_market_order_is_supported_by_sim(harness: Harness, order_type: str) -> None:
    reply = await harness.request(fut_order("mkt-1", qty=1, order_type=order_type))
    assert isinstance(reply, CommandAccepted) and reply.order.filled_qty == 1
