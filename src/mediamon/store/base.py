"""What the parts of the SQLite store share: the database handle and its transaction.

``sqlite.Store`` is assembled from parts, one module each (``alerts``, ``exchange``,
``retention``, ``labels``, ``stats``), each a class of methods over ``self.db`` that derives
from ``SQLiteBase``; ``Store`` opens the file, migrates it and derives from all of them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any


def _import_without_array_types() -> None:
    """Import sqlite_utils without its optional numpy and pandas column types.

    sqlite_utils imports numpy (and pandas) when installed, only to map their scalar types
    to column types; mediamon never stores such values, and numpy alone took about 90 ms of
    every command's start (more than ``mediamon items`` spends in SQLite). They are hidden
    while sqlite_utils is imported and visible again afterwards, so other code that needs
    numpy still imports it.
    """
    if "sqlite_utils.db" in sys.modules:
        return
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail
    try:
        import sqlite_utils.db  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


_import_without_array_types()

import sqlite_utils as sqlite_utils  # noqa: E402  (after the import above; store.sqlite uses it)
from sqlite_utils.migrations import Migrations as Migrations  # noqa: E402

# A value SQLite stores or returns (BLOBs aside): what query parameters and rows hold.
SQLValue = str | int | float | None


class SQLiteBase:
    """The attributes and the transaction every part of the store relies on."""

    db: sqlite_utils.Database
    path: Path
    readonly: bool
    # "postgresql" on ``store.postgres.read.PostgresReading``, whose ``db`` runs this SQL
    # on PostgreSQL; ``store.query`` hands its reading there.
    dialect = "sqlite"

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction (see ``Store.transaction``)."""
        raise NotImplementedError


# -- SQL that SQLite and PostgreSQL spell differently --------------------------------------
# The store's parts write one text for both databases (``store.postgres.read`` runs it on
# PostgreSQL); where the two need different words, these give each its own, by ``dialect``
# (``SQLiteBase.dialect``). Each gives the same values on both.


def json_list_sql(dialect: str, column: str, select: str) -> str:
    """A scalar subquery: the values of ``column`` of the rows of ``select``, in their
    order, as a JSON list (text)."""
    if dialect == "postgresql":
        return f"(SELECT coalesce(json_agg({column}), '[]')::text FROM ({select}) AS listed)"
    return f"(SELECT json_group_array({column}) FROM ({select}) AS listed)"


def json_object_sql(dialect: str, key: str, value: str) -> str:
    """An aggregate: a JSON object (text) of ``key`` to ``value`` (JSON text) of its rows;
    NULL for no row on PostgreSQL, ``{}`` on SQLite."""
    if dialect == "postgresql":
        return f"json_object_agg({key}, ({value})::json)::text"
    return f"json_group_object({key}, json({value}))"


def distinct_text_sql(dialect: str, expr: str) -> str:
    """An aggregate: the distinct values of ``expr`` joined with commas (in no set order)."""
    if dialect == "postgresql":
        return f"string_agg(DISTINCT {expr}, ',')"
    return f"group_concat(DISTINCT {expr})"


def id_prefix(column: str, prefix: str) -> tuple[str, list[str]]:
    """SQL (and its parameters) for the values of ``column`` that start with ``prefix``, as
    typed or in lower case (ids are lower-case hex; LIKE ignored case too): one range of
    the column's index each, where ``LIKE 'prefix%'`` read every row (a second and more at
    a million items: SQLite's LIKE is case-insensitive, so it cannot use the index)."""
    variants = list(dict.fromkeys((prefix, prefix.lower())))
    clause = " OR ".join(f"({column} >= ? AND {column} < ?)" for _ in variants)
    return f"({clause})", [bound for p in variants for bound in (p, p + "\U0010ffff")]


def among(dialect: str, column: str, values: Sequence[SQLValue],
          size: int = 500) -> Iterator[tuple[str, list[Any]]]:
    """SQL (with ``?`` placeholders) for the rows whose ``column`` is one of ``values``, and
    its parameters: on SQLite one ``IN (?, ...)`` per ``size`` values (its limit on
    parameters), on PostgreSQL one ``= ANY(?)`` over an array; nothing for no value."""
    values = list(values)
    if dialect == "postgresql":
        if values:
            yield f"{column} = ANY(?)", [values]
        return
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield f"{column} IN ({','.join('?' * len(chunk))})", chunk
