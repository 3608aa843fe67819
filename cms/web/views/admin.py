"""The admin's post form: new posts and pages, editing, the conflict screen and autosave's
offer (the lists are cms.web.views.admin_lists)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from cms.content.posts import save_post
from cms.content.rendering import render_body
from cms.contracts import (
    Autosave,
    ImageRejected,
    Kind,
    Post,
    PostNotFound,
    User,
    VersionConflict,
    reading_minutes,
    word_count_of,
)
from cms.contracts.fields import FieldValidationError
from cms.web.images import image_sets, store_upload
from cms.web.uploads import UploadedFile, megabytes, read_page_form
from cms.web.views.admin_lists import AdminPageListView, AdminPostListView
from cms.web.views.autosave import autosave_offer, forget_autosaves, with_autosave
from cms.web.views.base import BaseView
from cms.web.views.conflicts import conflict_screen

__all__ = [
    "AdminPageListView",
    "AdminPostListView",
    "PageCreateView",
    "PostCreateView",
    "PostEditView",
]

#: Largest text field of the post form: a maximal body (500,000 characters) in UTF-8.
MAX_FIELD_BYTES = 2 * 1024 * 1024
#: The newest images of the library the form offers as covers (a plain select).
COVER_CHOICES = 60
_NOTICES = {
    "autosave": "Your unsaved changes are back in the form: check them, then save.",
    "restored": "The post was restored from the trash.",
    "saved": "The post was saved.",
    "preview-created": "A new preview link was made; an earlier one no longer works.",
    "preview-revoked": "The preview link was revoked: it no longer works.",
}


class _PostFormView(BaseView):
    permission = "posts.create"
    uses_forms = True
    #: The cover image streams to disk: the CSRF token is the form's first part.
    streams_uploads = True
    #: What a new item of this form is.
    kind: ClassVar[Kind] = "post"

    async def load(self) -> Post:
        """The post named in the URL, if this user may edit it."""
        post, _ = await self.editable_post()
        return post

    def local_time(self, when: datetime | None) -> str:
        """A stored time as a datetime-local input shows it, in the site's time zone."""
        if when is None:
            return ""
        return when.astimezone(self.site.settings.site.zone).strftime("%Y-%m-%dT%H:%M")

    def form_from_post(self, post: Post | None) -> dict[str, Any]:
        if post is None:
            form: dict[str, Any] = {
                "title": "",
                "slug": "",
                "body": "",
                "status": "draft",
                "version": "",
                "image": "",
                "published_at": "",
                "tags": "",
                "featured": False,
                "custom_excerpt": "",
            }
            for field in self.site.fields:
                form[field.name] = field.form_text(field.default)
            return form
        form = {
            "title": post.title,
            "slug": post.slug,
            "body": post.body,
            "status": post.status,
            "version": str(post.version),
            "image": post.image or "",
            # A published post's time is shown only while it is to come (scheduled).
            "published_at": self.local_time(post.published_at)
            if post.status == "scheduled"
            else "",
            "tags": ", ".join(post.tag_names),
            "featured": post.featured,
            "custom_excerpt": post.custom_excerpt or "",
        }
        for field in self.site.fields:
            form[field.name] = field.form_text(post.extra.get(field.name))
        return form

    async def read_form(self) -> tuple[MultiDict[Any] | MultiDictProxy[Any], UploadedFile | None]:
        """The submitted fields, and the cover image when one was chosen (saved at a
        temporary path). A multipart form is read as a stream; an image past the size
        limit is a 413 before the rest of it is read."""
        if self.request.content_type != "multipart/form-data":
            return await self.request.post(), None
        form = await read_page_form(
            self.request,
            self.site.images,
            file_field="image",
            max_field_bytes=MAX_FIELD_BYTES,
            what="The cover image",
        )
        return form.fields, form.files.get("image")

    async def attach_image(
        self,
        upload: UploadedFile | None,
        values: dict[str, Any],
        shown: dict[str, Any],
        user: User,
    ) -> dict[str, str]:
        """Store a chosen cover image and make it the post's; the errors for the form."""
        if upload is None:
            return {}
        try:
            media = await store_upload(self.site, upload, uploader=user)
        except ImageRejected as error:
            return {"image": error.message + "."}
        except LookupError as error:
            return {"image": str(error)}
        values["image"] = shown["image"] = media.content_hash
        return {}

    def values_from_form(
        self, data: MultiDict[Any] | MultiDictProxy[Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What to validate, and what to show again if validation fails."""

        def text(name: str) -> str:
            value = data.get(name)
            return value if isinstance(value, str) else ""

        shown: dict[str, Any] = {
            "title": text("title"),
            "slug": text("slug"),
            "body": text("body").replace("\r\n", "\n"),
            "status": text("status") or "draft",
            "version": text("version"),
            # The current cover (a media hash), kept in a hidden input, or one picked from the
            # library (image_pick); "image" is the file, which wins over both (attach_image).
            "image": ""
            if text("image_remove")
            else (text("image_pick") or text("image_key") or text("image")).strip(),
            "published_at": text("published_at").strip(),
            "tags": text("tags"),
            "featured": bool(text("featured")),
            "custom_excerpt": text("custom_excerpt").replace("\r\n", "\n"),
        }
        values: dict[str, Any] = {
            "title": shown["title"].strip(),
            "slug": shown["slug"].strip() or None,
            "body": shown["body"],
            "status": shown["status"],
            "image": shown["image"] or None,
            # A datetime-local value, read in the site's time zone (cms.content.posts).
            "published_at": shown["published_at"] or None,
            # Comma-separated, as typed: the content layer tidies and deduplicates.
            "tags": [name for name in shown["tags"].split(",") if name.strip()],
            "featured": shown["featured"],
            "custom_excerpt": shown["custom_excerpt"],
        }
        for field in self.site.fields:
            raw = data.get(field.name)
            raw_text = raw if isinstance(raw, str) else None
            shown[field.name] = (
                field.form_value(raw_text) if field.widget == "checkbox" else (raw_text or "")
            )
            values[field.name] = field.form_value(raw_text)
        return values, shown

    async def show_form(
        self,
        post: Post | None,
        form: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
        notice: str | None = None,
        conflict: dict[str, Any] | None = None,
        autosave: Autosave | None = None,
    ) -> web.Response:
        router = self.request.app.router
        images = self.site.images
        covers = await image_sets(self.site, [form.get("image")])
        kind = post.kind if post is not None else self.kind
        if post is not None:
            action = router["admin-post-edit"].url_for(id=str(post.id))
        else:
            action = router["admin-post-new" if kind == "post" else "admin-page-new"].url_for()
        return await self.render(
            "admin/post_form.html",
            {
                "post": post,
                "kind": kind,
                "form": form,
                "errors": errors,
                "fields": self.site.fields,
                "action": str(action),
                "notice": notice,
                "cover": covers.get(form.get("image") or ""),
                "image_limit": megabytes(images.max_bytes) if images is not None else None,
                # The cover can be picked from the newest images without JavaScript; the
                # editor's picker (editor-images.js) pages through them all.
                "library_images": await self.site.storage.list_media(
                    limit=COVER_CHOICES, newest_first=True
                )
                if images is not None
                else [],
                # Names only: counting would read every tag of every post, per form.
                "all_tags": await self.site.storage.list_tags(counted=False)
                if kind == "post"
                else [],
                "timezone": self.site.settings.site.timezone,
                "conflict": conflict,
                "autosave": autosave,
                "preview_link": await self._preview_link(post),
                "stats": await self._body_stats(post, form, kind),
            },
            status=status,
        )

    async def _body_stats(
        self, post: Post | None, form: dict[str, Any], kind: Kind
    ) -> dict[str, Any]:
        """The text as the preview pane first shows it (as the site renders it), with its
        word count and reading time: the stored HTML while the text is the stored one."""
        body = str(form.get("body") or "")
        if not body:
            html = ""
        elif post is not None and post.body == body:
            html = post.html
        else:
            html = await render_body(self.site, body, {**form, "kind": kind})
        words = word_count_of(html)
        return {"html": html, "words": words, "reading_time": reading_minutes(words)}

    async def _preview_link(self, post: Post | None) -> str | None:
        """The full address of the post's preview link, when it has one."""
        if post is None or post.is_published:
            return None
        link = await self.site.storage.get_preview_link(post.id)
        if link is None:
            return None
        path = self.request.app.router["preview"].url_for(token=link.token)
        return self.site.settings.site.base_url.rstrip("/") + str(path)

    def after_save(self, post: Post) -> web.HTTPSeeOther:
        url = self.request.app.router["admin-post-edit"].url_for(id=str(post.id))
        return web.HTTPSeeOther(url.with_query(notice="saved"))


class PostCreateView(_PostFormView):
    """``/admin/posts/new``."""

    async def get(self) -> web.Response:
        form = self.form_from_post(None)
        kept = await autosave_offer(self, None, self.kind)
        if kept is not None and self.request.query.get("autosave") == "restore":
            form = with_autosave(form, kept, None)
            return await self.show_form(None, form, {}, notice=_NOTICES["autosave"])
        return await self.show_form(None, form, {}, autosave=kept)

    async def post(self) -> web.Response:
        user = await self.authorize("posts.create" if self.kind == "post" else "pages.manage")
        data, upload = await self.read_form()
        values, shown = self.values_from_form(data)
        if errors := await self.attach_image(upload, values, shown, user):
            return await self.show_form(None, shown, errors, status=422)
        try:
            post = await save_post(self.site, self.request, values, user=user, kind=self.kind)
        except FieldValidationError as error:
            return await self.show_form(None, shown, error.errors, status=422)
        await forget_autosaves(self, post, created=True)
        raise self.after_save(post)


class PageCreateView(PostCreateView):
    """``/admin/pages/new``: the post form, for a page."""

    permission = "pages.manage"
    kind = "page"


class PostEditView(_PostFormView):
    """``/admin/posts/{id}/edit``: the form carries the version, so a stale edit is refused."""

    async def get(self) -> web.Response:
        post = await self.load()
        notice = _NOTICES.get(self.request.query.get("notice", ""))
        form = self.form_from_post(post)
        kept = await autosave_offer(self, post, post.kind)
        if kept is not None and self.request.query.get("autosave") == "restore":
            form = with_autosave(form, kept, post)
            return await self.show_form(post, form, {}, notice=_NOTICES["autosave"])
        return await self.show_form(post, form, {}, notice=notice, autosave=kept)

    async def post(self) -> web.Response:
        post = await self.load()
        user = await self.authorize("posts.edit", post)
        data, upload = await self.read_form()
        values, shown = self.values_from_form(data)
        if errors := await self.attach_image(upload, values, shown, user):
            return await self.show_form(post, shown, errors, status=422)
        try:
            expected = int(shown["version"]) if shown["version"] else None
        except ValueError:
            expected = None
        try:
            saved = await save_post(
                self.site,
                self.request,
                values,
                user=user,
                post_id=post.id,
                expected_version=expected,
            )
        except FieldValidationError as error:
            return await self.show_form(post, shown, error.errors, status=422)
        except VersionConflict as conflict:
            current = conflict.current
            form, report = await conflict_screen(
                self.site, current, expected, shown, self.form_from_post
            )
            form["version"] = str(current.version)
            return await self.show_form(
                current,
                form,
                {
                    "__all__": "Someone else saved this post while you were editing it. "
                    "Nothing was saved yet: what they changed is shown below, and the form "
                    "holds your changes and theirs. Check it, then save."
                },
                status=409,
                conflict=report,
            )
        except PostNotFound:
            raise web.HTTPNotFound(
                reason="The post was deleted while you were editing it"
            ) from None
        await forget_autosaves(self, saved, created=False)
        raise self.after_save(saved)
