"""SQLite's SQL on a psycopg connection: the store's parts write one text with SQLite's
placeholders for both databases (``store.base``'s helpers give the words the two spell
differently), and this module turns it into psycopg's.

``pg_sql`` rewrites the text; ``PgConn`` is a psycopg connection with the two methods of a
``sqlite3.Connection`` the feed pass and story assignment use (``execute`` returning a
cursor to fetch from, ``executemany``). Errors are psycopg's, unchanged: the writer relies
on them (a deadlock is retried). Nothing here opens, pools or commits connections.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _outside_literals(text: str) -> str:
    return _NAMED.sub(r"%(\1)s", text.replace("%", "%%").replace("?", "%s"))


@lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """SQLite's parameter style in psycopg's: ``?`` becomes ``%s``, ``:name`` becomes
    ``%(name)s`` and a ``%`` is doubled (psycopg reads it as a placeholder's start); inside
    string literals only the ``%`` changes."""
    out: list[str] = []
    pos = 0
    for literal in _LITERAL.finditer(sql):
        out += [_outside_literals(sql[pos:literal.start()]),
                literal.group().replace("%", "%%")]
        pos = literal.end()
    out.append(_outside_literals(sql[pos:]))
    return "".join(out)


Params = Sequence[Any] | Mapping[str, Any]


class PgConn:
    """A psycopg connection (inside its caller's transaction) spoken to as a
    ``sqlite3.Connection``: ``execute`` gives the psycopg cursor (``fetchone``,
    ``fetchall``, iteration, ``rowcount``), ``executemany`` runs a statement per row."""

    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> Any:
        return self.conn.execute(pg_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        rows = list(rows)
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(pg_sql(sql), rows)
