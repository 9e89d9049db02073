"""The chaos campaign in CI: a bounded set of seeds against a real `bellwether up` at 1 s
probes (SQLite, or PostgreSQL with BELLWETHER_TEST_DATABASE_URL), with a PagerDuty stand-in,
a mail server with three email subscribers and an agent. Every invariant of
`drills.chaos_invariants` must hold over everything they received."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drills.chaos import Setup, Timing, run_campaign, window
from tests.support.databases import create_database, drop_database

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Short holds and a 15 s PagerDuty outage (a full minute in `bench/chaos.py`) keep a pass
#: of three episodes near 2.5 minutes when every episode settles.
CI_TIMING = Timing(hold_s=10.0, flap_on_s=5.0, flap_off_s=6.0, flaps=2, away_s=15.0,
                   quiet_timeout_s=45.0, reopen_s=10.0, settle_s=2.0, notice_interval_s=20.0)
SEED = 7
#: Half of the kinds in each pass keeps a pass near 2.5 minutes; together the SQLite and
#: PostgreSQL passes play every kind once (`bench/chaos.py` plays them all on either).
KINDS_BY_BACKEND = {"sqlite": ("overlap", "escalation", "agent_killed"),
                    "postgresql": ("flapping", "pagerduty_away", "probes_disabled")}


@pytest.mark.timeout(400)
def test_the_chaos_campaign_breaks_no_invariant(tmp_path: Path) -> None:
    url = create_database(tmp_path, "chaos")
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    kinds = KINDS_BY_BACKEND[backend]
    try:
        result = run_campaign(Setup(tmp_path / "world", url, timing=CI_TIMING, kinds=kinds),
                              SEED, len(kinds), say=print)
    finally:
        drop_database(url)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"chaos-{backend}-{SEED}.json").write_text(
        json.dumps(result.to_json(), indent=2), encoding="utf-8")
    print(result.summary())
    print(f"campaign ran {window(result).total_seconds():.0f} s")
    assert {e.name for e in result.episodes} == set(kinds)
    assert result.violations == [], result.summary()
