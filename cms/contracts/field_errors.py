"""Values refused by a post's fields, with messages for people filling in a form (the
admin's, or an API client's ``fields``), and the patterns of text the fields share."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = [
    "NO_CONTROL_CHARS",
    "NO_CONTROL_CHARS_BUT_NEWLINES",
    "NO_NUL",
    "FieldValidationError",
]

NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
NO_NUL = r"^[^\x00]*$"
NO_CONTROL_CHARS_BUT_NEWLINES = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*$"


class FieldValidationError(Exception):
    """Raised when post values break their fields' rules; ``errors`` maps field to message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors

    @classmethod
    def from_pydantic(cls, error: ValidationError) -> FieldValidationError:
        errors: dict[str, str] = {}
        for item in error.errors(include_url=False):
            name = str(item["loc"][0]) if item["loc"] else "__all__"
            errors.setdefault(name, _friendly_message(name, item))
        return cls(errors)


def _friendly_message(name: str, item: Any) -> str:
    """pydantic's messages, reworded for people filling in a form."""
    kind = item["type"]
    context = item.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return "This field is required."
    if "input" in item and item["input"] is None:
        return "This field is required."  # an empty input for a field that must have a value
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "Enter a whole number."
    if kind in ("float_parsing", "float_type"):
        return "Enter a number."
    if kind == "finite_number":
        return "Enter a finite number."
    if kind.startswith(("datetime_", "date_from_datetime")):
        return "Enter a date and time, like 2024-05-01T09:30 (UTC)."
    if kind in ("bool_parsing", "bool_type"):
        return "Enter true or false."
    if kind == "string_too_long":
        return f"Use at most {context.get('max_length')} characters."
    if kind == "string_pattern_mismatch":
        if name == "slug":
            return "Use lowercase letters, digits and single hyphens (like my-first-post)."
        if name == "image":
            return "Use the hash of an uploaded image (POST /api/media answers with it)."
        if context.get("pattern") in (NO_CONTROL_CHARS, NO_NUL, NO_CONTROL_CHARS_BUT_NEWLINES):
            return "Control characters (such as NUL) are not allowed here."
        return "This is not in the form this field takes."
    if kind == "extra_forbidden":
        return "This is not a field of posts."
    if kind == "literal_error":
        return f"Choose one of: {context.get('expected')}."
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = context.get("ge", context.get("le"))
        word = "at least" if kind == "greater_than_equal" else "at most"
        return f"Use a number {word} {bound}."
    message = str(item["msg"])
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
