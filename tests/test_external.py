"""ExternalFile: editing a file in place with atomic, permission-keeping saves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from writer.errors import WriterError
from writer.external import ExternalChangedError, ExternalFile, atomic_write_text


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "stories"
    path.mkdir()
    return path


def test_missing_file_opens_empty_and_is_created_on_first_save(folder: Path) -> None:
    path = folder / "new.md"
    f = ExternalFile.open(path)
    assert f.text == "" and not f.exists and not path.exists()
    assert not f.changed_on_disk()
    f.save("Once upon a time")
    assert path.read_text(encoding="utf-8") == "Once upon a time"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_keeps_permissions_and_leaves_no_temp_files(folder: Path) -> None:
    path = folder / "story.md"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    inode = path.stat().st_ino
    f = ExternalFile.open(path)
    f.save("new text\r\nkept line endings")
    assert path.read_bytes() == b"new text\r\nkept line endings"
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in folder.iterdir()) == ["story.md"]


def test_saving_through_a_symlink_replaces_the_target(folder: Path) -> None:
    target = folder / "real.md"
    target.write_text("a", encoding="utf-8")
    link = folder / "link.md"
    link.symlink_to(target)
    ExternalFile.open(link).save("b")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "b"


def test_a_change_on_disk_is_detected_and_not_overwritten(folder: Path) -> None:
    path = folder / "story.md"
    path.write_text("mine", encoding="utf-8")
    f = ExternalFile.open(path)
    os.utime(path, ns=(1, 1))  # touched with the same bytes: not a change
    assert not f.changed_on_disk()
    path.write_text("someone else's edit", encoding="utf-8")
    assert f.changed_on_disk()
    with pytest.raises(ExternalChangedError, match="changed on disk"):
        f.save("my edit")
    assert path.read_text(encoding="utf-8") == "someone else's edit"
    assert f.reload() == "someone else's edit" and not f.changed_on_disk()
    f.save("merged")
    assert path.read_text(encoding="utf-8") == "merged"


def test_deleted_file_counts_as_changed_and_force_saves(folder: Path) -> None:
    path = folder / "story.md"
    path.write_text("text", encoding="utf-8")
    f = ExternalFile.open(path)
    path.unlink()
    assert f.changed_on_disk()
    f.save("back again", force=True)
    assert path.read_text(encoding="utf-8") == "back again"


def test_byte_order_mark_is_hidden_from_the_text_and_kept_on_save(folder: Path) -> None:
    path = folder / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello")
    f = ExternalFile.open(path)
    assert f.text == "hello"
    f.save("bye")
    assert path.read_bytes() == b"\xef\xbb\xbfbye"


def test_non_utf8_file_is_a_one_line_error_naming_it(folder: Path) -> None:
    path = folder / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(WriterError, match=r"latin1\.txt: not UTF-8") as info:
        ExternalFile.open(path)
    assert "\n" not in str(info.value)


def test_folder_and_missing_parent_are_clear_errors(folder: Path) -> None:
    with pytest.raises(WriterError, match="is a folder"):
        ExternalFile.open(folder)
    with pytest.raises(WriterError, match="does not exist"):
        ExternalFile.open(folder / "no" / "such.md")


def test_failed_saves_are_one_line_errors_and_change_nothing(folder: Path) -> None:
    with pytest.raises(WriterError, match=r"cannot save .*gone/x\.md"):
        atomic_write_text(folder / "gone" / "x.md", "text")  # its folder does not exist
    path = folder / "story.md"
    path.write_text("safe", encoding="utf-8")
    f = ExternalFile.open(path)
    path.unlink()
    path.mkdir()  # something replaced the file with a folder
    with pytest.raises(WriterError, match="not a regular file"):
        f.save("text", force=True)
    assert path.is_dir() and list(folder.iterdir()) == [path]


def test_lone_surrogates_are_replaced_not_a_crash(folder: Path) -> None:
    """Pasted text can carry a lone UTF-16 surrogate, which UTF-8 cannot encode."""
    path = folder / "s.md"
    ExternalFile.open(path).save("a\ud800b")
    assert path.read_text(encoding="utf-8") == "a\ufffdb"


def test_stale_temp_files_of_a_killed_save_are_cleaned_on_open(folder: Path) -> None:
    path = folder / "story.md"
    path.write_text("kept", encoding="utf-8")
    old = os.path.getmtime(path) - 3600
    stale = folder / ".story.md.ab12_xyz.tmp"  # what a kill -9 inside atomic_write_text leaves
    fresh = folder / ".story.md.cd34efgh.tmp"  # another window saving right now
    other = folder / ".other.md.ab12cdef.tmp"  # not this file's
    foreign = folder / ".story.md.backup.tmp"  # not writer's naming
    for leftover in (stale, fresh, other, foreign):
        leftover.write_text("partial", encoding="utf-8")
    for leftover in (stale, other, foreign):
        os.utime(leftover, (old, old))
    target = folder / "precious.txt"
    target.write_text("precious", encoding="utf-8")
    link = folder / ".story.md.linklink.tmp"
    link.symlink_to(target)
    os.utime(link, (old, old), follow_symlinks=False)

    f = ExternalFile.open(path)

    assert f.text == "kept"
    assert not stale.exists()
    assert fresh.exists() and other.exists() and foreign.exists()
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "precious"
