"""ctrl+t: pick a creativity preset from a list with each preset's description."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from writer.presets import Preset
from writer.ui.keys import key_for


class PresetPicker(ModalScreen[str | None]):
    """Dismisses with the chosen preset's name, or None."""

    DEFAULT_CSS = """
    PresetPicker { align: center middle; }
    PresetPicker > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 80%;
        border: thick $primary; background: $surface;
    }
    PresetPicker OptionList { height: auto; max-height: 20; border: none; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, presets: dict[str, Preset], current: str) -> None:
        super().__init__()
        self.presets = presets
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Creativity preset"
            box.border_subtitle = (
                f"{key_for(OptionList, 'select')}: use · {key_for(self, 'dismiss(None)')}: cancel"
            )
            options = []
            for name, preset in self.presets.items():
                mark = "● " if name == self.current else "  "
                prompt = Content.assemble(
                    (f"{mark}{name}", "bold"),
                    f"  {preset.description}\n    ",
                    (preset.params.describe(), "dim"),
                )
                options.append(Option(prompt, id=name))
            yield OptionList(*options)

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        names = list(self.presets)
        if self.current in names:
            option_list.highlighted = names.index(self.current)
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
