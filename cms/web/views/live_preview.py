"""``POST /admin/preview``: the editor's live preview. The body as the site would render it
when saved (``render_post_body`` plugins or Markdown, ``filter_post_html``, the sanitizer),
with its word count and reading time, as JSON for the editor's script.

It stores nothing: it answers signed-in users who may write, with the session's CSRF
token in ``X-CSRF-Token``, and every refusal is JSON ``{"error": {"code", "message"}}``
with a 4xx status, so the script can say what went wrong.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cms.content.posts import slug_from_title
from cms.content.rendering import render_body
from cms.contracts import reading_minutes, word_count_of
from cms.web.auth import allowed
from cms.web.error_codes import json_refusal
from cms.web.views.base import BaseView

__all__ = ["MAX_PREVIEW_BYTES", "MAX_PREVIEW_CHARS", "LivePreviewView", "read_json_body"]

#: The longest body a post may have (``PostBody``), and so the longest one to preview.
MAX_PREVIEW_CHARS = 500_000
#: A request past this is refused before it is read: a maximal body as JSON, with room.
MAX_PREVIEW_BYTES = 4 * 1024 * 1024
_TOO_LONG = "The text is too long to preview (at most 500,000 characters)."
#: What the preview passes on to ``render_post_body`` plugins besides the body.
_CONTEXT_KEYS = ("title", "slug", "kind", "status")


async def read_json_body(
    request: web.Request, what: str, too_long: str
) -> tuple[Any, web.Response | None]:
    """The JSON a request to an editor endpoint sends (at most :data:`MAX_PREVIEW_BYTES`,
    refused before it is read when it says it is larger), or the refusal to answer:
    415 not JSON, 413 ``too_long``, 400 not valid JSON."""
    if request.content_type != "application/json":
        return None, json_refusal(415, f"Send the {what} as JSON (Content-Type: application/json).")
    size = request.content_length
    if size is not None and size > MAX_PREVIEW_BYTES:
        return None, json_refusal(413, too_long)
    raw = await request.content.read(MAX_PREVIEW_BYTES + 1)
    if len(raw) > MAX_PREVIEW_BYTES:
        return None, json_refusal(413, too_long)
    try:
        return json.loads(raw), None
    except (UnicodeDecodeError, ValueError):
        return None, json_refusal(400, f"The {what} request is not valid JSON.")


class LivePreviewView(BaseView):
    """The post form's preview pane: JSON in (``body``, and ``title``, ``slug``, ``kind``,
    ``status`` for plugins), ``{"html", "words", "reading_time"}`` out."""

    async def post(self) -> web.Response:
        user = await self.user()
        if user is None:
            return json_refusal(401, "Sign in to preview a post.")
        if not await allowed(self.site, user, "posts.create"):
            return json_refusal(403, "Your role does not allow writing posts.")
        data, refused = await read_json_body(self.request, "preview", _TOO_LONG)
        if refused is not None:
            return refused
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            return json_refusal(400, 'Send {"body": "<the Markdown text>"}.')
        body = data["body"].replace("\r\n", "\n")
        if len(body) > MAX_PREVIEW_CHARS:
            return json_refusal(
                413, "The text is too long to preview (at most 500,000 characters)."
            )
        if "\x00" in body:
            return json_refusal(400, "The text holds a NUL character, which a post cannot hold.")
        post: dict[str, Any] = {
            key: data[key] for key in _CONTEXT_KEYS if isinstance(data.get(key), str)
        }
        post.setdefault("kind", "post")
        if not post.get("slug", "").strip() and post.get("title", "").strip():
            # As saving will make it: footnote ids carry the slug.
            post["slug"] = slug_from_title(post["title"])
        post["body"] = body
        html = await render_body(self.site, body, post)
        words = word_count_of(html)
        return web.json_response(
            {"html": html, "words": words, "reading_time": reading_minutes(words)},
            headers={"Cache-Control": "no-store"},
        )
