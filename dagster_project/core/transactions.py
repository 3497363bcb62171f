"""Write transactions on the warehouse, retried when a concurrent writer got there first.

DuckDB reports two open transactions writing the same row (the audit chain head, a lock row, a new key)
as a `TransactionException` ("Conflict on update") or a `ConstraintException` ("Duplicate key"). Such a
transaction has rolled back; running it again from the start, with fresh reads, is the correct answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

import duckdb

WRITE_ATTEMPTS = 30
RETRY_PAUSE_SECONDS = 0.25
"""The longest random pause between attempts; pauses start at a few milliseconds and double."""

T = TypeVar("T")


def is_write_conflict(error: BaseException) -> bool:
    message = str(error).lower()
    return isinstance(error, duckdb.TransactionException | duckdb.ConstraintException) and (
        "conflict" in message or "duplicate key" in message
    )


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed if the block finishes, rolled back if it raises."""
    connection.execute("begin transaction")
    try:
        yield
        connection.execute("commit")
    except BaseException:
        with suppress(duckdb.TransactionException):  # a failed commit has rolled back already
            connection.execute("rollback")
        raise


def retry_on_conflict(work: Callable[[], T], attempts: int = WRITE_ATTEMPTS) -> T:
    """Run `work` (which opens and closes its own transaction) again while it loses to a concurrent writer."""
    attempt = 1
    while True:
        try:
            return work()
        except Exception as error:
            if attempt >= attempts or not is_write_conflict(error):
                raise
        time.sleep(random.uniform(0, min(RETRY_PAUSE_SECONDS, 0.002 * 2**attempt)))
        attempt += 1
