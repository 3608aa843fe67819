"""Previews of posts that are not published: at their own address for people who may edit
them, and at a secret preview link (``/preview/{token}``) for anyone who has it.

A preview is never cached by anyone (``Cache-Control: private, no-store``) and never
indexed (``X-Robots-Tag: noindex`` and a robots meta tag); the theme shows a banner that
says what it is (the ``preview`` template variable)."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from cms.contracts import Kind, Post, PostNotFound
from cms.web.auth import allowed
from cms.web.views.base import BaseView

__all__ = ["PreviewLinkView", "PreviewView", "draft_for_editor", "render_preview"]

#: A preview link's secret: 32 random bytes, URL-safe.
TOKEN_ROUTE = r"/preview/{token:[A-Za-z0-9_-]{43}}"


def _banner(post: Post, *, shared: bool) -> dict[str, str]:
    if post.status == "scheduled" and post.published_at is not None:
        label = "Scheduled"
        message = f"This {post.kind} is published on {post.published_at:%Y-%m-%d %H:%M} UTC."
    elif post.status == "draft":
        label, message = "Draft", f"This {post.kind} is not published."
    else:
        label, message = "Preview", f"This {post.kind} is published."
    if shared:
        message += " You are reading it through a preview link."
    else:
        message += " Only people who may edit it see this page."
    return {"label": label, "message": message, "status": post.status}


async def render_preview(view: BaseView, post: Post, *, shared: bool) -> web.Response:
    """The post's page, with the preview banner, uncached and unindexed."""
    if post.kind == "page":
        templates = [f"page-{post.slug}.html", "page.html"]
        context: dict[str, Any] = {"post": post, "page": post, "fields": view.site.fields}
    else:
        templates = [f"post-{post.slug}.html", "post.html"]
        context = {"post": post, "fields": view.site.fields}
    context["preview"] = _banner(post, shared=shared)
    response = await view.render(templates, context)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


async def draft_for_editor(view: BaseView, slug: str, kind: Kind) -> web.Response | None:
    """The preview of the unpublished post at ``slug`` when the visitor may edit it, else
    None (the address is then 404, as for everybody else). Asked only when no published
    post is at ``slug``, so published pages cost nothing more."""
    if "Cookie" not in view.request.headers:
        return None  # nobody signed in: no session to read
    user = await view.user()
    if user is None:
        return None
    post = await view.site.storage.get_post_by_slug(slug, kind=kind)
    if post is None or post.is_published:
        return None
    if not await allowed(view.site, user, "posts.edit", post):
        return None
    return await render_preview(view, post, shared=False)


class PreviewView(BaseView):
    """``GET /preview/{token}``: the post of a preview link, for anyone who has it; a
    published post's link leads to its address."""

    async def get(self) -> web.Response:
        post = await self.site.storage.post_for_preview(self.request.match_info["token"])
        if post is None:
            raise web.HTTPNotFound(reason="This preview link does not work any more")
        if post.is_published:
            route = self.request.app.router["post" if post.kind == "post" else "page"]
            raise web.HTTPFound(route.url_for(slug=post.slug))
        return await render_preview(self, post, shared=True)


class PreviewLinkView(BaseView):
    """``POST /admin/posts/{id}/preview-link``: ``action=create`` makes (or remakes) the
    post's preview link, ``action=revoke`` removes it."""

    permission = "posts.edit"
    uses_forms = True

    async def post(self) -> web.Response:
        post, user = await self.editable_post()
        form = await self.request.post()
        action = form.get("action")
        try:
            if action == "create":
                token = secrets.token_urlsafe(32)
                await self.site.storage.set_preview_link(post.id, token, user_id=user.id)
                notice = "preview-created"
            elif action == "revoke":
                await self.site.storage.revoke_preview_link(post.id)
                notice = "preview-revoked"
            else:
                raise web.HTTPBadRequest(reason="Choose to create or revoke the preview link")
        except PostNotFound:
            raise web.HTTPNotFound(reason="The post was deleted") from None
        url = self.request.app.router["admin-post-edit"].url_for(id=str(post.id))
        raise web.HTTPSeeOther(url.with_query(notice=notice))
