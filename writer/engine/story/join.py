"""How generated text joins the story: one rule for every path that inserts it.

A model's candidate is written as the continuation of the text it was given, so it carries its
own leading space (GPT-2's tokens start with one) and knows nothing of what follows the cursor.
The author, meanwhile, may have typed a space, started a new paragraph, or put the cursor before
existing text. `join_candidate` returns the text to insert so that the result reads as prose:

- no spaces at a paragraph start, and no whitespace at all at the document start;
- exactly one space between a word and the next (a typed space is not doubled);
- punctuation that starts a candidate (`,` `.` `;` `:` `!` `?` `'s` `)` ...) attaches to the word
  before it, without a space;
- a space (or the candidate's own newline) between the candidate and a word right after the
  cursor, and no doubled space before a space that is already there;
- a candidate that starts with a letter right after a letter continues that word, as the model
  meant it (the story "The fox" continued with "es ran" is "The foxes ran"), so no space is added.

Pure (no Textual, no torch): the editor insert, the inline suggestion, swap-and-continue,
branches, chat replies and continue-this-candidate all call it, and the candidates panel shows
its result, so what the author sees is what goes in.
"""

from __future__ import annotations

import re

# Characters that attach to the word before them. An apostrophe starts a contraction or a
# possessive ("'s", "'ll", "'d"); a closing quote is left alone: it may open a quotation.
_ATTACHING = set(",.;:!?)]}%…") | {"\u2019"}
_CONTRACTION = re.compile(r"['\u2019](s|S|t|T|d|D|m|M|ll|LL|re|RE|ve|VE)\b")
_SPACES = " \t"


def _attaches(text: str) -> bool:
    """Whether `text` (already without leading spaces) starts with punctuation that attaches."""
    if not text:
        return False
    if text[0] in _ATTACHING and not text.startswith(("...", "\u2026")):
        return True
    return bool(_CONTRACTION.match(text))


def join_candidate(before: str, candidate: str, after: str = "") -> str:
    """The text to insert at the cursor so that `candidate` reads as prose between `before`
    (the story up to the cursor) and `after` (the story after it). Only the candidate's edges
    change; its inside is kept as the model wrote it."""
    if not candidate:
        return candidate
    text = candidate
    if not before.strip():
        # The document start: nothing before the candidate but whitespace.
        text = text.lstrip() if not before else text.lstrip(_SPACES)
    elif before.endswith("\n"):
        text = text.lstrip(_SPACES)  # a paragraph start; the candidate's own newlines stay
    elif before[-1] in _SPACES:
        text = text.lstrip(_SPACES)  # the author typed the space already
    else:
        stripped = text.lstrip(_SPACES)
        if stripped != text and _attaches(stripped):
            text = stripped  # "brother ," -> "brother,"
    if not text:
        return text
    if after:
        nxt = after[0]
        if nxt in _SPACES or nxt in "\r\n":
            if nxt in _SPACES:
                text = text.rstrip(_SPACES)  # one space, the one already there
        elif not text[-1].isspace() and not _attaches(after):
            text += " "  # keep the candidate's last word apart from the word after the cursor
    return text
