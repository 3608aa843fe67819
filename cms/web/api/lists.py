"""The API's lists: ``GET /api/posts`` and ``/api/pages`` (a keyset page, or a search),
``POST`` to them (a new post), and ``GET /api/tags``. A listed post carries its texts only
when asked (``?include=``); each post's JSON is made once per version
(:mod:`cms.web.api.fragments`)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from aiohttp import web

from cms.content.posts import save_post
from cms.contracts import (
    Post,
    SearchSyntaxError,
    Status,
    User,
    parse_search,
)
from cms.contracts.fields import FieldValidationError
from cms.web.api.errors import ApiHTTPError
from cms.web.api.schemas import ListMeta, ListQuery, TagList, TagOut
from cms.web.api.views import BEARER_CHALLENGE, ApiView, json_response
from cms.web.auth import allowed
from cms.web.conditional_get import PageValidators
from cms.web.fast_pages import FAST_PAGES_KEY
from cms.web.page_cache import CachedPage
from cms.web.views.base import decode_cursor, encode_cursor

__all__ = ["PageCollectionView", "PostCollectionView", "TagCollectionView"]


class PostCollectionView(ApiView):
    """``GET /api/posts`` (a page of posts) and ``POST /api/posts`` (a new post)."""

    async def get(self) -> web.Response:
        user = await self.caller()
        query = self.query(ListQuery)
        if query.q is not None:
            return await self._search(query, anonymous=user is None)
        after = decode_cursor(query.after)
        if user is None and query.status in ("draft", "scheduled"):
            raise ApiHTTPError(
                401,
                "Drafts and scheduled posts are listed only for signed-in callers",
                headers=BEARER_CHALLENGE,
            )
        streams: list[dict[str, Any]] = []
        author = (
            await self.site.storage.get_user_by_username(query.author) if query.author else None
        )
        tag = await self.site.storage.get_tag(query.tag) if query.tag else None
        if (query.author is None or author is not None) and (query.tag is None or tag):
            author_id = author.id if author is not None else None
            if tag is not None:
                streams = [{"status": "published", "author_id": author_id, "tag_id": tag.id}]
            else:
                streams = await self._streams(user, query.status, author_id)
        order: Literal["published", "updated"] = (
            "published"
            if all(s["status"] in ("published", "scheduled") for s in streams)
            else "updated"
        )
        posts: list[Post] = []
        for stream in streams:
            posts.extend(
                await self.site.storage.list_posts(
                    **stream, after=after, limit=query.limit + 1, order=order, kind=self.kind
                )
            )

        def position(post: Post) -> tuple[Any, int]:
            return (post.published_at if order == "published" else post.updated_at, post.id)

        # Each stream is one keyset page of a disjoint subset of the same order: merged,
        # their first ``limit`` posts are the page.
        posts.sort(key=position, reverse=True)
        cursor: str | None = None
        if len(posts) > query.limit:
            posts = posts[: query.limit]
            when, last_id = position(posts[-1])
            cursor = encode_cursor(when, last_id)
        next_url = str(self.request.rel_url.update_query(after=cursor)) if cursor else None
        meta = ListMeta(
            count=len(posts), limit=query.limit, order=order, next=cursor, next_url=next_url
        )
        return await self.list_response(posts, query.texts, meta, anonymous=user is None)

    async def _search(self, query: ListQuery, *, anonymous: bool) -> web.Response:
        """``?q=``: the best matches among published posts (or pages), one page."""
        if query.after is not None:
            raise ApiHTTPError(
                400, "Search results come in one page: leave out after", code="bad_request"
            )
        try:
            search = parse_search(query.q or "")
        except SearchSyntaxError as error:
            raise ApiHTTPError(400, str(error), code="bad_query") from None
        hits = await self.site.storage.search_posts(search, kind=self.kind, limit=query.limit)
        meta = ListMeta(
            count=len(hits), limit=query.limit, order="relevance", next=None, next_url=None
        )
        return await self.list_response(
            [hit.post for hit in hits], query.texts, meta, anonymous=anonymous
        )

    async def _streams(
        self, user: User | None, status: Status | None, author_id: int | None
    ) -> list[dict[str, Any]]:
        """The storage queries whose union is what ``user`` may list."""
        if status == "published" or user is None:
            return [{"status": "published", "author_id": author_id}]
        if await allowed(self.site, user, "posts.edit_any"):
            return [{"status": status, "author_id": author_id}]
        streams: list[dict[str, Any]] = []
        if status is None:
            streams.append({"status": "published", "author_id": author_id})
        # Authors see their own drafts and scheduled posts only.
        if await allowed(self.site, user, "posts.create") and author_id in (None, user.id):
            for hidden in ("draft", "scheduled"):
                if status in (None, hidden):
                    streams.append({"status": hidden, "author_id": user.id})
        return streams

    async def post(self) -> web.Response:
        user = await self.require_caller()
        permission = "posts.create" if self.kind == "post" else "pages.manage"
        if not await allowed(self.site, user, permission):
            raise ApiHTTPError(403, f"Your role does not allow writing {self.kind}s")
        data = self.validate(self.models.post_input, await self.read_json())
        try:
            post = await save_post(
                self.site,
                self.request,
                data.model_dump(exclude_unset=True),
                user=user,
                kind=self.kind,
            )
        except FieldValidationError as error:
            raise self.invalid(error) from None
        return self.post_response(post, status=201)

    async def list_response(
        self, posts: list[Post], texts: frozenset[str], meta: ListMeta, *, anonymous: bool
    ) -> web.Response:
        """A page of posts, ``{"data": [...], "meta": {...}}``, the posts as listed, with
        an ``ETag`` of its bytes (a matching ``If-None-Match`` gets a 304). What an
        anonymous caller is answered is the same for every anonymous caller: on a storage
        with change stamps it is answered again from memory until anything is committed
        (:mod:`cms.web.fast_pages`, as public pages are)."""
        body = b'{"data":%b,"meta":%b}' % (
            self.post_json.listed(posts, texts),
            meta.model_dump_json().encode(),
        )
        validators = PageValidators(
            f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"',
            None,
            headers={
                "Cache-Control": "no-cache" if anonymous else "private, no-cache",
                "Vary": "Authorization, Cookie",
            },
        )
        validators.headers["ETag"] = str(validators.etag)
        if (not_modified := validators.not_modified(self.request)) is not None:
            return not_modified
        page = CachedPage(body, content_type="application/json")
        fast = self.request.app.get(FAST_PAGES_KEY)
        if fast is not None and anonymous and "Cookie" not in self.request.headers:
            await fast.keep(self.request, page, validators)
        return page.response(self.request, validators.headers)


class PageCollectionView(PostCollectionView):
    """``GET /api/pages`` and ``POST /api/pages``: the same shapes as posts."""

    kind = "page"


class TagCollectionView(ApiView):
    """``GET /api/tags``: every tag that has published posts, by name, with its count."""

    async def get(self) -> web.Response:
        router = self.request.app.router
        tags = [
            TagOut(
                name=tag.name,
                slug=tag.slug,
                count=tag.count,
                url=str(router["tag"].url_for(slug=tag.slug)),
            )
            for tag in await self.site.storage.list_tags()
            if tag.count
        ]
        return json_response(TagList(data=tags), headers={"Cache-Control": "no-cache"})
