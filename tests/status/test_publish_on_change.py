"""The publish job renders when what the site shows changed, or `REFRESH` passed; a pass
that finds nothing new costs a few aggregate queries (counted statements, not timings), and
a render that finds a file as it left it does not read it back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import store as probes_store
from probes.evaluate import Evaluation, State
from probes.models import ComponentDay
from status import site_jobs
from status.models import Maintenance
from status.site import Site
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine
from tests.support.statements import statements, writes

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
    assert 0 < len(quiet) <= 9 < len(first), quiet
    assert writes(quiet) == []

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

    clock.advance(site_jobs.REFRESH - timedelta(seconds=10))
    assert site_jobs.publish_site(ctx) == 0
    assert renders.calls == 3
    clock.advance(timedelta(seconds=10))
    site_jobs.publish_site(ctx)
    assert renders.calls == 4, "REFRESH on, the time-driven parts are rendered again"


def add_day(engine: Engine, day: int, minutes: int, down: int) -> None:
    with session_scope(make_session_factory(engine)) as session:
        session.execute(delete(ComponentDay).where(ComponentDay.day == day))
        session.add(ComponentDay(component="search", region=REGION, day=day, minutes=minutes,
                                 down_minutes=down, single_location_minutes=0,
                                 maintenance_minutes=0, no_data_minutes=0))


def test_time_and_today_render_only_when_what_they_show_changes(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A window starting or ending, a new day, or today's down minutes render at once;
    today's count of minutes growing (every minute) does not."""
    settings = replace(Settings(), data_dir=tmp_path, secret_key="test", regions=(REGION,))
    clock = ManualClock(START)
    ctx = JobContext(settings, clock, make_session_factory(engine))
    set_state(engine, State.OPERATIONAL, START)
    today = int(START.timestamp()) // 60 // 1440
    add_day(engine, today, 720, 0)
    with session_scope(make_session_factory(engine)) as session:
        session.add(Maintenance(title="Database upgrade", starts_at=START + timedelta(minutes=1),
                                ends_at=START + timedelta(minutes=3), created_at=START))
    renders = Renders(monkeypatch)
    site_jobs.publish_site(ctx)
    assert renders.calls == 1

    clock.advance(timedelta(seconds=30))
    add_day(engine, today, 721, 0)  # a minute more, nothing down
    assert site_jobs.publish_site(ctx) == 0
    assert renders.calls == 1, "today's passing minutes alone: no render"

    clock.advance(timedelta(seconds=30))  # the window starts
    site_jobs.publish_site(ctx)
    assert renders.calls == 2, "a window started: rendered at once"
    clock.advance(timedelta(seconds=2))
    site_jobs.publish_site(ctx)
    assert renders.calls == 2

    add_day(engine, today, 722, 1)
    site_jobs.publish_site(ctx)
    assert renders.calls == 3, "a minute down today: rendered at once"

    clock.advance(timedelta(minutes=2))  # the window ends
    site_jobs.publish_site(ctx)
    assert renders.calls == 4, "a window ended: rendered at once"

    clock.advance(datetime(2026, 10, 2, 0, 0, 1, tzinfo=UTC) - clock.now())
    ctx.parts["published_at"] = clock.now()  # not the refresh: the new day alone
    site_jobs.publish_site(ctx)
    assert renders.calls == 5, "a new day: rendered at once"


def test_a_render_does_not_read_back_what_it_wrote_and_found_unchanged(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = replace(Settings(), data_dir=tmp_path, secret_key="test", regions=(REGION,))
    clock = ManualClock(START)
    ctx = JobContext(settings, clock, make_session_factory(engine))
    set_state(engine, State.OPERATIONAL, START)
    assert site_jobs.publish_site(ctx) > 0
    reads: list[Path] = []
    real_read = Path.read_bytes

    def counted(path: Path) -> bytes:
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", counted)
    clock.advance(site_jobs.REFRESH)
    site_jobs.publish_site(ctx)  # renders again: only generated-at moved in the HTML pages
    assert not [path for path in reads if path.is_relative_to(tmp_path)], reads

    summary = next(tmp_path.rglob("api/v2/summary.json"))
    summary.with_name("summary.json.gz").unlink()  # someone else touched the pair
    clock.advance(site_jobs.REFRESH)
    site_jobs.publish_site(ctx)
    assert summary in reads, "a pair not as it was left is read and written again"
    assert summary.with_name("summary.json.gz").exists()
