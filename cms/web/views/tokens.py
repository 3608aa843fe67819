"""The admin's API tokens page: list, create (shown once) and revoke tokens.

People see their own tokens; administrators see everybody's and may revoke any.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from cms.content.tokens import LABEL_MAX_LENGTH, issue_token, parse_expiry
from cms.contracts import User
from cms.web.auth import allowed
from cms.web.views.base import BaseView

__all__ = ["EXPIRY_CHOICES", "TokenListView", "TokenRevokeView"]

#: What the create form offers (value for :func:`cms.content.tokens.parse_expiry`, label).
EXPIRY_CHOICES = (
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("365d", "1 year"),
    ("never", "Never"),
)
_NOTICES = {"revoked": "The token was revoked. Programs using it can no longer sign in."}


class TokenListView(BaseView):
    """``GET /admin/tokens`` lists tokens; ``POST`` creates one for the signed-in user."""

    permission = "admin.access"
    uses_forms = True

    async def page(
        self,
        user: User,
        *,
        new_secret: str | None = None,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.Response:
        sees_all = await allowed(self.site, user, "users.manage")
        tokens = await self.site.storage.list_tokens(user_id=None if sees_all else user.id)
        return await self.render(
            "admin/tokens.html",
            {
                "tokens": tokens,
                "sees_all": sees_all,
                "new_secret": new_secret,
                "errors": errors or {},
                "form": form or {"label": "", "expires": "90d"},
                "expiry_choices": EXPIRY_CHOICES,
                "label_max_length": LABEL_MAX_LENGTH,
                "notice": _NOTICES.get(self.request.query.get("notice", "")),
                "now": datetime.now(UTC),
            },
            status=status,
        )

    async def get(self) -> web.Response:
        return await self.page(await self.authorize("admin.access"))

    async def post(self) -> web.Response:
        user = await self.authorize("admin.access")
        data = await self.request.post()
        label = data.get("label")
        expires = data.get("expires")
        form = {
            "label": label.strip() if isinstance(label, str) else "",
            "expires": expires if isinstance(expires, str) else "",
        }
        if form["expires"] not in {value for value, _ in EXPIRY_CHOICES}:
            return await self.page(
                user, errors={"expires": "Choose one of the offered times."}, form=form, status=422
            )
        try:
            issued = await issue_token(
                self.site,
                user.username,
                label=form["label"],
                expires_at=parse_expiry(form["expires"]),
            )
        except ValueError as error:
            message = str(error)
            return await self.page(
                user,
                errors={"label": message[:1].upper() + message[1:] + "."},
                form=form,
                status=422,
            )
        # Shown in this response only; it is never stored and cannot be shown again, and no
        # cache (nor the back button) may keep a copy.
        response = await self.page(user, new_secret=issued.secret)
        response.headers["Cache-Control"] = "no-store"
        return response


class TokenRevokeView(BaseView):
    """``POST /admin/tokens/{id}/revoke``: one's own token, or any token for an admin."""

    permission = "admin.access"

    async def post(self) -> web.Response:
        user = await self.authorize("admin.access")
        token = await self.site.storage.get_token(self.id_param("token"))
        if token is None:
            raise web.HTTPNotFound(reason="There is no such token")
        if token.user_id != user.id and not await allowed(self.site, user, "users.manage"):
            raise web.HTTPForbidden(reason="You can revoke only your own tokens")
        await self.site.storage.revoke_token(token.id)
        url = self.request.app.router["admin-tokens"].url_for().with_query(notice="revoked")
        raise web.HTTPSeeOther(url)
