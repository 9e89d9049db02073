"""Two processes of the scale-out layout seeding the probe catalogue at the same moment both
start (seen before: the second `bellwether worker` died on a unique violation of pk_probes)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.clock import SystemClock
from core.config import Settings
from core.db import make_session_factory
from probes import service
from probes.specs import ProbeSpec
from tests.support.databases import migrated_engine

REGIONS = ("europe-west1.gcp",)


def test_a_process_that_loses_the_seeding_race_seeds_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = replace(Settings(), regions=REGIONS, data_dir=tmp_path)
    catalogue = service.configured_probes(settings)
    with migrated_engine(tmp_path, "seeding") as engine:
        factory = make_session_factory(engine)
        rival_result: list[list[ProbeSpec] | BaseException] = []

        def rival() -> None:
            try:
                rival_result.append(service.seed_probes(factory, settings, SystemClock()))
            except BaseException as exc:  # reported by the assertions below
                rival_result.append(exc)

        threads: list[threading.Thread] = []

        def racing_catalogue(_settings: Settings) -> Iterator[ProbeSpec]:
            """The first process has looked up its first probe (absent) and added it, not
            yet flushed, when the rival seeds the whole catalogue and commits."""
            yield catalogue[0]
            monkeypatch.setattr(service, "configured_probes", lambda _s: catalogue)
            threads.append(threading.Thread(target=rival))
            threads[0].start()
            # PostgreSQL: the rival commits now. SQLite: the first process holds the write
            # lock (every transaction begins IMMEDIATE), so the rival waits for it.
            threads[0].join(timeout=3)
            yield from catalogue[1:]

        monkeypatch.setattr(service, "configured_probes", racing_catalogue)
        with caplog.at_level("INFO", logger="bellwether.probes"):
            ours = service.seed_probes(factory, settings, SystemClock())
        threads[0].join(timeout=30)

        assert len(rival_result) == 1
        assert not isinstance(rival_result[0], BaseException), rival_result
        names = sorted(spec.name for spec in catalogue if spec.enabled)
        assert sorted(spec.name for spec in ours) == names
        assert sorted(spec.name for spec in rival_result[0]) == names
        seeded_again = "seeding again" in caplog.text
        assert seeded_again == engine.dialect.name.startswith("postgresql")
