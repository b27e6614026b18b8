"""The read side on PostgreSQL: ``store.query``'s listing, search and item, same rows.

``items``, ``get_item`` and ``feed_health`` give what SQLite's give (the same filters, through
``store.query.Filters``, whose conditions are plain SQL with bound parameters; the same
order, ending with the item id). ``search`` takes the same query language as SQLite's FTS5
(words, "phrases", prefix*, AND / OR / NOT, parentheses: ``ts_query`` translates it) over
``items.search`` with its GIN index, ranked by ``ts_rank`` with title, summary and content
weighted 5 : 2 : 1 as SQLite's bm25 is, best first, ties by id. Documented differences: a
word matches its other forms in languages PostgreSQL stems (``talk`` finds "talks"); a
prefix matches stems, not words (English stems "recognizes" to ``recogn``, so ``recogni*``
misses it where ``recogn*`` finds it); the snippet is ``ts_headline``'s. ``--collapse`` runs
SQLite's own text (``store.query._collapsed``).

``store.query``'s functions hand a PostgreSQL store to these (``read.PostgresReading``), so
the CLI's commands call the same functions on both backends. This module only reads.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from mediamon.clock import utc_iso
from mediamon.errors import QueryError
from mediamon.store.articles import ARTICLE_COLUMNS
from mediamon.store.postgres.schema import TS_CONFIGS
from mediamon.store.query import (
    LIST_COLUMNS,
    Filters,
    _collapsed,
    feed_health_sql,
    health_row,
)

if TYPE_CHECKING:
    from mediamon.store.postgres.store import PostgresStore

# Every text search configuration an item's language can have (``mediamon_ts_config``).
ALL_CONFIGS = sorted({"simple", *TS_CONFIGS.values()})
# ts_rank's weights are {D, C, B, A}: content (D) 1, summary (B) 2, title (A) 5, scaled to
# ts_rank's 0..1 range.
RANK_WEIGHTS = "{0.2, 0.0, 0.4, 1.0}"
_TOKEN = re.compile(r'(?:title|summary|content):"[^"]*"|"[^"]*"|\(|\)|[^\s()"]+')
# FTS5's column filters (``title:kabulov``) as the weight of the column in ``items.search``.
_COLUMN_WEIGHTS = {"title": "A", "summary": "B", "content": "D"}


def _pg(where: str) -> str:
    """``Filters.where`` conditions in PostgreSQL's spelling (its placeholders)."""
    return "TRUE" if where.strip() == "1" else where.replace("?", "%s")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("topics", "authors", "categories", "explanation"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    if "kept" in row:
        row["kept"] = bool(row["kept"])
    row.pop("search", None)
    row.pop("story_rank", None)
    return row


def _query(store: PostgresStore, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with store.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return [_decode(r) for r in cur.execute(sql, params).fetchall()]


def items(store: PostgresStore, filters: Filters) -> list[dict[str, Any]]:
    """Stored items, newest first (``store.query.items``)."""
    where, params = filters.where()
    select = f"""
        SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = items.feed_id
        WHERE {_pg(where)}"""
    sql = _pg(_collapsed(select, "published DESC, id")) if filters.collapse else \
        select + " ORDER BY items.published DESC, items.id LIMIT %s OFFSET %s"
    return _query(store, sql, [*params, filters.limit, filters.offset])


def ts_query(text: str) -> str:
    """An FTS5 query as a ``to_tsquery`` text: words AND-ed by default, "phrases" as
    ``<->`` chains, ``word*`` as a prefix, AND / OR / NOT and parentheses kept. Raises
    QueryError for an empty or unbalanced query."""
    out: list[str] = []
    depth = 0
    for token in _TOKEN.findall(text):
        if token in ("AND", "OR", "NOT"):
            if token == "NOT":
                out += (["&"] if out and out[-1] not in ("&", "|", "(") else []) + ["!"]
            else:
                out.append("&" if token == "AND" else "|")
            continue
        if token == ")":
            depth -= 1
            if depth < 0:
                raise QueryError(f"invalid search query {text!r}: unbalanced ')'")
            out.append(")")
            continue
        if out and out[-1] not in ("&", "|", "!", "("):
            out.append("&")  # juxtaposed terms: AND, as in FTS5
        if token == "(":
            depth += 1
            out.append("(")
            continue
        column, _, rest = token.partition(":")
        weight = _COLUMN_WEIGHTS.get(column, "") if rest else ""
        if rest and not weight and not token.startswith('"'):
            raise QueryError(f"invalid search query {text!r}: {column!r} is not a column "
                             "(search columns: title, summary, content); put words with ':' "
                             "or '-' in double quotes")
        token = rest if weight else token
        prefix = token.endswith("*") and not token.startswith('"')
        words = re.findall(r"\w+", token.strip('"*'))
        if not words:
            if out and out[-1] == "&":
                out.pop()
            continue
        quoted = [f"'{w}'" + (f":{weight}" if weight else "") for w in words]
        term = " <-> ".join(quoted)
        if prefix:
            term = " <-> ".join([*quoted[:-1], f"'{words[-1]}':*{weight}"])
        out.append(f"({term})" if len(words) > 1 else term)
    while out and out[-1] in ("&", "|", "!"):
        out.pop()
    if depth:
        raise QueryError(f"invalid search query {text!r}: unbalanced '('")
    if not out:
        raise QueryError("empty search query")
    return " ".join(out)


def search(store: PostgresStore, query: str, filters: Filters) -> list[dict[str, Any]]:
    """Full-text search, best match first (``store.query.search``): each item is matched
    by the query made in its own language's text search configuration.

    The query is first made in every configuration (``to_tsquery``, no table read), and the
    configurations that make it the same are grouped: each distinct query is one GIN index
    lookup, kept for the items whose language uses one of its configurations. So a search
    reads no more than its matches, however many items and languages are stored.

    Article texts (``articles.search``, where the database has them) are searched too, as
    SQLite's ``search`` does: an item matching in its feed text or its article is listed
    once, at its better rank (an article's text weighs as much as an item's content), with
    the article's snippet when its feed text does not match."""
    if not query.strip():
        raise QueryError("empty search query")
    text = ts_query(query)
    with store.pool.connection() as conn:
        groups = conn.execute(
            "SELECT q::text, array_agg(cfg ORDER BY cfg) FROM (SELECT cfg, "
            "to_tsquery(cfg::regconfig, %s) AS q FROM unnest(%s::text[]) AS cfg) AS made "
            "WHERE numnode(q) > 0 GROUP BY q::text ORDER BY 1", [text, ALL_CONFIGS]).fetchall()
        found = conn.execute("SELECT to_regclass('articles') IS NOT NULL").fetchone()
    if not groups:  # only words every configuration drops (stop words)
        return []
    articles = bool(found and found[0])
    values = ", ".join("(%s::tsquery, %s::text[])" for _ in groups)
    headline = "'StartSel=[, StopSel=], MaxWords=14, MinWords=5'"
    item_snippet = (f"ts_headline(mediamon_ts_config(items.language), concat_ws(' ', "
                    f"items.title, items.summary, items.content), hit.item_query, {headline})")
    if articles:
        matches = """
        art AS (SELECT a.item_id AS id, q.query, -ts_rank(%s::float4[], a.search, q.query) AS rank
                FROM q JOIN articles a ON a.search @@ q.query
                    AND mediamon_ts_config(a.language)::text = ANY(q.configs)),
        hit AS (SELECT coalesce(itm.id, art.id) AS id, least(itm.rank, art.rank) AS rank,
                       itm.query AS item_query, art.query AS article_query
                FROM itm FULL JOIN art ON art.id = itm.id)"""
        snippet = (f"CASE WHEN hit.item_query IS NOT NULL THEN {item_snippet} ELSE "
                   f"ts_headline(mediamon_ts_config(a.language), a.text, hit.article_query, "
                   f"{headline}) END")
        join_article = "LEFT JOIN articles a ON a.item_id = items.id AND hit.item_query IS NULL"
    else:
        matches = "hit AS (SELECT id, rank, query AS item_query FROM itm)"
        snippet, join_article = item_snippet, ""
    where, params = filters.where()
    select = f"""
        WITH q(query, configs) AS (VALUES {values}),
        itm AS (SELECT items.id, q.query,
                       -ts_rank(%s::float4[], items.search, q.query) AS rank
                FROM q JOIN items ON items.search @@ q.query
                    AND mediamon_ts_config(items.language)::text = ANY(q.configs)),
        {matches}
        SELECT {LIST_COLUMNS}, {snippet} AS snippet, hit.rank AS rank
        FROM hit JOIN items ON items.id = hit.id
        JOIN feeds ON feeds.id = items.feed_id
        {join_article}
        WHERE {_pg(where)}"""
    sql = _pg(_collapsed(select, "rank, id")) if filters.collapse else \
        select + " ORDER BY rank, items.id LIMIT %s OFFSET %s"
    weights = [RANK_WEIGHTS, RANK_WEIGHTS] if articles else [RANK_WEIGHTS]
    return _query(store, sql, [*(v for group in groups for v in group), *weights,
                               *params, filters.limit, filters.offset])


def get_item(store: PostgresStore, item_id: str) -> dict[str, Any] | None:
    """One item in full with its topic matches and feeds (``store.query.get_item``);
    ``item_id`` may be a unique prefix of the id."""
    variants = list(dict.fromkeys((item_id, item_id.lower())))
    clause = " OR ".join("(items.id >= %s AND items.id < %s)" for _ in variants)
    rows = _query(store, "SELECT items.*, feeds.name AS feed_name, feeds.url AS feed_url "
                  f"FROM items JOIN feeds ON feeds.id = items.feed_id WHERE {clause} LIMIT 2",
                  [b for p in variants for b in (p, p + "\U0010ffff")])
    if not rows:
        return None
    if len(rows) > 1:
        raise QueryError(f"{item_id!r} is ambiguous: give more of the id")
    item = rows[0]
    with store.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        item["matches"] = {r["topic"]: json.loads(r["terms"]) for r in cur.execute(
            "SELECT topic, terms FROM item_topics WHERE item_id = %s ORDER BY topic",
            [item["id"]])}
        item["feeds"] = cur.execute(
            "SELECT feeds.id, feeds.name, feeds.url, item_feeds.first_seen FROM item_feeds "
            "JOIN feeds ON feeds.id = item_feeds.feed_id WHERE item_id = %s "
            "ORDER BY item_feeds.first_seen", [item["id"]]).fetchall()
    item["article"] = article_of(store, item["id"])  # as store.query.get_item
    return item


def article_of(store: PostgresStore, item_id: str) -> dict[str, Any] | None:
    """The article row of a stored item (``store.articles.ArticlesStore.article_of``): None
    when its page was never asked for, or the database has no articles table."""
    with store.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute("SELECT to_regclass('articles') IS NOT NULL AS here").fetchone()
        if not found or not found["here"]:
            return None
        row = cur.execute(f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles "
                          "WHERE item_id = %s", [item_id]).fetchone()
    return dict(row) if row else None


def feed_health(store: PostgresStore, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every feed with its state and item counts, in ``store.query.feed_health``'s order
    (removed last, paused before them, gone and dead first, then the failing ones), with
    its ``health``: what `status` lists."""
    since = utc_iso((now or datetime.now(UTC)) - timedelta(days=1))
    rows = _query(store, _pg(feed_health_sql()), [since, since])
    return [health_row(row) for row in rows]
