"""Lorebook suggestions: the names a manuscript keeps coming back to, ready to paste into a
lorebook (the `[[entry]]` TOML that context.load_lorebook reads).

A name is a capitalised word that does not start a sentence (nor follow an opening quote), or a
run of capitalised words, joined by at most one short particle ("Ostrava Point", "Anne of
Cleves"), anywhere; leading stop-words ("The", "When") are not part of a name. A single word
that only ever appears inside one longer name becomes that name's second key ("Mirela" for
"Mirela Vask"). Mentions count every whole-word, case-sensitive occurrence of any key; the
entry's text is the first sentence that mentions it (its introduction), for the author to
edit. `[Idea: ...]` notes are not read.

Pure: no model, no files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from writer.engine.story.pieces import SENTENCE_END, paragraphs
from writer.engine.story.recall import STOP_WORDS

PARTICLES = frozenset("of de du da del der van von la le al bin".split())
MAX_SUGGESTIONS = 100
MAX_TEXT_CHARS = 400
_TOKEN = re.compile(r"[^\W\d_][\w’'-]*")
_OPENERS = '"“‘(['


@dataclass(frozen=True)
class LoreSuggestion:
    """A recurring name: its keys (the name first), mentions, and the sentence that
    introduces it, with that sentence's character offset in the text."""

    name: str
    keys: tuple[str, ...]
    mentions: int
    introduced: str
    start: int

    def to_dict(self) -> dict[str, Any]:
        """`writer lore suggest --json`'s items."""
        return {
            "name": self.name,
            "keys": list(self.keys),
            "mentions": self.mentions,
            "introduced": self.introduced,
            "start": self.start,
        }

    def to_toml(self) -> str:
        """A lorebook `[[entry]]` block, with the mention count as a comment."""
        # json.dumps writes a string in a form TOML's basic strings read the same way (its
        # escapes are a subset of TOML's); tomlkit would add nothing for two keys.
        keys = ", ".join(json.dumps(k, ensure_ascii=False) for k in self.keys)
        text = json.dumps(self.introduced, ensure_ascii=False)
        mentions = f"{self.mentions} mention" + ("" if self.mentions == 1 else "s")
        return f"# {self.name}: {mentions}\n[[entry]]\nkeys = [{keys}]\ntext = {text}\n"


def _sentences(text: str) -> list[tuple[int, str]]:
    """(start, sentence) over the paragraphs of `text`."""
    found = []
    for start, paragraph in paragraphs(text):
        begin = 0
        for m in SENTENCE_END.finditer(paragraph):
            found.append((start + begin, paragraph[begin : m.end()]))
            begin = m.end()
        if paragraph[begin:].strip():
            found.append((start + begin, paragraph[begin:]))
    return found


def _runs(sentence: str) -> list[tuple[list[str], bool]]:
    """(words, starts the sentence) for each run of capitalised words in a sentence."""
    runs: list[tuple[list[str], bool]] = []
    current: list[str] = []
    current_initial = False

    def close() -> None:
        while current and current[-1] in PARTICLES:
            current.pop()
        initial = current_initial
        while current and current[0].lower() in STOP_WORDS:
            current.pop(0)
            initial = False
        if current:
            runs.append(([_plain(w) for w in current], initial))
        current.clear()

    initial = True  # the next word starts the sentence, or a quotation in it
    previous_end = 0
    for m in _TOKEN.finditer(sentence):
        between = sentence[previous_end : m.start()]
        if between.strip() and between.strip()[-1] in _OPENERS:
            initial = True
        word = m.group()
        if current and between != " ":
            close()
        if word[0].isupper():
            if not current:
                current_initial = initial
            current.append(word)
        elif current and word in PARTICLES and between == " ":
            current.append(word)
        elif current:
            close()
        initial = False
        previous_end = m.end()
    close()
    return runs


def _plain(word: str) -> str:
    """A word without a possessive ending ("Mirela's" -> "Mirela")."""
    return re.sub(r"['’]s$", "", word)


def suggest_lore(
    text: str, min_mentions: int = 2, limit: int = MAX_SUGGESTIONS
) -> list[LoreSuggestion]:
    """The names `text` mentions at least `min_mentions` times, most mentioned first."""
    sentences = _sentences(text)
    runs = [run for _start, sentence in sentences for run in _runs(sentence)]
    inside = {w for words, initial in runs for i, w in enumerate(words) if i or not initial}
    names: dict[str, None] = {}
    for words, initial in runs:
        if initial and words[0] not in inside:  # "Later Mirela Vask": "Later" is no name
            words = words[1:]
            while words and words[0] in PARTICLES:
                words = words[1:]
        name = " ".join(words)
        if len(name) > 1 and name.lower() not in STOP_WORDS:
            names.setdefault(name, None)
    multi = [n for n in names if " " in n]
    owners: dict[str, list[str]] = {}
    for name in multi:
        for word in name.split(" "):
            if word.lower() not in PARTICLES:
                owners.setdefault(word, []).append(name)
    body = "\n".join(s for _, s in sentences)
    keys: dict[str, list[str]] = {n: [n] for n in multi}
    for name in names:
        if " " in name:
            continue
        homes = owners.get(name, [])
        if len(homes) == 1:
            keys[homes[0]].append(name)
        elif not homes:
            keys[name] = [name]
    suggestions = []
    for name, aliases in keys.items():
        pattern = re.compile(
            r"(?<!\w)(?:"
            + "|".join(re.escape(k) for k in sorted(aliases, key=len)[::-1])
            + r")(?!\w)"
        )
        mentions = len(pattern.findall(body))
        if mentions < min_mentions:
            continue
        start, sentence = next(((s, t) for s, t in sentences if pattern.search(t)), (0, name))
        intro = " ".join(sentence.split())
        if len(intro) > MAX_TEXT_CHARS:
            intro = intro[:MAX_TEXT_CHARS].rsplit(" ", 1)[0] + " …"
        suggestions.append(LoreSuggestion(name, tuple(aliases), mentions, intro, start))
    suggestions.sort(key=lambda s: (-s.mentions, s.start, s.name))
    return suggestions[:limit]


def lorebook_toml(suggestions: list[LoreSuggestion]) -> str:
    """The suggestions as one lorebook file (blocks separated by blank lines)."""
    return "\n".join(s.to_toml() for s in suggestions)
