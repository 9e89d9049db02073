"""The campaign's plan is a pure function of its seed, covers every kind of episode, and
says what each must page; the stand-ins record everything with its arrival time."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from drills.chaos import KINDS, ROUTING, EpisodePlan, plan_campaign
from drills.chaos_harness import MailSink, PagerDutyStandIn, self_signed

REGIONS = ("europe-west1.gcp", "us-central1.gcp")


def test_a_seed_always_plays_the_same_campaign_and_six_episodes_cover_every_kind() -> None:
    plans = plan_campaign(11, 8, REGIONS)
    assert plans == plan_campaign(11, 8, REGIONS)
    assert plans != plan_campaign(12, 8, REGIONS)
    assert {p.kind for p in plans[:6]} == set(KINDS)
    overlaps = [p for p in plan_campaign(5, 30, REGIONS) if p.kind == "overlap"]
    assert all(p.region != p.other_region for p in overlaps)


def test_each_episode_names_the_alerts_its_roots_call_for() -> None:
    def plan(kind: str, component: str = "auth") -> EpisodePlan:
        return EpisodePlan(kind, REGIONS[0], REGIONS[1], component)

    assert plan("overlap", "search").pages(REGIONS) == {ROUTING[1]: 2}
    assert plan("escalation", "import").pages(REGIONS) == {ROUTING[1]: 1, ROUTING[2]: 1}
    assert plan("probes_disabled", "audit-log").pages(REGIONS) == {ROUTING[2]: 2}
    assert plan("agent_killed").pages(REGIONS) == {ROUTING[1]: 1}
    assert plan("overlap").roots(REGIONS) == 2


def test_the_pagerduty_stand_in_goes_away_and_comes_back_on_its_port(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    standin = PagerDutyStandIn(cert, key)
    standin.start()
    trust = ssl.create_default_context(cafile=str(cert))
    event = {"routing_key": "k", "event_action": "trigger", "dedup_key": "d"}
    try:
        with httpx.Client(verify=trust, timeout=5) as client:
            assert client.post(f"{standin.url}/v2/enqueue", json=event).status_code == 202
            standin.stop()
            refused = False
            try:
                client.post(f"{standin.url}/v2/enqueue", json=event)
            except httpx.TransportError:
                refused = True
            assert refused
            standin.start()
            assert client.post(f"{standin.url}/v2/enqueue", json=event).status_code == 202
    finally:
        standin.stop()
    assert [r.event["dedup_key"] for r in standin.events()] == ["d", "d"]


def test_the_mail_sink_keeps_every_recipient_s_copy() -> None:
    sink = MailSink()
    sink.start()
    try:
        message = EmailMessage()
        message["From"], message["To"] = "bellwether@example.test", "a@example.test"
        message["Subject"] = "[investigating] auth unavailable — us-central1.gcp"
        message.set_content("Details: http://127.0.0.1/incidents/1 ✓")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
            smtp.send_message(message, to_addrs=["a@example.test", "b@example.test"])
    finally:
        sink.stop()
    mails = sink.mails()
    assert [m.recipient for m in mails] == ["a@example.test", "b@example.test"]
    assert mails[0].subject == "[investigating] auth unavailable — us-central1.gcp"
    assert "incidents/1 ✓" in mails[0].text


def test_bellwether_drill_chaos_runs_a_campaign_and_fails_on_a_violation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import drills.chaos
    from drills.cli import drill_command

    calls: list[tuple[int, int, str | None]] = []

    def fake(seed: int, episodes: int, database_url: str | None, out_dir: Path | None,
             say: Callable[[str], None]) -> bool:
        calls.append((seed, episodes, database_url))
        return False

    monkeypatch.setattr(drills.chaos, "run_campaign_command", fake)
    outcome = CliRunner().invoke(drill_command, ["chaos", "--seed", "4", "--episodes", "2"])
    assert calls == [(4, 2, None)]
    assert outcome.exit_code == 1
