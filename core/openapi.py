"""The OpenAPI 3.1 document for every `/api/v1` and `/api/v2` endpoint, built from the app's
own routes and the pydantic models the views validate with (core.schemas).

Views declare their models with `@operation(body=..., query=..., responses=...)`; paths,
methods, path parameters and summaries come from the routes and docstrings, so the document
cannot forget an endpoint, and the schemas are the classes that check the requests.
OpenAPI 3.1 because its schemas are JSON Schema 2020-12, which is what pydantic writes
(`null` as a type, `$defs` hoisted into `components/schemas`): nothing is translated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
_CONVERTER_TYPES = {"int": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "float": {"type": "number"}}
_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>[a-zA-Z_]+)>")
_REF = "#/components/schemas/{model}"
DOCUMENTED_PREFIXES = ("/api/v1/", "/api/v2/")


@dataclass(frozen=True)
class Operation:
    """What a view tells the document beyond its route: body, query and answers (models).

    `variants` serve one route under several documented paths: each key replaces the
    route's `<path:…>` part (`/api/v2/<path:name>.json` → `/api/v2/summary.json`) and its
    model is that path's 200 answer.
    """

    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: Mapping[int, type[BaseModel]] = field(default_factory=dict)
    public: bool = False
    tags: tuple[str, ...] = ()
    variants: Mapping[str, type[BaseModel]] = field(default_factory=dict)


def operation(**kwargs: Any) -> Callable[[F], F]:
    """Attach an `Operation` to a view function."""

    def decorate(view: F) -> F:
        view.openapi = Operation(**kwargs)  # type: ignore[attr-defined]
        return view

    return decorate


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for match in _RULE_ARG.finditer(rule):
        schema = _CONVERTER_TYPES.get(match["conv"] or "", {"type": "string"})
        params.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return _RULE_ARG.sub(r"{\g<name>}", rule), params


class _Schemas:
    """Every model's JSON Schema, generated together so shared parts are one component."""

    def __init__(self, models: set[tuple[type[BaseModel], JsonSchemaMode]]) -> None:
        ordered = sorted(models, key=lambda pair: (pair[0].__module__, pair[0].__qualname__,
                                                   pair[1]))
        self.by_model, defs = models_json_schema(ordered, ref_template=_REF)
        self.components: dict[str, Any] = defs.get("$defs", {})

    def of(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self.resolved(self.by_model[(model, mode)]))

    def resolved(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        return self.components[ref.rsplit("/", 1)[1]] if ref else schema


def _query_params(schemas: _Schemas, model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = schemas.resolved(schemas.of(model, "validation"))
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": spec}
            for name, spec in schema.get("properties", {}).items()]


def _described(model: Any) -> str:
    text = model.__doc__ if isinstance(model, type) else None
    return (text or "OK").strip().splitlines()[0]


def _problem_response() -> dict[str, Any]:
    return {"description": "a problem", "content": {"application/json": {"schema": PROBLEM}}}


def _operation_json(view: Callable[..., Any], method: str, params: list[dict[str, Any]],
                    schemas: _Schemas, variant: tuple[str, type[BaseModel]] | None = None,
                    ) -> dict[str, Any]:
    doc: Operation = getattr(view, "openapi", Operation())
    summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
    answers: dict[str, Any] = {
        str(code): {"description": _described(model),
                    "content": {"application/json": {"schema": schemas.of(model,
                                                                          "serialization")}}}
        for code, model in ({200: variant[1]} if variant else doc.responses).items()}
    if doc.body or params or doc.query:
        for code in ("400", "404"):
            answers.setdefault(code, _problem_response())
    if not doc.public:
        answers.setdefault("401", _problem_response())
        answers.setdefault("403", _problem_response())
    answers.setdefault("default", _problem_response())  # every error is a problem body
    suffix = re.sub(r"\W", "_", variant[0]) if variant else method
    body: dict[str, Any] = {"operationId": f"{view.__name__}_{suffix}", "summary": summary,
                            "parameters": params + _query_params(schemas, doc.query),
                            "responses": answers}
    if doc.tags:
        body["tags"] = list(doc.tags)
    if not doc.public:
        body["security"] = [{"bearer": []}]
    if doc.body is not None:
        body["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": schemas.of(doc.body, "validation")}}}
    return body


def _documented_views(app: Flask) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DOCUMENTED_PREFIXES) or rule.rule.endswith("openapi.json"):
            continue
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith("/api/v2/") and not hasattr(view, "openapi"):
            continue  # the v2 routes Statuspage has are declared; aliases are not
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.rule, method.lower(), view


def _models(app: Flask) -> set[tuple[type[BaseModel], JsonSchemaMode]]:
    found: set[tuple[type[BaseModel], JsonSchemaMode]] = set()
    for _, _, view in _documented_views(app):
        doc: Operation = getattr(view, "openapi", Operation())
        inputs = [model for model in (doc.body, doc.query) if model is not None]
        found |= {(model, "validation") for model in inputs}
        found |= {(model, "serialization")
                  for model in [*doc.responses.values(), *doc.variants.values()]}
    return found


def build_document(app: Flask, title: str = "Bellwether API") -> dict[str, Any]:
    """The OpenAPI 3.1 document for the app's `/api/v1` and `/api/v2` routes."""
    schemas = _Schemas(_models(app))
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, view in _documented_views(app):
        path, params = _path_and_params(rule)
        variants: Mapping[str, type[BaseModel]] = getattr(view, "openapi", Operation()).variants
        if not variants:
            paths.setdefault(path, {})[method] = _operation_json(view, method, params, schemas)
            continue
        for name, model in variants.items():
            fixed = path.replace("{" + params[-1]["name"] + "}", name)
            paths.setdefault(fixed, {})[method] = _operation_json(
                view, method, params[:-1], schemas, variant=(name, model))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas.components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


