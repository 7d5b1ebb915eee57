"""tradebus.client against the real chain: `tradebus up` (ctp_sim, md_ingest, td_exec, nats-server with
the generated permissions) and a bus user added with the CLI while it runs.

Each test leaves the CTP account flat with no open order, so the tests do not depend on their order.
Every answer the SDK gives is checked against what td_exec says on the bus directly where it matters.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from strategies.conftest import CTP, PASSWORD, STRATEGY, Live
from tradebus.client import (
    Client,
    ClientError,
    CommandRefused,
    NotPermitted,
    OrderTimeout,
    SyncClient,
    TargetPosTask,
    UnknownSymbol,
)
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandDenied, OrderStatus, QueryOrders

RB = "ctp.SHFE.rb2601"


@pytest.fixture
async def client(live: Live) -> AsyncIterator[Client]:
    async with await Client.connect(live.run.nats_url, STRATEGY, PASSWORD) as connected:
        yield connected


async def test_quote_is_kept_current(client: Client) -> None:
    quote = await client.quote(RB)
    first = await quote.wait_update(timeout=10)
    second = await quote.wait_update(timeout=10)
    assert first.symbol == "rb2601" and second.ts_event >= first.ts_event
    assert quote.bid is not None and quote.ask is not None and quote.bid < quote.ask


async def test_unknown_or_malformed_symbols_are_refused(client: Client) -> None:
    with pytest.raises(UnknownSymbol, match="unknown instrument"):
        await client.quote("ctp.SHFE.zz9999")
    with pytest.raises(UnknownSymbol, match="expected <venue>"):
        await client.quote("rb2601")
    with pytest.raises(UnknownSymbol, match="unknown venue"):
        await client.quote("lse.L.VOD")


async def test_another_account_is_not_permitted_and_fails_fast(client: Client) -> None:
    started = time.monotonic()
    with pytest.raises(NotPermitted, match=r"td\.(evt|cmd)\.ctp\.000002"):
        await client.account("ctp:000002")
    assert time.monotonic() - started < client.timeout  # refused by the bus, not a timeout


async def _flatten(client: Client) -> None:
    account = await client.account(CTP)
    for order in account.orders(open_only=True):
        await account.cancel(order.client_order_id)
    task = TargetPosTask(account, await client.quote(RB))
    await task.set_target(0)


async def test_submit_waits_for_the_fill_and_the_fold_shows_it(live: Live, client: Client) -> None:
    account = await client.account(CTP)
    quote = await client.quote(RB)
    if quote.ask is None:
        await quote.wait_update(timeout=10)
    before = await account.net_position(RB)
    order = await account.submit(RB, "buy", 1, quote.ask, offset="open", wait="filled", timeout=15)
    assert order.status is OrderStatus.FILLED and order.filled_qty == 1
    assert any(f.client_order_id == order.client_order_id for f in account.fills())
    assert await account.net_position(RB) == before + 1
    # td_exec's own fold, asked afresh by a second client, agrees with ours.
    async with await Client.connect(live.run.nats_url, STRATEGY, PASSWORD) as other:
        again = (await other.account(CTP)).order(order.client_order_id)
    assert again == account.order(order.client_order_id)
    await _flatten(client)
    assert await account.net_position(RB) == 0


async def test_resting_order_accept_then_cancel_and_ids_are_idempotent(client: Client) -> None:
    account = await client.account(CTP)
    quote = await client.quote(RB)
    tick = quote.tick or await quote.wait_update(timeout=10)
    far = tick.lower_limit or round(tick.last * 0.95)  # far below the market: rests
    coid = f"test-rest-{time.time_ns()}"
    order = await account.submit(RB, "buy", 1, far, offset="open", client_order_id=coid, wait="accepted")
    assert order.status is OrderStatus.ACCEPTED
    repeat = await account.submit(RB, "buy", 1, far, offset="open", client_order_id=coid, wait="accepted")
    assert repeat.client_order_id == coid
    assert [o.client_order_id for o in account.orders() if o.client_order_id == coid] == [coid]
    with pytest.raises(OrderTimeout) as waited:
        await account.wait(coid, "filled", timeout=0.5)
    assert waited.value.order is not None and waited.value.order.status is OrderStatus.ACCEPTED
    with pytest.raises(CommandRefused, match="modify_unsupported"):
        await account.modify(coid, price=far - 1)
    cancelled = await account.cancel(coid)
    assert cancelled.status is OrderStatus.CANCELLED
    assert account.orders(open_only=True) == []


async def test_target_position_opens_and_closes(client: Client) -> None:
    account = await client.account(CTP)
    quote = await client.quote(RB)
    if quote.tick is None:
        await quote.wait_update(timeout=10)
    task = TargetPosTask(account, quote)
    assert await task.set_target(2) == 2
    assert await account.net_position(RB) == 2
    # Both lots were opened today: on SHFE they are closed with close_today.
    legs = await task.legs(-1)
    assert [(leg.side.value, leg.offset.value, leg.qty) for leg in legs] == [("sell", "close_today", 2),
                                                                             ("sell", "open", 1)]
    assert await task.set_target(0) == 0
    assert await account.net_position(RB) == 0


def test_sync_wrapper(live: Live) -> None:
    with SyncClient.connect(live.run.nats_url, STRATEGY, PASSWORD) as client:
        quote = client.quote(RB)
        tick = quote.wait_update(timeout=10)
        assert tick.symbol == "rb2601" and quote.last is not None
        account = client.account(CTP)
        assert isinstance(account.orders(), list)
        assert isinstance(account.funds(), list) and account.funds()
        with pytest.raises(NotPermitted):
            client.account("ctp:000009")


async def test_futu_bars_come_from_the_venue_then_live(client: Client) -> None:
    series = await client.bars("futu.HK.00700", "1m", 500)
    assert len(series.bars) == 500 and "venue" in series.sources
    starts = [bar.start_ns for bar in series.bars]
    assert starts == sorted(set(starts))  # one bar per minute, oldest first
    assert all(bar.end_ns - bar.start_ns == 60_000_000_000 for bar in series.bars)
    assert series.bars[-1].end_ns <= time.time_ns()  # no bar still forming
    days = await client.bars("futu.HK.00700", "1d", 30)
    assert len(days.bars) == 30 and {bar.interval for bar in days.bars} == {"1d"}
    with pytest.raises(ClientError, match="unsupported_period"):
        await client.bars(RB, "1d", 10)  # CTP fronts have no K-lines of their own


async def test_td_exec_checks_the_user_named_in_every_command(client: Client) -> None:
    # The bus lets this user send on its own account's subject; td_exec still checks who the command
    # claims to come from against the user store.
    reply = await client.request("td.cmd.ctp.000001", QueryOrders(venue="ctp", account="000001", user="nobody"),
                                 TRADE_REPLY_DECODER)
    assert isinstance(reply, CommandDenied) and reply.code == "not_allowed"
