"""Chats with a draft's characters: transcripts stored with the draft (`DraftStore.chats`).

A chat is a row in `chats` (the character's name and description) and its turns are rows in
`chat_turns`. Each turn is written in its own transaction the moment it is taken (the author's
line when sent, the character's reply when picked), so a kill -9 loses at most the turn being
chosen, never one already shown as part of the transcript. Deleting a draft deletes its chats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from writer.engine.story.chat import AUTHOR_TAG, ChatTurn, check_name
from writer.errors import WriterError
from writer.store.core import StoreCore
from writer.store.rows import as_text, draft_from_row, in_range, timestamp
from writer.store.textio import encodable

SPEAKERS = ("author", "character")
MAX_TURN_CHARS = 20_000


@dataclass
class Chat:
    """One chat: `turns` in order (empty in a listing, where `turn_count` says how many)."""

    id: int
    draft_id: int
    character: str
    about: str
    created: float
    updated: float
    turn_count: int = 0
    turns: list[ChatTurn] = field(default_factory=list)


def _chat_from_row(row: tuple) -> Chat:
    chat_id, draft_id, character, about, created, updated, count = row
    return Chat(
        id=int(chat_id),
        draft_id=int(draft_id),
        character=as_text(character) or "?",
        about=as_text(about) or "",
        created=timestamp(created),
        updated=timestamp(updated),
        turn_count=int(count or 0),
    )


_CHAT_COLUMNS = (
    "c.id, c.draft_id, c.character, c.about, c.created, c.updated, "
    "(SELECT COUNT(*) FROM chat_turns t WHERE t.chat_id = c.id)"
)


class ChatLog:
    """The chats of every draft in one store (`DraftStore.chats`), handed the core."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def create(self, draft_id: int, character: str, about: str = "") -> Chat:
        """A new, empty chat with `character` on the draft; WriterError for a bad name."""
        name = check_name(character)
        now = self.core.now()
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            cur = conn.execute(
                "INSERT INTO chats (draft_id, character, about, created, updated) "
                "VALUES (?, ?, ?, ?, ?)",
                (int(draft_id), encodable(name), encodable(about.strip()), now, now),
            )
            chat_id = int(cur.lastrowid or 0)
        return Chat(chat_id, int(draft_id), name, about.strip(), now, now)

    def for_draft(self, draft_id: int) -> list[Chat]:
        """The draft's chats, most recently continued first (without their turns)."""
        with self.core.read() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            rows = conn.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats c WHERE c.draft_id = ? "
                "ORDER BY c.updated DESC, c.id DESC",
                (int(draft_id),),
            ).fetchall()
        return [_chat_from_row(r) for r in rows]

    def get(self, chat_id: int) -> Chat:
        """A chat with all its turns; WriterError when there is none."""
        with self.core.read() as conn:
            row = None
            if in_range(int(chat_id)):
                row = conn.execute(
                    f"SELECT {_CHAT_COLUMNS} FROM chats c WHERE c.id = ?", (int(chat_id),)
                ).fetchone()
            if row is None:
                raise WriterError(f"no chat with ID {chat_id}")
            turns = conn.execute(
                "SELECT speaker, text FROM chat_turns WHERE chat_id = ? ORDER BY id",
                (int(chat_id),),
            ).fetchall()
        chat = _chat_from_row(row)
        chat.turns = [
            ChatTurn("author" if s == "author" else "character", as_text(t) or "") for s, t in turns
        ]
        return chat

    def latest(self, draft_id: int, character: str) -> Chat | None:
        """The draft's most recently continued chat with `character` (ignoring case), whole."""
        name = check_name(character).lower()
        for chat in self.for_draft(draft_id):
            if chat.character.lower() == name:
                return self.get(chat.id)
        return None

    def add_turn(self, chat_id: int, speaker: str, text: str) -> ChatTurn:
        """Append one turn in its own transaction (kill -9 safe); WriterError for a bad one."""
        if speaker not in SPEAKERS:
            raise WriterError(f"speaker must be one of {', '.join(SPEAKERS)}; got {speaker!r}")
        text = encodable(" ".join(text.split()))[:MAX_TURN_CHARS]
        now = self.core.now()
        with self.core.write() as conn:
            found = (
                in_range(int(chat_id))
                and conn.execute("SELECT 1 FROM chats WHERE id = ?", (int(chat_id),)).fetchone()
            )
            if not found:
                raise WriterError(f"no chat with ID {chat_id}")
            conn.execute(
                "INSERT INTO chat_turns (chat_id, speaker, text, created) VALUES (?, ?, ?, ?)",
                (int(chat_id), speaker, text, now),
            )
            conn.execute("UPDATE chats SET updated = ? WHERE id = ?", (now, int(chat_id)))
        return ChatTurn(speaker, text)  # type: ignore[arg-type]

    def delete(self, chat_id: int) -> None:
        """Delete a chat with its turns."""
        with self.core.write() as conn:
            conn.execute("DELETE FROM chats WHERE id = ?", (int(chat_id),))

    def export(self, draft_id: int) -> str:
        """The draft's chats as Markdown, in the order they were started (`chats_markdown`)."""
        with self.core.read() as conn:
            draft_title = draft_from_row(self.core.draft_row(conn, draft_id)).title
        started = sorted(self.for_draft(draft_id), key=lambda c: (c.created, c.id))
        chats = [self.get(c.id) for c in started]
        return chats_markdown(draft_title, chats)


def chats_markdown(title: str, chats: list[Chat]) -> str:
    """`# Chats: TITLE`, then per chat a `## NAME` heading with its start date, the description
    as a quote, and one paragraph per turn with the speaker in bold."""
    lines = [f"# Chats: {title}" if title else "# Chats", ""]
    if not chats:
        lines += ["No chats with this draft's characters yet.", ""]
    for chat in chats:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(chat.created))
        lines += [f"## {chat.character} ({when})", ""]
        if chat.about:
            lines += [f"> {' '.join(chat.about.split())}", ""]
        for turn in chat.turns:
            who = AUTHOR_TAG if turn.speaker == "author" else chat.character
            lines += [f"**{who}:** {turn.text}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
