"""The store's part for export and import of items (JSON Lines, CSV, Atom): its SQL, as methods
of ``sqlite.Store``.

Reads every stored column of items with their topic matches and the feeds they came through
(``export_item_batches``, ``item_topic_terms``, ``item_feed_links``), the HTML of items for
feeds and reports (``item_html_rows``), and writes imported items back with their feeds,
topics, ``seen`` row and story. What goes in a record, its format and the import's counts are
``desk.export``'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypedDict

from mediamon.clock import utc_iso
from mediamon.core.stories import Decision, Fingerprint, StorySettings
from mediamon.store import stories as story_store
from mediamon.store.base import SQLiteBase, SQLValue

"""A value as SQLite gives it back or takes it (items hold no blobs)."""

# Items columns written to and read from an export, in order (feed_id is replaced by the
# feed's URL: ids differ between databases).
EXPORT_COLUMNS = (
    "id", "guid", "url", "canonical_url", "title", "summary", "content", "summary_html",
    "content_html", "authors", "categories", "published", "published_from_feed", "updated",
    "first_seen", "last_seen", "language", "content_hash", "kept", "score", "similarity",
    "topics", "explanation", "dedup_key", "language_declared",
)


# What ``ExchangeStore.indexes_deferred`` drops while a large import writes.
IMPORT_DEFERRED_INDEXES = (
    "items_published", "items_kept_published", "items_canonical_url", "items_feed",
    "items_dedup_key", "item_topics_topic", "item_feeds_feed", "seen_raw",
)


class BadImportRow(Exception):
    """A row of an import batch that the database refused: ``index`` in the batch,
    ``error`` (the database's error, or its message)."""

    def __init__(self, index: int, error: Exception | str) -> None:
        super().__init__(f"row {index}: {error}")
        self.index = index
        self.error = error


class ItemHTML(TypedDict):
    """An item's HTML and authors, as stored (``item_html_rows``)."""

    id: str
    summary: str
    summary_html: str
    content_html: str
    authors: str  # JSON list


class ExchangeStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for export and import of items (JSON Lines, CSV, Atom)."""

    stories: StorySettings  # the config's [stories], set by ``Store``

    # -- export ---------------------------------------------------------------------------

    def item_html_rows(self, ids: Sequence[str]) -> list[ItemHTML]:
        """The HTML and authors of the items ``ids`` (those that exist), 500 ids a query."""
        found: list[ItemHTML] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"SELECT id, summary, summary_html, content_html, authors FROM items "
                f"WHERE id IN ({marks})", chunk):
                found.append(ItemHTML(id=row["id"], summary=row["summary"],
                                      summary_html=row["summary_html"],
                                      content_html=row["content_html"],
                                      authors=row["authors"]))
        return found

    def export_item_batches(self, *, since: datetime | None = None,
                            kept_only: bool = False,
                            size: int = 500) -> Iterator[list[dict[str, SQLValue]]]:
        """Stored items (published since ``since``; only kept ones with ``kept_only``), oldest
        first, in batches of ``size``: each item's ``EXPORT_COLUMNS`` as stored (JSON columns
        as text, flags as 0/1) and ``feed_url``, the URL of the feed it first came through.

        Lazy: nothing is read before the first batch is asked for.
        """
        clauses: list[str] = []
        params: list[SQLValue] = []
        if since is not None:
            clauses.append("items.published >= ?")
            params.append(utc_iso(since))
        if kept_only:
            clauses.append("items.kept = 1")
        where = " AND ".join(clauses) or "1"
        columns = ", ".join(f"items.{c}" for c in EXPORT_COLUMNS)
        cur = self.db.conn.execute(
            f"SELECT {columns}, feeds.url AS feed_url FROM items JOIN feeds ON feeds.id = "
            f"items.feed_id WHERE {where} ORDER BY items.published, items.id", params)
        names = [d[0] for d in cur.description]
        while batch := cur.fetchmany(size):
            yield [dict(zip(names, values, strict=True)) for values in batch]

    def item_topic_terms(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """``(item_id, topic, terms)`` of the items ``ids`` (at most 500), ``terms`` as
        stored (a JSON list), by item and topic."""
        marks = ",".join("?" * len(ids))
        return [(item_id, topic, terms) for item_id, topic, terms in self.db.conn.execute(
                f"SELECT item_id, topic, terms FROM item_topics WHERE item_id IN ({marks}) "
                f"ORDER BY item_id, topic", list(ids))]

    def item_stories(self, ids: Sequence[str]) -> list[tuple[str, str, str | None, float | None]]:
        """``(item_id, story_id, via, similarity)`` of the items ``ids`` (at most 500) that
        have a story: how this database grouped them."""
        marks = ",".join("?" * len(ids))
        return [(item_id, story, via, similarity)
                for item_id, story, via, similarity in self.db.conn.execute(
                f"SELECT item_id, story_id, via, similarity FROM story_items "
                f"WHERE item_id IN ({marks})", list(ids))]

    def any_story(self) -> bool:
        """Whether any stored item has a story (a database imported into for the first time
        has none)."""
        return self.db.conn.execute("SELECT 1 FROM story_items LIMIT 1").fetchone() is not None

    def item_feed_links(self, ids: Sequence[str]) -> list[tuple[str, str, str | None, str]]:
        """``(item_id, feed_url, feed_name, first_seen)`` for every feed the items ``ids`` (at
        most 500) came through, by item, then first sighting, then feed URL."""
        marks = ",".join("?" * len(ids))
        return [(item_id, url, name, first_seen)
                for item_id, url, name, first_seen in self.db.conn.execute(
                f"SELECT item_feeds.item_id, feeds.url, feeds.name, item_feeds.first_seen "
                f"FROM item_feeds JOIN feeds ON feeds.id = item_feeds.feed_id WHERE "
                f"item_feeds.item_id IN ({marks}) ORDER BY item_feeds.item_id, "
                f"item_feeds.first_seen, feeds.url", list(ids))]

    # -- import ---------------------------------------------------------------------------

    def feed_id_for_url(self, url: str) -> int | None:
        """The id of the feed stored with this URL, or None."""
        row = self.db.conn.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()
        return None if row is None else int(row[0])

    def add_imported_feed(self, url: str, name: str | None, *,
                          now: datetime) -> tuple[int, bool]:
        """Add a feed an import names, inactive (origin ``db``): its id, and whether it
        was added here (on PostgreSQL another writer may have added it first: then its id
        and False)."""
        # Not polled: the analyst imported items, not a subscription.
        row = self.db.conn.execute(
            "INSERT INTO feeds (url, name, origin, active, added) VALUES "
            "(?, ?, 'db', 0, ?) ON CONFLICT (url) DO NOTHING RETURNING id",
            [url, name, utc_iso(now) or ""]).fetchone()
        if row is None:
            known = self.feed_id_for_url(url)
            assert known is not None  # the conflict was with a stored row
            return known, False
        return int(row[0]), True

    # -- bulk import: one statement per batch, not per item --------------------------------

    def holds_fewer_items(self, than: int) -> bool:
        held = self.db.conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM items LIMIT ?)", [than]).fetchone()[0]
        return int(held) < than

    @contextmanager
    def indexes_deferred(self) -> Iterator[None]:
        """Inside the import's transaction: the indexes no step of an import reads (it looks
        items up by id, stories by their own tables) dropped, and made again at the end: one
        sorted pass over the rows each, instead of an insert at a random place per row. For
        an import of more than one batch into a database of less than one (``desk.export``).
        SQLite's DDL is transactional: an import that fails gets its indexes back with the
        rollback."""
        conn = self.db.conn
        marks = ",".join("?" * len(IMPORT_DEFERRED_INDEXES))
        saved = conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks}) "
            "ORDER BY name", list(IMPORT_DEFERRED_INDEXES)).fetchall()
        for name, _ in saved:
            conn.execute(f'DROP INDEX "{name}"')
        yield
        for _, sql in saved:
            conn.execute(sql)

    def stored_item_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that are stored (500 ids a query)."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.conn.execute(
                f"SELECT id FROM items WHERE id IN ({marks})", chunk))
        return found

    def insert_exported_items(self, rows: Sequence[Sequence[SQLValue]]) -> list[int | None]:
        """Insert items, each row ``(feed_id, *EXPORT_COLUMNS values)`` as stored, in one
        statement; returns their rowids in order, for ``index_items``. Call inside the
        import's write transaction (the rowids are given, after the largest stored one).
        SQLite's one writer inserts every row it is given; on PostgreSQL
        (``postgres.exchange``) a row another writer stored first gives None.

        Raises:
            BadImportRow: a row SQLite refuses (NOT NULL, type, uniqueness), with its index;
                nothing of the batch is left inserted.
        """
        if not rows:
            return []
        conn = self.db.conn
        start = int(conn.execute("SELECT coalesce(max(rowid), 0) FROM items").fetchone()[0]) + 1
        rowids = list(range(start, start + len(rows)))
        columns = ", ".join(("rowid", "feed_id", *EXPORT_COLUMNS))
        marks = ", ".join("?" * (len(EXPORT_COLUMNS) + 2))
        sql = f"INSERT INTO items ({columns}) VALUES ({marks})"
        conn.execute("SAVEPOINT mediamon_import_batch")
        try:
            conn.executemany(sql, [(rowid, *row) for rowid, row in zip(rowids, rows,
                                                                        strict=True)])
        except sqlite3.Error:
            # Find the row to name it: one at a time from the batch's start.
            conn.execute("ROLLBACK TO mediamon_import_batch")
            for index, (rowid, row) in enumerate(zip(rowids, rows, strict=True)):
                try:
                    conn.execute(sql, (rowid, *row))
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK TO mediamon_import_batch")
                    conn.execute("RELEASE mediamon_import_batch")
                    raise BadImportRow(index, exc) from None
            conn.execute("RELEASE mediamon_import_batch")
            raise
        conn.execute("RELEASE mediamon_import_batch")
        return [*rowids]

    def add_imported_links(self, feeds: Sequence[tuple[str, int, str]],
                           topics: Sequence[tuple[str, str, str]],
                           seen: Sequence[tuple[str, int, str, str]]) -> None:
        """The feeds, topics and ``seen`` rows of a batch of imported items, three statements:
        ``feeds`` (item_id, feed_id, first_seen) and ``seen`` (item_id, feed_id,
        content_hash, first_seen) are kept as they are where they exist; ``topics`` (item_id,
        topic, terms as a JSON list)."""
        conn = self.db.conn
        conn.executemany("INSERT OR IGNORE INTO item_feeds (item_id, feed_id, first_seen) "
                         "VALUES (?, ?, ?)", feeds)
        conn.executemany("INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, ?)",
                         topics)
        conn.executemany("INSERT OR IGNORE INTO seen (id, feed_id, content_hash, first_seen) "
                         "VALUES (?, ?, ?, ?)", seen)

    def feed_outlet(self, feed_id: int, canonical_url: str | None) -> str | None:
        """The outlet of an item of this feed (``stories.outlet_for``): the site of its
        canonical URL, else of the feed's site or URL, else the feed's name."""
        site = story_store.outlet_for(canonical_url)
        if site is not None:
            return site
        site_url, feed_url, name = self.db.conn.execute(
            "SELECT site_url, url, name FROM feeds WHERE id = ?", [feed_id]).fetchone()
        return story_store.outlet_for(None, site_url, feed_url, name)

    def assign_story(self, *, item_id: str, title: str, summary: str, published: datetime,
                     outlet: str | None, stamp: str,
                     fp: Fingerprint | None = None, carried: Decision | None = None) -> None:
        """Put a stored item into its story (``stories.assign`` with this store's settings;
        ``carried``: the story an export gave it, see there)."""
        story_store.assign(self.db.conn, item_id=item_id, title=title, summary=summary,
                           published=published, outlet=outlet, settings=self.stories,
                           stamp=stamp, fp=fp, carried=carried)
