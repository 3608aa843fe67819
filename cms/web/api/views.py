"""The JSON API: ``/api/posts``, ``/api/posts/{id}`` and ``/api/openapi.json``.

Callers authenticate with ``Authorization: Bearer <token>`` (see :mod:`cms.content.tokens`), or
with the browser session plus an ``X-CSRF-Token`` header (checked by the CSRF
middleware). Every error is JSON (:class:`cms.web.api.errors.ApiHTTPError`).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cms.content.posts import delete_post, save_post
from cms.content.tokens import user_for_token
from cms.contracts import (
    MAX_ID,
    DeleteRefused,
    Kind,
    Post,
    PostNotFound,
    User,
    VersionConflict,
)
from cms.contracts.fields import FieldValidationError
from cms.web.api.errors import ApiHTTPError
from cms.web.api.fragments import PostJson
from cms.web.api.schemas import ApiModels
from cms.web.auth import allowed, current_user
from cms.web.keys import USER_KEY
from cms.web.views.base import BaseView

__all__ = [
    "API_MODELS_KEY",
    "OPENAPI_KEY",
    "POST_JSON_KEY",
    "ApiView",
    "OpenApiView",
    "PageItemView",
    "PostItemView",
    "etag_for",
]

API_MODELS_KEY: web.AppKey[ApiModels] = web.AppKey("cms_api_models")
OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("cms_openapi")
#: Each post version's JSON, made once (cms.web.api.fragments).
POST_JSON_KEY: web.AppKey[PostJson] = web.AppKey("cms_post_json")

#: Largest JSON body the API reads: a maximal Markdown body (500,000 characters) fits even
#: when every character is sent as a six-byte \\uXXXX escape.
MAX_BODY_BYTES = 4 * 1024 * 1024
_PATCH_ATTEMPTS = 3
_ETAG = re.compile(r'^(?:W/)?"(\d{1,10})-(\d{1,10})"$')
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="cms"'}

M = TypeVar("M", bound=BaseModel)


def etag_for(post: Post) -> str:
    """The post's entity tag: its id and version (the version grows with every change)."""
    return f'"{post.id}-{post.version}"'


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


class ApiView(BaseView):
    #: What this endpoint serves: posts (``/api/posts``) or pages (``/api/pages``).
    kind: ClassVar[Kind] = "post"

    """Base of the API views: who is calling, JSON in and out, posts by id, ETags."""

    @property
    def models(self) -> ApiModels:
        return self.request.app[API_MODELS_KEY]

    # -- who is calling -------------------------------------------------------------------

    async def caller(self) -> User | None:
        """The user behind the bearer token, else the signed-in user, else None.

        A request that sends ``Authorization`` is judged by it alone: it never falls back
        to the session, because such requests skip the CSRF check.
        """
        header = self.request.headers.get("Authorization")
        if header is None:
            return await current_user(self.request)
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiHTTPError(
                401,
                "Send the token as Authorization: Bearer <token>",
                headers=BEARER_CHALLENGE,
            )
        found = await user_for_token(self.site, secret.strip())
        if found is None:
            raise ApiHTTPError(
                401,
                "This token is not valid: it is unknown, revoked or expired, "
                "or its user is deactivated",
                code="invalid_token",
                headers=BEARER_CHALLENGE,
            )
        user = found[0]
        self.request[USER_KEY] = user
        return user

    async def require_caller(self) -> User:
        """The calling user; 401 for anonymous calls."""
        user = await self.caller()
        if user is None:
            raise ApiHTTPError(
                401,
                "Writing needs a token: send Authorization: Bearer <token>",
                headers=BEARER_CHALLENGE,
            )
        return user

    # -- input ----------------------------------------------------------------------------

    def query(self, model: type[M]) -> M:
        """Query parameters validated by ``model`` (422 naming the bad ones)."""
        return self.validate(model, {key: self.request.query[key] for key in self.request.query})

    def validate(self, model: type[M], data: Any) -> M:
        """``data`` validated by ``model``: 422 with every failing field."""
        if not isinstance(data, dict):
            raise ApiHTTPError(422, "Send a JSON object with the post's fields")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise self.invalid(FieldValidationError.from_pydantic(error)) from None

    @staticmethod
    def invalid(error: FieldValidationError) -> ApiHTTPError:
        return ApiHTTPError(422, "Some fields are not valid; see fields", fields=error.errors)

    async def read_json(self) -> Any:
        """The request body as JSON: 415 for another content type, 413 past
        :data:`MAX_BODY_BYTES`, 400 for bytes that are not UTF-8 or not JSON."""
        request = self.request
        content_type = request.content_type
        if content_type != "application/json" and not (
            content_type.startswith("application/") and content_type.endswith("+json")
        ):
            raise ApiHTTPError(415, "Send the body as Content-Type: application/json")
        if request.charset and request.charset.lower() not in ("utf-8", "utf8"):
            raise ApiHTTPError(415, "Send the JSON body in UTF-8")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise ApiHTTPError(413, f"The body is larger than {MAX_BODY_BYTES} bytes")
        raw = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            raw.extend(chunk)
            if len(raw) > MAX_BODY_BYTES:
                raise ApiHTTPError(413, f"The body is larger than {MAX_BODY_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiHTTPError(
                400, f"The body is not valid UTF-8 (byte {error.start})", code="invalid_encoding"
            ) from None
        try:
            return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError:
            raise ApiHTTPError(400, "The JSON is nested too deeply", code="invalid_json") from None
        except ValueError as error:  # JSONDecodeError, and numbers past Python's digit limit
            raise ApiHTTPError(
                400, f"The body is not valid JSON: {str(error)[:200]}", code="invalid_json"
            ) from None

    # -- posts ----------------------------------------------------------------------------

    def post_id(self) -> int:
        post_id = int(self.request.match_info["id"])  # the route only matches digits
        if not 0 < post_id <= MAX_ID:
            raise ApiHTTPError(404, f"There is no such {self.kind}")
        return post_id

    async def load_post(self, user: User | None) -> Post:
        """The post in the URL; 404 when it does not exist, is of the other kind, or is a
        draft (or scheduled) ``user`` may not see."""
        post = await self.site.storage.get_post(self.post_id())
        if (
            post is None
            or post.kind != self.kind
            or not (post.is_published or await allowed(self.site, user, "posts.edit", post))
        ):
            raise ApiHTTPError(404, f"There is no such {self.kind}")
        return post

    def expected_version(self, post: Post) -> int | None:
        """The version ``If-Match`` names: None without the header (or with ``*``), 412
        when no ETag it lists is the post's current one."""
        header = self.request.headers.get("If-Match")
        if header is None or header.strip() == "*":
            return None
        versions: set[int] = set()
        for part in header.split(","):
            match = _ETAG.match(part.strip())
            if match is None:
                raise ApiHTTPError(
                    400,
                    'If-Match must hold the ETag a GET of the post sent, like "12-3"',
                    code="bad_if_match",
                )
            if int(match.group(1)) == post.id:
                versions.add(int(match.group(2)))
        if post.version not in versions:
            raise self.changed(post)
        return post.version

    @staticmethod
    def changed(current: Post) -> ApiHTTPError:
        return ApiHTTPError(
            412,
            f"The post changed since you read it: it is at version {current.version} now. "
            "Nothing was changed; read it again and reapply your change.",
            headers={"ETag": etag_for(current)},
        )

    @property
    def post_json(self) -> PostJson:
        return self.request.app[POST_JSON_KEY]

    def post_response(self, post: Post, *, status: int = 200) -> web.Response:
        headers = {"ETag": etag_for(post), "Cache-Control": "private, no-cache"}
        if status == 201:
            item = "api-post" if post.kind == "post" else "api-page"
            headers["Location"] = str(self.request.app.router[item].url_for(id=str(post.id)))
        return web.Response(
            body=b'{"data":' + self.post_json.item(post) + b"}",
            status=status,
            content_type="application/json",
            headers=headers,
        )


def json_response(
    body: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A model as a JSON response."""
    return web.Response(
        text=body.model_dump_json(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


class PostItemView(ApiView):
    """``GET``, ``PATCH`` and ``DELETE /api/posts/{id}``."""

    async def get(self) -> web.Response:
        post = await self.load_post(await self.caller())
        return self.post_response(post)

    async def _editable(self) -> tuple[User, Post]:
        user = await self.require_caller()
        post = await self.load_post(user)
        if not await allowed(self.site, user, "posts.edit", post) or (
            post.kind == "page" and not await allowed(self.site, user, "pages.manage")
        ):
            raise ApiHTTPError(403, f"Your role does not allow changing this {self.kind}")
        return user, post

    async def patch(self) -> web.Response:
        user, post = await self._editable()
        patch = self.validate(self.models.post_patch, await self.read_json())
        changes = patch.model_dump(exclude_unset=True)
        expected = self.expected_version(post)
        for _ in range(_PATCH_ATTEMPTS):
            values = self._current_values(post) | changes
            if "status" in changes and "published_at" not in changes:
                # A new status without a time: "published" means now, not the time a
                # schedule had set (cms.content.posts).
                values["published_at"] = None
            try:
                saved = await save_post(
                    self.site,
                    self.request,
                    values,
                    user=user,
                    post_id=post.id,
                    # Without If-Match the change still lands on the version it was merged
                    # into: another writer in between means merge again, never lose theirs.
                    expected_version=expected if expected is not None else post.version,
                )
            except FieldValidationError as error:
                raise self.invalid(error) from None
            except PostNotFound:
                raise ApiHTTPError(404, "The post was deleted") from None
            except VersionConflict as conflict:
                if expected is not None:
                    raise self.changed(conflict.current) from None
                post = conflict.current
                if not await allowed(self.site, user, "posts.edit", post):
                    raise ApiHTTPError(403, "Your role does not allow changing this post") from None
                continue
            return self.post_response(saved)
        raise ApiHTTPError(409, "The post kept changing while saving; try again")

    def _current_values(self, post: Post) -> dict[str, Any]:
        values: dict[str, Any] = {
            "title": post.title,
            "slug": post.slug,
            "body": post.body,
            "status": post.status,
            "image": post.image,
            "published_at": post.published_at,
            "tags": post.tag_names,
            "featured": post.featured,
            "custom_excerpt": post.custom_excerpt,
        }
        for name in self.models.field_names:
            values[name] = post.extra.get(name)
        return values

    async def delete(self) -> web.Response:
        user, post = await self._editable()
        expected = self.expected_version(post)
        try:
            await delete_post(self.site, post.id, user=user, expected_version=expected)
        except VersionConflict as conflict:
            raise self.changed(conflict.current) from None
        except DeleteRefused as refused:
            raise ApiHTTPError(409, f"This post was not deleted: {refused.message}") from None
        except PostNotFound:
            raise ApiHTTPError(404, "There is no such post") from None
        return web.Response(status=204)


class PageItemView(PostItemView):
    """``GET``, ``PATCH`` and ``DELETE /api/pages/{id}``."""

    kind = "page"


class OpenApiView(BaseView):
    """``GET /api/openapi.json``: the OpenAPI 3.1 document, generated from the models."""

    async def get(self) -> web.Response:
        return web.json_response(
            self.request.app[OPENAPI_KEY], headers={"Cache-Control": "no-cache"}
        )
