"""What a running Bellwether hands its parts: settings, clock, database and live components."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from core.clock import Clock
from core.config import Settings
from core.db import SessionFactory


@dataclass
class Runtime:
    """Built by the app factory; views reach it through `current_runtime()`.

    `parts` holds live components that other packages start (the commerce fleet, the fault
    injector), keyed by a name, so core never imports them.
    """

    settings: Settings
    clock: Clock
    engine: Engine
    session_factory: SessionFactory
    parts: dict[str, Any] = field(default_factory=dict)
