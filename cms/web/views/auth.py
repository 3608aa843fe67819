"""Creating the first admin, signing in and signing out."""

from __future__ import annotations

from aiohttp import web

from cms.content.events import announce
from cms.content.users import check_username
from cms.core import hookspecs
from cms.core.passwords import check_password_rules
from cms.web.auth import safe_next_path, sign_in, sign_out
from cms.web.throttling import SignInThrottle, counted_address
from cms.web.views.base import BaseView

__all__ = ["LoginView", "LogoutView", "SetupView"]


class SetupView(BaseView):
    """``/setup``: create the administrator; exists only while there is no user."""

    uses_forms = True

    async def _ensure_open(self) -> None:
        if await self.site.storage.count_users() > 0:
            raise web.HTTPNotFound(reason="This site is set up already; sign in instead")

    async def get(self) -> web.Response:
        await self._ensure_open()
        return await self.render("setup.html", {"errors": {}, "username": ""})

    async def post(self) -> web.Response:
        await self._ensure_open()
        form = await self.request.post()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        errors: dict[str, str] = {}
        if problem := check_username(username):
            errors["username"] = problem
        if problem := check_password_rules(password):
            errors["password"] = problem
        elif password != str(form.get("password_confirm", "")):
            errors["password_confirm"] = "The two passwords differ."
        if errors:
            return await self.render(
                "setup.html", {"errors": errors, "username": username}, status=422
            )
        user = await self.site.storage.create_user(
            username, await self.site.passwords.hash(password), "admin", only_if_first=True
        )
        if user is None:  # someone else finished setup a moment ago
            raise web.HTTPNotFound(reason="This site is set up already; sign in instead")
        await announce(self.site, hookspecs.user_created, user=user, cms=self.site)
        await sign_in(self.request, user)
        raise web.HTTPSeeOther(self.request.app.router["admin"].url_for())


class LoginView(BaseView):
    """``/login``: fields ``username`` and ``password``; ``next`` must be a local path."""

    uses_forms = True

    async def get(self) -> web.Response:
        if await self.site.storage.count_users() == 0:
            raise web.HTTPSeeOther(self.request.app.router["setup"].url_for())
        next_path = safe_next_path(self.request.query.get("next"))
        if await self.user() is not None:
            raise web.HTTPSeeOther(next_path)
        return await self.render("login.html", {"error": None, "username": "", "next": next_path})

    async def post(self) -> web.Response:
        form = await self.request.post()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        next_path = safe_next_path(str(form.get("next", "")))
        throttle = SignInThrottle(self.site, counted_address(self.request))
        await throttle.attempt(username)
        user = await self.site.storage.get_user_by_username(username) if username else None
        valid = await self.site.passwords.verify(user.password_hash if user else None, password)
        if user is None or not valid or not user.is_active:
            return await self.render(
                "login.html",
                {
                    "error": "That username and password do not match an account.",
                    "username": username,
                    "next": next_path,
                },
                status=401,
            )
        await throttle.succeeded(username)
        await sign_in(self.request, user)
        raise web.HTTPSeeOther(next_path)


class LogoutView(BaseView):
    """``POST /logout``: end the session everywhere it was copied."""

    async def post(self) -> web.Response:
        await sign_out(self.request)
        raise web.HTTPSeeOther(self.request.app.router["index"].url_for())
