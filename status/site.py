"""The public site's data edge: builds the `StatusPage` values and chart data from the
database, and keeps the static copy fresh (the `status.publish` job and `bellwether publish`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from core.config import Settings
from probes.rollup_reads import latency_series
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


class Site:
    """Loads pages for one configuration; `daily_bars` supplies the 90-day bars."""

    def __init__(self, settings: Settings, daily_bars: DailyBars = sla_daily_bars) -> None:
        self.settings = settings
        self.source = daily_bars
        self.env = environment()
        self._finished_days: dict[tuple[str, str, date], DayBar] = {}

    def daily_bars(self, session: Session, component: str, region: str, first_day: date,
                   days: int, now: datetime) -> Sequence[DayBar]:
        """The bars, recomputing only today: a finished day's verdicts no longer change
        (late agent results aside, which the next day's restart or a new day picks up)."""
        today = now.date()
        wanted = [first_day + timedelta(days=i) for i in range(days)]
        known = [self._finished_days.get((component, region, day)) for day in wanted[:-1]]
        if wanted[-1] == today and all(known):
            fresh = self.source(session, component, region, today, 1, now)
            return [*[bar for bar in known if bar is not None], *fresh]
        bars = self.source(session, component, region, first_day, days, now)
        for bar in bars:
            if bar.day < today:
                self._finished_days[(component, region, bar.day)] = bar
        return bars

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
