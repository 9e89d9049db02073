"""How a region router picks zones: round-robin over healthy ones, then the rest.

Like a cloud load balancer, it tries another zone when a zone refuses the connection (the
request never arrived), so a zone failure costs at most the requests in flight.
"""

from __future__ import annotations

from collections.abc import Sequence


def zones_to_try(zones: Sequence[str], healthy: frozenset[str], turn: int) -> list[str]:
    """Healthy zones first, rotated by `turn` for balance; unhealthy ones after, as a last try.

    >>> zones_to_try(["a", "b", "c"], frozenset({"a", "c"}), 1)
    ['c', 'a', 'b']
    """
    up = [zone for zone in zones if zone in healthy]
    down = [zone for zone in zones if zone not in healthy]
    if up:
        start = turn % len(up)
        up = up[start:] + up[:start]
    return up + down
