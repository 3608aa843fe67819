"""The first-run story of issue 2, over real HTTP: setup, sign in, write, publish, edit, delete."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_NAME, ADMIN_PASSWORD, create_post, login, post_form, setup_admin

MARKDOWN = """# A heading

- one
- two

```python
print("hi")
```

A [link](https://example.org) and an ![image](https://example.org/cat.png).
"""


async def test_first_visit_to_admin_leads_to_setup(client: TestClient[Any, Any]) -> None:
    response = await client.get("/admin/")
    assert response.status == 200
    assert response.url.path == "/setup"


async def test_setup_exists_only_until_there_is_a_user(client: TestClient[Any, Any]) -> None:
    await setup_admin(client)
    assert (await client.get("/setup")).status == 404
    response = await post_form(
        client,
        "/setup",
        {"username": "intruder", "password": "x" * 12, "password_confirm": "x" * 12},
        form_page="/admin/posts/new",
    )
    assert response.status == 404


async def test_write_publish_edit_delete(client: TestClient[Any, Any]) -> None:
    await setup_admin(client)
    response = await create_post(client, title="Hello world", body=MARKDOWN)
    assert response.status == 303
    edit_url = response.headers["Location"].split("?")[0]

    index = await (await client.get("/")).text()
    assert "Hello world" in index
    page = await client.get("/posts/hello-world")
    html = await page.text()
    assert page.status == 200
    assert "<h1>A heading</h1>" in html
    assert "<li>one</li>" in html
    assert '<code class="language-python">' in html
    assert 'href="https://example.org"' in html
    assert 'src="https://example.org/cat.png"' in html

    response = await post_form(
        client,
        edit_url,
        {
            "title": "Hello again",
            "slug": "hello-world",
            "body": "Changed",
            "status": "published",
            "version": "1",
        },
    )
    assert response.status == 303
    assert "Changed" in await (await client.get("/posts/hello-world")).text()

    post_id = edit_url.split("/")[3]
    response = await post_form(client, f"/admin/posts/{post_id}/delete", {}, form_page="/admin/")
    assert response.status == 303
    assert (await client.get("/posts/hello-world")).status == 404
    assert "Hello again" not in await (await client.get("/")).text()


async def test_sign_in_and_out(client: TestClient[Any, Any]) -> None:
    await setup_admin(client)
    await post_form(client, "/logout", {}, form_page="/admin/")
    response = await client.get("/admin/", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login")
    bad = await login(client, ADMIN_NAME, "wrong password")
    assert bad.status == 401
    good = await login(client, ADMIN_NAME, ADMIN_PASSWORD)
    assert good.status == 303
    assert (await client.get("/admin/", allow_redirects=False)).status == 200


async def test_first_visitor_of_a_fresh_site_is_led_to_setup(client: TestClient[Any, Any]) -> None:
    response = await client.get("/", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/setup"
    await setup_admin(client)
    assert (await client.get("/", allow_redirects=False)).status == 200
