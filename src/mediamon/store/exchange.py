"""The store's part for export and import of items (JSON Lines, CSV, Atom): its SQL, as methods
of ``sqlite.Store``.

Reads every stored column of items with their topic matches and the feeds they came through
(``export_item_batches``, ``item_topic_terms``, ``item_feed_links``), the HTML of items for
feeds and reports (``item_html_rows``), and writes imported items back with their feeds,
topics, ``seen`` row and story. What goes in a record, its format and the import's counts are
``desk.export``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TypedDict

from mediamon.clock import utc_iso
from mediamon.core.stories import StorySettings
from mediamon.store import stories as story_store
from mediamon.store.base import SQLiteBase, SQLValue

"""A value as SQLite gives it back or takes it (items hold no blobs)."""

# Items columns written to and read from an export, in order (feed_id is replaced by the
# feed's URL: ids differ between databases).
EXPORT_COLUMNS = (
    "id", "guid", "url", "canonical_url", "title", "summary", "content", "summary_html",
    "content_html", "authors", "categories", "published", "published_from_feed", "updated",
    "first_seen", "last_seen", "language", "content_hash", "kept", "score", "similarity",
    "topics", "explanation", "dedup_key",
)


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

    def item_exists(self, item_id: str) -> bool:
        """Whether an item with this id is stored."""
        return self.db.conn.execute(
            "SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone() is not None

    def feed_id_for_url(self, url: str) -> int | None:
        """The id of the feed stored with this URL, or None."""
        row = self.db.conn.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()
        return None if row is None else int(row[0])

    def add_imported_feed(self, url: str, name: str | None, *, now: datetime) -> int:
        """Add a feed an import names, inactive (origin ``db``); returns its id."""
        # Not polled: the analyst imported items, not a subscription.
        cur = self.db.conn.execute(
            "INSERT INTO feeds (url, name, origin, active, added) VALUES "
            "(?, ?, 'db', 0, ?)", [url, name, utc_iso(now) or ""])
        return int(cur.lastrowid or 0)

    def insert_exported_item(self, feed_id: int, values: Sequence[SQLValue]) -> int:
        """Insert one item: ``values`` are its ``EXPORT_COLUMNS`` in order, as stored (JSON
        columns as text, flags as 0/1). Returns its rowid, for ``index_items``.

        Raises:
            sqlite3.Error: a NOT NULL, type or uniqueness problem in ``values``.
        """
        columns = ", ".join(("feed_id", *EXPORT_COLUMNS))
        marks = ", ".join("?" * (len(EXPORT_COLUMNS) + 1))
        cursor = self.db.conn.execute(f"INSERT INTO items ({columns}) VALUES ({marks})",
                                      [feed_id, *values])
        return int(cursor.lastrowid or 0)

    def add_item_feed(self, item_id: str, feed_id: int, first_seen: str) -> None:
        """Record that an item came through a feed (kept as it is if already recorded)."""
        self.db.conn.execute("INSERT OR IGNORE INTO item_feeds (item_id, feed_id, first_seen) "
                             "VALUES (?, ?, ?)", [item_id, feed_id, first_seen])

    def add_item_topic(self, item_id: str, topic: str, terms: str) -> None:
        """Store one topic an item matched; ``terms`` is a JSON list."""
        self.db.conn.execute("INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, ?)",
                             [item_id, topic, terms])

    def mark_seen(self, item_id: str, feed_id: int, content_hash: str,
                  first_seen: str) -> None:
        """Add an item's ``seen`` row, so polling does not store it again (kept if there)."""
        self.db.conn.execute("INSERT OR IGNORE INTO seen (id, feed_id, content_hash, first_seen) "
                             "VALUES (?, ?, ?, ?)", [item_id, feed_id, content_hash, first_seen])

    def assign_imported_story(self, *, item_id: str, title: str, summary: str,
                              published: datetime, canonical_url: str | None, feed_id: int,
                              stamp: str) -> None:
        """Put an imported item into its story in this database (issue 5): its outlet is the
        site of its canonical URL, else its feed's (``stories.outlet_for``)."""
        site_url, feed_url, name = self.db.conn.execute(
            "SELECT site_url, url, name FROM feeds WHERE id = ?", [feed_id]).fetchone()
        story_store.assign(
            self.db.conn, item_id=item_id, title=title, summary=summary, published=published,
            outlet=story_store.outlet_for(canonical_url, site_url, feed_url, name),
            settings=self.stories, stamp=stamp,
        )
