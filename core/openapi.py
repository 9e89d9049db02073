"""The OpenAPI 3 document for every `/api/v1` endpoint, built from the app's own routes.

Views declare what the route table cannot know (request body, query parameters, answers)
with `@operation(...)`; paths, methods, path parameters and summaries come from the routes
and docstrings, so the document cannot forget an endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
_CONVERTER_TYPES = {"int": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "float": {"type": "number"}}
_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>[a-zA-Z_]+)>")


@dataclass(frozen=True)
class Operation:
    """What a view tells the document beyond its route: body, query and answers."""

    body: Mapping[str, Any] | None = None
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    responses: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    public: bool = False
    tags: tuple[str, ...] = ()


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


def _operation_json(view: Callable[..., Any], method: str, params: list[dict[str, Any]],
                    ) -> dict[str, Any]:
    doc: Operation = getattr(view, "openapi", Operation())
    summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
    query = [{"name": name, "in": "query", "required": bool(spec.get("required")),
              "schema": {k: v for k, v in spec.items() if k != "required"}}
             for name, spec in doc.query.items()]
    answers: dict[str, Any] = {str(code): {"description": "OK",
                                           "content": {"application/json": {"schema": schema}}}
                               for code, schema in (doc.responses or {200: {}}).items()}
    for code in ("400", "404") if doc.body or params or doc.query else ():
        answers.setdefault(code, _problem_response())
    if not doc.public:
        answers.setdefault("401", _problem_response())
        answers.setdefault("403", _problem_response())
    answers.setdefault("default", _problem_response())  # every error is a problem body
    body: dict[str, Any] = {"operationId": f"{view.__name__}_{method}", "summary": summary,
                            "parameters": params + query, "responses": answers}
    if doc.tags:
        body["tags"] = list(doc.tags)
    if not doc.public:
        body["security"] = [{"bearer": []}]
    if doc.body is not None:
        body["requestBody"] = {"required": True,
                               "content": {"application/json": {"schema": doc.body}}}
    return body


def _problem_response() -> dict[str, Any]:
    return {"description": "a problem", "content": {"application/json": {"schema": PROBLEM}}}


def build_document(app: Flask, title: str = "Bellwether API") -> dict[str, Any]:
    """The OpenAPI 3.0 document for the app's `/api/v1` routes."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path, params = _path_and_params(rule.rule)
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation_json(view, method.lower(),
                                                                         params)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
