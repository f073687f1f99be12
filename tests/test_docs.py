"""The docs: no build-machine paths or tracker numbers anywhere, every picture and link in place,
the command reference complete and torch-free, the README's test command the one CI runs, and
the site building strictly (when mkdocs is installed: the `docs` extra)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -n 2 --dist loadfile'
SETUP_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate\n"
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    "   # CPU build, ~200 MB\n"
    "pip install -e . && writer\n"
)

# Text that only makes sense inside the history of the repository that built writer: a build
# machine's path, a tracker's issue number, which machine happened to be at hand.
HISTORY = re.compile(
    r"/work/|/root/|/home/"
    r"|\bissues? ?#?\d+|\bissue-\d+|\bissue #"
    r"|\b(?:previous|earlier|this) release\b|\btwo releases ago\b"
    r"|\bwas lent\b|\bnot drawn\b|\b(?:this|the) (?:project|session)'s machine"
    r"|\bthis machine was\b|\bavailable when (?:it|this) was",
    re.IGNORECASE,
)


def _text_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "mkdocs.yml"]
    for folder, suffixes in ((DOCS, {".md", ".py"}), (ROOT / "writer", {".py", ".toml"})):
        files += [p for p in folder.rglob("*") if p.suffix in suffixes]
    files += [p for p in (ROOT / "bench").rglob("*") if p.suffix in {".py", ".md"}]
    files += list((ROOT / "themes").glob("*.toml"))
    return sorted(files)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # code blocks hold no links
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_no_build_machine_paths_or_issue_numbers() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _text_files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HISTORY.search(line)
    ]
    assert not found, "say what the code does and what was measured on which CPU:\n" + "\n".join(
        found
    )


def test_every_picture_and_page_a_link_names_exists() -> None:
    missing = []
    for page in _pages():
        for target in _links(page):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            assert not target.startswith("/"), f"{page.name}: absolute link {target}"
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, "\n".join(missing)


def test_pages_show_pictures_and_the_script_draws_them() -> None:
    shown = {
        Path(t).name for page in _pages() for t in _links(page) if t.split("#")[0].endswith(".svg")
    }
    assert {"candidates.svg", "token-probabilities.svg", "page-writer-dark.svg"} <= shown
    script = (DOCS / "screenshots.py").read_text(encoding="utf-8")
    for name in shown:
        drawn = name in script or (name.startswith("page-") and 'f"page-{theme}.svg"' in script)
        assert drawn, f"docs/screenshots.py does not draw {name}"


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    listed = set(re.findall(r"([\w/.-]+\.md)\s*$", nav, flags=re.MULTILINE))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert listed - pages == set(), "nav entries without a page"


def test_readme_is_short_and_keeps_its_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    assert TEST_COMMAND in readme
    assert SETUP_COMMAND in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND.split(" && ")[1] in ci.splitlines()
    assert "mkdocs build --strict" in ci


def test_the_command_reference_has_every_command_and_option_without_torch() -> None:
    probe = (
        "import runpy, sys\n"
        f"hook = runpy.run_path({str(DOCS / 'hooks' / 'commands.py')!r})\n"
        "print(hook['render_commands']())\n"
        "assert 'torch' not in sys.modules, 'the docs build imported torch'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    page = done.stdout
    from writer import cli

    parsers = [cli.build_app_parser()]
    for name in cli.COMMANDS:
        parser, _module = cli.build_command_parser(name)
        parsers.append(parser._subparsers._group_actions[0].choices[name])
    while parsers:
        parser = parsers.pop()
        assert f"`{parser.prog}`" in page
        for action in parser._actions:
            if action.choices and hasattr(action, "_name_parser_map"):
                parsers += list(action.choices.values())
            if action.help == argparse.SUPPRESS:
                continue
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in page, f"{parser.prog} {option}"


def test_every_setting_of_config_toml_is_documented() -> None:
    import dataclasses

    from writer.config import Config

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(Config) if f"| `{f.name}` |" not in page]
    assert not missing, f"config.toml keys missing from docs/configuration.md: {missing}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "reference" / "commands" / "index.html").exists()
