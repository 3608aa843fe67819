"""Start-up check of the templates plugin fields name (``PostField(template=..., head=...)``).

A default plugin, so the check runs after every plugin has adjusted the Jinja2 environment
(``trylast``): a missing or broken snippet stops start-up with the plugin's name instead of
failing on the first visitor's post page.
"""

from __future__ import annotations

from typing import Any

import jinja2

from cms.core.hookspecs import hookimpl
from cms.core.plugin_host import PluginError

__all__ = ["prepare_jinja2_environment"]


@hookimpl(trylast=True)
def prepare_jinja2_environment(env: jinja2.Environment, cms: Any) -> None:
    """Load every field snippet once; raise PluginError naming the plugin that declared it."""
    for post_field in cms.fields:
        for kind in ("template", "head"):
            name = getattr(post_field, kind)
            if name is None:
                continue
            owner = post_field.plugin or "cms"
            try:
                env.get_template(name)
            except jinja2.TemplateNotFound:
                raise PluginError(
                    owner,
                    f"declares {kind}={name!r} for post field {post_field.name!r}, but no "
                    f"template folder has it (a plugin package ships it as templates/{name})",
                ) from None
            except jinja2.TemplateSyntaxError as error:
                raise PluginError(
                    owner,
                    f"declares {kind}={name!r} for post field {post_field.name!r}, which has "
                    f"a syntax error on line {error.lineno}: {error.message}",
                ) from None
