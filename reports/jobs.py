"""The reports package's background job: multi-window, multi-burn-rate alerts (spec §7).

A page goes out through the incident path (alerts.paging), so it carries the contract's
`dedup_key` (bellwether-incident-<id>): each alert opens an incident of origin `burn_rate`
and resolves it when its rule stops holding. A page alert is impact `major`, routed by the
component's tier; a ticket-level alert is impact `minor` and always goes to the Tier 2
routing key with severity `warning`. Page and ticket are judged and kept independently.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerts.outbox import enqueue
from alerts.paging import IncidentPage, page_notices
from core.config import Settings
from core.db import session_scope
from core.scheduler import Job, JobContext
from reports import store
from reports.budgets import PAGE_RULES, TICKET_RULES, BudgetStatus, budget_statuses
from sla.budget import AlertLevel
from sla.catalog import tier_of
from status.models import Incident

#: Each alert level's incident impact, and the tier whose routing key it pages.
IMPACTS = {AlertLevel.PAGE: "major", AlertLevel.TICKET: "minor"}


def _title(status: BudgetStatus, level: AlertLevel) -> str:
    """Which pair burns, against which plan, and the burn rates of the level's windows."""
    rules = PAGE_RULES if level is AlertLevel.PAGE else TICKET_RULES
    windows = {w for rule in rules for w in (rule.short_window, rule.long_window)}
    rates = ", ".join(f"{_window(window)} {float(rate):.1f}×"
                      for window, rate in status.burn_rates if window in windows)
    what = "burning fast" if level is AlertLevel.PAGE else "burning"
    return (f"Error budget {what}: {status.line.component} in {status.line.region} "
            f"({status.plan} plan; {rates})")


def _window(window: timedelta) -> str:
    minutes = window // timedelta(minutes=1)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _page(incident: Incident, component: str, region: str, level: AlertLevel,
          settings: Settings) -> IncidentPage:
    tier = tier_of(component) if level is AlertLevel.PAGE else 2
    return IncidentPage(incident_id=incident.id, title=incident.title, impact=incident.impact,
                        tier=tier, components=[(component, region, "partial_outage")],
                        link=f"{settings.effective_public_url}/api/v1/budgets")


def _notify(session: Session, incident: Incident, component: str, region: str,
            level: AlertLevel, action: str, settings: Settings, now: datetime) -> None:
    page = _page(incident, component, region, level, settings)
    enqueue(session, page_notices(page, action, revision=1, settings=settings), now)


def evaluate_burn_rates(ctx: JobContext) -> int:
    """Open or resolve burn-rate alerts; how many alerts changed.

    1. Take the burn-rate lock (one worker decides at a time on PostgreSQL).
    2. Judge every (component, region)'s page and ticket rules at the clock's `now`.
    3. A rule that holds with no open alert opens an incident and enqueues a trigger; an
       open alert whose rule no longer holds is resolved and enqueues a resolve. The outbox
       rows are written in the same transaction as the incident.
    """
    now = ctx.clock.now()
    settings = ctx.settings
    changed = 0
    with session_scope(ctx.session_factory) as session:
        store.lock_burn_rates(session)
        open_alerts = store.open_burn_incidents(session)
        for status in budget_statuses(session, settings.regions, now):
            component, region = status.line.component, status.line.region
            for level, holds in ((AlertLevel.PAGE, status.page),
                                 (AlertLevel.TICKET, status.ticket)):
                incident = open_alerts.pop((component, region, IMPACTS[level]), None)
                if holds and incident is None:
                    incident = store.open_burn_incident(session, component, region,
                                                        IMPACTS[level], _title(status, level),
                                                        now)
                    _notify(session, incident, component, region, level, "trigger",
                            settings, now)
                    changed += 1
                elif not holds and incident is not None:
                    store.resolve_burn_incident(session, incident, now)
                    _notify(session, incident, component, region, level, "resolve",
                            settings, now)
                    changed += 1
        for (component, region, impact), incident in open_alerts.items():
            # A pair no longer judged (its region was removed): nothing holds any more.
            level = AlertLevel.PAGE if impact == IMPACTS[AlertLevel.PAGE] else AlertLevel.TICKET
            store.resolve_burn_incident(session, incident, now)
            _notify(session, incident, component, region, level, "resolve", settings, now)
            changed += 1
    return changed


JOBS = (
    Job("reports.burn_rates", timedelta(seconds=60), evaluate_burn_rates,
        "page or open a ticket when an error budget burns too fast"),
)
