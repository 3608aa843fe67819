"""Roles and user management over HTTP: admins manage users, nobody raises their own role,
and a new password or deactivation ends the user's sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import (
    ADMIN_PASSWORD,
    create_post,
    create_user,
    login,
    post_form,
    site_of,
)

OTHER_PASSWORD = "another long password"


@pytest.fixture
async def second_browser(
    admin_client: TestClient[Any, Any],
) -> AsyncIterator[Callable[[], TestClient[Any, Any]]]:
    """Make more clients of the same server, each with its own cookie jar."""
    opened: list[TestClient[Any, Any]] = []

    def make() -> TestClient[Any, Any]:
        other: TestClient[Any, Any] = TestClient(admin_client.server)
        opened.append(other)
        return other

    yield make
    for other in opened:
        await other.session.close()


async def signed_in(
    make: Callable[[], TestClient[Any, Any]], username: str, password: str = ADMIN_PASSWORD
) -> TestClient[Any, Any]:
    other = make()
    response = await login(other, username, password)
    assert response.status == 303, await response.text()
    return other


async def user_id(client: TestClient[Any, Any], username: str) -> int:
    user = await site_of(client).storage.get_user_by_username(username)
    assert user is not None
    return user.id


async def test_admin_lists_and_adds_users(admin_client: TestClient[Any, Any]) -> None:
    await create_user(admin_client, "ann", "author")
    page = await (await admin_client.get("/admin/users")).text()
    assert "ann" in page and "Author" in page
    response = await post_form(
        admin_client,
        "/admin/users",
        {
            "username": "bob",
            "role": "editor",
            "password": OTHER_PASSWORD,
            "password_confirm": OTHER_PASSWORD,
        },
    )
    assert response.status == 303
    bob = await site_of(admin_client).storage.get_user_by_username("bob")
    assert bob is not None and bob.role == "editor"
    duplicate = await post_form(
        admin_client,
        "/admin/users",
        {
            "username": "BOB",
            "role": "author",
            "password": OTHER_PASSWORD,
            "password_confirm": OTHER_PASSWORD,
        },
    )
    assert duplicate.status == 422
    assert "exists already" in await duplicate.text()
    assert len(await site_of(admin_client).storage.list_users()) == 3


@pytest.mark.parametrize("role", ["editor", "author"])
async def test_only_admins_manage_users(
    admin_client: TestClient[Any, Any],
    second_browser: Callable[[], TestClient[Any, Any]],
    role: str,
) -> None:
    await create_user(admin_client, "staff", role)
    staff = await signed_in(second_browser, "staff")
    assert (await staff.get("/admin/users")).status == 403
    admin_id = await user_id(admin_client, "admin")
    assert (await staff.get(f"/admin/users/{admin_id}")).status == 403
    # Not through the form either, even for their own account.
    own_id = await user_id(admin_client, "staff")
    token_page = await staff.get("/admin/account")
    assert token_page.status == 200
    response = await post_form(
        staff,
        f"/admin/users/{own_id}",
        {"role": "admin", "is_active": "on"},
        form_page="/admin/account",
    )
    assert response.status == 403
    me = await site_of(admin_client).storage.get_user(own_id)
    assert me is not None and me.role == role
    # The admin nav shows no Users link to them.
    assert "/admin/users" not in await (await staff.get("/admin/")).text()


async def test_changing_a_role_takes_effect(
    admin_client: TestClient[Any, Any], second_browser: Callable[[], TestClient[Any, Any]]
) -> None:
    await create_post(admin_client, title="Admin post")
    post = await site_of(admin_client).storage.get_post_by_slug("admin-post")
    assert post is not None
    await create_user(admin_client, "ann", "author")
    ann = await signed_in(second_browser, "ann")
    assert (await ann.get(f"/admin/posts/{post.id}/edit")).status == 403
    ann_id = await user_id(admin_client, "ann")
    response = await post_form(
        admin_client, f"/admin/users/{ann_id}", {"role": "editor", "is_active": "on"}
    )
    assert response.status == 303
    assert (await ann.get(f"/admin/posts/{post.id}/edit")).status == 200


async def test_admin_cannot_change_own_role_or_deactivate_self(
    admin_client: TestClient[Any, Any],
) -> None:
    admin_id = await user_id(admin_client, "admin")
    response = await post_form(
        admin_client, f"/admin/users/{admin_id}", {"role": "author", "is_active": "on"}
    )
    assert response.status == 422
    assert "cannot change your own role" in await response.text()
    response = await post_form(admin_client, f"/admin/users/{admin_id}", {"role": "admin"})
    assert response.status == 422
    assert "cannot deactivate yourself" in await response.text()
    me = await site_of(admin_client).storage.get_user(admin_id)
    assert me is not None and me.role == "admin" and me.is_active


async def test_deactivating_ends_sessions_and_sign_in(
    admin_client: TestClient[Any, Any], second_browser: Callable[[], TestClient[Any, Any]]
) -> None:
    await create_user(admin_client, "ann", "author")
    ann = await signed_in(second_browser, "ann")
    ann_id = await user_id(admin_client, "ann")
    response = await post_form(admin_client, f"/admin/users/{ann_id}", {"role": "author"})
    assert response.status == 303
    assert (await ann.get("/admin/", allow_redirects=False)).status == 302
    assert (await login(second_browser(), "ann", ADMIN_PASSWORD)).status == 401


async def test_password_reset_ends_the_users_sessions(
    admin_client: TestClient[Any, Any], second_browser: Callable[[], TestClient[Any, Any]]
) -> None:
    await create_user(admin_client, "ann", "author")
    ann = await signed_in(second_browser, "ann")
    ann_id = await user_id(admin_client, "ann")
    mismatch = await post_form(
        admin_client,
        f"/admin/users/{ann_id}",
        {
            "role": "author",
            "is_active": "on",
            "password": OTHER_PASSWORD,
            "password_confirm": "something else",
        },
    )
    assert mismatch.status == 422
    assert (await ann.get("/admin/", allow_redirects=False)).status == 200
    response = await post_form(
        admin_client,
        f"/admin/users/{ann_id}",
        {
            "role": "author",
            "is_active": "on",
            "password": OTHER_PASSWORD,
            "password_confirm": OTHER_PASSWORD,
        },
    )
    assert response.status == 303
    assert (await ann.get("/admin/", allow_redirects=False)).status == 302
    assert (await login(second_browser(), "ann", ADMIN_PASSWORD)).status == 401
    assert (await login(second_browser(), "ann", OTHER_PASSWORD)).status == 303


async def test_changing_own_password_ends_other_sessions_only(
    admin_client: TestClient[Any, Any], second_browser: Callable[[], TestClient[Any, Any]]
) -> None:
    laptop = await signed_in(second_browser, "admin")
    wrong = await post_form(
        admin_client,
        "/admin/account",
        {
            "current_password": "not it",
            "password": OTHER_PASSWORD,
            "password_confirm": OTHER_PASSWORD,
        },
    )
    assert wrong.status == 422
    assert "not your current password" in await wrong.text()
    response = await post_form(
        admin_client,
        "/admin/account",
        {
            "current_password": ADMIN_PASSWORD,
            "password": OTHER_PASSWORD,
            "password_confirm": OTHER_PASSWORD,
        },
    )
    assert response.status == 303
    assert (await admin_client.get("/admin/", allow_redirects=False)).status == 200
    assert (await laptop.get("/admin/", allow_redirects=False)).status == 302
    assert (await login(second_browser(), "admin", OTHER_PASSWORD)).status == 303
