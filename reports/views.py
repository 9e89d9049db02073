"""HTTP edge of the reports package: customers, monthly reports and exports (API and web
pages), and error budgets. Views are thin: check, call, answer.

Roles: admins create, edit, delete and see every customer and assign account managers; an
account manager creates, edits, deletes, reads and exports only their own (another's
answers 404, as an unknown id does); support engineers and agents get 403. The budgets API
is for support engineers and admins, the budgets page for account managers (their
customers) and admins. The API takes a bearer token; the pages take the web session
(core.login) and their forms the CSRF token (core.csrf). API and forms save through one
path (`_save`): `parse_customer`, then `owner_for`, then `store.save_customer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from core.auth import Principal
from core.errors import BellwetherError, NotFound
from core.login import WebUser, current_user, require_user
from core.models import Role
from core.openapi import operation
from core.schemas import request_body, request_query
from core.web import current_runtime, json_body, request_session, require_role
from reports import schemas as api
from reports import store
from reports.budgets import BudgetStatus, budget_statuses
from reports.charts import burn_down_figure, daily_uptime_figure
from reports.customers import (
    CustomerInput,
    customer_json,
    form_body,
    form_values,
    manager_filter,
    may_see,
    owner_for,
    parse_customer,
)
from reports.export import Letterhead, acknowledgement_text, file_stem, report_json, to_csv
from reports.models import Customer
from reports.monthly import CustomerInfo, CustomerReport, customer_plan, customer_report
from sla.catalog import PLANS, plan_named
from sla.model import PeriodBasis
from status.burn import burning_pairs

bp = Blueprint("reports", __name__)
FORMATS = ("json", "csv", "pdf")


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
    """The page's `format` query parameter, checked before any work is done."""
    wanted = request.args.get("format", default)
    if wanted not in FORMATS:
        raise BellwetherError(f"'format' must be one of {', '.join(FORMATS)}, not {wanted!r}",
                              code="bad_format")
    return wanted


def _letterhead() -> Letterhead:
    return Letterhead.of(current_runtime().settings)


def _save(data: CustomerInput, customer: Customer | None = None) -> Customer:
    """The one way a customer is saved, from the API or a form: whose it is, then stored."""
    role, user_id = _caller()
    data = replace(data, account_manager_id=owner_for(role, user_id, data.account_manager_id))
    session = request_session()
    saved = store.save_customer(session, data, current_runtime().clock.now(), customer)
    session.commit()
    return saved


def _export(report: CustomerReport, wanted: str) -> Any:
    from reports.pdf import to_pdf  # reportlab loads on the first PDF, not with the app

    if wanted == "json":
        return jsonify(report_json(report))
    name = f"{file_stem(report)}.{wanted}"
    body, mimetype = ((to_csv(report).encode(), "text/csv") if wanted == "csv"
                      else (to_pdf(report, _letterhead()), "application/pdf"))
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- customers (API) -----------------------------------------------------------------------


@bp.get("/api/v1/customers")
@operation(responses={200: api.Customers}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def list_customers() -> Any:
    """Customers: every one for admins, their own for account managers."""
    rows = store.list_customers(request_session(), manager_filter(*_caller()))
    return jsonify({"customers": [customer_json(row) for row in rows]})


@bp.post("/api/v1/customers")
@operation(body=api.CustomerIn, responses={201: api.CustomerOut}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def create_customer() -> Any:
    """Create a customer with its projects (admins name any account manager; an account
    manager's new customer is theirs). Projects must exist in their region's commerce set."""
    request_body(api.CustomerIn)
    customer = _save(parse_customer(json_body(), current_runtime().settings.regions))
    return jsonify(customer_json(customer)), 201


@bp.get("/api/v1/customers/<int:customer_id>")
@operation(responses={200: api.CustomerOut}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def get_customer(customer_id: int) -> Any:
    """One customer (admins: any; account managers: their own)."""
    return jsonify(customer_json(_visible_customer(customer_id)))


@bp.put("/api/v1/customers/<int:customer_id>")
@operation(body=api.CustomerIn, responses={200: api.CustomerOut}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def replace_customer(customer_id: int) -> Any:
    """Replace a customer's fields and projects (admins: any; account managers: their own)."""
    request_body(api.CustomerIn)
    data = parse_customer(json_body(), current_runtime().settings.regions)
    return jsonify(customer_json(_save(data, _visible_customer(customer_id))))


@bp.delete("/api/v1/customers/<int:customer_id>")
@operation(responses={200: api.CustomerDeleted}, tags=("customers",))
@require_role(Role.ACCOUNT_MANAGER)
def delete_customer(customer_id: int) -> Any:
    """Delete a customer and its projects (admins: any; account managers: their own)."""
    session = request_session()
    store.delete_customer(session, _visible_customer(customer_id))
    session.commit()
    return jsonify({"deleted": customer_id})


@bp.get("/api/v1/customers/<int:customer_id>/reports/<month>")
@operation(query=api.ReportQuery, responses={200: api.MonthlyReport}, tags=("reports",))
@require_role(Role.ACCOUNT_MANAGER)
def get_report(customer_id: int, month: str) -> Any:
    """A customer's monthly SLA report (month YYYY-MM) as JSON, CSV or PDF."""
    wanted = request_query(api.ReportQuery).format
    return _export(_report(customer_id, month), wanted)


# --- pages (web session) -------------------------------------------------------------------


def _this_month() -> str:
    now = current_runtime().clock.now()
    return f"{now.year:04d}-{now.month:02d}"


@bp.get("/reports/customers")
@require_user(Role.ACCOUNT_MANAGER)
def customers_page() -> Any:
    """The account manager's home: the customers they may see, with this month's reports."""
    rows = store.list_customers(request_session(), manager_filter(*_caller()))
    managers = dict(store.account_managers(request_session()))
    return render_template("reports/customers.html", customers=rows, month=_this_month(),
                           managers=managers, letterhead=_letterhead())


def _customer_form(customer: Customer | None, values: dict[str, str], error: str | None = None,
                   status: int = 200) -> Any:
    role, _ = _caller()
    regions: Sequence[str] = current_runtime().settings.regions
    managers = store.account_managers(request_session()) if role is Role.ADMIN else None
    return render_template(
        "reports/customer_form.html", customer=customer, values=values, error=error,
        plans=PLANS, bases=list(PeriodBasis), regions=regions, managers=managers,
        letterhead=_letterhead()), status


def _save_form(customer: Customer | None) -> Any:
    """Save the posted form through the API's path; on a refusal, the form again with the
    API's message and what was typed (nothing stored)."""
    regions = current_runtime().settings.regions
    try:
        saved = _save(parse_customer(form_body(request.form, regions), regions), customer)
    except BellwetherError as exc:
        request_session().rollback()
        return _customer_form(customer, request.form.to_dict(), exc.detail, exc.status)
    flash(f"Saved customer {saved.name}.")
    return redirect(url_for("reports.customers_page"), code=303)


@bp.get("/reports/customers/new")
@require_user(Role.ACCOUNT_MANAGER)
def new_customer_page() -> Any:
    """An empty customer form."""
    return _customer_form(None, form_values(None, current_runtime().settings.regions))


@bp.post("/reports/customers/new")
@require_user(Role.ACCOUNT_MANAGER)
def create_customer_page() -> Any:
    """Create a customer from the form (the API's checks and messages)."""
    return _save_form(None)


@bp.get("/reports/customers/<int:customer_id>/edit")
@require_user(Role.ACCOUNT_MANAGER)
def edit_customer_page(customer_id: int) -> Any:
    """A customer's form, filled in."""
    customer = _visible_customer(customer_id)
    return _customer_form(customer, form_values(customer, current_runtime().settings.regions))


@bp.post("/reports/customers/<int:customer_id>/edit")
@require_user(Role.ACCOUNT_MANAGER)
def update_customer_page(customer_id: int) -> Any:
    """Save a customer's form."""
    return _save_form(_visible_customer(customer_id))


@bp.get("/reports/customers/<int:customer_id>/delete")
@require_user(Role.ACCOUNT_MANAGER)
def confirm_delete_page(customer_id: int) -> Any:
    """Ask before deleting: there is no archive, a deleted customer's reports are gone."""
    return render_template("reports/customer_delete.html",
                           customer=_visible_customer(customer_id))


@bp.post("/reports/customers/<int:customer_id>/delete")
@require_user(Role.ACCOUNT_MANAGER)
def delete_customer_page(customer_id: int) -> Any:
    """Delete the customer, as the confirmation page asked."""
    session = request_session()
    customer = _visible_customer(customer_id)
    name = customer.name
    store.delete_customer(session, customer)
    session.commit()
    flash(f"Deleted customer {name}.")
    return redirect(url_for("reports.customers_page"), code=303)


@bp.get("/reports/customers/<int:customer_id>/<month>")
@require_user(Role.ACCOUNT_MANAGER)
def report_page(customer_id: int, month: str) -> Any:
    """The monthly report page: lines, incidents, and the data of its two charts (drawn by
    static/report-charts.js from a JSON data island: no inline script, CSP allows it)."""
    report = _report(customer_id, month)
    charts = {"daily": daily_uptime_figure(report), "burn": burn_down_figure(report)}
    return render_template("reports/report.html", report=report, charts=charts,
                           letterhead=_letterhead(), acknowledgement=acknowledgement_text)


@bp.get("/reports/customers/<int:customer_id>/<month>/export")
@require_user(Role.ACCOUNT_MANAGER)
def export_page(customer_id: int, month: str) -> Any:
    """The report as a download (format=pdf, csv or json) for a logged-in user."""
    wanted = _wanted_format("pdf")
    return _export(_report(customer_id, month), wanted)


@bp.get("/reports/budgets")
@require_user(Role.ACCOUNT_MANAGER)
def budgets_page() -> Any:
    """Each visible customer's error budget left per line (last 30 days, the customer's
    plan) and the burn-rate alerts open now (status.burn)."""
    session = request_session()
    now = current_runtime().clock.now()
    customers = [CustomerInfo.of(row) for row in
                 store.list_customers(session, manager_filter(*_caller()))]
    judged: dict[tuple[str, str], list[BudgetStatus]] = {}
    for customer in customers:
        for region in customer.regions:
            if (region, customer.plan) not in judged:
                judged[(region, customer.plan)] = budget_statuses(
                    session, (region,), now, customer_plan(customer))
    burning = {(c, r): impact for c, r, impact in burning_pairs(session)}
    regions = {region for customer in customers for region in customer.regions}
    alerts = sorted((r, c, i) for (c, r), i in burning.items()
                    if _caller()[0] is Role.ADMIN or r in regions)
    return render_template(
        "reports/budgets.html", now=now, alerts=alerts, burning=burning,
        customers=[(customer, [s for region in customer.regions
                               for s in judged[(region, customer.plan)]])
                   for customer in customers])


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
@operation(query=api.BudgetsQuery, responses={200: api.Budgets}, tags=("reports",))
@require_role(Role.SUPPORT)
def budgets() -> Any:
    """The error budget left over the last 30 days per (component, region), with burn rates.

    Without `plan`, each region is judged against the most demanding plan a customer holds
    there (premium or standard).
    """
    runtime = current_runtime()
    query = request_query(api.BudgetsQuery)
    plan = plan_named(query.plan) if query.plan is not None else None
    regions = runtime.settings.regions
    region = query.region
    if region is not None:
        if region not in regions:
            raise NotFound(f"unknown region {region!r} (known: {', '.join(regions)})")
        regions = (region,)
    statuses = budget_statuses(request_session(), regions, runtime.clock.now(), plan)
    return jsonify({"budgets": [_budget_json(status) for status in statuses]})
