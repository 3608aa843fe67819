"""A test plugin that adds one post field of every kind, for the API and OpenAPI tests.

Written as a site plugin would be (one module, public ``cms`` API only), so tests can
also copy it into a site's ``plugins/`` folder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cms import PostField, Text, hookimpl


@hookimpl
def register_post_fields(cms: Any) -> list[PostField]:
    return [
        PostField("subtitle", str, label="Subtitle", max_length=80),
        PostField("summary", Text, label="Summary"),
        PostField("rating", int, label="Rating", min=0, max=5),
        PostField("score", float, label="Score"),
        PostField("pinned", bool, label="Pinned"),
        PostField("event_at", datetime, label="Event time"),
        PostField("mood", str, label="Mood", choices=["happy", "calm"]),
    ]
