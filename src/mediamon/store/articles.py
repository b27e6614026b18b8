"""The store's part for article pages (``mediamon.enrich``): its SQL, as methods of
``sqlite.Store``.

    articles        one row per stored item whose page was asked for: the status and reason,
                    the extracted text and metadata, where the match came from
                    (``matched_on``: "feed" or "article"), when it was fetched
    articles_fts    FTS5 over ``articles.text`` for the rows whose status is "ok" (external
                    content, kept in step by triggers)

Why a second FTS5 table rather than a fourth column of ``items_fts``: ``items_fts`` is
external content over ``items`` (its rows, triggers, rank weights and the bulk import all
name its three columns), and adding a column means rebuilding it on every existing
database; a separate index costs nothing to a database without articles, and ``search``
looks in both (``article_hits``). The price: a query's words are matched within the feed
text or within the article, not across the two (docs/articles.md).

An article row exists only for a stored item (a foreign key, deleted with the item). An
item that is not stored and whose page must wait (``deferred``) is left to the next pass by
forgetting its seen hash (``revisit``): that pass processes it in full again.

This module decides nothing (``enrich`` does) and only the writer calls the writing methods.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mediamon.clock import utc_iso
from mediamon.core.extract import Article
from mediamon.store.base import SQLiteBase, sqlite_utils
from mediamon.types import Item, Match

if TYPE_CHECKING:
    from mediamon.core.stories import Fingerprint

# Statuses after which a page is not asked for again (all but "deferred").
FINAL = ("ok", "paywall", "consent", "not-html", "too-large", "blocked-by-robots",
         "http-error", "empty")


# An article row's columns beside its item id, as ``show`` and ``export`` give them.
ARTICLE_COLUMNS = ("url", "status", "reason", "text", "title", "author", "published",
                   "language", "canonical_url", "final_url", "http_status", "matched_on",
                   "fetched_at")


def article_values(article: Article, *, now: datetime,
                   matched_on: str | None) -> dict[str, Any]:
    """An article's row as both stores write it, ``ARTICLE_COLUMNS`` in order."""
    return {
        "url": article.url, "status": article.status, "reason": article.reason,
        "text": article.text, "title": article.title, "author": article.author,
        "published": article.published, "language": article.language,
        "canonical_url": article.canonical_url, "final_url": article.final_url,
        "http_status": article.http_status, "matched_on": matched_on,
        "fetched_at": utc_iso(now),
    }


def upsert_sql(mark: str) -> str:
    """The statement that stores (or replaces) an article row, with ``mark`` as the
    placeholder (``?`` for SQLite, ``%s`` for psycopg): the item id, then
    ``article_values``."""
    sets = ", ".join(f"{name} = excluded.{name}" for name in ARTICLE_COLUMNS)
    return (f"INSERT INTO articles (item_id, {', '.join(ARTICLE_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * (1 + len(ARTICLE_COLUMNS)))}) "
            f"ON CONFLICT (item_id) DO UPDATE SET {sets}")


def deferred_sql(mark: str) -> str:
    """The items of one feed (its URL, then a limit) whose article an earlier pass
    deferred, oldest first."""
    return ("SELECT articles.item_id FROM articles JOIN item_feeds ON item_feeds.item_id = "
            "articles.item_id JOIN feeds ON feeds.id = item_feeds.feed_id "
            f"WHERE articles.status = 'deferred' AND feeds.url = {mark} "
            f"ORDER BY articles.fetched_at LIMIT {mark}")


def create_schema(db: sqlite_utils.Database) -> None:
    """``m013_articles``: the articles table, its full-text index and the triggers that keep
    the index in step (only "ok" texts are indexed)."""
    db.execute(
        """
        CREATE TABLE articles (             -- an item's article page (enrich.py)
            item_id TEXT PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
            url TEXT NOT NULL,              -- the link asked for
            status TEXT NOT NULL,           -- core.extract.STATUSES
            reason TEXT,                    -- one line, for every status but ok
            text TEXT,                      -- the main text (a paywall's teaser too)
            title TEXT,
            author TEXT,
            published TEXT,                 -- YYYY-MM-DD, as the page says
            language TEXT,                  -- as the page's markup declares
            canonical_url TEXT,
            final_url TEXT,                 -- after redirects
            http_status INTEGER,
            matched_on TEXT,                -- feed, article: what kept the item
            fetched_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX articles_status ON articles(status)")
    # The index's content is the "ok" rows alone (a view), so that FTS5's integrity check
    # and 'rebuild' agree with what the triggers index.
    db.execute("CREATE VIEW articles_ok AS SELECT rowid AS article_rowid, text FROM articles "
               "WHERE status = 'ok'")
    db.execute(
        "CREATE VIRTUAL TABLE articles_fts USING fts5(text, content='articles_ok', "
        "content_rowid='article_rowid', tokenize='unicode61 remove_diacritics 2')")
    db.execute(
        "CREATE TRIGGER articles_ai AFTER INSERT ON articles WHEN new.status = 'ok' BEGIN "
        "INSERT INTO articles_fts (rowid, text) VALUES (new.rowid, new.text); END")
    db.execute(
        "CREATE TRIGGER articles_ad AFTER DELETE ON articles WHEN old.status = 'ok' BEGIN "
        "INSERT INTO articles_fts (articles_fts, rowid, text) "
        "VALUES ('delete', old.rowid, old.text); END")
    db.execute(
        "CREATE TRIGGER articles_au_old AFTER UPDATE OF status, text ON articles "
        "WHEN old.status = 'ok' BEGIN INSERT INTO articles_fts (articles_fts, rowid, text) "
        "VALUES ('delete', old.rowid, old.text); END")
    db.execute(
        "CREATE TRIGGER articles_au_new AFTER UPDATE OF status, text ON articles "
        "WHEN new.status = 'ok' BEGIN INSERT INTO articles_fts (rowid, text) "
        "VALUES (new.rowid, new.text); END")


@dataclass(frozen=True)
class StoredCandidate:
    """A stored item whose article a pass may fetch: what re-scoring it needs."""

    id: str
    url: str
    text: str  # title, summary and content, as ``Item.text``
    kept: bool
    label: str | None
    published: datetime | None


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class ArticlesStore(SQLiteBase):
    """Article rows: what a pass needs to know, what it writes, what ``show`` reads."""

    if TYPE_CHECKING:  # provided by sqlite.Store
        _unindexed: list[int]

        def feed_id(self, url: str) -> int: ...
        def index_items(self, rowids: Sequence[int]) -> None: ...
        def _insert_item(self, item: Item, match: Match, feed_id: int, stamp: str | None,
                         fingerprint: Fingerprint | None = None) -> bool: ...
        def _link_feed(self, item_id: str, feed_id: int, stamp: str | None) -> None: ...
        def save_rescored(self, item_id: str, match: Match) -> None: ...
        def stored_item_ids(self, ids: Sequence[str]) -> set[str]: ...

    def _has_articles(self) -> bool:
        try:
            self.db.execute("SELECT 1 FROM articles LIMIT 0")
        except sqlite3.OperationalError:  # a read-only database from before m013
            return False
        return True

    # -- what a pass needs to know

    def article_candidates(self, ids: Sequence[str]) -> dict[str, StoredCandidate]:
        """Of ``ids``, the stored items whose article is not stored yet (no row, or a
        ``deferred`` one), with what re-scoring them needs."""
        found: dict[str, StoredCandidate] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                    "SELECT items.id, coalesce(items.url, ''), items.title, items.summary, "
                    "items.content, items.kept, labels.label, items.published FROM items "
                    "LEFT JOIN articles ON articles.item_id = items.id "
                    "LEFT JOIN labels ON labels.item_id = items.id "
                    f"WHERE items.id IN ({marks}) "
                    "AND (articles.status IS NULL OR articles.status = 'deferred')", chunk):
                text = "\n".join(part for part in row[2:5] if part)
                published = datetime.fromisoformat(row[7]) if row[7] else None
                found[row[0]] = StoredCandidate(row[0], row[1], text, bool(row[5]), row[6],
                                                published)
        return found

    def deferred_articles(self, feed_url: str, limit: int) -> list[str]:
        """Items of the feed at ``feed_url`` whose article was deferred by an earlier pass."""
        return [r[0] for r in self.db.execute(deferred_sql("?"), [feed_url, limit])]

    # -- what a pass writes (the writer, inside its transaction)

    def save_article(self, item_id: str, article: Article, *, now: datetime,
                     matched_on: str | None = None) -> None:
        """Store (or replace) the article row of a stored item."""
        values = article_values(article, now=now, matched_on=matched_on)
        with self.transaction():
            self.db.execute(upsert_sql("?"), [item_id, *values.values()])

    def keep_on_article(self, item: Item, match: Match, article: Article, *, feed_url: str,
                        now: datetime) -> bool:
        """Store an item that its article made kept (its feed text alone did not), with the
        article row; False (nothing written) when the item is stored already."""
        stamp = utc_iso(now)
        with self.transaction():
            if self.stored_item_ids([item.id]):
                return False
            feed_id = self.feed_id(feed_url)
            self._unindexed = []
            self._insert_item(item, match, feed_id, stamp)
            self.index_items(self._unindexed)
            self._unindexed = []
            self.save_article(item.id, article, now=now, matched_on="article")
        return True

    def rescore_on_article(self, item_id: str, match: Match, article: Article, *,
                           now: datetime, matched_on: str | None) -> None:
        """A stored item's new verdict with its article, and the article row."""
        with self.transaction():
            self.save_rescored(item_id, match)
            self.save_article(item_id, article, now=now, matched_on=matched_on)

    def revisit(self, item_id: str, feed_url: str) -> None:
        """Forget an unstored item's seen hash, and its feed's validators and body hash, so
        the next pass of the feed fetches and processes the item in full (its article was
        deferred). The seen row stays: the item is not new."""
        with self.transaction():
            # and its entry digest, which vouched for the hash (store.ingest._set_seen_hash)
            self.db.execute("UPDATE seen SET content_hash = '', raw = NULL WHERE id = ?",
                            [item_id])
            self.db.execute("UPDATE feeds SET etag = NULL, last_modified = NULL, "
                            "body_hash = NULL WHERE url = ?", [feed_url])

    # -- reading

    def article_of(self, item_id: str) -> dict[str, Any] | None:
        """The article row of a stored item (None when its page was never asked for)."""
        if not self._has_articles():
            return None
        rows = list(self.db.query(
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles WHERE item_id = ?", [item_id]))
        return rows[0] if rows else None

    def articles_of(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The article rows of these items (``export``), by item id."""
        if not self._has_articles():
            return {}
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                    f"SELECT item_id, {', '.join(ARTICLE_COLUMNS)} FROM articles "
                    f"WHERE item_id IN ({marks})", chunk):
                found[row.pop("item_id")] = row
        return found

    def import_articles(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Article rows of imported items (``import``): (item id, an ``articles_of`` row);
        one without a status or a URL is left out."""
        values = [[item_id, *(row.get(c) for c in ARTICLE_COLUMNS)] for item_id, row in rows
                  if row.get("status") and row.get("url") and row.get("fetched_at")]
        if values:
            self.db.conn.executemany(
                f"INSERT OR IGNORE INTO articles (item_id, {', '.join(ARTICLE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * (len(ARTICLE_COLUMNS) + 1))})", values)

    def article_texts(self, ids: Sequence[str]) -> dict[str, str]:
        """The "ok" article texts of these items (``rescore`` scores with them)."""
        if not self._has_articles():
            return {}
        found: dict[str, str] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            found.update((r[0], r[1]) for r in self.db.execute(
                f"SELECT item_id, text FROM articles WHERE item_id IN ({marks}) "
                "AND status = 'ok' AND text IS NOT NULL", chunk))
        return found

    def set_matched_on(self, item_id: str, matched_on: str | None) -> None:
        self.db.execute("UPDATE articles SET matched_on = ? WHERE item_id = ?",
                        [matched_on, item_id])

    def article_hits(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(items.rowid, bm25) of the best ``limit`` items whose article text matches the
        FTS5 ``query``; empty when no article does, or when the query cannot apply to the
        article index (a column filter such as ``title:``: it names the items' columns)."""
        if not self._has_articles():
            return []
        try:
            return [(int(r[0]), float(r[1])) for r in self.db.execute(
                "SELECT items.rowid, hits.score FROM (SELECT rowid, bm25(articles_fts) AS "
                "score FROM articles_fts WHERE articles_fts MATCH ? ORDER BY score LIMIT ?) "
                "AS hits JOIN articles ON articles.rowid = hits.rowid "
                "JOIN items ON items.id = articles.item_id", [query, limit])]
        except sqlite3.OperationalError:
            return []

    def article_snippets(self, query: str, rowids: Sequence[int]) -> dict[int, str]:
        """items.rowid -> a highlighted snippet of its article text for ``query``."""
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        try:
            return {int(r[0]): r[1] for r in self.db.execute(
                "SELECT items.rowid, snippet(articles_fts, 0, '[', ']', '…', 14) "
                "FROM articles_fts JOIN articles ON articles.rowid = articles_fts.rowid "
                "JOIN items ON items.id = articles.item_id "
                f"WHERE articles_fts MATCH ? AND items.rowid IN ({marks})",
                [query, *rowids])}
        except sqlite3.OperationalError:
            return {}

    def article_counts(self) -> dict[str, int]:
        """Article rows by status."""
        if not self._has_articles():
            return {}
        return dict(self.db.execute(
            "SELECT status, count(*) FROM articles GROUP BY status").fetchall())

