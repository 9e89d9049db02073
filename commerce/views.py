"""The home page: until the status page exists, it lists the commerce set and its faults."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from commerce import store
from commerce.catalog import SERVICES
from core.db import read_scope
from core.web import current_runtime

bp = Blueprint("commerce_views", __name__)


@bp.get("/commerce")
def home() -> Any:
    """The commerce set at a glance: regions, zones, services, endpoints and active faults."""
    from commerce.api import regions

    runtime = current_runtime()
    listing = regions().get_json()
    with read_scope(runtime.session_factory) as session:
        faults = store.active_faults(session, runtime.clock.now())
    return render_template("commerce/home.html", regions=listing["regions"], faults=faults,
                           services=list(SERVICES.values()), now=runtime.clock.now())
