"""Each post version's JSON, validated and serialized once.

Building a post's answer through its pydantic model (``model_validate`` then
``model_dump_json``) costs about 0.1 ms; a list of twenty paid it twenty times on every
request. Here the JSON of a post is made once per *what it shows* — the post's id and
version (which every change to the post bumps), its status (a scheduled post becomes
published with no change), the names of its author and editor and of its tags (a rename
changes them, not the post's version), and which texts were asked for — and kept, a
bounded number of bytes, least recently used first out. Nothing expires by time and
nothing has to be told: a changed post is a new key.

The bytes are the response model's own serialization, so an answer made here is the one
the model would make (tests/test_api_lists.py compares them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from cms.contracts import Post
from cms.web.api.schemas import LIST_TEXTS, ApiModels, post_values

__all__ = ["PostJson"]

#: Bytes of JSON kept per process: about 400 posts with their texts, thousands without.
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


class PostJson:
    """Posts as JSON bytes: whole (:meth:`item`) or as listed (:meth:`listed`)."""

    def __init__(self, models: ApiModels, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._models = models
        self.max_bytes = max_bytes
        self.size = 0
        self._kept: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def item(self, post: Post) -> bytes:
        """The post as ``GET /api/posts/{id}`` answers it (the ``data`` object)."""
        return self._json(post, None)

    def listed(self, posts: Iterable[Post], texts: frozenset[str]) -> bytes:
        """The posts as a list's ``data`` array, each with the ``texts`` asked for."""
        asked = tuple(name for name in LIST_TEXTS if name in texts)
        return b"[" + b",".join(self._json(post, asked) for post in posts) + b"]"

    def _json(self, post: Post, texts: tuple[str, ...] | None) -> bytes:
        key = (
            post.id,
            post.version,
            post.updated_at,
            post.status,
            post.author,
            post.editor,
            tuple(tag.name for tag in post.tags),
            texts,
        )
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        made = self._make(post, texts)
        if len(made) <= self.max_bytes // 4:
            self._kept[key] = made
            self.size += len(made)
            while self.size > self.max_bytes:
                _, dropped = self._kept.popitem(last=False)
                self.size -= len(dropped)
        return made

    def _make(self, post: Post, texts: tuple[str, ...] | None) -> bytes:
        values = post_values(post, self._models.field_names)
        model: type[BaseModel] = self._models.post
        exclude: set[str] = set()
        if texts is not None:
            model = self._models.post_summary
            exclude = {name for name in LIST_TEXTS if name not in texts}
            for name in exclude:
                values.pop(name)
        return model.model_validate(values).model_dump_json(exclude=exclude).encode()
