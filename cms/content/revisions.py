"""Revisions as people use them: the values a revision brings back, restoring one (which
keeps a new revision), and what changed between two states of a post, field by field."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from cms.content.posts import save_post
from cms.contracts import SNAPSHOT_FIELDS, Post, Revision, User
from cms.core.site import Site

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DiffRow",
    "FieldChange",
    "compare",
    "restore_revision",
    "revision_values",
]

_LABELS = {
    "title": "Title",
    "slug": "Slug",
    "status": "Status",
    "published_at": "Publish at",
    "tags": "Tags",
    "image": "Cover image",
    "featured": "Featured",
    "custom_excerpt": "Excerpt",
    "body": "Text",
}


def revision_values(site: Site, data: Mapping[str, Any]) -> dict[str, Any]:
    """The values a save takes to bring back the state in ``data`` (a revision's, or
    :func:`cms.contracts.snapshot_of`'s), plugin fields included."""
    values = {name: data.get(name) for name in SNAPSHOT_FIELDS}
    values["tags"] = list(data.get("tags") or [])
    values["featured"] = bool(data.get("featured"))
    values["body"] = data.get("body") or ""
    if values["status"] == "scheduled":
        when = _parse_time(values["published_at"])
        if when is None or when <= datetime.now(UTC):
            values["status"] = "published"  # its time came meanwhile: it is published
    fields = data.get("fields") or {}
    for field in site.fields:
        values[field.name] = fields.get(field.name)
    return values


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


async def restore_revision(
    site: Site,
    request: web.Request | None,
    post: Post,
    revision: Revision,
    *,
    user: User | None,
    expected_version: int | None = None,
) -> Post:
    """Save ``revision``'s state over ``post`` (checked against ``expected_version``), kept
    as a new revision of kind ``restore``. Raises what :func:`save_post` raises."""
    return await save_post(
        site,
        request,
        revision_values(site, revision.data),
        user=user,
        post_id=post.id,
        expected_version=expected_version,
        revision="restore",
    )


@dataclass(frozen=True)
class DiffRow:
    """One line of a side-by-side diff: ``left`` (before) and ``right`` (after), either
    None where the other side added or removed a line."""

    left: str | None
    right: str | None
    tag: Literal["equal", "replace", "delete", "insert"]


@dataclass(frozen=True)
class FieldChange:
    """One field of two states: its text before and after, and the lines side by side."""

    name: str
    label: str
    before: str
    after: str
    rows: tuple[DiffRow, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def _rows(before: str, after: str) -> tuple[DiffRow, ...]:
    left, right = before.splitlines(), after.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(DiffRow(line, line, "equal") for line in left[i1:i2])
        elif tag == "delete":
            rows.extend(DiffRow(line, None, "delete") for line in left[i1:i2])
        elif tag == "insert":
            rows.extend(DiffRow(None, line, "insert") for line in right[j1:j2])
        else:
            olds, news = left[i1:i2], right[j1:j2]
            for index in range(max(len(olds), len(news))):
                rows.append(
                    DiffRow(
                        olds[index] if index < len(olds) else None,
                        news[index] if index < len(news) else None,
                        "replace",
                    )
                )
    return tuple(rows)


def compare(site: Site, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Every field of two states (revision data), core fields then plugin fields, with
    their texts and side-by-side lines."""
    names: Iterable[tuple[str, str, Any, Any]] = [
        (name, _LABELS[name], before.get(name), after.get(name)) for name in SNAPSHOT_FIELDS
    ]
    old_fields, new_fields = before.get("fields") or {}, after.get("fields") or {}
    plugin = [
        (
            field.name,
            field.label or field.name,
            old_fields.get(field.name),
            new_fields.get(field.name),
        )
        for field in site.fields
    ]
    changes = []
    for name, label, old, new in [*names, *plugin]:
        old_text, new_text = _text(old), _text(new)
        changes.append(FieldChange(name, label, old_text, new_text, _rows(old_text, new_text)))
    return changes
