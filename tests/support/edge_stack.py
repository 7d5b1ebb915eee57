"""A small real system for the edges-side-by-side tests: ctp_sim, then ``python -m md_ingest`` and
``python -m td_exec`` (CTP only) as processes on the test's nats-server, plus helpers to ask md_ingest
about its reference counts the way any client would (``md.ctl.*`` on the bus). Stopped by pid."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ctp_front import CtpFront
from service_process import ServiceProcess, service_env, start_service

from tradebus.bus import Bus
from tradebus.schemas import MARKET_CONTROL_DECODER
from tradebus.schemas.market import SubscribeRequest, SubscriptionReply, UnsubscribeRequest
from tradebus.subjects import MD_CTL_SUBSCRIBE, MD_CTL_UNSUBSCRIBE

CTP_SECRETS = {"TRADEBUS_CTP_PASSWORD": "123456", "TRADEBUS_CTP_AUTH_CODE": "0000000000000000"}
PROBE = "test-probe"  # the test's own md.ctl requester: its subscribe answers md_ingest's refcount


async def start_core(nats_url: str, front: CtpFront, data_dir: Path) -> list[ServiceProcess]:
    """md_ingest and td_exec for the CTP venue of ``front``, each healthy (its feed / venue up)."""
    fronts = {"TRADEBUS_CTP_TD_FRONT": front.td, "TRADEBUS_CTP_MD_FRONT": front.md, **CTP_SECRETS}
    md = await start_service("md_ingest", service_env(
        nats_url, data_dir, TRADEBUS_MD_FUTU="0", TRADEBUS_MD_CTP="1", TRADEBUS_MD_STALE_HOURS="always", **fronts),
        data_dir, timeout=60)
    td = await start_service("td_exec", service_env(
        nats_url, data_dir, TRADEBUS_TD_FUTU="0", TRADEBUS_TD_CTP="1", TRADEBUS_TD_SIM="0", **fronts),
        data_dir, timeout=60)
    return [md, td]


def kill9(service: ServiceProcess) -> None:
    """kill -9: the process gets no chance to release anything."""
    os.kill(service.process.pid, signal.SIGKILL)


async def refcount(bus: Bus, venue: str, exchange: str, symbol: str) -> int:
    """md_ingest's holders of the instrument, the probe's own reference included (taken idempotently)."""
    request = SubscribeRequest(venue=venue, exchange=exchange, symbol=symbol, requester=PROBE)
    reply = await bus.request(MD_CTL_SUBSCRIBE, request, MARKET_CONTROL_DECODER, timeout=10)
    assert isinstance(reply, SubscriptionReply) and reply.ok, reply
    return reply.refcount


async def holds(bus: Bus, requester: str, venue: str, exchange: str, symbol: str) -> bool:
    """Whether ``requester`` holds a reference. Asked by releasing it as that requester: a reference it
    holds is released (so ask only about a requester that is gone)."""
    request = UnsubscribeRequest(venue=venue, exchange=exchange, symbol=symbol, requester=requester)
    reply = await bus.request(MD_CTL_UNSUBSCRIBE, request, MARKET_CONTROL_DECODER, timeout=10)
    assert isinstance(reply, SubscriptionReply), reply
    return reply.ok


async def refcount_is(bus: Bus, expected: int, venue: str, exchange: str, symbol: str) -> bool:
    return await refcount(bus, venue, exchange, symbol) == expected
