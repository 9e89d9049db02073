"""The admin area (status.admin_area): a home that says what needs an admin, and pages for
backups, agents and probes, each under the shared navigation; other roles get a 403 page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from core.backup import FAILURE_FILE, record_failure, take_backup
from core.db import make_session_factory, session_scope
from core.models import Role
from probes import store as probe_store
from probes.checks import CheckResult
from probes.heartbeats import Heartbeat
from probes.specs import ProbeKind, ProbeSpec
from tests.status.conftest import EU, START, log_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGES = ("/admin", "/admin/backups", "/admin/agents", "/admin/probes")


def text_of(html: str) -> str:
    """The page's words, tags dropped and spaces folded, for phrase checks (inline tags
    leave nothing, the others a space)."""
    inline = re.sub(r"</?(?:span|a|code|em|strong)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline))


@pytest.fixture
def admin(api: FlaskClient, make_user: Callable[[Role], tuple[int, str, str]]) -> FlaskClient:
    admin_id, _, _ = make_user(Role.ADMIN)
    log_in(api, admin_id)
    return api


def backups_of(app: Flask) -> Path:
    return Path(app.extensions["bellwether"].settings.data_dir) / "backups"


def test_every_admin_page_has_the_shared_navigation_and_a_way_home(admin: FlaskClient) -> None:
    for path in PAGES:
        page = admin.get(path, headers=BROWSER)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        nav = html[html.index('<nav aria-label="Main"'):html.index("</nav>")]
        for link in ('href="/admin"', 'href="/admin/backups"', 'href="/admin/agents"',
                     'href="/admin/probes"', 'href="/admin/deliveries"'):
            assert link in nav, (path, link)
        assert f'href="{path}" aria-current="page"' in nav
        assert '<a href="/admin" class="brand">' in html  # the brand leads home as well
        assert html.count("<h1>") == 1


def test_other_roles_get_a_page_saying_the_admin_area_is_not_for_them(
        api: FlaskClient, make_user: Callable[[Role], tuple[int, str, str]]) -> None:
    for role, home in ((Role.SUPPORT, "/admin/incidents"),
                       (Role.ACCOUNT_MANAGER, "/reports/customers")):
        user_id, email, _ = make_user(role)
        log_in(api, user_id)
        for path in PAGES:
            page = api.get(path, headers=BROWSER)
            assert page.status_code == 403
            assert page.mimetype == "text/html"
            words = text_of(page.get_data(as_text=True))
            assert "Not for your role" in words
            assert f"You are logged in as {email}" in words
            assert f'<a href="{home}">Back to your home page</a>' in page.get_data(as_text=True)
    anonymous = api.application.test_client()
    for path in PAGES:
        answer = anonymous.get(path, headers=BROWSER)
        assert answer.status_code == 302
        assert answer.headers["Location"] == f"/login?next={path}"


def test_backups_show_the_newest_age_against_the_rpo_and_a_failed_attempt(
        admin: FlaskClient, status_app: Flask, tmp_path: Path) -> None:
    directory = backups_of(status_app)
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    import sqlite3

    sqlite3.connect(tmp_path / "source.sqlite").execute("create table t (x)").connection.close()
    assert "No backup yet" in text_of(admin.get("/admin/backups").get_data(as_text=True))

    taken = take_backup(url, directory, START - timedelta(minutes=30))
    words = text_of(admin.get("/admin/backups").get_data(as_text=True))
    assert "Newest backup 30 min old: OK (limit 2 h)" in words
    assert taken.path.name in words
    assert "The last backup failed" not in words

    take_backup(url, directory, START - timedelta(hours=3))  # only an older one...
    taken.path.unlink()  # ...once the newer one is gone
    record_failure(directory, START - timedelta(minutes=5),
                   "the copy of source.sqlite failed its integrity check: row 7 missing")
    words = text_of(admin.get("/admin/backups").get_data(as_text=True))
    assert "Newest backup 3 h old: late (limit 2 h)" in words
    assert "The last backup failed" in words
    assert "row 7 missing" in words
    home = text_of(admin.get("/admin").get_data(as_text=True))
    assert "Failing: the last attempt" in home
    assert "Newest 3 h old: late against the 2-hour recovery point objective" in home
    (directory / FAILURE_FILE).unlink()


def test_agents_show_location_version_last_seen_and_whether_silent(
        admin: FlaskClient, app_engine: Engine) -> None:
    tag = uuid.uuid4().hex[:6]
    with session_scope(make_session_factory(app_engine)) as session:
        probe_store.record_heartbeat(session, Heartbeat(f"live-{tag}", "loc-b", "1.4.2"),
                                     "10.0.0.7", START - timedelta(seconds=20))
        probe_store.record_heartbeat(session, Heartbeat(f"gone-{tag}", "loc-c", "1.4.1"),
                                     "10.0.0.8", START - timedelta(minutes=10))
        probe_store.record_heartbeat(session, Heartbeat(f"off-{tag}", "loc-d", "1.4.2",
                                                        stopping=True),
                                     "10.0.0.9", START - timedelta(minutes=10))
    html = admin.get("/admin/agents").get_data(as_text=True)
    rows = {row.split(" ")[0]: row for row in
            (text_of(r).strip() for r in re.findall(r"<tr>(.*?)</tr>", html, re.S))}
    assert rows[f"live-{tag}"] == (f"live-{tag} loc-b 1.4.2 10.0.0.7 2026-10-01 11:59:40 "
                                   "(20 s ago) reporting")
    assert rows[f"gone-{tag}"].endswith("(10 min ago) silent")
    assert rows[f"off-{tag}"].endswith("stopped")
    home = text_of(admin.get("/admin").get_data(as_text=True))
    assert re.search(r"\d+ reporting, \d+ silent, \d+ stopped\.", home)


def test_probes_show_their_last_result_and_tls_days_left(admin: FlaskClient,
                                                         app_engine: Engine) -> None:
    tag = uuid.uuid4().hex[:6]
    tcp = ProbeSpec(name=f"orders-{tag}", component="orders", region=EU, kind=ProbeKind.TCP,
                    target="orders.example.test:443")
    tls = ProbeSpec(name=f"cert-{tag}", component="orders", region=EU, kind=ProbeKind.TLS,
                    target="orders.example.test:443")
    quiet = ProbeSpec(name=f"quiet-{tag}", component="search", region=EU, kind=ProbeKind.TCP,
                      target="search.example.test:443")

    def check(probe: str, ago_s: int, ok: bool, **extra: object) -> CheckResult:
        at = START - timedelta(seconds=ago_s)
        return CheckResult(probe=probe, component="orders", region=EU, location="loc-a",
                           intended_at=at, started_at=at, ok=ok, latency_ms=42.0,
                           **extra)  # type: ignore[arg-type]

    with session_scope(make_session_factory(app_engine)) as session:
        for spec in (tcp, tls, quiet):
            probe_store.save_probe(session, spec, START)
        probe_store.save_checks(session, [
            check(tcp.name, 90, True),
            check(tcp.name, 30, False, error="connection refused"),
            check(tls.name, 60, True, figures={"tls_days_left": 5.5}),
        ], START)
    html = admin.get("/admin/probes").get_data(as_text=True)

    def row(name: str) -> str:
        found = re.search(rf'<tr id="probe-{name}">(.*?)</tr>', html, re.S)
        assert found, name
        return re.sub(r"\s+", " ", text_of(found.group(1))).strip()

    assert "from loc-a (30 s ago) failed 42 ms: connection refused" in row(tcp.name)
    assert row(tcp.name).endswith("—")
    assert "OK 42 ms" in row(tls.name)
    assert "5.5 (expires 2026-10-06)" in row(tls.name)
    assert "No check stored yet." in row(quiet.name)
    home = text_of(admin.get("/admin").get_data(as_text=True))
    assert re.search(r"\d+ probes, \d+ failing at their last check\.", home)
    assert re.search(r"\d+ certificates? expire within 14 days\.", home)
