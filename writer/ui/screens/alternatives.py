"""f4: candidates of earlier requests for this draft, from the generation log.

Each request shows its mode, seed and parameters (they reproduce it with `writer generate`);
enter inserts the highlighted candidate at the cursor again.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from writer.ui.keys import key_for


def describe_params(params: dict) -> str:
    keys = ("temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens")
    return " ".join(f"{k}={params[k]}" for k in keys if k in params)


class AlternativesScreen(ModalScreen["tuple[str, str] | None"]):
    """Dismisses with (mode, text) of the candidate to insert, or None."""

    DEFAULT_CSS = """
    AlternativesScreen { align: center middle; }
    AlternativesScreen > Vertical {
        width: 95%; height: 90%; border: thick $primary; background: $surface;
    }
    AlternativesScreen OptionList { height: 1fr; }
    AlternativesScreen OptionList > .option-list--option { padding: 0 0 1 0; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, records: list) -> None:
        super().__init__()
        self.choices: dict[str, tuple[str, str]] = {}
        self.records = records

    def compose(self) -> ComposeResult:
        options: list[Option | None] = []
        for record in self.records:
            stamp = time.strftime("%m-%d %H:%M", time.localtime(record.created))
            header = (
                f"{stamp} · {record.mode} · seed {record.seed} · model {record.model} · "
                f"{describe_params(record.params)}"
            )
            options.append(Option(Content.styled(header, "bold $secondary"), disabled=True))
            for i, cand in enumerate(record.candidates):
                key = f"{record.id}-{i}"
                self.choices[key] = (record.mode, cand.get("text", ""))
                mark = "✓ " if record.inserted == i else "  "
                seed = f" (seed {cand['seed']})" if "seed" in cand else ""
                text = " ".join(cand.get("text", "").split())
                options.append(Option(Content(f"{mark}{i + 1}{seed}: {text}"), id=key))
        if not options:
            options.append(Option("no earlier requests for this draft", disabled=True))
        with Vertical() as box:
            box.border_title = "Alternatives"
            box.border_subtitle = (
                f"{key_for(OptionList, 'select')}: insert at the cursor"
                f" · {key_for(self, 'dismiss(None)')}: close"
            )
            yield OptionList(*options)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id in self.choices:
            self.dismiss(self.choices[event.option.id])
