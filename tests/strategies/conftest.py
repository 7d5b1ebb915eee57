"""A nats-server with the generated nats.conf plus bus users (tradebus.bus_users), for the strategy tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from deploy.conftest import SecureNats
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
    await nc.flush()
    return nc


