"""Regenerate docs/token-probabilities.svg: `python docs/screenshot_probabilities.py`.

The app with a stand-in engine whose tokens carry varied probabilities (a real GPT-2 is not
needed for a picture), the probabilities view of candidate 1 open on its fourth token.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOME = tempfile.mkdtemp(prefix="writer-shot-")  # keep the user's drafts out of it
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[var] = os.path.join(HOME, var.lower())

from tests.ui.test_app_support import ScriptedEngine, loader_for  # noqa: E402
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
        (".", 0.48),
    ],
    [(" Nobody", 0.03), (" came", 0.33), (".", 0.61)],
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


class PictureEngine(ScriptedEngine):
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


async def main() -> None:
    app = WriterApp(engine_loader=loader_for(PictureEngine()))
    async with app.run_test(size=(100, 30)) as pilot:
        while app.writing.status.model_state != "ready":
            await pilot.pause(0.05)
        app.writing.editor.insert(
            "The keeper climbed the last stair and looked out over the water."
        )
        await pilot.press("ctrl+g")
        while not app.writing.panel.is_open or app.writing.panel.running:
            await pilot.pause(0.05)
        await pilot.press("tab", "p")
        while not isinstance(app.screen, TokenProbsScreen):
            await pilot.pause(0.05)
        await pilot.press("right", "right", "right")
        await pilot.pause(0.2)
        app.save_screenshot("token-probabilities.svg", str(ROOT / "docs"))


if __name__ == "__main__":
    asyncio.run(main())
