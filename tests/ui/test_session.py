"""DraftSession without an app: autosave timing, store-then-file saves, failures and retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.session_support import Clock, open_session
from writer.external import ExternalFile
from writer.store import StoreWriteError
from writer.ui.writing.session import MAX_UNSAVED_S, RETRY_S, DraftSession


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def session(clock: Clock):
    yield from open_session(clock, "Story")


def test_autosave_waits_for_a_pause_but_not_forever(session: DraftSession, clock: Clock) -> None:
    assert not session.autosave_due()
    session.edited()
    assert session.state == "unsaved" and not session.autosave_due()
    clock.now += 0.5
    assert session.autosave_due()  # typing paused
    for _ in range(int(MAX_UNSAVED_S / 0.25)):  # typing on without a pause
        clock.now += 0.25
        session.edited()
    assert session.autosave_due()  # unsaved for MAX_UNSAVED_S: save anyway
    assert session.save("typed")
    assert session.state == "saved" and not session.autosave_due()
    assert session.store.get_draft(session.draft.id).text == "typed"


def test_failed_store_save_tells_once_and_retries_later(session, clock, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise StoreWriteError("cannot write the drafts database: disk full")

    monkeypatch.setattr(session.store, "save_text", full)
    session.edited()
    assert not session.save("lost?")
    assert session.state == "save failed" and session.dirty
    assert [n.severity for n in session.take_notices()] == ["error"]
    clock.now += 1
    assert not session.autosave_due()  # waits out RETRY_S
    assert not session.save("lost?") and session.take_notices() == []  # told once
    monkeypatch.undo()
    clock.now += RETRY_S
    assert session.autosave_due() and session.save("kept")
    assert session.state == "saved"
    assert "Saved again" in session.take_notices()[0].message


def test_the_store_gets_the_text_before_the_file(session, clock, tmp_path, monkeypatch) -> None:
    import writer.external

    path = tmp_path / "story.md"
    path.write_text("", encoding="utf-8")
    session.external, session.file = ExternalFile.open(path), path

    def read_only(target: Path, text: str) -> None:
        raise writer.external.WriterError(f"cannot save {target}: Permission denied")

    real = writer.external.atomic_write_text
    monkeypatch.setattr(writer.external, "atomic_write_text", read_only)
    session.edited()
    assert session.save("mine")  # the store has it
    assert session.store.get_draft(session.draft.id).text == "mine"
    assert session.state == "file not saved" and not session.file_in_step
    assert not session.file_retry_due()
    monkeypatch.setattr(writer.external, "atomic_write_text", real)
    clock.now += RETRY_S
    assert session.file_retry_due() and session.write_file("mine")
    assert path.read_text(encoding="utf-8") == "mine" and session.state == "saved"

    path.write_text("theirs", encoding="utf-8")  # someone else writes the file
    session.edited()
    assert session.save("mine again")
    assert session.state == "file changed on disk" and session.conflict
    assert path.read_text(encoding="utf-8") == "theirs"


def test_a_moved_cursor_is_recorded_at_most_every_few_seconds_and_never_read_only(
    session: DraftSession, clock: Clock
) -> None:
    from writer.ui.writing.session import POSITION_S

    session.opened_at((0, 0), 0)
    assert not session.position_due((0, 0), 0)  # where it opened: nothing to record
    assert not session.position_due((3, 1), 2)  # moved, but just opened
    clock.now += POSITION_S
    assert session.position_due((3, 1), 2)
    session.remember_position((3, 1), 2)
    draft = session.store.get_draft(session.draft.id)
    assert (draft.cursor, draft.scroll) == ((3, 1), 2)
    assert not session.position_due((3, 1), 2)  # already recorded
    session.read_only = True
    clock.now += POSITION_S
    session.remember_position((9, 9), 9)
    assert session.store.get_draft(session.draft.id).cursor == (3, 1)
    session.read_only = False

    def broken(*args: object) -> None:
        raise StoreWriteError("cannot save to the drafts database: the disk is full")

    session.store.set_position = broken  # the position is a courtesy, never an error
    session.remember_position((5, 5), 5)
    assert session.take_notices() == [] and session.state == "saved"


def test_a_snapshot_written_late_never_puts_older_text_over_a_newer_save(
    session: DraftSession,
) -> None:
    session.edited()
    snap = session.snapshot("older", (0, 5), 0)  # the timer's autosave, before its worker ran
    session.edited()
    assert session.save("newer", reason="manual")  # ctrl+s on the UI thread came first
    result = session.write_snapshot(snap)
    assert result.skipped
    session.snapshot_written(result)
    assert session.store.get_draft(session.draft.id).text == "newer"
    assert session.state == "saved"


def test_typing_on_while_a_snapshot_is_written_stays_unsaved(
    session: DraftSession, clock: Clock
) -> None:
    session.edited()
    snap = session.snapshot("first", (0, 5), 0)
    clock.now += 0.1
    session.edited()  # typed meanwhile
    session.snapshot_written(session.write_snapshot(snap))
    assert session.store.get_draft(session.draft.id).text == "first"
    assert session.state == "unsaved" and session.dirty
    clock.now += 0.5
    assert session.autosave_due()
    snap = session.snapshot("first and more", (0, 14), 0)
    session.snapshot_written(session.write_snapshot(snap))
    assert session.state == "saved"
    assert session.store.get_draft(session.draft.id).text == "first and more"


def test_a_snapshot_the_store_refused_is_reported_on_the_ui_thread(
    session: DraftSession, monkeypatch
) -> None:
    def full(*args, **kwargs):
        raise StoreWriteError("cannot write the drafts database: disk full")

    monkeypatch.setattr(session.store, "save_text", full)
    session.edited()
    result = session.write_snapshot(session.snapshot("lost?", (0, 0), 0))
    assert session.state == "unsaved" and session.take_notices() == []  # nothing yet
    session.snapshot_written(result)
    assert session.state == "save failed" and session.dirty
    assert [n.severity for n in session.take_notices()] == ["error"]


def test_a_snapshot_does_not_overwrite_a_file_changed_on_disk(
    session: DraftSession, tmp_path
) -> None:
    path = tmp_path / "story.md"
    path.write_text("", encoding="utf-8")
    session.external, session.file = ExternalFile.open(path), path
    session.edited()
    session.snapshot_written(session.write_snapshot(session.snapshot("mine", (0, 0), 0)))
    assert path.read_text(encoding="utf-8") == "mine" and session.state == "saved"
    path.write_text("theirs", encoding="utf-8")  # someone else writes the file
    session.edited()
    session.snapshot_written(session.write_snapshot(session.snapshot("mine 2", (0, 0), 0)))
    assert session.store.get_draft(session.draft.id).text == "mine 2"
    assert path.read_text(encoding="utf-8") == "theirs"
    assert session.state == "file changed on disk"
