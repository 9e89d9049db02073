"""One error type for everything a user can get wrong, mapped once to HTTP and once to the CLI."""

from __future__ import annotations


class BellwetherError(Exception):
    """An error the caller can fix; carries its HTTP status and a stable code."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, detail: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def problem(self) -> dict[str, str]:
        """The JSON problem body the HTTP contract fixes."""
        return {"error": self.code, "detail": self.detail}


class NotFound(BellwetherError):
    status = 404
    code = "not_found"


class Unauthorized(BellwetherError):
    status = 401
    code = "unauthorized"


class Forbidden(BellwetherError):
    status = 403
    code = "forbidden"


class Conflict(BellwetherError):
    status = 409
    code = "conflict"


class Unavailable(BellwetherError):
    status = 503
    code = "unavailable"


class ConfigError(BellwetherError):
    """A setting has a value we cannot use."""

    code = "bad_config"
