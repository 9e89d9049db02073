"""`bellwether sla export`: every customer's report as CSV, JSON and PDF, and a zip of them."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from app import main
from core.db import make_session_factory, session_scope
from sla.period import month_period
from tests.reports.builders import EU, US, add_customer, insert_rollups

MONTH = "2024-02"  # long past whatever the wall clock says: the command reads it


def run(capsys: pytest.CaptureFixture[str], *args: str, config: Path | None = None,
        ) -> tuple[int, str, str]:
    try:
        main([*(["--config", str(config)] if config else []), "sla", "export", *args])
        status = 0
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def seed(engine: Engine) -> None:
    period = month_period(MONTH)
    with session_scope(make_session_factory(engine)) as session:
        add_customer(session, "Acme Shops", [("acme", EU)], plan="premium", fee_cents=100_000)
        add_customer(session, "Bob's Bikes", [("bikes", US), ("bikes-eu", EU)])
        insert_rollups(session, "orders", EU, [
            (m, "down" if m < period.first_minute + 30 else "up", 3)
            for m in range(period.first_minute, period.end_minute)])


def test_it_writes_every_customers_report_and_a_zip_of_them(
        fresh_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed(fresh_engine)
    monkeypatch.setenv("BELLWETHER_DATABASE_URL",
                       fresh_engine.url.render_as_string(hide_password=False))
    out_dir = tmp_path / "out"
    status, out, err = run(capsys, "--month", MONTH, "--out", str(out_dir))
    assert status == 0, err
    assert "SLA reports 2024-02" in out
    assert "2 customer(s), 6 files" in out
    archive = out_dir / f"sla-reports-{MONTH}.zip"
    with zipfile.ZipFile(archive) as opened:
        names = sorted(opened.namelist())
        acme_json = json.loads(opened.read(f"acme-shops-1-{MONTH}.json"))
        bikes_csv = opened.read(f"bob-s-bikes-2-{MONTH}.csv").decode()
        acme_pdf = opened.read(f"acme-shops-1-{MONTH}.pdf")
    assert names == sorted(f"{stem}-{MONTH}.{ext}" for stem in ("acme-shops-1", "bob-s-bikes-2")
                           for ext in ("csv", "json", "pdf"))
    assert sorted(path.name for path in out_dir.iterdir()) == sorted([*names, archive.name])
    orders = next(line for line in acme_json["lines"] if line["component"] == "orders")
    assert (orders["period_minutes"], orders["downtime_minutes"]) == (41760, 30)
    assert (orders["met"], orders["credit_pct"]) == (False, 10)  # 99.9282 % < 99.99 %
    rows = list(csv.DictReader(io.StringIO(bikes_csv)))
    assert {row["region"] for row in rows} == {EU, US}
    assert len(rows) == 16
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(acme_pdf)).pages)
    assert "SLA report for Acme Shops, 2024-02" in text


def test_a_bad_month_exits_2_and_writes_nothing(
        fresh_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELLWETHER_DATABASE_URL",
                       fresh_engine.url.render_as_string(hide_password=False))
    status, out, err = run(capsys, "--month", "2024-2", "--out", str(tmp_path / "out"))
    assert (status, out) == (2, "")
    assert "month '2024-2' is not YYYY-MM" in err
    assert not (tmp_path / "out").exists()


def test_the_export_command_sits_in_the_sla_group(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert out.startswith("Usage: bellwether sla export [OPTIONS]")
    assert "--month" in out


def test_the_pdf_carries_the_configured_letterhead_as_the_webs_does(
        fresh_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The company name and currency come from the config file (`Letterhead.of`), as in the
    PDF the report page serves, not the defaults (Bellwether, USD)."""
    seed(fresh_engine)
    monkeypatch.setenv("BELLWETHER_DATABASE_URL",
                       fresh_engine.url.render_as_string(hide_password=False))
    config = tmp_path / "bellwether.toml"
    config.write_text('status_title = "Example Ltd"\ncurrency = "EUR"\n')
    out_dir = tmp_path / "out"
    status, _, err = run(capsys, "--month", MONTH, "--out", str(out_dir), config=config)
    assert status == 0, err
    pdf = (out_dir / f"acme-shops-1-{MONTH}.pdf").read_bytes()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert f"Example Ltd: SLA report for Acme Shops, {MONTH}" in text
    assert "Monthly fee 1,000.00 EUR" in text
    assert "USD" not in text
