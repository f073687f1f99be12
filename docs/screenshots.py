"""Draw every picture the docs show, from the current app: `python docs/screenshots.py`.

The app runs under Textual's test driver with a stand-in engine (a real GPT-2 is not needed for
a picture: the engine's tokens and probabilities are written out below) and each picture is
Textual's own SVG export of the screen. Every SVG under docs/ is written here, so none can show
an older status line or key; tests/test_docs.py checks that each picture a page shows exists.

Writes docs/page-<theme>.svg for each bundled theme, docs/candidates.svg and
docs/token-probabilities.svg.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
HOME = tempfile.mkdtemp(prefix="writer-shot-")  # keep the user's drafts and settings out of it
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[var] = os.path.join(HOME, var.lower())

from tests.ui.test_app_snapshots import PAGE, THEMES  # noqa: E402
from tests.ui.test_app_support import ScriptedEngine, loader_for, wait_for  # noqa: E402
from writer.engine.types import (  # noqa: E402
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationStats,
    TokenChoice,
    TokenDelta,
    TokenLogprobs,
)
from writer.ui.app import WriterApp  # noqa: E402
from writer.ui.screens.tokens import TokenProbsScreen  # noqa: E402

# Three candidates as (token, probability) pairs: varied probabilities shade the tokens in every
# band of the probabilities view.
CANDIDATES = [
    [
        (" The", 0.62),
        (" lamp", 0.08),
        (" had", 0.41),
        (" gone", 0.22),
        (" out", 0.71),
        (" hours", 0.05),
        (" ago", 0.88),
        (",", 0.31),
        (" and", 0.44),
        (" the", 0.52),
        (" sea", 0.12),
        (" was", 0.36),
        (" black", 0.009),
        (".", 0.57),
    ],
    [
        (" She", 0.18),
        (" waited", 0.04),
        (" by", 0.29),
        (" the", 0.74),
        (" door", 0.21),
        (" until", 0.33),
        (" the", 0.61),
        (" tide", 0.07),
        (" turned", 0.45),
        (".", 0.48),
    ],
    [
        (" Nobody", 0.03),
        (" came", 0.33),
        (" up", 0.12),
        (" the", 0.58),
        (" path", 0.2),
        (".", 0.61),
    ],
]
ALTERNATIVES = [
    " The",
    " A",
    " It",
    " Somewhere",
    " Outside",
    " Nothing",
    " He",
    " Far",
    " Then",
    " Only",
]
STORY = "The keeper climbed the last stair and looked out over the water."


class PictureEngine(ScriptedEngine):
    """The candidates above, each token with ten alternatives of falling probability."""

    name = "gpt2"
    precision = "int8"

    def stream(
        self, prompt, params, n=3, seed=None, mode="continue", cancel=None, *, logprobs=None
    ):
        cands = []
        for i, tokens in enumerate(CANDIDATES[:n]):
            infos = []
            for t, (text, p) in enumerate(tokens):
                alts = [text] + [a for a in ALTERNATIVES if a != text][:9]
                probs = [p] + [(1 - p) * 0.5 ** (j + 1) for j in range(9)]
                order = sorted(zip(probs, alts, strict=True), reverse=True)
                top = tuple(
                    TokenChoice(
                        100 * t + j,
                        a,
                        math.log(q),
                        math.log(q / sum(probs[:5])) if j < 5 else float("-inf"),
                    )
                    for j, (q, a) in enumerate(order)
                )
                infos.append(TokenLogprobs(t, text, math.log(p), math.log(p), top))
                yield TokenDelta(i, text, t, math.log(p), (infos[-1],))
            text = "".join(x for x, _ in tokens)
            cands.append(
                Candidate(text, len(tokens), -1.0, (seed or 0) + i, i, "stop", (), tuple(infos))
            )
            yield CandidateDone(i, cands[-1])
        yield GenerationDone(cands, GenerationStats(20, 0, 23, 0.05, 0.4), False, seed or 0, prompt)


def story_file(name: str, text: str) -> Path:
    path = Path(HOME) / name
    path.write_text(text, encoding="utf-8")
    return path


async def shoot(
    name: str,
    app: WriterApp,
    size: tuple[int, int],
    steps: Callable[[WriterApp, object], Awaitable[None]],
) -> Path:
    """Run `app` at `size`, do `steps`, save the screen as docs/`name`."""
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        app.writing.editor.cursor_blink = False
        await steps(app, pilot)
        await pilot.pause(0.2)
        app.save_screenshot(name, path=str(DOCS))
    return DOCS / name


async def at_the_end(app: WriterApp, pilot) -> None:
    app.writing.editor.cursor_location = app.writing.editor.document.end
    await pilot.pause()


async def candidates_open(app: WriterApp, pilot) -> None:
    await at_the_end(app, pilot)
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
    await pilot.press("tab")


async def probabilities_open(app: WriterApp, pilot) -> None:
    await candidates_open(app, pilot)
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
    await pilot.press("right", "right", "right")


def app_for(path: Path, theme: str = "writer-dark") -> WriterApp:
    return WriterApp(path, model="gpt2", theme=theme, engine_loader=loader_for(PictureEngine()))


async def main() -> None:
    for theme in THEMES:
        page = story_file("lighthouse.md", PAGE)
        print(await shoot(f"page-{theme}.svg", app_for(page, theme), (120, 36), at_the_end))
    keeper = story_file("keeper.md", STORY)
    print(await shoot("candidates.svg", app_for(keeper), (100, 30), candidates_open))
    keeper = story_file("keeper-probabilities.md", STORY)
    print(await shoot("token-probabilities.svg", app_for(keeper), (100, 30), probabilities_open))


if __name__ == "__main__":
    asyncio.run(main())
