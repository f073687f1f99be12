"""Chat transcripts in the drafts store: per draft, turn by turn, reopened, exported."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from writer.engine.story.chat import ChatTurn
from writer.errors import WriterError
from writer.store import DraftStore


def _open(path) -> DraftStore:
    return DraftStore.open(path)


def test_chats_are_listed_per_draft_reopened_continued_and_deleted_with_it(tmp_path) -> None:
    path = tmp_path / "writer.db"
    with _open(path) as store:
        draft = store.create_draft("Sea", "The boat came in.")
        other = store.create_draft("Other", "")
        chat = store.chats.create(draft.id, "  Mara ", "A smuggler.")
        assert chat.character == "Mara"
        store.chats.add_turn(chat.id, "author", "Who are you?")
        store.chats.add_turn(chat.id, "character", "Nobody\nyou know.")
        second = store.chats.create(draft.id, "Tom")
        with pytest.raises(WriterError, match="name is empty"):
            store.chats.create(draft.id, " ")
        with pytest.raises(WriterError, match="no draft"):
            store.chats.create(999, "Mara")
        with pytest.raises(WriterError, match="speaker"):
            store.chats.add_turn(chat.id, "narrator", "x")
    with _open(path) as store:  # reopened: everything is there
        listed = store.chats.for_draft(draft.id)
        assert [(c.character, c.turn_count) for c in listed] == [("Tom", 0), ("Mara", 2)]
        assert store.chats.for_draft(other.id) == []
        again = store.chats.latest(draft.id, "mara")
        assert again is not None and again.id == chat.id
        assert again.turns == [
            ChatTurn("author", "Who are you?"),
            ChatTurn("character", "Nobody you know."),
        ]
        store.chats.add_turn(chat.id, "author", "Go on.")  # continued: now the latest
        assert [c.id for c in store.chats.for_draft(draft.id)] == [chat.id, second.id]
        markdown = store.chats.export(draft.id)
        assert markdown.startswith("# Chats: Sea\n")
        assert "## Mara (" in markdown and "> A smuggler." in markdown
        assert "**Interviewer:** Who are you?\n\n**Mara:** Nobody you know.\n" in markdown
        assert markdown.index("## Mara") < markdown.index("## Tom")  # oldest first
        store.delete_draft(draft.id)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM chats").fetchone()[0] == 0
    assert raw.execute("SELECT COUNT(*) FROM chat_turns").fetchone()[0] == 0


def test_a_turn_survives_kill_9_right_after_it_is_written(tmp_path, isolated_user_dirs) -> None:
    path = tmp_path / "writer.db"
    with _open(path) as store:
        draft = store.create_draft("Sea", "")
        chat = store.chats.create(draft.id, "Mara")
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from writer.store import DraftStore
        store = DraftStore.open(Path({str(path)!r}))
        store.chats.add_turn({chat.id}, "author", "Still there?")
        store.chats.add_turn({chat.id}, "character", "Always.")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    root = Path(__file__).resolve().parents[2]  # the worktree's `writer`
    result = subprocess.run([sys.executable, "-c", script], cwd=root, timeout=60)
    assert result.returncode == -9
    with _open(path) as store:
        assert [t.text for t in store.chats.get(chat.id).turns] == ["Still there?", "Always."]
