"""What plugins add to every page's ``<head>``: stylesheets (``extra_css_urls``), scripts
(``extra_js_urls``) and head HTML (``extra_head_html``), with the Content-Security-Policy
that lets those files load.

The policy stays ``'self'`` for scripts and styles; an absolute URL a plugin names adds its
origin (scheme, host and port) to ``script-src`` or ``style-src`` of that page only. Inline
scripts stay refused: head HTML is for ``<meta>`` and ``<link>`` tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from markupsafe import Markup

from cms.core import hookspecs

if TYPE_CHECKING:
    from aiohttp import web

    from cms.core.site import Site

__all__ = ["CONTENT_SECURITY_POLICY", "PageAssets", "content_security_policy", "page_assets"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_HOOKS = (hookspecs.extra_css_urls, hookspecs.extra_js_urls, hookspecs.extra_head_html)


@dataclass(frozen=True)
class PageAssets:
    """What plugins add to one page."""

    css_urls: tuple[str, ...] = ()
    js_urls: tuple[str, ...] = ()
    head_html: Markup = field(default_factory=Markup)

    def template_vars(self) -> dict[str, object]:
        return {
            "extra_css_urls": self.css_urls,
            "extra_js_urls": self.js_urls,
            "extra_head_html": self.head_html,
        }

    @property
    def policy(self) -> str | None:
        """This page's Content-Security-Policy when it differs from the site's, else None."""
        scripts, styles = _origins(self.js_urls), _origins(self.css_urls)
        if not scripts and not styles:
            return None
        return content_security_policy(script_origins=scripts, style_origins=styles)


async def page_assets(request: web.Request, site: Site, template: str | None) -> PageAssets | None:
    """What plugins add to the page about to be rendered; None when no plugin adds any."""
    if not any(site.plugins.implements(hook) for hook in _HOOKS):
        return None
    css = await site.plugins.call(
        hookspecs.extra_css_urls, template=template, request=request, cms=site
    )
    js = await site.plugins.call(
        hookspecs.extra_js_urls, template=template, request=request, cms=site
    )
    head = await site.plugins.call(
        hookspecs.extra_head_html, template=template, request=request, cms=site
    )
    return PageAssets(
        css_urls=_unique(url for urls in css for url in urls),
        js_urls=_unique(url for urls in js for url in urls),
        # Plugins' own HTML, trusted as their code is: joined as they wrote it.
        head_html=Markup("\n").join(Markup(str(html)) for html in head),  # noqa: S704
    )


def content_security_policy(
    *, script_origins: Iterable[str] = (), style_origins: Iterable[str] = ()
) -> str:
    """The site's policy with these origins allowed for scripts and stylesheets."""
    scripts = " ".join(["'self'", *script_origins])
    styles = " ".join(["'self'", *style_origins])
    return CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src {scripts}").replace(
        "style-src 'self'", f"style-src {styles}"
    )


def _unique(urls: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(url) for url in urls))


def _origins(urls: Iterable[str]) -> list[str]:
    """The origins of the absolute http(s) URLs among ``urls`` (relative ones are 'self')."""
    origins: dict[str, None] = {}
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins[f"{parts.scheme}://{parts.netloc}"] = None
    return list(origins)
