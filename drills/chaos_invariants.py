"""What a chaos campaign must never see, checked over everything PagerDuty and the mail
server received (pure: lists of events in, violations out; no event is filtered away).

The campaign runs episodes one after another and waits for quiet between them, so an event
belongs to the episode whose window [start, next episode's start) holds its arrival; events
before the first episode belong to none and are reported as strays. The invariants:

1. one page per root-cause episode per routing key: the distinct dedup_keys triggered on a
   key in an episode are exactly the pages the episode's roots call for (a later trigger of
   the same dedup_key updates or reopens that alert: PagerDuty does not page again while it
   is open, and a reopen follows a resolve);
2. every trigger resolved exactly once, on its own key: each dedup_key's events all go to
   the routing key of its first trigger, every trigger is followed by one resolve before the
   next trigger, no resolve comes without an open alert, and nothing is left open at the end;
3. no subscriber notice before its page: a notice about incident N arrives after the first
   trigger of `bellwether-incident-N` (or of its escalation, `…-N-tier1`); a notice that
   names no incident arrives after its episode's first trigger;
4. one story per incident: per subscriber and episode, notices of at most one incident per
   root, each incident told once first, its further updates only `notice_interval_s` apart
   (measured at the mail server, so 10 % and at least 2 s are allowed for delivery
   jitter), and at most one resolution per incident and per root;
5. silence is a state: a (component, region) whose quorum of locations sent no check for
   longer than `silent_after_s` is shown `no_data`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

ONE_PAGE = "one page per root-cause episode per routing key"
RESOLVED_ONCE = "every trigger resolved exactly once on its own key"
PAGE_FIRST = "no subscriber notice before its page"
ONE_STORY = ("one story per incident per subscriber: one first notice, batched updates, "
             "one resolution")
NEVER_SILENT = "no pair silent without no_data"
STRAY = "no event outside an episode"

INVARIANTS = (ONE_PAGE, RESOLVED_ONCE, PAGE_FIRST, ONE_STORY, NEVER_SILENT)
RESOLUTION_PREFIX = "[resolved]"


@dataclass(frozen=True, slots=True)
class PageEvent:
    """One event the PagerDuty stand-in accepted."""

    at: datetime
    routing_key: str
    dedup_key: str
    action: str  # trigger, acknowledge, resolve

    def describe(self) -> str:
        return f"{self.at:%H:%M:%S.%f}"[:-3] + \
            f" {self.action} {self.dedup_key} on {self.routing_key}"


@dataclass(frozen=True, slots=True)
class Notice:
    """One mail a subscriber received."""

    at: datetime
    subscriber: str
    subject: str
    incident: int | None = None

    @property
    def is_resolution(self) -> bool:
        return self.subject.lower().startswith(RESOLUTION_PREFIX)

    def describe(self) -> str:
        return f"{self.at:%H:%M:%S.%f}"[:-3] + f" {self.subscriber}: {self.subject}"


@dataclass(frozen=True, slots=True)
class Sample:
    """What the campaign saw of a pair at one moment: its state, and when the quorum-th
    freshest location last checked it (None: no quorum has ever checked it)."""

    at: datetime
    component: str
    region: str
    state: str
    quorum_checked_at: datetime | None
    #: This pair's own silence limit (its probes' interval and timeout); None: the campaign's.
    silent_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """One episode of the campaign: when it ran and what its roots should page.

    `pages` maps a routing key to the number of distinct alerts (dedup_keys) the episode's
    roots call for on it; `roots` counts root causes (each may tell a subscriber once).
    """

    index: int
    name: str
    start: datetime
    pages: Mapping[str, int]
    roots: int = 1
    notice_interval_s: float = 300.0


T = TypeVar("T", "PageEvent", "Notice")


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    episode: str
    detail: str
    events: tuple[str, ...] = ()

    def describe(self) -> str:
        lines = [f"[{self.episode}] {self.invariant}: {self.detail}"]
        lines += [f"    {event}" for event in self.events[:40]]
        if len(self.events) > 40:
            lines.append(f"    … {len(self.events) - 40} more")
        return "\n".join(lines)


@dataclass
class EpisodeCounts:
    """The figures of one episode, violated or not (for the report)."""

    name: str
    triggers: Counter[str] = field(default_factory=Counter)  # routing key → trigger events
    alerts: dict[str, set[str]] = field(default_factory=dict)  # routing key → dedup_keys
    resolves: int = 0
    notices: int = 0
    subscribers: int = 0


def _label(episode: Episode | None) -> str:
    return "before the first episode" if episode is None else \
        f"episode {episode.index} {episode.name}"


def _owner(episodes: Sequence[Episode], at: datetime) -> Episode | None:
    owner = None
    for episode in episodes:
        if episode.start <= at:
            owner = episode
    return owner


def _by_episode(episodes: Sequence[Episode], events: Iterable[T],
                ) -> dict[int | None, list[T]]:
    grouped: dict[int | None, list[T]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.at):
        owner = _owner(episodes, event.at)
        grouped[None if owner is None else owner.index].append(event)
    return grouped


def one_page_per_root(episode: Episode, pages: Sequence[PageEvent]) -> list[Violation]:
    """Invariant 1 for one episode's events."""
    alerts: dict[str, set[str]] = defaultdict(set)
    for event in pages:
        if event.action == "trigger":
            alerts[event.routing_key].add(event.dedup_key)
    problems = []
    for key in sorted(set(alerts) | set(episode.pages)):
        want, got = episode.pages.get(key, 0), len(alerts.get(key, ()))
        if want != got:
            mine = tuple(e.describe() for e in pages if e.routing_key == key)
            problems.append(Violation(ONE_PAGE, _label(episode),
                                      f"{got} alert(s) triggered on {key}, expected {want}",
                                      mine))
    return problems


def _cycle_issues(events: Sequence[PageEvent], home: str) -> list[str]:
    """What is wrong with one dedup_key's trigger/resolve sequence on its home key (PagerDuty
    drops an event of that dedup_key sent to another key: it resolves nothing)."""
    open_, issues = False, []
    for event in events:
        if event.routing_key != home:
            continue
        if event.action == "trigger":
            open_ = True
        elif event.action == "resolve":
            if not open_:
                issues.append(f"a resolve at {event.at:%H:%M:%S} with no open alert")
            open_ = False
    if open_:
        issues.append("never resolved after its last trigger")
    return issues


def resolved_once(episodes: Sequence[Episode], pages: Sequence[PageEvent]) -> list[Violation]:
    """Invariant 2 over the whole campaign (an alert may outlive its episode's window)."""
    by_key: dict[str, list[PageEvent]] = defaultdict(list)
    for event in sorted(pages, key=lambda e: e.at):
        by_key[event.dedup_key].append(event)
    problems = []
    for dedup, events in by_key.items():
        where = _label(_owner(episodes, events[0].at))
        trail = tuple(e.describe() for e in events)
        triggers = [e for e in events if e.action == "trigger"]
        if not triggers:
            problems.append(Violation(RESOLVED_ONCE, where,
                                      f"{dedup} was never triggered", trail))
            continue
        home = triggers[0].routing_key
        strays = [e for e in events if e.routing_key != home]
        if strays:
            problems.append(Violation(RESOLVED_ONCE, where, f"{dedup} was triggered on {home} "
                                      f"but {len(strays)} event(s) went to another key", trail))
        issues = _cycle_issues(events, home)
        if issues:
            problems.append(Violation(RESOLVED_ONCE, where, f"{dedup}: " + "; ".join(issues),
                                      trail))
    return problems


def first_page_of(incident: int, pages: Sequence[PageEvent]) -> datetime | None:
    """When the first trigger of the incident's alerts (any tier) arrived, if ever."""
    base = f"bellwether-incident-{incident}"
    times = [e.at for e in pages if e.action == "trigger"
             and (e.dedup_key == base or e.dedup_key.startswith(base + "-"))]
    return min(times, default=None)


def page_first(episode: Episode, pages: Sequence[PageEvent], notices: Sequence[Notice],
               every_page: Sequence[PageEvent] = ()) -> list[Violation]:
    """Invariant 3 for one episode's notices: against their incident's own page (found
    among `every_page` of the campaign), else against the episode's first trigger."""
    if not notices:
        return []
    episode_first = min((e.at for e in pages if e.action == "trigger"), default=None)
    early: list[str] = []
    for notice in notices:
        paged = episode_first if notice.incident is None else \
            first_page_of(notice.incident, every_page or pages)
        if paged is None:
            early.append(notice.describe() + " — never paged")
        elif notice.at < paged:
            early.append(notice.describe() + f" — paged only at {paged:%H:%M:%S.%f}"[:-3])
    if not early:
        return []
    return [Violation(PAGE_FIRST, _label(episode),
                      f"{len(early)} notice(s) before (or without) their page", tuple(early))]


def jitter_s(interval_s: float) -> float:
    """How much closer than `interval_s` two notices may arrive: the dispatcher delivers
    each when its pass comes round.

    >>> jitter_s(20), jitter_s(300)
    (2.0, 30.0)
    """
    return max(2.0, interval_s / 10)


def _story_issues(story: Sequence[Notice], opens: int, gap: timedelta,
                  interval_s: float) -> tuple[int, list[str]]:
    """One incident's notices to one subscriber (time order): how many first notices it
    opened (at most `opens`), and its updates that came closer than `gap`."""
    told = [n for n in story if not n.is_resolution]
    issues = []
    last = told[opens - 1].at if len(told) >= opens else None
    for notice in told[opens:]:
        assert last is not None
        if notice.at - last < gap:
            issues.append(f"an update {(notice.at - last).total_seconds():.1f} s after the "
                          f"last, closer than {interval_s:.0f} s")
        last = notice.at
    return min(len(told), opens), issues


def one_story(episode: Episode, notices: Sequence[Notice]) -> list[Violation]:
    """Invariant 4 for one episode's events.

    Each incident is its own story, judged on its own cadence: two unrelated outages (the
    overlap's region outage and the other region's messages outage) are two stories a
    subscriber of both regions hears separately, as on Statuspage. Every notice still
    counts: a subscriber hears of at most `roots` incidents, first notices and
    resolutions included, and notices that name no incident form one story of their own
    (each root may open one there, as they cannot be told apart).
    """
    mine: dict[str, list[Notice]] = defaultdict(list)
    for notice in notices:
        mine[notice.subscriber].append(notice)
    interval = episode.notice_interval_s
    gap = timedelta(seconds=interval - jitter_s(interval))
    problems = []
    for subscriber, received in sorted(mine.items()):
        received.sort(key=lambda n: n.at)
        stories: dict[int | None, list[Notice]] = defaultdict(list)
        for notice in received:
            stories[notice.incident].append(notice)
        issues: list[str] = []
        firsts = 0
        for incident, story in stories.items():
            opened, early = _story_issues(story, episode.roots if incident is None else 1,
                                          gap, interval)
            firsts += opened
            issues += early
            resolutions = sum(n.is_resolution for n in story)
            if incident is not None and resolutions > 1:
                issues.append(f"{resolutions} resolutions of incident {incident}")
        resolutions = sum(n.is_resolution for n in received)
        if resolutions > episode.roots:
            issues.append(f"{resolutions} resolutions for {episode.roots} root(s)")
        if firsts > episode.roots:
            issues.append(f"told of {firsts} incidents for {episode.roots} root(s)")
        if issues:
            problems.append(Violation(ONE_STORY, _label(episode),
                                      f"{subscriber}: " + "; ".join(issues),
                                      tuple(n.describe() for n in received)))
    return problems


def _sample_line(sample: Sample) -> str:
    checked = sample.quorum_checked_at
    when = "never" if checked is None else f"{checked:%H:%M:%S}"
    return f"{sample.at:%H:%M:%S} {sample.state}, quorum last checked {when}"


def never_silent(episodes: Sequence[Episode], samples: Sequence[Sample],
                 silent_after_s: float) -> list[Violation]:
    """Invariant 5: every sample of a pair silent longer than `silent_after_s` shows no_data.
    Consecutive bad samples of a pair are one violation."""
    problems: list[Violation] = []
    open_runs: dict[tuple[str, str], list[Sample]] = {}

    def close(pair: tuple[str, str]) -> None:
        run = open_runs.pop(pair, None)
        if run:
            first, last = run[0], run[-1]
            problems.append(Violation(
                NEVER_SILENT, _label(_owner(episodes, first.at)),
                f"{pair[0]} in {pair[1]} silent but shown {first.state} from "
                f"{first.at:%H:%M:%S} to {last.at:%H:%M:%S} ({len(run)} sample(s))",
                tuple(_sample_line(s) for s in run[:5])))

    for sample in sorted(samples, key=lambda s: s.at):
        pair = (sample.component, sample.region)
        limit = timedelta(seconds=sample.silent_after_s or silent_after_s)
        silent = sample.quorum_checked_at is None or sample.at - sample.quorum_checked_at > limit
        if silent and sample.state != "no_data":
            open_runs.setdefault(pair, []).append(sample)
        else:
            close(pair)
    for pair in list(open_runs):
        close(pair)
    return problems


def quorum_checked_at(last_check_by_location: Mapping[str, datetime],
                      expected_locations: int) -> datetime | None:
    """When a strict majority of the expected locations had last checked: the k-th newest
    last check, k = expected // 2 + 1.

    >>> from datetime import UTC
    >>> t = [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in (1, 5, 9)]
    >>> quorum_checked_at({"a": t[0], "b": t[1], "c": t[2]}, 3).second
    5
    >>> quorum_checked_at({"a": t[0]}, 3) is None
    True
    """
    need = max(1, expected_locations // 2 + 1)
    newest = sorted(last_check_by_location.values(), reverse=True)
    return newest[need - 1] if len(newest) >= need else None


def check_campaign(episodes: Sequence[Episode], pages: Sequence[PageEvent],
                   notices: Sequence[Notice], samples: Sequence[Sample] = (),
                   silent_after_s: float = 10.0) -> list[Violation]:
    """Every violation of the five invariants over the whole campaign."""
    episodes = sorted(episodes, key=lambda e: e.start)
    page_groups = _by_episode(episodes, pages)
    notice_groups = _by_episode(episodes, notices)
    problems = []
    strays = [e.describe() for e in page_groups.get(None, [])] + \
        [n.describe() for n in notice_groups.get(None, [])]
    if strays:
        problems.append(Violation(STRAY, _label(None), f"{len(strays)} event(s) before the "
                                  "first episode", tuple(strays)))
    for episode in episodes:
        mine, told = page_groups.get(episode.index, []), notice_groups.get(episode.index, [])
        problems += one_page_per_root(episode, mine)
        problems += page_first(episode, mine, told, pages)
        problems += one_story(episode, told)
    problems += resolved_once(episodes, pages)
    problems += never_silent(episodes, samples, silent_after_s)
    return problems


def counts(episodes: Sequence[Episode], pages: Sequence[PageEvent],
           notices: Sequence[Notice]) -> list[EpisodeCounts]:
    """Per episode: trigger events and distinct alerts per key, resolves, notices."""
    episodes = sorted(episodes, key=lambda e: e.start)
    page_groups = _by_episode(episodes, pages)
    notice_groups = _by_episode(episodes, notices)
    found = []
    for episode in episodes:
        figures = EpisodeCounts(_label(episode))
        for event in page_groups.get(episode.index, []):
            if event.action == "trigger":
                figures.triggers[event.routing_key] += 1
                figures.alerts.setdefault(event.routing_key, set()).add(event.dedup_key)
            elif event.action == "resolve":
                figures.resolves += 1
        told = notice_groups.get(episode.index, [])
        figures.notices = len(told)
        figures.subscribers = len({n.subscriber for n in told})
        found.append(figures)
    return found


def held(problems: Sequence[Violation]) -> dict[str, int]:
    """Violations per invariant (0: held)."""
    tally = Counter(p.invariant for p in problems)
    return {name: tally.get(name, 0) for name in (*INVARIANTS, STRAY)}
