"""Where a candidate's text ends, and how much of a growing text is safe to stream.

Checked on text, not tokens: the engine already decodes each candidate's text for streaming,
and a stop rule ("after the first sentence") is about characters that BPE tokens split
arbitrarily. transformers' StopStringCriteria only answers "stop or not", not where to cut.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? or … (with closing quotes/brackets) once whitespace follows it; a line
# break after some text ends a paragraph.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_LINE_BREAK = re.compile(r"\n")


def find_stop(text: str, stop: str | tuple[str, ...]) -> int | None:
    """The length to cut `text` to if the stop rule has triggered, else None."""
    if stop == "none":
        return None
    content_start = len(text) - len(text.lstrip())
    if stop == "paragraph" or stop == "sentence":
        cut = None
        if content_start < len(text):  # a leading blank line is not the end of a paragraph
            m = _LINE_BREAK.search(text, content_start)
            if m:
                cut = m.start()
        if stop == "sentence":
            m = _SENTENCE_END.search(text, content_start)
            if m and (cut is None or m.end() <= cut):
                cut = m.end()
        return cut
    positions = [p for p in (text.find(s) for s in stop) if p >= 0]
    return min(positions) if positions else None


def safe_length(text: str, stop: str | tuple[str, ...]) -> int:
    """How much of `text` can be streamed now without showing something a stop may cut later.

    Holds back an incomplete UTF-8 character (decoded as U+FFFD), trailing whitespace for the
    sentence and paragraph rules, and any tail that could be the start of a custom stop text.
    """
    end = len(text)
    while end and text[end - 1] == "\ufffd":
        end -= 1
    if stop in ("sentence", "paragraph"):
        while end and text[end - 1].isspace():
            end -= 1
    elif stop != "none":
        for s in stop:
            for k in range(min(len(s) - 1, end), 0, -1):
                if text[:end].endswith(s[:k]):
                    end = min(end, len(text[:end]) - k)
                    break
    return end
