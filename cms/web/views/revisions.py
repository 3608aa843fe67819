"""The admin's post history: every revision (who, when), two side by side, and restore."""

from __future__ import annotations

from aiohttp import web

from cms.content.revisions import compare, restore_revision
from cms.contracts import Post, PostNotFound, Revision, VersionConflict, snapshot_of
from cms.contracts.fields import FieldValidationError
from cms.web.views.base import BaseView

__all__ = ["PostHistoryView", "RevisionCompareView", "RevisionRestoreView"]

_KINDS = {"save": "Saved", "restore": "Restored", "import": "Imported"}


class _RevisionView(BaseView):
    permission = "posts.edit"

    async def load(self) -> Post:
        """The post in the URL, if this user may edit it (what reading its history takes)."""
        post, _ = await self.editable_post()
        return post

    async def revision(self, post: Post, number_text: str | None, what: str) -> Revision:
        try:
            number = int(number_text or "")
        except ValueError:
            raise web.HTTPBadRequest(reason=f"Choose the {what} revision by its number") from None
        revision = await self.site.storage.get_revision(post.id, number) if number > 0 else None
        if revision is None:
            raise web.HTTPNotFound(reason=f"This post has no revision {number}")
        return revision


class PostHistoryView(_RevisionView):
    """``GET /admin/posts/{id}/history``: the revisions, newest first."""

    async def get(self) -> web.Response:
        post = await self.load()
        revisions = await self.site.storage.list_revisions(post.id)
        return await self.render(
            "admin/history.html",
            {
                "post": post,
                "revisions": revisions,
                "kinds": _KINDS,
                "keep": self.site.settings.revisions.keep,
                "notice": "The revision was restored." if self.request.query.get("notice") else "",
            },
        )


class RevisionCompareView(_RevisionView):
    """``GET /admin/posts/{id}/compare?from=N&to=M``: two revisions side by side (``to``
    may be ``current``: what is saved now)."""

    async def get(self) -> web.Response:
        post = await self.load()
        query = self.request.query
        older = await self.revision(post, query.get("from"), "first")
        if query.get("to", "current") == "current":
            newer, after = None, snapshot_of(post)
        else:
            newer = await self.revision(post, query.get("to"), "second")
            after = newer.data
        if newer is not None and newer.number < older.number:
            older, newer = newer, older
            after = newer.data
        changes = compare(self.site, older.data, after)
        return await self.render(
            "admin/compare.html",
            {
                "post": post,
                "older": older,
                "newer": newer,
                "changes": changes,
                "changed": [change for change in changes if change.changed],
                "kinds": _KINDS,
            },
        )


class RevisionRestoreView(_RevisionView):
    """``POST /admin/posts/{id}/revisions/{number}/restore``: bring a revision back as a
    new revision (the form carries the version it was shown, so a stale restore is
    refused)."""

    uses_forms = True

    async def post(self) -> web.Response:
        post, user = await self.editable_post()
        revision = await self.revision(post, self.request.match_info["number"], "restored")
        form = await self.request.post()
        try:
            expected = int(str(form.get("version", "")))
        except ValueError:
            expected = None
        try:
            await restore_revision(
                self.site, self.request, post, revision, user=user, expected_version=expected
            )
        except VersionConflict:
            raise web.HTTPConflict(
                reason="The post was saved again since you opened its history; nothing was "
                "restored. Look at the history again, then choose."
            ) from None
        except FieldValidationError as error:
            problems = "; ".join(error.errors.values())
            raise web.HTTPUnprocessableEntity(
                reason=f"This revision cannot be restored as it is: {problems}"
            ) from None
        except PostNotFound:
            raise web.HTTPNotFound(reason="The post was deleted") from None
        url = self.request.app.router["admin-post-history"].url_for(id=str(post.id))
        raise web.HTTPSeeOther(url.with_query(notice="restored"))
