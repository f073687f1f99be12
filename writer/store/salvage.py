"""Salvaging the text of a damaged drafts database that was moved aside.

Every table that holds text is read (drafts, revisions and their bases, the generation log,
story contexts, chats with their turns), three ways, and the results merged (the first way that
has a row wins):
1. SQLite itself, on an in-memory image of the file with its -wal applied (never on the moved
   file, which stays byte for byte as it was), each table forwards and backwards so rows on
   both sides of a damaged page survive;
2. the `sqlite3` shell's `.recover`, when that program is installed: SQLite's own page-by-page
   recovery, run on a temporary copy;
3. a page-by-page scan in Python (sqlitefile.leaf_rows), which needs nothing installed and
   reads every table leaf page still intact, whatever happened to the pages above it.
Rows are told apart by their shape (column count and types), since the schema may be gone. A
draft whose own row is lost but whose revisions survive is rebuilt from its newest revision.
A revision stored as a delta (writer.store.revstore) comes back only with its base; the fresh
store packs what it gets again.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from writer.store.db import memory_copy
from writer.store.deltas import apply_delta, decompress_text
from writer.store.revstore import BaseCache, store_revision
from writer.store.rows import as_text
from writer.store.salvagerows import as_float, classify, classify_row
from writer.store.sqlitefile import database_image, leaf_rows, orphan_texts

DRAFT_SQL = (
    "SELECT id, title, text, created, updated, preset, overrides, model, cursor_row, "
    "cursor_col, external_path FROM drafts ORDER BY id {order}"
)
REVISION_SQL = (
    "SELECT id, draft_id, text, created, reason, base_id, delta FROM revisions ORDER BY id {order}"
)
# Databases from before migration 5 (no base_id/delta columns).
OLD_REVISION_SQL = "SELECT id, draft_id, text, created, reason FROM revisions ORDER BY id {order}"
BASE_SQL = "SELECT id, draft_id, data FROM revision_bases ORDER BY id {order}"
CONTEXT_SQL = "SELECT draft_id, data FROM story_contexts ORDER BY draft_id {order}"
CHAT_SQL = "SELECT id, draft_id, character, about, created, updated FROM chats ORDER BY id {order}"
TURN_SQL = "SELECT id, chat_id, speaker, text, created FROM chat_turns ORDER BY id {order}"
GENERATION_SQL = (
    "SELECT id, draft_id, created, mode, params, seed, model, prompt_tail, candidates, inserted "
    "FROM generations ORDER BY id {order}"
)
_RECOVER_TIMEOUT_S = 120


@dataclass
class Salvaged:
    """What could be read, keyed by row ID, and how."""

    drafts: dict[int, tuple] = field(default_factory=dict)
    revisions: dict[int, tuple] = field(default_factory=dict)
    generations: dict[int, tuple] = field(default_factory=dict)
    bases: dict[int, tuple] = field(default_factory=dict)  # (id, draft_id, compressed text)
    contexts: dict[int, tuple] = field(default_factory=dict)  # (draft_id, JSON)
    chats: dict[int, tuple] = field(default_factory=dict)  # (id, draft_id, character, about, ...)
    turns: dict[int, tuple] = field(default_factory=dict)  # (id, chat_id, speaker, text, created)
    sequence: dict[str, int] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    empty_file: bool = False
    partial: set[tuple[str, int]] = field(default_factory=set)  # texts cut short
    fragments: list[str] = field(default_factory=list)  # text whose row is lost with its start

    def add(self, table: str, rowid: int, row: tuple) -> bool:
        rows = getattr(self, table)
        if rowid in rows:
            return False
        rows[rowid] = row
        return True


def _read_tables(conn: sqlite3.Connection, found: Salvaged) -> int:
    count = 0
    for table, sql in (
        ("drafts", DRAFT_SQL),
        ("revisions", REVISION_SQL),
        ("revisions", OLD_REVISION_SQL),
        ("bases", BASE_SQL),
        ("contexts", CONTEXT_SQL),
        ("generations", GENERATION_SQL),
        ("chats", CHAT_SQL),
        ("turns", TURN_SQL),
    ):
        for order in ("ASC", "DESC"):
            try:
                for row in conn.execute(sql.format(order=order)):
                    if isinstance(row[0], int) and classify_row(table, row):
                        row = tuple(row) + (None, None) * (table == "revisions" and len(row) == 5)
                        count += found.add(table, row[0], row)
            except sqlite3.Error:
                continue
    with contextlib.suppress(sqlite3.Error):
        for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence"):
            if isinstance(seq, int):
                found.sequence[name] = max(seq, found.sequence.get(name, 0))
    return count


def _with_sqlite(image: bytes, found: Salvaged) -> None:
    try:
        conn = memory_copy(image)
    except (sqlite3.Error, OSError):
        return
    try:
        if _read_tables(conn, found):
            found.methods.append("SQLite")
    finally:
        conn.close()


def _deny_outside(action: int, *args: object) -> int:
    # .recover's script is generated from a damaged (maybe hostile) file: it may only build
    # tables in memory, never attach or touch other files.
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _with_recover(image: bytes, found: Salvaged) -> None:
    shell = shutil.which("sqlite3")
    if shell is None or not image:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="writer-salvage-") as folder:
            copy = Path(folder) / "damaged.db"
            copy.write_bytes(image)
            result = subprocess.run(
                [shell, "-batch", str(copy), ".recover --ignore-freelist"],
                capture_output=True,
                timeout=_RECOVER_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
    except (OSError, subprocess.SubprocessError):
        return
    script = result.stdout.decode("utf-8", "replace")
    conn = sqlite3.connect(":memory:")
    try:
        conn.set_authorizer(_deny_outside)
        for statement in _statements(conn, script):
            with contextlib.suppress(sqlite3.Error):
                conn.execute(statement)
        count = _read_tables(conn, found)
        with contextlib.suppress(sqlite3.Error):
            columns = [d[0] for d in conn.execute("SELECT * FROM lost_and_found").description]
            if "id" in columns and "nfield" in columns:
                first = columns.index("id") + 1
                for row in conn.execute("SELECT * FROM lost_and_found"):
                    rowid, nfield = row[columns.index("id")], row[columns.index("nfield")]
                    values = list(row[first : first + nfield if isinstance(nfield, int) else None])
                    hit = classify(rowid, values) if isinstance(rowid, int) else None
                    if hit and hit[0] != "sequence":
                        count += found.add(hit[0], rowid, hit[1])
        if count:
            found.methods.append("sqlite3 .recover")
    finally:
        conn.close()


def _statements(conn: sqlite3.Connection, script: str) -> list[str]:
    """Split .recover's SQL into complete statements (sqlite3.complete_statement)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if not current.strip().upper().startswith(("BEGIN", "COMMIT", "PRAGMA")):
                statements.append(current)
            current = ""
    return statements


def _with_page_scan(image: bytes, found: Salvaged) -> None:
    best: dict[tuple[str, int], tuple[bool, float]] = {}
    count = 0
    used: set[int] = set()
    for row in leaf_rows(image):
        used.update(row.overflow)
        hit = classify(row.rowid, row.values, row.complete)
        if hit is None:
            continue
        table, values = hit
        if table == "sequence":
            found.sequence[values[0]] = max(values[1], found.sequence.get(values[0], 0))
            continue
        # The same row can sit on two pages (an old copy not yet reused): prefer a complete
        # one, then the most recently updated.
        rank = (row.complete, as_float(values[4]) if table == "drafts" else 0.0)
        key = (table, row.rowid)
        existing = getattr(found, table).get(row.rowid)
        if existing is None:
            count += 1
        elif key not in best or rank <= best[key]:
            continue
        best[key] = rank
        getattr(found, table)[row.rowid] = values
        if row.complete:
            found.partial.discard(key)
        else:
            found.partial.add(key)
    known = [as_text(r[2]) or "" for r in found.drafts.values()]
    known += [text for _rid, _did, text, *_ in _revision_texts(found).values()]
    known += [row[3] for row in (*found.chats.values(), *found.turns.values())]
    for _page, text in orphan_texts(image, used):
        # A stale copy of a text we have (an older page not yet reused) is not news; its last
        # few characters may be leftovers of the page, so they are not compared.
        core = text.strip()[:-32] if len(text.strip()) > 64 else text.strip()
        if not any(core in other for other in known):
            found.fragments.append(text)
            count += 1
    if count:
        found.methods.append("a page-by-page scan")


def salvage(moved: Path) -> Salvaged:
    """Everything readable in the database at `moved` (with its -wal); never writes there."""
    found = Salvaged()
    try:
        image = database_image(moved)
    except OSError:
        return found
    found.empty_file = not image
    for way in (_with_sqlite, _with_recover, _with_page_scan):
        # Best effort on a file that is damaged in ways nobody can list: a way that trips over
        # it must not stop the others, nor the opening of the fresh store.
        with contextlib.suppress(Exception):
            way(image, found)
    return found


@dataclass
class SalvageReport:
    """What went into the fresh store, for the message to the user."""

    drafts: int = 0
    rebuilt: int = 0  # drafts whose own row was lost, rebuilt from their newest revision
    partial: int = 0  # drafts whose text was cut short (the rest of the file is gone)
    fragments: int = 0  # texts whose draft is lost, kept as new drafts
    revisions: int = 0
    generations: int = 0
    contexts: int = 0  # story contexts (memory, author's note, lorebook)
    chats: int = 0  # chats with a draft's characters
    turns: int = 0  # their turns
    methods: list[str] = field(default_factory=list)
    empty_file: bool = False


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _revision_texts(found: Salvaged) -> dict[int, tuple]:
    """The salvaged revisions as (id, draft_id, text, created, reason), deltas applied to their
    bases; one whose base is lost or damaged is left out (nothing of it can be trusted)."""
    bases: dict[int, str | None] = {}
    out: dict[int, tuple] = {}
    for rid, row in found.revisions.items():
        rid, did, text, created, reason, base_id, delta = row
        if base_id is not None:
            if base_id not in bases:
                base = found.bases.get(base_id)
                try:
                    bases[base_id] = decompress_text(base[2]) if base else None
                except ValueError:
                    bases[base_id] = None
            base_text = bases[base_id]
            if base_text is None or not isinstance(delta, bytes):
                continue
            try:
                text = apply_delta(base_text, delta)
            except ValueError:
                continue
        if isinstance(text, str):
            out[rid] = (rid, did, text, created, reason)
    return out


def restore_into(conn: sqlite3.Connection, found: Salvaged, now: float) -> SalvageReport:
    """Insert what `salvage` found into a fresh, empty store (inside the caller's transaction),
    keeping IDs; each draft also gets a "recovered" revision of its text."""
    from writer.store.textio import one_line

    report = SalvageReport(methods=list(found.methods), empty_file=found.empty_file)
    drafts: dict[int, str] = {}
    for did, row in sorted(found.drafts.items()):
        text = as_text(row[2])
        if text is None:
            continue
        overrides = row[6] if isinstance(row[6], str) else "{}"
        conn.execute(
            "INSERT INTO drafts (id, title, text, created, updated, preset, overrides, model, "
            "cursor_row, cursor_col, external_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                did,
                one_line(row[1] if isinstance(row[1], str) else ""),
                text,
                as_float(row[3]),
                as_float(row[4]),
                _str_or_none(row[5]),
                overrides,
                _str_or_none(row[7]),
                max(0, _int_or_none(row[8]) or 0),
                max(0, _int_or_none(row[9]) or 0),
                _str_or_none(row[10]),
            ),
        )
        drafts[did] = text
        report.partial += ("drafts", did) in found.partial
    revisions = _revision_texts(found)
    by_draft: dict[int, list[tuple]] = {}
    for _rid, row in sorted(revisions.items()):
        by_draft.setdefault(row[1], []).append(row)
    for did, revs in by_draft.items():
        if did in drafts or did < 1:
            continue
        newest = revs[-1]  # highest revision ID: the latest state history kept
        conn.execute(
            "INSERT INTO drafts (id, title, text, created, updated) VALUES (?, ?, ?, ?, ?)",
            (did, f"Recovered draft {did}", newest[2], as_float(revs[0][3]), as_float(newest[3])),
        )
        drafts[did] = newest[2]
        report.rebuilt += 1
        report.partial += ("revisions", newest[0]) in found.partial
    report.drafts = len(drafts)
    bases: BaseCache = {}
    for rid, row in sorted(revisions.items()):  # oldest first, packed as the store packs them
        if row[1] in drafts:
            store_revision(conn, row[1], row[2], as_float(row[3]), str(row[4]), bases, rid=rid)
            report.revisions += 1
    for gid, row in sorted(found.generations.items()):
        if row[1] in drafts:
            conn.execute(
                "INSERT INTO generations (id, draft_id, created, mode, params, seed, model, "
                "prompt_tail, candidates, inserted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    gid,
                    row[1],
                    as_float(row[2]),
                    row[3],
                    row[4] if isinstance(row[4], str) else "{}",
                    _int_or_none(row[5]),
                    _str_or_none(row[6]),
                    _str_or_none(row[7]),
                    row[8],
                    _int_or_none(row[9]),
                ),
            )
            report.generations += 1
    for did, row in sorted(found.contexts.items()):
        if did in drafts:
            conn.execute(
                "INSERT INTO story_contexts (draft_id, data) VALUES (?, ?)", (did, as_text(row[1]))
            )
            report.contexts += 1
    _restore_chats(conn, found, drafts, report)
    for did, text in drafts.items():
        store_revision(conn, did, text, now, "recovered", bases)
    for name, seq in found.sequence.items():
        # IDs the damaged store handed out are never handed out again.
        conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (seq, name))
        if conn.execute("SELECT changes()").fetchone()[0] == 0:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq))
    for n, text in enumerate(found.fragments, 1):  # after the IDs above: none reused
        cur = conn.execute(
            "INSERT INTO drafts (title, text, created, updated) VALUES (?, ?, ?, ?)",
            (f"Recovered fragment {n} (its beginning is lost)", text, now, now),
        )
        store_revision(conn, int(cur.lastrowid), text, now, "recovered", bases)
        report.fragments += 1
    return report


def _restore_chats(
    conn: sqlite3.Connection, found: Salvaged, drafts: dict[int, str], report: SalvageReport
) -> None:
    """The chats of drafts that came back, with the turns whose chat came back (a turn without
    its chat has no draft to belong to)."""
    chats: set[int] = set()
    for cid, row in sorted(found.chats.items()):
        if row[1] in drafts:
            conn.execute(
                "INSERT INTO chats (id, draft_id, character, about, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cid, row[1], row[2], row[3], as_float(row[4]), as_float(row[5])),
            )
            chats.add(cid)
    for tid, row in sorted(found.turns.items()):
        if row[1] in chats:
            conn.execute(
                "INSERT INTO chat_turns (id, chat_id, speaker, text, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (tid, row[1], row[2], row[3], as_float(row[4])),
            )
            report.turns += 1
    report.chats = len(chats)


def describe(moved: Path, report: SalvageReport | None) -> str:
    """One line: where the damaged database went and what the fresh one holds from it."""
    head = f"the drafts database could not be read, so it was moved to {moved} (kept as it was)"
    if report is None or not (report.drafts or report.fragments):
        why = "its file was empty (0 bytes)" if report and report.empty_file else ""
        nothing = f"nothing in it could be read{f': {why}' if why else ''}"
        return f"{head} and a new empty one was started; {nothing}"
    parts = [f"{report.drafts} draft(s)"] if report.drafts else []
    notes = []
    if report.rebuilt:
        notes.append(f"{report.rebuilt} rebuilt from their history, titles lost")
    if report.partial:
        notes.append(f"{report.partial} cut short where the damage begins")
    if notes:
        parts[0] += f" ({'; '.join(notes)})"
    if report.fragments:
        parts.append(f"{report.fragments} text fragment(s) whose drafts were lost")
    if report.revisions:
        parts.append(f"{report.revisions} revision(s)")
    if report.generations:
        parts.append(f"{report.generations} generation log entries")
    if report.contexts:
        parts.append(f"{report.contexts} story context(s)")
    if report.chats:
        parts.append(f"{report.chats} chat(s) with characters ({report.turns} turn(s))")
    how = " and ".join(report.methods) if report.methods else "a scan"
    return (
        f"{head} and a new one was started with {', '.join(parts)} recovered from it "
        f"(read by {how}); check them with `writer drafts list`"
    )
