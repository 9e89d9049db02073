"""The scheduler's log says what matters: a pass that outlasts its interval is not news."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Settings
from core.scheduler import Job, JobContext, build_scheduler
from tests.support.clock import ManualClock


def test_a_skipped_run_of_a_busy_job_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    ctx = JobContext(Settings(), ManualClock(datetime(2026, 10, 1, tzinfo=UTC)),
                     session_factory=None)  # type: ignore[arg-type]
    build_scheduler([Job("tests.busy", timedelta(seconds=1), lambda _: 0)], ctx)
    logger = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
        logger.warning('Execution of job "%s" skipped: maximum number of running instances '
                       "reached (%d)", "tests.busy", 1)
        logger.warning("Run time of job %s was missed by 0:00:03", "tests.busy")
    assert [r.getMessage() for r in caplog.records] == [
        "Run time of job tests.busy was missed by 0:00:03"]
