"""schemathesis against /api/v1/openapi.json: generated requests to every operation of
/api/v1 and /api/v2, as an admin, never get a 500 and always get answers that match the
document, response bodies included (the schemas are the pydantic models the views validate
with, core.schemas).

schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation's
hypothesis strategy is driven by a plain `@given` here: a few examples per operation, so
the run is bounded (3 per operation, whatever the load) and reaches every one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.wrappers import Response

from app import create_app
from core import migrate
from core.config import Settings
from core.db import make_engine
from core.models import Role
from tests.conftest import make_token
from tests.support.databases import create_database, drop_database

#: No 500s; answers in the documented status codes, content types and schemas; and
#: requests that break the schema are refused. Business rules (a window ending before it
#: starts) may refuse schema-valid requests, and anonymous access is tests/test_access.py's.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES_PER_OPERATION = 3
REGION = "europe-west1.gcp"


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """An app on a database of its own: the fuzzer creates and deletes at will."""
    directory = Path(tmp_path_factory.mktemp("fuzz"))
    url = create_database(directory, "fuzz")
    migrate.upgrade(url)
    engine = make_engine(url)
    token = make_token(engine, Role.ADMIN)
    engine.dispose()
    app = create_app(replace(Settings(), data_dir=directory, database_url=url,
                             secret_key="fuzz", extra={"subscribe_limit_per_hour": 10**6}))
    _seed(app, token)
    yield app, token
    app.extensions["bellwether"].engine.dispose()
    drop_database(url)


def _seed(app: Flask, token: str) -> None:
    """An open incident with an update and a scheduled maintenance window, so the list
    answers (v1 and the Statuspage documents) have items for their schemas to check."""
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    declared = client.post("/api/v1/incidents", headers=headers, json={
        "title": "Orders slow", "impact": "minor", "message": "Looking",
        "components": [{"component": "orders", "region": REGION,
                        "state": "degraded_performance"}]})
    assert declared.status_code == 201, declared.get_json()
    update = client.post(f"/api/v1/incidents/{declared.get_json()['id']}/updates",
                         headers=headers, json={"status": "monitoring", "body": "Fixed"})
    assert update.status_code == 201, update.get_json()
    start = datetime.now(UTC) + timedelta(days=10)
    window = client.post("/api/v1/maintenance", headers=headers, json={
        "title": "Database upgrade", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(), "regions": [REGION]})
    assert window.status_code == 201, window.get_json()


def _operations(app: Callable[..., Any]) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the document is valid"
    return operations


def _exercise(operation: Any, headers: dict[str, str], tried: list[str]) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        case.validate_response(response, checks=CHECKS)
        tried.append(f"{case.method} {case.path}")

    check()


def test_the_api_keeps_its_documented_promises(fuzzed_app: tuple[Flask, str]) -> None:
    app, token = fuzzed_app
    operations = _operations(app)
    paths = {operation.path for operation in operations}
    assert len(operations) > 50
    assert {"/api/v2/summary.json", "/api/v2/scheduled-maintenances/active.json",
            "/api/v2/regions/{region}/components.json"} <= paths
    headers = {"Authorization": f"Bearer {token}"}
    tried: list[str] = []
    for operation in operations:
        _exercise(operation, headers, tried)
    reached = {entry.split(" ", 1)[0] + " " + entry.split(" ", 1)[1] for entry in tried}
    assert len(reached) > len(operations) // 2


class _DropField:
    """A WSGI wrapper that removes one field from one path's JSON answers: a server whose
    answer breaks its own document."""

    def __init__(self, app: Flask, path: str, field: str) -> None:
        self.app, self.path, self.field = app, path, field

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = Response.from_app(self.app, environ)
        if environ.get("PATH_INFO") == self.path and response.is_json:
            body = json.loads(response.get_data())
            body.pop(self.field, None)
            response.set_data(json.dumps(body))
        return response(environ, start_response)


@pytest.mark.parametrize(("path", "field"), [("/api/v2/status.json", "status"),
                                             ("/api/v1/regions", "web_url")])
def test_an_answer_missing_a_required_field_is_caught(fuzzed_app: tuple[Flask, str],
                                                      path: str, field: str) -> None:
    """The schema check has teeth: the same answer passes whole and fails without `field`."""
    app, _ = fuzzed_app
    for wrapped, fails in ((app, False), (_DropField(app, path, field), True)):
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wrapped)
        case = schema[path]["GET"].Case()
        response = case.call()
        assert response.status_code == 200
        if fails:
            with pytest.raises(FailureGroup, match=field):
                case.validate_response(response, checks=[response_schema_conformance])
        else:
            case.validate_response(response, checks=[response_schema_conformance])
