"""Feeds come back by themselves: venue restarts, NATS restarts, the OpenD auth gate."""

from __future__ import annotations

import time
from pathlib import Path

from mdingest_helpers import Harness, SimProcess, make_config

from tradebus.bus import Bus
from tradebus.schemas.auth import AuthState, AuthStateChanged
from tradebus.subjects import auth_state


def states_after(h: Harness, venue: str, start: int) -> list[str]:
    return h.feed_states(venue)[start:]


async def test_opend_killed_and_restarted(nats_server, bus: Bus, opend: tuple[SimProcess, int], harness_factory,
                                          tmp_path: Path) -> None:
    proc, port = opend
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", futu_port=port,
                                                   subscriptions=["futu.HK.00700"]))
    await h.wait_for("00700 ticks", lambda: len(h.ticks_of("futu", "00700")) >= 2)
    mark = len(h.feed_states("futu"))
    proc.stop()  # SIGKILL by pid
    await h.wait_for("feed down", lambda: "down" in states_after(h, "futu", mark))
    down = [s for s in h.statuses if s.venue == "futu" and s.state.value == "down"][-1]
    assert "OpenD" in down.reason
    before = len(h.ticks_of("futu", "00700"))
    proc.start()  # same port, same state folder
    await h.wait_for("feed up again", lambda: "up" in states_after(h, "futu", mark), timeout=30)
    await h.wait_for("ticks resume without any request",
                     lambda: len(h.ticks_of("futu", "00700")) >= before + 2, timeout=30)
    seen = states_after(h, "futu", mark)
    assert seen[0] == "down" and seen[-1] == "up" and "connecting" in seen


async def test_ctp_front_restarted(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int],
                                   harness_factory, tmp_path: Path) -> None:
    proc, td, md = ctp_front
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md),
                                                   subscriptions=["ctp.CFFEX.IF2512"]))
    await h.wait_for("IF2512 ticks", lambda: len(h.ticks_of("ctp", "IF2512")) >= 2)
    mark = len(h.feed_states("ctp"))
    proc.stop()
    await h.wait_for("feed down", lambda: "down" in states_after(h, "ctp", mark))
    down = [s for s in h.statuses if s.venue == "ctp" and s.state.value == "down"][-1]
    assert "front disconnected" in down.reason
    before = len(h.ticks_of("ctp", "IF2512"))
    proc.start()
    await h.wait_for("ticks resume without any request",
                     lambda: len(h.ticks_of("ctp", "IF2512")) >= before + 2, timeout=30)
    assert states_after(h, "ctp", mark) == ["down", "connecting", "up"]
    seqs = [t.seq for t in h.ticks_of("ctp")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_nats_restarted(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int], harness_factory,
                              tmp_path: Path) -> None:
    _, td, md = ctp_front
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md),
                                                   subscriptions=["ctp.SHFE.rb2601"]))
    await h.wait_for("rb2601 ticks", lambda: len(h.ticks_of("ctp", "rb2601")) >= 2)
    service = h.service
    assert service is not None and service.publisher is not None
    nats_server.restart()
    # While NATS is away, pushes keep coming and are dropped and counted, never buffered.
    h.ticks.clear()
    await h.wait_for("ticks resume after the NATS restart", lambda: len(h.ticks_of("ctp", "rb2601")) >= 3, timeout=30)
    await h.wait_for("a status event says NATS is back",
                     lambda: any("NATS connection restored" in s.reason for s in h.statuses), timeout=10)
    seqs = [t.seq for t in h.ticks_of("ctp")]
    assert seqs == sorted(seqs)


async def test_auth_gate(nats_server, bus: Bus, opend: tuple[SimProcess, int], harness_factory,
                         tmp_path: Path) -> None:
    _, port = opend
    config = make_config(nats_server.url, tmp_path / "var", futu_port=port, subscriptions=["futu.US.TSLA"])
    config = config.__class__(**{**{f: getattr(config, f) for f in config.__struct_fields__},
                                 "futu": config.futu.__class__(host="127.0.0.1", port=port, auth_instance="gw1")})

    async def announce(state: AuthState, previous: AuthState | None) -> None:
        event = AuthStateChanged(event_id=f"e-{state.value}-{time.time_ns()}", instance="gw1", state=state,
                                 previous=previous, reason="test", ts_event=time.time_ns())
        await bus.publish_event(auth_state("gw1"), event, event.event_id)

    h: Harness = await harness_factory(config)
    await h.wait_for("held down while OpenD is not logged in", lambda: "down" in h.feed_states("futu"))
    assert not h.ticks_of("futu")
    await announce(AuthState.CONNECTED, AuthState.VERIFYING_CODE)
    await h.wait_for("TSLA ticks once CONNECTED", lambda: len(h.ticks_of("futu", "TSLA")) >= 2)
    mark = len(h.feed_states("futu"))
    await announce(AuthState.INITIALIZING, AuthState.CONNECTED)  # e.g. OpenD relogging in
    await h.wait_for("down when the gate closes", lambda: "down" in states_after(h, "futu", mark))
    down = [s for s in h.statuses if s.venue == "futu" and s.state.value == "down"][-1]
    assert "gw1" in down.reason and "initializing" in down.reason
    count = len(h.ticks_of("futu", "TSLA"))
    service = h.service
    assert service is not None
    assert service.adapters["futu"].ctx is None  # the context is closed while the gate is shut
    assert len(h.ticks_of("futu", "TSLA")) <= count + 1
    await announce(AuthState.CONNECTED, AuthState.INITIALIZING)
    await h.wait_for("ticks restored after the gate reopens", lambda: len(h.ticks_of("futu", "TSLA")) >= count + 2)


async def test_stale_subscription_reported_and_resubscribed(nats_server, bus: Bus,
                                                            ctp_front: tuple[SimProcess, int, int],
                                                            harness_factory, tmp_path: Path) -> None:
    import os
    import signal

    proc, td, md = ctp_front
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md),
                                                   subscriptions=["ctp.INE.sc2601"], stale_after_s=1.0))
    await h.wait_for("sc2601 ticks", lambda: len(h.ticks_of("ctp", "sc2601")) >= 2)
    assert proc.proc is not None
    os.kill(proc.proc.pid, signal.SIGSTOP)  # the front goes silent but keeps the connection
    try:
        stale = await h.wait_for("a stale notice", lambda: [s for s in h.statuses if s.state.value == "stale"])
    finally:
        os.kill(proc.proc.pid, signal.SIGCONT)
    assert (stale[0].exchange, stale[0].symbol) == ("INE", "sc2601") and "resubscribing" in stale[0].reason
    await h.wait_for("ticks resumed", lambda: [s for s in h.statuses if s.reason == "ticks resumed"])
    assert "down" not in h.feed_states("ctp")  # silence on one subscription is not a feed outage
