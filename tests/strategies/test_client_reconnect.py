"""tradebus.client across a nats-server restart (kill -9, restarted by `tradebus up`): order events reach the
client's fold again afterwards. nats-server keeps a file stream's consumers across a restart; the client also
follows anew after every reconnect (a new consumer and td_exec's fold), which covers a consumer the server
removed while the client was away longer than its idle limit."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import until
from up_harness import UpRun, finish_opend_login, healthy_rows, run_up, wait_for, wait_healthy

from strategies.conftest import CTP, PASSWORD, STRATEGY, add_bus_user, can_connect
from tradebus.client import Client
from tradebus.schemas.orders import OrderStatus

RB = "ctp.SHFE.rb2601"
EVERY_SERVICE = {"nats", "md_ingest", "td_exec", "auth_broker", "ws_edge", "fmz_edge"}


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpRun]:
    with run_up(tmp_path) as run:
        finish_opend_login(run)
        wait_healthy(run)
        added = add_bus_user(run, STRATEGY, PASSWORD, CTP)
        assert added.returncode == 0, added.stderr
        wait_for(lambda: can_connect(run.nats_url, STRATEGY, PASSWORD), 20, "the new bus user to be admitted")
        yield run


def _nats_row(rows: list[dict]) -> dict | None:
    return next((row for row in rows if row["service"] == "nats"), None)


def _restarted(run: UpRun, old_pid: int) -> bool:
    rows = healthy_rows(run)
    if rows is None or not EVERY_SERVICE <= {r["service"] for r in rows}:
        return False
    row = _nats_row(rows)
    return row is not None and row["pid"] != old_pid


async def test_account_events_flow_again_after_nats_restarts(up: UpRun) -> None:
    async with await Client.connect(up.nats_url, STRATEGY, PASSWORD) as client:
        account = await client.account(CTP)
        quote = await client.quote(RB)
        while quote.bid is None:
            await quote.wait_update(timeout=10)

        rows = healthy_rows(up)
        assert rows is not None
        old = _nats_row(rows)
        assert old is not None
        os.kill(old["pid"], signal.SIGKILL)
        await asyncio.to_thread(wait_for, lambda: _restarted(up, old["pid"]), 60, "nats-server back, all healthy")

        # A resting buy placed by another client, far under the market: the first client learns of it only
        # through its order events, which must flow again through a consumer the restarted server knows.
        async with await Client.connect(up.nats_url, STRATEGY, PASSWORD) as other:
            placed = await (await other.account(CTP)).submit(RB, "buy", 1, quote.bid - 50.0, offset="open",
                                                            wait="accepted", timeout=20)
            coid = placed.client_order_id
            await until(lambda: any(o.client_order_id == coid for o in account.orders()), 15,
                        "the other client's order in this client's fold")
            cancelled = await account.cancel(coid, timeout=20)
            assert cancelled.status is OrderStatus.CANCELLED
