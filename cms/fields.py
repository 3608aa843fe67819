"""Post fields that plugins declare, and the validation model built from them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

__all__ = ["CORE_FIELD_NAMES", "FieldValidationError", "PostField", "Text"]


class Text(str):
    """Marker type for long text: ``PostField("summary", Text)`` gets a textarea."""

    __slots__ = ()


#: Names a plugin field may not take: the post's own attributes and columns.
CORE_FIELD_NAMES = frozenset(
    {
        "id",
        "slug",
        "title",
        "body",
        "html",
        "status",
        "published_at",
        "created_at",
        "updated_at",
        "author",
        "author_id",
        "editor",
        "editor_id",
        "version",
        "image",
        "excerpt",
        "csrf_token",
        "fields",
    }
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TYPES: tuple[type, ...] = (str, Text, int, float, bool, datetime)


@dataclass(frozen=True)
class PostField:
    """A field that a plugin adds to every post.

    ``type`` is one of ``str``, :class:`Text` (long text), ``int``, ``float``,
    ``bool`` or ``datetime``; ``choices`` turns a ``str`` field into a choice of values.
    """

    name: str
    type: type
    label: str = ""
    required: bool = False
    default: Any = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    choices: Sequence[str] | Sequence[tuple[str, str]] | None = None
    help: str = ""
    show: bool = True
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"PostField name {self.name!r} must be lowercase letters, digits and _, "
                "starting with a letter"
            )
        if self.type not in _TYPES:
            allowed = ", ".join(t.__name__ for t in _TYPES)
            raise ValueError(
                f"PostField {self.name!r}: type {self.type!r} is not supported; use {allowed}"
            )
        if self.choices is not None and self.type is not str:
            raise ValueError(f"PostField {self.name!r}: choices need type str")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())

    @property
    def widget(self) -> str:
        """The HTML input kind the admin form uses for this field."""
        if self.choices is not None:
            return "select"
        return {
            Text: "textarea",
            int: "number",
            float: "number",
            bool: "checkbox",
            datetime: "datetime-local",
        }.get(self.type, "text")

    @property
    def step(self) -> str | None:
        """The ``step`` attribute of a number input."""
        if self.type is int:
            return "1"
        if self.type is float:
            return "any"
        return None

    @property
    def choice_pairs(self) -> list[tuple[str, str]]:
        """Choices as ``(value, label)`` pairs."""
        pairs: list[tuple[str, str]] = []
        for choice in self.choices or ():
            if isinstance(choice, tuple):
                pairs.append((str(choice[0]), str(choice[1])))
            else:
                pairs.append((str(choice), str(choice)))
        return pairs

    def annotation(self) -> Any:
        """The pydantic annotation that validates this field's value."""
        base: Any
        if self.choices is not None:
            base = Literal[tuple(value for value, _ in self.choice_pairs)]
        elif self.type is Text or self.type is str:
            base = Annotated[str, Field(max_length=self.max_length, pattern=NO_NUL)]
        elif self.type is bool:
            base = bool
        elif self.type in (int, float):
            base = Annotated[self.type, Field(ge=self.min, le=self.max)]
        else:
            base = datetime
        return base if self.required else base | None

    def form_value(self, raw: str | None) -> Any:
        """Turn what an HTML form sent into the value to validate."""
        if self.type is bool:
            return raw is not None and raw not in ("", "0", "off", "false")
        if raw is None or raw.strip() == "":
            return None
        if self.type is datetime:
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                return raw
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return raw if self.type in (str, Text) else raw.strip()

    def form_text(self, value: Any) -> Any:
        """Turn a stored value into what the admin form shows."""
        if value is None:
            return False if self.type is bool else ""
        if self.type is bool:
            return bool(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
        return str(value)


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
    if kind == "string_too_long":
        return f"Use at most {context.get('max_length')} characters."
    if kind == "string_pattern_mismatch":
        if name == "slug":
            return "Use lowercase letters, digits and single hyphens (like my-first-post)."
        return "Control characters (such as NUL) are not allowed here."
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


SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
NO_NUL = r"^[^\x00]*$"


def build_post_model(fields: Iterable[PostField], *, partial: bool = False) -> type[BaseModel]:
    """Build the pydantic model that validates a post's values, core and plugin fields alike.

    With ``partial`` every field is optional, for updates that change some fields only.
    """

    def optional(annotation: Any, info: Any) -> tuple[Any, Any]:
        return (annotation | None, None) if partial else (annotation, info)

    definitions: dict[str, Any] = {
        "title": optional(
            Annotated[str, Field(min_length=1, max_length=300, pattern=NO_CONTROL_CHARS)], ...
        ),
        "slug": (
            Annotated[str, Field(max_length=200, pattern=SLUG_PATTERN)] | None,
            None,
        ),
        "body": optional(Annotated[str, Field(max_length=500_000, pattern=NO_NUL)], ""),
        "status": optional(Literal["draft", "published"], "draft"),
    }
    for post_field in fields:
        annotation = post_field.annotation()
        default = post_field.default
        if partial:
            definitions[post_field.name] = (annotation | None, None)
        elif post_field.required and default is None:
            definitions[post_field.name] = (annotation, ...)
        else:
            definitions[post_field.name] = (annotation, default)
    model: type[BaseModel] = create_model(
        "PostInput" if not partial else "PostPatch",
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=False),
        **definitions,
    )
    return model
