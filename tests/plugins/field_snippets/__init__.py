"""A test plugin package whose fields bring their own templates (``template`` and ``head``).

A package (not a single module) so that its ``templates/`` folder joins the theme's
template chain, as it does for an installed plugin.
"""

from __future__ import annotations

from typing import Any

from cms import PostField, hookimpl


@hookimpl
def register_post_fields(cms: Any) -> list[PostField]:
    return [
        PostField("rating", int, min=1, max=5, template="field_snippets/stars.html"),
        PostField("canonical", str, show=False, head="field_snippets/canonical.html"),
        PostField("teaser", str, head="field_snippets/description.html"),
    ]
