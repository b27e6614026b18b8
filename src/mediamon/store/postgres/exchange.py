"""`mediamon import` on PostgreSQL: the statements of ``store.exchange.ExchangeStore``'s
import that SQLite alone speaks, written again (a base of ``read.PostgresReader``, before
the SQLite parts, so these are the ones used there).

``desk.export.import_records`` drives both databases the same way: it reads the stored ids
of a batch, inserts the others, then their feeds, topics, ``seen`` rows and stories. On
PostgreSQL another import, or a daemon's pass, may store the same items between that read
and the insert, so nothing rests on the read:

- items are inserted with ``ON CONFLICT (id) DO NOTHING RETURNING id``: a row another
  writer stored first is not inserted, and ``insert_exported_items`` says so (None), so
  the import counts it as already there and writes nothing else for it. An insert that
  meets another transaction's uncommitted row with that id waits for it to end: two
  imports of one file at once store each item once;
- item feeds, topics, ``seen`` rows and articles: ``ON CONFLICT DO NOTHING``;
- feeds: ``store.exchange``'s ``add_imported_feed`` (one text for both) inserts with ``ON
  CONFLICT (url) DO NOTHING``;
- stories: ``store.stories.assign`` on PostgreSQL's dialect, whose membership row is unique
  by item.

The full-text vector of an item is a generated column on PostgreSQL, so ``index_items``
has nothing to do. What this module does not do: decide anything about the records
(``desk.export``) or read for export (``read.PostgresReading``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from mediamon.core.stories import Decision, Fingerprint, StorySettings
from mediamon.errors import StoreError
from mediamon.store import stories as story_store
from mediamon.store.articles import ARTICLE_COLUMNS
from mediamon.store.base import SQLValue
from mediamon.store.exchange import EXPORT_COLUMNS, BadImportRow
from mediamon.store.postgres.sql import PgConn

_ID = 1 + EXPORT_COLUMNS.index("id")  # a row of insert_exported_items: feed_id, then these


def _one_line(display: str, exc: psycopg.Error) -> StoreError:
    return StoreError(f"{display}: {' '.join(str(exc).split())}")


class PostgresExchange:
    """The import's writing on PostgreSQL (see the module docstring)."""

    if TYPE_CHECKING:  # provided by PostgresStore
        display: str
        stories: StorySettings

        def transaction(self) -> AbstractContextManager[None]: ...
        def _cx(self) -> psycopg.Connection[Any]: ...

    def holds_fewer_items(self, than: int) -> bool:
        return False  # never defers its indexes (SQLite's ExchangeStore.indexes_deferred)

    @contextmanager
    def indexes_deferred(self) -> Iterator[None]:
        yield

    def insert_exported_items(self, rows: Sequence[Sequence[SQLValue]]) -> list[int | None]:
        """As ``ExchangeStore.insert_exported_items``: per row, 0 when it was inserted (no
        rowid: PostgreSQL indexes it by itself), None when another writer had stored that
        item first (it is left as that one stored it).

        Raises:
            BadImportRow: a row PostgreSQL refuses (NOT NULL, a type), with its index;
                nothing of the batch is left inserted.
        """
        if not rows:
            return []
        columns = ", ".join(("feed_id", *EXPORT_COLUMNS))
        marks = ", ".join(["%s"] * (len(EXPORT_COLUMNS) + 1))
        sql = (f"INSERT INTO items ({columns}) VALUES ({marks}) "
               f"ON CONFLICT (id) DO NOTHING RETURNING id")
        conn = self._cx()
        inserted: set[str] = set()
        try:
            with conn.transaction(), conn.cursor() as cur:  # a savepoint
                cur.executemany(sql, rows, returning=True)
                while True:
                    inserted.update(row[0] for row in cur.fetchall())
                    if not cur.nextset():
                        break
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise self._refused(conn, sql, rows, exc) from None
        except psycopg.Error as exc:
            raise _one_line(self.display, exc) from exc
        return [0 if row[_ID] in inserted else None for row in rows]

    def _refused(self, conn: psycopg.Connection[Any], sql: str,
                 rows: Sequence[Sequence[SQLValue]], exc: psycopg.Error) -> Exception:
        """The first row of ``rows`` PostgreSQL refuses, found one row at a time in a
        savepoint that is then rolled back (``BadImportRow``); ``exc`` if none is."""
        found: Exception = _one_line(self.display, exc)
        with conn.transaction(force_rollback=True):
            for index, row in enumerate(rows):
                try:
                    with conn.transaction():
                        conn.execute(sql, row)
                except psycopg.Error as bad:
                    found = BadImportRow(index, bad.diag.message_primary or str(bad))
                    break
        return found

    def add_imported_links(self, feeds: Sequence[tuple[str, int, str]],
                           topics: Sequence[tuple[str, str, str]],
                           seen: Sequence[tuple[str, int, str, str]]) -> None:
        """As ``ExchangeStore.add_imported_links``: rows already there are kept as they
        are; a feed or ``seen`` row with a missing value is left out (as SQLite's ``INSERT
        OR IGNORE`` leaves it)."""
        conn = self._cx()
        try:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO item_feeds (item_id, feed_id, first_seen) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [row for row in feeds if None not in row])
                cur.executemany(
                    "INSERT INTO item_topics (item_id, topic, terms) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING", topics)
                cur.executemany(
                    "INSERT INTO seen (id, feed_id, content_hash, first_seen) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    [row for row in seen if None not in row])
        except psycopg.Error as exc:
            raise _one_line(self.display, exc) from exc

    def import_articles(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """As ``ArticlesStore.import_articles``: an article already stored is kept."""
        values = [[item_id, *(row.get(c) for c in ARTICLE_COLUMNS)] for item_id, row in rows
                  if row.get("status") and row.get("url") and row.get("fetched_at")]
        if not values:
            return
        marks = ", ".join(["%s"] * (len(ARTICLE_COLUMNS) + 1))
        try:
            with self._cx().cursor() as cur:
                cur.executemany(
                    f"INSERT INTO articles (item_id, {', '.join(ARTICLE_COLUMNS)}) "
                    f"VALUES ({marks}) ON CONFLICT (item_id) DO NOTHING", values)
        except psycopg.Error as exc:
            raise _one_line(self.display, exc) from exc

    def assign_story(self, *, item_id: str, title: str, summary: str, published: datetime,
                     outlet: str | None, stamp: str,
                     fp: Fingerprint | None = None, carried: Decision | None = None) -> None:
        """As ``ExchangeStore.assign_story``, with PostgreSQL's story assignment (the
        story's counters updated at once: an import is one long transaction, and a list
        of changes kept for its commit would be counted again at every member)."""
        try:
            story_store.assign(PgConn(self._cx()), item_id=item_id, title=title,
                               summary=summary, published=published, outlet=outlet,
                               settings=self.stories, stamp=stamp, fp=fp,
                               dialect="postgresql", carried=carried)
        except psycopg.Error as exc:
            raise _one_line(self.display, exc) from exc

    def index_items(self, rowids: Sequence[int]) -> None:
        """Nothing to do: an item's ``search`` vector is generated as it is stored."""
