"""Every SQL statement an engine runs inside a block: tests that say a pass does nothing
count statements, never seconds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements run on `engine` while the block runs, in order."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def writes(seen: list[str]) -> list[str]:
    """The INSERT/UPDATE/DELETE statements among `seen`, cut to their verb and table."""
    return [s.split("(", 1)[0].split(" SET ")[0] for s in seen
            if s.lstrip().split(" ", 1)[0].upper() in WRITES]
