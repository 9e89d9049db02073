"""Maintenance at short notice in a customer's report (issue 12): per the SLA spec only
planned servicing announced 7 days ahead is excluded, so a short-notice window's failed
minutes stay downtime; the report page and the PDF list the window with its reason."""

from __future__ import annotations

import io
from datetime import timedelta

from flask.testing import FlaskClient
from pypdf import PdfReader

from core.db import make_engine, make_session_factory, session_scope
from core.models import Role
from reports.models import Customer
from reports.monthly import CustomerInfo, customer_report
from sla.period import month_period
from tests.reports.builders import (
    EU,
    OCTOBER,
    add_customer,
    add_maintenance,
    add_user_with_token,
    insert_rollups,
)
from tests.reports.conftest import NOW, log_in

REASON = "Driver CVE <2026-0001> & a vendor deadline"


def seed(url: str) -> tuple[int, int]:
    """Orders down for 30 minutes under a short-notice window, carts up under a planned
    one of 60 minutes; (customer id, manager id)."""
    engine = make_engine(url)
    period = month_period("2026-10")
    minutes = range(period.first_minute, period.end_minute)
    outage_start = OCTOBER + timedelta(days=9, hours=3)
    first = period.first_minute + 9 * 1440 + 180
    with session_scope(make_session_factory(engine)) as session:
        manager, _ = add_user_with_token(session, Role.ACCOUNT_MANAGER)
        customer = add_customer(session, "Acme", [("acme-eu", EU)], plan="premium",
                                manager=manager, fee_cents=100_000)
        insert_rollups(session, "orders", EU, [
            (m, "down" if first <= m < first + 30 else "up", 3) for m in minutes])
        insert_rollups(session, "carts", EU, [(m, "up", 3) for m in minutes])
        short = add_maintenance(session, outage_start, outage_start + timedelta(minutes=30),
                                [("orders", EU)])
        short.short_notice_reason = REASON
        short.title = "Emergency driver patch"
        add_maintenance(session, OCTOBER + timedelta(days=12),
                        OCTOBER + timedelta(days=12, hours=1), [("carts", EU)])
        ids = customer.id, manager.id
    engine.dispose()
    return ids


def test_short_notice_minutes_count_as_downtime_and_the_report_lists_the_window(
        api: FlaskClient, module_url: str) -> None:
    customer_id, manager_id = seed(module_url)
    engine = make_engine(module_url)
    with session_scope(make_session_factory(engine)) as session:
        row = session.get(Customer, customer_id)
        assert row is not None
        report = customer_report(session, CustomerInfo.of(row), "2026-10", NOW)
    engine.dispose()
    lines = {(item.line.component, item.line.region): item.line for item in report.lines}
    assert (lines[("orders", EU)].downtime_minutes,
            lines[("orders", EU)].maintenance_minutes) == (30, 0)
    assert (lines[("carts", EU)].downtime_minutes,
            lines[("carts", EU)].maintenance_minutes) == (0, 60)
    [window] = report.short_notice
    assert (window.title, window.reason, window.affected) == (
        "Emergency driver patch", REASON, (("orders", EU),))
    assert window.end - window.start == timedelta(minutes=30)

    log_in(api, manager_id)
    html = api.get(f"/reports/customers/{customer_id}/2026-10").get_data(as_text=True)
    assert "Maintenance at short notice" in html
    assert "Driver CVE &lt;2026-0001&gt; &amp; a vendor deadline" in html
    assert "they are <strong>not</strong> excluded" in html
    assert "2026-10-10 03:00" in html
    assert "orders (europe-west1.gcp)" in html

    pdf = api.get(f"/reports/customers/{customer_id}/2026-10/export?format=pdf")
    assert pdf.status_code == 200
    text = " ".join(" ".join((page.extract_text() or "").split())
                    for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Maintenance at short notice" in text
    assert "Driver CVE <2026-0001> & a vendor deadline" in text
    assert "these windows are not excluded" in text
