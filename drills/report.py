"""A drill run as a table: printed, and saved as JSON and HTML."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from drills.runner import DrillResult

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
COLUMNS = ("drill", "expected", "observed", "pages (every trigger)", "detect s", "page s",
           "notify s", "resolve s", "SLA down min", "verdict")


def _figure(value: float | int | None) -> str:
    return "—" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def rows(results: Sequence[DrillResult]) -> list[list[str]]:
    return [[r.scenario, r.expected, r.observed, r.paged, _figure(r.detect_s), _figure(r.page_s),
             _figure(r.notify_s), _figure(r.resolve_s), _figure(r.down_minutes),
             "pass" if r.passed else "FAIL: " + "; ".join(r.problems)] for r in results]


def markdown(results: Sequence[DrillResult]) -> str:
    """The table as Markdown (for docs/resilience.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
              for row in rows(results)]
    return "\n".join(lines) + "\n"


def save(results: Sequence[DrillResult], out_dir: Path, region: str, interval_s: float,
         now: datetime) -> tuple[Path, Path]:
    """Write `drills-<time>.json` and `.html`; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"drills-{now:%Y%m%dT%H%M%SZ}"
    document = {"region": region, "interval_s": interval_s, "ran_at": now.isoformat(),
                "passed": all(r.passed for r in results),
                "drills": [r.to_json() for r in results]}
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    html = env.get_template("drills/report.html").render(
        columns=COLUMNS, rows=rows(results), region=region, interval_s=interval_s, ran_at=now,
        passed=document["passed"])
    html_path = stem.with_suffix(".html")
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path
