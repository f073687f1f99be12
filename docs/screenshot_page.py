"""Regenerate docs/page-<theme>.svg for every bundled theme: `python docs/screenshot_page.py`.

The app at 120×36 on a short Markdown story (the snapshot tests' page), with a stand-in engine:
a real GPT-2 is not needed for a picture of the page.
"""

from __future__ import annotations

import asyncio
import atexit
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

from tests.ui.test_app_snapshots import PAGE, THEMES  # noqa: E402
from tests.ui.test_app_support import ScriptedEngine, loader_for, wait_for  # noqa: E402
from writer.ui.app import WriterApp  # noqa: E402


async def shoot(theme: str) -> Path:
    story = Path(HOME) / "lighthouse.md"
    story.write_text(PAGE, encoding="utf-8")
    app = WriterApp(story, model="tiny", theme=theme, engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        app.writing.editor.cursor_blink = False
        app.writing.editor.cursor_location = app.writing.editor.document.end
        await pilot.pause()
        name = f"page-{theme}.svg"
        app.save_screenshot(name, path=str(ROOT / "docs"))
    return ROOT / "docs" / name


async def main() -> None:
    for theme in THEMES:
        print(await shoot(theme))


if __name__ == "__main__":
    asyncio.run(main())
