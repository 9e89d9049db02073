"""A customer's monthly report through the API (JSON, CSV, PDF) and the web page; roles;
error budgets; bad input."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader

from core.db import make_engine, make_session_factory, session_scope
from core.models import Role
from reports.store import BURN_RATE_ORIGIN
from sla.export import LINE_FIELDS
from sla.period import month_period
from tests.reports.builders import (
    EU,
    OCTOBER,
    US,
    add_customer,
    add_incident,
    add_maintenance,
    add_user_with_token,
    insert_rollups,
)
from tests.reports.conftest import bearer, log_in

AU = "australia-southeast1.gcp"
SERVICES = ("audit-log", "auth", "carts", "import", "messages", "orders", "products", "search")


@dataclass(frozen=True)
class Seeded:
    customer_id: int
    other_customer_id: int
    alice_id: int
    alice: str
    bob_id: int
    bob: str
    admin: str
    support: str
    incident_id: int


def october_minutes() -> range:
    period = month_period("2026-10")
    return range(period.first_minute, period.end_minute)


@pytest.fixture(scope="module")
def seeded(module_url: str) -> Seeded:
    """One customer (premium, EU) with a month of rollups, an outage and incidents."""
    engine = make_engine(module_url)
    with session_scope(make_session_factory(engine)) as session:
        alice, alice_token = add_user_with_token(session, Role.ACCOUNT_MANAGER)
        bob, bob_token = add_user_with_token(session, Role.ACCOUNT_MANAGER)
        _, admin = add_user_with_token(session, Role.ADMIN)
        _, support = add_user_with_token(session, Role.SUPPORT)
        customer = add_customer(session, "Acme <Shops> & Co", [("acme-eu", EU)],
                                plan="premium", manager=alice, fee_cents=900_000)
        other = add_customer(session, "Bob's Bikes", [("bikes", US)], manager=bob)
        minutes = october_minutes()
        outage = range(minutes[0] + 5 * 1440 + 600, minutes[0] + 5 * 1440 + 640)
        for component in ("orders", "carts", "transaction"):
            insert_rollups(session, component, EU, [
                (m, "down" if component == "orders" and m in outage else "up", 3)
                for m in minutes])
        insert_rollups(session, "inventory", AU, [(minutes[0], "up", 3)])
        add_maintenance(session, OCTOBER + timedelta(days=12), OCTOBER + timedelta(days=12,
                        hours=1), [("carts", EU)])
        opened = OCTOBER + timedelta(days=5, hours=10, minutes=2)
        incident = add_incident(session, [("orders", EU), ("orders", US)], opened,
                                first_failure_at=opened - timedelta(minutes=2),
                                acknowledged_at=opened + timedelta(minutes=25),
                                resolved_at=opened + timedelta(minutes=40))
        add_incident(session, [("orders", EU)], opened, origin=BURN_RATE_ORIGIN,
                     title="Error budget burning fast")
        add_incident(session, [("carts", US)], opened, title="Only in the US")
        seeded = Seeded(customer.id, other.id, alice.id, alice_token, bob.id, bob_token,
                        admin, support, incident.id)
    engine.dispose()
    return seeded


def report_url(customer_id: int, month: str = "2026-10", fmt: str | None = None) -> str:
    url = f"/api/v1/customers/{customer_id}/reports/{month}"
    return url if fmt is None else f"{url}?format={fmt}"


def test_the_report_has_a_line_per_component_of_each_region_with_incidents_and_credits(
        api: FlaskClient, seeded: Seeded) -> None:
    answer = api.get(report_url(seeded.customer_id), headers=bearer(seeded.alice))
    assert answer.status_code == 200
    report = answer.get_json()
    assert (report["month"], report["plan"], report["complete"]) == ("2026-10", "premium", True)
    lines = {(line["component"], line["region"]): line for line in report["lines"]}
    assert sorted(lines) == sorted([(c, EU) for c in (*SERVICES, "transaction")])
    orders = lines[("orders", EU)]
    assert list(orders)[:len(LINE_FIELDS)] == list(LINE_FIELDS)
    assert (orders["downtime_minutes"], orders["met"], orders["credit_pct"]) == (40, False, 10)
    assert orders["credit_cents"] == 10_000  # 900,000 split over 9 lines, 10 % of that
    assert lines[("carts", EU)]["maintenance_minutes"] == 60
    assert lines[("auth", EU)]["coverage_pct"] == 0.0
    assert lines[("auth", EU)]["coverage_warning"] is True
    assert len(orders["days"]) == 31
    assert orders["days"][5]["downtime_minutes"] == 40
    assert report["totals"]["downtime_minutes"] == 40
    assert report["totals"]["credit_cents"] == 10_000
    [incident] = report["incidents"]
    assert incident["id"] == seeded.incident_id
    assert incident["affected"] == [{"component": "orders", "region": EU}]
    assert incident["tier"] == 1
    assert incident["time_to_detect_minutes"] == 2.0
    assert (incident["time_to_acknowledge_minutes"], incident["acknowledge"]) == (25.0,
                                                                                  "missed")
    assert (incident["time_to_resolve_minutes"], incident["resolve"]) == (40.0, "met")
    assert incident["objectives"] == {"acknowledge_minutes": 20, "resolve_minutes": 60,
                                      "rpo_minutes": 120}


def test_the_csv_export_has_the_contract_fields_then_what_reports_add(
        api: FlaskClient, seeded: Seeded) -> None:
    answer = api.get(report_url(seeded.customer_id, fmt="csv"), headers=bearer(seeded.admin))
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0] == [*LINE_FIELDS, "coverage_pct", "coverage_warning",
                       "single_location_minutes", "credit_cents"]
    assert len(rows) == 10
    orders = dict(zip(rows[0], next(r for r in rows if r[0] == "orders"), strict=True))
    assert (orders["downtime_minutes"], orders["met"], orders["credit_cents"]) == (
        "40", "false", "10000")


def test_the_pdf_export_shows_the_figures_as_text(api: FlaskClient, seeded: Seeded) -> None:
    answer = api.get(report_url(seeded.customer_id, fmt="pdf"), headers=bearer(seeded.alice))
    assert answer.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Bellwether: SLA report for Acme <Shops> & Co, 2026-10" in text
    cells = r"\s+".join(("orders", r"europe-west1\.gcp", "1", r"99\.99", r"99\.9104", "40", "0",
                        "0", "44640", "NO", "10", r"100\.00"))
    assert re.search(cells, text)
    assert "Orders failing" in text
    assert "25 min / 20 min: missed" in text
    assert "Only in the US" not in text
    assert "burning" not in text
    assert "credit 100.00 USD" in text  # 10,000 cents, in the currency
    assert "Monthly fee 9,000.00 USD" in text
    for internal in ("Coverage", "Single loc", "(!)"):
        assert internal not in text
    assert "No data: minutes our monitoring could not measure" in text  # the legend
    assert reader.metadata is not None
    created = reader.metadata.creation_date
    assert created is not None
    assert created.year == 2026  # the report's moment, not reportlab's invariant 2000
    assert (created.month, created.day, created.hour, created.minute) == (11, 2, 9, 30)
    assert reader.metadata.author == "Bellwether"


@pytest.mark.parametrize(("month", "status", "code"), [
    ("2026-13", 400, "bad_sla_input"), ("october", 400, "bad_sla_input"),
    ("2027-01", 400, "month_not_started")])
def test_a_bad_month_gets_a_clear_error(api: FlaskClient, seeded: Seeded, month: str,
                                        status: int, code: str) -> None:
    answer = api.get(report_url(seeded.customer_id, month), headers=bearer(seeded.alice))
    assert (answer.status_code, answer.get_json()["error"]) == (status, code)


def test_a_bad_format_gets_a_clear_error(api: FlaskClient, seeded: Seeded) -> None:
    answer = api.get(report_url(seeded.customer_id, fmt="xlsx"), headers=bearer(seeded.alice))
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "bad_format",
                                 "detail": "'format' must be one of json, csv, pdf, not 'xlsx'"}


def test_reports_follow_the_customer_roles(api: FlaskClient, seeded: Seeded) -> None:
    assert api.get(report_url(seeded.customer_id), headers=bearer(seeded.bob)).status_code \
        == 404
    assert api.get(report_url(seeded.other_customer_id),
                   headers=bearer(seeded.bob)).status_code == 200
    assert api.get(report_url(seeded.customer_id), headers=bearer(seeded.admin)).status_code \
        == 200
    assert api.get(report_url(seeded.customer_id),
                   headers=bearer(seeded.support)).status_code == 403
    assert api.get(report_url(seeded.customer_id)).status_code == 401


def test_the_report_page_draws_both_charts_with_local_plotly(
        api: FlaskClient, seeded: Seeded) -> None:
    log_in(api, seeded.alice_id)
    page = api.get(f"/reports/customers/{seeded.customer_id}/2026-10")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Acme &lt;Shops&gt; &amp; Co" in html  # autoescaped
    assert "Acme <Shops>" not in html
    assert '<script src="/static/plotly.min.js" defer></script>' in html
    assert '<script src="/static/report-charts.js" defer></script>' in html
    assert "cdn" not in html.lower()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    inline = [attrs for attrs, body in scripts
              if body.strip() and 'type="application/json"' not in attrs]
    assert inline == []  # CSP: script-src 'self' blocks any inline script
    assert "Plotly.newPlot" not in html
    [island] = [body for attrs, body in scripts if 'id="report-charts"' in attrs]
    charts = json.loads(island)
    assert charts["daily"]["data"][0]["type"] == "heatmap"
    assert len(charts["burn"]["data"]) == 9
    assert "Orders failing" in html
    assert "25 min / 20 min: missed" in html
    assert "40 min (60 min): met" in html
    download = api.get(f"/reports/customers/{seeded.customer_id}/2026-10/export?format=pdf")
    assert download.mimetype == "application/pdf"
    plotly = api.get("/static/plotly.min.js")
    plotly.close()
    assert (plotly.status_code, plotly.mimetype) == (200, "text/javascript")
    drawing = api.get("/static/report-charts.js")
    drawing.close()
    assert (drawing.status_code, drawing.mimetype) == (200, "text/javascript")


def test_a_month_in_progress_shows_month_to_date_beside_the_projection(
        api: FlaskClient, seeded: Seeded, module_url: str) -> None:
    """On 2 November 09:30 only 2,010 minutes of November are over: the headline is over
    those, not over 43,200 minutes mostly still to come counted as no data."""
    november = month_period("2026-11")
    elapsed = 1440 + 9 * 60 + 30
    engine = make_engine(module_url)
    with session_scope(make_session_factory(engine)) as session:
        insert_rollups(session, "carts", EU, [
            (november.first_minute + m, "down" if m < 30 else "up", 3)
            for m in range(elapsed)])
    engine.dispose()
    report = api.get(report_url(seeded.customer_id, "2026-11"),
                     headers=bearer(seeded.alice)).get_json()
    assert report["complete"] is False
    lines = len(report["lines"])
    assert report["to_date"]["elapsed_minutes"] == lines * elapsed
    assert report["to_date"]["downtime_minutes"] == 30
    assert report["to_date"]["uptime_pct"] == round(100 * (1 - 30 / (lines * elapsed)), 4)
    assert report["totals"]["eligible_minutes"] == lines * 43_200  # the projection's
    carts = next(line for line in report["lines"] if line["component"] == "carts")
    assert carts["to_date"]["eligible_minutes"] == elapsed
    assert carts["to_date"]["no_data_minutes"] == 0
    log_in(api, seeded.alice_id)
    html = api.get(f"/reports/customers/{seeded.customer_id}/2026-11").get_data(as_text=True)
    to_date = re.search(r'<p id="to-date">(.*?)</p>', html, re.S)
    assert to_date is not None
    words = " ".join(to_date.group(1).split())
    assert f"uptime <strong>{report['to_date']['uptime_pct']:.4f} %</strong>" in words
    assert f"over {elapsed:,} elapsed minutes" in words
    projection = re.search(r'<p id="projection">(.*?)</p>', html, re.S)
    assert projection is not None
    assert f"{43_200 - elapsed:,} minutes still to come" in " ".join(projection.group(1).split())
    assert f"{report['totals']['uptime_pct']}" in projection.group(1)


def test_the_pages_follow_the_roles_of_the_web_session(
        api: FlaskClient, seeded: Seeded) -> None:
    anonymous = api.get(f"/reports/customers/{seeded.customer_id}/2026-10")
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    log_in(api, seeded.bob_id)
    assert api.get(f"/reports/customers/{seeded.customer_id}/2026-10").status_code == 404
    listing = api.get("/reports/customers").get_data(as_text=True)
    assert "Bob&#39;s Bikes" in listing
    assert "Acme" not in listing


def test_error_budgets_are_for_support_and_admins(api: FlaskClient, seeded: Seeded) -> None:
    answer = api.get(f"/api/v1/budgets?region={EU}", headers=bearer(seeded.support))
    assert answer.status_code == 200
    budgets = {(b["component"], b["region"]): b for b in answer.get_json()["budgets"]}
    orders = budgets[("orders", EU)]
    assert orders["plan"] == "premium"  # a premium customer has a project in the region
    assert (orders["eligible_minutes"], orders["target_pct"]) == (43200, 99.99)
    assert api.get("/api/v1/budgets", headers=bearer(seeded.alice)).status_code == 403
    assert api.get("/api/v1/budgets").status_code == 401
    bad_plan = api.get("/api/v1/budgets?plan=gold", headers=bearer(seeded.support))
    assert (bad_plan.status_code, bad_plan.get_json()["error"]) == (400, "bad_sla_input")
    bad_region = api.get("/api/v1/budgets?region=mars", headers=bearer(seeded.admin))
    assert bad_region.status_code == 404
