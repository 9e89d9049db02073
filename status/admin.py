"""The support engineers' web UI: declare, update, acknowledge, resolve and take over
incidents; schedule and cancel maintenance. Same checks and actions as the API.

Every page needs a logged-in support engineer or admin; every form carries the session's
CSRF token (core.csrf checks it before the view runs).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from commerce.catalog import SERVICES
from core.errors import BellwetherError
from core.login import WebUser, current_user, require_user
from core.models import Role
from core.web import current_runtime, request_session
from status import actions, store
from status.declared import (
    AFFECTED_STATES,
    NOT_AFFECTED,
    TEMPLATES,
    InvalidIncident,
    parse_declaration,
    parse_take_over,
    parse_update,
    picked_components,
    template_named,
)
from status.incidents import TRANSACTION, Impact, IncidentStatus, format_duration
from status.maintenance import NOTICE, InvalidMaintenance, earliest_start, parse_window, phase

bp = Blueprint("status_admin", __name__, url_prefix="/admin")
COMPONENTS = (*SERVICES, TRANSACTION)


@bp.errorhandler(BellwetherError)
def show_error(exc: BellwetherError) -> Any:
    """Refusals as a page a person can read (the API answers JSON problems instead)."""
    return render_template("admin/error.html", error=exc), exc.status


def _user() -> WebUser:
    user = current_user()
    assert user is not None  # require_user ran first
    return user


def _form_components(form: MultiDict[str, str]) -> list[dict[str, str]]:
    """The `state-<component>-<region>` selects that name a state ('' = not affected)."""
    chosen = []
    for region in current_runtime().settings.regions:
        for component in COMPONENTS:
            state = form.get(f"state-{component}-{region}", "")
            if state:
                chosen.append({"component": component, "region": region, "state": state})
    return chosen


def _form_context() -> dict[str, Any]:
    return {"components": COMPONENTS, "regions": current_runtime().settings.regions,
            "states": AFFECTED_STATES, "impacts": list(Impact),
            "statuses": list(IncidentStatus)}


def _to_incident(incident_id: int) -> Any:
    return redirect(url_for("status_admin.incident", incident_id=incident_id), code=303)


def _incidents_page(error: str | None = None, form: MultiDict[str, str] | None = None,
                    ) -> tuple[str, int]:
    """The incident list and the declaration form: filled from `?template=` or, after a
    refusal, with the input kept and what to fix."""
    session = request_session()
    rows = store.list_incidents(session, state="open", limit=200) + store.list_incidents(
        session, state="resolved", limit=30)
    template = template_named(request.args.get("template"))
    if form is None:
        form = MultiDict()
        if template is not None:
            form = MultiDict({"title": template.title, "impact": template.impact.value,
                              "message": template.message})
    html = render_template("admin/incidents.html", incidents=rows, templates=TEMPLATES,
                           template=template, not_affected=NOT_AFFECTED, error=error,
                           form=form, **_form_context())
    return html, 400 if error else 200


@bp.get("/incidents")
@require_user(Role.SUPPORT)
def incidents() -> Any:
    """Open incidents and the latest resolved ones, and the declaration form."""
    return _incidents_page()


@bp.post("/incidents")
@require_user(Role.SUPPORT)
def declare() -> Any:
    """Declare an incident from the form: whole regions, per-component overrides."""
    runtime = current_runtime()
    form = request.form
    body: dict[str, Any] = {key: form[key] for key in ("title", "impact", "message", "status")
                            if key in form}
    body["components"] = picked_components(form, COMPONENTS, runtime.settings.regions)
    try:
        declaration = parse_declaration(body, runtime.settings.regions)
    except InvalidIncident as exc:
        return _incidents_page(exc.detail, form)
    session = request_session()
    incident = actions.declare(session, declaration, _user().id, runtime.clock.now(),
                               runtime.settings)
    session.commit()
    return _to_incident(incident.id)


@bp.get("/incidents/<int:incident_id>")
@require_user(Role.SUPPORT)
def incident(incident_id: int) -> Any:
    """One incident: timeline figures, updates and the forms to act on it."""
    row = store.get_incident(request_session(), incident_id)
    selected = {(c.component, c.region): c.state for c in row.components}
    return render_template("admin/incident.html", incident=row, selected=selected,
                           timeline=store.timeline_of(row), duration=format_duration,
                           **_form_context())


@bp.post("/incidents/<int:incident_id>/updates")
@require_user(Role.SUPPORT)
def post_update(incident_id: int) -> Any:
    runtime = current_runtime()
    form = request.form
    body: dict[str, Any] = {"status": form.get("status"), "body": form.get("body")}
    if form.get("impact"):
        body["impact"] = form.get("impact")
    if form.get("edit_components"):
        body["components"] = _form_components(form)
    update = parse_update(body, runtime.settings.regions)
    session = request_session()
    actions.post_update(session, incident_id, update, _user().id, runtime.clock.now(),
                        runtime.settings)
    session.commit()
    return _to_incident(incident_id)


@bp.post("/incidents/<int:incident_id>/acknowledge")
@require_user(Role.SUPPORT)
def acknowledge(incident_id: int) -> Any:
    runtime = current_runtime()
    session = request_session()
    actions.acknowledge(session, incident_id, _user().id, runtime.clock.now(),
                        runtime.settings)
    session.commit()
    return _to_incident(incident_id)


@bp.post("/incidents/<int:incident_id>/resolve")
@require_user(Role.SUPPORT)
def resolve(incident_id: int) -> Any:
    runtime = current_runtime()
    text = request.form.get("body", "").strip()
    if len(text) > 10_000:
        raise BellwetherError("the closing text is longer than 10000 characters")
    session = request_session()
    actions.resolve(session, incident_id, text, _user().id, runtime.clock.now(),
                    runtime.settings)
    session.commit()
    return _to_incident(incident_id)


@bp.post("/incidents/<int:incident_id>/take-over")
@require_user(Role.SUPPORT)
def take_over(incident_id: int) -> Any:
    take = parse_take_over({"title": request.form.get("title"),
                            "message": request.form.get("message")})
    session = request_session()
    actions.take_over(session, incident_id, take, _user().id, current_runtime().clock.now(),
                      current_runtime().settings)
    session.commit()
    return _to_incident(incident_id)


def _maintenance_page(error: str | None = None, form: MultiDict[str, str] | None = None,
                      ) -> tuple[str, int]:
    """The windows not over yet and the form, with what was refused and the input kept."""
    now = current_runtime().clock.now()
    windows = store.upcoming_windows(request_session(), now)
    html = render_template("admin/maintenance.html", windows=windows, now=now, phase=phase,
                           components=COMPONENTS, regions=current_runtime().settings.regions,
                           earliest=earliest_start(now), notice_days=NOTICE.days,
                           error=error, form=form or MultiDict())
    return html, 400 if error else 200


@bp.get("/maintenance")
@require_user(Role.SUPPORT)
def maintenance() -> Any:
    """Maintenance windows not over yet, and the form to schedule one."""
    return _maintenance_page()


def _utc_input(raw: str | None) -> str | None:
    """`<input type=datetime-local>` sends no zone; the UI's times are UTC."""
    if raw and len(raw) <= 19 and "+" not in raw and not raw.endswith("Z"):
        return raw + "+00:00"
    return raw


@bp.post("/maintenance")
@require_user(Role.SUPPORT)
def schedule_maintenance() -> Any:
    runtime = current_runtime()
    now = runtime.clock.now()
    form = request.form
    body = {"title": form.get("title"), "message": form.get("message", ""),
            "starts_at": _utc_input(form.get("starts_at")),
            "ends_at": _utc_input(form.get("ends_at")),
            "components": form.getlist("components"), "regions": form.getlist("regions"),
            "short_notice_reason": form.get("short_notice_reason", "")}
    session = request_session()
    try:
        window = parse_window(body, runtime.settings.regions, now)
        actions.schedule_maintenance(session, window, _user().id, now)
    except InvalidMaintenance as exc:
        session.rollback()
        return _maintenance_page(exc.detail, form)
    session.commit()
    return redirect(url_for("status_admin.maintenance"), code=303)


@bp.post("/maintenance/<int:window_id>/cancel")
@require_user(Role.SUPPORT)
def cancel_maintenance(window_id: int) -> Any:
    session = request_session()
    actions.cancel_maintenance(session, window_id, current_runtime().clock.now())
    session.commit()
    return redirect(url_for("status_admin.maintenance"), code=303)
