"""Commands over the bus → td_exec's engine (the same Engine and CommandServer ``python -m td_exec``
runs) → FutuVenue → opend_sim, and the events that land in TD_EVT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from futu_stack import Stack, futu_stack, until
from futu_venue_helpers import HK, LOT, SYMBOL, ServerThread, book, resting_price

from tradebus.schemas.orders import CancelOrder, CommandAccepted, ModifyOrder, OrderStatus, Side, SubmitOrder


@pytest.fixture
async def stack(opend: ServerThread, nats_server: Any, tmp_path: Path) -> AsyncIterator[Stack]:
    async with futu_stack(opend.port, nats_server.url, tmp_path) as built:
        yield built


def submit(account: str, cid: str, qty: int, price: float) -> SubmitOrder:
    return SubmitOrder(venue="futu", account=account, exchange=HK, symbol=SYMBOL, side=Side.BUY, qty=qty,
                       price=price, client_order_id=cid)


async def test_submit_partial_fill_modify_to_filled_through_the_engine(stack: Stack, opend: ServerThread) -> None:
    _, asks = book(opend)
    best_ask, volume = asks[0]
    reply = await stack.request(submit(stack.account, "E-fill-1", volume + LOT, best_ask))
    assert isinstance(reply, CommandAccepted), reply
    await until(lambda: _is(stack, "E-fill-1", OrderStatus.PARTIALLY_FILLED), what="partially filled")
    _, asks = book(opend)
    reply = await stack.request(ModifyOrder(venue="futu", account=stack.account, client_order_id="E-fill-1",
                                            price=asks[0][0]))
    assert isinstance(reply, CommandAccepted), reply
    await until(lambda: _is(stack, "E-fill-1", OrderStatus.FILLED), what="filled")
    kinds = await stack.kinds("E-fill-1")
    assert kinds[0] == "OrderSubmitted" and "OrderAccepted" in kinds and kinds.count("OrderFilled") >= 2


async def test_cancel_and_venue_reject_through_the_engine(stack: Stack, opend: ServerThread) -> None:
    price = resting_price(opend)
    assert isinstance(await stack.request(submit(stack.account, "E-cxl-1", LOT, price)), CommandAccepted)
    await until(lambda: _is(stack, "E-cxl-1", OrderStatus.ACCEPTED), what="accepted")
    reply = await stack.request(CancelOrder(venue="futu", account=stack.account, client_order_id="E-cxl-1"))
    assert isinstance(reply, CommandAccepted), reply
    await until(lambda: _is(stack, "E-cxl-1", OrderStatus.CANCELLED), what="cancelled")
    assert (await stack.kinds("E-cxl-1"))[-1] == "OrderCancelled"

    # insufficient buying power is only known at the venue: a definite reject, not a denial
    reply = await stack.request(submit(stack.account, "E-rej-1", 1_000_000 * LOT, price))
    assert isinstance(reply, CommandAccepted), reply  # passed our checks; refused by OpenD
    await until(lambda: _is(stack, "E-rej-1", OrderStatus.REJECTED), what="rejected")
    assert (await stack.kinds("E-rej-1"))[-1] == "OrderRejected"


async def _is(stack: Stack, cid: str, status: OrderStatus) -> bool:
    return stack.status(cid) is status
