from __future__ import annotations

from commerce.router import zones_to_try


def test_it_rotates_over_healthy_zones() -> None:
    healthy = frozenset("abc")
    firsts = [zones_to_try("abc", healthy, turn)[0] for turn in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]


def test_unhealthy_zones_are_tried_last() -> None:
    assert zones_to_try("abc", frozenset("ac"), 0) == ["a", "c", "b"]
    assert zones_to_try("abc", frozenset(), 5) == ["a", "b", "c"]
