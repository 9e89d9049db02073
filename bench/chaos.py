"""The long chaos campaign: many seeded episodes of compound faults against a real
`bellwether up` at 1 s probes, with a PagerDuty stand-in, a mail server and an agent.

Run: `.venv/bin/python bench/chaos.py [--seeds 1,2,3] [--episodes 12] [--database-url URL]`.

Each seed is one campaign (`drills.chaos`) in a temporary directory with the campaign's
default timing (20 s holds, PagerDuty away for a full minute); after it, the five
invariants of `drills.chaos_invariants` are checked over everything the stand-ins received
and printed with per-episode trigger counts. Results go to docs/resilience.md by hand; the
JSON of each seed is written beside the working directory (`--out`). A PostgreSQL URL must
name an empty database per seed: `{seed}` in it is replaced by the seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import exit_on_sigterm, say
from drills.chaos import Setup, run_campaign, window
from drills.chaos_invariants import held


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--out", type=Path, default=Path("test-artifacts"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    totals: dict[str, int] = {}
    for seed in (int(s) for s in args.seeds.split(",") if s):
        url = args.database_url.replace("{seed}", str(seed)) if args.database_url else None
        with tempfile.TemporaryDirectory(prefix="bellwether-chaos-bench-") as work:
            result = run_campaign(Setup(Path(work), url), seed, args.episodes, say=say)
        say(result.summary())
        say(f"seed {seed}: {len(result.episodes)} episodes in "
            f"{window(result).total_seconds():.0f} s")
        (args.out / f"chaos-bench-{seed}.json").write_text(
            json.dumps(result.to_json(), indent=2), encoding="utf-8")
        for name, n in held(result.violations).items():
            totals[name] = totals.get(name, 0) + n
    say("")
    say("| invariant | violations |")
    say("| --- | --- |")
    for name, n in totals.items():
        say(f"| {name} | {n} |")


if __name__ == "__main__":
    main()
