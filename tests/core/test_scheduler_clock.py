"""Jobs on the clock (`Job.offset`): the scheduler wakes for them once per period, just after
the period closed, and never in between; other jobs keep running every interval from start."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.interval import IntervalTrigger

from core.scheduler import Job, trigger_of
from probes.jobs import JOBS as PROBE_JOBS
from probes.jobs import ROLLUP_SETTLE

NOW = datetime(2026, 12, 3, 16, 10, 41, 500_000, tzinfo=UTC)


def fire_times(trigger: IntervalTrigger, now: datetime, until: datetime) -> list[datetime]:
    """Every time the trigger fires in (now, until], as APScheduler asks it."""
    times: list[datetime] = []
    previous = None
    while True:
        upcoming = trigger.get_next_fire_time(previous, now)
        if upcoming is None or upcoming > until:
            return times
        times.append(upcoming)
        previous = upcoming


def test_a_job_on_the_clock_runs_once_per_period_just_after_it_closed() -> None:
    job = Job("tests.minute", timedelta(minutes=1), lambda _: 0,
              offset=timedelta(seconds=3))
    times = fire_times(trigger_of(job), NOW, NOW + timedelta(minutes=5))
    assert times == [datetime(2026, 12, 3, 16, minute, 3, tzinfo=UTC)
                     for minute in range(11, 16)]


def test_a_job_off_the_clock_runs_every_interval_from_now() -> None:
    job = Job("tests.often", timedelta(seconds=5), lambda _: 0)
    trigger = trigger_of(job)
    start = trigger.start_date  # the wall clock when the trigger was made: "from now"
    times = fire_times(trigger, start, start + timedelta(seconds=29))
    assert len(times) == 6
    assert [b - a for a, b in itertools.pairwise(times)] == [timedelta(seconds=5)] * 5
    assert times[0] - start <= timedelta(seconds=5)


def test_the_rollup_runs_once_a_minute_after_the_minute_and_its_checks_settled() -> None:
    """It ran every 5 s and rewrote each pair's minutes about six times a minute; the
    minutes it rolls up are final once closed and ROLLUP_SETTLE has passed."""
    rollup = next(job for job in PROBE_JOBS if job.name == "probes.rollup")
    times = fire_times(trigger_of(rollup), NOW, NOW + timedelta(hours=1))
    assert len(times) == 60
    assert {(t.second, t.microsecond) for t in times} == {(3, 0)}
    assert rollup.offset is not None
    assert rollup.offset > ROLLUP_SETTLE
