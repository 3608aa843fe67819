"""The admin of what the whole site shares: tags, navigation menus, and one's public profile."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from cms.content.events import announce
from cms.content.posts import TAG_SLUG_MAX_LENGTH, tag_pairs
from cms.contracts import MENUS, ImageRejected, MenuItem
from cms.contracts.fields import MENU_URL_PATTERN, NO_CONTROL_CHARS, FieldValidationError
from cms.core import hookspecs
from cms.web.images import store_upload
from cms.web.menus import MENU_CACHE_KEY
from cms.web.uploads import read_page_form
from cms.web.views.base import BaseView

__all__ = [
    "NavigationView",
    "ProfileView",
    "RedirectsView",
    "TagAdminView",
    "TagListAdminView",
]

_MENU_URL = re.compile(MENU_URL_PATTERN)
_CONTROL = re.compile(NO_CONTROL_CHARS)
#: Blank rows the navigation form offers under each menu's links.
BLANK_ROWS = 3
MAX_MENU_ITEMS = 50
MAX_LABEL = 100
MAX_DISPLAY_NAME = 150
MAX_BIO = 2000

_TAG_NOTICES = {
    "renamed": "The tag was renamed; its old address leads to the new one.",
    "merged": "The tags were merged; the old tag's address leads to the one kept.",
    "deleted": "The tag was deleted; its posts keep their other tags.",
}


class TagListAdminView(BaseView):
    """``GET /admin/tags``: every tag with its count, and forms to rename, merge, delete."""

    permission = "tags.manage"
    uses_forms = True

    async def get(self) -> web.Response:
        notice = _TAG_NOTICES.get(self.request.query.get("notice", ""))
        return await self.show(notice=notice)

    async def show(
        self, *, notice: str | None = None, errors: dict[str, str] | None = None, status: int = 200
    ) -> web.Response:
        return await self.render(
            "admin/tags.html",
            {"tags": await self.site.storage.list_tags(), "notice": notice, "errors": errors or {}},
            status=status,
        )


class TagAdminView(TagListAdminView):
    """``POST /admin/tags/{id}``: ``action`` is rename (``name``, optional ``slug``), merge
    (``into``: the id of the tag to keep) or delete."""

    async def post(self) -> web.Response:
        await self.authorize("tags.manage")
        tag_id = self.id_param("tag")
        storage = self.site.storage
        tag = await storage.get_tag_by_id(tag_id)
        if tag is None:
            raise web.HTTPNotFound(reason="There is no such tag (deleted meanwhile?)")
        data = await self.request.post()
        action = str(data.get("action", ""))
        key = f"tag-{tag.id}"
        if action == "rename":
            name = " ".join(str(data.get("name", "")).split())
            try:
                (name, slug), *_ = tag_pairs([name]) or [("", "")]
            except FieldValidationError as error:
                return await self.show(errors={key: error.errors["tags"]}, status=422)
            wanted = str(data.get("slug", "")).strip() or slug
            if not name:
                return await self.show(errors={key: "Give the tag a name."}, status=422)
            if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", wanted) or len(wanted) > (
                TAG_SLUG_MAX_LENGTH
            ):
                return await self.show(
                    errors={key: "Use lowercase letters, digits and single hyphens for the slug."},
                    status=422,
                )
            try:
                await storage.rename_tag(tag.id, name, wanted)
            except ValueError:
                other = await storage.get_tag(wanted)
                message = (
                    f"The tag “{other.name}” has the address /tags/{wanted}: merge into it instead."
                    if other is not None
                    else f"Another tag has the address /tags/{wanted}."
                )
                return await self.show(errors={key: message}, status=409)
            notice = "renamed"
        elif action == "merge":
            try:
                target_id = int(str(data.get("into", "")))
            except ValueError:
                target_id = 0
            if target_id == tag.id or await storage.get_tag_by_id(target_id) is None:
                return await self.show(
                    errors={key: "Choose another tag to merge this one into."}, status=422
                )
            await storage.merge_tags(tag.id, target_id)
            notice = "merged"
        elif action == "delete":
            await storage.delete_tag(tag.id)
            notice = "deleted"
        else:
            raise web.HTTPBadRequest(reason="Choose rename, merge or delete")
        url = self.request.app.router["admin-tags"].url_for().with_query(notice=notice)
        raise web.HTTPSeeOther(url)


class NavigationView(BaseView):
    """``/admin/navigation``: the primary and secondary menus, label and URL per link, in
    order. Kept in storage: every worker and host shows a change on its next page."""

    permission = "navigation.manage"
    uses_forms = True

    async def get(self) -> web.Response:
        menus = await self.site.storage.get_menus()
        rows = {name: [(item.label, item.url) for item in items] for name, items in menus.items()}
        saved = self.request.query.get("notice") == "saved"
        return await self.show(rows, {}, notice="The menus were saved." if saved else None)

    async def show(
        self,
        rows: dict[str, list[tuple[str, str]]],
        errors: dict[str, str],
        *,
        notice: str | None = None,
        status: int = 200,
    ) -> web.Response:
        padded = {name: [*rows.get(name, []), *[("", "")] * BLANK_ROWS] for name in MENUS}
        return await self.render(
            "admin/navigation.html",
            # Not "menus": that name holds the site's menus, which every page's footer shows.
            {"menu_rows": padded, "errors": errors, "notice": notice},
            status=status,
        )

    async def post(self) -> web.Response:
        await self.authorize("navigation.manage")
        data = await self.request.post()
        rows: dict[str, list[tuple[str, str]]] = {}
        errors: dict[str, str] = {}
        for name in MENUS:
            labels = [str(value) for value in data.getall(f"{name}-label", [])]
            urls = [str(value) for value in data.getall(f"{name}-url", [])]
            rows[name] = []
            for label, url in zip(labels, urls, strict=False):
                label, url = " ".join(label.split()), url.strip()
                if not label and not url:
                    continue  # an empty row: a link removed, or a blank one left blank
                rows[name].append((label, url))
                problem = _link_problem(label, url)
                if problem:
                    errors[f"{name}-{len(rows[name]) - 1}"] = problem
            if len(rows[name]) > MAX_MENU_ITEMS:
                errors[name] = f"A menu holds at most {MAX_MENU_ITEMS} links."
        if errors:
            return await self.show(rows, errors, status=422)
        for name in MENUS:
            items = [MenuItem(label=label, url=url) for label, url in rows[name]]
            await self.site.storage.set_menu(name, items)
        self.request.app[MENU_CACHE_KEY].forget()
        saved = self.request.app.router["admin-navigation"].url_for().with_query(notice="saved")
        raise web.HTTPSeeOther(saved)


def _link_problem(label: str, url: str) -> str | None:
    if not label:
        return "Give the link a label."
    if len(label) > MAX_LABEL or not _CONTROL.match(label):
        return f"Use at most {MAX_LABEL} characters, without control characters, for the label."
    if not url:
        return "Give the link an address."
    if len(url) > 500 or not _MENU_URL.match(url):
        return (
            "Use a path on this site (like /about), a full http:// or https:// address, "
            "#section or mailto:"
        )
    return None


class ProfileView(BaseView):
    """``POST /admin/account/profile``: the display name, bio and avatar readers see on the
    author page and in bylines. The avatar goes through the image handler like a cover."""

    permission = "admin.access"
    uses_forms = True
    #: The avatar streams to disk: the CSRF token is the form's first part.
    streams_uploads = True

    async def post(self) -> web.Response:
        me = await self.authorize("admin.access")
        upload = None
        fields: MultiDictProxy[Any] | Any
        if self.request.content_type == "multipart/form-data":
            form = await read_page_form(
                self.request,
                self.site.images,
                file_field="avatar",
                max_field_bytes=64 * 1024,
                what="The avatar",
            )
            fields, upload = form.fields, form.files.get("avatar")
        else:
            fields = await self.request.post()
        display_name = " ".join(str(fields.get("display_name", "")).split())
        bio = str(fields.get("bio", "")).replace("\r\n", "\n").strip()
        errors: dict[str, str] = {}
        if len(display_name) > MAX_DISPLAY_NAME or not _CONTROL.match(display_name):
            errors["display_name"] = (
                f"Use at most {MAX_DISPLAY_NAME} characters, without control characters."
            )
        if len(bio) > MAX_BIO or "\x00" in bio:
            errors["bio"] = f"Use at most {MAX_BIO} characters."
        avatar = None if fields.get("avatar_remove") else me.avatar
        if upload is not None and not errors:
            try:
                media = await store_upload(self.site, upload, uploader=me)
                avatar = media.content_hash
            except ImageRejected as error:
                errors["avatar"] = error.message + "."
            except LookupError as error:
                errors["avatar"] = str(error)
        if errors:
            return await self.render(
                "admin/account.html",
                {
                    "errors": {},
                    "profile_errors": errors,
                    "profile": {"display_name": display_name, "bio": bio},
                    "notice": None,
                    "author": me,
                },
                status=422,
            )
        updated = await self.site.storage.update_profile(
            me.id, display_name=display_name or None, bio=bio or None, avatar=avatar
        )
        await announce(self.site, hookspecs.user_updated, user=updated, cms=self.site)
        url = self.request.app.router["admin-account"].url_for().with_query(notice="profile")
        raise web.HTTPSeeOther(url)


_REDIRECT_PATH = re.compile(r"^/(?!/)[^\s\x00-\x1f\x7f\"'<>\\]{0,499}$")
_REDIRECT_NOTICES = {
    "added": "The redirect was saved.",
    "deleted": "The redirect was removed.",
}


class RedirectsView(BaseView):
    """``/admin/redirects``: addresses that answer 301 elsewhere (an old URL kept alive).
    Asked only where nothing else answers (a 404); a post's changed slug redirects by
    itself."""

    permission = "redirects.manage"
    uses_forms = True

    async def get(self) -> web.Response:
        notice = _REDIRECT_NOTICES.get(self.request.query.get("notice", ""))
        return await self.show({}, {}, notice=notice)

    async def show(
        self,
        form: dict[str, str],
        errors: dict[str, str],
        *,
        notice: str | None = None,
        status: int = 200,
    ) -> web.Response:
        return await self.render(
            "admin/redirects.html",
            {
                "redirects": await self.site.storage.list_redirects(),
                "form": form,
                "errors": errors,
                "notice": notice,
            },
            status=status,
        )

    async def post(self) -> web.Response:
        await self.authorize("redirects.manage")
        data = await self.request.post()
        router = self.request.app.router
        if data.get("action") == "delete":
            await self.site.storage.delete_redirect(str(data.get("path", "")))
            raise web.HTTPSeeOther(router["admin-redirects"].url_for().with_query(notice="deleted"))
        path = str(data.get("path", "")).strip()
        target = str(data.get("target", "")).strip()
        errors: dict[str, str] = {}
        if not _REDIRECT_PATH.match(path):
            errors["path"] = "Use a path on this site, like /old-page (no spaces)."
        if len(target) > 1000 or not _MENU_URL.match(target) or target.startswith(("#", "mailto:")):
            errors["target"] = "Use a path on this site (like /about) or a full https:// address."
        elif target == path:
            errors["target"] = "A redirect to itself would never end."
        if errors:
            return await self.show({"path": path, "target": target}, errors, status=422)
        await self.site.storage.set_redirect(path, target)
        raise web.HTTPSeeOther(router["admin-redirects"].url_for().with_query(notice="added"))
