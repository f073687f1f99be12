"""Form fields that never swallow typing: a whole-number input that refuses letters visibly, and
a dialog's Tab order with its text fields first (reading order).

Textual's focus chain follows the order widgets are composed in; a dialog whose layout puts a
small field or a list between two text boxes would send Tab (and the author's typing) there.
`text_fields_first` gives the chain a dialog's own order instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widget import Widget
from textual.widgets import Input


class NumberInput(Input):
    """An Input that takes only a number (`whole`: a whole number); a refused key says so in a
    notification naming the field, instead of vanishing with only a bell."""

    def __init__(self, value: str = "", *, what: str, whole: bool = True, **kwargs) -> None:
        super().__init__(value, type="integer" if whole else "number", **kwargs)
        self.what = what
        self.whole = whole

    def restricted(self) -> None:
        self.app.bell()
        kind = "a whole number" if self.whole else "a number"
        self.notify(
            f"{self.what} takes {kind}; that key was not typed.",
            severity="warning",
            timeout=3,
        )


def text_fields_first(chain: list[Widget], ids: Sequence[str]) -> list[Widget]:
    """`chain` (a screen's focus chain) with the widgets of `ids` first, in that order; the
    others follow in their own order. Widgets not in the chain (hidden ones) are skipped."""
    by_id = {widget.id: widget for widget in chain if widget.id}
    first = [by_id[name] for name in ids if name in by_id]
    return first + [widget for widget in chain if widget not in first]
