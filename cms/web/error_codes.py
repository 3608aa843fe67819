"""The machine-readable code of each HTTP error status, shared by the themed error pages'
JSON fallback and the JSON API, so a client sees the same code from either."""

from __future__ import annotations

from aiohttp import web

__all__ = ["ERROR_CODES", "error_code", "json_refusal"]

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def error_code(status: int) -> str:
    """The code for ``status`` (``"error"`` for one without its own)."""
    return ERROR_CODES.get(status, "error")


def json_refusal(status: int, message: str) -> web.Response:
    """A refusal of the admin's JSON endpoints (the editor's scripts read it):
    ``{"error": {"code", "message"}}`` with ``status``, never cached."""
    return web.json_response(
        {"error": {"code": error_code(status), "message": message}},
        status=status,
        headers={"Cache-Control": "no-store"},
    )
