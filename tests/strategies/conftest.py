"""A nats-server with the generated nats.conf plus bus users (tradebus.bus_users), for the strategy tests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from up_harness import UpRun, finish_opend_login, run_up, wait_for, wait_healthy

from deploy.conftest import SecureNats
from opend_sim.api.accounts import build_accounts
from opend_sim.api.mapping import TRD_ENV_REAL
from supervisor.registry import SIM_LOGIN_ACCOUNT
from tradebus.bus.flush import flush_in_order
from tradebus.bus_users import BusUserSync
from tradebus.cli.bus_access import BusAccess
from tradebus.natsd import NatsServer
from tradebus.permissions import render_nats_conf
from tradebus.users import UserStore

ALICE_PW = "alice-pass-1"
BOB_PW = "bob-pass-12"


@dataclass
class BusWorld:
    env: SecureNats
    store: UserStore
    sync: BusUserSync


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BusWorld]:
    access = BusAccess.generate()
    store = UserStore(tmp_path / "users.json")
    store.add("alice", ALICE_PW, ["ctp:000001", "futu:*"], bus=True)
    store.add("edgeonly", "edge-pass-1", ["ctp:000002"])  # not a bus user: must not get NATS access
    conf = tmp_path / "nats.conf"
    server = NatsServer(store_dir=tmp_path / "js", config_file=conf, env=access.server_env(),
                        log_file=tmp_path / "nats.log")
    sync = BusUserSync(render_nats_conf(), store.path, conf, lambda: server.pid)
    sync.write()
    server.start()
    try:
        yield BusWorld(SecureNats(server.url, {**access.passwords, "alice": ALICE_PW, "bob": BOB_PW}, server),
                       store, sync)
    finally:
        server.stop()


async def connect_as(world: BusWorld, user: str, **options: object) -> Client:
    return await nats.connect(world.env.url, user=user, password=world.env.passwords[user],
                              inbox_prefix=f"_INBOX.{user}", allow_reconnect=False, connect_timeout=2,
                              **options)


async def td_exec_double(world: BusWorld) -> Client:
    """The td_exec user answering every td.cmd with an echo of its subject (the real one in test_client)."""
    nc = await connect_as(world, "td_exec")

    async def answer(msg: Msg) -> None:
        await msg.respond(msg.subject.encode())

    await nc.subscribe("td.cmd.>", cb=answer)
    await flush_in_order(nc)
    return nc




# One `tradebus up` for the strategy tests that need the real chain (SDK, examples), and one bus user.
CTP = "ctp:000001"
FUTU = f"futu:{next(a.acc_id for a in build_accounts(SIM_LOGIN_ACCOUNT) if a.market == 'HK' and a.env == TRD_ENV_REAL)}"
STRATEGY, PASSWORD = "strat1", "strat1-password"


@dataclass
class Live:
    run: UpRun


def add_bus_user(run: UpRun, name: str, password: str, accounts: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradebus", "user", "add", name, "--accounts", accounts, "--bus",
                           "--password-stdin"], input=password + "\n", capture_output=True, text=True,
                          env=run.env, timeout=30)


def can_connect(url: str, user: str, password: str) -> bool:
    async def attempt() -> bool:
        try:
            nc = await nats.connect(url, user=user, password=password, allow_reconnect=False,
                                    max_reconnect_attempts=0, connect_timeout=2)
        except (nats.errors.Error, OSError):
            return False
        await nc.close()
        return True

    return asyncio.run(attempt())


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with run_up(tmp_path_factory.mktemp("strategies_up")) as run:
        finish_opend_login(run)
        wait_healthy(run)
        added = add_bus_user(run, STRATEGY, PASSWORD, f"{CTP},{FUTU}")
        assert added.returncode == 0, added.stderr
        assert "(bus user)" in added.stdout
        # tradebus up notices the user file and has nats-server reload its configuration.
        wait_for(lambda: can_connect(run.nats_url, STRATEGY, PASSWORD), 20, "the new bus user to be admitted")
        yield Live(run)


