"""The OpenAPI document lists every /api/v1 route, with bodies and path parameters."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient


def test_every_api_route_is_in_the_document(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
              for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json")}
    assert routes <= set(document["paths"])
    assert routes


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or the component its `$ref` names."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_it_describes_bodies_parameters_and_security(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    inject = paths["/api/v1/faults"]["post"]
    body = resolved(document, inject["requestBody"]["content"]["application/json"]["schema"])
    assert "region_down" in resolved(document, body["properties"]["kind"])["enum"]
    assert inject["security"] == [{"bearer": []}]
    clear = paths["/api/v1/faults/{fault_id}"]["delete"]
    assert clear["parameters"][0] == {"name": "fault_id", "in": "path", "required": True,
                                      "schema": {"type": "integer", "minimum": 0,
                                                 "maximum": 2**31 - 1}}
    assert "security" not in paths["/api/v1/regions"]["get"]


def test_an_id_past_what_the_store_holds_is_a_clear_400_or_404(client: FlaskClient,
                                                                admin_token: str) -> None:
    answer = client.get("/api/v1/incidents/9223372036854775808")
    assert answer.status_code in (400, 404)
    assert answer.get_json()["error"] in ("bad_request", "not_found")
    assert client.get("/api/v1/incidents/2147483648").status_code in (400, 404)


def test_every_success_answer_has_a_schema_with_properties(client: FlaskClient) -> None:
    """Every 2xx answer of /api/v1 and /api/v2 says its fields and which are required."""
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    answers = [(path, method, code, resolved(document, answer["content"][
        "application/json"]["schema"]))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for code, answer in operation["responses"].items() if code.startswith("2")]
    assert {path for path, *_ in answers} >= {"/api/v2/summary.json",
                                              "/api/v2/scheduled-maintenances/upcoming.json"}
    for path, method, code, schema in answers:
        assert schema.get("properties"), (path, method, code)
        assert schema.get("required"), (path, method, code)
