"""Conditional GET for the public pages: ``ETag`` / ``Last-Modified`` and 304 answers.

Every request still reads what the page shows from storage (one query), so an edit is
visible on the very next request to any worker or host. What a 304 saves is rendering and
sending the page; for other requests the same tag lets :mod:`cms.web.page_cache` skip the
render. The entity tag is a digest of everything the page is made of:

- the site: cms's version, the theme, settings, plugins and fields, and the files of the
  template and static folders (:func:`site_fingerprint`, computed once at start-up);
- the content: what the view passes (a post's id, version and author; for the index, the
  ids and versions of the page's posts and its next link);
- what plugins add to the page (``extra_template_vars`` results, by their ``repr``: a value
  without a stable one, such as an object showing its address, makes every tag new, so
  such a page is never answered 304 rather than ever answered stale);
- the visitor: nothing for anonymous visitors (so their pages are alike and may be shared:
  ``Cache-Control: no-cache`` with ``Vary: Cookie``); for a signed-in user their id, role,
  session generation and CSRF token (``Cache-Control: private, no-cache``).

``Last-Modified`` goes only on anonymous pages with one content time and no plugin
variables. Under ``--reload``, where templates change under a running site, pages get no
validators.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from cms import __version__
from cms.contracts import User
from cms.core.file_stamps import file_stamp, file_stamps
from cms.core.site import Site

__all__ = [
    "FRESHNESS_KEY",
    "PageFreshness",
    "PageValidators",
    "disabled_freshness",
    "page_validators",
    "site_fingerprint",
]

_UNSET = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PageFreshness:
    """What the site contributes to every page's validators, fixed for the process."""

    enabled: bool
    fingerprint: str
    #: The newest modification time of the files the fingerprint covers.
    changed_at: datetime


FRESHNESS_KEY: web.AppKey[PageFreshness] = web.AppKey("cms_page_freshness")


def site_fingerprint(site: Site, *, enabled: bool = True) -> PageFreshness:
    """Digest what every page of ``site`` depends on besides its content and visitor."""
    from cms.core.theming import DEFAULT_THEME, bundled_themes_dir
    from cms.web.templating import plugin_template_dirs

    folders = [
        site.settings.base_dir / "templates",
        *site.theme.template_dirs,
        # The last resort of every theme's lookup chain.
        bundled_themes_dir() / DEFAULT_THEME / "templates",
        *site.theme.static_dirs,
        *(path for paths in plugin_template_dirs(site.plugins).values() for path in paths),
    ]
    files = file_stamps(folders)
    settings_stamp = None if site.settings.path is None else file_stamp(site.settings.path)
    if settings_stamp is not None:
        files.append(settings_stamp)
    digest = hashlib.blake2b(digest_size=12)
    for part in (
        __version__,
        site.theme_name,
        site.settings.site.model_dump_json(),
        json.dumps(site.theme.settings, sort_keys=True, default=str),
        repr(sorted((p.name, p.version) for p in site.plugins.plugins.values())),
        repr([(f.name, f.label, f.show) for f in site.fields]),
        repr(files),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    newest = max((mtime for _, mtime, _ in files), default=0)
    return PageFreshness(
        enabled=enabled,
        fingerprint=digest.hexdigest(),
        changed_at=datetime.fromtimestamp(newest / 1e9, UTC),
    )


@dataclass
class PageValidators:
    """One page's validators and caching headers."""

    etag: str | None
    last_modified: datetime | None
    headers: dict[str, str] = field(default_factory=dict)

    def not_modified(self, request: web.Request) -> web.Response | None:
        """A 304 when the request's validators match, else None (render the page)."""
        if self.etag is None:
            return None
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            # Weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored.
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            if "*" in tags or self.etag.removeprefix("W/") in tags:
                return web.Response(status=304, headers=self.headers)
            return None
        since = request.headers.get("If-Modified-Since")
        if since is not None and self.last_modified is not None:
            try:
                moment = parsedate_to_datetime(since)
            except (TypeError, ValueError, IndexError):
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            # Full precision against a header rounded down to the second: a change within
            # the same second as the copy the client holds is never answered 304.
            if self.last_modified <= moment:
                return web.Response(status=304, headers=self.headers)
        return None

    def apply(self, response: web.StreamResponse) -> web.StreamResponse:
        """Put the validators and caching headers on a rendered 200 page."""
        response.headers.update(self.headers)
        return response


def page_validators(
    request: web.Request,
    content: Sequence[object],
    *,
    user: User | None,
    token: str,
    extras: Sequence[object] = (),
    last_modified: datetime | None = None,
) -> PageValidators:
    """The validators of a page made of ``content`` for ``user`` (with CSRF ``token``).

    ``content`` must name everything the view puts on the page that can change (ids,
    versions, names, links); ``extras`` are the plugins' template variables;
    ``last_modified`` is given when the page's content has one time.
    """
    freshness = request.app[FRESHNESS_KEY]
    headers = {"Vary": "Cookie"}
    if user is not None or token:
        # The page may carry a CSRF token or the user's name: only this browser may keep it.
        headers["Cache-Control"] = "private, no-cache"
    else:
        headers["Cache-Control"] = "no-cache"
    if not freshness.enabled:
        return PageValidators(None, None, headers=headers)
    digest = hashlib.blake2b(digest_size=12)
    digest.update(freshness.fingerprint.encode())
    for part in content:
        digest.update(b"\0")
        digest.update(str(part).encode())
    if user is not None:
        visitor = f"{user.id}:{user.role}:{user.session_generation}:{user.is_active}:{token}"
        digest.update(b"\1")
        digest.update(visitor.encode())
    elif token:
        digest.update(b"\2")
        digest.update(token.encode())
    if extras:
        digest.update(b"\3")
        digest.update(repr(list(extras)).encode())
    # Weak: the same page gzipped or not is the same page.
    etag = f'W/"{digest.hexdigest()}"'
    headers["ETag"] = etag
    moment = None
    if last_modified is not None and user is None and not token and not extras:
        moment = max(last_modified, freshness.changed_at)
        headers["Last-Modified"] = format_datetime(moment.astimezone(UTC), usegmt=True)
    return PageValidators(etag, moment, headers=headers)


def disabled_freshness() -> PageFreshness:
    """Validators off (``--reload``): every GET renders."""
    return PageFreshness(enabled=False, fingerprint="", changed_at=_UNSET)
