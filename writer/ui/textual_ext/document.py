"""The editor's document and its wrapping, with two answers Textual computes from scratch each
time made cheap: the whole text, and the wrapped height.

TextArea.render_line asks for the whole text (`not self.text and self.placeholder`) and the
wrapped height (a sum over every line) for every row it draws: on a 1 MB manuscript ~1 ms
each, per row, so a redraw of the editor while candidates stream held the screen for 50-300 ms.
"""

from __future__ import annotations

from textual.document._document import Document, EditResult, Location
from textual.document._wrapped_document import WrappedDocument


class StoryDocument(Document):
    """A Document that keeps its joined text until the next edit (`replace_range` is the only
    way Textual changes a document)."""

    _text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._newline.join(self._lines)
        return self._text

    def replace_range(self, start: Location, end: Location, text: str) -> EditResult:
        self._text = None
        return super().replace_range(start, end, text)


class StoryWrapping(WrappedDocument):
    """A WrappedDocument whose height is the length of its row index (one entry per wrapped
    row, kept by `wrap` and `wrap_range`) instead of a sum over every line."""

    @property
    def height(self) -> int:
        return len(self._offset_to_line_info)


def speed_up(document: object, wrapped: object) -> None:
    """Give a TextArea's plain Document and WrappedDocument the cheap answers above (in place:
    TextArea creates them itself)."""
    if type(document) is Document:
        document.__class__ = StoryDocument
    if type(wrapped) is WrappedDocument:
        wrapped.__class__ = StoryWrapping
