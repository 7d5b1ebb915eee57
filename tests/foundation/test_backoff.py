"""The one exponential backoff (``tradebus.backoff``) and the restart delays built on it."""

from __future__ import annotations

from supervisor.children import BACKOFF_FIRST_S, BACKOFF_MAX_S, STABLE_AFTER_S, RestartBackoff
from tradebus.backoff import Backoff


def test_without_jitter_the_delays_double_exactly_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 10.0, jitter=0.0)
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.attempts == 7
    backoff.reset()
    assert (backoff.next(), backoff.attempts) == (0.5, 1)


def test_restart_delays_reset_only_after_a_stable_run() -> None:
    restarts = RestartBackoff()
    quick = [restarts.after_exit(1.0) for _ in range(8)]
    assert quick[:3] == [BACKOFF_FIRST_S, BACKOFF_FIRST_S * 2, BACKOFF_FIRST_S * 4]
    assert quick[-1] == BACKOFF_MAX_S
    assert restarts.after_exit(STABLE_AFTER_S) == BACKOFF_MAX_S  # exactly the threshold is not stable yet
    assert restarts.after_exit(STABLE_AFTER_S + 1) == BACKOFF_FIRST_S
