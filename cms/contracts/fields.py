"""Post fields that plugins declare, and the validation model built from them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    create_model,
)

from cms.contracts.field_errors import (
    NO_CONTROL_CHARS,
    NO_CONTROL_CHARS_BUT_NEWLINES,
    NO_NUL,
    FieldValidationError,
)

__all__ = [
    "ADOPTED_FIELDS",
    "CORE_FIELD_NAMES",
    "NO_CONTROL_CHARS",
    "NO_CONTROL_CHARS_BUT_NEWLINES",
    "NO_NUL",
    "FieldValidationError",
    "PostField",
    "Text",
]


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
        "kind",
        "tags",
        "tag_names",
        "featured",
        "custom_excerpt",
        "is_page",
        "is_published",
        "byline",
        "author_display_name",
        "newer",
        "older",
    }
)

#: Core fields that plugins declared before the core had them (as bool fields, in the
#: same column): such a declaration is set aside with a warning, not refused.
ADOPTED_FIELDS = frozenset({"featured"})

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TYPES: tuple[type, ...] = (str, Text, int, float, bool, datetime)


@dataclass(frozen=True)
class PostField:
    """A field that a plugin adds to every post: one declaration gives it a column, validation,
    an admin form input, a key in the JSON API and its schema, and ``post.<name>`` in templates.

    ``type`` is one of ``str``, :class:`Text` (long text), ``int``, ``float``, ``bool`` or
    ``datetime`` (stored in UTC); ``choices`` (values, or ``(value, label)`` pairs) turns a
    ``str`` field into a choice of values. ``max_length`` applies to text, ``min``/``max`` to
    numbers. ``show=False`` keeps the field off the post page (it stays editable).
    ``template`` names a template the theme includes for this field on the post page instead
    of its generic label/value row; ``head`` names one it includes in the page's ``<head>``.
    ``searchable=True`` (text fields) puts the field's words in the search index.
    Both see ``post``, ``field`` and ``value``, and are rendered only when the value is set.
    """

    name: str
    type: type
    _: KW_ONLY  # everything after name and type is named, as in DESIGN.md
    label: str = ""
    required: bool = False
    default: Any = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    choices: Sequence[str] | Sequence[tuple[str, str]] | None = None
    help: str = ""
    show: bool = True
    template: str | None = None
    head: str | None = None
    #: Indexed for full-text search with the post's title and text (text fields only).
    searchable: bool = False
    #: The plugin that declared the field: cms fills it in on the copy it keeps when it
    #: collects fields (``site.fields``); a plugin leaves it out.
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
        if self.choices is not None:
            if self.type is not str:
                raise ValueError(f"PostField {self.name!r}: choices need type str")
            # Stored as (value, label) pairs, so templates and the API read one shape.
            pairs = tuple(_choice_pair(self.name, choice) for choice in self.choices)
            if not pairs:
                raise ValueError(f"PostField {self.name!r}: choices must not be empty")
            object.__setattr__(self, "choices", pairs)
        if self.max_length is not None and (
            self.type not in (str, Text) or self.choices is not None or self.max_length < 1
        ):
            raise ValueError(
                f"PostField {self.name!r}: max_length needs a text field and a number >= 1"
            )
        if (self.min is not None or self.max is not None) and self.type not in (int, float):
            raise ValueError(f"PostField {self.name!r}: min and max need type int or float")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"PostField {self.name!r}: min is greater than max")
        if self.searchable and self.type not in (str, Text):
            raise ValueError(f"PostField {self.name!r}: searchable needs a text field")
        for kind in ("template", "head"):
            name = getattr(self, kind)
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise ValueError(f"PostField {self.name!r}: {kind} must name a template")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())
        if self.default is not None:
            try:
                TypeAdapter(self.annotation()).validate_python(self.default)
            except ValidationError as error:
                reason = error.errors(include_url=False)[0]["msg"]
                raise ValueError(
                    f"PostField {self.name!r}: default {self.default!r} is not valid: {reason}"
                ) from None

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
        # __post_init__ stored choices as pairs whatever the declaration gave.
        pairs = cast("Sequence[tuple[str, str]]", self.choices or ())
        return [(value, label) for value, label in pairs]

    def annotation(self) -> Any:
        """The pydantic annotation that validates this field's value."""
        base: Any
        if self.choices is not None:
            values: list[JsonValue] = [value for value, _ in self.choice_pairs]
            # Literals with the same values compare equal whatever their order, so typing's
            # cache of ``X | None`` could hand back another field's order: the enum is
            # stated here, and the Field makes this annotation one of its own.
            base = Annotated[Literal[tuple(values)], Field(json_schema_extra={"enum": values})]
        elif self.type is Text or self.type is str:
            base = Annotated[
                str,
                Field(
                    # A required text may not be empty: an empty input means "not filled in".
                    min_length=1 if self.required else None,
                    max_length=self.max_length,
                    pattern=NO_NUL,
                    # OpenAPI has no long-text type: a format hint tells clients to use a textarea.
                    json_schema_extra={"format": "textarea"} if self.type is Text else None,
                ),
            ]
        elif self.type is bool:
            base = bool
        elif self.type is int:
            # Bounded by what a BIGINT column holds: a bigger number is a 422, not a 500.
            low = INT64_MIN if self.min is None else max(self.min, INT64_MIN)
            high = INT64_MAX if self.max is None else min(self.max, INT64_MAX)
            base = Annotated[int, Field(ge=low, le=high)]
        elif self.type is float:
            # JSON has no NaN or Infinity, and a database column should not hold them.
            base = Annotated[float, Field(ge=self.min, le=self.max, allow_inf_nan=False)]
        else:
            base = Annotated[datetime, AfterValidator(_as_utc)]
        return base if self.required else base | None

    def schema_info(self) -> dict[str, Any]:
        """What the JSON schema (and so OpenAPI) says about this field beside its type."""
        extra: dict[str, Any] = {"x-cms-widget": self.widget}
        if self.plugin:
            extra["x-cms-plugin"] = self.plugin
        if any(value != label for value, label in self.choice_pairs):
            extra["x-enum-labels"] = dict(self.choice_pairs)
        return {
            "title": self.label,
            "description": self.help or None,
            "json_schema_extra": extra,
        }

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
            moment = value.astimezone(UTC) if value.tzinfo else value
            # Minutes are what a datetime-local input shows; seconds only when there are some,
            # so saving the form unchanged keeps the value (the input then gets step="1").
            return moment.strftime("%Y-%m-%dT%H:%M" if moment.second == 0 else "%Y-%m-%dT%H:%M:%S")
        return str(value)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _as_utc(value: datetime) -> datetime:
    """Store datetimes in UTC (a naive one counts as UTC); one that cannot be expressed in
    UTC (year 1 or 9999 with an offset) is a validation error, not an OverflowError later."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Use a date and time between the years 1 and 9999") from None


def _choice_pair(name: str, choice: Any) -> tuple[str, str]:
    if isinstance(choice, str):
        return choice, choice
    if isinstance(choice, tuple) and len(choice) == 2 and isinstance(choice[0], str):
        return choice[0], str(choice[1])
    raise ValueError(
        f"PostField {name!r}: choice {choice!r} is neither a string nor a (value, label) pair"
    )


SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_URL_CHAR = r"""[^\x00-\x20\x7f"'<>\\]"""
_PATH_CHAR = r"""[^\x00-\x20\x7f"'<>\\/]"""
#: A menu link: an absolute http(s) URL, a path on this site (not ``//host``), a fragment,
#: or a mailto: address.
MENU_URL_PATTERN = (
    rf"^(?:https?://{_URL_CHAR}+|/(?:{_PATH_CHAR}{_URL_CHAR}*)?|#{_URL_CHAR}*"
    rf"|mailto:{_URL_CHAR}+)$"
)
#: A post's ``image``: the content hash (hex SHA-256) of an image of the media library.
MEDIA_HASH_PATTERN = r"^[0-9a-f]{64}$"

# The rules of the core post fields: one definition for the post model and cms import.
PostTitle = Annotated[str, Field(min_length=1, max_length=300, pattern=NO_CONTROL_CHARS)]
PostSlug = Annotated[str, Field(max_length=200, pattern=SLUG_PATTERN)]
PostBody = Annotated[str, Field(max_length=500_000, pattern=NO_NUL)]
PostStatus = Literal["draft", "published", "scheduled"]
MediaHash = Annotated[str, Field(pattern=MEDIA_HASH_PATTERN)]
#: One tag's name as people type it (its slug is made from it).
TagName = Annotated[str, Field(min_length=1, max_length=60, pattern=NO_CONTROL_CHARS)]
MAX_TAGS = 30
PostTags = Annotated[list[TagName], Field(max_length=MAX_TAGS)]
PostExcerpt = Annotated[str, Field(max_length=500, pattern=NO_CONTROL_CHARS_BUT_NEWLINES)]


def build_post_model(fields: Iterable[PostField], *, partial: bool = False) -> type[BaseModel]:
    """Build the pydantic model that validates a post's values, core and plugin fields alike.

    With ``partial`` every field is optional, for updates that change some fields only
    (read the changed ones with ``model_dump(exclude_unset=True)``). A field that cannot be
    empty (``title``, ``status``) stays non-nullable there: leaving it out keeps its value,
    sending ``null`` is an error.
    """

    def optional(annotation: Any, info: Any) -> tuple[Any, Any]:
        return (annotation, None) if partial else (annotation, info)

    definitions: dict[str, Any] = {
        "title": optional(PostTitle, ...),
        "slug": (PostSlug | None, None),
        "body": optional(PostBody, ""),
        "status": optional(PostStatus, "draft"),
        "image": (
            MediaHash | None,
            Field(
                None,
                description="Cover image: the hash of an uploaded image (see POST /api/media), "
                "or null for none.",
            ),
        ),
        "published_at": (
            datetime | None,
            Field(
                None,
                description="When it is (or was) published. A time to come with status "
                "scheduled (or published) schedules it; without an offset it is read in the "
                "site's time zone ([site] timezone). Left out: now, when publishing.",
            ),
        ),
        "tags": (
            PostTags | None,
            Field(
                None,
                description="Tag names, in order; a tag is created when first used.",
            ),
        ),
        "featured": (
            bool | None,
            Field(None, description="Featured posts lead the journal theme's home page."),
        ),
        "custom_excerpt": (
            PostExcerpt | None,
            Field(
                None,
                description="A hand-written excerpt, used instead of the text's first words.",
            ),
        ),
    }
    for post_field in fields:
        annotation = post_field.annotation()
        default = post_field.default
        info = post_field.schema_info()
        if partial:
            # annotation() is nullable unless the field is required.
            definitions[post_field.name] = (annotation, Field(None, **info))
        elif post_field.required and default is None:
            definitions[post_field.name] = (annotation, Field(..., **info))
        else:
            definitions[post_field.name] = (annotation, Field(default, **info))
    model: type[BaseModel] = create_model(
        "PostInput" if not partial else "PostPatch",
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=False),
        **definitions,
    )
    return model
