"""The state a day's bar shows: the worst a (component, region) was in during that UTC day.

Three records say what happened, and the worst of them wins (status.page's ranking):

1. the SLA's minute verdicts (reports.daily): a `down` minute is a major outage, a
   `maintenance` minute is maintenance, a `no_data` minute is missing data;
2. the live states the probes recorded (probes' state history): degraded performance and
   partial outage exist only there, since a minute verdict is up or down;
3. the states support declared in incidents, which the page showed while they were open
   (status.page.with_declared_states).

`span_states` and `day_states` are pure; `load_spans` reads records 2 and 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from probes import store as probe_store
from sla.model import MinuteVerdict
from status.models import Incident, IncidentComponent
from status.page import worst_state

#: Live and declared states a bar shows; operational, no data and maintenance come from the
#: minute verdicts.
SHOWN_STATES = frozenset({"degraded_performance", "partial_outage", "major_outage"})
VERDICT_STATES = {MinuteVerdict.DOWN: "major_outage", MinuteVerdict.NO_DATA: "no_data",
                  MinuteVerdict.MAINTENANCE: "under_maintenance",
                  MinuteVerdict.UP: "operational"}
#: More state changes than this in the bars' 90 days: only the newest are read.
HISTORY_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class Span:
    """A state held over `[start, end)`.

    >>> at = datetime(2026, 10, 1, 10, tzinfo=UTC)
    >>> day_states([Span(at, at + timedelta(hours=1), "partial_outage")], at.date(), 2)
    ['partial_outage', 'operational']
    """

    start: datetime
    end: datetime
    state: str


def span_states(changes: Sequence[tuple[datetime, str, str]], current: str | None,
                since: datetime, now: datetime) -> list[Span]:
    """The live states between `since` and `now` from the changes in that time, oldest
    first, as (at, from_state, to_state): before the first change its `from_state` held;
    with no change, `current` held throughout. Only SHOWN_STATES are kept, and the state
    held now even when it began this instant (today's bar shows it at the next publish)."""
    spans = []
    held, start = (changes[0][1] if changes else current), since
    for at, _, to_state in changes:
        spans.append(Span(start, at, held or "operational"))
        held, start = to_state, at
    current_span = Span(start, max(now, start), held or "operational")
    return [s for s in [*spans, current_span]
            if s.state in SHOWN_STATES and (s.end > s.start or s is current_span)]


def day_states(spans: Iterable[Span], first_day: date, days: int) -> list[str]:
    """For each of `days` days from `first_day`, the worst state of the spans touching it
    (operational when none does)."""
    worst = ["operational"] * days
    origin = datetime.combine(first_day, time(), UTC)
    for span in spans:
        begins = (span.start - origin) // timedelta(days=1)
        ends = begins if span.end <= span.start else \
            (span.end - timedelta(microseconds=1) - origin) // timedelta(days=1)
        first, last = max(0, begins), min(days - 1, ends)
        for index in range(first, last + 1):
            worst[index] = worst_state([worst[index], span.state])
    return worst


def bar_state(verdict: MinuteVerdict | None, state: str) -> str:
    """A day's bar: the worst of its minute verdicts (None: no minute yet, no data) and of
    its live or declared state."""
    return worst_state([VERDICT_STATES[verdict] if verdict is not None else "no_data", state])


def _live_spans(session: Session, component: str, region: str, since: datetime,
                now: datetime) -> list[Span]:
    rows = probe_store.state_history(session, component, region, since=since,
                                     limit=HISTORY_LIMIT)
    if len(rows) == HISTORY_LIMIT:  # truncated: say nothing of the time before the oldest
        since = rows[-1].at
    changes = [(row.at, row.from_state, row.to_state) for row in reversed(rows)]
    known = probe_store.states(session).get((component, region)) if not changes else None
    return span_states(changes, known.state if known else None, since, now)


def _declared_spans(session: Session, component: str, region: str, since: datetime,
                    now: datetime) -> list[Span]:
    rows = session.execute(
        select(IncidentComponent.first_affected_at, IncidentComponent.recovered_at,
               IncidentComponent.state, Incident.resolved_at)
        .join(Incident, Incident.id == IncidentComponent.incident_id)
        .where(IncidentComponent.component == component, IncidentComponent.region == region,
               Incident.origin == "declared", IncidentComponent.first_affected_at < now,
               or_(Incident.resolved_at.is_(None), Incident.resolved_at > since)))
    spans = []
    for start, recovered_at, state, resolved_at in rows:
        ends = [at for at in (recovered_at, resolved_at) if at is not None]
        if state in SHOWN_STATES:
            spans.append(Span(max(start, since), min([*ends, now]), state))
    return spans


def load_spans(session: Session, component: str, region: str, first_day: date,
               now: datetime) -> list[Span]:
    """The live and declared states of a (component, region) from `first_day` to `now`."""
    since = datetime.combine(first_day, time(), UTC)
    return [*_live_spans(session, component, region, since, now),
            *_declared_spans(session, component, region, since, now)]
