"""`python -m writer`, except that every save to the drafts store fails as on a full disk once
the file named by WRITER_TEST_DISK_FULL exists (for the signal tests: no real full disk)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from writer.store import DraftStore, StoreWriteError


def _failing(real):
    def save(self, *args, **kwargs):
        if Path(os.environ["WRITER_TEST_DISK_FULL"]).exists():
            raise StoreWriteError(
                f"cannot save to the drafts database {self.path}: the disk is full; free some "
                "space or make the data folder writable"
            )
        return real(self, *args, **kwargs)

    return save


if __name__ == "__main__":
    DraftStore.save_text = _failing(DraftStore.save_text)
    DraftStore.save_revision = _failing(DraftStore.save_revision)
    from writer.cli import main

    raise SystemExit(main(sys.argv[1:]))
