"""A tampered or foreign database: a draft whose text is a BLOB (or a number) is skipped with a
message, never fatal, in the store, the CLI and the app."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_writer
from tests.ui.test_app_support import ScriptedEngine, loader_for
from writer.config import Config
from writer.store import DraftStore
from writer.store.rows import BadRowError
from writer.ui.app import WriterApp


def _tampered(path: Path) -> tuple[int, int, int]:
    """Three drafts; the newest (which `writer` would reopen) gets a non-UTF-8 BLOB text."""
    clock = iter(range(1_700_000_000, 1_800_000_000, 10))
    with DraftStore.open(path, config=Config(), clock=lambda: float(next(clock))) as store:
        a = store.create_draft("Alpha", "alpha text")
        b = store.create_draft("Beta", "beta text")
        c = store.create_draft("Gamma", "gamma text")
        rev = store.save_revision(c.id, "gamma saved", "manual")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE drafts SET text = X'FF00FE80' WHERE id = ?", (c.id,))
        raw.execute(
            "UPDATE drafts SET text = CAST('beta as utf-8 blob' AS BLOB), title = 5, "
            "created = 'yesterday', overrides = X'00' WHERE id = ?",
            (b.id,),
        )
        raw.execute("UPDATE revisions SET text = X'FF' WHERE draft_id = ? AND id != ?", (c.id, rev))
        raw.execute("UPDATE drafts SET created = 1e300 WHERE id = ?", (a.id,))  # no clock says so
    return a.id, b.id, c.id


def test_store_skips_unreadable_drafts_and_says_so(tmp_path) -> None:
    path = tmp_path / "writer.db"
    a, b, c = _tampered(path)
    with DraftStore.open(path, config=Config()) as store:
        assert store.recovered is None
        message = store.recovery_message
        assert message and f"ID {c}" in message and "binary data" in message
        assert "\n" not in message
        assert [d.id for d in store.list_drafts()] == [b, a]
        assert store.last_draft().id == b
        beta = store.get_draft(b)
        assert beta.text == "beta as utf-8 blob" and beta.title == "5" and beta.created == 0.0
        with pytest.raises(BadRowError, match=f"draft {c} cannot be read"):
            store.get_draft(c)
        with pytest.raises(BadRowError):
            store.export_draft(c)
        history = store.history(c)  # the readable revision survives and repairs the draft
        assert [store.get_revision(r.id).text for r in history] == ["gamma saved"]
        store.restore_revision(c, history[0].id)
        assert store.get_draft(c).text == "gamma saved"
    with DraftStore.open(path, config=Config()) as store:
        assert store.recovery_message is None


def test_cli_reports_bad_rows_in_one_line(isolated_user_dirs) -> None:
    env = isolated_user_dirs
    path = Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db"
    a, b, c = _tampered(path)
    listing = run_writer("drafts", "list", env=env)
    assert listing.returncode == 0
    assert listing.stderr.startswith("writer: warning: ") and listing.stderr.count("\n") == 1
    assert [line.split()[0] for line in listing.stdout.splitlines()] == [str(b), str(a)]
    for args in (("show", str(c)), ("export", str(c))):
        result = run_writer("drafts", *args, env=env)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and "cannot be read" in errors[0] and "unexpected" not in errors[0]
        assert "Traceback" not in result.stderr
    assert run_writer("drafts", "show", str(b), env=env).stdout.endswith("beta as utf-8 blob\n")
    alpha = run_writer("drafts", "show", str(a), env=env)
    assert alpha.returncode == 0, alpha.stderr
    assert "created: 1970-01-01" in alpha.stdout or "created: 1969-12-31" in alpha.stdout
    deleted = run_writer("drafts", "delete", str(c), env=env)
    assert deleted.returncode == 0, deleted.stderr


async def test_app_starts_with_a_bad_newest_draft(isolated_user_dirs) -> None:
    path = Path(isolated_user_dirs["XDG_DATA_HOME"]) / "writer" / "writer.db"
    _, b, c = _tampered(path)
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.writing.drafts.draft.id == b and app.writing.editor.text == "beta as utf-8 blob"
        assert any(f"ID {c}" in n.message for n in app._notifications)


def test_text_that_is_not_utf8_is_one_bad_row_not_a_failed_listing(tmp_path) -> None:
    """A flipped bit inside a TEXT value (quick_check cannot see it) made every listing fail
    with "Could not decode to UTF-8"."""
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as store:
        good = store.create_draft("Good", "fine")
        bad = store.create_draft("Bad", "flipped")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE drafts SET text = CAST(X'66FF6F' AS TEXT) WHERE id = ?", (bad.id,))
        assert (
            raw.execute("SELECT typeof(text) FROM drafts WHERE id = ?", (bad.id,)).fetchone()[0]
            == "text"
        )
    with DraftStore.open(path, config=Config()) as store:
        assert [d.id for d in store.list_drafts()] == [good.id]
        assert f"ID {bad.id}" in store.recovery_message
        assert store.last_draft().id == good.id
        with pytest.raises(BadRowError):
            store.get_draft(bad.id)
