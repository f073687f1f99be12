"""`writer chat` through the real CLI, in a subprocess with scripted standard input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_writer


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("writer: error: "), result.stderr
    return lines[0]


def _draft(tmp_path, env) -> None:
    story = tmp_path / "story.md"
    story.write_text("The fox walked to the river. Mara waited there.\n", encoding="utf-8")
    assert run_writer("drafts", "import", str(story), env=env).returncode == 0


def test_json_chat_saves_turns_continues_and_exports(tmp_path, tiny_model_dir, isolated_user_dirs):
    env = isolated_user_dirs
    _draft(tmp_path, env)
    args = ["chat", "--character", "Mara", "--draft", "1", "--model", str(tiny_model_dir),
            "-n", "2", "--max-new-tokens", "6", "--seed", "4", "--json"]  # fmt: skip
    r = run_writer(*args, "--about", "A smuggler.", env=env, input="Who are you?\n\nWhy?\n")
    assert r.returncode == 0, r.stderr
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["line"] for x in results] == ["Who are you?", "Why?"]  # the blank line skipped
    for x in results:
        assert len(x["replies"]) == 2 and x["chat"] == 1 and x["character"] == "Mara"
        assert all("\n" not in reply and "Interviewer:" not in reply for reply in x["replies"])
    assert results[0]["seed"] == 4
    again = run_writer(*args, env=env, input="Go on.\n")  # continues the same chat
    assert "continuing after 4 turns" in again.stderr
    assert json.loads(again.stdout)["chat"] == 1
    out = tmp_path / "chats.md"
    export = run_writer("drafts", "export", "1", "--chats", "-o", str(out), env=env)
    assert export.returncode == 0, export.stderr
    md = out.read_text(encoding="utf-8")
    assert md.startswith("# Chats: story\n") and "> A smuggler." in md
    assert md.count("**Interviewer:**") == 3 and md.count("**Mara:**") == 3
    assert f"**Mara:** {results[0]['replies'][0]}\n" in md  # the first reply was taken
    show = run_writer("drafts", "show", "1", env=env)
    assert "chats: Mara (6 turns, " in show.stdout
    bad = run_writer("drafts", "export", "1", "--chats", "--format", "txt", env=env)
    assert bad.returncode == 2 and "--chats" in one_error_line(bad)


def test_line_chat_from_a_pipe_picks_a_digit_and_regenerates(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    env = isolated_user_dirs
    _draft(tmp_path, env)
    args = ["chat", "--character", "Mara", "--draft", "1", "--model", str(tiny_model_dir),
            "-n", "3", "--max-new-tokens", "5", "--seed", "1"]  # fmt: skip
    r = run_writer(*args, env=env, input="Hello there.\n2\nAnd then?\nr\n9\n3\n")
    assert r.returncode == 0, r.stderr
    numbered = [line for line in r.stdout.splitlines() if line.startswith("  ")]
    assert len(numbered) == 9  # 3 replies, then 3 and 3 again after "r"
    said = [line for line in r.stdout.splitlines() if line.startswith("Mara: ")]
    assert said[0] == "Mara: " + numbered[1].split(". ", 1)[1]  # "2" picked the second
    assert said[1] == "Mara: " + numbered[8].split(". ", 1)[1]  # after "9" was refused
    assert "type a number from 1 to 3" in r.stderr
    md = run_writer("drafts", "export", "1", "--chats", env=env).stdout
    assert "**Interviewer:** Hello there.\n" in md and "**Interviewer:** And then?\n" in md


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--character", ""], 2, "name is empty"),
        (["--character", "   "], 2, "name is empty"),
        (["--character", "Mara", "--draft", "42"], 2, "no draft with ID 42"),
        (["--character", "Mara", "--model", "no-such-model"], 1, "no-such-model"),
        (["--character", "Mara", "--model", ""], 2, "--model is empty"),
        (["--character", "Mara", "-n", "0"], 2, "-n must be 1 to 16"),
        (["--character", "Mara", "--new"], 2, "--new starts a new chat"),
        (["--character", "Mara", "--preset", "nope"], 2, "nope"),
        ([], 2, "--character"),
    ],
)
def test_bad_inputs_are_one_line_errors(args, code, words, isolated_user_dirs):
    r = run_writer("chat", *args, "--json", env=isolated_user_dirs, input="Hi\n")
    assert r.returncode == code, r.stderr
    assert words in one_error_line(r)
    assert r.stdout == ""


def test_non_utf8_input_and_a_folder_as_about_are_one_line_errors(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "writer", "chat", "--character", "Mara", "--model",
               str(tiny_model_dir), "--max-new-tokens", "3", "-n", "1"]  # fmt: skip
    for extra in ([], ["--json"]):
        r = subprocess.run(
            [*command, *extra],
            input=b"caf\xe9\n",
            capture_output=True,
            env={**os.environ, **isolated_user_dirs},
            timeout=120,
        )
        assert r.returncode == 1
        lines = r.stderr.decode().strip().splitlines()
        assert lines == [
            "writer: error: line 1 of standard input is not UTF-8 text; save it as UTF-8"
        ]
    folder = run_writer(*command[3:], "--about", str(tmp_path), env=isolated_user_dirs, input="")
    assert folder.returncode == 1 and "is a folder" in one_error_line(folder)


def test_an_escape_sequence_typed_at_a_terminal_is_text(tiny_model_dir, isolated_user_dirs):
    """`ESC [ 3 1 m` pasted at the prompt is parsed by prompt_toolkit as a mouse event; it is
    inserted as its printable text, never "Unhandled exception in event loop"."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "writer", "chat", "--character", "Ann"]
        + ["--model", str(tiny_model_dir), "--max-new-tokens", "2", "-n", "1"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, **isolated_user_dirs, "TERM": "xterm"},
    )
    os.close(secondary)
    seen = b""

    def read_until(marker: bytes, seconds: float, after: int = 0) -> bool:
        nonlocal seen
        end = time.monotonic() + seconds
        while time.monotonic() < end and marker not in seen[after:]:
            if select.select([primary], [], [], 0.1)[0]:
                try:
                    data = os.read(primary, 65536)
                except OSError:
                    return False
                seen += data
                # Answer prompt_toolkit's cursor position requests as a terminal does: unanswered,
                # it waits for the reply, and a key typed meanwhile can be lost.
                for _ in range(data.count(b"\x1b[6n")):
                    os.write(primary, b"\x1b[1;1R")
        return marker in seen[after:]

    try:
        assert read_until(b"Interviewer:", 90), seen
        os.write(primary, b"\x1b[31mhello")
        assert read_until(b"[31mhello", 10), seen
        os.write(primary, b"\r")
        assert read_until(b"Ann:", 60), seen
        assert read_until(b"Interviewer:", 30, after=seen.index(b"Ann:")), seen  # the next turn
        os.write(primary, b"\x04")
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(primary)
    assert b"Unhandled exception" not in seen and b"Traceback" not in seen


def test_at_a_terminal_a_digit_picks_a_reply_without_enter():
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from writer.commands.chat import _key_pick

    for keys, expected in (("2", 1), ("3", 2), ("r", "again"), ("\r", 0), ("\x04", None)):
        with create_pipe_input() as pipe:
            pipe.send_text(keys)  # one key; no Enter after a digit
            session = PromptSession(input=pipe, output=DummyOutput())
            assert _key_pick(3, session) == expected, keys
