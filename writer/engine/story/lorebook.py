"""Lorebook (world info) entries and the lorebook file: `[[entry]]` tables with keys, text, and
optional always, regex and priority. Which entries go into a request is context.py's business;
this module only says what an entry is and reads the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writer.errors import WriterError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

MAX_ENTRIES = 200


@dataclass(frozen=True)
class LoreEntry:
    """A lorebook (world info) entry: `text` goes in when one of `keys` appears near the end.

    Plain keys match whole words, ignoring case; with `regex` each key is an RE2 regular
    expression (also ignoring case unless it says `(?-i:...)`), matched in linear time, so no
    key can stall generation. `always` entries need no key.
    """

    keys: tuple[str, ...] = ()
    text: str = ""
    always: bool = False
    regex: bool = False
    priority: int = 0

    def __post_init__(self) -> None:
        keys = (self.keys,) if isinstance(self.keys, str) else self.keys
        if not isinstance(keys, (list, tuple)) or not all(
            isinstance(k, str) and k.strip() for k in keys
        ):
            raise WriterError(f"lorebook keys must be a list of non-empty texts; got {keys!r}")
        object.__setattr__(self, "keys", tuple(keys))
        if not isinstance(self.text, str) or not self.text.strip():
            raise WriterError("lorebook entry needs a non-empty text")
        if not isinstance(self.always, bool) or not isinstance(self.regex, bool):
            raise WriterError("lorebook always and regex must be true or false")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise WriterError(f"lorebook priority must be a whole number; got {self.priority!r}")
        if not self.keys and not self.always:
            raise WriterError("lorebook entry needs keys or always = true")
        patterns = []
        for key in self.keys:
            if self.regex:
                patterns.append(_compile_regex_key(key))
            else:  # an escaped word: no nested repeats, so Python's re stays linear here
                patterns.append(re.compile(rf"(?<!\w){re.escape(key.strip())}(?!\w)", re.I))
        object.__setattr__(self, "_patterns", tuple(patterns))

    def trigger(self, text: str) -> str | None:
        """Why this entry applies to `text` ("always" or the key found), or None."""
        if self.always:
            return "always"
        for key, pattern in zip(self.keys, self._patterns, strict=True):  # type: ignore[attr-defined]
            if pattern.search(text):
                return key
        return None

    def to_dict(self) -> dict[str, Any]:
        """The lorebook file's shape: keys, text, and the optional fields when set."""
        data: dict[str, Any] = {"keys": list(self.keys), "text": self.text}
        if self.always:
            data["always"] = True
        if self.regex:
            data["regex"] = True
        if self.priority:
            data["priority"] = self.priority
        return data


def _compile_regex_key(key: str) -> Any:
    """A regex key compiled with RE2: linear-time matching whatever the pattern, unlike Python's
    backtracking re, where `(a+)+$` against 34 a's and a '!' runs for minutes. RE2 has no
    backreferences or lookarounds; such a key is refused with the reason."""
    import re2  # google-re2

    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the reason goes into our one-line error, not onto stderr
    try:
        return re2.compile(key, options=options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise WriterError(
            f"lorebook key {key!r} is not a valid regex ({reason}); regex keys use RE2 "
            "syntax, without backreferences or lookarounds"
        ) from None


def parse_lorebook(data: Any, source: str = "lorebook") -> tuple[LoreEntry, ...]:
    """Entries from a parsed lorebook file: `{"entry": [{keys, text, always?, regex?,
    priority?}, ...]}`; errors name the entry by its 1-based number."""
    if not isinstance(data, dict) or set(data) - {"entry"}:
        raise WriterError(f"{source}: expected only [[entry]] tables (keys, text, ...)")
    raw = data.get("entry", [])
    if not isinstance(raw, list):
        raise WriterError(f"{source}: entry must be [[entry]] tables")
    entries = []
    allowed = {"keys", "text", "always", "regex", "priority"}
    for number, table in enumerate(raw, 1):
        if not isinstance(table, dict):
            raise WriterError(f"{source}: entry {number} must be a table")
        unknown = set(table) - allowed
        if unknown:
            raise WriterError(
                f"{source}: entry {number} has unknown key {sorted(unknown)[0]!r}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        try:
            entries.append(LoreEntry(**{"keys": (), **table}))
        except WriterError as exc:
            raise WriterError(f"{source}: entry {number}: {exc}") from None
    if len(entries) > MAX_ENTRIES:
        raise WriterError(f"{source}: at most {MAX_ENTRIES} entries; got {len(entries)}")
    return tuple(entries)


def load_lorebook(path: Path) -> tuple[LoreEntry, ...]:
    """A lorebook TOML file (see `parse_lorebook`)."""
    from writer.textfiles import read_text_file

    text = read_text_file(path, purpose="read lorebook")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WriterError(f"lorebook {path} is not valid TOML ({exc}); fix it") from None
    except RecursionError:
        raise WriterError(f"lorebook {path} nests arrays too deeply to read; fix it") from None
    return parse_lorebook(data, f"lorebook {path}")
