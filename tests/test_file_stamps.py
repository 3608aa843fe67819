"""cms.core.file_stamps: the stamps of a folder's files change when a file is added, changed or
removed, and only then."""

from __future__ import annotations

import os
from pathlib import Path

from cms.core.file_stamps import file_stamp, file_stamps


def test_stamps_name_every_file_sorted_with_its_time_and_size(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "inner.html").write_text("12345")
    (tmp_path / "a.css").write_text("x")
    os.utime(tmp_path / "a.css", ns=(1_000, 2_000))

    stamps = file_stamps([tmp_path, tmp_path / "missing"])

    assert [path for path, _, _ in stamps] == [
        str(tmp_path / "a.css"),
        str(tmp_path / "b" / "inner.html"),
    ]
    assert stamps[0] == (str(tmp_path / "a.css"), 2_000, 1)
    assert stamps[1][2] == 5


def test_stamps_change_on_edit_add_and_remove_only(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("one")
    before = file_stamps([tmp_path])
    assert file_stamps([tmp_path]) == before

    page.write_text("three")
    edited = file_stamps([tmp_path])
    assert edited != before

    (tmp_path / "new.html").write_text("")
    added = file_stamps([tmp_path])
    assert added != edited

    (tmp_path / "new.html").unlink()
    assert file_stamps([tmp_path]) == edited


def test_a_missing_file_has_no_stamp(tmp_path: Path) -> None:
    assert file_stamp(tmp_path / "gone.toml") is None
    (tmp_path / "settings.toml").write_text("[site]\n")
    stamp = file_stamp(tmp_path / "settings.toml")
    assert stamp is not None and stamp[0] == str(tmp_path / "settings.toml") and stamp[2] == 7
