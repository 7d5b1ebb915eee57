"""`tradebus up --md-ingest-instances 2`: one md_ingest holds each venue, the other stands by; a holder that is
killed, or frozen past its lease and deposed (exit 3), is restarted by the supervisor and comes back as a standby."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

from up_harness import UpRun, finish_opend_login, instance_port_step, run_up, up_ports, wait_for, wait_healthy

VENUES = ("futu", "ctp")
INSTANCES = ("md_ingest/1", "md_ingest/2")


def _held(port: int) -> dict[str, float] | None:
    """md_lease_held per venue from one instance's /metrics (None while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as rsp:
            text = rsp.read().decode()
    except OSError:
        return None
    held = {}
    for line in text.splitlines():
        if line.startswith("tradebus_md_lease_held{"):
            venue = line.split('venue="', 1)[1].split('"', 1)[0]
            held[venue] = float(line.rsplit(" ", 1)[1])
    return held


def _row(run: UpRun, name: str) -> dict | None:
    result = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3")
    return next((row for row in map(json.loads, result.stdout.splitlines()) if row["service"] == name), None)


def _holders(ports: dict[str, int]) -> dict[str, str] | None:
    """venue → the instance that holds it, once each venue has exactly one holder and one standby."""
    views = {name: _held(port) for name, port in ports.items()}
    if any(v is None or set(v) != set(VENUES) for v in views.values()):
        return None
    out = {}
    for venue in VENUES:
        holding = [name for name, v in views.items() if v and v[venue] == 1.0]
        if len(holding) != 1:
            return None
        out[venue] = holding[0]
    return out


def test_up_restarts_a_killed_or_deposed_md_ingest_as_standby(tmp_path: Path) -> None:
    ports = up_ports()
    step = instance_port_step(ports, moved=("md_ingest",))
    health = {"md_ingest/1": ports["md_ingest"], "md_ingest/2": ports["md_ingest"] + step}
    with run_up(
        tmp_path,
        extra_env={"TRADEBUS_MD_LEASE_S": "1"},
        up_args=("--md-ingest-instances", "2", "--instance-port-step", str(step)),
        ports=ports,
    ) as run:
        finish_opend_login(run)
        rows = {row["service"]: row for row in wait_healthy(run, timeout=90)}
        assert set(INSTANCES) <= set(rows) and "md_ingest" not in rows
        holders = wait_for(lambda: _holders(health), 60, "one holder per venue")

        # kill -9 the holder of ctp: the other instance takes ctp; the supervisor restarts the victim, a standby.
        victim = holders["ctp"]
        other = next(name for name in INSTANCES if name != victim)
        os.kill(rows[victim]["pid"], signal.SIGKILL)
        wait_for(lambda: (h := _holders(health)) and h["ctp"] == other and h, 60, f"{other} holds ctp")
        back = wait_for(
            lambda: (
                (row := _row(run, victim))
                and row["restarts"] >= 1
                and row["healthy"]
                and row["pid"] != rows[victim]["pid"]
                and row
            ),
            60,
            f"{victim} restarted",
        )
        wait_for(lambda: _held(health[victim]) == {"futu": 0.0, "ctp": 0.0}, 60, f"{victim} back as a standby")

        # Freeze the holder past its lease: the restarted victim takes both venues over; thawed, the frozen one
        # finds itself deposed, exits 3, and is restarted as a standby.
        frozen = _row(run, other)
        assert frozen is not None
        step_downs = _step_downs(run, other)
        os.kill(frozen["pid"], signal.SIGSTOP)
        try:
            wait_for(
                lambda: _held(health[victim]) == {"futu": 1.0, "ctp": 1.0},
                60,
                f"{victim} takes both venues from the frozen {other}",
            )
        finally:
            os.kill(frozen["pid"], signal.SIGCONT)
        wait_for(
            lambda: (
                (row := _row(run, other))
                and row["restarts"] > frozen["restarts"]
                and row["healthy"]
                and row["pid"] != frozen["pid"]
            ),
            60,
            f"{other} restarted after stepping down",
        )
        assert _step_downs(run, other) == step_downs + 1, run.output()[-3000:]
        final = wait_for(lambda: _holders(health), 60, "one holder per venue again")
        assert final == {"futu": victim, "ctp": victim}
        assert _held(health[other]) == {"futu": 0.0, "ctp": 0.0}
        current = _row(run, victim)
        assert current is not None and current["pid"] == back["pid"], "the holder was not restarted meanwhile"


def _step_downs(run: UpRun, name: str) -> int:
    """How often the supervisor saw ``name`` exit with code 3 (deposed) and restarted it."""
    count = 0
    for line in run.output().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("process") == name and record.get("exit_code") == 3:
            count += 1
    return count
