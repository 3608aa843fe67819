"""``/api/posts/{id}/revisions``: a post's history, one revision, and restoring one.

Reading a post's revisions takes what changing it takes (``posts.edit``): they hold its
drafts. A restore is a save: ``If-Match`` works as for ``PATCH``, and the restore is kept
as a new revision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from cms.content.revisions import restore_revision
from cms.contracts import Post, PostNotFound, Revision, RevisionKind, User, VersionConflict
from cms.contracts.fields import FieldValidationError
from cms.web.api.errors import ApiHTTPError
from cms.web.api.views import ApiView, json_response
from cms.web.auth import allowed

__all__ = [
    "PageRevisionItemView",
    "PageRevisionListView",
    "PageRevisionRestoreApiView",
    "RevisionDetail",
    "RevisionItemView",
    "RevisionListView",
    "RevisionRestoreApiView",
    "revision_openapi_paths",
    "revision_routes",
]


class RevisionOut(BaseModel):
    """One revision, without its content."""

    number: int = Field(description="1, 2, ... per post; never reused")
    version: int = Field(description="The post's version this revision recorded")
    kind: RevisionKind
    created_at: datetime
    user: str | None = Field(description="Who saved it (None once that user is deleted)")


class RevisionDetail(RevisionOut):
    """One revision with the post's fields as they were (``fields``: plugin fields)."""

    post: dict[str, Any]


class RevisionListMeta(BaseModel):
    count: int
    keep: int = Field(description="How many revisions a post keeps ([revisions] keep)")


class RevisionList(BaseModel):
    data: list[RevisionOut]
    meta: RevisionListMeta


class RevisionResponse(BaseModel):
    data: RevisionDetail


def _summary(revision: Revision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "version": revision.version,
        "kind": revision.kind,
        "created_at": revision.created_at,
        "user": revision.user,
    }


class _RevisionApiView(ApiView):
    async def revision(self, post_id: int) -> Revision:
        number = int(self.request.match_info["number"])  # the route only matches digits
        revision = await self.site.storage.get_revision(post_id, number) if number > 0 else None
        if revision is None:
            raise ApiHTTPError(404, f"This {self.kind} has no revision {number}")
        return revision

    async def editable(self) -> tuple[User, Post]:
        user = await self.require_caller()
        post = await self.load_post(user)
        if not await allowed(self.site, user, "posts.edit", post) or (
            post.kind == "page" and not await allowed(self.site, user, "pages.manage")
        ):
            raise ApiHTTPError(403, f"Your role does not allow changing this {self.kind}")
        return user, post


class RevisionListView(_RevisionApiView):
    """``GET /api/posts/{id}/revisions``: newest first."""

    async def get(self) -> web.Response:
        _, post = await self.editable()
        revisions = await self.site.storage.list_revisions(post.id)
        body = RevisionList(
            data=[RevisionOut.model_validate(_summary(r)) for r in revisions],
            meta=RevisionListMeta(count=len(revisions), keep=self.site.settings.revisions.keep),
        )
        return json_response(body, headers={"Cache-Control": "private, no-cache"})


class RevisionItemView(_RevisionApiView):
    """``GET /api/posts/{id}/revisions/{n}``."""

    async def get(self) -> web.Response:
        _, post = await self.editable()
        revision = await self.revision(post.id)
        body = RevisionResponse(
            data=RevisionDetail.model_validate({**_summary(revision), "post": revision.data})
        )
        return json_response(body, headers={"Cache-Control": "private, no-cache"})


class RevisionRestoreApiView(_RevisionApiView):
    """``POST /api/posts/{id}/revisions/{n}/restore``: the post, restored."""

    async def post(self) -> web.Response:
        user, post = await self.editable()
        revision = await self.revision(post.id)
        expected = self.expected_version(post)
        try:
            restored = await restore_revision(
                self.site, self.request, post, revision, user=user, expected_version=expected
            )
        except VersionConflict as conflict:
            raise self.changed(conflict.current) from None
        except FieldValidationError as error:
            raise self.invalid(error) from None
        except PostNotFound:
            raise ApiHTTPError(404, f"There is no such {self.kind}") from None
        return self.post_response(restored)


def revision_openapi_paths(
    post_ok: dict[str, Any],
    list_ref: dict[str, Any],
    item_ref: dict[str, Any],
    post_id: dict[str, Any],
    if_match: dict[str, Any],
    errors: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The OpenAPI paths of a post's revisions (``/api/pages`` mirrors them)."""
    number = {
        "name": "number",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
    }
    bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "/api/posts/{id}/revisions": {
            "parameters": [post_id],
            "get": {
                "operationId": "listPostRevisions",
                "summary": "The revisions of a post, newest first",
                "security": bearer,
                "responses": {
                    "200": {
                        "description": "Every revision kept (see meta.keep).",
                        "content": {"application/json": {"schema": list_ref}},
                    },
                    **errors(401, 403, 404),
                },
            },
        },
        "/api/posts/{id}/revisions/{number}": {
            "parameters": [post_id, number],
            "get": {
                "operationId": "getPostRevision",
                "summary": "One revision of a post, with its fields as they were",
                "security": bearer,
                "responses": {
                    "200": {
                        "description": "The revision.",
                        "content": {"application/json": {"schema": item_ref}},
                    },
                    **errors(401, 403, 404),
                },
            },
        },
        "/api/posts/{id}/revisions/{number}/restore": {
            "parameters": [post_id, number],
            "post": {
                "operationId": "restorePostRevision",
                "summary": "Bring a revision of a post back (kept as a new revision)",
                "security": bearer,
                "parameters": [if_match],
                "responses": {"200": post_ok, **errors(400, 401, 403, 404, 412, 422)},
            },
        },
    }


class PageRevisionListView(RevisionListView):
    kind = "page"


class PageRevisionItemView(RevisionItemView):
    kind = "page"


class PageRevisionRestoreApiView(RevisionRestoreApiView):
    kind = "page"


def revision_routes() -> list[web.RouteDef]:
    """The routes, for posts and pages."""
    number = "{number:\\d{1,9}}"
    return [
        web.view("/api/posts/{id:\\d+}/revisions", RevisionListView, name="api-post-revisions"),
        web.view(
            f"/api/posts/{{id:\\d+}}/revisions/{number}", RevisionItemView, name="api-post-revision"
        ),
        web.view(
            f"/api/posts/{{id:\\d+}}/revisions/{number}/restore",
            RevisionRestoreApiView,
            name="api-post-revision-restore",
        ),
        web.view("/api/pages/{id:\\d+}/revisions", PageRevisionListView, name="api-page-revisions"),
        web.view(
            f"/api/pages/{{id:\\d+}}/revisions/{number}",
            PageRevisionItemView,
            name="api-page-revision",
        ),
        web.view(
            f"/api/pages/{{id:\\d+}}/revisions/{number}/restore",
            PageRevisionRestoreApiView,
            name="api-page-revision-restore",
        ),
    ]
