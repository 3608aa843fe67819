"""The admin's lists of posts and of pages, newest change first, a page at a time."""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from cms.contracts import Kind
from cms.web.auth import allowed
from cms.web.views.base import BaseView, decode_cursor, encode_cursor

__all__ = ["ADMIN_PAGE_SIZE", "AdminPageListView", "AdminPostListView"]

ADMIN_PAGE_SIZE = 50
_NOTICES = {"deleted": "The post was moved to the trash."}


class AdminPostListView(BaseView):
    """``GET /admin/``: every post the user may see, drafts included, last edited first."""

    permission = "admin.access"
    uses_forms = True
    kind: ClassVar[Kind] = "post"

    async def get(self) -> web.Response:
        user = await self.authorize("admin.access" if self.kind == "post" else "pages.manage")
        after = decode_cursor(self.request.query.get("after"))
        author_id = None if await allowed(self.site, user, "posts.edit_any") else user.id
        posts = await self.site.storage.list_posts(
            author_id=author_id,
            after=after,
            limit=ADMIN_PAGE_SIZE + 1,
            order="updated",
            kind=self.kind,
        )
        next_url = None
        if len(posts) > ADMIN_PAGE_SIZE:
            posts = posts[:ADMIN_PAGE_SIZE]
            next_url = str(
                self.request.url.relative().with_query(
                    after=encode_cursor(posts[-1].updated_at, posts[-1].id)
                )
            )
        notice = _NOTICES.get(self.request.query.get("notice", ""))
        return await self.render(
            "admin/posts.html",
            {"posts": posts, "next_url": next_url, "notice": notice, "kind": self.kind},
        )


class AdminPageListView(AdminPostListView):
    """``GET /admin/pages``: the site's pages (About, Contact...), last edited first."""

    permission = "pages.manage"
    kind = "page"
