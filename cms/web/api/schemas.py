"""The pydantic models of the JSON API. They validate what goes in and out, and the
OpenAPI document is generated from them, so the two cannot disagree.

Request bodies use ``site.post_model`` and ``site.post_patch_model`` (core + plugin
fields, from :mod:`cms.contracts.fields`); the response models below are built the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from cms.contracts import Post
from cms.contracts.fields import NO_CONTROL_CHARS, PostField, Text

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = [
    "LIST_TEXTS",
    "ApiModels",
    "ErrorDetail",
    "ErrorResponse",
    "ListMeta",
    "ListQuery",
    "TagList",
    "TagOut",
    "build_api_models",
    "post_values",
]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: What a list leaves out of each post unless ``?include=`` names it: the full texts.
LIST_TEXTS = ("body", "html")


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(
        description="Stable machine-readable code: bad_request, unauthorized, forbidden, "
        "not_found, conflict, precondition_failed, too_large, unsupported_media_type, invalid..."
    )
    message: str = Field(description="One sentence for people.")
    fields: dict[str, str] | None = Field(
        None, description="For 422: each invalid field and what is wrong with it."
    )


class ErrorResponse(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


class ListMeta(BaseModel):
    """Where a page of a list stands."""

    count: int = Field(description="Posts on this page.")
    limit: int = Field(description="The page size asked for.")
    order: Literal["published", "updated", "relevance"] = Field(
        description="published: by publication time (lists of published posts only); "
        "updated: by last change (lists that may include drafts). Newest first. "
        "relevance: a search (?q=), best match first."
    )
    next: str | None = Field(
        description="Opaque cursor of the next page (pass it as ?after=), or null on the last page."
    )
    next_url: str | None = Field(description="The next page's path and query, or null.")


_CURSOR = r"^[A-Za-z0-9_=-]*$"


class ListQuery(BaseModel):
    """Query parameters of ``GET /api/posts``."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["draft", "published", "scheduled"] | None = Field(
        None,
        description="Only posts of this status. Anonymous callers see published posts only; "
        "authors see their own drafts and scheduled posts; editors and admins see them all.",
    )
    tag: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[a-z0-9-]+$")] | None = (
        Field(None, description="Only published posts with the tag of this slug.")
    )
    q: Annotated[str, Field(max_length=200, pattern=NO_CONTROL_CHARS)] | None = Field(
        None,
        description='Full-text search: words (all must match), "a phrase", prefix*. '
        "Published posts only, best first, in one page of `limit` (no cursor).",
    )
    author: Annotated[str, Field(min_length=1, max_length=150, pattern=NO_CONTROL_CHARS)] | None = (
        Field(None, description="Only posts by the user of this name.")
    )
    after: Annotated[str, Field(max_length=200, pattern=_CURSOR)] | None = Field(
        None, description="The cursor from meta.next of the previous page."
    )
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = Field(
        DEFAULT_PAGE_SIZE, description="Posts per page."
    )
    include: Literal["body", "html", "body,html", "html,body"] | None = Field(
        None,
        description="The full texts to put in each listed post: body, html or body,html. "
        "Left out by default: a list is for finding posts (every other field is there, the "
        "excerpt among them); GET /api/posts/{id} always has both.",
    )

    @property
    def texts(self) -> frozenset[str]:
        """The texts asked for with ``include``."""
        return frozenset(self.include.split(",")) if self.include else frozenset()


_OUTPUT_TYPES: dict[type, type] = {
    str: str,
    Text: str,
    int: int,
    float: float,
    bool: bool,
    datetime: datetime,
}


def _output_field(post_field: PostField) -> tuple[Any, Any]:
    # Lax on the way out: a stored value that predates a stricter field rule is still sent,
    # and any field may be null on posts written before the plugin was installed.
    kind = _OUTPUT_TYPES[post_field.type]
    description = post_field.help or post_field.label
    return (kind | None, Field(description=f"{description} (plugin {post_field.plugin})"))


def build_post_output_model(fields: list[PostField], *, listed: bool = False) -> type[BaseModel]:
    """The ``Post`` model of API responses: core fields plus every plugin field. A
    ``listed`` post (``PostSummary``, in lists) has its texts only when asked for."""
    texts: dict[str, Any] = {
        "body": (str, Field(description="Markdown source.")),
        "html": (str, Field(description="The body rendered to sanitized HTML.")),
    }
    if listed:
        texts = {
            name: (
                str | None,
                Field(None, description=f"{field.description} Only with ?include={name}."),
            )
            for name, (_, field) in texts.items()
        }
    definitions: dict[str, Any] = {
        "id": (int, Field(description="Stable numeric id.")),
        "slug": (str, Field(description="The post's address: /posts/{slug}.")),
        "title": (str, ...),
        **texts,
        "status": (
            Literal["draft", "published", "scheduled"],
            Field(description="scheduled: published, with a published_at still to come."),
        ),
        "published_at": (
            datetime | None,
            Field(
                description="When it was (or, scheduled, will be) published; null for a "
                "never-published draft."
            ),
        ),
        "created_at": (datetime, ...),
        "updated_at": (datetime, ...),
        "author": (str | None, Field(description="Username of the author.")),
        "editor": (str | None, Field(description="Username of whoever changed it last.")),
        "version": (
            int,
            Field(description="Grows by one with every change; the ETag is built from it."),
        ),
        "image": (str | None, Field(description="Cover image path, if any.")),
        "kind": (
            Literal["post", "page"],
            Field(description="post (listed) or page (at /{slug}, never listed)."),
        ),
        "tags": (list[str], Field(description="Tag names, in order.")),
        "featured": (bool, ...),
        "custom_excerpt": (str | None, Field(description="The hand-written excerpt, if any.")),
        "excerpt": (
            str,
            Field(description="The custom excerpt, else the text's first words, as plain text."),
        ),
        "url": (str, Field(description="Its public address (path).")),
    }
    for post_field in fields:
        definitions[post_field.name] = _output_field(post_field)
    model: type[BaseModel] = create_model(
        "PostSummary" if listed else "Post",
        __config__=ConfigDict(extra="forbid", ser_json_inf_nan="null"),
        **definitions,
    )
    return model


@dataclass(frozen=True)
class ApiModels:
    """Every model of one site's API (plugin fields differ between sites)."""

    post: type[BaseModel]
    #: A post in a list: its texts only when asked for (``?include=``).
    post_summary: type[BaseModel]
    post_response: type[BaseModel]
    post_list: type[BaseModel]
    post_input: type[BaseModel]
    post_patch: type[BaseModel]
    field_names: tuple[str, ...]


def build_api_models(site: Site) -> ApiModels:
    """The API models for ``site``'s fields (call after ``Site.configure``)."""
    post = build_post_output_model(site.fields)
    summary = build_post_output_model(site.fields, listed=True)
    post_response = create_model("PostResponse", data=(post, ...))
    post_list = create_model("PostList", data=(list[summary], ...), meta=(ListMeta, ...))  # type: ignore[valid-type]
    return ApiModels(
        post=post,
        post_summary=summary,
        post_response=post_response,
        post_list=post_list,
        post_input=site.post_model,
        post_patch=site.post_patch_model,
        field_names=tuple(field.name for field in site.fields),
    )


class TagOut(BaseModel):
    """A tag."""

    model_config = ConfigDict(extra="forbid")

    name: str
    slug: str
    count: int = Field(description="Published posts with this tag.")
    url: str = Field(description="Its public page (path).")


class TagList(BaseModel):
    """``GET /api/tags``: every tag that has published posts, by name."""

    data: list[TagOut]


def post_values(post: Post, field_names: tuple[str, ...]) -> dict[str, Any]:
    """A post's values as the ``Post`` model takes them."""
    values: dict[str, Any] = {
        "id": post.id,
        "slug": post.slug,
        "title": post.title,
        "body": post.body,
        "html": post.html,
        "status": post.status,
        "published_at": post.published_at,
        "created_at": post.created_at,
        "updated_at": post.updated_at,
        "author": post.author,
        "editor": post.editor,
        "version": post.version,
        "image": post.image,
        "kind": post.kind,
        "tags": post.tag_names,
        "featured": post.featured,
        "custom_excerpt": post.custom_excerpt,
        "excerpt": post.excerpt,
        "url": f"/{post.slug}" if post.kind == "page" else f"/posts/{post.slug}",
    }
    for name in field_names:
        values[name] = post.extra.get(name)
    return values
