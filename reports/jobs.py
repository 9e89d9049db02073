"""The reports package's background job: multi-window, multi-burn-rate alerts (spec §7).

reports judges which (component, region)s burn their error budget too fast; what that
means for on-call (an internal note on the outage that explains it, or one slow-burn
incident per region and level that pages once) is decided where incidents live,
`status.burn`. Page and ticket are judged and kept independently; a ticket is low urgency
on the Tier 2 key.
"""

from __future__ import annotations

from datetime import timedelta

from core.db import read_scope, session_scope
from core.scheduler import Job, JobContext
from reports import store
from reports.budgets import PAGE_RULES, TICKET_RULES, BudgetStatus, budget_statuses
from sla.budget import AlertLevel
from status.burn import Burn, any_burn_open, apply_burns

RULES = {AlertLevel.PAGE: PAGE_RULES, AlertLevel.TICKET: TICKET_RULES}


def _text(status: BudgetStatus, level: AlertLevel) -> str:
    """Which pair burns, against which plan, and the burn rates of the level's windows."""
    windows = {w for rule in RULES[level] for w in (rule.short_window, rule.long_window)}
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


def burns_of(status: BudgetStatus) -> list[Burn]:
    """The alerts that hold for one pair."""
    held = [level for level, holds in ((AlertLevel.PAGE, status.page),
                                       (AlertLevel.TICKET, status.ticket)) if holds]
    return [Burn(status.line.component, status.line.region, level.value, _text(status, level),
                 max(rule.long_window for rule in RULES[level])) for level in held]


def evaluate_burn_rates(ctx: JobContext) -> int:
    """Judge every (component, region)'s page and ticket rules at the clock's `now` and let
    `status.burn` bring the burn-rate incidents in line; how many alerts changed.

    The budgets are judged in a read scope (on SQLite no write lock is held meanwhile); a
    write transaction follows only when something burns or an alert is open. One worker
    decides at a time (the burn-rate lock); the outbox rows are written in the same
    transaction as the incidents.
    """
    now = ctx.clock.now()
    settings = ctx.settings
    with read_scope(ctx.session_factory) as session:  # judging reads only: no write lock
        burns = [burn for status in budget_statuses(session, settings.regions, now)
                 for burn in burns_of(status)]
        if not burns and not any_burn_open(session):
            return 0
    with session_scope(ctx.session_factory) as session:
        store.lock_burn_rates(session)
        return apply_burns(session, burns, settings.regions, now, settings)


JOBS = (
    Job("reports.burn_rates", timedelta(seconds=60), evaluate_burn_rates,
        "page or open a ticket when an error budget burns too fast"),
)
