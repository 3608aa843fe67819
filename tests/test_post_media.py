"""Which posts name which images of the media library in their text, kept by storage with
every write of a post (create, edit, trash and restore, imports), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from cms.contracts import media_in_text

ONE, TWO = "a" * 64, "b" * 64


async def named(storage: Any, *hashes: str) -> list[tuple[str, int, str]]:
    async with storage._reading() as conn:
        found: list[tuple[str, int, str]] = await storage._posts_naming(conn, list(hashes))
        return found


def test_the_hashes_a_text_names() -> None:
    text = f'![a](media:{ONE}) and ![b](media:{TWO} "title")\n![again](media:{ONE})'
    assert media_in_text(text) == {ONE, TWO}
    assert media_in_text("media:" + "A" * 64) == set()  # hashes are lowercase hex
    assert media_in_text("no images") == set()


async def test_every_write_keeps_the_uses(open_storage: Any) -> None:
    storage = await open_storage()
    post = await storage.create_post(
        {"title": "T", "slug": "t", "body": f"![x](media:{ONE})", "html": "", "status": "draft"},
        author_id=None,
    )
    assert await named(storage, ONE, TWO) == [(ONE, post.id, "T")]
    post = await storage.update_post(
        post.id, {"body": f"![y](media:{TWO})", "title": "U"}, editor_id=None
    )
    assert await named(storage, ONE, TWO) == [(TWO, post.id, "U")]
    # The trash takes them with the post; restoring brings them back.
    await storage.trash_post(post.id)
    assert await named(storage, TWO) == []
    (entry,) = await storage.list_trash()
    await storage.restore_trashed(entry.id)
    assert [use[0] for use in await named(storage, TWO)] == [TWO]
    await storage.update_post(post.id, {"body": "no picture now"}, editor_id=None)
    assert await named(storage, ONE, TWO) == []
