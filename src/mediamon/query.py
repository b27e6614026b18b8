"""The read side: what the analyst asks of the collected database.

``items`` lists stored items newest first with filters; ``search`` is full-text search (FTS5,
ranked by bm25, with a highlighted snippet); ``get_item`` returns one item with its topics,
matched terms and the feeds it came through; ``feed_health`` summarises each feed.

Every filter is a bound parameter: user input never changes a query's shape. A malformed
search query becomes a ``QueryError`` with SQLite's reason, never a traceback.

This module only reads.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import parse_duration
from .errors import QueryError
from .store import Store, utc_iso

LIST_COLUMNS = """
    items.id, items.published, items.title, items.url, items.language, items.score,
    items.similarity, items.kept, items.topics, feeds.name AS feed_name, feeds.url AS feed_url
"""


def parse_when(value: str, *, now: datetime, option: str = "--since") -> datetime:
    """``2d``/``12h``/``30m`` ago, or an ISO date/datetime (UTC when no offset is given)."""
    text = value.strip()
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(
            f"{option}: {value!r} is neither a duration (2d, 12h) nor a date (2026-11-01)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    topic: str | None = None
    feed: str | None = None  # feed id, URL, or part of its name
    language: str | None = None
    min_score: float | None = None
    include_unkept: bool = False
    limit: int = 50

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if not self.include_unkept:
            clauses.append("items.kept = 1")
        if self.since:
            clauses.append("items.published >= ?")
            params.append(utc_iso(self.since))
        if self.until:
            clauses.append("items.published < ?")
            params.append(utc_iso(self.until))
        if self.topic:
            clauses.append(
                "items.id IN (SELECT item_id FROM item_topics WHERE topic = ?)"
            )
            params.append(self.topic)
        if self.feed:
            clauses.append(
                "items.id IN (SELECT item_feeds.item_id FROM item_feeds JOIN feeds f "
                "ON f.id = item_feeds.feed_id WHERE CAST(f.id AS TEXT) = ? OR f.url = ? "
                "OR f.name LIKE ? ESCAPE '\\' OR f.title LIKE ? ESCAPE '\\')"
            )
            like = "%" + re.sub(r"([\\%_])", r"\\\1", self.feed) + "%"
            params.extend([self.feed, self.feed, like, like])
        if self.language:
            clauses.append("items.language = ?")
            params.append(self.language.lower())
        if self.min_score is not None:
            clauses.append("items.score >= ?")
            params.append(self.min_score)
        return (" AND ".join(clauses) or "1"), params


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("topics", "authors", "categories", "explanation", "terms"):
        if key in row and isinstance(row[key], str):
            row[key] = json.loads(row[key])
    if "kept" in row:
        row["kept"] = bool(row["kept"])
    return row


def items(store: Store, filters: Filters) -> list[dict[str, Any]]:
    """Stored items, newest first."""
    where, params = filters.where()
    sql = f"""
        SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = items.feed_id
        WHERE {where} ORDER BY items.published DESC, items.id LIMIT ?
    """
    return [_decode(r) for r in store.db.query(sql, [*params, filters.limit])]


def search(store: Store, query: str, filters: Filters) -> list[dict[str, Any]]:
    """Full-text search over title, summary and content, best match first.

    ``query`` is SQLite FTS5 syntax: words, "phrases", AND / OR / NOT, prefix*, and
    column filters such as ``title:kabulov``.
    """
    if not query.strip():
        raise QueryError("empty search query")
    where, params = filters.where()
    sql = f"""
        SELECT {LIST_COLUMNS},
               snippet(items_fts, -1, '[', ']', '…', 14) AS snippet,
               bm25(items_fts, 5.0, 2.0, 1.0) AS rank
        FROM items_fts
        JOIN items ON items.rowid = items_fts.rowid
        JOIN feeds ON feeds.id = items.feed_id
        WHERE items_fts MATCH ? AND {where}
        ORDER BY rank LIMIT ?
    """
    try:
        rows = list(store.db.query(sql, [query, *params, filters.limit]))
    except sqlite3.OperationalError as exc:
        raise QueryError(f"invalid search query {query!r}: {_fts_reason(exc)}") from None
    return [_decode(r) for r in rows]


def _fts_reason(exc: sqlite3.OperationalError) -> str:
    reason = str(exc)
    reason = reason.removeprefix("fts5: ")
    if reason.startswith("no such column"):
        column = reason.split(":", 1)[-1].strip()
        return (f"{column!r} is not a column (search columns: title, summary, content); "
                f"put words with ':' or '-' in double quotes")
    return reason + ' (quote words with punctuation: "al-Qaida")'


def get_item(store: Store, item_id: str) -> dict[str, Any] | None:
    """One item in full, with its topic matches and every feed it came through.

    ``item_id`` may be a unique prefix of the id.
    """
    rows = list(store.db.query(
        "SELECT items.*, feeds.name AS feed_name, feeds.url AS feed_url FROM items "
        "JOIN feeds ON feeds.id = items.feed_id WHERE items.id LIKE ? ESCAPE '\\' LIMIT 2",
        [re.sub(r"([\\%_])", r"\\\1", item_id) + "%"],
    ))
    if not rows:
        return None
    if len(rows) > 1:
        raise QueryError(f"{item_id!r} is ambiguous: give more of the id")
    item = _decode(rows[0])
    item["matches"] = {
        r["topic"]: json.loads(r["terms"])
        for r in store.db.query(
            "SELECT topic, terms FROM item_topics WHERE item_id = ? ORDER BY topic", [item["id"]])
    }
    item["feeds"] = list(store.db.query(
        "SELECT feeds.id, feeds.name, feeds.url, item_feeds.first_seen FROM item_feeds "
        "JOIN feeds ON feeds.id = item_feeds.feed_id WHERE item_id = ? ORDER BY item_feeds.first_seen",
        [item["id"]],
    ))
    return item


def feed_health(store: Store) -> list[dict[str, Any]]:
    """Every feed with its state and item counts; failing feeds first."""
    since = utc_iso(datetime.now(UTC) - timedelta(days=1))
    sql = """
        SELECT feeds.id, feeds.name, feeds.url, feeds.origin, feeds.active, feeds.tags,
               feeds.last_status, feeds.last_http_status, feeds.last_error, feeds.failures,
               feeds.last_success, feeds.last_fetch, feeds.next_fetch,
               (SELECT count(*) FROM items WHERE items.feed_id = feeds.id AND kept = 1) AS kept_items,
               (SELECT count(*) FROM items WHERE items.feed_id = feeds.id AND kept = 1
                  AND first_seen >= ?) AS kept_last_day
        FROM feeds
        ORDER BY feeds.active DESC, feeds.failures > 0 DESC, feeds.failures DESC, feeds.id
    """
    rows = list(store.db.query(sql, [since]))
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
        row["active"] = bool(row["active"])
    return rows


def counts(store: Store) -> dict[str, int]:
    one = store.db.execute
    return {
        "feeds": one("SELECT count(*) FROM feeds WHERE active = 1").fetchone()[0],
        "items_kept": one("SELECT count(*) FROM items WHERE kept = 1").fetchone()[0],
        "items_stored": one("SELECT count(*) FROM items").fetchone()[0],
        "items_seen": one("SELECT count(*) FROM seen").fetchone()[0],
    }
