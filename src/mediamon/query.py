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
    items.similarity, items.kept, items.topics, feeds.name AS feed_name, feeds.url AS feed_url,
    (SELECT story_id FROM story_items WHERE story_items.item_id = items.id) AS story
"""


def _collapsed(select: str, order: str) -> str:
    """Issue 5 ``--collapse``: one row per story, the first of its matching items by
    ``order``, with ``story_matches`` = how many of the story's items matched."""
    return f"""
        SELECT * FROM (
            SELECT *, row_number() OVER (PARTITION BY coalesce(story, id) ORDER BY {order})
                       AS story_rank,
                   count(*) OVER (PARTITION BY coalesce(story, id)) AS story_matches
            FROM ({select})
        ) WHERE story_rank = 1 ORDER BY {order} LIMIT ?
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
    collapse: bool = False  # one row per story (issue 5)
    only_unkept: bool = False  # issue 6: --unkept, items stored but not kept (audits)
    story: str | None = None  # issue 6: items of this story (id or a prefix of it)

    def __post_init__(self) -> None:
        # A NUL ends SQLite's LIKE pattern early, so "--feed" would match every feed; the
        # CLI refuses control characters already (cli.plain_text), this is for other callers.
        for name in ("topic", "feed", "language", "story"):
            if "\x00" in (getattr(self, name) or ""):
                raise QueryError(f"--{name.replace('language', 'lang')}: contains a NUL character")

    def date_clauses(self, column: str) -> tuple[list[str], list[Any]]:
        """SQL conditions (and their parameters) for --since/--until on ``column``."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.since:
            clauses.append(f"{column} >= ?")
            params.append(utc_iso(self.since))
        if self.until:
            clauses.append(f"{column} < ?")
            params.append(utc_iso(self.until))
        return clauses, params

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.only_unkept:
            clauses.append("items.kept = 0")
        elif not self.include_unkept:
            clauses.append("items.kept = 1")
        if self.story:
            clauses.append("items.id IN (SELECT item_id FROM story_items WHERE story_id "
                           "LIKE ? ESCAPE '\\')")
            params.append(re.sub(r"([\\%_])", r"\\\1", self.story.strip()) + "%")
        dates, date_params = self.date_clauses("items.published")
        clauses += dates
        params += date_params
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
    row.pop("story_rank", None)
    return row


def items(store: Store, filters: Filters) -> list[dict[str, Any]]:
    """Stored items, newest first."""
    where, params = filters.where()
    sql = f"""
        SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = items.feed_id
        WHERE {where} ORDER BY items.published DESC, items.id LIMIT ?
    """
    if filters.collapse:
        sql = _collapsed(f"SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = "
                         f"items.feed_id WHERE {where}", "published DESC, id")
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
    if filters.collapse:
        sql = _collapsed(sql.rsplit("ORDER BY", 1)[0], "rank, id")
    try:
        if filters.collapse:
            rows = list(store.db.query(sql, [query, *params, filters.limit]))
        else:
            rows = _ranked_first(store, query, filters)
    except sqlite3.OperationalError as exc:
        raise QueryError(f"invalid search query {query!r}: {_fts_reason(exc)}") from None
    return [_decode(r) for r in rows]


# Issue 6: how many of the best matches the fast path ranks before applying the filters.
CANDIDATES = 1000


def _ranked_first(store: Store, query: str, filters: Filters) -> list[dict[str, Any]]:
    """The first page of a search, fast on a large database (docs/benchmarks.md).

    FTS5 ranks the matches alone first and only the best ``CANDIDATES`` are looked up in
    ``items`` for the filters: the joined query would read one items row per match. The
    ranking is ``bm25(items_fts, 5, 2, 1)``, the same function and weights as FTS5's
    ``rank`` (set by ``store.m005_desk``), but ordered by SQLite's sorter, which keeps only
    the best ``LIMIT`` rows, instead of FTS5's ``ORDER BY rank``, which sorts every match
    (about a third faster with 30,000 matches). When the filters leave fewer than ``limit``
    of them and there are more matches, every match in the rowid range is filtered and the
    ones kept are ranked (``filtered``), so the result is always exact. Snippets are made
    for the returned rows only.

    A date filter also bounds the rowids FTS5 ranks: every item published in the period has
    a rowid between the smallest and the largest rowid of the items published in it (read
    from the ``published`` index), and rowids grow as items are stored, so the matches of
    older years are skipped instead of ranked.

    A feed or story filter keeps few of the matches, so the best ``CANDIDATES`` rarely hold
    a page of them: those searches filter first (``filtered``, with ``items_fts`` as the
    outer loop; ``bm25`` is the same function as ``rank``) and rank only the matches the
    filters keep; ``store.m007_search_feed_index`` makes the feed's items cheap to list.
    """
    where, params = filters.where()
    limit = filters.limit
    k = max(CANDIDATES, limit * 20)
    lo, hi = _rowid_bounds(store, filters)
    bounds = [query, lo, hi]
    filtered = f"""
        SELECT {LIST_COLUMNS}, bm25(items_fts, 5.0, 2.0, 1.0) AS rank, items.rowid AS _rowid
        FROM items_fts CROSS JOIN items ON items.rowid = items_fts.rowid
        JOIN feeds ON feeds.id = items.feed_id
        WHERE items_fts MATCH ? AND items_fts.rowid BETWEEN ? AND ? AND {where}
        ORDER BY rank, items.id LIMIT ?
    """
    sql = f"""
        WITH hits AS MATERIALIZED (
            SELECT rowid, bm25(items_fts, 5.0, 2.0, 1.0) AS score FROM items_fts
            WHERE items_fts MATCH ? AND rowid BETWEEN ? AND ? ORDER BY score LIMIT {k})
        SELECT {LIST_COLUMNS}, hits.score AS rank, items.rowid AS _rowid
        FROM hits JOIN items ON items.rowid = hits.rowid
        JOIN feeds ON feeds.id = items.feed_id
        WHERE {where} ORDER BY hits.score, items.id LIMIT ?
    """
    if lo is None:
        return []
    if filters.feed or filters.story:
        rows = list(store.db.query(filtered, [*bounds, *params, limit]))
    else:
        rows = list(store.db.query(sql, [*bounds, *params, limit]))
    if len(rows) < limit and not (filters.feed or filters.story):
        more = store.db.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM items_fts WHERE items_fts MATCH ? "
            f"AND rowid BETWEEN ? AND ? LIMIT {k + 1})", bounds).fetchone()[0]
        if more > k:
            rows = list(store.db.query(filtered, [*bounds, *params, limit]))
    if rows:
        rowids = [r["_rowid"] for r in rows]
        marks = ",".join("?" * len(rows))
        if "*" in query:
            # A prefix term is expanded again for every cursor FTS5 opens, and ``rowid IN``
            # opens one per rowid: one cursor over the rowid range is much cheaper.
            snippet_sql = (f"SELECT rowid, snippet(items_fts, -1, '[', ']', '…', 14) FROM "
                           f"items_fts WHERE items_fts MATCH ? AND rowid BETWEEN ? AND ? "
                           f"AND +rowid IN ({marks})")
            snippet_params = [query, min(rowids), max(rowids), *rowids]
        else:
            snippet_sql = (f"SELECT rowid, snippet(items_fts, -1, '[', ']', '…', 14) FROM "
                           f"items_fts WHERE items_fts MATCH ? AND rowid IN ({marks})")
            snippet_params = [query, *rowids]
        snippets = dict(store.db.execute(snippet_sql, snippet_params).fetchall())
        rows = [{**{k: v for k, v in row.items() if k not in ("rank", "_rowid")},
                 "snippet": snippets.get(row["_rowid"]), "rank": row["rank"]} for row in rows]
    return rows


def _rowid_bounds(store: Store, filters: Filters) -> tuple[int | None, int | None]:
    """The smallest and largest rowid of the items the date filters allow (None, None when
    none is); the whole table without date filters."""
    clauses, params = filters.date_clauses("published")
    if not clauses:
        return -(2**63), 2**63 - 1
    lo, hi = store.db.execute(
        f"SELECT min(rowid), max(rowid) FROM items WHERE {' AND '.join(clauses)}",
        params).fetchone()
    return lo, hi


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
        "JOIN feeds ON feeds.id = item_feeds.feed_id WHERE item_id = ? "
        "ORDER BY item_feeds.first_seen",
        [item["id"]],
    ))
    return item


def feed_health(store: Store, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every feed with its state and item counts: removed feeds last, and before the healthy
    ones the feeds that need attention: gone (410) and dead first, then failing ones, most
    consecutive failures first. ``health`` says which (issue 4)."""
    since = utc_iso((now or datetime.now(UTC)) - timedelta(days=1))
    sql = """
        SELECT feeds.id, feeds.name, feeds.url, feeds.origin, feeds.active, feeds.tags,
               feeds.last_status, feeds.last_http_status, feeds.last_error, feeds.failures,
               feeds.last_success, feeds.last_fetch, feeds.next_fetch, feeds.next_reason,
               feeds.poll_interval, feeds.publish_rate, feeds.fetch_url, feeds.failing_since,
               feeds.dead_since, feeds.gone_since,
               (SELECT count(*) FROM items
                 WHERE items.feed_id = feeds.id AND kept = 1) AS kept_items,
               (SELECT count(*) FROM items WHERE items.feed_id = feeds.id AND kept = 1
                  AND first_seen >= ?) AS kept_last_day,
               (SELECT coalesce(sum(new_items), 0) FROM fetch_log
                  WHERE fetch_log.feed_id = feeds.id AND started >= ?) AS items_last_day
        FROM feeds
        ORDER BY feeds.active DESC,
                 (feeds.gone_since IS NOT NULL OR feeds.dead_since IS NOT NULL) DESC,
                 feeds.failures > 0 DESC, feeds.failures DESC, feeds.id
    """
    rows = list(store.db.query(sql, [since, since]))
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
        row["active"] = bool(row["active"])
        row["health"] = (
            "removed" if not row["active"] else
            "gone" if row["gone_since"] else
            "dead" if row["dead_since"] else
            "failing" if row["failures"] else
            "ok" if row["last_fetch"] else "new"
        )
    return rows


def counts(store: Store) -> dict[str, int]:
    one = store.db.execute
    return {
        "feeds": one("SELECT count(*) FROM feeds WHERE active = 1").fetchone()[0],
        "items_kept": one("SELECT count(*) FROM items WHERE kept = 1").fetchone()[0],
        "items_stored": one("SELECT count(*) FROM items").fetchone()[0],
        "items_seen": one("SELECT count(*) FROM seen").fetchone()[0],
    }
