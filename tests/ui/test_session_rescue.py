"""A save the store cannot take (a full disk) leaves the text in a rescue file, says where, and
rewrites it at most every RESCUE_EVERY_S; the rescue file's own rules (folders, mode, name)."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from tests.ui.session_support import Clock, open_session
from writer.paths import cache_dir
from writer.store import StoreWriteError
from writer.store.rescue import RESCUE_EVERY_S, RescueFile, rescue_folders

FULL = "cannot save to the drafts database: the disk is full; free some space"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def session(clock: Clock):
    yield from open_session(clock, "The Lighthouse")


def _disk_full(*args, **kwargs):
    raise StoreWriteError(FULL)


def test_a_save_on_a_full_disk_leaves_the_text_in_a_rescue_file(session, clock, monkeypatch):
    monkeypatch.setattr(session.store, "save_text", _disk_full)
    session.edited()
    assert not session.save("every word typed")
    [notice] = session.take_notices()
    path = session.rescue.path
    assert path is not None and path.parent == cache_dir() / "rescue"
    assert path.read_text(encoding="utf-8") == "every word typed"
    assert path.name.startswith("writer-rescue-The-Lighthouse-") and path.suffix == ".txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert notice.message == f"disk full: your text is safe in {path}; free space and it will save"
    clock.now += 1  # a failing retry within RESCUE_EVERY_S does not rewrite it
    assert not session.save("every word typed and more")
    assert path.read_text(encoding="utf-8") == "every word typed"
    clock.now += RESCUE_EVERY_S
    assert not session.save("every word typed and more")
    assert path.read_text(encoding="utf-8") == "every word typed and more"  # the same file
    assert session.take_notices() == []  # told once
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    monkeypatch.undo()
    clock.now += 10
    assert session.save("every word typed and more")
    [saved] = session.take_notices()
    assert "Saved again" in saved.message and str(path) in saved.message
    assert path.exists()  # the author's to delete


def test_an_autosave_on_a_worker_rescues_its_snapshot(session, clock, monkeypatch):
    monkeypatch.setattr(session.store, "save_text", _disk_full)
    session.edited()
    snap = session.snapshot("snapshot text", (0, 0), 0)
    result = session.write_snapshot(snap)
    assert result.rescued is not None and result.rescued.read_text() == "snapshot text"
    session.snapshot_written(result)
    [notice] = session.take_notices()
    assert str(result.rescued) in notice.message and notice.severity == "error"


def test_rescue_tries_the_temp_folder_then_the_story_folder(tmp_path, monkeypatch):
    cache = tmp_path / "cache-file"
    cache.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    story = tmp_path / "story" / "novel.md"
    story.parent.mkdir()
    assert rescue_folders(story) == [
        cache / "writer" / "rescue",
        Path(tempfile.gettempdir()),
        story.parent,
    ]
    rescue = RescueFile(folders=lambda _story: [cache / "rescue", story.parent])
    path = rescue.write("text", "novel", story)
    assert path is not None and path.parent == story.parent and path.read_text() == "text"
    nowhere = RescueFile(folders=lambda _story: [cache / "rescue"])
    assert nowhere.write("text", "novel") is None and nowhere.path is None


def test_a_planted_link_at_the_rescue_name_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    folder = tmp_path / "shared"
    folder.mkdir()
    rescue = RescueFile(folders=lambda _story: [folder], wall_clock=lambda: 0.0)
    first = rescue.write("one", "t")
    assert first is not None
    first.unlink()
    first.symlink_to(victim)  # planted at the name in use: replaced by the next write
    assert rescue.write("two", "t") == first
    assert victim.read_text() == "not yours" and not first.is_symlink()
    first.unlink()
    first.symlink_to(victim)  # planted at the name a new rescue file would take: avoided
    rescue.forget()
    other = rescue.write("three", "t")
    assert other is not None and other != first and other.read_text() == "three"
    assert victim.read_text() == "not yours"


def test_another_draft_gets_its_own_rescue_file(session, clock, monkeypatch):
    monkeypatch.setattr(session.store, "save_text", _disk_full)
    session.edited()
    assert not session.save("first draft's text")
    first = session.rescue.path
    session.draft = session.store.create_draft("Second")
    session.edited()
    clock.now += 1  # within the throttle: still a new file, at once
    assert not session.save("second draft's text")
    second = session.rescue.path
    assert first != second and second is not None and "Second" in second.name
    assert first.read_text() == "first draft's text"
    assert second.read_text() == "second draft's text"


def test_two_drafts_of_one_title_in_one_second_do_not_share_a_rescue_file(tmp_path):
    def rescue() -> RescueFile:
        return RescueFile(folders=lambda _story: [tmp_path], wall_clock=lambda: 0.0)

    one, two = rescue().write("one", "Same"), rescue().write("two", "Same")
    assert one != two and one.read_text() == "one" and two.read_text() == "two"
