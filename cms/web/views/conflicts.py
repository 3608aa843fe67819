"""A save refused because the post changed since the author opened it: what the other save
changed, and the author's form with both.

Three states of the form: the one the author opened (the revision of the version the form
carries), the one saved meanwhile (theirs) and the one submitted (mine). A field only they
changed comes into the form; a field only the author changed stays the author's; a field
both changed keeps the author's text and shows theirs beside it, to choose. So saving the
form again keeps both changes where they touched different fields, and nothing of theirs is
overwritten without the author having seen it on this screen. When the opened version's
revision is no longer kept (``[revisions] keep``), nothing is merged: the form is the
author's and the screen links to what is saved now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from cms.content.revisions import compare, revision_values
from cms.contracts import Post, Revision, Tag, snapshot_of
from cms.core.site import Site

__all__ = ["conflict_report", "conflict_screen", "merged_form"]

#: Form inputs that are not fields of the post.
_NOT_FIELDS = frozenset({"version", "csrf_token"})


async def conflict_screen(
    site: Site,
    current: Post,
    started: int | None,
    mine: dict[str, Any],
    form_of: Callable[[Post], dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form to show (:func:`merged_form`) and the report of what the other save changed
    (:func:`conflict_report`), from one read of the post's revisions."""
    revisions = await site.storage.list_revisions(current.id)
    opened = opened_revision(revisions, started)
    form, taken, both = merged_form(site, current, opened, mine, form_of)
    return form, conflict_report(site, current, opened, revisions, taken=taken, both=both)


def conflict_report(
    site: Site,
    current: Post,
    opened: Revision | None,
    revisions: list[Revision],
    *,
    taken: frozenset[str] = frozenset(),
    both: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """What the post's other save changed since ``opened`` (the revision of the version
    the author opened), field by field, each marked ``taken`` (now in the author's form) or
    ``both`` (the author changed it too); ``changes`` is None when that revision is gone."""
    latest = revisions[0] if revisions else None
    changes = None
    if opened is not None:
        changes = [
            {
                "label": change.label,
                "rows": change.rows,
                "taken": change.name in taken,
                "both": change.name in both,
            }
            for change in compare(site, opened.data, snapshot_of(current))
            if change.changed
        ]
    return {
        "version": current.version,
        "by": current.editor,
        "changes": changes,
        "merged": opened is not None,
        "latest": latest.number if latest is not None else 1,
    }


def opened_revision(revisions: list[Revision], started: int | None) -> Revision | None:
    """The revision of the version the author opened, if it is still kept."""
    return next((r for r in revisions if r.version == started), None)


def merged_form(
    site: Site,
    current: Post,
    opened: Revision | None,
    mine: dict[str, Any],
    form_of: Callable[[Post], dict[str, Any]],
) -> tuple[dict[str, Any], frozenset[str], frozenset[str]]:
    """The author's form with the fields only they (the other save) changed brought in;
    with the names brought in and the names both changed. ``form_of`` turns a post into the
    form's values (the editor's own)."""
    if opened is None:
        return mine, frozenset(), frozenset()
    base = form_of(_post_as_of(site, current, opened.data))
    theirs = form_of(current)
    form, taken, both = dict(mine), set(), set()
    for name, value in mine.items():
        if name in _NOT_FIELDS or name not in base or name not in theirs:
            continue
        if _same(name, theirs[name], base[name]):
            continue  # they left it alone
        if _same(name, value, base[name]):
            form[name] = theirs[name]
            taken.add(name)
        elif not _same(name, value, theirs[name]):
            both.add(name)
    return form, frozenset(taken), frozenset(both)


def _same(name: str, one: Any, other: Any) -> bool:
    return bool(_normal(name, one) == _normal(name, other))


def _normal(name: str, value: Any) -> Any:
    if name == "tags" and isinstance(value, str):
        return tuple(tag.strip() for tag in value.split(",") if tag.strip())
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip()
    return value


def _post_as_of(site: Site, current: Post, data: dict[str, Any]) -> Post:
    """``current`` with the fields of a revision's ``data``: what the form showed then."""
    values = revision_values(site, data)
    extra = dict(current.extra)
    for field in site.fields:
        value = values.get(field.name)
        if field.type is datetime and isinstance(value, str):
            value = _moment(value)
        extra[field.name] = value
    return replace(
        current,
        title=values.get("title") or "",
        slug=values.get("slug") or "",
        body=values.get("body") or "",
        status=data.get("status") or current.status,
        published_at=_moment(values.get("published_at")),
        image=values.get("image"),
        tags=tuple(Tag(id=0, name=str(name), slug="") for name in values.get("tags") or []),
        featured=bool(values.get("featured")),
        custom_excerpt=values.get("custom_excerpt"),
        extra=extra,
    )


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
