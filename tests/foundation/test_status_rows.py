"""`tradebus status` rows: the supervisor has the last word on a supervised service's process."""

from __future__ import annotations

from tradebus.cli.status import rows_from_heartbeats
from tradebus.schemas import HealthState, Heartbeat
from tradebus.schemas.health import ChildProcess

NOW = 1_700_000_000_000_000_000


def _beat(service: str, pid: int, children: tuple[ChildProcess, ...] = ()) -> Heartbeat:
    return Heartbeat(service=service, instance=f"h:{pid}", pid=pid, state=HealthState.OK, started_ns=NOW - 10**10,
                     ts_event=NOW - 10**8, interval_s=2.0, children=children)


def test_a_dead_service_with_a_fresh_heartbeat_is_shown_as_its_supervisor_sees_it() -> None:
    supervisor = _beat("supervisor", 1, (
        ChildProcess(name="nats", state="running", pid=5, restarts=0, healthy=True),
        ChildProcess(name="td_exec", state="backoff", pid=None, restarts=1, healthy=False,
                     detail="exit -9, restart in 0.5s"),
    ))
    rows = {row.service: row for row in rows_from_heartbeats({"supervisor": supervisor,
                                                              "td_exec": _beat("td_exec", 42)}, NOW)}
    td = rows["td_exec"]
    assert (td.state, td.healthy, td.pid, td.restarts) == ("backoff", False, None, 1)
    assert td.detail == "exit -9, restart in 0.5s"
    assert rows["nats"].healthy and rows["nats"].pid == 5


def test_a_restarted_service_keeps_its_restart_count() -> None:
    supervisor = _beat("supervisor", 1, (ChildProcess(name="td_exec", state="running", pid=43, restarts=2,
                                                      healthy=True),))
    rows = {row.service: row for row in rows_from_heartbeats({"supervisor": supervisor,
                                                              "td_exec": _beat("td_exec", 43)}, NOW)}
    assert (rows["td_exec"].state, rows["td_exec"].healthy, rows["td_exec"].restarts) == ("ok", True, 2)
