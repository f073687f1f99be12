"""`writer lore suggest`: recurring names as lorebook TOML that load_lorebook reads, or JSON,
from a file or a draft (by ID or title); bad input is one line."""

from __future__ import annotations

import json

from tests.conftest import call_writer, run_writer
from writer.engine.story.lore import suggest_lore
from writer.engine.story.lorebook import load_lorebook

STORY = """Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope.
The storm came. When it passed, Mirela climbed the stairs. "Wait," she said to Tomas.
Tomas Brel had sailed from Ostrava Point twice. Later Mirela Vask saw the lights.
[Idea: Zorn Quill arrives; Zorn Quill, Zorn Quill]
Mirela's lamp burned. The sea was calm. The gulls slept.
"""


def test_names_are_found_with_aliases_mentions_and_introductions():
    found = {s.name: s for s in suggest_lore(STORY)}
    assert set(found) == {"Mirela Vask", "Tomas Brel", "Ostrava Point"}
    mirela = found["Mirela Vask"]
    assert mirela.keys == ("Mirela Vask", "Mirela") and mirela.mentions == 4
    assert mirela.introduced.startswith("Mirela Vask, the lighthouse keeper") and mirela.start == 0
    assert "Zorn Quill" not in found  # idea notes are not the story
    assert {s.name for s in suggest_lore(STORY, min_mentions=4)} == {"Mirela Vask"}


def test_toml_output_is_a_lorebook(tmp_path, isolated_user_dirs):
    source = tmp_path / "story.txt"
    source.write_text(STORY, encoding="utf-8")
    result = run_writer("lore", "suggest", str(source), env=isolated_user_dirs)
    assert result.returncode == 0, result.stderr
    book = tmp_path / "lore.toml"
    book.write_text(result.stdout, encoding="utf-8")
    entries = load_lorebook(book)
    assert entries[0].keys == ("Mirela Vask", "Mirela")
    assert entries[0].trigger("and then mirela left") == "Mirela"
    assert "# Mirela Vask: 4 mentions" in result.stdout


def test_json_from_a_draft_by_id_and_by_title(isolated_user_dirs):
    from writer.store import DraftStore

    with DraftStore.open() as store:
        draft = store.create_draft("The Keeper", STORY)
    for source in (str(draft.id), "the keeper"):
        result = call_writer("lore", "suggest", source, "--json", env=isolated_user_dirs)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data[0]["name"] == "Mirela Vask"
        assert set(data[0]) == {"name", "keys", "mentions", "introduced", "start"}


def test_bad_input_is_one_line(isolated_user_dirs):
    result = call_writer("lore", "suggest", "No Such Thing", env=isolated_user_dirs)
    assert result.returncode == 1
    assert result.stderr.startswith("writer: error:") and result.stderr.count("\n") == 1
    assert "writer drafts list" in result.stderr
    result = call_writer("lore", "suggest", "x", "--min-mentions", "0", env=isolated_user_dirs)
    assert result.returncode == 2 and "--min-mentions" in result.stderr
