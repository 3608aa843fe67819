"""An async client of the cms JSON API.

```python
async with Client("http://127.0.0.1:8080", token) as api:
    post = await api.create(title="Hello", body="*hi*", status="published")
    post = await api.update(post, title="Hello again")  # sends If-Match: post.etag
    page = await api.list(status="published")
    await api.delete(post)
```

``update`` and ``delete`` given a :class:`RemotePost` send its ETag as ``If-Match``: when
somebody changed the post since it was read they raise :class:`PostChanged` and the server
changes nothing.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

__all__ = ["ApiError", "Client", "Page", "Post", "PostChanged", "RemotePost"]

CORE_FIELDS = (
    "id",
    "slug",
    "title",
    "body",
    "html",
    "status",
    "published_at",
    "created_at",
    "updated_at",
    "author",
    "editor",
    "version",
    "image",
)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class RemotePost:
    """A post as the API of a cms site returns it (not the storage record,
    :class:`cms.contracts.Post`); plugin fields are in ``fields``."""

    id: int
    slug: str
    title: str
    body: str
    html: str
    status: str
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    author: str | None
    editor: str | None
    version: int
    image: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """The ETag the server sends for this version (what ``If-Match`` takes)."""
        return f'"{self.id}-{self.version}"'

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RemotePost:
        """A post from the ``data`` object of an API answer."""
        created, updated = _when(data["created_at"]), _when(data["updated_at"])
        assert created is not None and updated is not None
        return cls(
            id=int(data["id"]),
            slug=data["slug"],
            title=data["title"],
            body=data["body"],
            html=data["html"],
            status=data["status"],
            published_at=_when(data.get("published_at")),
            created_at=created,
            updated_at=updated,
            author=data.get("author"),
            editor=data.get("editor"),
            version=int(data["version"]),
            image=data.get("image"),
            fields={key: value for key, value in data.items() if key not in CORE_FIELDS},
        )

    def to_json(self) -> dict[str, Any]:
        """The post as the API shapes it."""
        values: dict[str, Any] = {}
        for name in CORE_FIELDS:
            value = getattr(self, name)
            values[name] = value.isoformat() if isinstance(value, datetime) else value
        values.update(self.fields)
        return values


#: The name of cms 0.1 for :class:`RemotePost`.
Post = RemotePost


@dataclass(frozen=True)
class Page:
    """One page of a list; ``next`` is the cursor of the following page, or None."""

    posts: list[RemotePost]
    next: str | None


class ApiError(Exception):
    """The API answered with an error (or not at all: ``status`` 0)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


class PostChanged(ApiError):
    """412: the post changed since the version sent as ``If-Match``; nothing was changed.
    ``current_etag`` is the post's ETag now."""

    def __init__(self, message: str, current_etag: str | None) -> None:
        super().__init__(412, "precondition_failed", message)
        self.current_etag = current_etag


class Client:
    """The posts of one cms site, over its JSON API. Use as ``async with``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (when this client opened it)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        if self._session is None:
            raise RuntimeError("use the client as `async with Client(...) as api:`")
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        try:
            async with self._session.request(
                method, self.url + path, json=json, params=params, headers=sent
            ) as response:
                text = await response.text()
                status, answer_headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiError(
                0, "unreachable", f"cannot reach {self.url}: {error or type(error).__name__}"
            ) from error
        try:
            body = jsonlib.loads(text) if text else None
        except ValueError:
            body = None
        if status >= 400:
            raise _error_from(status, body, text, answer_headers)
        return status, body, answer_headers

    async def list(
        self,
        *,
        status: str | None = None,
        author: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> Page:
        """One page of posts, newest first (``after``: the previous page's ``next``), each
        with its texts (lists leave them out unless asked: this asks)."""
        params = {
            key: str(value)
            for key, value in {
                "status": status,
                "author": author,
                "limit": limit,
                "after": after,
                "include": "body,html",
            }.items()
            if value is not None
        }
        _, body, _ = await self._call("GET", "/api/posts", params=params)
        return Page(
            posts=[RemotePost.from_json(item) for item in body["data"]],
            next=body["meta"].get("next"),
        )

    async def iterate(
        self, *, status: str | None = None, author: str | None = None, page_size: int = 100
    ) -> AsyncIterator[RemotePost]:
        """Every post the caller may see, following the pages."""
        after: str | None = None
        while True:
            page = await self.list(status=status, author=author, limit=page_size, after=after)
            for post in page.posts:
                yield post
            if page.next is None:
                return
            after = page.next

    async def get(self, post_id: int) -> RemotePost:
        """One post by id."""
        _, body, _ = await self._call("GET", f"/api/posts/{int(post_id)}")
        return RemotePost.from_json(body["data"])

    async def create(self, **values: Any) -> RemotePost:
        """A new post: ``title`` and optionally ``body``, ``slug``, ``status`` and plugin
        fields by name."""
        _, body, _ = await self._call("POST", "/api/posts", json=values)
        return RemotePost.from_json(body["data"])

    async def update(
        self, post: RemotePost | int, *, if_match: str | None = None, **changes: Any
    ) -> RemotePost:
        """Change some fields. Given a :class:`RemotePost`, its ETag is sent as ``If-Match`` (unless
        ``if_match`` names another), so a post changed since raises :class:`PostChanged`."""
        post_id, etag = _id_and_etag(post, if_match)
        headers = {"If-Match": etag} if etag else None
        _, body, _ = await self._call(
            "PATCH", f"/api/posts/{post_id}", json=changes, headers=headers
        )
        return RemotePost.from_json(body["data"])

    async def delete(self, post: RemotePost | int, *, if_match: str | None = None) -> None:
        """Delete a post (``If-Match`` as for :meth:`update`)."""
        post_id, etag = _id_and_etag(post, if_match)
        headers = {"If-Match": etag} if etag else None
        await self._call("DELETE", f"/api/posts/{post_id}", headers=headers)

    async def openapi(self) -> dict[str, Any]:
        """The site's OpenAPI document."""
        _, body, _ = await self._call("GET", "/api/openapi.json")
        document: dict[str, Any] = body
        return document


def _id_and_etag(post: RemotePost | int, if_match: str | None) -> tuple[int, str | None]:
    if isinstance(post, RemotePost):
        return post.id, if_match or post.etag
    return int(post), if_match


def _error_from(status: int, body: Any, text: str, headers: Mapping[str, str]) -> ApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ApiError(status, "http_error", text.strip()[:200] or f"HTTP {status}")
    message = str(error.get("message", ""))
    if status == 412:
        return PostChanged(message, headers.get("ETag"))
    fields = error.get("fields")
    return ApiError(
        status,
        str(error.get("code", "error")),
        message,
        fields if isinstance(fields, dict) else None,
    )
