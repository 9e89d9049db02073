"""HTTP edge of the reports package: customers, monthly reports and exports (API and web
pages), and error budgets. Views are thin: check, call, answer.

Roles: admins create, edit and see every customer; an account manager lists, reads and
exports only their own (another's answers 404, as an unknown id does); support engineers
and agents get 403. Error budgets are for support engineers and admins. The API takes a
bearer token; the pages take the web session (core.login).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request

from core.auth import Principal
from core.errors import BellwetherError, NotFound
from core.login import WebUser, current_user, require_user
from core.models import Role
from core.openapi import operation
from core.web import current_runtime, json_body, request_session, require_role
from reports import store
from reports.budgets import BudgetStatus, budget_statuses
from reports.charts import burn_down_figure, daily_uptime_figure
from reports.customers import SCHEMA, customer_json, manager_filter, may_see, parse_customer
from reports.export import file_stem, report_json, to_csv
from reports.models import Customer
from reports.monthly import CustomerInfo, CustomerReport, customer_report
from sla.catalog import PLANS, plan_named

bp = Blueprint("reports", __name__)
FORMATS = ("json", "csv", "pdf")
CUSTOMER_ANSWER = {"type": "object", "properties": {"id": {"type": "integer"}}}


def _caller() -> tuple[Role, int]:
    """Who asks: the API token's user (require_role) or the web session's (require_user)."""
    principal: Principal | None = g.get("principal")
    if principal is not None:
        return principal.role, principal.user_id
    user: WebUser | None = current_user()
    assert user is not None  # require_user ran first
    return user.role, user.id


def _visible_customer(customer_id: int) -> Customer:
    """The customer, if the caller may see it; 404 otherwise (never confirm it exists)."""
    customer = request_session().get(Customer, customer_id)
    if customer is None or not may_see(*_caller(), customer):
        raise NotFound(f"no customer with id {customer_id} that you look after")
    return customer


def _report(customer_id: int, month: str) -> CustomerReport:
    customer = CustomerInfo.of(_visible_customer(customer_id))
    return customer_report(request_session(), customer, month,
                           current_runtime().clock.now())


def _wanted_format(default: str) -> str:
    """The `format` query parameter, checked before any work is done."""
    wanted = request.args.get("format", default)
    if wanted not in FORMATS:
        raise BellwetherError(f"'format' must be one of {', '.join(FORMATS)}, not {wanted!r}",
                              code="bad_format")
    return wanted


def _export(report: CustomerReport, wanted: str) -> Any:
    from reports.pdf import to_pdf  # reportlab loads on the first PDF, not with the app

    if wanted == "json":
        return jsonify(report_json(report))
    name = f"{file_stem(report)}.{wanted}"
    body, mimetype = ((to_csv(report).encode(), "text/csv") if wanted == "csv"
                      else (to_pdf(report), "application/pdf"))
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- customers (API) -----------------------------------------------------------------------


@bp.get("/api/v1/customers")
@operation(responses={200: {"type": "object"}}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def list_customers() -> Any:
    """Customers: every one for admins, their own for account managers."""
    rows = store.list_customers(request_session(), manager_filter(*_caller()))
    return jsonify({"customers": [customer_json(row) for row in rows]})


@bp.post("/api/v1/customers")
@operation(body=SCHEMA, responses={201: CUSTOMER_ANSWER}, tags=("customers",))
@require_role()
def create_customer() -> Any:
    """Create a customer with its projects and account manager (admin)."""
    data = parse_customer(json_body(), current_runtime().settings.regions)
    session = request_session()
    customer = store.save_customer(session, data, current_runtime().clock.now())
    session.commit()
    return jsonify(customer_json(customer)), 201


@bp.get("/api/v1/customers/<int:customer_id>")
@operation(responses={200: CUSTOMER_ANSWER}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def get_customer(customer_id: int) -> Any:
    """One customer (admins: any; account managers: their own)."""
    return jsonify(customer_json(_visible_customer(customer_id)))


@bp.put("/api/v1/customers/<int:customer_id>")
@operation(body=SCHEMA, responses={200: CUSTOMER_ANSWER}, tags=("customers",))
@require_role()
def replace_customer(customer_id: int) -> Any:
    """Replace a customer's fields and projects (admin)."""
    data = parse_customer(json_body(), current_runtime().settings.regions)
    session = request_session()
    customer = store.get_customer(session, customer_id)
    store.save_customer(session, data, current_runtime().clock.now(), customer)
    session.commit()
    return jsonify(customer_json(customer))


@bp.delete("/api/v1/customers/<int:customer_id>")
@operation(tags=("customers",))
@require_role()
def delete_customer(customer_id: int) -> Any:
    """Delete a customer and its projects (admin)."""
    session = request_session()
    session.delete(store.get_customer(session, customer_id))
    session.commit()
    return jsonify({"deleted": customer_id})


@bp.get("/api/v1/customers/<int:customer_id>/reports/<month>")
@operation(query={"format": {"type": "string", "enum": list(FORMATS), "default": "json"}},
           responses={200: {"type": "object"}}, tags=("reports",))
@require_role(Role.ACCOUNT_MANAGER)
def get_report(customer_id: int, month: str) -> Any:
    """A customer's monthly SLA report (month YYYY-MM) as JSON, CSV or PDF."""
    wanted = _wanted_format("json")
    return _export(_report(customer_id, month), wanted)


# --- pages (web session) -------------------------------------------------------------------


@bp.get("/reports/customers")
@require_user(Role.ACCOUNT_MANAGER)
def customers_page() -> Any:
    """The customers the caller may see, with links to this month's reports."""
    now = current_runtime().clock.now()
    rows = store.list_customers(request_session(), manager_filter(*_caller()))
    return render_template("reports/customers.html", customers=rows,
                           month=f"{now.year:04d}-{now.month:02d}")


@bp.get("/reports/customers/<int:customer_id>/<month>")
@require_user(Role.ACCOUNT_MANAGER)
def report_page(customer_id: int, month: str) -> Any:
    """The monthly report page: lines, incidents, daily uptime and the budget burn-down."""
    report = _report(customer_id, month)
    return render_template("reports/report.html", report=report,
                           daily=daily_uptime_figure(report), burn=burn_down_figure(report))


@bp.get("/reports/customers/<int:customer_id>/<month>/export")
@require_user(Role.ACCOUNT_MANAGER)
def export_page(customer_id: int, month: str) -> Any:
    """The report as a download (format=pdf, csv or json) for a logged-in user."""
    wanted = _wanted_format("pdf")
    return _export(_report(customer_id, month), wanted)


# --- error budgets -------------------------------------------------------------------------


def _budget_json(status: BudgetStatus) -> dict[str, Any]:
    line = status.line
    return {"component": line.component, "region": line.region, "tier": line.tier,
            "plan": status.plan, "target_pct": float(line.target_pct),
            "start": status.start.isoformat(), "end": status.end.isoformat(),
            "eligible_minutes": line.eligible_minutes,
            "downtime_minutes": line.downtime_minutes,
            "no_data_minutes": line.no_data_minutes,
            "budget_minutes": float(line.budget_minutes),
            "budget_remaining_minutes": float(line.budget_remaining_minutes),
            "uptime_pct": float(line.uptime_pct),
            "burn_rates": {f"{int(w.total_seconds() // 60)}m": round(float(rate), 4)
                           for w, rate in status.burn_rates},
            "alert": status.alert.value}


@bp.get("/api/v1/budgets")
@operation(query={"plan": {"type": "string", "enum": list(PLANS)},
                  "region": {"type": "string"}}, responses={200: {"type": "object"}},
           tags=("reports",))
@require_role(Role.SUPPORT)
def budgets() -> Any:
    """The error budget left over the last 30 days per (component, region), with burn rates.

    Without `plan`, each region is judged against the most demanding plan a customer holds
    there (premium or standard).
    """
    runtime = current_runtime()
    plan_name = request.args.get("plan")
    plan = plan_named(plan_name) if plan_name is not None else None
    regions = runtime.settings.regions
    region = request.args.get("region")
    if region is not None:
        if region not in regions:
            raise NotFound(f"unknown region {region!r} (known: {', '.join(regions)})")
        regions = (region,)
    statuses = budget_statuses(request_session(), regions, runtime.clock.now(), plan)
    return jsonify({"budgets": [_budget_json(status) for status in statuses]})
