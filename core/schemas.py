"""Request and response models of the HTTP API (pydantic 2): one source for validation and
for the OpenAPI document (core.openapi reads the same classes the views validate with).

A view declares its models with `core.openapi.operation(body=..., query=...,
responses=...)` and reads its input with `request_body(Model)` / `request_query(Model)`,
which refuse a mismatch with the declaration, so the document cannot drift from what the
view accepts. Bad input becomes the contract's problem body (`{"error", "detail"}`) with
the model's `problem_code` and a detail in Bellwether's words (`'limit' must be at most
1000`), never pydantic's error list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from flask import current_app, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from core.errors import BellwetherError
from core.web import json_body

M = TypeVar("M", bound="RequestModel")


class RequestModel(BaseModel):
    """What a client sends. Strict (no "1" for 1 in a JSON body), unknown fields ignored
    (older and newer clients keep working)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    #: The problem body's `error` when this model refuses the input.
    problem_code: ClassVar[str] = "bad_request"
    #: A field's own refusal words (`must be ...`), where the API has said it so before.
    messages: ClassVar[Mapping[str, str]] = {}
    #: Whether a refused choice is quoted back (`must be one of a, b, not 'c'`).
    echo_choice: ClassVar[bool] = False

    @classmethod
    def where(cls, loc: tuple[int | str, ...], given: Any = None) -> str:
        """How a refusal names the place of the error (`'field'`, `'list[2].field'`);
        `given` is the refused input, for a subclass that names an item by its content."""
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
        return f"'{path}'" if path else "the body"

    @classmethod
    def refusal_text(cls, error: ErrorDetails, given: Any) -> str | None:
        """The whole refusal for an error only this model words (None: the usual words)."""
        return None


class QueryModel(RequestModel):
    """Query parameters: strings on the wire, so numbers and booleans are read from text."""

    model_config = ConfigDict(strict=False, extra="ignore")


class ResponseModel(BaseModel):
    """What the API answers (documentation and the schemathesis check; views build dicts)."""

    model_config = ConfigDict(extra="allow")


def _expected(error: ErrorDetails) -> str:
    """`a, b, c`: the allowed values as the domain parsers list them."""
    return str((error.get("ctx") or {}).get("expected", "")).replace("'", "").replace(
        " or ", ", ")


_WORDS: dict[str, Any] = {
    "missing": lambda e: "is required",
    "literal_error": lambda e: f"must be one of {_expected(e)}",
    "enum": lambda e: f"must be one of {_expected(e)}",
    "string_type": lambda e: "must be a string",
    "int_type": lambda e: "must be a whole number",
    "int_parsing": lambda e: "must be a whole number",
    "int_from_float": lambda e: "must be a whole number",
    "float_type": lambda e: "must be a number",
    "float_parsing": lambda e: "must be a number",
    "bool_type": lambda e: "must be true or false",
    "bool_parsing": lambda e: "must be true or false",
    "list_type": lambda e: "must be a list",
    "dict_type": lambda e: "must be an object",
    "model_type": lambda e: "must be an object",
    "model_attributes_type": lambda e: "must be an object",
    "datetime_type": lambda e: "must be an ISO 8601 time",
    "datetime_parsing": lambda e: "must be an ISO 8601 time",
    "datetime_from_date_parsing": lambda e: "must be an ISO 8601 time",
    "timezone_aware": lambda e: "must carry a time zone",
    "greater_than_equal": lambda e: f"must be at least {e['ctx']['ge']}",
    "greater_than": lambda e: f"must be more than {e['ctx']['gt']}",
    "less_than_equal": lambda e: f"must be at most {e['ctx']['le']}",
    "less_than": lambda e: f"must be less than {e['ctx']['lt']}",
    "string_too_short": lambda e: ("must not be empty" if e["ctx"]["min_length"] == 1 else
                                   f"must have at least {e['ctx']['min_length']} characters"),
    "string_too_long": lambda e: f"must have at most {e['ctx']['max_length']} characters",
    "too_short": lambda e: f"must hold at least {e['ctx']['min_length']} items",
    "too_long": lambda e: f"must hold at most {e['ctx']['max_length']} items",
    "string_pattern_mismatch": lambda e: f"must match {e['ctx']['pattern']}",
}


def describe(model: type[RequestModel], error: ErrorDetails, given: Any = None) -> str:
    """One pydantic error in Bellwether's words: `'limit' must be at most 1000`."""
    special = model.refusal_text(error, given)
    if special is not None:
        return special
    loc = tuple(error["loc"])
    field = next((str(part) for part in reversed(loc) if isinstance(part, str)), "")
    words = _WORDS.get(error["type"])
    said = model.messages.get(field) or (words(error) if words else error["msg"])
    if model.echo_choice and error["type"] in ("literal_error", "enum"):
        said += f", not {error['input']!r}"
    return f"{model.where(loc, given)} {said}"


def refusal(model: type[RequestModel], exc: ValidationError, given: Any = None,
            ) -> BellwetherError:
    """The problem a refused input gets: the model's code, the first error in words."""
    return BellwetherError(describe(model, exc.errors(include_url=False)[0], given),
                           code=model.problem_code)


def _declared(kind: str, model: type[RequestModel]) -> None:
    """A view may read only the model its `@operation` declares (the document's source)."""
    view = current_app.view_functions.get(request.endpoint or "")
    declared = getattr(getattr(view, "openapi", None), kind, None)
    if declared is not model:
        raise AssertionError(f"{request.endpoint} reads {model.__name__} as its {kind} but "
                             f"declares {getattr(declared, '__name__', declared)}")


def validate_body(model: type[M], body: Mapping[str, Any]) -> M:
    """`body` checked against `model` (JSON mode: times are ISO 8601 strings), or the
    model's problem."""
    try:
        return model.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        raise refusal(model, exc, body) from None


def request_body(model: type[M], *, optional: bool = False) -> M:
    """The request's JSON object validated by `model` (its `@operation(body=...)`);
    `optional`: an empty body reads as `{}`."""
    _declared("body", model)
    body = json_body() if request.get_data() or not optional else {}
    return validate_body(model, body)


def request_query(model: type[M]) -> M:
    """The query string validated by `model` (its `@operation(query=...)`)."""
    _declared("query", model)
    given = request.args.to_dict()
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise refusal(model, exc, given) from None


# --- core's own answers -------------------------------------------------------------------

class BackupOut(ResponseModel):
    file: str
    taken_at: AwareDatetime
    bytes: int


class Backups(ResponseModel):
    """The backups on disk, newest first, and the newest one's age against the RPO."""

    rpo_s: float
    newest_age_s: float | None
    rpo_met: bool
    backups: list[BackupOut]
