"""The SQLite side of the store: connecting, durability settings, migrations, and recovery.

Durability: WAL with `synchronous=FULL`. WAL alone already survives a killed process (a commit
is in the WAL file the moment COMMIT returns, and the OS keeps it after kill -9); FULL also
fsyncs the WAL at every commit, so even a power cut cannot take back a save the app reported.
Autosaves are small and come at most every couple of seconds, so the fsync costs nothing a
writer notices.

Recovery: a database file SQLite calls corrupt or not-a-database, or one we cannot read, is
*renamed* aside with a timestamp (with its -wal/-shm companions, so the set stays openable for
forensics) and a fresh store starts. It is never overwritten or deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from writer.errors import WriterError
from writer.store.models import StoreWriteError
from writer.store.recall import create_schema
from writer.store.revstore import pack_existing
from writer.store.rows import lenient_text

# Each migration is a list of statements (or functions of the connection, for data steps),
# applied in order inside one transaction; the schema version (PRAGMA user_version) is the
# number of migrations applied. Append, never edit.
MIGRATIONS: list[list[str | Callable[[sqlite3.Connection], None]]] = [
    [
        """CREATE TABLE drafts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a deleted ID is never reused
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            preset TEXT,
            overrides TEXT NOT NULL DEFAULT '{}',
            model TEXT,
            cursor_row INTEGER NOT NULL DEFAULT 0,
            cursor_col INTEGER NOT NULL DEFAULT 0,
            external_path TEXT
        )""",
        "CREATE INDEX drafts_updated ON drafts(updated)",
        "CREATE INDEX drafts_external ON drafts(external_path)",
        """CREATE TABLE revisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            created REAL NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX revisions_draft ON revisions(draft_id, id)",
        """CREATE TABLE generations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
            created REAL NOT NULL,
            mode TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            seed INTEGER,
            model TEXT,
            prompt_tail TEXT,
            candidates TEXT NOT NULL DEFAULT '[]',
            inserted INTEGER
        )""",
        "CREATE INDEX generations_draft ON generations(draft_id, id)",
    ],
    # Blind comparisons (`writer compare`, writer.store.judgments).
    [
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            a_spec TEXT NOT NULL,
            b_spec TEXT NOT NULL,
            source TEXT NOT NULL,  -- where the passages came from (files, a draft)
            fingerprint TEXT NOT NULL,  -- of that text: a session resumes only on the same text
            window INTEGER NOT NULL,
            length INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            items INTEGER NOT NULL
        )""",
        """CREATE TABLE judgments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
            item INTEGER NOT NULL,
            created REAL NOT NULL,
            a_first INTEGER NOT NULL,  -- 1: A's continuation was shown first (key 1)
            choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'both_bad')),
            passage TEXT NOT NULL,
            text_a TEXT NOT NULL,
            text_b TEXT NOT NULL,
            UNIQUE (comparison_id, item)
        )""",
        "CREATE INDEX comparisons_specs ON comparisons(a_spec, b_spec)",
    ],
    # Story context per draft (memory, author's note, lorebook: writer.store.context), as JSON;
    # no row means an empty context, so older drafts need no data migration.
    [
        """CREATE TABLE story_contexts (
            draft_id INTEGER PRIMARY KEY REFERENCES drafts(id) ON DELETE CASCADE,
            data TEXT NOT NULL
        )""",
    ],
    # Where the author left off and what they aim for, per draft (the editor).
    # scroll_row NULL: never recorded (the draft opens at its end); word_goal NULL: no goal.
    [
        "ALTER TABLE drafts ADD COLUMN scroll_row INTEGER",
        "ALTER TABLE drafts ADD COLUMN word_goal INTEGER",
    ],
    # Revisions that scale: a large text is a delta against a compressed base
    # (writer.store.revstore, .deltas); existing rows are converted by migration 7. No foreign
    # key on base_id: the store deletes a base only once no revision uses it, and salvage must
    # be able to insert rows whatever survived.
    [
        """CREATE TABLE revision_bases (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
            data BLOB NOT NULL  -- zlib-compressed UTF-8 text
        )""",
        "CREATE INDEX revision_bases_draft ON revision_bases(draft_id, id)",
        "ALTER TABLE revisions ADD COLUMN base_id INTEGER",
        "ALTER TABLE revisions ADD COLUMN delta BLOB",
    ],
    # Chats with a draft's characters (writer.store.chats): one row per chat, one per
    # turn, each turn written in its own transaction as it happens.
    [
        """CREATE TABLE chats (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
            character TEXT NOT NULL,
            about TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        "CREATE INDEX chats_draft ON chats(draft_id, updated)",
        """CREATE TABLE chat_turns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            speaker TEXT NOT NULL CHECK (speaker IN ('author', 'character')),
            text TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        "CREATE INDEX chat_turns_chat ON chat_turns(chat_id, id)",
    ],
    # History without texts: each revision's word count and preview line, written
    # with it, so listing a draft's history rebuilds no text. The data step packs the plain rows
    # older versions wrote (migration 5's conversion, here so that a database an unreleased
    # build took to schema 5 or 6 gets the columns too) and fills both columns for every row.
    [
        "ALTER TABLE revisions ADD COLUMN words INTEGER",
        "ALTER TABLE revisions ADD COLUMN preview TEXT",
        pack_existing,
    ],
    # The recall index (writer.store.recall): each draft's pieces in an FTS5 table, derived
    # from the text and rebuilt on the next save when missing; no table where SQLite lacks FTS5.
    [create_schema],
    # The prompt each logged request gave the model (the text before the cursor, as the engine
    # received it), so `writer learn` trains on what the model saw. NULL in older rows: they
    # have only prompt_tail, and the prompt is rebuilt from the draft (writer.training.pairs).
    [
        "ALTER TABLE generations ADD COLUMN prompt TEXT",
    ],
]
# After this migration the space the old full texts took is given back (VACUUM).
_VACUUM_AFTER = 7
SCHEMA_VERSION = len(MIGRATIONS)

# The page cache of an open store, in KiB (SQLite's default is 2,000).
CACHE_KIB = 64 * 1024

# SQLite result codes that mean "this file is not a usable database" (not "busy" or "full").
_CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def describe_sqlite_error(exc: BaseException) -> str:
    """A human reason for a failed write, from SQLite's error code or the OS error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL") or isinstance(exc, OSError) and exc.errno == 28:
        return "the disk is full"
    if name.startswith("SQLITE_READONLY"):
        return "the database or its folder is read-only"
    if name.startswith("SQLITE_CANTOPEN"):
        return "the database file cannot be opened (is the data folder writable?)"
    if name.startswith("SQLITE_IOERR"):
        return f"{exc} (read-only, full or failing disk?)"
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return "the database is busy in another writer process"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def write_error(path: Path, exc: BaseException, action: str = "save to") -> StoreWriteError:
    """The one-line StoreWriteError for a failed write (or open) of the database at `path`."""
    return StoreWriteError(
        f"cannot {action} the drafts database {path}: {describe_sqlite_error(exc)}; free some "
        "space or make the data folder writable"
    )


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves, so a transaction is
    # exactly what the code says. check_same_thread=False: the store serialises access with its
    # own lock, and the app saves from a worker thread.
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    conn.text_factory = lenient_text
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch {path} to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Room for every page of a drafts database up to CACHE_KIB (memory is only taken as
        # pages are read): the quick_check below reads them all, so a file truncated under the
        # open store can be written again whole from this connection (rebuild.py).
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # Reads every page's structure; a drafts database is small, so this is milliseconds,
        # and it turns "corrupt somewhere" into a clean recovery at open instead of a failure
        # in the middle of an autosave.
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {result}")
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration."""
    for target in range(1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write transaction: another process may have migrated already.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise WriterError(
                    f"the drafts database {path} was written by a newer writer (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}); upgrade writer"
                )
            applied = version < target
            if applied:
                for statement in MIGRATIONS[target - 1]:
                    if callable(statement):
                        statement(conn)
                    else:
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        if applied and target == _VACUUM_AFTER:
            # Best effort, outside any transaction: another process holding the file open
            # only means the space is reused later instead of given back now.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("VACUUM")


def _is_unusable(exc: sqlite3.DatabaseError, path: Path) -> bool:
    """Corrupt, not a database, or an existing file we cannot read."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if any(name.startswith(code) for code in _CORRUPT_CODES):
        return True
    if "integrity check failed" in str(exc) or "file is not a database" in str(exc):
        return True
    return name.startswith("SQLITE_CANTOPEN") and path.is_file() and not os.access(path, os.R_OK)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _not_a_database(path: Path) -> bool:
    """A non-empty file without SQLite's header, or one we cannot read at all.

    Checked before SQLite sees the file: SQLite deletes a -wal file beside a database it
    closes, so letting it try first would lose the companion we promise to keep byte for byte.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        return False  # a folder in the way: not ours to move; SQLite's error says so
    except OSError:
        return True
    return bool(head) and head != _SQLITE_HEADER


def move_aside(path: Path, stamp: str) -> Path:
    """Rename `path` (and -wal/-shm) to `path.corrupt-STAMP`; never overwrite an existing file."""
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists() or target.is_symlink():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    # The -wal first: if we stopped half way, the main file must not be left with someone
    # else's WAL beside it.
    for suffix in ("-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            os.rename(companion, f"{target}{suffix}")
    os.rename(path, target)
    return target


def create_private(path: Path) -> None:
    """Create a missing database file as 0600 whatever the umask (SQLite gives its -wal and
    -shm the database file's mode); an existing file or link is left as it is."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
            return  # SQLite's own open reports it, in the usual words
        raise
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def open_database(
    path: Path, clock: Callable[[], float] = time.time
) -> tuple[sqlite3.Connection, Path | None]:
    """Open (creating or migrating) the database at `path`.

    Returns the connection and, when the old file was unusable, where it was moved. Raises
    StoreWriteError when the database cannot be created at all (read-only or missing folder).
    """
    from writer.paths import ensure_private_dir

    try:
        ensure_private_dir(path.parent)
        create_private(path)
    except OSError as exc:
        raise StoreWriteError(
            f"cannot create the data folder {path.parent}: {exc.strerror or exc}; "
            "make it a writable folder (or set XDG_DATA_HOME)"
        ) from None
    recovered: Path | None = None

    def recover(reason: object) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
        try:
            moved = move_aside(path, stamp)
        except OSError as move_exc:
            raise StoreWriteError(
                f"the drafts database {path} is unreadable ({reason}) and cannot be moved "
                f"aside: {move_exc.strerror or move_exc}; move it away yourself"
            ) from None
        with contextlib.suppress(OSError):  # SQLite's own open reports what went wrong
            create_private(path)  # the fresh store (and its -wal, -shm) is 0600 too
        return moved

    if _not_a_database(path):
        recovered = recover("not an SQLite database")
    for attempt in range(2):
        try:
            conn = _connect(path)
        except sqlite3.DatabaseError as exc:
            if attempt == 0 and recovered is None and path.exists() and _is_unusable(exc, path):
                recovered = recover(exc)
                continue
            raise write_error(path, exc, "open") from None
        try:
            migrate(conn, path)
        except sqlite3.Error as exc:
            conn.close()
            raise write_error(path, exc, "open") from None
        except BaseException:
            conn.close()
            raise
        return conn, recovered
    raise AssertionError("unreachable")  # pragma: no cover


def is_empty_file(path: Path) -> bool:
    """A database file of 0 bytes with no WAL to replay: whatever it held is gone, and SQLite
    would silently treat it as a new, empty database."""
    try:
        if not path.is_file() or path.stat().st_size:
            return False
        return Path(f"{path}-wal").stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def memory_copy(image: bytes) -> sqlite3.Connection:
    """A connection to an in-memory copy of a database image (sqlitefile.database_image), for
    reading where nothing may be written. Python 3.10 lacks deserialize: a temp file is used
    there, unlinked at once (the open connection keeps its data)."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.text_factory = lenient_text
    if not image:
        return conn  # a new, empty database (deserialize refuses zero bytes)
    if hasattr(conn, "deserialize"):
        conn.deserialize(image)
        return conn
    conn.close()
    fd, name = tempfile.mkstemp(suffix=".db")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(image)
        conn = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        conn.text_factory = lenient_text
        return conn
    finally:
        os.unlink(name)


def open_read_only(path: Path) -> sqlite3.Connection:
    """Read the database where it cannot be written (read-only folder or mount, full disk).

    SQLite's read-only mode first (a live view, saves of a running app included); where that
    cannot work (WAL mode needs a -shm file it cannot create) an in-memory image of the file
    with its -wal applied. Writes on the connection fail (query_only). Raises
    sqlite3.DatabaseError when the file is damaged, OSError when it cannot be read.
    """
    from writer.store.sqlitefile import database_image

    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.text_factory = lenient_text
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                conn.execute("PRAGMA query_only = ON")
                return conn
        except sqlite3.Error:
            pass
        conn.close()
    except sqlite3.Error:
        pass
    conn = memory_copy(database_image(path))
    conn.execute("PRAGMA query_only = ON")
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error:
        result = "unreadable"
    if result != "ok":
        conn.close()
        raise sqlite3.DatabaseError(f"integrity check failed: {result}")
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT; any SQLite or OS failure rolls back and becomes a
    StoreWriteError, leaving the connection ready for the next try."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except (sqlite3.Error, OSError) as exc:
        _rollback(conn)
        raise write_error(path, exc) from None
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
