"""`/healthz` says when evaluation has stopped (from `job_runs`, so any process can tell),
and `/metrics` shows each job's last run and the `no_data` state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from app import create_app
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.job_runs import EVALUATOR, record_job_run
from core.scheduler import JobContext
from probes import jobs
from probes.models import ComponentState
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(tmp_path, "healthz") as engine:
        yield engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def health_app(own_engine: Engine, clock: ManualClock, tmp_path: Path) -> Iterator[Flask]:
    settings = replace(Settings(), data_dir=tmp_path, database_url=str(
        own_engine.url.render_as_string(hide_password=False)), secret_key="test")
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


def test_healthz_turns_503_when_the_evaluator_stops_and_200_when_it_runs_again(
        health_app: Flask, own_engine: Engine, clock: ManualClock) -> None:
    client = health_app.test_client()
    ctx = JobContext(replace(Settings(), regions=("europe-west1.gcp",)), clock,
                     make_session_factory(own_engine))
    jobs.evaluate_states(ctx)
    clock.advance(timedelta(seconds=9))
    assert client.get("/healthz").status_code == 200
    clock.advance(timedelta(seconds=2))  # 11 s since the last pass: more than 10 s
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert "evaluator last ran 11 s ago" in answer.get_json()["reason"]
    jobs.evaluate_states(ctx)
    assert client.get("/healthz").status_code == 200


def test_only_a_process_that_runs_the_jobs_is_blamed_for_no_evaluation_at_all(
        health_app: Flask, clock: ManualClock) -> None:
    client = health_app.test_client()
    assert client.get("/healthz").status_code == 200  # a fresh instance, its first seconds
    clock.advance(timedelta(minutes=5))  # `web` alone cannot know whether workers exist
    assert client.get("/healthz").status_code == 200
    health_app.extensions["bellwether"].parts["probes"] = object()  # as in `bellwether up`
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert "has not run" in answer.get_json()["reason"]


def test_metrics_show_the_last_run_of_each_job_and_the_no_data_state(
        health_app: Flask, own_engine: Engine) -> None:
    with session_scope(make_session_factory(own_engine)) as session:
        record_job_run(session, EVALUATOR, START, ok=True)
        session.add(ComponentState(component="search", region="us-central1.gcp",
                                   state="no_data", since=START, reason="", evaluated_at=START))
    text = health_app.test_client().get("/metrics").get_data(as_text=True)
    runs = [line.split() for line in text.splitlines()
            if line.startswith('bellwether_job_last_run_timestamp_seconds{job="probes.evaluate"}')]
    assert [float(value) for _, value in runs] == [START.timestamp()]
    assert ('bellwether_component_state{component="search",region="us-central1.gcp",'
            'state="no_data"} 1.0') in text
