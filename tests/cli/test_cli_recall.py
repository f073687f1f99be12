"""`writer generate`'s recall (--recall, --no-recall, --recall-tokens, `recall_tokens` in
config.toml and presets.toml), through the real CLI on the tiny model (a 128-token window)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import call_writer, run_writer

FILLER = "The fox walked to the river and looked at the water in the morning."
INTRO = "Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope."


def long_story() -> str:
    """An introduction far outside the window, filler after it, and an end that names her."""
    filler = [FILLER.replace("morning", f"morning {day}") for day in range(45)]
    return "\n".join([INTRO, *filler, "Nobody had seen Mirela Vask since the spring."])


def generate(model: Path, env: dict[str, str], *extra: str, prompt: str | None = None):
    return run_writer(
        "generate", prompt if prompt is not None else long_story(), "--model", str(model),
        "-n", "1", "--seed", "5", "--temperature", "0", "--max-new-tokens", "6", "--json",
        *extra, env=env,
    )  # fmt: skip


def test_recall_brings_back_the_introduction(tiny_model_dir, isolated_user_dirs):
    r = generate(tiny_model_dir, isolated_user_dirs, "--recall-tokens", "64")
    assert r.returncode == 0, r.stderr
    context = json.loads(r.stdout)["context"]
    assert context["recall"] > 0
    assert [p["text"] for p in context["recalled"]] == [INTRO]
    passage = context["recalled"][0]
    assert passage["start"] == 0 and passage["tokens"] > 0
    assert {"mirela", "vask"} <= set(passage["why"])
    parts = ("memory", "lorebook", "recall", "note", "story", "frame")
    assert sum(context[k] for k in parts) == context["total"] <= context["window"]


def test_recall_is_on_by_default_for_a_long_story_and_says_so(tiny_model_dir, isolated_user_dirs):
    # The default cap is an eighth of the window (16 tokens here): too small for the passage,
    # so a config cap is set; the text summary mentions recall.
    config = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("recall_tokens = 64\n", encoding="utf-8")
    r = generate(tiny_model_dir, isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    assert [p["text"] for p in json.loads(r.stdout)["context"]["recalled"]] == [INTRO]
    r = run_writer(
        "generate", long_story(), "--model", str(tiny_model_dir), "-n", "1", "--seed", "5",
        "--max-new-tokens", "4", env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "recall " in r.stderr and "(1 passage)" in r.stderr


def test_no_recall_gives_todays_prompt_exactly(tiny_model_dir, tiny_engine, isolated_user_dirs):
    from writer.engine.story.context import StoryContext
    from writer.engine.types import GenerationDone
    from writer.presets import SamplingParams

    params = SamplingParams(temperature=0, max_new_tokens=6)

    def today(context=None):
        events = tiny_engine.stream(long_story(), params, n=1, seed=5, context=context)
        return [e for e in events if isinstance(e, GenerationDone)][0]

    r = generate(tiny_model_dir, isolated_user_dirs, "--no-recall")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert "context" not in result  # no context flags: the prompt is the story alone, as before
    assert [c["text"] for c in result["candidates"]] == [c.text for c in today().candidates]
    # With a story context, the breakdown is exactly the one without recall.
    r = generate(tiny_model_dir, isolated_user_dirs, "--no-recall", "--note", "Calm.")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    done = today(StoryContext(note="Calm."))
    assert result["context"] == done.context.to_dict()
    assert result["context"]["recall"] == 0 and result["context"]["recalled"] == []
    assert [c["text"] for c in result["candidates"]] == [c.text for c in done.candidates]


def test_a_story_that_fits_is_unchanged_by_default(tiny_model_dir, isolated_user_dirs):
    r = generate(tiny_model_dir, isolated_user_dirs, prompt="Once upon a time")
    assert r.returncode == 0, r.stderr
    assert "context" not in json.loads(r.stdout)
    # --recall asks for it anyway: the breakdown is reported, with nothing recalled.
    r = generate(tiny_model_dir, isolated_user_dirs, "--recall", prompt="Once upon a time")
    assert r.returncode == 0, r.stderr
    context = json.loads(r.stdout)["context"]
    assert context["recall"] == 0 and context["recalled"] == []


def test_a_preset_sets_the_cap_and_a_batch_recalls_per_prompt(tiny_model_dir, isolated_user_dirs):
    presets = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer" / "presets.toml"
    presets.parent.mkdir(parents=True, exist_ok=True)
    presets.write_text("[long]\nrecall_tokens = 64\n", encoding="utf-8")
    prompts = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "p.jsonl"
    prompts.write_text(
        json.dumps(long_story()) + "\n" + json.dumps("Once upon a time") + "\n", encoding="utf-8"
    )
    r = run_writer(
        "generate", "--prompts", str(prompts), "--model", str(tiny_model_dir), "-n", "1",
        "--seed", "5", "--max-new-tokens", "4", "--preset", "long", env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = sorted((json.loads(x) for x in r.stdout.splitlines()), key=lambda x: x["index"])
    assert [p["text"] for p in lines[0]["context"]["recalled"]] == [INTRO]
    assert "context" not in lines[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recall-tokens", "9000"], "--recall-tokens must be a whole number of tokens from 0"),
        (["--recall-tokens", "-1"], "--recall-tokens must be a whole number of tokens from 0"),
        (["--no-recall", "--recall-tokens", "10"], "--recall-tokens needs recall on"),
    ],
)
def test_bad_recall_flags_are_one_line_usage_errors(args, message):
    r = call_writer("generate", "Once", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_recall_and_no_recall_exclude_each_other():
    r = call_writer("generate", "Once", "--recall", "--no-recall")
    assert r.returncode == 2 and "not allowed with" in r.stderr


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("config.toml", "recall_tokens = -3\n", "recall_tokens must be a whole number of tokens"),
        ("config.toml", 'recall_tokens = "lots"\n', "recall_tokens must be a whole number"),
        ("presets.toml", "[p]\nrecall_tokens = 1.5\n", "[p]: recall_tokens must be a whole"),
    ],
)
def test_bad_recall_settings_are_one_line_errors(isolated_user_dirs, file, content, message):
    path = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer" / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    r = call_writer("generate", "Once", "--preset", "p" if file == "presets.toml" else "balanced")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import _isolated_env
    from tests.servers import ServeProcess

    proc = ServeProcess(tiny_model_dir, _isolated_env(tmp_path_factory.mktemp("recall-home")))
    yield proc
    proc.stop()


def test_a_remote_engine_gets_the_same_assembled_prompt(server, tiny_model_dir, isolated_user_dirs):
    args = ("--recall-tokens", "64")
    local = generate(tiny_model_dir, isolated_user_dirs, *args)
    remote = run_writer(
        "generate", long_story(), "--engine", server.url, "-n", "1", "--seed", "5",
        "--temperature", "0", "--max-new-tokens", "6", "--json", *args, env=isolated_user_dirs,
    )  # fmt: skip
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    ours, theirs = json.loads(local.stdout), json.loads(remote.stdout)
    assert [p["text"] for p in theirs["context"]["recalled"]] == [INTRO]
    assert theirs["context"] == ours["context"]
    assert theirs["candidates"] == ours["candidates"]
