"""The account manager's pages: customers created, edited and deleted through forms with the
API's own checks and words, CSRF on every form, roles, and the error budgets page."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from commerce import store as commerce_store
from core.db import make_session_factory, session_scope
from core.models import Role
from reports.models import Customer
from reports.store import BURN_RATE_ORIGIN
from tests.reports.builders import EU, US, add_incident
from tests.reports.conftest import NOW, MadeUser, bearer, log_in


def commerce_project(engine: Engine, region: str = EU) -> str:
    """A project in the region's commerce set, as an admin would have made it."""
    key = f"shop-{uuid.uuid4().hex[:8]}"
    with session_scope(make_session_factory(engine)) as session:
        commerce_store.create_project(session, region, key, NOW)
    return key


def csrf_of(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return str(session["csrf"])


def form(client: FlaskClient, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(client), "plan": "premium", "period_basis": "calendar",
            **fields}


def customer_named(engine: Engine, name: str) -> Customer | None:
    with make_session_factory(engine)() as session:
        customer = session.scalar(select(Customer).where(Customer.name == name))
        if customer is not None:
            session.expunge(customer)
        return customer


def error_of(page: str) -> str:
    found = re.search(r'<p class="error" role="alert" id="form-error">(.*?)</p>', page, re.S)
    assert found is not None, page
    return html.unescape(found.group(1))


def test_an_account_manager_creates_their_customer_through_the_form(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    manager_id, _ = make_user(Role.ACCOUNT_MANAGER)
    eu_key, us_key = commerce_project(app_engine), commerce_project(app_engine, US)
    log_in(api, manager_id)
    empty = api.get("/reports/customers").get_data(as_text=True)
    assert 'href="/reports/customers/new"' in empty
    blank = api.get("/reports/customers/new").get_data(as_text=True)
    assert 'name="account_manager_id"' not in blank  # only admins assign
    assert "Incidents" not in blank
    assert "Maintenance" not in blank
    name = f"Shop {uuid.uuid4().hex[:6]}"
    created = api.post("/reports/customers/new", data=form(
        api, name=name, monthly_fee="2,500.00", **{f"projects-{EU}": f"{eu_key}\n",
                                                    f"projects-{US}": us_key}))
    assert (created.status_code, created.headers["Location"]) == (303, "/reports/customers")
    customer = customer_named(app_engine, name)
    assert customer is not None
    assert (customer.account_manager_id, customer.monthly_fee_cents) == (manager_id, 250_000)
    listing = api.get("/reports/customers").get_data(as_text=True)
    assert f"Saved customer {name}." in listing
    assert "2,500.00 USD" in listing
    assert f"{eu_key} ({EU})" in listing
    assert f"{us_key} ({US})" in listing
    edit = api.get(f"/reports/customers/{customer.id}/edit").get_data(as_text=True)
    assert 'value="2500.00"' in edit
    assert f">{eu_key}</textarea>" in edit
    saved = api.post(f"/reports/customers/{customer.id}/edit", data=form(
        api, name=name, plan="standard", **{f"projects-{EU}": eu_key}))
    assert saved.status_code == 303
    edited = customer_named(app_engine, name)
    assert edited is not None
    assert (edited.plan, edited.monthly_fee_cents) == ("standard", None)


def test_the_form_refuses_with_the_apis_words_and_keeps_what_was_typed(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    manager_id, _ = make_user(Role.ACCOUNT_MANAGER)
    _, admin = make_user(Role.ADMIN)
    log_in(api, manager_id)
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
             ({"name": " "}, {"name": " ", "projects": []}),
             ({"name": "Ghost shop", f"projects-{EU}": "not-in-commerce"},
              {"name": "Ghost shop", "projects": [{"project_key": "not-in-commerce",
                                                   "region": EU}]}),
             ({"name": "Bad key", f"projects-{EU}": "Shop_A"},
              {"name": "Bad key", "projects": [{"project_key": "Shop_A", "region": EU}]}),
             ({"name": "Odd fee", "monthly_fee": "12.345"},
              {"name": "Odd fee", "monthly_fee_cents": "12.345", "projects": []})]
    for fields, body in cases:
        page = api.post("/reports/customers/new", data=form(api, **fields))
        assert page.status_code == 400
        problem = api.post("/api/v1/customers", json={"plan": "premium", **body},
                           headers=bearer(admin)).get_json()
        assert error_of(page.get_data(as_text=True)) == problem["detail"]
        if "name" in fields and fields["name"].strip():
            assert f'value="{fields["name"]}"' in page.get_data(as_text=True)
            assert customer_named(app_engine, fields["name"]) is None
    assert "no such commerce project: 'not-in-commerce' in europe-west1.gcp" in problem_of(
        api, admin, "not-in-commerce")


def problem_of(api: FlaskClient, admin: str, key: str) -> str:
    answer = api.post("/api/v1/customers", json={
        "name": "x", "projects": [{"project_key": key, "region": EU}]}, headers=bearer(admin))
    return str(answer.get_json()["detail"])


def test_a_form_without_its_csrf_token_stores_nothing(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    manager_id, _ = make_user(Role.ACCOUNT_MANAGER)
    log_in(api, manager_id)
    answer = api.post("/reports/customers/new", data={"name": "Forged", "plan": "standard"})
    assert answer.status_code == 400
    assert customer_named(app_engine, "Forged") is None


def test_admins_assign_managers_and_managers_touch_only_their_own(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    admin_id, _ = make_user(Role.ADMIN)
    alice_id, _ = make_user(Role.ACCOUNT_MANAGER)
    bob_id, _ = make_user(Role.ACCOUNT_MANAGER)
    log_in(api, admin_id)
    assert 'name="account_manager_id"' in api.get("/reports/customers/new").get_data(
        as_text=True)
    name = f"Bob's {uuid.uuid4().hex[:6]}"
    api.post("/reports/customers/new", data=form(
        api, name=name, account_manager_id=str(bob_id),
        **{f"projects-{EU}": commerce_project(app_engine)}))
    customer = customer_named(app_engine, name)
    assert customer is not None
    assert customer.account_manager_id == bob_id
    shown = name.replace("'", "&#39;")
    assert shown in api.get("/reports/customers").get_data(as_text=True)  # admins see all
    log_in(api, alice_id)
    assert shown not in api.get("/reports/customers").get_data(as_text=True)
    assert api.get(f"/reports/customers/{customer.id}/edit").status_code == 404
    assert api.post(f"/reports/customers/{customer.id}/delete",
                    data={"csrf_token": csrf_of(api)}).status_code == 404
    log_in(api, bob_id)
    confirm = api.get(f"/reports/customers/{customer.id}/delete").get_data(as_text=True)
    assert "There is no archive" in confirm
    deleted = api.post(f"/reports/customers/{customer.id}/delete",
                       data={"csrf_token": csrf_of(api)})
    assert deleted.status_code == 303
    assert customer_named(app_engine, name) is None
    assert "Deleted customer" in api.get("/reports/customers").get_data(as_text=True)


def test_the_budgets_page_shows_budget_left_per_line_and_open_burn_rate_alerts(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    manager_id, manager = make_user(Role.ACCOUNT_MANAGER)
    support_id, _ = make_user(Role.SUPPORT)
    name = f"Budget shop {uuid.uuid4().hex[:6]}"
    created = api.post("/api/v1/customers", headers=bearer(manager), json={
        "name": name, "plan": "premium",
        "projects": [{"project_key": commerce_project(app_engine), "region": EU}]})
    assert created.status_code == 201
    with session_scope(make_session_factory(app_engine)) as session:
        add_incident(session, [("orders", EU)], NOW - timedelta(minutes=20),
                     origin=BURN_RATE_ORIGIN, title="Error budget burning fast")
    log_in(api, manager_id)
    page = api.get("/reports/budgets").get_data(as_text=True)
    assert f"{name} (premium)" in page
    alerts = re.search(r'<table id="burn-alerts">(.*?)</table>', page, re.S)
    assert alerts is not None
    assert "orders" in alerts.group(1)
    assert "page (burning fast)" in alerts.group(1)
    orders = re.search(r"<tr><td>orders</td><td>europe-west1.gcp</td>(.*?)</tr>", page, re.S)
    assert orders is not None
    assert "99.99" in orders.group(1)  # premium's tier 1 target
    assert "page open" in orders.group(1)
    log_in(api, support_id)
    assert api.get("/reports/budgets").status_code == 403
