"""Deleting posts (after a confirmation) into the trash, and the admin's trash: restore a
post, delete one for good, or empty it. What was trashed more than ``[trash] days`` ago
goes for good whenever the trash is opened (and with ``cms trash empty``)."""

from __future__ import annotations

from aiohttp import web

from cms.content.posts import delete_post, empty_expired_trash, restore_from_trash
from cms.contracts import DeleteRefused, Post, PostNotFound
from cms.web.views.base import BaseView

__all__ = ["PostDeleteView", "TrashView"]

_NOTICES = {
    "restored": "The post was restored.",
    "deleted": "The post was deleted for good.",
    "emptied": "The trash was emptied.",
}


class PostDeleteView(BaseView):
    """``GET /admin/posts/{id}/delete`` asks; ``POST`` moves the post to the trash."""

    permission = "posts.edit"
    uses_forms = True

    async def load(self) -> Post:
        post, _ = await self.editable_post()
        return post

    async def get(self) -> web.Response:
        post = await self.load()
        return await self.render(
            "admin/delete.html", {"post": post, "days": self.site.settings.trash.days}
        )

    async def post(self) -> web.Response:
        post = await self.load()
        try:
            await delete_post(self.site, post.id, user=await self.user())
        except PostNotFound:
            pass  # already gone: what the user asked for
        except DeleteRefused as refused:
            raise web.HTTPConflict(reason=f"This post was not deleted: {refused.message}") from None
        listing = "admin" if post.kind == "post" else "admin-pages"
        url = self.request.app.router[listing].url_for().with_query(notice="deleted")
        raise web.HTTPSeeOther(url)


class TrashView(BaseView):
    """``GET /admin/trash``; ``POST`` with ``action`` = ``restore`` or ``delete`` (and
    ``id``), or ``empty``."""

    permission = "trash.manage"
    uses_forms = True

    async def get(self) -> web.Response:
        await empty_expired_trash(self.site)
        return await self.render(
            "admin/trash.html",
            {
                "trashed": await self.site.storage.list_trash(),
                "days": self.site.settings.trash.days,
                "notice": _NOTICES.get(self.request.query.get("notice", ""), ""),
            },
        )

    async def post(self) -> web.Response:
        form = await self.request.post()
        action = form.get("action")
        storage = self.site.storage
        if action == "empty":
            await storage.empty_trash()
            return self._back("emptied")
        try:
            trash_id = int(str(form.get("id", "")))
        except ValueError:
            raise web.HTTPBadRequest(reason="Choose a post of the trash") from None
        if action == "restore":
            try:
                post = await restore_from_trash(self.site, trash_id)
            except PostNotFound:
                raise web.HTTPNotFound(reason="That post is no longer in the trash") from None
            url = self.request.app.router["admin-post-edit"].url_for(id=str(post.id))
            raise web.HTTPSeeOther(url.with_query(notice="restored"))
        if action == "delete":
            if not await storage.empty_trash(trash_id=trash_id):
                raise web.HTTPNotFound(reason="That post is no longer in the trash")
            return self._back("deleted")
        raise web.HTTPBadRequest(reason="Choose to restore or delete a post, or to empty the trash")

    def _back(self, notice: str) -> web.Response:
        url = self.request.app.router["admin-trash"].url_for().with_query(notice=notice)
        raise web.HTTPSeeOther(url)
