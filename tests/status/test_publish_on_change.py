"""The publish job renders when what the site shows changed, or a minute passed; a pass that
finds nothing new costs a few aggregate queries (counted statements, not timings)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import store as probes_store
from probes.evaluate import Evaluation, State
from status import site_jobs
from status.models import Maintenance
from status.site import Site
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine
from tests.support.statements import statements

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(tmp_path, "publish") as made:
        yield made


class Renders:
    """Counts `Site.publish` calls (the whole render)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = Site.publish

        def counted(site: Site, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(site, *args, **kwargs)

        monkeypatch.setattr(Site, "publish", counted)


def set_state(engine: Engine, state: State, now: datetime) -> None:
    with session_scope(make_session_factory(engine)) as session:
        known = probes_store.states(session).get(("search", REGION))
        probes_store.record_state(session, "search", REGION, Evaluation(state, "2 of 3"),
                                  now, known)


def test_a_pass_that_finds_nothing_new_renders_nothing(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = replace(Settings(), data_dir=tmp_path, secret_key="test", regions=(REGION,))
    clock = ManualClock(START)
    ctx = JobContext(settings, clock, make_session_factory(engine))
    set_state(engine, State.OPERATIONAL, START)
    renders = Renders(monkeypatch)

    with statements(engine) as first:
        assert site_jobs.publish_site(ctx) > 0  # the first pass renders everything
    assert renders.calls == 1

    clock.advance(timedelta(seconds=2))
    with statements(engine) as quiet:
        assert site_jobs.publish_site(ctx) == 0
    assert renders.calls == 1, "nothing changed: no render"
    assert 0 < len(quiet) <= 8 < len(first), quiet

    clock.advance(timedelta(seconds=2))
    set_state(engine, State.MAJOR_OUTAGE, clock.now())
    assert site_jobs.publish_site(ctx) > 0
    assert renders.calls == 2, "a live state changed: rendered at once"
    published = list(tmp_path.rglob("summary.json"))
    assert published, "the summary document was written"
    assert "major_outage" in published[0].read_text(encoding="utf-8")

    clock.advance(timedelta(seconds=2))
    set_state(engine, State.MAJOR_OUTAGE, clock.now())  # the same state and reason
    assert site_jobs.publish_site(ctx) == 0
    assert renders.calls == 2

    clock.advance(timedelta(seconds=2))
    with session_scope(make_session_factory(engine)) as session:
        session.add(Maintenance(title="Database upgrade", starts_at=START + timedelta(days=9),
                                ends_at=START + timedelta(days=9, hours=1),
                                created_at=clock.now()))
    assert site_jobs.publish_site(ctx) > 0
    assert renders.calls == 3, "a maintenance window was scheduled: rendered at once"

    clock.advance(site_jobs.REFRESH)
    site_jobs.publish_site(ctx)
    assert renders.calls == 4, "a minute on, the time-driven parts are rendered again"
