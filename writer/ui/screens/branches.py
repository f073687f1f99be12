"""ctrl+l: the story's branches. Every continuation request's candidates, grouped by the point of
the story where they were asked for (from the generation log, so they survive restarts).

The path the story took is marked ✓: the candidate whose text follows its point in the text now.
enter on a point moves the cursor there; enter on a candidate puts it in the story at its point,
in place of the one that is there (one undo step).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from writer.store.generations import BranchPoint
from writer.ui.keys import key_for


@dataclass(frozen=True)
class BranchPick:
    """What the author chose: go to `point` (a character offset), or, with `text`, put that
    candidate there in place of the `replace` characters that follow the point."""

    point: int
    text: str | None = None
    replace: int = 0
    generation_id: int = 0
    index: int = 0


def _one_line(text: str, width: int = 90) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


class BranchesScreen(ModalScreen["BranchPick | None"]):
    """Points of the story (newest first) and the candidates that branch from each."""

    DEFAULT_CSS = """
    BranchesScreen { align: center middle; }
    BranchesScreen > Vertical {
        width: 95%; height: 90%; border: thick $primary; background: $surface;
    }
    BranchesScreen OptionList { height: 1fr; }
    """
    BINDINGS = [Binding("escape,ctrl+l", "dismiss(None)", "Close")]

    def __init__(self, points: Sequence[BranchPoint], text: str) -> None:
        super().__init__()
        self.points = list(points)
        self.text = text
        self.picks: dict[str, BranchPick] = {}

    def compose(self) -> ComposeResult:
        options: list[Option] = []
        for p, point in enumerate(self.points):
            at = point.locate(self.text)
            stamp = time.strftime("%m-%d %H:%M", time.localtime(point.latest))
            where = _one_line(point.prompt_tail[-50:], 50)
            if at is None:
                header = f"{stamp} · …{where} · (this point is no longer in the text)"
                options.append(Option(Content.styled(header, "$text-muted"), disabled=True))
                continue
            after = self.text[at:]
            # the path the story took from here: the longest candidate the text goes on with
            taken = ""
            for record in point.requests:
                for cand in record.candidates:
                    text = cand.get("text", "")
                    if text.strip() and after.startswith(text) and len(text) > len(taken):
                        taken = text
            header = f"{stamp} · at …{where}"
            self.picks[f"point-{p}"] = BranchPick(at)
            options.append(Option(Content.styled(header, "bold $secondary"), id=f"point-{p}"))
            for record in point.requests:
                for i, cand in enumerate(record.candidates):
                    text = cand.get("text", "")
                    if not text.strip():
                        continue
                    key = f"cand-{record.id}-{i}"
                    self.picks[key] = BranchPick(at, text, len(taken), record.id, i)
                    if taken and text == taken:
                        row = Content.assemble(("  ✓ ", "bold $success"), (_one_line(text), "bold"))
                    else:
                        row = Content(f"    {_one_line(text)}")
                    options.append(Option(row, id=key))
        if not options:
            options.append(
                Option("no continuations were asked for in this draft yet", disabled=True)
            )
        with Vertical() as box:
            box.border_title = "Branches"
            box.border_subtitle = (
                f"✓ the path taken · {key_for(OptionList, 'select')}: on a point, go there; on a "
                f"branch, put it in instead · {key_for(self, 'dismiss(None)')}: close"
            )
            yield OptionList(*options)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        pick = self.picks.get(event.option.id or "")
        if pick is not None:
            self.dismiss(pick)
