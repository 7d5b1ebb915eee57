"""Faults of a three-node NATS cluster under `tradebus up --nats-cluster 3`, under a steady order flow on both
venues (CTP through ctp_sim, Futu through opend_sim), each ending with TD_EVT, the ``orders`` projection and
the venue's own order list compared one by one (order_flow.audit):

* kill -9 the node that leads TD_EVT (``$JS.API.STREAM.INFO.TD_EVT`` → cluster.leader);
* restart all three nodes one after another, as a rolling upgrade does.

Figures per fault: orders lost, doubled, commands unanswered (all 0), and the time to resume (the longest
pause in acceptances around the fault), printed as one ``cluster-fault`` line each (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from order_flow import Ledger, OrderFlow, audit, projected, submitted_events
from polling import until_async
from up_harness import UpRun, finish_opend_login, run_up, wait_for, wait_healthy
from venue_truth import ctp_venue_order_ids, futu_venue_order_ids

from strategies.conftest import CTP, FUTU, PASSWORD, STRATEGY, add_bus_user, can_connect
from tradebus.cli.bus_access import OPERATOR_FILE
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import Tick
from tradebus.schemas.orders import Offset

NODES = 3
FLOW_S = 2.0  # steady flow before the fault, and again once it has resumed
RESUME_BOUND_S = 20.0
TICK = {"ctp": 1.0, "futu": 0.1}  # rb2601's tick; HK.09988's at the simulator's price (100–200 HKD)
# How far under the bid the flow buys, so its orders rest: within CTP's daily price band for rb2601, and some
# 15 % under the market for the stock (a fill would spend the simulated account's cash).
UNDER_BID_TICKS = {"ctp": 10, "futu": 200}

pytestmark = pytest.mark.timeout(240)


@dataclass
class Cluster:
    run: UpRun
    url: str  # every node, comma-separated
    operator: tuple[str, str]
    prices: dict[str, float]
    ledgers: dict[str, list[Ledger]] = field(default_factory=lambda: {"ctp": [], "futu": []})


def _node_rows(run: UpRun, url: str) -> dict[str, dict[str, Any]]:
    result = run.tradebus("status", "--nats-url", url, "--json", "--timeout", "3")
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {row["service"]: row for row in rows if row["service"].startswith("nats-")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster_up")
    with run_up(tmp, up_args=("--nats-cluster", str(NODES), "--cluster-port", "0")) as run:
        creds_path = run.data_dir / OPERATOR_FILE
        wait_for(creds_path.exists, 30, "tradebus up to write the operator credentials")
        saved = json.loads(creds_path.read_text())
        run.nats_url = saved["url"]
        assert len(run.nats_url.split(",")) == NODES
        finish_opend_login(run)
        rows = wait_healthy(run, timeout=90)
        assert {r["service"] for r in rows} >= {f"nats-{i}" for i in range(1, NODES + 1)}
        added = add_bus_user(run, STRATEGY, PASSWORD, f"{CTP},{FUTU}")
        assert added.returncode == 0, added.stderr
        for node_url in run.nats_url.split(","):  # every node reloaded the shared user list
            wait_for(lambda url=node_url: can_connect(url, STRATEGY, PASSWORD), 20, f"the bus user on {node_url}")
        operator = (saved["user"], saved["password"])
        prices = asyncio.run(_resting_prices(run.nats_url, operator))
        yield Cluster(run, run.nats_url, operator, prices)


async def _connect(url: str, user: str, password: str) -> Client:
    return await nats.connect(servers=url.split(","), user=user, password=password, inbox_prefix=f"_INBOX.{user}",
                              max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2)


async def _resting_prices(url: str, operator: tuple[str, str]) -> dict[str, float]:
    """A buy price under the bid of each instrument: on the tick grid, and resting (it does not cross)."""
    nc = await _connect(url, *operator)
    try:
        js = nc.jetstream()
        prices = {}
        for venue, subject in (("ctp", "md.tick.ctp.SHFE.rb2601"), ("futu", "md.tick.futu.HK.09988")):

            async def booked(subject: str = subject) -> Tick | None:
                """The last tick, once it has a bid: Futu's first ticks come from a quote push, before the
                order book's first push (md_ingest merges the two as they arrive)."""
                tick = MARKET_DATA_DECODER.decode((await js.get_last_msg("MD", subject, direct=True)).data)
                return tick if isinstance(tick, Tick) and tick.best_bid is not None else None

            tick = await until_async(booked, 30, f"a tick with a bid on {subject}", ignore=(NotFoundError,))
            assert tick.best_bid is not None
            prices[venue] = round(tick.best_bid.price - UNDER_BID_TICKS[venue] * TICK[venue], 2)
        return prices
    finally:
        await nc.close()


async def _td_evt_leader(nc: Client) -> tuple[str, list[dict[str, Any]]]:
    reply = await nc.request("$JS.API.STREAM.INFO.TD_EVT", b"", timeout=3)
    info = json.loads(reply.data)["cluster"]
    return info.get("leader", ""), info.get("replicas", [])


async def _fully_replicated(nc: Client) -> bool:
    """TD_EVT has a leader and its two followers are current: the cluster is whole again."""
    try:
        leader, replicas = await _td_evt_leader(nc)
    except Exception:  # the stream's info is unavailable during an election
        return False
    return bool(leader) and len(replicas) == NODES - 1 and all(r.get("current") for r in replicas)


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)  # polling the cluster's own report, bounded by the deadline
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Flows:
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]
    ledgers: list[Ledger]


async def _start_flows(cluster: Cluster, nc: Client, tag: str) -> Flows:
    ctp = Ledger("ctp", CTP.split(":")[1])
    futu = Ledger("futu", FUTU.split(":")[1])
    flows = [OrderFlow(nc, ctp, "SHFE", "rb2601", cluster.prices["ctp"], 1, Offset.OPEN, f"cl{tag}c"),
             OrderFlow(nc, futu, "HK", "09988", cluster.prices["futu"], 100, Offset.NONE, f"cl{tag}f")]
    stop = asyncio.Event()
    cluster.ledgers["ctp"].append(ctp)
    cluster.ledgers["futu"].append(futu)
    return Flows(stop, [asyncio.create_task(flow.run(stop)) for flow in flows], [ctp, futu])


async def _stop_flows(flows: Flows) -> None:
    flows.stop.set()
    await asyncio.gather(*flows.tasks)


async def _audit(cluster: Cluster, nc: Client, flows: Flows) -> dict[str, dict[str, Any]]:
    """Wait until every accepted order has reached its venue, then compare the four records one by one."""
    venue_ids = {"ctp": ctp_venue_order_ids, "futu": lambda run: futu_venue_order_ids(run, int(FUTU.split(":")[1]))}
    figures = {}
    for ledger in flows.ledgers:
        every = [coid for earlier in cluster.ledgers[ledger.venue] for coid in earlier.sent]

        async def settled(ledger: Ledger = ledger) -> bool:
            views = await projected(nc, ledger.venue, ledger.account, list(ledger.accepted))
            return len(views) == len(ledger.accepted) and all(v.venue_order_id for v in views.values())

        try:
            await _until(settled, 30, f"every accepted {ledger.venue} order at its venue")
        except AssertionError:
            views = await projected(nc, ledger.venue, ledger.account, list(ledger.accepted))
            stuck = {coid: (v.status, v.reason) for coid, v in views.items() if not v.venue_order_id}
            raise AssertionError(f"{len(stuck)} accepted {ledger.venue} orders never reached the venue: "
                                 f"{dict(list(stuck.items())[:5])}; cancels refused: "
                                 f"{Counter(ledger.cancel_denied.values())}") from None
        events = await submitted_events(nc, ledger.venue, ledger.account)
        views = await projected(nc, ledger.venue, ledger.account, every)
        found = await asyncio.to_thread(venue_ids[ledger.venue], cluster.run)
        result = audit(ledger, events, views, found)
        assert result.figures() == {"lost": 0, "doubled": 0, "unanswered": 0}, result
        assert len(ledger.accepted) >= 10, ledger  # the flow really flowed
        figures[ledger.venue] = {**result.figures(), "accepted": len(ledger.accepted),
                                 "denied": dict(Counter(ledger.denied.values())), "error_replies": ledger.errors,
                                 "silent_retries": ledger.silent_tries}
    return figures


@contextlib.asynccontextmanager
async def _flowing(cluster: Cluster, tag: str) -> AsyncIterator[tuple[Client, Flows]]:
    """The strategy's connection running both flows, and an operator connection to watch the cluster."""
    nc = await _connect(cluster.url, STRATEGY, PASSWORD)
    op = await _connect(cluster.url, *cluster.operator)
    flows = await _start_flows(cluster, nc, tag)
    try:
        yield op, flows
    finally:
        if not flows.stop.is_set():
            await _stop_flows(flows)
        await nc.close()
        await op.close()


def _report(fault: str, resume_s: float, figures: dict[str, dict[str, Any]]) -> None:
    print(f"cluster-fault {fault}: resume_s={resume_s:.2f} " +
          " ".join(f"{venue}={json.dumps(f, separators=(',', ':'))}" for venue, f in figures.items()))


async def _steady(flows: Flows) -> None:
    """FLOW_S of flow, measured by the flow's own acceptances (not a bare sleep)."""
    counts = [len(ledger.accepted) for ledger in flows.ledgers]
    start = time.monotonic()

    async def grown() -> bool:
        return time.monotonic() - start >= FLOW_S and all(
            len(ledger.accepted) >= count + 5 for ledger, count in zip(flows.ledgers, counts, strict=True))

    await _until(grown, 60, "the order flow to advance on both venues")


async def test_kill_9_of_the_td_evt_leader_loses_and_doubles_nothing(cluster: Cluster) -> None:
    async with _flowing(cluster, "k") as (op, flows):
        await _steady(flows)
        leader, _ = await _td_evt_leader(op)
        node = f"nats-{leader.removeprefix('n')}"
        pid = _node_rows(cluster.run, cluster.url)[node]["pid"]
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        async def led() -> bool:  # a leader answers again (the restarted node may win the election back)
            try:
                now, _ = await _td_evt_leader(op)
            except Exception:
                return False
            return bool(now)

        await _until(led, 30, "TD_EVT led again")
        await _steady(flows)
        resume_s = max(ledger.longest_pause(killed_at, time.monotonic()) for ledger in flows.ledgers)
        await _stop_flows(flows)
        await _until(lambda: _fully_replicated(op), 60, f"{node} back and TD_EVT fully replicated")
        assert _node_rows(cluster.run, cluster.url)[node]["restarts"] >= 1
        figures = await _audit(cluster, op, flows)
        _report("kill-9-td-evt-leader", resume_s, figures)
        assert resume_s < RESUME_BOUND_S


async def test_rolling_restart_of_every_node_loses_and_doubles_nothing(cluster: Cluster) -> None:
    async with _flowing(cluster, "r") as (op, flows):
        await _until(lambda: _fully_replicated(op), 60, "a whole cluster before the rolling restart")
        await _steady(flows)
        started = time.monotonic()
        for index in range(1, NODES + 1):
            node = f"nats-{index}"
            before = _node_rows(cluster.run, cluster.url)[node]
            os.kill(before["pid"], signal.SIGTERM)  # a clean stop, as an upgrade does; the supervisor restarts it

            async def back(node: str = node, old: int = before["pid"]) -> bool:
                row = _node_rows(cluster.run, cluster.url).get(node)
                return bool(row) and row["pid"] not in (None, old) and row["state"] == "running" \
                    and await _fully_replicated(op)

            await _until(back, 60, f"{node} restarted and TD_EVT fully replicated")
        await _steady(flows)
        resume_s = max(ledger.longest_pause(started, time.monotonic()) for ledger in flows.ledgers)
        await _stop_flows(flows)
        figures = await _audit(cluster, op, flows)
        _report("rolling-restart", resume_s, figures)
        assert resume_s < RESUME_BOUND_S


def test_every_stream_and_bucket_has_three_replicas(cluster: Cluster) -> None:
    # The ones the operator may look at (td_exec's snapshot store is td_exec's alone; the same declaration,
    # with the same replica count, creates it: tests/foundation/test_cluster_conf.py).
    names = ("MD", "TD_EVT", "AUTH", "KV_orders", "KV_instruments", "KV_auth", "SYS_td_exec", "SYS_supervisor")

    async def replicas() -> dict[str, int]:
        op = await _connect(cluster.url, *cluster.operator)
        try:
            return {name: (await op.jetstream().stream_info(name)).config.num_replicas or 0 for name in names}
        finally:
            await op.close()

    assert asyncio.run(replicas()) == dict.fromkeys(names, NODES)
