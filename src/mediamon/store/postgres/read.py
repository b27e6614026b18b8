"""The analyst's side on PostgreSQL: what ``sqlite.Store`` offers the desk and the CLI
(stories, stats, the report, export, alerts), on the same SQL where it can be one text.

``PostgresReader`` is a ``PostgresStore`` that also derives from the SQLite store's parts
(``store.stories``, ``stats``, ``alerts``, ``exchange``, ``trends``, in ``PostgresReading``)
and gives them a ``db`` that runs their SQL on PostgreSQL (``PgDatabase``: SQLite's ``?``
and ``:name`` placeholders become psycopg's, the rows come back as SQLite's do). The SQL
is one text for both databases: where they spell a thing differently (a JSON list or object
built in SQL, a list of distinct values) the text asks ``store.base``'s helpers for the
words of its ``dialect``. Only the periods of ``stats`` (``_bucket``: ``strftime`` against
``to_char``), ``has_stories`` (SQLite reads its catalogue) and the export's batches (read
through a server-side cursor) are written here.
``store.query``'s listing, search, item and feed health go to ``store.postgres.query``.

Values: PostgreSQL's ``numeric`` (what ``sum`` and ``avg`` give) comes back as ``int`` or
``float``, as SQLite gives them; JSON built in SQL comes back as text, as SQLite's.

What this module does not do: the analyst's writes (labels, rescoring, retention, vacuum)
are ``store.postgres.desk``'s (``PostgresDesk``, another base of ``PostgresReader``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row

from mediamon.clock import utc_iso
from mediamon.errors import StoreError
from mediamon.store.alerts import AlertsStore
from mediamon.store.base import SQLValue
from mediamon.store.exchange import EXPORT_COLUMNS, ExchangeStore
from mediamon.store.feeds import FeedEditing  # feeds remove, feeds edit
from mediamon.store.postgres import query as pg_query
from mediamon.store.postgres.desk import PostgresDesk
from mediamon.store.postgres.exchange import PostgresExchange  # import's writes
from mediamon.store.postgres.sql import pg_sql
from mediamon.store.postgres.store import PostgresStore
from mediamon.store.query import Filters
from mediamon.store.stats import Bucket, StatsStore
from mediamon.store.stories import StoriesStore
from mediamon.store.trends import TrendsStore

# pg_sql (SQLite's placeholders in psycopg's): store.postgres.sql, shared with the writer.


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and \
            value.as_tuple().exponent >= 0 else float(value)  # type: ignore[operator]
    return value


@contextmanager
def one_line_errors(display: str) -> Iterator[None]:
    """A PostgreSQL error (the server gone, a statement refused) as a ``StoreError`` naming
    the database: the CLI prints it in one line, as SQLite's."""
    try:
        yield
    except psycopg.Error as exc:
        raise StoreError(f"{display}: {' '.join(str(exc).split())}") from exc


class Rows:
    """A statement's result, read at once, in the shape of a ``sqlite3.Cursor``:
    ``description`` (``d[0]`` is the column's name), ``fetchone``, ``fetchmany``,
    ``fetchall``, iteration and ``rowcount``."""

    def __init__(self, description: list[tuple[str, ...]] | None,
                 rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.description = description or []
        self._rows = iter(rows)
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return next(self._rows, None)

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        return [row for _, row in zip(range(size), self._rows, strict=False)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self._rows


Params = Sequence[Any] | Mapping[str, Any]


class PgDatabase:
    """The part of ``sqlite_utils.Database`` (and of its ``conn``) that the SQLite store's
    reading SQL uses, on a PostgreSQL connection: ``execute``, ``executemany``, ``query``
    (rows as dicts) and ``conn`` (itself). ``connection()`` gives the connection for a
    statement: the store's transaction's inside one, else a pooled one."""

    def __init__(self, connection: Callable[[], AbstractContextManager[Any]], *,
                 display: str = "PostgreSQL") -> None:
        self._connection = connection
        self.display = display

    @property
    def conn(self) -> PgDatabase:
        return self

    def execute(self, sql: str, params: Params = ()) -> Rows:
        with one_line_errors(self.display), self._connection() as conn, \
                conn.cursor() as cur:
            cur.execute(pg_sql(sql), params)
            if cur.description is None:
                return Rows(None, [], cur.rowcount)
            rows = [tuple(_value(v) for v in row) for row in cur.fetchall()]
            return Rows([(d.name,) for d in cur.description], rows, cur.rowcount)

    def executemany(self, sql: str, params: Iterable[Params]) -> None:
        with one_line_errors(self.display), self._connection() as conn, \
                conn.cursor() as cur:
            cur.executemany(pg_sql(sql), list(params))

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))


def pg_bucket_sql(column: str, by: Bucket) -> str:
    """``store.stats``'s period label of the UTC time in ``column``, in PostgreSQL: the same
    texts (2025-07-03; weeks by their Monday, months by their first day; 2025-07-03T14:00)."""
    when = f"(({column})::timestamptz AT TIME ZONE 'UTC')"
    if by == "week":
        return f"to_char(date_trunc('week', {when}), 'YYYY-MM-DD')"
    if by == "hour":
        return f"to_char({when}, 'YYYY-MM-DD\"T\"HH24:00')"
    return f"to_char({when}, 'YYYY-MM-01')" if by == "month" else \
        f"to_char({when}, 'YYYY-MM-DD')"


class PostgresReading(StoriesStore, StatsStore, AlertsStore, ExchangeStore, TrendsStore):
    """The desk's reading (and alert state) on PostgreSQL: SQLite's store parts on
    ``PgDatabase``, with the statements SQLite alone speaks written again (the methods of
    ``PostgresReader``, below, that are not ``PostgresStore``'s)."""

    dialect = "postgresql"

    # -- store.query: the listing, search, item and feed health -----------------------------

    def read_items(self, filters: Filters) -> list[dict[str, Any]]:
        with one_line_errors(self._pg().display):
            return pg_query.items(self._pg(), filters)

    def read_search(self, text: str, filters: Filters) -> list[dict[str, Any]]:
        with one_line_errors(self._pg().display):
            return pg_query.search(self._pg(), text, filters)

    def read_item(self, item_id: str) -> dict[str, Any] | None:
        with one_line_errors(self._pg().display):
            return pg_query.get_item(self._pg(), item_id)

    def read_feed_health(self, now: datetime | None) -> list[dict[str, Any]]:
        with one_line_errors(self._pg().display):
            return pg_query.feed_health(self._pg(), now=now)

    def _pg(self) -> Any:
        return self  # a PostgresReader, so a PostgresStore

    def _dicts_of(self, sql: str, params: Params) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))  # type: ignore[arg-type]

    # -- articles (store.articles; PostgresStore's PostgresArticles lists them for export) --

    def article_of(self, item_id: str) -> dict[str, Any] | None:
        """As ``store.articles``' (None when its page was never asked for)."""
        with one_line_errors(self._pg().display):
            return pg_query.article_of(self._pg(), item_id)

    # -- stats and the report --------------------------------------------------------------

    def has_stories(self) -> bool:
        return True  # p001 creates them

    def _bucket(self, column: str, by: Bucket) -> str:
        return pg_bucket_sql(column, by)

    # -- export ----------------------------------------------------------------------------

    def export_item_batches(self, *, since: datetime | None = None,
                            kept_only: bool = False,
                            size: int = 500) -> Iterator[list[dict[str, SQLValue]]]:
        """As ``ExchangeStore.export_item_batches``: read through a server-side cursor, so a
        large export is never held in memory whole."""
        clauses: list[str] = []
        params: list[SQLValue] = []
        if since is not None:
            clauses.append("items.published >= %s")
            params.append(utc_iso(since))
        if kept_only:
            clauses.append("items.kept = 1")
        where = " AND ".join(clauses) or "TRUE"
        columns = ", ".join(f"items.{c}" for c in EXPORT_COLUMNS)
        pool = self._pg().pool
        with one_line_errors(self._pg().display), pool.connection() as conn, \
                conn.transaction(), \
                conn.cursor(name="mediamon_export", row_factory=dict_row) as cur:
            cur.execute(f"SELECT {columns}, feeds.url AS feed_url FROM items JOIN feeds ON "
                        f"feeds.id = items.feed_id WHERE {where} "
                        f"ORDER BY items.published, items.id", params)
            while batch := cur.fetchmany(size):
                yield [{k: _value(v) for k, v in row.items()} for row in batch]


class PostgresReader(PostgresStore, PostgresDesk, PostgresExchange, PostgresReading,
                     FeedEditing):
    """A ``PostgresStore`` that the desk and the CLI read as they read a SQLite ``Store``
    (what ``mediamon items``, ``stories``, ``stats``, ``report``, ``export``, ``alerts`` and
    ``status`` open on PostgreSQL). ``PostgresStore`` comes first: its transaction, feeds
    and counts are the ones used."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        # The SQLite store's reading SQL runs on this.
        self.db = cast(Any, PgDatabase(self._conn, display=self.display))
