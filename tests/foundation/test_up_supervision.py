"""The supervisor tells the truth: nats-server is restarted like every child, restarts are counted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from up_harness import UpRun, finish_opend_login, healthy_rows, pid_alive, run_up, wait_for, wait_healthy

EVERY_SERVICE = {"nats", "md_ingest", "td_exec", "auth_broker", "ws_edge", "fmz_edge"}
STREAMS = ("MD", "TD_EVT", "AUTH")  # the file streams; heartbeat streams live in memory


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpRun]:
    with run_up(tmp_path) as run:
        yield run


def _row(rows: list[dict], name: str) -> dict:
    return next(row for row in rows if row["service"] == name)


def _restarts_metric(run: UpRun, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{run.ports['health']}/metrics", timeout=5) as response:
        text = response.read().decode()
    prefix = f'tradebus_child_restarts_total{{process="{name}"}} '
    values = [float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


async def _stream_messages(run: UpRun) -> dict[str, int]:
    """Every JetStream stream and its message count, read as the operator user `tradebus up` wrote."""
    saved = json.loads((run.data_dir / "operator-credentials.json").read_text())
    nc = await nats.connect(run.nats_url, user=saved["user"], password=saved["password"], allow_reconnect=False,
                            inbox_prefix=b"_INBOX.operator")
    try:
        js = nc.jetstream()
        return {name: (await js.stream_info(name)).state.messages for name in STREAMS}
    finally:
        await nc.close()


def _status_rows(run: UpRun) -> list[dict]:
    result = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3")
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_nats_server_killed_comes_back_with_its_state_and_everyone_reconnects(up: UpRun) -> None:
    finish_opend_login(up)
    rows = wait_healthy(up)
    old = _row(rows, "nats")
    assert old["restarts"] == 0 and pid_alive(old["pid"])
    streams_before = asyncio.run(_stream_messages(up))
    assert streams_before.get("AUTH", 0) > 0  # the OpenD login is stored

    os.kill(old["pid"], signal.SIGKILL)

    def back() -> list[dict] | None:
        again = healthy_rows(up)
        if again is None:
            return None
        # each service re-creates its own heartbeat stream as it reconnects: wait until all have beaten
        if not EVERY_SERVICE <= {r["service"] for r in again}:
            return None
        row = _row(again, "nats")
        return again if row["pid"] != old["pid"] and row["restarts"] == 1 else None

    rows = wait_for(back, 60, "nats-server restarted and every service healthy again")
    assert all(row["healthy"] for row in rows)
    assert _restarts_metric(up, "nats") == 1
    streams_after = asyncio.run(_stream_messages(up))
    assert all(streams_after[name] >= streams_before[name] for name in STREAMS)  # same JetStream folder: nothing lost
    # The services heartbeat again through the new server, under their own (unchanged) users.
    assert EVERY_SERVICE <= {r["service"] for r in rows}


def test_a_killed_service_counts_one_restart_in_status_and_metrics(up: UpRun) -> None:
    finish_opend_login(up)
    rows = wait_healthy(up)
    victim = _row(rows, "td_exec")
    os.kill(victim["pid"], signal.SIGKILL)

    def dead_shown_as_dead() -> dict | None:
        row = next((r for r in _status_rows(up) if r["service"] == "td_exec"), None)
        return row if row and row["pid"] != victim["pid"] else None

    # Until it is back, it is never shown as a healthy process with the dead pid.
    first = wait_for(dead_shown_as_dead, 30, "status to stop showing td_exec's dead pid")
    assert first["pid"] is None or first["restarts"] == 1

    def restarted() -> dict | None:
        again = healthy_rows(up)
        row = next((r for r in again or [] if r["service"] == "td_exec"), None)
        return row if row and row["pid"] != victim["pid"] else None

    row = wait_for(restarted, 60, "td_exec restarted and healthy")
    assert row["restarts"] == 1
    assert _restarts_metric(up, "td_exec") == 1
    assert _restarts_metric(up, "nats") == 0
