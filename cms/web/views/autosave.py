"""Autosave: ``POST /admin/autosave`` keeps the editor's unsaved form on the server (the
editor's script calls it a few seconds after the author stops typing), and ``POST
/admin/autosave/discard`` forgets it. The editor offers to restore an autosave when it is
reopened (:func:`autosave_offer`); a Save of the post forgets it.

An autosave never changes the post: a published post stays as its last Save made it. It
keeps the version the author started from, so saving a restored autosave goes through the
conflict screen when the post changed meanwhile. Refusals are JSON
``{"error": {"code", "message"}}`` with a 4xx status, as the live preview's.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms.contracts import MAX_ID, Autosave, Autosaves, Kind, Post, PostNotFound, autosave_slot
from cms.web.auth import allowed
from cms.web.error_codes import json_refusal
from cms.web.views.base import BaseView
from cms.web.views.live_preview import MAX_PREVIEW_CHARS, read_json_body

__all__ = [
    "AutosaveDiscardView",
    "AutosaveView",
    "autosave_offer",
    "autosaves_of",
    "forget_autosaves",
    "with_autosave",
]

#: The form's own inputs an autosave keeps (plugin fields are added by name).
FORM_FIELDS = (
    "title",
    "slug",
    "body",
    "status",
    "published_at",
    "tags",
    "featured",
    "custom_excerpt",
    "image",
)
#: The longest value of a field other than the body (a title, an excerpt, a plugin's text).
_MAX_FIELD_CHARS = 100_000


def autosaves_of(storage: object) -> Autosaves | None:
    """The storage's autosaves, when it keeps them."""
    return storage if isinstance(storage, Autosaves) else None


class AutosaveView(BaseView):
    """JSON in: ``{"post_id": 12 or null, "kind": "post"|"page", "version": "3" or "",
    "fields": {name: text}}``; out: ``{"saved_at": "<ISO time>"}``."""

    async def post(self) -> web.Response:
        user = await self.user()
        if user is None:
            return json_refusal(401, "Sign in to keep your changes.")
        autosaves = autosaves_of(self.site.storage)
        if autosaves is None:
            return json_refusal(404, "This site's storage keeps no autosaves.")
        data, refused = await read_json_body(
            self.request, "autosave", "The text is too long to keep (at most 500,000 characters)."
        )
        if refused is not None:
            return refused
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
            return json_refusal(400, 'Send {"post_id", "kind", "version", "fields": {...}}.')
        kind = data.get("kind", "post")
        post_id = data.get("post_id")
        if kind not in ("post", "page") or not (
            post_id is None or (isinstance(post_id, int) and 0 < post_id <= MAX_ID)
        ):
            return json_refusal(400, "post_id must be a post's id or null, kind post or page.")
        fields, problem = self._fields(data["fields"])
        if problem is not None:
            return json_refusal(413 if "too long" in problem else 422, problem)
        post = None
        if post_id is not None:
            post = await self.site.storage.get_post(post_id)
            if post is None:
                return json_refusal(404, "There is no such post: it may have been deleted.")
            kind = post.kind
        if (refused := await self._not_allowed(user, post, kind)) is not None:
            return refused
        version = str(data.get("version") or "")
        base = int(version) if version.isdigit() and len(version) <= 10 else None
        # The author saved the post since this form was opened (a Save that an autosave
        # still on its way overtook): that Save holds this, and keeping it would offer
        # back, as unsaved, work that is saved.
        overtaken = post is not None and base is not None and base < post.version
        if overtaken and post is not None and post.editor == user.username:
            return json_refusal(
                409,
                f"You saved this {post.kind} since (version {post.version}); "
                "this older autosave was not kept.",
            )
        try:
            kept = await autosaves.put_autosave(
                user.id,
                autosave_slot(post_id, kind),
                post_id=post_id,
                kind=kind,
                base_version=base,
                data=fields,
            )
        except PostNotFound:
            return json_refusal(404, "There is no such post: it may have been deleted.")
        return web.json_response(
            {"saved_at": kept.saved_at.isoformat()}, headers={"Cache-Control": "no-store"}
        )

    def _fields(self, raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The form's values the autosave keeps; a problem, for people, if any."""
        known = {*FORM_FIELDS, *(field.name for field in self.site.fields)}
        fields: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in known:
                return {}, f"{name} is not a field of the post form."
            if not isinstance(value, str | bool):
                return {}, f"{name} must be text."
            if isinstance(value, str):
                limit = MAX_PREVIEW_CHARS if name == "body" else _MAX_FIELD_CHARS
                if len(value) > limit:
                    return {}, f"{name} is too long to keep (at most {limit:,} characters)."
                if "\x00" in value:
                    return {}, f"{name} holds a NUL character, which a post cannot hold."
                value = value.replace("\r\n", "\n")
            fields[name] = value
        return fields, None

    async def _not_allowed(self, user: Any, post: Post | None, kind: Kind) -> web.Response | None:
        if post is None:
            needed = "posts.create" if kind == "post" else "pages.manage"
            if not await allowed(self.site, user, needed):
                return json_refusal(403, "Your role does not allow writing this.")
            return None
        if not await allowed(self.site, user, "posts.edit", post):
            return json_refusal(403, "Your role does not allow editing this post.")
        if post.kind == "page" and not await allowed(self.site, user, "pages.manage"):
            return json_refusal(403, "Your role does not allow editing pages.")
        return None


class AutosaveDiscardView(BaseView):
    """``POST /admin/autosave/discard`` (a form: ``post_id`` or ``kind`` for a new one):
    forget the author's autosave, then back to the editor."""

    uses_forms = True

    async def post(self) -> web.Response:
        user = await self.user()
        if user is None:
            raise web.HTTPForbidden(reason="Sign in first")
        form = await self.request.post()
        post_id_text = str(form.get("post_id") or "")
        kind: Kind = "page" if form.get("kind") == "page" else "post"
        post_id = int(post_id_text) if post_id_text.isdigit() and len(post_id_text) < 11 else None
        autosaves = autosaves_of(self.site.storage)
        if autosaves is not None:
            await autosaves.delete_autosave(user.id, autosave_slot(post_id, kind))
        router = self.request.app.router
        if post_id is not None:
            url = router["admin-post-edit"].url_for(id=str(post_id))
        else:
            url = router["admin-post-new" if kind == "post" else "admin-page-new"].url_for()
        raise web.HTTPSeeOther(url)


async def autosave_offer(view: BaseView, post: Post | None, kind: Kind) -> Autosave | None:
    """The signed-in author's autosave of ``post`` (or of a new post of ``kind``), which
    the editor offers to restore. A Save forgets it, so one that is here is work not saved,
    even when someone else saved the post since (restoring it then leads through the
    conflict screen)."""
    user = await view.user()
    autosaves = autosaves_of(view.site.storage)
    if user is None or autosaves is None:
        return None
    kept = await autosaves.get_autosave(user.id, autosave_slot(post.id if post else None, kind))
    return kept


def with_autosave(form: dict[str, Any], kept: Autosave, current: Post | None) -> dict[str, Any]:
    """The editor's form with an autosave's values; its version is the one the author
    started from, so a Save meets the conflict screen if the post changed since."""
    restored = dict(form)
    for name, value in kept.data.items():
        if name in restored:
            restored[name] = value
    if current is not None:
        restored["version"] = str(kept.base_version or current.version)
    return restored


async def forget_autosaves(view: BaseView, post: Post, *, created: bool) -> None:
    """After a Save of ``post``: the author's autosave of it (and of the new post it was)
    holds nothing that is not saved."""
    user = await view.user()
    autosaves = autosaves_of(view.site.storage)
    if user is None or autosaves is None:
        return
    await autosaves.delete_autosave(user.id, autosave_slot(post.id, post.kind))
    if created:
        await autosaves.delete_autosave(user.id, autosave_slot(None, post.kind))
