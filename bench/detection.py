"""Time to detect a region outage at the DEFAULT settings (30 s probes, 2 confirmations,
5 s retry interval): fault injected → live state `major_outage` → incident open.

Run: `.venv/bin/python bench/detection.py [--runs 7] [--region us-central1.gcp]`.

Starts `.venv/bin/python app.py up` in a temporary data directory (embedded SQLite), every
other BELLWETHER_* variable dropped so the defaults are measured. Each run waits until the
region is operational again, waits a random 0-30 s (so the fault lands anywhere in the
probes' 30 s slots), injects `region_down` through the fault API, and reads from the
database when the first component of the region turned `major_outage` and when an
incident covering it opened (or reopened). The fault is cleared after detection, and the
next run waits until the region's incident has resolved (its cool-down), so every run
opens one.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    PYTHON,
    ROOT,
    Child,
    exit_on_sigterm,
    free_port,
    say,
    up_env,
    wait_for_port,
)

TOKEN = "bench-detection-admin-token-0123456789"


def call(port: int, method: str, path: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=10) as conn:
        return list(conn.execute(sql, args))


def at(value: object) -> float:
    moment = datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def region_states(db: Path, region: str) -> dict[str, str]:
    return {str(c): str(s) for c, s in query(
        db, "SELECT component, state FROM component_states WHERE region = ?", region)}


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout:g} s")
        time.sleep(0.1)


def open_incidents(db: Path, region: str) -> int:
    return int(str(query(db, "SELECT count(DISTINCT i.id) FROM incidents i JOIN "
                             "incident_components c ON c.incident_id = i.id "
                             "WHERE i.resolved_at IS NULL AND c.region = ?", region)[0][0]))


def one_run(port: int, db: Path, region: str, rng: random.Random) -> tuple[float, float | None]:
    wait(lambda: (s := region_states(db, region)) and set(s.values()) == {"operational"}
         and open_incidents(db, region) == 0, 600, "operational region without incident")
    time.sleep(rng.uniform(0, 30))
    if open_incidents(db, region):
        return one_run(port, db, region, rng)
    since_change = query(db, "SELECT coalesce(max(id), 0) FROM component_state_changes")[0][0]
    injected = time.time()
    fault = call(port, "POST", "/api/v1/faults", {"kind": "region_down", "region": region})
    try:
        found: list[tuple[object, ...]] = []

        def detected() -> bool:
            found[:] = query(db, "SELECT min(at) FROM component_state_changes WHERE id > ? "
                                 "AND region = ? AND to_state = 'major_outage'",
                             since_change, region)
            return bool(found and found[0][0])

        wait(detected, 180, "major_outage")
        state_s = at(found[0][0]) - injected
        # When an open incident covering the region is first seen (polled every 0.1 s; its
        # `opened_at` is backdated to the first failing check, so it is not the figure).
        opened: float | None = None
        deadline = time.monotonic() + 60
        while opened is None and time.monotonic() < deadline:
            if open_incidents(db, region):
                opened = time.time() - injected
            time.sleep(0.1)
        return state_s, opened
    finally:
        assert isinstance(fault, dict)
        call(port, "DELETE", f"/api/v1/faults/{fault['id']}")


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--region", default="us-central1.gcp")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bw-bench-detect-") as tmp:
        data_dir = Path(tmp)
        env = up_env(data_dir, port, BELLWETHER_ADMIN_TOKEN=TOKEN)
        say(f"bellwether up at the defaults: port {port}, data dir {data_dir}, "
            f"{args.runs} region_down runs in {args.region}")
        with Child([PYTHON, str(ROOT / "app.py"), "up"], env=env) as up:
            wait_for_port(port, timeout=120)
            db = data_dir / "bellwether.sqlite"
            results = []
            for number in range(1, args.runs + 1):
                if up.process.poll() is not None:
                    sys.exit(f"bellwether up exited early with {up.process.returncode}")
                state_s, opened_s = one_run(port, db, args.region, rng)
                results.append((state_s, opened_s))
                opened = "-" if opened_s is None else f"{opened_s:.1f}"
                say(f"| {number} | {state_s:.1f} | {opened} |")
            up.stop(timeout=60)
    states = [s for s, _ in results]
    opens = [o for _, o in results if o is not None]
    say(f"\nstate change: median {statistics.median(states):.1f} s, min {min(states):.1f}, "
        f"max {max(states):.1f}; incident open/update: "
        + (f"median {statistics.median(opens):.1f} s" if opens else "not seen"))


if __name__ == "__main__":
    main()
