"""The OpenAPI 3.1 document of the API, generated from the pydantic models.

Schemas come from ``model_json_schema`` (JSON Schema 2020-12, which OpenAPI 3.1 uses);
this module only lays out the operations around them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cms import __version__
from cms.contracts import MAX_ID
from cms.web.api.media_endpoints import MediaResponse, media_openapi_paths
from cms.web.api.revision_endpoints import RevisionList, RevisionResponse, revision_openapi_paths
from cms.web.api.schemas import ApiModels, ErrorResponse, ListQuery, TagList

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = ["build_openapi"]

_REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "Malformed request: JSON that does not parse, a body that is not UTF-8, a damaged "
    "cursor or If-Match.",
    401: "No token, or a token that is unknown, revoked or expired.",
    403: "The caller's role does not allow this (an author may change only their own posts), "
    "or a session call without a valid X-CSRF-Token.",
    404: "No such post, or a draft the caller may not see.",
    405: "This address does not accept that method.",
    409: "The post kept changing while a PATCH without If-Match was saved.",
    412: "If-Match names a version that is no longer current: the post changed since it was "
    "read. Nothing was changed.",
    413: "The body is too large.",
    415: "The body is not application/json in UTF-8.",
    422: "Values that break the fields' rules; error.fields names each one.",
    503: "The database cannot be reached right now; retry after Retry-After seconds.",
}


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _error(status) for status in (*statuses, 405, 503)}


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


_ETAG_HEADER = {
    "ETag": {
        "description": 'The post\'s id and version, like "12-3": send it back as If-Match.',
        "required": True,
        "schema": {"type": "string"},
    }
}
_ETAG_PATTERN = r'(W/)?"[0-9]{1,10}-[0-9]{1,10}"'
_IF_MATCH_PATTERN = rf"^\s*(\*|{_ETAG_PATTERN}(\s*,\s*{_ETAG_PATTERN})*)\s*$"
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of the version you read. When the post has changed since, the "
    "answer is 412 and nothing changes. Without it the change applies to the current version.",
    "schema": {"type": "string", "pattern": _IF_MATCH_PATTERN},
}
_POST_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
# Reads work anonymously too (published posts only).
_OPTIONAL_BEARER: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]


def _query_parameters() -> list[dict[str, Any]]:
    schema = ListQuery.model_json_schema()
    parameters = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", "")
        prop.pop("title", None)
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in schema.get("required", []),
                "description": description,
                "schema": prop,
            }
        )
    return parameters


def _page_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """``/api/pages``: the operations of ``/api/posts``, for pages (same shapes)."""
    pages: dict[str, Any] = {}
    for path in (
        "/api/posts",
        "/api/posts/{id}",
        "/api/posts/{id}/revisions",
        "/api/posts/{id}/revisions/{number}",
        "/api/posts/{id}/revisions/{number}/restore",
    ):
        item = copy.deepcopy(paths[path])
        for operation in item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            operation["operationId"] = (
                operation["operationId"].replace("Posts", "Pages").replace("Post", "Page")
            )
            operation["summary"] = (
                operation["summary"].replace("posts", "pages").replace("post", "page")
            )
            if operation["operationId"] == "listPages":
                operation["parameters"] = [
                    parameter for parameter in operation["parameters"] if parameter["name"] != "tag"
                ]
        pages[path.replace("/api/posts", "/api/pages")] = item
    return pages


def build_openapi(site: Site, models: ApiModels) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``site``'s API (its plugin fields included)."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (models.post_input, "validation"),
        (models.post_patch, "validation"),
        (models.post_response, "serialization"),
        (models.post_list, "serialization"),
        (ErrorResponse, "serialization"),
        (MediaResponse, "serialization"),
        (TagList, "serialization"),
        (RevisionList, "serialization"),
        (RevisionResponse, "serialization"),
    ]
    refs, definitions = models_json_schema(wanted, ref_template=_REF)

    def ref(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
        return refs[(model, mode)]

    post_ok = {
        "description": "The post.",
        "headers": _ETAG_HEADER,
        "content": _json(ref(models.post_response, "serialization")),
    }
    paths: dict[str, Any] = {
        "/api/posts": {
            "get": {
                "operationId": "listPosts",
                "summary": "A page of posts, newest first",
                "security": _OPTIONAL_BEARER,
                "parameters": _query_parameters(),
                "responses": {
                    "200": {
                        "description": "One page; meta.next is the cursor of the next one.",
                        "content": _json(ref(models.post_list, "serialization")),
                    },
                    **_errors(400, 401, 422),
                },
            },
            "post": {
                "operationId": "createPost",
                "summary": "Create a post",
                "security": _BEARER,
                "requestBody": {
                    "required": True,
                    "content": _json(ref(models.post_input, "validation")),
                },
                "responses": {
                    "201": {
                        "description": "Created.",
                        "headers": {
                            **_ETAG_HEADER,
                            "Location": {
                                "description": "The new post's address in the API.",
                                "required": True,
                                "schema": {"type": "string"},
                            },
                        },
                        "content": _json(ref(models.post_response, "serialization")),
                    },
                    **_errors(400, 401, 403, 413, 415, 422),
                },
            },
        },
        "/api/posts/{id}": {
            "parameters": [_POST_ID],
            "get": {
                "operationId": "getPost",
                "summary": "One post",
                "security": _OPTIONAL_BEARER,
                "responses": {"200": post_ok, **_errors(401, 404)},
            },
            "patch": {
                "operationId": "updatePost",
                "summary": "Change some fields of a post",
                "security": _BEARER,
                "parameters": [_IF_MATCH],
                "requestBody": {
                    "required": True,
                    "content": _json(ref(models.post_patch, "validation")),
                },
                "responses": {
                    "200": post_ok,
                    **_errors(400, 401, 403, 404, 409, 412, 413, 415, 422),
                },
            },
            "delete": {
                "operationId": "deletePost",
                "summary": "Delete a post",
                "security": _BEARER,
                "parameters": [_IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted."},
                    **_errors(400, 401, 403, 404, 412),
                },
            },
        },
        "/api/tags": {
            "get": {
                "operationId": "listTags",
                "summary": "Every tag with published posts, by name",
                "security": _OPTIONAL_BEARER,
                "responses": {
                    "200": {
                        "description": "The tags, each with its count of published posts.",
                        "content": _json(ref(TagList, "serialization")),
                    },
                    **_errors(),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [{}],
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    paths.update(
        revision_openapi_paths(
            post_ok,
            ref(RevisionList, "serialization"),
            ref(RevisionResponse, "serialization"),
            _POST_ID,
            _IF_MATCH,
            _errors,
        )
    )
    paths.update(_page_paths(paths))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{site.settings.site.title} API",
            "version": __version__,
            "description": "Posts of this cms site. Reads are open for published posts; "
            "writes need Authorization: Bearer <token> (cms tokens create NAME), or a "
            "signed-in session plus an X-CSRF-Token header. Errors are "
            '{"error": {"code", "message", "fields"?}}.',
        },
        "paths": {**paths, **media_openapi_paths(refs[(MediaResponse, "serialization")])},
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `cms tokens create NAME` or the admin's "
                    "API tokens page; it acts with its user's role.",
                }
            },
        },
    }
