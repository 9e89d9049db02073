"""What the outbox holds, read from another process's database."""

from __future__ import annotations

from sqlalchemy import func, select

from alerts.models import OutboxRow
from core.db import make_engine, make_session_factory, session_scope


def in_flight(url: str) -> int:
    """Outbox rows claimed for sending whose outcome is not recorded yet."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return int(session.scalar(select(func.count()).select_from(OutboxRow)
                                      .where(OutboxRow.status == "sending")) or 0)
    finally:
        engine.dispose()
