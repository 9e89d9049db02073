"""/api/v1/customers: admins create, edit and assign; account managers create, edit and
delete only their own; others are refused; projects must exist in the commerce set; bad
input gets a clear problem and stores nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from commerce import store as commerce_store
from core.db import make_session_factory, session_scope
from core.models import Role
from reports.models import Customer, CustomerProject
from tests.reports.conftest import NOW, MadeUser, bearer

EU, US = "europe-west1.gcp", "us-central1.gcp"


def a_customer(manager_id: int | None = None, **overrides: Any) -> dict[str, Any]:
    key = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "name": f"Shop {key}", "plan": "premium", "account_manager_id": manager_id,
        "monthly_fee_cents": 250_000,
        "projects": [{"project_key": f"shop-{key}", "region": EU},
                     {"project_key": f"shop-{key}-us", "region": US}]}
    return {**body, **overrides}


#: A customer body whose projects exist in the commerce set.
Shop = Callable[..., dict[str, Any]]


def in_commerce(engine: Engine, projects: list[dict[str, str]]) -> None:
    """Create the commerce projects a customer body names (as an admin would first)."""
    with session_scope(make_session_factory(engine)) as session:
        for project in projects:
            if commerce_store.project_by_key(session, project["region"],
                                             project["project_key"]) is None:
                commerce_store.create_project(session, project["region"],
                                              project["project_key"], NOW)


@pytest.fixture
def shop(app_engine: Engine) -> Shop:
    def make(manager_id: int | None = None, **overrides: Any) -> dict[str, Any]:
        body = a_customer(manager_id, **overrides)
        if isinstance(body.get("projects"), list):
            in_commerce(app_engine, [p for p in body["projects"] if isinstance(p, dict)
                                     and set(p) == {"project_key", "region"}
                                     and str(p["project_key"]).islower()])
        return body

    return make


def stored(engine: Engine) -> tuple[int, int]:
    with make_session_factory(engine)() as session:
        return (session.scalar(select(func.count()).select_from(Customer)) or 0,
                session.scalar(select(func.count()).select_from(CustomerProject)) or 0)


def test_an_admin_creates_reads_edits_and_deletes_a_customer(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], shop: Shop,
        app_engine: Engine) -> None:
    _, admin = make_user(Role.ADMIN)
    manager_id, _ = make_user(Role.ACCOUNT_MANAGER)
    body = shop(manager_id)
    created = api.post("/api/v1/customers", json=body, headers=bearer(admin))
    assert created.status_code == 201
    customer = created.get_json()
    assert customer["regions"] == [EU, US]
    assert customer["plan"] == "premium"
    assert customer["period_basis"] == "calendar"
    assert customer["account_manager_id"] == manager_id
    url = f"/api/v1/customers/{customer['id']}"
    assert api.get(url, headers=bearer(admin)).get_json() == customer
    edited = {**body, "plan": "standard", "period_basis": "fixed_30d",
              "projects": [body["projects"][1], {"project_key": "extra", "region": EU}]}
    in_commerce(app_engine, edited["projects"])
    replaced = api.put(url, json=edited, headers=bearer(admin)).get_json()
    assert (replaced["plan"], replaced["period_basis"]) == ("standard", "fixed_30d")
    assert replaced["projects"] == edited["projects"]
    assert api.delete(url, headers=bearer(admin)).get_json() == {"deleted": customer["id"]}
    assert api.get(url, headers=bearer(admin)).status_code == 404


def test_an_account_manager_sees_only_their_own_customers(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], shop: Shop) -> None:
    _, admin = make_user(Role.ADMIN)
    alice_id, alice = make_user(Role.ACCOUNT_MANAGER)
    bob_id, _ = make_user(Role.ACCOUNT_MANAGER)
    mine = api.post("/api/v1/customers", json=shop(alice_id),
                    headers=bearer(admin)).get_json()
    theirs = api.post("/api/v1/customers", json=shop(bob_id),
                      headers=bearer(admin)).get_json()
    listed = api.get("/api/v1/customers", headers=bearer(alice)).get_json()["customers"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert api.get(f"/api/v1/customers/{mine['id']}", headers=bearer(alice)).status_code == 200
    refused = api.get(f"/api/v1/customers/{theirs['id']}", headers=bearer(alice))
    assert refused.status_code == 404  # never confirms another's customer exists
    assert refused.get_json()["error"] == "not_found"
    everyone = api.get("/api/v1/customers", headers=bearer(admin)).get_json()["customers"]
    assert {mine["id"], theirs["id"]} <= {c["id"] for c in everyone}


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.AGENT])
def test_other_roles_are_refused(api: FlaskClient, make_user: Callable[[Role], MadeUser],
                                 role: Role) -> None:
    _, token = make_user(role)
    assert api.get("/api/v1/customers", headers=bearer(token)).status_code == 403
    assert api.get("/api/v1/customers/1", headers=bearer(token)).status_code == 403
    created = api.post("/api/v1/customers", json=a_customer(), headers=bearer(token))
    assert created.status_code == 403
    assert created.get_json()["error"] == "forbidden"


def test_an_account_manager_creates_edits_and_deletes_only_their_own(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], shop: Shop) -> None:
    manager_id, manager = make_user(Role.ACCOUNT_MANAGER)
    other_id, _ = make_user(Role.ACCOUNT_MANAGER)
    _, admin = make_user(Role.ADMIN)
    created = api.post("/api/v1/customers", json=shop(), headers=bearer(manager))
    assert created.status_code == 201
    own = created.get_json()
    assert own["account_manager_id"] == manager_id  # a manager's new customer is theirs
    url = f"/api/v1/customers/{own['id']}"
    edited = api.put(url, json=shop(plan="standard"), headers=bearer(manager))
    assert (edited.status_code, edited.get_json()["plan"]) == (200, "standard")
    given_away = api.put(url, json=shop(other_id), headers=bearer(manager))
    assert given_away.status_code == 403
    assert "only an admin assigns" in given_away.get_json()["detail"]
    theirs = api.post("/api/v1/customers", json=shop(other_id), headers=bearer(admin))
    their_url = f"/api/v1/customers/{theirs.get_json()['id']}"
    assert api.put(their_url, json=shop(), headers=bearer(manager)).status_code == 404
    assert api.delete(their_url, headers=bearer(manager)).status_code == 404
    assert api.delete(url, headers=bearer(manager)).get_json() == {"deleted": own["id"]}


def test_a_project_missing_from_the_commerce_set_is_refused(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    _, admin = make_user(Role.ADMIN)
    before = stored(app_engine)
    answer = api.post("/api/v1/customers", json=a_customer(), headers=bearer(admin))
    assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_customer")
    assert "no such commerce project" in answer.get_json()["detail"]
    assert f"in {EU}" in answer.get_json()["detail"]
    assert stored(app_engine) == before


def test_without_a_token_the_answer_is_401(api: FlaskClient) -> None:
    answer = api.get("/api/v1/customers")
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorized"
    assert api.get("/api/v1/customers", headers=bearer("bw_not-a-token")).status_code == 401


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown field", {"colour": "red"}, "unknown field(s): colour"),
    ("no name", {"name": " "}, "'name' must be a string"),
    ("long name", {"name": "x" * 201}, "'name' must be a string"),
    ("bad plan", {"plan": "gold"}, "'plan' must be one of standard, premium"),
    ("bad basis", {"period_basis": "weekly"}, "'period_basis' must be one of"),
    ("negative fee", {"monthly_fee_cents": -1}, "'monthly_fee_cents' must be a whole number"),
    ("fee as text", {"monthly_fee_cents": "100"}, "'monthly_fee_cents' must be a whole"),
    ("projects not a list", {"projects": "eu"}, "'projects' must be a list"),
    ("unknown region", {"projects": [{"project_key": "a", "region": "mars-1"}]},
     "project 0: unknown region 'mars-1'"),
    ("bad project key", {"projects": [{"project_key": "A B", "region": EU}]},
     "project 0: 'project_key' must be"),
    ("extra project field", {"projects": [{"project_key": "a", "region": EU, "x": 1}]},
     "project 0 must be an object with exactly"),
    ("same project twice", {"projects": [{"project_key": "a", "region": EU}] * 2},
     "the same project twice"),
    ("manager is no manager", {"account_manager_id": 999_999}, "is not an active account"),
]


@pytest.mark.parametrize(("label", "change", "detail"), BAD_BODIES,
                         ids=[label for label, _, _ in BAD_BODIES])
def test_bad_input_gets_a_clear_error_and_stores_nothing(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine,
        shop: Shop, label: str, change: dict[str, Any], detail: str) -> None:
    _, admin = make_user(Role.ADMIN)
    body = shop(**change)
    before = stored(app_engine)
    answer = api.post("/api/v1/customers", json=body, headers=bearer(admin))
    assert answer.status_code == 400, label
    problem = answer.get_json()
    assert problem["error"] == "invalid_customer"
    assert detail in problem["detail"]
    assert stored(app_engine) == before


def test_a_body_that_is_not_a_json_object_is_refused(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine) -> None:
    _, admin = make_user(Role.ADMIN)
    before = stored(app_engine)
    as_text = api.post("/api/v1/customers", data="name=x", headers=bearer(admin))
    assert (as_text.status_code, as_text.get_json()["error"]) == (415, "unsupported_media_type")
    as_list = api.post("/api/v1/customers", json=[1], headers=bearer(admin))
    assert (as_list.status_code, as_list.get_json()["error"]) == (400, "malformed_json")
    assert stored(app_engine) == before


def test_a_name_or_project_another_customer_has_is_a_conflict(
        api: FlaskClient, make_user: Callable[[Role], MadeUser], app_engine: Engine,
        shop: Shop) -> None:
    _, admin = make_user(Role.ADMIN)
    first = shop()
    api.post("/api/v1/customers", json=first, headers=bearer(admin))
    second = shop(name=first["name"])
    before = stored(app_engine)
    same_name = api.post("/api/v1/customers", json=second, headers=bearer(admin))
    same_project = api.post("/api/v1/customers", json=a_customer(projects=first["projects"]),
                            headers=bearer(admin))
    assert (same_name.status_code, same_name.get_json()["error"]) == (409, "conflict")
    assert same_project.status_code == 409
    assert "belongs to customer" in same_project.get_json()["detail"]
    assert stored(app_engine) == before


def test_the_openapi_document_describes_the_customer_endpoints(api: FlaskClient) -> None:
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    create = paths["/api/v1/customers"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["plan"]["enum"] == ["standard", "premium"]
    assert create["security"] == [{"bearer": []}]
    report = paths["/api/v1/customers/{customer_id}/reports/{month}"]["get"]
    assert report["parameters"][-1]["schema"]["enum"] == ["json", "csv", "pdf"]
    assert "/api/v1/budgets" in paths
