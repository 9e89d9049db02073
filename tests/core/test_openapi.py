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
