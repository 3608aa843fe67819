"""The JSON API and API tokens, as a default plugin of cms.

Like :mod:`cms.web.default_plugin`, its routes are ``trylast``, so a plugin can add to the
API or replace one of its routes by name (``api-posts``, ``api-post``,
``api-openapi``, ``api-media``, ``api-media-item``, ``admin-tokens``,
``admin-token-revoke``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms.core.hookspecs import hookimpl
from cms.web.api.errors import ApiHTTPError
from cms.web.api.fragments import PostJson
from cms.web.api.lists import PageCollectionView, PostCollectionView, TagCollectionView
from cms.web.api.media_endpoints import MediaItemView, MediaUploadView
from cms.web.api.openapi import build_openapi
from cms.web.api.revision_endpoints import revision_routes
from cms.web.api.schemas import build_api_models
from cms.web.api.views import (
    API_MODELS_KEY,
    OPENAPI_KEY,
    POST_JSON_KEY,
    OpenApiView,
    PageItemView,
    PostItemView,
)
from cms.web.views.tokens import TokenListView, TokenRevokeView

__all__ = ["handle_exception", "prepare_app", "register_routes"]


@hookimpl(trylast=True)
def register_routes(cms: Any) -> list[web.RouteDef]:
    """The API's routes and the admin page that manages tokens."""
    return [
        web.view("/api/posts", PostCollectionView, name="api-posts"),
        web.view("/api/posts/{id:\\d+}", PostItemView, name="api-post"),
        web.view("/api/pages", PageCollectionView, name="api-pages"),
        web.view("/api/pages/{id:\\d+}", PageItemView, name="api-page"),
        *revision_routes(),
        web.view("/api/tags", TagCollectionView, name="api-tags"),
        web.view("/api/openapi.json", OpenApiView, name="api-openapi"),
        web.view("/api/media", MediaUploadView, name="api-media"),
        web.view("/api/media/{id:\\d+}", MediaItemView, name="api-media-item"),
        web.view("/admin/tokens", TokenListView, name="admin-tokens"),
        web.view("/admin/tokens/{id:\\d+}/revoke", TokenRevokeView, name="admin-token-revoke"),
    ]


@hookimpl(trylast=True)
def prepare_app(app: web.Application, cms: Any) -> None:
    """Build the site's API models and OpenAPI document once, with its plugin fields."""
    models = build_api_models(cms)
    app[API_MODELS_KEY] = models
    app[POST_JSON_KEY] = PostJson(models)
    app[OPENAPI_KEY] = build_openapi(cms, models)


# Not trylast: the core's own trylast handler answers every exception, and pluggy would
# call it first. This one answers only ApiHTTPError, so running before plugins' handlers takes
# nothing from them; a plugin that wants to render ApiHTTPError itself uses tryfirst.
@hookimpl
def handle_exception(request: web.Request, exception: BaseException, cms: Any) -> Any:
    """Answer an :class:`ApiHTTPError` with its JSON body (the core answers everything else,
    in JSON under ``/api/`` too)."""
    if isinstance(exception, ApiHTTPError):
        return exception.to_response()
    return None
