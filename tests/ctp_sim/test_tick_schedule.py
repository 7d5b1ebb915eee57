"""ctp_sim's market steps keep a fixed schedule (the offered tick rate is the asked one), bounded catch-up."""

from __future__ import annotations

from ctp_sim.server import MAX_CATCH_UP_S, steps_owed


def test_on_time_wake_up_takes_one_step_and_keeps_the_schedule() -> None:
    assert steps_owed(now=10.0004, due=10.0, interval=0.001) == (1, 10.001)


def test_early_wake_up_takes_no_step() -> None:
    assert steps_owed(now=9.9995, due=10.0, interval=0.001) == (0, 10.0)


def test_late_wake_up_takes_every_step_it_owes() -> None:
    # 3.5 intervals late: the steps due at 10.000, .001, .002 and .003, the next at .004 as scheduled.
    steps, due = steps_owed(now=10.0035, due=10.0, interval=0.001)
    assert steps == 4 and abs(due - 10.004) < 1e-9


def test_a_front_far_behind_drops_the_backlog_instead_of_bursting() -> None:
    interval = 0.001
    steps, due = steps_owed(now=20.0, due=10.0, interval=interval)
    assert steps == int(MAX_CATCH_UP_S / interval)
    assert due == 20.0 + interval


def test_the_default_interval_never_takes_more_than_one_step() -> None:
    # A front stopped for 10 s at the default 0.5 s interval resumes with one step, as before.
    assert steps_owed(now=20.0, due=10.0, interval=0.5) == (1, 20.5)
