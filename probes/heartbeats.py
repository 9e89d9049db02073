"""Agent heartbeats: who an agent says it is, and when silence means it is gone (pure).

Every `bellwether agent` reports a heartbeat each probe interval, with or without checks to
send, and every ingest batch carries the same identity; the server keeps one row per agent
(`probe_agents`). An agent not heard from for `SILENT_AFTER_INTERVALS` probe intervals is
silent: its location's checks may be missing without any check failing. An agent stopped on
purpose says so in a last heartbeat (`stopping`): it is `stopped`, not silent, until it
reports again. Stopped is stored without a column of its own: `silent_since` equal to
`last_seen_at` (a silence the evaluator finds always starts after the last heartbeat).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.auth import LOCATION_NAME
from core.errors import BellwetherError

SILENT_AFTER_INTERVALS = 3
#: An agent's name: its location, plus a shard suffix when several processes share one.
AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,39}$")


class InvalidHeartbeat(BellwetherError):
    code = "invalid_heartbeat"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """An agent's word that it is alive: its name, its location and its version."""

    name: str
    location: str
    version: str = ""
    stopping: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "location": self.location,
                                "version": self.version}
        if self.stopping:
            body["stopping"] = True
        return body


def heartbeat_from_json(raw: Any) -> Heartbeat:
    """A heartbeat from a request body (or an ingest batch's `agent`); 400 when malformed."""
    if not isinstance(raw, Mapping):
        raise InvalidHeartbeat("a heartbeat is an object {name, location, version}")
    name, location, version = raw.get("name"), raw.get("location"), raw.get("version", "")
    if not isinstance(name, str) or not AGENT_NAME.match(name):
        raise InvalidHeartbeat("'name' must be 1 to 120 lower-case letters, digits, '.', '_' "
                               "or '-'")
    if not isinstance(location, str) or not LOCATION_NAME.match(location):
        raise InvalidHeartbeat("'location' must be 1 to 64 lower-case letters, digits, '.', "
                               "'_' or '-'")
    if not isinstance(version, str) or (version and not VERSION.match(version)):
        raise InvalidHeartbeat("'version' must be up to 40 letters, digits, '.', '+', '_' "
                               "or '-'")
    stopping = raw.get("stopping", False)
    if not isinstance(stopping, bool):
        raise InvalidHeartbeat("'stopping' must be true or false")
    return Heartbeat(name, location, version, stopping)


def agent_name(location: str, shard_index: int, shard_count: int) -> str:
    """The name an agent reports: its location, or one per shard of a location.

    >>> agent_name("loc-a", 0, 1), agent_name("loc-a", 1, 4)
    ('loc-a', 'loc-a-shard1of4')
    """
    if shard_count == 1:
        return location
    return f"{location}-shard{shard_index}of{shard_count}"


def is_silent(last_seen_at: datetime, now: datetime, interval_s: int) -> bool:
    """Whether an agent last heard from at `last_seen_at` counts as gone at `now`."""
    return now - last_seen_at > timedelta(seconds=SILENT_AFTER_INTERVALS * interval_s)


def is_stopped(last_seen_at: datetime, silent_since: datetime | None) -> bool:
    """Whether an agent's last word was that it is stopping (see the module's docstring)."""
    return silent_since is not None and silent_since == last_seen_at


def agent_status(last_seen_at: datetime, silent_since: datetime | None, now: datetime,
                 interval_s: int) -> str:
    """`stopped` (said so), `silent` (gone quiet for 3 intervals) or `ok`."""
    if is_stopped(last_seen_at, silent_since):
        return "stopped"
    return "silent" if is_silent(last_seen_at, now, interval_s) else "ok"
