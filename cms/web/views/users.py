"""Managing users (admins only) and one's own account (everyone signed in)."""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from cms.content.events import announce
from cms.content.users import check_username
from cms.contracts import ROLES, Role, User, UsernameTaken
from cms.core import hookspecs
from cms.core.passwords import check_password_rules
from cms.web.auth import sign_in
from cms.web.throttling import SignInThrottle, counted_address
from cms.web.views.base import BaseView

__all__ = ["AccountView", "UserEditView", "UserListView"]

_NOTICES = {
    "created": "The user was created.",
    "saved": "The changes were saved.",
    "password": "The password was changed; every other session of that user has ended.",
    "profile": "Your profile was saved.",
}


def _new_password_errors(form: Any, errors: dict[str, str]) -> str | None:
    """Read ``password``/``password_confirm``; None when both are empty."""
    password = str(form.get("password", ""))
    confirm = str(form.get("password_confirm", ""))
    if not password and not confirm:
        return None
    if problem := check_password_rules(password):
        errors["password"] = problem
    elif password != confirm:
        errors["password_confirm"] = "The two passwords differ."
    return password


class UserListView(BaseView):
    """``/admin/users``: every user, and a form to add one."""

    permission = "users.manage"
    uses_forms = True

    async def show(
        self, form: dict[str, str], errors: dict[str, str], status: int = 200
    ) -> web.Response:
        return await self.render(
            "admin/users.html",
            {
                "users": await self.site.storage.list_users(),
                "roles": ROLES,
                "form": form,
                "errors": errors,
                "notice": _NOTICES.get(self.request.query.get("notice", "")),
            },
            status=status,
        )

    async def get(self) -> web.Response:
        return await self.show({"username": "", "role": "author"}, {})

    async def post(self) -> web.Response:
        data = await self.request.post()
        username = str(data.get("username", "")).strip()
        role = str(data.get("role", ""))
        errors: dict[str, str] = {}
        if problem := check_username(username):
            errors["username"] = problem
        if role not in ROLES:
            errors["role"] = f"Choose one of: {', '.join(ROLES)}."
        password = _new_password_errors(data, errors)
        if password is None:
            errors["password"] = "Choose a password."
        if not errors and password is not None:
            try:
                created = await self.site.storage.create_user(
                    username, await self.site.passwords.hash(password), cast(Role, role)
                )
                assert created is not None
                await announce(self.site, hookspecs.user_created, user=created, cms=self.site)
            except UsernameTaken:
                errors["username"] = "A user with this name exists already."
        if errors:
            return await self.show({"username": username, "role": role}, errors, status=422)
        url = self.request.app.router["admin-users"].url_for().with_query(notice="created")
        raise web.HTTPSeeOther(url)


class UserEditView(BaseView):
    """``/admin/users/{id}``: change a role, reset a password, deactivate or reactivate.

    Admins cannot change their own role or deactivate themselves, so a site always keeps
    an administrator and nobody changes their own rights.
    """

    permission = "users.manage"
    uses_forms = True

    async def load(self) -> User:
        user = await self.site.storage.get_user(self.id_param("user"))
        if user is None:
            raise web.HTTPNotFound(reason="There is no such user")
        return user

    async def show(self, target: User, errors: dict[str, str], status: int = 200) -> web.Response:
        me = await self.user()
        return await self.render(
            "admin/user_form.html",
            {
                "target": target,
                "roles": ROLES,
                "errors": errors,
                "is_self": me is not None and me.id == target.id,
                "notice": _NOTICES.get(self.request.query.get("notice", "")),
            },
            status=status,
        )

    async def get(self) -> web.Response:
        return await self.show(await self.load(), {})

    async def post(self) -> web.Response:
        target = await self.load()
        me = await self.authorize("users.manage")
        data = await self.request.post()
        errors: dict[str, str] = {}
        role = str(data.get("role", target.role))
        is_active = data.get("is_active") is not None
        if role not in ROLES:
            errors["role"] = f"Choose one of: {', '.join(ROLES)}."
        if target.id == me.id and role != target.role:
            errors["role"] = "You cannot change your own role."
        if target.id == me.id and not is_active:
            errors["is_active"] = "You cannot deactivate yourself."
        password = _new_password_errors(data, errors)
        if errors:
            return await self.show(target, errors, status=422)
        updated = await self.site.storage.update_user(
            target.id,
            role=cast(Role, role),
            is_active=is_active,
            password_hash=await self.site.passwords.hash(password) if password else None,
        )
        await announce(self.site, hookspecs.user_updated, user=updated, cms=self.site)
        if updated.id == me.id and password:
            await sign_in(self.request, updated)  # keep this session; the others have ended
        notice = "password" if password else "saved"
        url = self.request.app.router["admin-user-edit"].url_for(id=str(target.id))
        raise web.HTTPSeeOther(url.with_query(notice=notice))


class AccountView(BaseView):
    """``/admin/account``: change one's own password; every other session then ends."""

    permission = "admin.access"
    uses_forms = True

    async def get(self) -> web.Response:
        notice = _NOTICES.get(self.request.query.get("notice", ""))
        me = await self.authorize("admin.access")
        return await self.render(
            "admin/account.html", {"errors": {}, "notice": notice, **_profile_context(me)}
        )

    async def post(self) -> web.Response:
        me = await self.authorize("admin.access")
        data = await self.request.post()
        errors: dict[str, str] = {}
        throttle = SignInThrottle(self.site, counted_address(self.request))
        await throttle.attempt(me.username)
        current = str(data.get("current_password", ""))
        if await self.site.passwords.verify(me.password_hash, current):
            await throttle.succeeded(me.username)
        else:
            errors["current_password"] = "That is not your current password."
        password = _new_password_errors(data, errors)
        if password is None and "password" not in errors:
            errors["password"] = "Choose a new password."
        if errors or password is None:
            return await self.render(
                "admin/account.html",
                {"errors": errors, "notice": None, **_profile_context(me)},
                status=422,
            )
        updated = await self.site.storage.update_user(
            me.id, password_hash=await self.site.passwords.hash(password)
        )
        await announce(self.site, hookspecs.user_updated, user=updated, cms=self.site)
        await sign_in(self.request, updated)
        url = self.request.app.router["admin-account"].url_for().with_query(notice="password")
        raise web.HTTPSeeOther(url)


def _profile_context(me: User) -> dict[str, Any]:
    """What the account page's profile form shows (``author`` loads the avatar's image)."""
    return {
        "profile": {"display_name": me.display_name or "", "bio": me.bio or ""},
        "profile_errors": {},
        "author": me,
    }
