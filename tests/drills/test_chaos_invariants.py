"""The chaos campaign's invariants on hand-made event lists: each one holds on a clean
episode and catches the failure it names (paging storms, stranded alerts, notices before
pages, notice storms, silence shown as health)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drills.chaos_invariants import (
    NEVER_SILENT,
    ONE_PAGE,
    ONE_STORY,
    PAGE_FIRST,
    RESOLVED_ONCE,
    STRAY,
    Episode,
    Notice,
    PageEvent,
    Sample,
    Violation,
    check_campaign,
    counts,
    held,
    quorum_checked_at,
)

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
K1, K2 = "tier-one-key", "tier-two-key"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def page(s: float, action: str, dedup: str = "bellwether-incident-1", key: str = K1,
         ) -> PageEvent:
    return PageEvent(at(s), key, dedup, action)


def mail(s: float, who: str, subject: str = "[investigating] auth unavailable") -> Notice:
    return Notice(at(s), who, subject)


def episode(start: float = 0, pages: dict[str, int] | None = None, roots: int = 1,
            index: int = 0) -> Episode:
    return Episode(index, "region", at(start), {K1: 1} if pages is None else pages, roots,
                   notice_interval_s=60)


def names(problems: list[Violation]) -> list[str]:
    return sorted(p.invariant for p in problems)


def test_a_clean_outage_holds_every_invariant() -> None:
    pages = [page(5, "trigger"), page(8, "trigger"), page(40, "resolve")]
    notices = [mail(6, "a@x"), mail(6.5, "b@x"), mail(41, "a@x", "[resolved] auth"),
               mail(41, "b@x", "[resolved] auth")]
    problems = check_campaign([episode()], pages, notices)
    assert problems == []
    assert set(held(problems).values()) == {0}
    figures = counts([episode()], pages, notices)[0]
    assert figures.triggers == {K1: 2}
    assert figures.alerts == {K1: {"bellwether-incident-1"}}
    assert (figures.resolves, figures.notices, figures.subscribers) == (1, 4, 2)


def test_a_burn_rate_page_beside_the_outage_is_a_storm() -> None:
    pages = [page(5, "trigger"), page(9, "trigger", "bellwether-incident-2"),
             page(40, "resolve"), page(41, "resolve", "bellwether-incident-2")]
    problems = check_campaign([episode()], pages, [])
    assert names(problems) == [ONE_PAGE]
    assert "2 alert(s) triggered on tier-one-key, expected 1" in problems[0].detail
    assert len(problems[0].events) == 4, "every event of the key is shown"


def test_a_missing_page_is_caught_too() -> None:
    assert names(check_campaign([episode()], [], [])) == [ONE_PAGE]


def test_a_tier_two_root_escalating_to_auth_pages_each_key_once() -> None:
    pages = [page(5, "trigger", key=K2), page(20, "trigger", "bellwether-incident-1-tier1"),
             page(60, "resolve", key=K2), page(60, "resolve", "bellwether-incident-1-tier1")]
    assert check_campaign([episode(pages={K1: 1, K2: 1})], pages, []) == []


def test_a_resolve_sent_to_the_escalated_key_strands_the_first_alert() -> None:
    pages = [page(5, "trigger", key=K2), page(20, "trigger", "bellwether-incident-1-tier1"),
             page(60, "resolve", key=K1), page(60, "resolve", "bellwether-incident-1-tier1")]
    problems = check_campaign([episode(pages={K1: 1, K2: 1})], pages, [])
    assert names(problems) == [RESOLVED_ONCE, RESOLVED_ONCE]
    details = " ".join(p.detail for p in problems)
    assert "went to another key" in details
    assert "never resolved" in details


def test_double_and_orphan_resolves_are_caught() -> None:
    pages = [page(5, "trigger"), page(40, "resolve"), page(41, "resolve"),
             page(50, "resolve", "bellwether-incident-9")]
    problems = check_campaign([episode()], pages, [])
    assert names(problems) == [RESOLVED_ONCE, RESOLVED_ONCE]
    assert any("never triggered" in p.detail for p in problems)
    assert any("no open alert" in p.detail for p in problems)


def test_a_reopened_alert_is_one_page_resolved_per_cycle() -> None:
    pages = [page(5, "trigger"), page(30, "resolve"), page(50, "trigger"),
             page(90, "resolve")]
    assert check_campaign([episode()], pages, []) == []


def test_an_alert_may_resolve_in_the_next_episode_window() -> None:
    episodes = [episode(), episode(100, {K2: 1}, index=1)]
    pages = [page(5, "trigger"), page(101, "resolve"), page(105, "trigger", "x", K2),
             page(130, "resolve", "x", K2)]
    assert check_campaign(episodes, pages, []) == []


def test_a_notice_before_its_page_is_caught() -> None:
    pages = [page(30, "trigger"), page(60, "resolve")]
    problems = check_campaign([episode()], pages, [mail(10, "a@x"), mail(31, "b@x")])
    assert names(problems) == [PAGE_FIRST]
    assert problems[0].events == (mail(10, "a@x").describe() + " — paged only at "
                                  "09:00:30.000",)


def test_a_notice_is_judged_against_its_own_incident_s_page() -> None:
    pages = [page(5, "trigger", "bellwether-incident-1"), page(40, "resolve"),
             page(20, "trigger", "bellwether-incident-2-tier1"),
             page(41, "resolve", "bellwether-incident-2-tier1")]
    notices = [Notice(at(10), "a@x", "[investigating] import", incident=2),
               Notice(at(21), "b@x", "[investigating] import", incident=2),
               Notice(at(22), "c@x", "[investigating] carts", incident=3)]
    problems = check_campaign([episode()], pages, notices)
    assert names(problems) == sorted([ONE_PAGE, PAGE_FIRST])
    early = next(p for p in problems if p.invariant == PAGE_FIRST)
    assert len(early.events) == 2
    assert early.events[1].endswith("— never paged")


def test_a_carried_over_incident_s_notice_needs_no_page_in_the_next_episode() -> None:
    episodes = [episode(), episode(100, {}, index=1)]
    pages = [page(5, "trigger"), page(101, "resolve")]
    notices = [Notice(at(6), "a@x", "[investigating] auth", incident=1),
               Notice(at(102), "a@x", "[resolved] auth", incident=1)]
    assert check_campaign(episodes, pages, notices) == []


def test_a_notice_without_any_page_is_caught() -> None:
    problems = check_campaign([episode(pages={})], [], [mail(10, "a@x")])
    assert names(problems) == [PAGE_FIRST]


def test_one_email_per_newly_affected_component_is_a_notice_storm() -> None:
    pages = [page(1, "trigger"), page(90, "resolve")]
    notices = [mail(2 + i, "a@x", f"[investigating] component {i}") for i in range(9)]
    problems = check_campaign([episode()], pages, notices)
    assert names(problems) == [ONE_STORY]
    assert problems[0].detail.count("closer than 60 s") == 8


def test_an_update_a_little_early_at_the_mail_server_is_delivery_jitter() -> None:
    pages = [page(1, "trigger"), page(200, "resolve")]
    notices = [mail(2, "a@x"), mail(56.5, "a@x", "[monitoring] auth")]
    assert check_campaign([episode()], pages, notices) == []
    notices = [mail(2, "a@x"), mail(55.5, "a@x", "[monitoring] auth")]
    assert names(check_campaign([episode()], pages, notices)) == [ONE_STORY]


def test_updates_a_notice_interval_apart_and_one_resolution_hold() -> None:
    pages = [page(1, "trigger"), page(200, "resolve")]
    notices = [mail(2, "a@x"), mail(70, "a@x", "[identified] auth"),
               mail(131, "a@x", "[monitoring] auth"), mail(201, "a@x", "[resolved] auth")]
    assert check_campaign([episode()], pages, notices) == []


def test_two_resolutions_for_one_root_are_caught() -> None:
    pages = [page(1, "trigger"), page(200, "resolve")]
    notices = [mail(2, "a@x"), mail(201, "a@x", "[resolved] a"),
               mail(202, "a@x", "[Resolved] b")]
    assert names(check_campaign([episode()], pages, notices)) == [ONE_STORY]


def test_two_roots_may_each_tell_a_subscriber_once() -> None:
    pages = [page(1, "trigger"), page(2, "trigger", "bellwether-incident-2", K2),
             page(60, "resolve"), page(61, "resolve", "bellwether-incident-2", K2)]
    notices = [mail(3, "a@x"), mail(4, "a@x", "[investigating] import"),
               mail(61, "a@x", "[resolved] auth"), mail(62, "a@x", "[resolved] import")]
    assert check_campaign([episode(pages={K1: 1, K2: 1}, roots=2)], pages, notices) == []


def told(s: float, incident: int, subject: str = "[investigating] auth") -> Notice:
    return Notice(at(s), "a@x", subject, incident)


TWO_INCIDENTS = [page(1, "trigger"), page(2, "trigger", "bellwether-incident-2", K2),
                 page(150, "resolve"), page(151, "resolve", "bellwether-incident-2", K2)]


def test_two_incidents_are_two_stories_each_on_its_own_cadence() -> None:
    notices = [told(3, 1), told(19.5, 2, "[investigating] import"),
               told(70, 1, "[monitoring] auth"), told(80, 2, "[monitoring] import"),
               told(151, 1, "[resolved] auth"), told(152, 2, "[resolved] import")]
    assert check_campaign([episode(pages={K1: 1, K2: 1}, roots=2)], TWO_INCIDENTS,
                          notices) == []


def test_an_early_update_is_caught_whatever_was_told_of_another_incident_between() -> None:
    notices = [told(3, 1), told(30, 2, "[investigating] import"),
               told(40, 1, "[monitoring] auth")]
    problems = check_campaign([episode(pages={K1: 1, K2: 1}, roots=2)], TWO_INCIDENTS,
                              notices)
    assert names(problems) == [ONE_STORY]
    assert "37.0 s after the last" in problems[0].detail


def test_more_incidents_told_than_roots_is_a_storm() -> None:
    pages = [*TWO_INCIDENTS, page(3, "trigger", "bellwether-incident-3", K2)]
    notices = [told(3, 1), told(4, 2, "[investigating] import"), told(5, 3, "[x] orders")]
    problems = check_campaign([episode(pages={K1: 1, K2: 1}, roots=2)], pages, notices)
    assert ONE_STORY in names(problems)
    assert "told of 3 incidents for 2 root(s)" in \
        next(p for p in problems if p.invariant == ONE_STORY).detail


def test_an_incident_resolved_twice_is_caught() -> None:
    notices = [told(3, 1), told(151, 1, "[resolved] auth"), told(152, 1, "[resolved] auth")]
    problems = check_campaign([episode(pages={K1: 1, K2: 1}, roots=2)], TWO_INCIDENTS,
                              notices)
    assert names(problems) == [ONE_STORY]
    assert "2 resolutions of incident 1" in problems[0].detail


def test_events_before_the_first_episode_are_strays_not_dropped() -> None:
    problems = check_campaign([episode(10, pages={})], [page(1, "trigger"),
                                                       page(2, "resolve")], [])
    assert names(problems) == [STRAY]
    assert len(problems[0].events) == 2


def sample(s: float, state: str, checked: float | None, component: str = "search",
           ) -> Sample:
    return Sample(at(s), component, "us-central1.gcp", state,
                  None if checked is None else at(checked))


def test_silence_shown_as_operational_is_caught_once_per_run() -> None:
    samples = [sample(0, "operational", 0), sample(5, "operational", 4),
               sample(20, "operational", 4), sample(22, "operational", 4),
               sample(24, "no_data", 4), sample(30, "operational", None, "auth")]
    problems = check_campaign([episode(pages={})], [], [], samples, silent_after_s=10)
    assert names(problems) == [NEVER_SILENT, NEVER_SILENT]
    assert "search in us-central1.gcp silent but shown operational from 09:00:20 to " \
           "09:00:22 (2 sample(s))" in {p.detail for p in problems}


def test_silence_shown_as_no_data_holds() -> None:
    samples = [sample(0, "operational", 0), sample(20, "no_data", 4),
               sample(30, "operational", 29)]
    assert check_campaign([episode(pages={})], [], [], samples, silent_after_s=10) == []


def test_the_quorum_is_a_strict_majority_of_the_expected_locations() -> None:
    last = {"a": at(1), "b": at(2), "c": at(3), "d": at(4)}
    assert quorum_checked_at(last, 4) == at(2)
    assert quorum_checked_at(last, 3) == at(3)
    assert quorum_checked_at({"a": at(1)}, 4) is None
