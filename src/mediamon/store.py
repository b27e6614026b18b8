"""SQLite storage: schema, migrations, and the write side of the pipeline.

One ``Store`` wraps one database file (sqlite-utils over the standard ``sqlite3`` module):
WAL journal so readers never block the writer, a busy timeout so a reader that arrives
mid-write waits instead of failing, and named migrations so the schema is versioned.

The unit of writing is one feed pass: ``save_feed_pass`` stores a feed's new and changed
items, their topic matches, the feed's new fetch state and a fetch-log row in ONE
transaction. A crash at any moment leaves either all of it or none of it.

This module decides nothing about relevance or scheduling; it stores what it is given.
Reading for the analyst (search, filters) lives in ``query``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .errors import StoreError
from .types import FeedOutcome, FeedSource, FetchResult, Item, Match, Validators

BUSY_TIMEOUT_MS = 10_000

# Schema changes are named migration functions below, applied in order on open. Add new
# ones at the end; never edit one that has shipped. PRAGMA user_version is set to their
# count, so an older mediamon can refuse a database it does not understand.
migrations = Migrations("mediamon")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            name TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            origin TEXT NOT NULL DEFAULT 'config',   -- 'config' or 'db' (added by the CLI/OPML)
            active INTEGER NOT NULL DEFAULT 1,        -- 0: removed from the config; rows kept for history
            interval REAL,                            -- seconds; NULL = schedule default
            title TEXT,                               -- the feed's own title
            site_url TEXT,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            added TEXT NOT NULL,
            last_fetch TEXT,
            last_success TEXT,
            last_status TEXT,                         -- ok, not_modified, error, gone
            last_http_status INTEGER,
            last_error TEXT,
            last_warning TEXT,
            failures INTEGER NOT NULL DEFAULT 0,      -- consecutive
            next_fetch TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE items (
            id TEXT PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),  -- the feed it first came through
            guid TEXT,
            url TEXT,
            canonical_url TEXT,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            content TEXT NOT NULL,
            summary_html TEXT NOT NULL,
            content_html TEXT NOT NULL,
            authors TEXT NOT NULL,        -- JSON list
            categories TEXT NOT NULL,     -- JSON list
            published TEXT NOT NULL,      -- UTC ISO-8601
            published_from_feed INTEGER NOT NULL,
            updated TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            language TEXT,
            content_hash TEXT NOT NULL,
            kept INTEGER NOT NULL,
            score REAL NOT NULL,
            similarity REAL NOT NULL,
            topics TEXT NOT NULL,         -- JSON list of topic names
            explanation TEXT NOT NULL     -- JSON object: why kept or not
        )
        """
    )
    db.execute("CREATE INDEX items_published ON items(published)")
    db.execute("CREATE INDEX items_kept_published ON items(kept, published)")
    db.execute("CREATE INDEX items_canonical_url ON items(canonical_url)")
    db.execute("CREATE INDEX items_feed ON items(feed_id)")
    db.execute(
        """
        CREATE TABLE item_feeds (           -- every feed an item came through
            item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            first_seen TEXT NOT NULL,
            PRIMARY KEY (item_id, feed_id)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE item_topics (          -- one row per topic an item matched
            item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            topic TEXT NOT NULL,
            terms TEXT NOT NULL,            -- JSON list, as the words appeared in the text
            PRIMARY KEY (item_id, topic)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX item_topics_topic ON item_topics(topic, item_id)")
    db.execute(
        """
        CREATE TABLE seen (                 -- every item ever parsed, kept or not: what is new
            id TEXT PRIMARY KEY,
            feed_id INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            first_seen TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE fetch_log (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            started TEXT NOT NULL,
            elapsed REAL NOT NULL,
            status TEXT NOT NULL,
            http_status INTEGER,
            bytes INTEGER NOT NULL,
            entries INTEGER NOT NULL,
            new_items INTEGER NOT NULL,
            kept_items INTEGER NOT NULL,
            error TEXT,
            warning TEXT
        )
        """
    )
    db.execute("CREATE INDEX fetch_log_feed ON fetch_log(feed_id, started)")
    db["items"].enable_fts(
        ["title", "summary", "content"],
        create_triggers=True,
        tokenize="unicode61 remove_diacritics 2",
    )


def schema_version() -> int:
    """The schema version this code writes: the number of registered migrations."""
    return len(migrations.pending(sqlite_utils.Database(memory=True)))


def utc_iso(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``-free ``+00:00`` suffix, second precision, sortable as text."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class FeedRow:
    """A feed as stored, with its fetch state."""

    id: int
    url: str
    name: str | None
    tags: tuple[str, ...]
    origin: str
    active: bool
    interval: float | None
    title: str | None
    validators: Validators
    body_hash: str | None
    last_fetch: str | None
    last_success: str | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    failures: int
    next_fetch: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FeedRow:
        return cls(
            id=row["id"],
            url=row["url"],
            name=row["name"],
            tags=tuple(json.loads(row["tags"] or "[]")),
            origin=row["origin"],
            active=bool(row["active"]),
            interval=row["interval"],
            title=row["title"],
            validators=Validators(row["etag"], row["last_modified"]),
            body_hash=row["body_hash"],
            last_fetch=row["last_fetch"],
            last_success=row["last_success"],
            last_status=row["last_status"],
            last_http_status=row["last_http_status"],
            last_error=row["last_error"],
            failures=row["failures"],
            next_fetch=row["next_fetch"],
        )

    def source(self) -> FeedSource:
        origin = "config" if self.origin == "config" else "db"
        return FeedSource(self.url, self.name, self.tags, self.interval, origin)


@dataclass(frozen=True)
class ScoredItem:
    item: Item
    match: Match


class Store:
    """One mediamon database file. Not thread-safe: one Store per thread or task."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise StoreError(f"{self.path}: no such database (run `mediamon run --once` first)")
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints, never corrupt
            self.db = sqlite_utils.Database(conn)
            self._check_version()
            if not readonly:
                migrations.apply(self.db)
                self.db.execute(f"PRAGMA user_version = {schema_version()}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _check_version(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > schema_version():
            raise StoreError(
                f"{self.path}: database schema version {version} is newer than this mediamon "
                f"understands ({schema_version()}); upgrade mediamon"
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taken IMMEDIATE so it never fails half-way on a lock upgrade."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- feeds -------------------------------------------------------------------------

    def sync_config_feeds(self, sources: Sequence[FeedSource], *, now: datetime) -> None:
        """Make the feeds table agree with the config: add new, update names/tags/intervals,
        and mark config feeds no longer listed as inactive (their items stay)."""
        stamp = utc_iso(now)
        urls = [s.url for s in sources]
        with self.transaction():
            for s in sources:
                self.db.execute(
                    """
                    INSERT INTO feeds (url, name, tags, origin, interval, added, active)
                    VALUES (?, ?, ?, 'config', ?, ?, 1)
                    ON CONFLICT(url) DO UPDATE SET
                        name = excluded.name, tags = excluded.tags, interval = excluded.interval,
                        origin = 'config', active = 1
                    """,
                    [s.url, s.name, json.dumps(list(s.tags)), s.interval, stamp],
                )
            placeholders = ",".join("?" * len(urls))
            self.db.execute(
                f"UPDATE feeds SET active = 0 WHERE origin = 'config' AND url NOT IN ({placeholders})",
                urls,
            )

    def add_feed(self, source: FeedSource, *, now: datetime) -> bool:
        """Add a feed from the CLI or OPML; returns False if it was already there."""
        with self.transaction():
            cur = self.db.execute(
                """
                INSERT INTO feeds (url, name, tags, origin, interval, added, active)
                VALUES (?, ?, ?, 'db', ?, ?, 1)
                ON CONFLICT(url) DO UPDATE SET active = 1 WHERE active = 0
                """,
                [source.url, source.name, json.dumps(list(source.tags)), source.interval,
                 utc_iso(now)],
            )
            return cur.rowcount > 0

    def remove_feed(self, url_or_id: str) -> FeedRow | None:
        """Stop polling a feed (its items stay). Returns the feed, or None if unknown."""
        row = self.find_feed(url_or_id)
        if row is None:
            return None
        with self.transaction():
            self.db.execute("UPDATE feeds SET active = 0 WHERE id = ?", [row.id])
        return row

    def find_feed(self, url_or_id: str) -> FeedRow | None:
        where = "id = ?" if url_or_id.isdigit() else "url = ?"
        arg: Any = int(url_or_id) if url_or_id.isdigit() else url_or_id
        rows = list(self.db.query(f"SELECT * FROM feeds WHERE {where}", [arg]))
        return FeedRow.from_row(rows[0]) if rows else None

    def feeds(self, *, active_only: bool = True) -> list[FeedRow]:
        where = "WHERE active = 1" if active_only else ""
        return [FeedRow.from_row(r) for r in self.db.query(f"SELECT * FROM feeds {where} ORDER BY id")]

    def feed_id(self, url: str) -> int:
        row = self.db.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()
        if row is None:
            raise StoreError(f"feed not in the database: {url}")
        return int(row[0])

    # -- items -------------------------------------------------------------------------

    def seen_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """Content hashes of the given item ids that were parsed before (kept or not)."""
        ids = list(ids)
        found: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for item_id, content_hash in self.db.execute(
                f"SELECT id, content_hash FROM seen WHERE id IN ({marks})", chunk
            ):
                found[item_id] = content_hash
        return found

    def save_feed_pass(
        self,
        feed_url: str,
        fetch: FetchResult,
        scored: Sequence[ScoredItem],
        *,
        now: datetime,
        next_fetch: datetime | None,
        keep_all: bool = False,
        entries: int = 0,
        warning: str | None = None,
        feed_title: str | None = None,
        site_url: str | None = None,
    ) -> FeedOutcome:
        """Store one feed pass in one transaction and return what it did.

        ``scored`` holds the items parsed from this fetch with their matches. Items never
        seen are inserted (if kept, or all of them with ``keep_all``); items whose content
        hash changed are updated; unchanged ones only gain a link to this feed.
        """
        stamp = utc_iso(now)
        new = kept = updated = 0
        with self.transaction():
            feed_id = self.feed_id(feed_url)
            previous = self.seen_hashes(s.item.id for s in scored)
            stored = self._stored_ids([s.item.id for s in scored])
            for s in scored:
                item, match = s.item, s.match
                old_hash = previous.get(item.id)
                if old_hash is None:
                    new += 1
                    self.db.execute(
                        "INSERT OR IGNORE INTO seen (id, feed_id, content_hash, first_seen) "
                        "VALUES (?, ?, ?, ?)",
                        [item.id, feed_id, item.content_hash, stamp],
                    )
                    if match.kept or keep_all:
                        kept += int(match.kept)
                        self._insert_item(item, match, feed_id, stamp)
                elif item.id in stored:
                    self._link_feed(item.id, feed_id, stamp)
                    if old_hash != item.content_hash:
                        updated += 1
                        self._update_item(item, match, stamp)
                        self.db.execute(
                            "UPDATE seen SET content_hash = ? WHERE id = ?",
                            [item.content_hash, item.id],
                        )
                elif old_hash != item.content_hash:
                    # Seen before but not stored (it did not match then): it may match now.
                    self.db.execute(
                        "UPDATE seen SET content_hash = ? WHERE id = ?",
                        [item.content_hash, item.id],
                    )
                    if match.kept or keep_all:
                        kept += int(match.kept)
                        updated += 1
                        self._insert_item(item, match, feed_id, stamp)
            outcome = FeedOutcome(
                url=feed_url,
                status=fetch.status,
                http_status=fetch.http_status,
                entries=entries,
                new_items=new,
                kept_items=kept,
                updated_items=updated,
                error=fetch.error,
                warning=warning,
                bytes=len(fetch.body or b""),
                elapsed=fetch.elapsed,
            )
            self._update_feed_state(feed_id, fetch, outcome, now=now, next_fetch=next_fetch,
                                    feed_title=feed_title, site_url=site_url)
            self._log_fetch(feed_id, outcome, started=stamp)
        return outcome

    def save_feed_failure(
        self, feed_url: str, fetch: FetchResult, *, now: datetime, next_fetch: datetime | None,
        error: str | None = None,
    ) -> FeedOutcome:
        """Record a pass that stored no items (not modified, HTTP error, parse error)."""
        status = "error" if error else fetch.status
        outcome = FeedOutcome(
            url=feed_url,
            status=status,
            http_status=fetch.http_status,
            error=error or fetch.error,
            bytes=len(fetch.body or b""),
            elapsed=fetch.elapsed,
        )
        with self.transaction():
            feed_id = self.feed_id(feed_url)
            self._update_feed_state(feed_id, fetch, outcome, now=now, next_fetch=next_fetch)
            self._log_fetch(feed_id, outcome, started=utc_iso(now))
        return outcome

    def _stored_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM items WHERE id IN ({marks})", chunk))
        return found

    def _item_columns(self, item: Item, match: Match, stamp: str | None) -> dict[str, Any]:
        return {
            "guid": item.guid,
            "url": item.url,
            "canonical_url": item.canonical_url,
            "title": item.title,
            "summary": item.summary,
            "content": item.content,
            "summary_html": item.summary_html,
            "content_html": item.content_html,
            "authors": json.dumps(list(item.authors), ensure_ascii=False),
            "categories": json.dumps(list(item.categories), ensure_ascii=False),
            "published": utc_iso(item.published),
            "published_from_feed": int(item.published_from_feed),
            "updated": utc_iso(item.updated),
            "last_seen": stamp,
            "language": item.language,
            "content_hash": item.content_hash,
            "kept": int(match.kept),
            "score": match.score,
            "similarity": match.similarity,
            "topics": json.dumps(list(match.topic_names), ensure_ascii=False),
            "explanation": json.dumps(match.explanation(), ensure_ascii=False),
        }

    def _insert_item(self, item: Item, match: Match, feed_id: int, stamp: str | None) -> None:
        cols = self._item_columns(item, match, stamp)
        cols.update(id=item.id, feed_id=feed_id, first_seen=stamp)
        names = ", ".join(cols)
        marks = ", ".join("?" * len(cols))
        self.db.execute(f"INSERT INTO items ({names}) VALUES ({marks})", list(cols.values()))
        self._link_feed(item.id, feed_id, stamp)
        self._save_topics(item.id, match)

    def _update_item(self, item: Item, match: Match, stamp: str | None) -> None:
        cols = self._item_columns(item, match, stamp)
        sets = ", ".join(f"{name} = ?" for name in cols)
        self.db.execute(f"UPDATE items SET {sets} WHERE id = ?", [*cols.values(), item.id])
        self.db.execute("DELETE FROM item_topics WHERE item_id = ?", [item.id])
        self._save_topics(item.id, match)

    def _link_feed(self, item_id: str, feed_id: int, stamp: str | None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO item_feeds (item_id, feed_id, first_seen) VALUES (?, ?, ?)",
            [item_id, feed_id, stamp],
        )

    def _save_topics(self, item_id: str, match: Match) -> None:
        for hit in match.topics:
            self.db.execute(
                "INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, ?)",
                [item_id, hit.topic, json.dumps(list(hit.terms), ensure_ascii=False)],
            )

    def _update_feed_state(
        self, feed_id: int, fetch: FetchResult, outcome: FeedOutcome, *, now: datetime,
        next_fetch: datetime | None, feed_title: str | None = None, site_url: str | None = None,
    ) -> None:
        stamp = utc_iso(now)
        failed = outcome.status == "error"
        sets = {
            "last_fetch": stamp,
            "last_status": outcome.status,
            "last_http_status": fetch.http_status,
            "last_error": outcome.error,
            "last_warning": outcome.warning,
            "next_fetch": utc_iso(next_fetch),
        }
        if not failed:
            sets["last_success"] = stamp
        if fetch.status == "ok" and not failed:
            # Only a body that parsed moves the validators on: after a parse error the
            # next poll must fetch the body again rather than get a 304 for it.
            sets["etag"] = fetch.validators.etag
            sets["last_modified"] = fetch.validators.last_modified
            sets["body_hash"] = hashlib.sha256(fetch.body or b"").hexdigest()[:16]
        if feed_title:
            sets["title"] = feed_title
        if site_url:
            sets["site_url"] = site_url
        if outcome.status == "gone":
            sets["active"] = 0
        assignments = ", ".join(f"{k} = ?" for k in sets)
        failures = "failures + 1" if failed else "0"
        self.db.execute(
            f"UPDATE feeds SET {assignments}, failures = {failures} WHERE id = ?",
            [*sets.values(), feed_id],
        )

    def _log_fetch(self, feed_id: int, outcome: FeedOutcome, *, started: str | None) -> None:
        self.db.execute(
            """
            INSERT INTO fetch_log (feed_id, started, elapsed, status, http_status, bytes, entries,
                                   new_items, kept_items, error, warning)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [feed_id, started, round(outcome.elapsed, 4), outcome.status, outcome.http_status,
             outcome.bytes, outcome.entries, outcome.new_items, outcome.kept_items,
             outcome.error, outcome.warning],
        )
