"""schemathesis against /api/v1/openapi.json: generated requests to every operation, as an
admin, never get a 500 and always get answers that match the document.

schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation's
hypothesis strategy is driven by a plain `@given` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

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
    yield app, token
    app.extensions["bellwether"].engine.dispose()
    drop_database(url)


def test_the_api_keeps_its_documented_promises(fuzzed_app: tuple[Flask, str]) -> None:
    app, token = fuzzed_app
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()
                  if isinstance(result, Ok)]
    assert len(operations) == len(list(schema.get_all_operations())), "the document is valid"
    assert len(operations) > 30
    headers = {"Authorization": f"Bearer {token}"}
    tried: list[str] = []

    @settings(max_examples=8 * len(operations), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of([operation.as_strategy() for operation in operations]))
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        case.validate_response(response, checks=CHECKS)
        tried.append(f"{case.method} {case.path}")

    check()
    assert len(set(tried)) > len(operations) // 2
