"""The support engineers' web UI: declare, update, acknowledge, resolve and take over
incidents; schedule and cancel maintenance. Same checks and actions as the API.

Every page needs a logged-in support engineer or admin; every form carries the session's
CSRF token (core.csrf checks it before the view runs).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from commerce.catalog import SERVICES, tier_of
from core.errors import BellwetherError
from core.login import WebUser, current_user, require_user
from core.models import Role
from core.web import current_runtime, request_session
from status import actions, store, subscribers_store
from status.announce import links_for
from status.declared import (
    AFFECTED_STATES,
    NOT_AFFECTED,
    TEMPLATES,
    UPDATE_TEMPLATES,
    InvalidIncident,
    parse_declaration,
    parse_take_over,
    parse_update,
    picked_components,
    picker_fields,
    preselected,
    template_named,
    update_template_named,
)
from status.incidents import TRANSACTION, Impact, IncidentStatus, format_duration
from status.jobs import notice_interval
from status.maintenance import NOTICE, InvalidMaintenance, earliest_start, parse_window, phase
from status.notice_preview import NoticePreview, nothing_sent, preview_notice
from status.notify import Event
from status.render import environment

bp = Blueprint("status_admin", __name__, url_prefix="/admin")
COMPONENTS = (*SERVICES, TRANSACTION)
TIER_OF = {component: tier_of(component) for component in COMPONENTS}
#: The picker's tier choices: (tier, its components).
TIERS = tuple((tier, [c for c in COMPONENTS if TIER_OF[c] == tier])
              for tier in sorted(set(TIER_OF.values())))


@bp.errorhandler(BellwetherError)
def show_error(exc: BellwetherError) -> Any:
    """Refusals as a page a person can read (the API answers JSON problems instead)."""
    return render_template("admin/error.html", error=exc), exc.status


def _user() -> WebUser:
    user = current_user()
    assert user is not None  # require_user ran first
    return user


def _picker_context() -> dict[str, Any]:
    return {"components": COMPONENTS, "regions": current_runtime().settings.regions,
            "states": AFFECTED_STATES, "not_affected": NOT_AFFECTED, "tiers": TIERS,
            "impacts": list(Impact), "statuses": list(IncidentStatus)}


def _live() -> dict[tuple[str, str], str]:
    """The measured state of every (component, region) now."""
    return {key: live.state for key, live in store.live_states(request_session()).items()}


def _preselected(listed: dict[tuple[str, str], str]) -> dict[str, str]:
    """Picker fields showing `listed` and everything failing live."""
    return picker_fields(preselected(listed, _live()), COMPONENTS,
                         current_runtime().settings.regions)


def _picked(form: MultiDict[str, str]) -> list[dict[str, str]]:
    return picked_components(form, COMPONENTS, current_runtime().settings.regions, TIER_OF)


def _previewing(form: MultiDict[str, str]) -> bool:
    """The form's "Preview" button was pressed: show the notice, change nothing."""
    return form.get("action") == "preview"


def _preview(event: Event, timing: str, sent: bool = True) -> NoticePreview:
    """Render the notice through the real fan-out for the subscribers who would get it."""
    runtime = current_runtime()
    if not sent:
        return nothing_sent(event, timing)
    audience = subscribers_store.audience(request_session(),
                                          {region for _, region in event.affected})
    return preview_notice(event, audience, environment(),
                          links_for(runtime.settings, runtime.clock),
                          runtime.settings.effective_public_url, timing)


def _to_incident(incident_id: int) -> Any:
    return redirect(url_for("status_admin.incident", incident_id=incident_id), code=303)


def _incidents_page(error: str | None = None, form: MultiDict[str, str] | None = None,
                    preview: NoticePreview | None = None) -> tuple[str, int]:
    """The incident list and the declaration form: filled from `?template=` and what fails
    live, or, after a refusal or a preview, with the input kept."""
    session = request_session()
    rows = store.list_incidents(session, state="open", limit=200) + store.list_incidents(
        session, state="resolved", limit=30)
    template = template_named(request.args.get("template"))
    if form is None:
        form = MultiDict(_preselected({}))
        if template is not None:
            form["title"], form["message"] = template.title, template.message
            form["impact"] = template.impact.value
    html = render_template("admin/incidents.html", incidents=rows, templates=TEMPLATES,
                           template=template, error=error, form=form, preview=preview,
                           live=_live(), **_picker_context())
    return html, 400 if error else 200


@bp.get("/incidents")
@require_user(Role.SUPPORT)
def incidents() -> Any:
    """Open incidents and the latest resolved ones, and the declaration form."""
    return _incidents_page()


@bp.post("/incidents")
@require_user(Role.SUPPORT)
def declare() -> Any:
    """Declare an incident from the form (regions, tiers, single components), or preview
    the notice subscribers would get."""
    runtime = current_runtime()
    form = request.form
    body: dict[str, Any] = {key: form[key] for key in ("title", "impact", "message", "status")
                            if key in form}
    body["components"] = _picked(form)
    try:
        declaration = parse_declaration(body, runtime.settings.regions)
    except InvalidIncident as exc:
        return _incidents_page(exc.detail, form)
    if _previewing(form):
        event, timing = actions.declaration_event(declaration, runtime.clock.now(),
                                                  runtime.settings.effective_public_url)
        return _incidents_page(form=form, preview=_preview(event, timing))
    session = request_session()
    incident = actions.declare(session, declaration, _user().id, runtime.clock.now(),
                               runtime.settings)
    session.commit()
    return _to_incident(incident.id)


def _incident_page(incident_id: int, error: str | None = None,
                   form: MultiDict[str, str] | None = None,
                   preview: NoticePreview | None = None) -> tuple[str, int]:
    """One incident and its forms; the update form starts from `?template=` and the picker
    from the incident's components and what fails live, or keeps the input."""
    row = store.get_incident(request_session(), incident_id)
    template = update_template_named(request.args.get("template"))
    if form is None:
        form = MultiDict(_preselected({(c.component, c.region): c.state
                                       for c in row.components}))
        form["status"], form["impact"] = row.status, row.impact
        if template is not None:
            form["status"], form["body"] = template.status.value, template.body
            if template.impact is not None:
                form["impact"] = template.impact.value
    html = render_template("admin/incident.html", incident=row, form=form, error=error,
                           preview=preview, template=template, templates=UPDATE_TEMPLATES,
                           live=_live(), timeline=store.timeline_of(row),
                           duration=format_duration, **_picker_context())
    return html, 400 if error else 200


@bp.get("/incidents/<int:incident_id>")
@require_user(Role.SUPPORT)
def incident(incident_id: int) -> Any:
    """One incident: timeline figures, updates and the forms to act on it."""
    return _incident_page(incident_id)


@bp.post("/incidents/<int:incident_id>/updates")
@require_user(Role.SUPPORT)
def post_update(incident_id: int) -> Any:
    """Post an update (status, text, and for a declared incident impact and components),
    or preview the notice subscribers would get."""
    runtime = current_runtime()
    form = request.form
    body: dict[str, Any] = {"status": form.get("status"), "body": form.get("body")}
    if form.get("impact"):
        body["impact"] = form.get("impact")
    if form.get("edit_components"):
        body["components"] = _picked(form)
    try:
        update = parse_update(body, runtime.settings.regions)
    except InvalidIncident as exc:
        return _incident_page(incident_id, exc.detail, form)
    session = request_session()
    if _previewing(form):
        event, timing, sent = actions.update_event(
            store.get_incident(session, incident_id), update, runtime.clock.now(),
            runtime.settings.effective_public_url,
            notice_interval(runtime.settings).total_seconds())
        return _incident_page(incident_id, form=form, preview=_preview(event, timing, sent))
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
