"""`bellwether sla compute` through the real entry point, against the shared vectors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import main
from sla.export import LINE_FIELDS
from tests.sla.builders import at, check, check_line, every_30s, write_lines

REPO = Path(__file__).resolve().parents[2]
#: The shared SLA test vectors, copied into the repository (tests/sla/vectors/ORIGIN.md).
VECTORS = Path(__file__).resolve().parent / "vectors"
CASES = sorted(path for path in VECTORS.glob("*") if (path / "expected.json").is_file())
LINE = check_line(check("loc-a", at(0), True)).decode().strip()


def test_the_vectors_are_in_the_repository() -> None:
    """A clone outside the workspace has no ../shared: the cases must not vanish silently."""
    assert len(CASES) >= 4


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `bellwether sla compute ARGS`."""
    try:
        main(["sla", "compute", *map(str, args)])
        status = 0
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def vector_args(case: Path) -> list[str]:
    args = json.loads((case / "args.json").read_text())
    return ["--checks", str(case / "checks.jsonl"), "--month", args["month"],
            "--plan", args["plan"], "--confirmations", str(args["confirmations"]),
            "--maintenance", str(case / "maintenance.json")]


def assert_same_report(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Integers and text exactly, uptime_pct to 4 decimals, the rest as numbers."""
    assert {k: v for k, v in got.items() if k != "lines"} == {
        k: v for k, v in expected.items() if k != "lines"}
    assert len(got["lines"]) == len(expected["lines"])
    for line, wanted in zip(got["lines"], expected["lines"], strict=True):
        assert list(line) == list(wanted)
        assert round(line["uptime_pct"], 4) == round(wanted["uptime_pct"], 4)
        assert {k: v for k, v in line.items() if k != "uptime_pct"} == {
            k: v for k, v in wanted.items() if k != "uptime_pct"}


def test_the_shared_vectors_are_there() -> None:
    assert len(CASES) >= 4, f"no SLA vectors under {VECTORS}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_it_prints_what_each_vector_expects(capsys: pytest.CaptureFixture[str],
                                            case: Path) -> None:
    status, out, err = run(capsys, *vector_args(case))
    assert (status, err) == (0, "")
    assert_same_report(json.loads(out), json.loads((case / "expected.json").read_text()))


@pytest.mark.parametrize("case", CASES[:1], ids=lambda case: case.name)
def test_the_csv_holds_the_same_lines(capsys: pytest.CaptureFixture[str], case: Path) -> None:
    status, out, _ = run(capsys, *vector_args(case), "--format", "csv")
    expected = json.loads((case / "expected.json").read_text())["lines"]
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert list(rows[0]) == list(LINE_FIELDS)
    assert [{k: json.loads(v) if k not in ("component", "region") else v
             for k, v in row.items()} for row in rows] == expected


def test_the_console_command_runs_as_a_process() -> None:
    case = CASES[0]
    done = subprocess.run([sys.executable, "app.py", "sla", "compute", *vector_args(case)],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert_same_report(json.loads(done.stdout), json.loads((case / "expected.json").read_text()))


def test_lines_are_sorted_by_component_then_region(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    checks = tmp_path / "checks.jsonl"
    write_lines(checks, [check("loc-a", at(0), True, component=component, region=region)
                         for component, region in [("search", "eu"), ("carts", "us"),
                                                   ("carts", "au"), ("orders", "eu")]])
    status, out, _ = run(capsys, "--checks", checks, "--month", "2026-10")
    assert status == 0
    assert [(line["component"], line["region"]) for line in json.loads(out)["lines"]] == [
        ("carts", "au"), ("carts", "us"), ("orders", "eu"), ("search", "eu")]


def test_it_uses_the_standard_plan_and_two_confirmations_by_default(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    checks = tmp_path / "checks.jsonl"
    write_lines(checks, every_30s("loc-a", 0, 1, ok=False))
    status, out, _ = run(capsys, "--checks", checks, "--month", "2026-10")
    report = json.loads(out)
    assert (status, report["plan"], report["confirmations"]) == (0, "standard", 2)
    assert report["lines"][0]["downtime_minutes"] == 1


def bad_checks(tmp_path: Path, third_line: str) -> Path:
    path = tmp_path / "checks.jsonl"
    path.write_text(f"{LINE}\n{LINE}\n{third_line}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("third_line", "reason"),
    [
        ("{not json", "not JSON"),
        (LINE.replace('"ok": true, ', ""), 'missing field "ok"'),
        (LINE.replace("2026-10-01T00:00:00Z", "2026-10-01 noon"), '"at"'),
        (LINE.replace("2026-10-01T00:00:00Z", "2026-10-01T00:00:00"), '"at"'),
    ],
)
def test_a_bad_check_line_exits_2_naming_file_and_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, third_line: str,
        reason: str) -> None:
    path = bad_checks(tmp_path, third_line)
    status, out, err = run(capsys, "--checks", path, "--month", "2026-10")
    assert (status, out) == (2, "")
    assert f"{path}, line 3: {reason}" in err


def test_an_unreadable_checks_file_exits_2(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    status, out, err = run(capsys, "--checks", missing, "--month", "2026-10")
    assert (status, out) == (2, "")
    assert f"{missing}: cannot read" in err
    status, out, err = run(capsys, "--checks", tmp_path, "--month", "2026-10")
    assert (status, out) == (2, "")
    assert f"{tmp_path}: cannot read" in err


def test_a_bad_maintenance_file_exits_2_naming_file_and_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    checks = bad_checks(tmp_path, LINE)
    maintenance = tmp_path / "maint.json"
    maintenance.write_text('[\n {"start": "2026-10-10T02:00:00Z",\n'
                           '  "end": "2026-10-10T01:00:00Z"}\n]\n', encoding="utf-8")
    status, out, err = run(capsys, "--checks", checks, "--month", "2026-10",
                           "--maintenance", maintenance)
    assert (status, out) == (2, "")
    assert f"{maintenance}, line 2: maintenance window ends" in err
    status, out, err = run(capsys, "--checks", checks, "--month", "2026-10",
                           "--maintenance", tmp_path / "absent.json")
    assert (status, out) == (2, "")
    assert "absent.json: cannot read (No such file or directory)" in err
    maintenance.write_bytes(b"[\xff]")
    status, out, err = run(capsys, "--checks", checks, "--month", "2026-10",
                           "--maintenance", maintenance)
    assert (status, out) == (2, "")
    assert f"{maintenance}: cannot read (not UTF-8 text)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "month '2026-13' is not YYYY-MM"),
        (["--month", "October"], "month 'October' is not YYYY-MM"),
        (["--month", "2026-10", "--plan", "gold"], "unknown plan 'gold'"),
        (["--month", "2026-10", "--confirmations", "0"], "--confirmations"),
        (["--month", "2026-10", "--format", "xml"], "--format"),
    ],
)
def test_bad_options_exit_2_with_nothing_on_stdout(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str],
        message: str) -> None:
    status, out, err = run(capsys, "--checks", bad_checks(tmp_path, LINE), *args)
    assert (status, out) == (2, "")
    assert message in err
