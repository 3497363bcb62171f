"""Rewriting the warehouse into a fresh file, so deleted rows leave no copy in the file's free blocks.

DuckDB reuses freed blocks but never clears them: after a delete and a checkpoint, erased values stay
readable in the file's bytes. `rewrite_warehouse` copies the live database into a new file next to it
(`COPY FROM DATABASE`), flushes it to disk and renames it over the old one, all while holding the old
file's write lock, so no other process can write to the old file in between and lose its writes. A crash
before the rename leaves the old file complete (and a stale temporary file, removed by the next rewrite);
after it, the new one. The old file's blocks are then overwritten with zeros before they are released.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dagster_project.core.warehouse import DEFAULT_LOCK_TIMEOUT_SECONDS, open_warehouse

_ZEROS = bytes(1 << 20)


@dataclass(frozen=True)
class RewriteResult:
    bytes_before: int
    bytes_after: int
    seconds: float


def rewrite_path(path: Path) -> Path:
    """The temporary file a rewrite of `path` writes to (hidden, beside it, so the rename stays on one disk)."""
    return path.with_name(f".{path.name}.rewrite")


def _remove_temporary(path: Path) -> None:
    temporary = rewrite_path(path)
    for leftover in (temporary, temporary.with_name(f"{temporary.name}.wal")):
        leftover.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _overwrite_with_zeros(handle: BinaryIO, size: int) -> None:
    """Zero an unlinked file through a handle opened before the rename (nobody else can open it any more)."""
    handle.seek(0)
    remaining = size
    while remaining > 0:
        remaining -= handle.write(_ZEROS[: min(remaining, len(_ZEROS))])
    handle.flush()
    os.fsync(handle.fileno())


def rewrite_warehouse(path: Path, *, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> RewriteResult:
    """Replace the warehouse file by a fresh copy of its live data; raises `WarehouseBusyError` (having changed
    nothing) if another process keeps the file open longer than `lock_timeout_seconds`."""
    path = Path(path)
    started = time.monotonic()
    temporary = rewrite_path(path)
    with open_warehouse(path, lock_timeout_seconds=lock_timeout_seconds) as connection:
        # Holding the write lock: a leftover of a crashed rewrite is ours to remove.
        _remove_temporary(path)
        connection.execute("checkpoint")  # nothing of the old file may wait in its WAL, which keeps its name
        bytes_before = path.stat().st_size
        (catalog,) = connection.execute("select current_database()").fetchone()
        old = path.open("r+b")
        try:
            try:
                connection.execute("attach ? as surgewise_rewrite", [str(temporary)])
                connection.execute(f'copy from database "{catalog}" to surgewise_rewrite')
                connection.execute("detach surgewise_rewrite")  # checkpoints and closes the new file
                if temporary.with_name(f"{temporary.name}.wal").exists():
                    raise RuntimeError(f"rewrite of {path} left a WAL beside the new file; the old file is kept")
                _fsync(temporary)
                os.replace(temporary, path)
            except BaseException:
                connection.execute("detach database if exists surgewise_rewrite")
                _remove_temporary(path)
                raise
            _fsync(path.parent)
            connection.close()
            _overwrite_with_zeros(old, bytes_before)
        finally:
            old.close()
    return RewriteResult(bytes_before, path.stat().st_size, time.monotonic() - started)
