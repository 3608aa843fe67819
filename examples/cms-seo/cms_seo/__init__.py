"""SEO: a meta description for each post, for search engines and link previews.

One field, ``meta_description``: editable in the admin, stored, in the JSON API, and put
into the post page's ``<head>`` as ``<meta name="description">`` and ``og:description``
by the field's ``head`` snippet (``templates/cms_seo/head.html``), in place of the
theme's description from the post's first words. It is not shown in the page itself.

Settings (optional), in the site's settings.toml:

```toml
[plugins.seo]
max_length = 160   # how long a description may be (50 to 320 characters)
```
"""

from __future__ import annotations

from typing import Any

from cms import PostField, Text, hookimpl, plugin_settings
from pydantic import BaseModel, ConfigDict, Field

__version__ = "0.1.0"

#: The entry point's name (pyproject.toml), under which settings and `disabled` know us.
PLUGIN_NAME = "seo"


class SeoSettings(BaseModel):
    """``[plugins.seo]``: this plugin's settings, checked when the site starts."""

    model_config = ConfigDict(extra="forbid")

    # Search engines cut descriptions at about 155-160 characters.
    max_length: int = Field(160, ge=50, le=320)


@hookimpl
def register_post_fields(cms: Any) -> list[PostField]:
    """The meta description of each post."""
    settings = plugin_settings(cms, PLUGIN_NAME, SeoSettings)
    return [
        PostField(
            "meta_description",
            Text,
            label="Meta description",
            max_length=settings.max_length,
            help="What search engines and link previews show; "
            "leave empty to use the post's first words.",
            show=False,
            head="cms_seo/head.html",
        )
    ]
