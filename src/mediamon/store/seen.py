"""Which items the database has seen, and with what content: the queries a parse worker
makes (``SeenReader``, its own read-only connection), shared with ``Store.seen_hashes`` and
``Store.seen_raw``.

Kept apart from ``store.sqlite`` so that a worker loads the standard ``sqlite3`` module and
this, not sqlite-utils and the whole store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def seen_hashes(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    return {item_id: content_hash for item_id, content_hash in _seen_rows(
        conn, "id, content_hash", "id", ids)}


def seen_raw(conn: sqlite3.Connection, digests: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Entry digest -> (item id, content hash), for the digests stored (``seen.raw``:
    ``core.normalise.entry_digest`` of the entry that gave the row its content hash)."""
    return {raw: (item_id, content_hash) for raw, item_id, content_hash in _seen_rows(
        conn, "raw, id, content_hash", "raw", digests)}


def _seen_rows(conn: sqlite3.Connection, columns: str, key: str,
               values: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """``columns`` of the seen rows whose ``key`` is one of ``values``, 500 a query."""
    for start in range(0, len(values), 500):
        chunk = list(values[start : start + 500])
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(f"SELECT {columns} FROM seen WHERE {key} IN ({marks})", chunk)


class SeenReader:
    """``Store.seen_hashes`` for a parse worker: its own read-only connection, opened at
    the first question, and no migration check (the daemon's Store did that). Any
    database trouble answers "nothing known": the items are then processed in full, which
    is always correct, only slower."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None

    def __call__(self, ids: Sequence[str]) -> dict[str, str]:
        return self._ask(seen_hashes, ids)

    def raw(self, digests: Sequence[str]) -> dict[str, tuple[str, str]]:
        """``seen_raw``: nothing known on a database without ``seen.raw`` (the entries are
        then normalised in full)."""
        return self._ask(seen_raw, digests)

    def _ask(self, query: Callable[[sqlite3.Connection, Sequence[str]], dict[str, T]],
             keys: Sequence[str]) -> dict[str, T]:
        if not keys:
            return {}
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            return query(self._conn, keys)
        except sqlite3.Error:
            self._conn = None
            return {}
