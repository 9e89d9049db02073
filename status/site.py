"""The public site's data edge: builds the `StatusPage` values and chart data from the
database, and keeps the static copy fresh (the `status.publish` job and `bellwether publish`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from core.config import Settings
from probes.rollup_reads import DaySummary, day_summaries, latency_series
from status.charts import latency_document
from status.day_states import bar_state, day_states, load_spans
from status.page import DayBar, StatusPage
from status.public_store import DailyBars, load_status_page
from status.publish import Published, publish
from status.render import dumps, environment


def site_title(settings: Settings) -> str:
    return str(settings.extra.get("status_title", "Bellwether"))


def public_dir(settings: Settings) -> Path:
    """Where the static copy lives: `status_dir` in the config file, or <data dir>/public."""
    return Path(str(settings.extra.get("status_dir", settings.data_dir / "public")))


def plotly_js() -> Path | None:
    """plotly.js as the plotly package ships it, served locally: the machine has no CDN."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


def sla_daily_bars(session: Session, component: str, region: str, first_day: date, days: int,
                   now: datetime) -> list[DayBar]:
    """The 90-day bars from the same minute verdicts as the SLA reports (reports.daily), so
    the public page and a contractual report can never disagree; a bar's colour is the
    day's worst state, degraded and partial outages included (status.day_states)."""
    from reports.daily import daily_uptime

    states = day_states(load_spans(session, component, region, first_day, now), first_day,
                        days)
    bars = []
    for day, state in zip(daily_uptime(session, component, region, first_day, days, now),
                          states, strict=True):
        counts = day.counts
        bars.append(DayBar(day.day, counts.eligible, counts.downtime, counts.no_data,
                           bar_state(day.worst, state)))
    return bars


#: Day numbers as the day summaries count them (`minute // 1440`).
EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    return (day - EPOCH).days


class Site:
    """Loads pages for one configuration; `daily_bars` supplies the 90-day bars."""

    def __init__(self, settings: Settings, daily_bars: DailyBars = sla_daily_bars) -> None:
        self.settings = settings
        self.source = daily_bars
        self.env = environment()
        #: A finished day's bar, with the day summary it was computed from (None: the day
        #: had no rollups then).
        self._finished_days: dict[tuple[str, str, date], tuple[DaySummary | None, DayBar]] = {}
        self._horizon: date | None = None

    def daily_bars(self, session: Session, component: str, region: str, first_day: date,
                   days: int, now: datetime) -> Sequence[DayBar]:
        """The bars, recomputing today and every finished day whose day summary changed
        since its bar was computed: the rollup job rewrites a day's summary whenever late
        data (a spooled agent, a late rollup) changes its minutes, so a finished day is
        never left showing what it said before. The summaries cost one indexed read."""
        today = now.date()
        wanted = [first_day + timedelta(days=i) for i in range(days)]
        summaries = day_summaries(session, component, region, day_number(first_day),
                                  day_number(min(wanted[-1] + timedelta(days=1), today)))
        known: dict[date, DayBar] = {}
        for day in wanted:
            cached = self._finished_days.get((component, region, day))
            if day < today and cached is not None \
                    and cached[0] == summaries.get(day_number(day)):
                known[day] = cached[1]
        stale = [day for day in wanted if day not in known]
        if stale:
            fresh = self.source(session, component, region, stale[0],
                                (stale[-1] - stale[0]).days + 1, now)
            for bar in fresh:
                known[bar.day] = bar
                if bar.day < today:
                    self._finished_days[(component, region, bar.day)] = (
                        summaries.get(day_number(bar.day)), bar)
        self._forget_before(first_day)
        return [known[day] for day in wanted]

    def _forget_before(self, first_day: date) -> None:
        """Drop the bars of days that left the 90 days (when the first day moves)."""
        if self._horizon == first_day:
            return
        self._horizon = first_day
        for key in [k for k in list(self._finished_days) if k[2] < first_day]:
            self._finished_days.pop(key, None)

    @property
    def regions(self) -> Sequence[str]:
        return self.settings.regions

    def page(self, session: Session, now: datetime, region: str | None = None) -> StatusPage:
        return load_status_page(session, site_title(self.settings),
                                self.settings.effective_public_url, self.regions, now, region,
                                self.daily_bars)

    def latency(self, session: Session, page: StatusPage, now: datetime) -> str:
        """The page's latency.json: the last 24 h of its components (status.charts)."""
        first = int((now - timedelta(hours=24)).timestamp()) // 60
        series = {c.component: latency_series(session, c.component, c.region, now)
                  for c in page.components}
        return dumps(latency_document(series, first, int(now.timestamp()) // 60))

    def publish(self, session: Session, now: datetime, out_dir: Path,
                previous: str | None = None, force: bool = False) -> Published:
        page = self.page(session, now)
        regional = {region: self.page(session, now, region) for region in self.regions}
        return publish(out_dir, self.env, page, regional,
                       lambda p: self.latency(session, p, now), plotly_js(), previous, force)
