"""The read side: what the analyst asks of the collected database.

``items`` lists stored items newest first with filters; ``search`` is full-text search (FTS5,
ranked by bm25, with a highlighted snippet); ``get_item`` returns one item with its topics,
matched terms and the feeds it came through; ``feed_health`` summarises each feed;
``filter_warnings`` says which filters of an empty listing match nothing in the database.

Every filter is a bound parameter: user input never changes a query's shape. A malformed
search query becomes a ``QueryError`` with SQLite's reason, never a traceback.

This module only reads.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mediamon.clock import utc_iso
from mediamon.core.searchterms import cjk_terms, expand_query, has_cjk
from mediamon.errors import QueryError
from mediamon.store import scripts
from mediamon.store.base import id_prefix
from mediamon.store.outlets import OutletScope as OutletScope
from mediamon.types import FeedSource

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store

LIST_COLUMNS = """
    items.id, items.published, items.title, items.url, items.language, items.score,
    items.similarity, items.kept, items.topics, feeds.name AS feed_name, feeds.url AS feed_url,
    (SELECT story_id FROM story_items WHERE story_items.item_id = items.id) AS story
"""


def _collapsed(select: str, order: str) -> str:
    """``--collapse``: one row per story, the first of its matching items by
    ``order``, with ``story_matches`` = how many of the story's items matched."""
    return f"""
        SELECT * FROM (
            SELECT *, row_number() OVER (PARTITION BY coalesce(story, id) ORDER BY {order})
                       AS story_rank,
                   count(*) OVER (PARTITION BY coalesce(story, id)) AS story_matches
            FROM ({select}) AS listed
        ) AS ranked WHERE story_rank = 1 ORDER BY {order} LIMIT ? OFFSET ?
    """


def on_postgres(store: Store) -> Any:
    """``store`` when it is a PostgreSQL store (``store.postgres.read``: its listing, search,
    item and feed health are ``store.postgres.query``'s), else None."""
    return store if store.dialect == "postgresql" else None




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
    offset: int = 0  # rows skipped first: pages are stable, every order ends with the id
    collapse: bool = False  # one row per story
    only_unkept: bool = False  # --unkept, items stored but not kept (audits)
    story: str | None = None  # items of this story (id or a prefix of it)
    outlets: OutletScope | None = None  # --country/--kind, resolved by the caller

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

    def where(self, *, walk_topic: bool = False) -> tuple[str, list[Any]]:
        """The SQL condition of the filters on ``items`` and its parameters.

        ``walk_topic``: test the topic per item (``EXISTS``), so that a listing in date
        order walks the date index and stops at its limit; otherwise the topic's items are
        collected first (``IN``), which is faster for a rare topic (see ``items``)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.only_unkept:
            clauses.append("items.kept = 0")
        elif not self.include_unkept:
            clauses.append("items.kept = 1")
        if self.story:
            where, story_params = id_prefix("story_id", self.story.strip())
            clauses.append(f"items.id IN (SELECT item_id FROM story_items WHERE {where})")
            params.extend(story_params)
        dates, date_params = self.date_clauses("items.published")
        clauses += dates
        params += date_params
        if self.topic and walk_topic:
            clauses.append("EXISTS (SELECT 1 FROM item_topics WHERE item_topics.item_id = "
                           "items.id AND item_topics.topic = ?)")
            params.append(self.topic)
        elif self.topic:
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
        if self.outlets is not None:
            clause, outlet_params = self.outlets.clause("items.id")
            clauses.append(clause)
            params += outlet_params
        return (" AND ".join(clauses) or "1"), params


def filter_warnings(store: Store, filters: Filters, *, topics: Collection[str],
                    now: datetime) -> list[str]:
    """Why ``filters`` can match nothing, for a listing that came back empty: one line per
    filter the database cannot satisfy, naming the known values nearest to it.

    Checked in this order: a period that is inverted (``--since`` after ``--until``) or in
    the future; a ``--topic`` that is neither in ``topics`` (the configured ones) nor in the
    database; a ``--lang`` no stored item has; a ``--feed`` no feed's id, URL or name
    matches; a ``--story`` no story's id starts with. A filter that is only strict (a known
    topic with no item in the period) gives no line. Each check is one query; only the
    language check reads every item, and only when the language is unknown.
    """
    lines: list[str] = []
    conn = store.db.conn
    since, until = filters.since, filters.until
    if since and until and since >= until:
        relation = "is after" if since > until else "is the same time as"
        lines.append(f"--since {_when(since)} {relation} --until {_when(until)}: nothing can "
                     f"match (swap them?)")
    elif since and since > now:
        lines.append(f"--since {_when(since)} is in the future: nothing can match yet")
    topic = filters.topic
    if topic and topic not in topics and not conn.execute(
            "SELECT 1 FROM item_topics WHERE topic = ? LIMIT 1", [topic]).fetchone():
        names = sorted(topics)
        lines.append(f"--topic {topic!r} is not a configured topic"
                     f"{_did_you_mean(topic, names)}; topics: {_some(names)}")
    language = (filters.language or "").lower()
    if language and not conn.execute("SELECT 1 FROM items WHERE language = ? LIMIT 1",
                                     [language]).fetchone():
        codes = [r[0] for r in conn.execute(
            "SELECT language FROM items WHERE language IS NOT NULL GROUP BY language "
            "ORDER BY count(*) DESC, language")]
        known = f"languages in the database: {_some(codes)}" if codes else \
            "no item in the database has a language"
        lines.append(f"--lang {filters.language!r}: no item in that language"
                     f"{_did_you_mean(language, codes)}; {known}")
    feed = filters.feed
    if feed:
        like = "%" + re.sub(r"([\\%_])", r"\\\1", feed) + "%"
        if not conn.execute(
                "SELECT 1 FROM feeds f WHERE CAST(f.id AS TEXT) = ? OR f.url = ? OR f.name "
                "LIKE ? ESCAPE '\\' OR f.title LIKE ? ESCAPE '\\' LIMIT 1",
                [feed, feed, like, like]).fetchone():
            names = [r[0] for r in conn.execute(
                "SELECT coalesce(name, title, url) FROM feeds ORDER BY active DESC, id")]
            lines.append(f"--feed {feed!r} matches no feed's id, URL or name"
                         f"{_did_you_mean(feed, names, words=True)}; {len(names)} feed(s): "
                         f"see `mediamon feeds list`")
    story = (filters.story or "").strip()
    where, story_params = id_prefix("story_id", story)
    if story and not conn.execute(
            f"SELECT 1 FROM story_items WHERE {where} LIMIT 1", story_params).fetchone():
        lines.append(f"--story {story!r} matches no story's id (see `mediamon stories`)")
    scope = filters.outlets
    if scope is not None and not scope.outlets and scope.unregistered is None:
        lines.append(f"{scope.label}: no outlet in the source registry matches")
    return lines


def _when(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.time() == datetime.min.time():
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _some(values: list[str], limit: int = 20) -> str:
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def _did_you_mean(value: str, known: list[str], *, words: bool = False) -> str:
    """``" (did you mean 'a' or 'b'?)"`` for the (at most 3) known values closest to
    ``value`` (difflib's ratio, case ignored; with ``words``, a value may also be close to
    one word of a known value, as a feed name part is), or ``""``."""
    wanted = value.lower()
    scored = []
    for name in known:
        parts = [name.lower(), *(name.lower().split() if words else [])]
        score = max(difflib.SequenceMatcher(None, wanted, part).ratio() for part in parts)
        if score >= 0.6:
            scored.append((-score, name))
    close = [repr(name) for _, name in sorted(scored)[:3]]
    if not close:
        return ""
    return " (did you mean " + (f"{', '.join(close[:-1])} or " if close[1:] else "") + \
        close[-1] + "?)"


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("topics", "authors", "categories", "explanation", "terms"):
        if key in row and isinstance(row[key], str):
            row[key] = json.loads(row[key])
    if "kept" in row:
        row["kept"] = bool(row["kept"])
    row.pop("story_rank", None)
    return row


# A topic with at least this many items is filtered per item while walking the date index
# (a page of a common topic is found in the first few hundred items); a rarer one is
# collected first and its items sorted. At a million items, `items --topic taliban` took
# a second through the collected list (every item of the topic sorted by date), 7 ms per
# walk; a topic no item has took 0.6 s to walk, nothing to collect.
COMMON_TOPIC = 5_000


def _common_topic(store: Store, topic: str | None) -> bool:
    """Whether ``topic`` has at least ``COMMON_TOPIC`` items (an index range, read at most
    that far)."""
    if not topic:
        return False
    return bool(store.db.conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM item_topics WHERE topic = ? LIMIT ?)",
        [topic, COMMON_TOPIC]).fetchone()[0] >= COMMON_TOPIC)


def items(store: Store, filters: Filters) -> list[dict[str, Any]]:
    """Stored items, newest first."""
    if (pg := on_postgres(store)) is not None:
        return pg.read_items(filters)  # type: ignore[no-any-return]
    where, params = filters.where(walk_topic=_common_topic(store, filters.topic))
    sql = f"""
        SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = items.feed_id
        WHERE {where} ORDER BY items.published DESC, items.id LIMIT ? OFFSET ?
    """
    if filters.collapse:
        sql = _collapsed(f"SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = "
                         f"items.feed_id WHERE {where}", "published DESC, id")
    return [_decode(r) for r in store.db.query(sql, [*params, filters.limit, filters.offset])]


def search(store: Store, query: str, filters: Filters) -> list[dict[str, Any]]:
    """Full-text search over title, summary and content, best match first.

    ``query`` is SQLite FTS5 syntax: words, "phrases", AND / OR / NOT, prefix*, and
    column filters such as ``title:kabulov``.
    """
    if not query.strip():
        raise QueryError("empty search query")
    if (pg := on_postgres(store)) is not None:
        return pg.read_search(query, filters)  # type: ignore[no-any-return]
    if has_cjk(query):  # Chinese, Japanese, Korean: the trigram index (store.scripts)
        return [_decode(r) for r in _cjk_search(store, cjk_terms(query), filters)]
    query = expand_query(query, filters.language)  # талибы finds талибов (core.searchterms)
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
            rows = list(store.db.query(sql, [query, *params, filters.limit, filters.offset]))
        else:
            # -- articles (store.articles): items whose article text matches too
            k = max(200, 4 * (filters.offset + filters.limit))
            hits = store.article_hits(query, k)
            rows = _with_articles(store, query, filters, hits, k) if hits else \
                _ranked_first(store, query, filters)
            # -- end articles
    except sqlite3.OperationalError as exc:
        raise QueryError(f"invalid search query {query!r}: {_fts_reason(exc)}") from None
    return [_decode(r) for r in rows]


# -- articles: search looks in the article texts too (store.articles) -------------------


def _with_articles(store: Store, query: str, filters: Filters,
                   hits: list[tuple[int, float]], k: int) -> list[dict[str, Any]]:
    """The page of a search with the items whose article text matches (``hits``: the best
    ``k`` article matches, items' rowids and the article index's bm25) beside those whose
    feed text does: each item once, at its better rank, with the article's snippet when its
    feed text has none. The two indexes' bm25 values are compared as they are (an article's
    text weighs as much as an item's content).

    As ``_ranked_first`` does, the best ``k`` article matches are filtered first; when
    fewer than a page's worth pass the filters and there were more matches, every article
    match is. Only the page's rows are then read in full."""
    end = filters.offset + filters.limit
    rows = _ranked_first(store, query, replace(filters, offset=0, limit=end))
    where, params = filters.where()
    # CROSS JOIN: look each hit up by rowid (a filter such as kept = 1 would otherwise
    # have SQLite walk that index over the whole table).
    select = (f"SELECT items.id, items.rowid FROM json_each(?) AS hit CROSS JOIN items "
              f"ON items.rowid = hit.value WHERE {where}")
    ranks = dict(hits)
    passed = store.db.execute(select, [json.dumps(list(ranks)), *params]).fetchall()
    if len(passed) < end and len(hits) >= k:
        ranks = dict(store.article_hits(query, 2**31 - 1))
        passed = store.db.execute(select, [json.dumps(list(ranks)), *params]).fetchall()
    best: dict[str, dict[str, Any]] = {row["id"]: row for row in rows}
    rowids: dict[str, int] = {}
    for item_id, rowid in passed:
        rowids[item_id] = rowid
        old = best.get(item_id)
        if old is None or ranks[rowid] < old["rank"]:
            best[item_id] = {**(old or {"id": item_id, "snippet": None}),
                             "rank": ranks[rowid]}
    page = sorted(best.values(), key=lambda r: (r["rank"], r["id"]))[filters.offset:end]
    # The page's rows that only the articles found, in full; the article's snippet for the
    # rows whose feed text has none.
    only = [r["id"] for r in page if "title" not in r]
    full = {r["id"]: r for r in store.db.query(
        f"SELECT {LIST_COLUMNS} FROM json_each(?) AS hit CROSS JOIN items "
        f"ON items.id = hit.value JOIN feeds ON feeds.id = items.feed_id", [json.dumps(only)])}
    page = [{**full[r["id"]], **r} if r["id"] in full else r for r in page]
    wanted = [rowids[r["id"]] for r in page if r["snippet"] is None and r["id"] in rowids]
    snippets = store.article_snippets(query, wanted)
    return [{**r, "snippet": snippets.get(rowids[r["id"]])} if r["snippet"] is None and
            r["id"] in rowids else r for r in page]
# -- end articles


# How many of the best matches the fast path ranks before applying the filters.
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

    A later page (``filters.offset``) is the same search for every row up to the page's end,
    of which the page's rows are kept: the order ends with the item id, so pages never
    overlap or leave a gap.
    """
    where, params = filters.where()
    limit = filters.offset + filters.limit
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
    rows = rows[filters.offset:]
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


def _cjk_search(store: Store, terms: list[tuple[str, ...]],
                filters: Filters) -> list[dict[str, Any]]:
    """A search whose words have Chinese, Japanese or Korean text, in the trigram index of
    the items that have such text (``store.scripts``): every word must occur; ranked by
    bm25 when a word has three characters or more, newest first otherwise."""
    where, params = filters.where()
    clause, found, ranked = scripts.search_sql(terms)
    rank = "bm25(items_cjk)" if ranked else "0.0"
    snippet = ("snippet(items_cjk, 0, '[', ']', '…', 24)" if ranked
               else "substr(items_cjk.text, 1, 160)")
    sql = f"""
        SELECT {LIST_COLUMNS}, {snippet} AS snippet, {rank} AS rank
        FROM items_cjk
        JOIN items ON items.rowid = items_cjk.rowid
        JOIN feeds ON feeds.id = items.feed_id
        WHERE {clause} AND {where}
        ORDER BY rank, items.published DESC, items.id LIMIT ? OFFSET ?
    """
    if filters.collapse:
        sql = _collapsed(sql.rsplit("ORDER BY", 1)[0], "rank, id")
    try:
        return list(store.db.query(sql, [*found, *params, filters.limit, filters.offset]))
    except sqlite3.OperationalError as exc:
        if "no such table: items_cjk" in str(exc):
            raise QueryError("this database has no index for Chinese, Japanese and Korean "
                             "search yet: open it once with a writable mediamon (any "
                             "command) to add it") from None
        raise QueryError(f"invalid search: {_fts_reason(exc)}") from None


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
    if (pg := on_postgres(store)) is not None:
        return pg.read_item(item_id)  # type: ignore[no-any-return]
    where, params = id_prefix("items.id", item_id)
    rows = list(store.db.query(
        "SELECT items.*, feeds.name AS feed_name, feeds.url AS feed_url FROM items "
        f"JOIN feeds ON feeds.id = items.feed_id WHERE {where} LIMIT 2", params))
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
    item["article"] = store.article_of(item["id"])  # articles: None if never fetched
    return item


def feed_health(store: Store, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every feed with its state and item counts: removed feeds last, paused ones before
    them, and before the healthy ones the feeds that need attention: gone (410) and dead
    first, then failing ones, most consecutive failures first. ``health`` says which
   ."""
    if (pg := on_postgres(store)) is not None:
        return pg.read_feed_health(now)  # type: ignore[no-any-return]
    since = utc_iso((now or datetime.now(UTC)) - timedelta(days=1))
    # A database opened read-only is not migrated: before m009 no feed is paused.
    paused = "feeds.paused" if "paused" in store.db["feeds"].columns_dict else "0"
    rows = list(store.db.query(feed_health_sql(paused), [since, since]))
    return [health_row(row) for row in rows]


def feed_health_sql(paused: str = "feeds.paused") -> str:
    """``feed_health``'s query, with ``?`` placeholders for the two "since" times: the
    PostgreSQL store runs the same text (``store.postgres.query``). ``paused``: the
    column, or ``0`` for a database from before m009."""
    return f"""
        SELECT feeds.id, feeds.name, feeds.url, feeds.origin, feeds.active,
               {paused} AS paused, feeds.tags,
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
        ORDER BY feeds.active DESC, paused,
                 (feeds.gone_since IS NOT NULL OR feeds.dead_since IS NOT NULL) DESC,
                 feeds.failures > 0 DESC, feeds.failures DESC, feeds.id
    """


def health_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``feed_health_sql`` decoded (tags, flags, counts) with its ``health``."""
    row["tags"] = json.loads(row["tags"] or "[]")
    row["active"] = bool(row["active"])
    row["paused"] = bool(row["paused"])
    row["items_last_day"] = int(row["items_last_day"])
    row["health"] = _health(row)
    return row


def _health(row: dict[str, Any]) -> str:
    return (
        "removed" if not row["active"] else
        "paused" if row["paused"] else
        "gone" if row["gone_since"] else
        "dead" if row["dead_since"] else
        "failing" if row["failures"] else
        "ok" if row["last_fetch"] else "new"
    )


def feed_health_with_config(store: Store | None, sources: Sequence[FeedSource], *,
                            now: datetime | None = None) -> list[dict[str, Any]]:
    """``feed_health`` for the config as it is now, without writing anything: the config's
    feeds that are not in the database yet (or no database at all: ``store`` None) are
    listed as new, feeds no longer in the config as removed, and the config's names, tags
    and intervals win, as ``Store.sync_config_feeds`` (run by ``run``) will make them.

    Each row also has ``pinned_interval`` (seconds, or None: adaptive), ``body_hint`` (the
    feed's own ttl, seconds) and, for a feed whose last poll failed, ``last_body_bytes``:
    the size of the body it got (0 when the fetch itself failed; more when the body came
    but could not be parsed)."""
    rows = feed_health(store, now=now) if store is not None else []
    extra = {r[0]: r[1:] for r in store.db.execute(
        "SELECT id, interval, body_hint FROM feeds")} if store is not None else {}
    by_url = {row["url"]: row for row in rows}
    listed = {s.url for s in sources}
    for row in rows:
        row["pinned_interval"], row["body_hint"] = extra.get(row["id"], (None, None))
        if row["last_status"] == "error" and store is not None:
            last = store.db.execute("SELECT bytes FROM fetch_log WHERE feed_id = ? "
                                    "ORDER BY started DESC, id DESC LIMIT 1",
                                    [row["id"]]).fetchone()
            row["last_body_bytes"] = last[0] if last else 0
        if row["origin"] == "config" and row["url"] not in listed:
            row["active"] = False
    for s in sources:
        found = by_url.get(s.url)
        if found is None:
            row = by_url[s.url] = {
                "id": None, "url": s.url, "active": True, "paused": False,
                "last_status": None, "last_http_status": None, "last_error": None,
                "failures": 0, "last_success": None, "last_fetch": None, "next_fetch": None,
                "next_reason": None, "poll_interval": None, "publish_rate": None,
                "fetch_url": None, "failing_since": None, "dead_since": None,
                "gone_since": None, "kept_items": 0, "kept_last_day": 0, "items_last_day": 0,
                "body_hint": None}
            rows.append(row)
        else:
            row = found
        row.update(name=s.name, tags=list(s.tags), pinned_interval=s.interval,
                   origin="config", active=True)
    for row in rows:
        row["health"] = _health(row)
    # The order of feed_health: removed last, then paused; gone and dead, then failing
    # (most failures first) before the healthy ones; new feeds of the config at the end.
    rows.sort(key=lambda r: (not r["active"], r["paused"],
                             not (r["gone_since"] or r["dead_since"]), not r["failures"],
                             -r["failures"], r["id"] is None, r["id"] or 0))
    return rows


def counts(store: Store) -> dict[str, int]:
    one = store.db.execute
    return {
        "feeds": one("SELECT count(*) FROM feeds WHERE active = 1").fetchone()[0],
        "items_kept": one("SELECT count(*) FROM items WHERE kept = 1").fetchone()[0],
        "items_stored": one("SELECT count(*) FROM items").fetchone()[0],
        "items_seen": one("SELECT count(*) FROM seen").fetchone()[0],
    }
