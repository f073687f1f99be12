"""f5: base and fine-tuned models with their manifests; enter switches the session's model.

Each model also shows the author's own use of it (`writer stats` per model), and `c` opens a
blind comparison of the highlighted model against the current one on this draft.

Listing scans the Hugging Face cache, so it runs in a thread worker; the reload itself happens in
the app's model worker.

r renames and d deletes the highlighted fine-tune (deleting asks first); base models in the
Hugging Face cache are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from writer.errors import WriterError
from writer.ui.keys import key_for
from writer.ui.messages import ModelsListed


def _num(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return str(seconds)
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def describe_manifest(manifest: dict) -> str:
    """A fine-tune's manifest as readable lines (base, method, when, data, perplexity,
    settings); keys this version does not know follow as `key: value`."""
    if not manifest:
        return "(no manifest: a base model)"
    m = dict(manifest)
    m.pop("name", None)  # the screen shows the name above
    get = m.pop
    lines = []
    if "base" in m:
        lines.append(f"Base model: {get('base')}")
    if "method" in m:
        method = str(get("method"))
        detail = [
            f"{k} {get(key)}"
            for key, k in (("lora_r", "rank"), ("lora_alpha", "alpha"))
            if key in m
        ]
        if "lora_targets" in m:
            targets = get("lora_targets")
            detail.append(
                "adapts "
                + (", ".join(map(str, targets)) if isinstance(targets, list) else str(targets))
            )
        name = {"lora": "LoRA", "full": "full fine-tune"}.get(method, method)
        lines.append(f"Method: {name}" + (f" ({'; '.join(detail)})" if detail else ""))
    when = []
    if "date" in m:
        when.append(str(get("date")).replace("T", " ").replace("+00:00", " UTC"))
    if "train_seconds" in m:
        when.append(f"in {_duration(get('train_seconds'))}")
    if when:
        lines.append("Trained: " + ", ".join(when))
    if "steps" in m:
        seen = f" ({_num(get('tokens_seen'))} tokens seen)" if "tokens_seen" in m else ""
        lines.append(f"Training steps: {_num(get('steps'))}{seen}")
    files = get("files", None)
    if "tokens" in m or files is not None:
        parts = []
        if isinstance(files, list):
            parts.append(f"{len(files)} file{'s' if len(files) != 1 else ''}")
        if "tokens" in m:
            split = [
                f"{_num(get(key))} {label}"
                for key, label in (("train_tokens", "for training"), ("holdout_tokens", "held out"))
                if key in m
            ]
            parts.append(
                f"{_num(get('tokens'))} tokens" + (f" ({', '.join(split)})" if split else "")
            )
        lines.append("Text: " + ", ".join(parts))
        if isinstance(files, list) and files:
            more = f" (+{len(files) - 5} more)" if len(files) > 5 else ""
            lines.append("Files: " + ", ".join(map(str, files[:5])) + more)
    before, after = m.get("perplexity_before"), m.get("perplexity_after")
    if isinstance(before, int | float) and isinstance(after, int | float):
        del m["perplexity_before"], m["perplexity_after"]
        lower = before > 0 and after < before
        change = f" ({(1 - after / before) * 100:.0f}% lower)" if lower else ""
        lines.append(f"Held-out perplexity: {before:.1f} before → {after:.1f} after{change}")
    settings = []
    for key, label in (
        ("block_size", "block {} tokens"),
        ("batch_size", "batch {}"),
        ("micro_batch_size", "micro-batch {}"),
        ("lr", "learning rate {:g}"),
        ("seed", "seed {}"),
    ):
        if key in m:
            value = get(key)
            try:
                settings.append(label.format(value))
            except (TypeError, ValueError):
                settings.append(f"{key} {value}")
    if settings:
        lines.append("Settings: " + ", ".join(settings))
    if "data_fingerprint" in m:
        lines.append(f"Data fingerprint: {str(get('data_fingerprint'))[:16]}")
    for key, value in m.items():
        shown = value if isinstance(value, str | int | float) else json.dumps(value)
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)


class ModelsScreen(ModalScreen[str | None]):
    """Dismisses with the model name to switch to, or None."""

    DEFAULT_CSS = """
    ModelsScreen { align: center middle; }
    ModelsScreen > Vertical {
        width: 110; max-width: 95%; height: 80%;
        border: thick $primary; background: $surface;
    }
    ModelsScreen Horizontal { height: 1fr; }
    ModelsScreen OptionList { width: 40%; height: 1fr; }
    ModelsScreen #manifest { width: 60%; height: 1fr; padding: 0 1; overflow-y: auto; }
    ModelsScreen Input { margin: 0 1; }
    ModelsScreen #load-error { color: $error; padding: 0 1; height: auto; max-height: 8; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("c", "compare", "Compare blind"),
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
    ]

    class CompareRequested(Message):
        """Compare `model` with the current one, blind (handled by the app)."""

        def __init__(self, model: str) -> None:
            super().__init__()
            self.model = model

    def __init__(
        self,
        current: str,
        usage: Callable[[], dict[str, Any]] | None = None,
        error: str = "",
    ) -> None:
        """`error`: why the current model did not load ("" when it did or is loading)."""
        super().__init__()
        self.current = current
        self.load_error = error
        self.models: list = []
        # Per-model acceptance statistics (writer.store.acceptance), read in the worker.
        self.usage = usage
        self.usage_rows: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Models"
            box.border_subtitle = (
                f"{key_for(OptionList, 'select')}: switch · {key_for(self, 'compare')}: compare "
                f"blind · {key_for(self, 'rename')}: rename · {key_for(self, 'delete')}: delete"
                f" · {key_for(self, 'dismiss(None)')}: close"
            )
            # The status bar has room for the start of a load error; here it is whole.
            error = self.load_error
            failed = Static(
                f"Model {self.current!r} did not load: {error}" if error else "",
                id="load-error",
                markup=False,
            )
            failed.display = bool(error)
            yield failed
            with Horizontal():
                yield OptionList(Option("listing…", disabled=True))
                yield Static("", id="manifest", markup=False)
            yield Input(placeholder="or type a model name / folder and press enter", id="name")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._list_models()

    @work(thread=True, exclusive=True, exit_on_error=False, group="models")
    def _list_models(self) -> None:
        try:
            from writer.engine.models import list_models

            models = list_models()
            if self.usage is not None:
                try:
                    self.usage_rows = self.usage()
                except Exception:  # statistics are a bonus; the list still shows
                    self.usage_rows = {}
            self.post_message(ModelsListed(models))
        except Exception as exc:  # the screen still lets the user type a name
            self.post_message(ModelsListed([], f"{type(exc).__name__}: {exc}"))

    def on_models_listed(self, message: ModelsListed) -> None:
        self.models = message.models
        option_list = self.query_one(OptionList)
        option_list.clear_options()
        if message.error:
            self.query_one("#manifest", Static).update(f"Cannot list models: {message.error}")
        for info in self.models:
            mark = "● " if info.name == self.current else "  "
            option_list.add_option(
                Option(Content(f"{mark}{info.name}  ({info.kind})"), id=info.name)
            )
        if not self.models:
            option_list.add_option(
                Option(
                    "no models found: `writer download gpt2` or `writer finetune`", disabled=True
                )
            )
            self.query_one("#manifest", Static).update(f"Current model: {self.current}")
        else:
            option_list.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        index = event.option_index
        if 0 <= index < len(self.models):
            info = self.models[index]
            use = ""
            if self.usage is not None:
                from writer.store.acceptance import UsageRow, describe

                use = describe(self.usage_rows.get(info.name, UsageRow(info.name, "all"))) + "\n"
            self.query_one("#manifest", Static).update(
                f"{info.name}\n{info.location}\n{use}\n{describe_manifest(info.manifest)}"
            )

    def action_compare(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None or not 0 <= index < len(self.models):
            self.notify("Highlight a model to compare with the current one.")
            return
        name = self.models[index].name
        if name == self.current:
            self.notify("That is the current model; highlight another one to compare.")
            return
        self.app.post_message(self.CompareRequested(name))
        self.dismiss(None)

    def _selected_finetune(self, verb: str):
        """The highlighted model if it is a fine-tune that may be changed, else None (said so)."""
        option_list = self.query_one(OptionList)
        index = option_list.highlighted
        if index is None or not 0 <= index < len(self.models) or not option_list.has_focus:
            return None
        info = self.models[index]
        if info.kind != "finetuned":
            self.notify(f"{info.name} is a base model; only your fine-tunes can be {verb}d.")
            return None
        if info.name == self.current:
            self.notify(f"{info.name} is the model in use; switch to another one first.")
            return None
        return info

    def action_rename(self) -> None:
        from writer.ui.screens.prompt import PromptScreen

        info = self._selected_finetune("rename")
        if info is None:
            return

        def renamed(new: str | None) -> None:
            if not new or new.strip() == info.name:
                return
            from writer.training.tuned import rename_finetuned

            try:
                rename_finetuned(info.name, new.strip())
                self.notify(f"Renamed {info.name} to {new.strip()}.")
            except WriterError as exc:
                self.notify(str(exc), severity="error")
            self._list_models()

        self.app.push_screen(PromptScreen(f"New name for {info.name}:", info.name), renamed)

    def action_delete(self) -> None:
        from writer.ui.screens.confirm import ChoiceScreen

        info = self._selected_finetune("delete")
        if info is None:
            return

        def confirmed(choice: str | None) -> None:
            if choice != "delete":
                return
            from writer.training.tuned import delete_finetuned

            try:
                delete_finetuned(info.name)
                self.notify(f"Deleted {info.name}.")
            except WriterError as exc:
                self.notify(str(exc), severity="error")
            self._list_models()

        self.app.push_screen(
            ChoiceScreen(
                f"Delete the fine-tuned model {info.name} ({info.location})? "
                "This cannot be undone.",
                [("keep", "Keep it"), ("delete", "Delete")],
            ),
            confirmed,
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())
