"""Accessibility and best practices measured by the tools people use, against a live
instance: axe's CLI (@axe-core/cli, driving Debian's Chromium through Debian's
chromedriver) on every HTML page the app routes, public and behind the login, with no
serious or critical violation; Lighthouse (12.2.3) scoring accessibility and best
practices at least 95 on the overview, a region page and the account manager's report.

The pages are every GET rule of the app that answers HTML, so a page added later is
measured without touching this file (a route parameter it cannot fill fails the test).
Pages behind the login are reached through tests.support.cookie_proxy for axe (it cannot
set a cookie) and with --extra-headers for Lighthouse.

Their markup does not depend on the database, so these run in the SQLite pass only; the
journeys (test_browser, test_account_manager, test_support_engineer, test_admin) run in
both. The Node tools are pinned in tools/package-lock.json and installed by ./dev test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from commerce import store as commerce_store
from core import migrate
from core.auth import create_token, create_user
from core.config import Settings
from core.db import session_scope
from core.models import Role
from core.runtime import Runtime
from core.servers import Listener
from status.announce import links_for
from status.models import Subscriber
from tests.e2e.test_account_manager import seed as seed_rollups
from tests.e2e.test_browser import seed as seed_states
from tests.support.browser import ARTIFACTS, CHROMIUM, chromium_or_skip, required_or_skip
from tests.support.cookie_proxy import cookie_proxy
from tests.support.databases import create_database, drop_database, postgres_server_url

pytestmark = pytest.mark.e2e
TOOLS = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / ".bin"
CHROMEDRIVER = "/usr/bin/chromedriver"
REGION = "europe-west1.gcp"
PASSWORD = "correct horse battery staple"
ADMIN, MANAGER, SUPPORT = "root@example.test", "ada@example.test", "sam@example.test"
#: Paths that answer something other than a page (documents, feeds, images, exports).
NOT_PAGES = re.compile(r"^/(api|static)/|\.(json|svg|atom|rss|js|txt)$|^/(metrics|healthz)$"
                       r"|/export$")
SERIOUS = {"serious", "critical"}
#: Bounds for a loaded machine: on an idle one axe takes about a second a page and a
#: Lighthouse run 10–20 s; with 8 test runs sharing 2 cores they took 5–10 times that.
AXE_TIMEOUT_S, LIGHTHOUSE_TIMEOUT_S = 420, 240


@dataclass(frozen=True)
class Instance:
    web: Listener
    app: Flask
    #: Every page to measure: its URL path and whether it needs a login.
    public: tuple[str, ...]
    private: tuple[str, ...]
    admin_cookie: str
    manager_cookie: str
    report: str


def tools_or_skip() -> None:
    chromium_or_skip()
    required_or_skip((TOOLS / "axe").exists() and (TOOLS / "lighthouse").exists(),
                     "axe and Lighthouse (tools/package.json)",
                     "./dev test runs npm ci --ignore-scripts --prefix tools")
    required_or_skip(shutil.which(CHROMEDRIVER) is not None,
                     "chromedriver (Debian package chromium-driver)",
                     "apt-get install chromium-driver, or run ./dev test")
    browser = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    driver = subprocess.run([CHROMEDRIVER, "--version"], capture_output=True, text=True).stdout
    version = re.compile(r"\b(\d+\.\d+\.\d+\.\d+)\b")
    assert version.findall(browser)[:1] == version.findall(driver)[:1], (
        f"chromedriver must match Chromium: {driver.strip()} against {browser.strip()}")


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    if postgres_server_url() is not None:
        pytest.skip("axe and Lighthouse measure markup, not storage: the SQLite pass runs them")
    tools_or_skip()
    tmp = tmp_path_factory.mktemp("a11y")
    url = create_database(tmp, "a11y")
    migrate.upgrade(url)
    web = Listener("a11y-web", None)
    settings = replace(Settings(), data_dir=tmp, database_url=url, secret_key="a11y-secret",
                       public_url=web.url)
    app = create_app(settings)
    web.app = app
    try:
        yield build(web, app)
    finally:
        web.stop()
        app.extensions["bellwether"].engine.dispose()
        drop_database(url)


def build(web: Listener, app: Flask) -> Instance:
    """Seed what every page has something to show about, start serving, and list the pages."""
    runtime: Runtime = app.extensions["bellwether"]
    seed_states(runtime)
    seed_rollups(app)  # also Ada, the account manager, and her shop's project
    now = runtime.clock.now()
    with session_scope(runtime.session_factory) as session:
        root = create_user(session, email=ADMIN, role=Role.ADMIN, now=now, password=PASSWORD)
        create_user(session, email=SUPPORT, role=Role.SUPPORT, now=now, password=PASSWORD)
        token = create_token(session, root, name="a11y", now=now)
        commerce_store.create_project(session, "us-central1.gcp", "ada-shop-us", now)
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    manager_id = _user_id(runtime, MANAGER)
    customer = _json(api.post("/api/v1/customers", headers=auth, json={
        "name": "Ada's Shop", "plan": "premium", "account_manager_id": manager_id,
        "monthly_fee_cents": 120_000,
        "projects": [{"project_key": "ada-shop-eu", "region": REGION},
                     {"project_key": "ada-shop-us", "region": "us-central1.gcp"}]}), 201)
    incident = _json(api.post("/api/v1/incidents", headers=auth, json={
        "title": "Checkout fails in Europe", "impact": "major",
        "message": "Orders cannot be placed; we are on it.",
        "components": [{"component": "orders", "region": REGION,
                        "state": "major_outage"}]}), 201)
    _json(api.post(f"/api/v1/incidents/{incident['id']}/updates", headers=auth, json={
        "status": "identified", "body": "A bad deploy; rolling back."}), 201)
    start = now + timedelta(days=8)
    window = _json(api.post("/api/v1/maintenance", headers=auth, json={
        "title": "Database upgrade", "message": "Orders may be slow.",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "components": ["orders"], "regions": [REGION]}), 201)
    _json(api.post("/api/v1/subscribers", json={
        "kind": "email", "address": "grace@example.test", "regions": [REGION]}), 201)
    month = f"{now.year:04d}-{now.month:02d}"
    values = {"region": REGION, "component": "orders", "days": 90, "month": month,
              "incident_id": incident["id"], "maintenance_id": window["id"],
              "window_id": window["id"], "customer_id": customer["id"]}
    web.start()
    public, private = pages(app, values, _tokens(runtime))
    return Instance(web, app, public, private, _cookie(app, ADMIN), _cookie(app, MANAGER),
                    report=f"/reports/customers/{customer['id']}/{month}")


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code in (status, 200), (response.status_code, response.get_data())
    return response.get_json()


def _user_id(runtime: Runtime, email: str) -> int:
    from core.models import User

    with session_scope(runtime.session_factory) as session:
        return int(session.scalar(select(User.id).where(User.email == email)) or 0)


def _tokens(runtime: Runtime) -> dict[str, str]:
    """Links from a subscriber's emails, one per purpose."""
    links = links_for(runtime.settings, runtime.clock)
    with session_scope(runtime.session_factory) as session:
        subscriber = session.scalars(select(Subscriber)).one()
        return {purpose: links.make(purpose, subscriber.id, subscriber.address)
                for purpose in ("confirm", "manage", "unsubscribe")}


def _cookie(app: Flask, email: str) -> str:
    """The session cookie a browser gets by logging in as `email` (the login form, posted
    with its CSRF token)."""
    client: FlaskClient = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    answer = client.post("/login", data={"email": email, "password": PASSWORD,
                                         "csrf_token": csrf.group(1)})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    cookie = client.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}"


def pages(app: Flask, values: dict[str, Any], tokens: dict[str, str]
          ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every GET route answering HTML, split into public pages and pages behind the login
    (those that send an anonymous browser to /login)."""
    adapter = app.url_map.bind("127.0.0.1")
    anonymous, admin = app.test_client(), app.test_client()
    admin.set_cookie("session", _cookie(app, ADMIN).removeprefix("session="))
    public: list[str] = ["/does-not-exist"]
    private: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()) or NOT_PAGES.search(rule.rule):
            continue
        filled = dict(values)
        if "token" in rule.arguments:
            purpose = next((p for p in tokens if p in rule.endpoint), None)
            assert purpose, f"no token for {rule.endpoint}: teach test_accessibility"
            filled["token"] = tokens[purpose]
        missing = set(rule.arguments) - set(filled)
        assert not missing, f"{rule.rule}: no example for {missing}: teach test_accessibility"
        path = adapter.build(rule.endpoint, {k: filled[k] for k in rule.arguments})
        answer = anonymous.get(path)
        if answer.status_code in (302, 303) and "/login" in answer.headers["Location"]:
            answer = admin.get(path)
            target = private
        else:
            target = public
        if answer.mimetype != "text/html":
            continue
        assert answer.status_code == 200, (path, answer.status_code)
        target.append(path)
    return tuple(public), tuple(private)


def run_axe(urls: list[str], name: str) -> list[dict[str, Any]]:
    """axe's CLI on the URLs in one browser; its JSON results (one per URL), also kept in
    test-artifacts/axe/<name>.json."""
    out = ARTIFACTS / "axe"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").unlink(missing_ok=True)
    done = subprocess.run(
        [str(TOOLS / "axe"), *urls, "--chromedriver-path", CHROMEDRIVER,
         "--chrome-path", CHROMIUM,
         "--chrome-options", "no-sandbox,disable-gpu,disable-dev-shm-usage,window-size=1200,1000",
         "--timeout", "120", "--save", f"{name}.json", "--dir", str(out)],
        capture_output=True, text=True, timeout=AXE_TIMEOUT_S, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    results: list[dict[str, Any]] = json.loads((out / f"{name}.json").read_text())
    return results


def serious(results: list[dict[str, Any]]) -> list[str]:
    return [f"{r['url']}: {v['id']} ({v['impact']}): {v['help']}: "
            f"{[n['target'] for n in v['nodes']][:5]}"
            for r in results for v in r["violations"] if v["impact"] in SERIOUS]


@pytest.mark.timeout(AXE_TIMEOUT_S + 120)
def test_axe_finds_no_serious_violation_on_any_public_page(instance: Instance) -> None:
    # What an HTML page is must not have drifted: the pages the journeys know are listed.
    assert {"/", f"/regions/{REGION}/", "/subscribe", "/login", "/history"} <= set(
        instance.public)
    urls = [instance.web.url + p for p in instance.public]
    results = run_axe(urls, "public")
    assert sorted(r["url"] for r in results) == sorted(urls)
    assert serious(results) == []


@pytest.mark.timeout(AXE_TIMEOUT_S + 60)
def test_axe_finds_no_serious_violation_on_any_page_behind_the_login(
        instance: Instance) -> None:
    assert {"/admin/incidents", "/admin/maintenance", "/reports/customers",
            instance.report} <= set(instance.private)
    with cookie_proxy(instance.web.url, instance.admin_cookie) as behind_login:
        urls = [behind_login + p for p in instance.private]
        results = run_axe(urls, "behind-login")
    assert sorted(r["url"] for r in results) == sorted(urls)
    assert serious(results) == []


def run_lighthouse(url: str, name: str, cookie: str | None = None
                   ) -> tuple[dict[str, int], list[str]]:
    """Lighthouse's accessibility and best-practices scores (0–100) for one page, and the
    audits that did not pass; its JSON and HTML reports go to test-artifacts/lighthouse/."""
    out = ARTIFACTS / "lighthouse"
    out.mkdir(parents=True, exist_ok=True)
    command = [str(TOOLS / "lighthouse"), url, "--quiet",
               "--only-categories=accessibility,best-practices",
               "--output=json", "--output=html", f"--output-path={out / name}",
               "--preset=desktop", "--throttling-method=provided", "--max-wait-for-load=30000",
               "--chrome-flags=--headless=new --no-sandbox --disable-gpu "
               "--disable-dev-shm-usage"]
    if cookie is not None:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    done = subprocess.run(command, capture_output=True, text=True, timeout=LIGHTHOUSE_TIMEOUT_S,
                          check=False,
                          env={**os.environ, "CHROME_PATH": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / f"{name}.report.json").read_text())
    assert report["finalDisplayedUrl"].rstrip("/") == url.rstrip("/"), "redirected"
    failed = [f"{a['id']}: {a['title']}" for a in report["audits"].values()
              if a.get("score") is not None and a["score"] < 1
              and a.get("scoreDisplayMode") == "binary"]
    scores = {key: round(report["categories"][key]["score"] * 100)
              for key in ("accessibility", "best-practices")}
    return scores, failed


@pytest.mark.parametrize("page", ["overview", "region", "report"])
def test_lighthouse_scores_accessibility_and_best_practices_at_least_95(
        instance: Instance, page: str) -> None:
    url, cookie = {"overview": (f"{instance.web.url}/", None),
                   "region": (f"{instance.web.url}/regions/{REGION}/", None),
                   "report": (instance.web.url + instance.report, instance.manager_cookie)}[page]
    scores, failed = run_lighthouse(url, page, cookie)
    assert scores["accessibility"] >= 95, (scores, failed)
    assert scores["best-practices"] >= 95, (scores, failed)
