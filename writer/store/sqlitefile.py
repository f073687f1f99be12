"""Reading an SQLite database file without SQLite's help: the pages with the WAL applied, and
the rows on every table leaf page.

Two jobs need it. Reading a database in a folder where nothing can be written (a read-only
mount, a full disk): SQLite then cannot make the -shm index it needs for WAL mode, and
`immutable=1` would ignore the saves still in the -wal. And salvaging a damaged database page by
page, when a broken interior page hides every row below it from SQLite. The format is SQLite's
documented file format (https://www.sqlite.org/fileformat2.html); only UTF-8 databases (what
writer creates) are decoded.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = b"SQLite format 3\x00"
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)
_MAX_COLUMNS = 200


def _wal_checksum(data: bytes, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def committed_wal_pages(wal: bytes) -> tuple[int, dict[int, bytes], int]:
    """(page size, {page number: newest committed image}, database size in pages after the
    last commit) from a WAL file; frames after a bad checksum or salt are ignored, as SQLite
    ignores them. (0, {}, 0) for an empty or invalid WAL."""
    if len(wal) < 32:
        return 0, {}, 0
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", wal[:32])
    if magic not in _WAL_MAGIC or page_size not in _PAGE_SIZES:
        return 0, {}, 0
    big = magic & 1 == 1
    s = _wal_checksum(wal[:24], 0, 0, big)
    if s != (c1, c2):
        return 0, {}, 0
    committed: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    db_pages = 0
    frame = 24 + page_size
    for offset in range(32, len(wal) - frame + 1, frame):
        pgno, commit, f1, f2, k1, k2 = struct.unpack(">6I", wal[offset : offset + 24])
        page = wal[offset + 24 : offset + frame]
        if (f1, f2) != (salt1, salt2) or pgno == 0:
            break
        s = _wal_checksum(wal[offset : offset + 8], *s, big)
        s = _wal_checksum(page, *s, big)
        if s != (k1, k2):
            break
        pending[pgno] = page
        if commit:
            committed.update(pending)
            pending.clear()
            db_pages = commit
    return page_size, committed, db_pages


def page_size_of(image: bytes) -> int:
    """The page size in the header, or 0 when the header is unreadable."""
    if len(image) < 100 or not image.startswith(HEADER):
        return 0
    size = struct.unpack(">H", image[16:18])[0]
    size = 65536 if size == 1 else size
    return size if size in _PAGE_SIZES else 0


def database_image(path: Path) -> bytes:
    """The database's bytes as SQLite would see them: the file with the committed pages of its
    -wal applied, switched to rollback-journal mode so the image opens anywhere (in memory, a
    temp file) without a -wal or -shm. Raises OSError if the file cannot be read."""
    image = bytearray(path.read_bytes())
    try:
        wal = Path(f"{path}-wal").read_bytes()
    except OSError:
        wal = b""
    page_size, pages, db_pages = committed_wal_pages(wal)
    if pages and (page_size_of(bytes(image[:100])) in (0, page_size)):
        for pgno, page in pages.items():
            start = (pgno - 1) * page_size
            if len(image) < start + page_size:
                image.extend(b"\x00" * (start + page_size - len(image)))
            image[start : start + page_size] = page
        if db_pages:
            del image[db_pages * page_size :]
    if image.startswith(HEADER) and len(image) >= 100:
        image[18:20] = b"\x01\x01"  # no WAL: what we hand on is complete in itself
    return bytes(image)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for k in range(8):
        byte = buf[i + k]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + k + 1
    return (value << 8) | buf[i + 8], i + 9


_FIXED = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 8, 8: 0, 9: 0}


def decode_record(payload: bytes) -> tuple[list[object], bool]:
    """Column values of a record, and whether all of them were complete. A record cut short
    (its overflow chain broken) yields the columns that fit, the last text cut at the break."""
    header_size, i = _varint(payload, 0)
    if not 0 < header_size <= len(payload):
        raise ValueError("bad record header")
    types: list[int] = []
    while i < header_size:
        serial, i = _varint(payload, i)
        types.append(serial)
        if len(types) > _MAX_COLUMNS:
            raise ValueError("too many columns")
    values: list[object] = []
    pos = header_size
    for serial in types:
        if serial in (10, 11):
            raise ValueError("reserved serial type")
        size = _FIXED[serial] if serial < 12 else (serial - 12) // 2
        raw = payload[pos : pos + size]
        pos += size
        if len(raw) < size:
            if serial >= 13 and serial % 2:
                values.append(raw.decode("utf-8", "ignore"))
            return values, False
        if serial == 0:
            values.append(None)
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial == 7:
            values.append(struct.unpack(">d", raw)[0])
        elif serial < 7:
            values.append(int.from_bytes(raw, "big", signed=True))
        elif serial % 2:
            # writer stores valid UTF-8 without NULs: past either, the text is damaged (a page
            # overwritten or wiped), so it is cut there and the row marked incomplete.
            end = raw.find(b"\0")
            try:
                text = raw[: len(raw) if end < 0 else end].decode("utf-8")
            except UnicodeDecodeError as exc:
                values.append(raw[: exc.start].decode("utf-8"))
                return values, False
            values.append(text)
            if end >= 0:
                return values, False
        else:
            values.append(bytes(raw))
    return values, True


@dataclass(frozen=True)
class LeafRow:
    """One row found on a table leaf page."""

    page: int
    rowid: int
    values: list[object]
    complete: bool
    overflow: tuple[int, ...] = ()  # the overflow pages its payload was read from


def _plausible_btree_page(image: bytes, offset: int, size: int) -> bool:
    """Whether the `size` bytes at `offset` read as a b-tree page of that size: a known page
    type, and a cell count and cell pointers that fit inside the page."""
    head = 100 if offset == 0 else 0
    page = image[offset : offset + size]
    if len(page) < head + 12 or page[head] not in (2, 5, 10, 13):
        return False
    header = 8 if page[head] in (10, 13) else 12
    cells = struct.unpack(">H", page[head + 3 : head + 5])[0]
    start = head + header + 2 * cells
    if start > size:
        return False
    pointers = struct.unpack(f">{cells}H", page[head + header : start])
    return all(start <= ptr < size for ptr in pointers)


def _btree_pages(image: bytes, size: int) -> int:
    """How many pages read as b-tree pages when the file is cut into pages of `size`."""
    return sum(
        _plausible_btree_page(image, off, size) for off in range(0, len(image) - size + 1, size)
    )


def _guess_page_size(image: bytes) -> int:
    """The page size under which the most pages read as b-tree pages. Counting only a page's
    first byte is not enough: every 4096-byte page also starts a 1024-byte one, so a smaller
    size wins as soon as compressed or damaged bytes hold a page type by chance."""
    best, best_count = 4096, -1
    for size in _PAGE_SIZES:  # 4096 first: it wins a tie
        count = _btree_pages(image, size)
        if count > best_count:
            best, best_count = size, count
    return best


def _trusted_page_size(image: bytes) -> int:
    """The header's page size when the pages agree with it, else the guess from the pages (a
    damaged first page can hold a header whose size field is noise)."""
    stated, guessed = page_size_of(image), _guess_page_size(image)
    if stated and stated != guessed and _btree_pages(image, stated) < _btree_pages(image, guessed):
        return guessed
    return stated or guessed


def freelist_pages(image: bytes, page_size: int) -> set[int]:
    """Pages on the freelist (deleted data that must not come back). Empty when the header or
    the list itself does not hold together (a page of the list overwritten, a count that does
    not match the header's): a damaged list must not hide pages that hold drafts."""
    if page_size_of(image) != page_size:
        return set()
    trunk, total = struct.unpack(">II", image[32:40])
    free: set[int] = set()
    pages = len(image) // page_size
    capacity = (page_size - 8) // 4
    while trunk:
        if not 0 < trunk <= pages or trunk in free:
            return set()
        free.add(trunk)
        base = (trunk - 1) * page_size
        trunk, count = struct.unpack(">II", image[base : base + 8])
        if count > capacity:
            return set()
        leaves = struct.unpack(f">{count}I", image[base + 8 : base + 8 + 4 * count])
        if not all(0 < p <= pages for p in leaves):
            return set()
        free.update(leaves)
    return free if len(free) == total else set()


def leaf_rows(image: bytes) -> Iterator[LeafRow]:
    """Every row on every table leaf page that is not on the freelist, page by page; damaged
    pages and cells are skipped, overflow chains followed as far as they go."""
    page_size, usable, pages = _geometry(image)
    free = freelist_pages(image, page_size)
    for pgno in range(1, pages + 1):
        if pgno in free:
            continue
        page = image[(pgno - 1) * page_size : pgno * page_size]
        head = 100 if pgno == 1 else 0
        if len(page) < head + 8 or page[head] != 13:
            continue
        cells = struct.unpack(">H", page[head + 3 : head + 5])[0]
        if head + 8 + 2 * cells > len(page):
            continue
        for k in range(cells):
            ptr = struct.unpack(">H", page[head + 8 + 2 * k : head + 10 + 2 * k])[0]
            try:
                row = _cell(image, page, ptr, pgno, page_size, usable, pages)
            except (IndexError, ValueError, struct.error):
                continue
            if row is not None:
                yield row


def _cell(
    image: bytes, page: bytes, ptr: int, pgno: int, page_size: int, usable: int, pages: int
) -> LeafRow | None:
    if not 8 <= ptr < usable:
        return None
    length, i = _varint(page, ptr)
    rowid, i = _varint(page, i)
    if rowid >= 2**63:
        rowid -= 2**64
    x = usable - 35
    if length <= x:
        local = length
    else:
        m = (usable - 12) * 32 // 255 - 23
        local = m + (length - m) % (usable - 4)
        local = local if local <= x else m
    payload = bytearray(page[i : i + local])
    complete = len(payload) == local
    chain: list[int] = []
    if local < length and complete:
        nxt = struct.unpack(">I", page[i + local : i + local + 4])[0]
        seen: set[int] = set()
        while len(payload) < length:
            if not 0 < nxt <= pages or nxt in seen:
                complete = False
                break
            seen.add(nxt)
            chain.append(nxt)
            over = image[(nxt - 1) * page_size : nxt * page_size]
            if len(over) < usable or not over.strip(b"\0"):
                complete = False  # beyond the end of the file, or a page wiped to zeros
                break
            nxt = struct.unpack(">I", over[:4])[0]
            payload += over[4:usable][: length - len(payload)]
    values, whole = decode_record(bytes(payload[:length]))
    return LeafRow(pgno, rowid, values, complete and whole, tuple(chain))


def _geometry(image: bytes) -> tuple[int, int, int]:
    page_size = _trusted_page_size(image)
    usable = page_size - (image[20] if page_size_of(image) == page_size else 0)
    return page_size, usable, (len(image) + page_size - 1) // page_size


def _not_text(ch: str) -> bool:
    return ch == "\ufffd" or (ch < " " and ch not in "\n\t\r")


def orphan_texts(image: bytes, used: set[int], min_chars: int = 20) -> list[tuple[int, str]]:
    """Text on overflow pages that no readable row leads to (its row's page is lost): each
    chain of such pages, followed by their next-page pointers, as (first page, text) when it
    reads as UTF-8 text. The beginning of such a text (kept on the lost page) is gone."""
    page_size, usable, pages = _geometry(image)
    skip = used | freelist_pages(image, page_size) | {1}
    candidates: dict[int, int] = {}
    for pgno in range(2, pages + 1):
        page = image[(pgno - 1) * page_size : pgno * page_size]
        if pgno in skip or len(page) < usable or page[0] != 0 or not page[4:usable].strip(b"\0"):
            continue
        candidates[pgno] = struct.unpack(">I", page[:4])[0]
    pointed = set(candidates.values())
    texts = []
    for head in sorted(p for p in candidates if p not in pointed):
        data, pgno, seen = bytearray(), head, set()
        while pgno in candidates and pgno not in seen:
            seen.add(pgno)
            data += image[(pgno - 1) * page_size + 4 : (pgno - 1) * page_size + usable]
            pgno = candidates[pgno]
        text = bytes(data).rstrip(b"\0").decode("utf-8", "replace")
        # The last page holds the end of the text, then whatever the page held before: cut
        # at the first byte there that is not text.
        tail = max(0, len(text) - (usable - 4))
        cut = next((i for i in range(tail, len(text)) if _not_text(text[i])), len(text))
        if cut < len(text) and text[cut - 1 : cut] == "A":
            cut -= 1  # 0x41: the first byte of the next column, a save time (a double)
        text = text[:cut]
        bad = sum(1 for ch in text if _not_text(ch))
        if len(text) >= min_chars and bad <= len(text) // 100:
            texts.append((head, text))
    return texts
