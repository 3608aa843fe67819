"""Listings by tag and by author: ``/tags``, ``/tags/{slug}``, ``/authors/{username}``."""

from __future__ import annotations

from aiohttp import web

from cms.web.views.base import BaseView
from cms.web.views.public import keyset_page, listing_validators

__all__ = ["AuthorView", "TagListView", "TagView"]


class TagListView(BaseView):
    """``GET /tags``: every tag that has published posts, by name, with its count."""

    async def get(self) -> web.Response:
        tags = [tag for tag in await self.site.storage.list_tags() if tag.count]
        return await self.render(
            "tags.html",
            {"tags": tags},
            validate=["tags", *((tag.id, tag.name, tag.slug, tag.count) for tag in tags)],
        )


class TagView(BaseView):
    """``GET /tags/{slug}``: a tag's published posts, newest first, in keyset pages. The old
    address of a renamed or merged tag answers 301 to its new one; a tag without published
    posts is 404 (like ``/tags``, which leaves it out)."""

    async def get(self) -> web.Response:
        slug = self.request.match_info["slug"]
        storage = self.site.storage
        tag = await storage.get_tag(slug)
        if tag is None:
            moved = await storage.tag_moved_to(slug)
            if moved is None:
                raise web.HTTPNotFound(reason="There is no tag at this address")
            url = self.request.app.router["tag"].url_for(slug=moved.slug)
            raise web.HTTPMovedPermanently(url.with_query(self.request.query))
        posts, next_url, first = await keyset_page(
            self, lambda after, limit: storage.list_posts(tag_id=tag.id, after=after, limit=limit)
        )
        if first and not posts:
            # Only on drafts or scheduled posts so far: its name is not public yet.
            raise web.HTTPNotFound(reason="There is no tag at this address")
        return await self.render(
            [f"tag-{tag.slug}.html", "tag.html"],
            {"tag": tag, "posts": posts, "next_url": next_url, "is_first_page": first},
            validate=[*listing_validators("tag", posts, next_url, first), tag.name, tag.slug],
        )


class AuthorView(BaseView):
    """``GET /authors/{username}``: who the author is, then their published posts."""

    async def get(self) -> web.Response:
        username = self.request.match_info["username"]
        storage = self.site.storage
        author = await storage.get_user_by_username(username)
        if author is None:
            raise web.HTTPNotFound(reason="There is no author at this address")
        if author.username != username:
            # One address per author: the name as they spell it.
            url = self.request.app.router["author"].url_for(username=author.username)
            raise web.HTTPMovedPermanently(url.with_query(self.request.query))
        posts, next_url, first = await keyset_page(
            self,
            lambda after, limit: storage.list_posts(
                status="published", author_id=author.id, after=after, limit=limit
            ),
        )
        if not posts and first and not author.is_active:
            # A former user with nothing published has no public page.
            raise web.HTTPNotFound(reason="There is no author at this address")
        return await self.render(
            [f"author-{author.username}.html", "author.html"],
            {"author": author, "posts": posts, "next_url": next_url, "is_first_page": first},
            validate=[
                *listing_validators("author", posts, next_url, first),
                author.username,
                author.display_name,
                author.bio,
                author.avatar,
            ],
        )
