"""Errors of the JSON API: ``{"error": {"code", "message", "fields"?}}`` with a status."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from cms.web.api.schemas import ErrorDetail, ErrorResponse
from cms.web.error_codes import ERROR_CODES

__all__ = ["ApiHTTPError", "error_response"]

#: The ``code`` of each status when a view does not name a more precise one.
DEFAULT_CODES = ERROR_CODES


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The JSON error body, validated by the model the OpenAPI document describes."""
    body = ErrorResponse(
        error=ErrorDetail(
            code=code or DEFAULT_CODES.get(status, "error"),
            message=message,
            fields=dict(fields) if fields else None,
        )
    )
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type="application/json",
        headers=dict(headers or {}),
    )


class ApiHTTPError(web.HTTPError):
    """Raised by API views; the ``handle_exception`` hook of ``cms.web.api`` answers it.

    It is an HTTP exception so the error middleware treats it as an answer, not a crash
    (no traceback in the log). ``fields`` maps field names to what is wrong with them.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status
        # The reason is what the core's JSON handler shows if this plugin's is replaced.
        reason = message if message.isascii() and "\n" not in message else None
        super().__init__(reason=reason, headers=dict(headers or {}))
        self.code = code or DEFAULT_CODES.get(status, "error")
        self.message = message
        self.fields = dict(fields) if fields else None
        self.extra_headers = dict(headers or {})

    def to_response(self) -> web.Response:
        """The JSON answer for this error."""
        return error_response(
            self.status,
            self.message,
            code=self.code,
            fields=self.fields,
            headers=self.extra_headers,
        )
