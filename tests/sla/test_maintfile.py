from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sla.maintfile import parse_windows
from sla.model import InvalidWindow, MaintenanceWindow

WINDOW = '{"start": "2026-10-10T02:00:00Z", "end": "2026-10-10T03:00:00Z"}'
GOOD = """[
 {"start": "2026-10-10T02:00:00Z", "end": "2026-10-10T03:00:00Z",
  "components": ["orders"], "regions": ["us-central1.gcp"]},
 {"start": "2026-10-11T04:00:00+02:00", "end": "2026-10-11T03:00:00Z", "title": "db"}
]
"""


def test_it_reads_windows_with_zones_and_lists() -> None:
    assert parse_windows(GOOD, "m.json") == [
        MaintenanceWindow(datetime(2026, 10, 10, 2, tzinfo=UTC),
                          datetime(2026, 10, 10, 3, tzinfo=UTC),
                          frozenset({"orders"}), frozenset({"us-central1.gcp"})),
        MaintenanceWindow(datetime(2026, 10, 11, 2, tzinfo=UTC),
                          datetime(2026, 10, 11, 3, tzinfo=UTC)),
    ]


@pytest.mark.parametrize("text", ["[]", " [ ]\n", '[{"start": "2026-10-10T02:00:00Z", '
                                                  '"end": "2026-10-10T03:00:00Z", '
                                                  '"components": null, "regions": []}]'])
def test_empty_lists_and_files_are_fine(text: str) -> None:
    windows = parse_windows(text, "m.json")
    assert all(not w.components and not w.regions for w in windows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "m.json, line 1: expected a JSON list"),
        ('{"start": 1}', "m.json, line 1: expected a JSON list"),
        ("[\n\n {]", "m.json, line 3: not JSON"),
        ("[\n 1\n]", "m.json, line 2: a window must be a JSON object"),
        ('[\n{"start": "2026-10-10T02:00:00Z", "end": "2026-10-10T01:00:00Z"}]',
         "m.json, line 2: maintenance window ends"),
        ('[\n\n{"start": "2026-10-10T02:00:00", "end": "2026-10-10T03:00:00Z"}]',
         'm.json, line 3: "start" must be an ISO 8601 time'),
        ('[{"end": "2026-10-10T03:00:00Z"}]', 'm.json, line 1: "start" must be'),
        ('[{"start": "2026-10-10T02:00:00Z", "end": "2026-10-10T03:00:00Z",\n'
         ' "regions": "eu"}]', 'm.json, line 1: "regions" must be a list of names'),
        (f"[\n{WINDOW}\n{WINDOW}]", "m.json, line 3: expected ',' or ']'"),
        (f"[{WINDOW},\n]", "m.json, line 2: not JSON"),
        (f"[{WINDOW}", "m.json, line 1: expected ',' or ']'"),
        ("[]\n\nextra", "m.json, line 3: unexpected text after the list"),
        ("[\n" + "[" * 100_000, "m.json, line 2: not JSON"),
    ],
)
def test_it_names_the_file_and_line_of_a_bad_window(text: str, message: str) -> None:
    with pytest.raises(InvalidWindow) as caught:
        parse_windows(text, "m.json")
    assert caught.value.detail.startswith(message)
