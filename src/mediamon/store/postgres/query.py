"""The read side on PostgreSQL: ``store.query``'s listing, search and item, same rows.

``items``, ``get_item`` and ``feed_health`` give what SQLite's give (the same filters, through
``store.query.Filters``, whose conditions are plain SQL with bound parameters; the same
order, ending with the item id). ``search`` takes the same query language as SQLite's FTS5
(words, "phrases", prefix*, AND / OR / NOT, parentheses: ``ts_query`` translates it) over
``items.search`` with its GIN index, ranked by ``ts_rank`` with title, summary and content
weighted 5 : 2 : 1 as SQLite's bm25 is, best first, ties by id. Documented differences: a
word matches its other forms in languages PostgreSQL stems (``talk`` finds "talks"); a
prefix matches stems, not words (English stems "recognizes" to ``recogn``, so ``recogni*``
misses it where ``recogn*`` finds it); the snippet is ``ts_headline``'s; and
``--collapse`` is SQLite's only for now.

The CLI does not call these yet (its commands open SQLite); this module only reads.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from mediamon.clock import utc_iso
from mediamon.errors import QueryError
from mediamon.store.postgres.schema import TS_CONFIGS
from mediamon.store.query import LIST_COLUMNS, Filters, feed_health_sql, health_row

if TYPE_CHECKING:
    from mediamon.store.postgres.store import PostgresStore

# ts_rank's weights are {D, C, B, A}: content (D) 1, summary (B) 2, title (A) 5, scaled to
# ts_rank's 0..1 range.
RANK_WEIGHTS = "{0.2, 0.0, 0.4, 1.0}"
_TOKEN = re.compile(r'"[^"]*"|\(|\)|[^\s()"]+')


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
    return row


def _query(store: PostgresStore, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with store.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return [_decode(r) for r in cur.execute(sql, params).fetchall()]


def items(store: PostgresStore, filters: Filters) -> list[dict[str, Any]]:
    """Stored items, newest first (``store.query.items``)."""
    if filters.collapse:
        raise QueryError("--collapse needs a SQLite database for now")
    where, params = filters.where()
    return _query(store, f"""
        SELECT {LIST_COLUMNS} FROM items JOIN feeds ON feeds.id = items.feed_id
        WHERE {_pg(where)} ORDER BY items.published DESC, items.id LIMIT %s OFFSET %s
    """, [*params, filters.limit, filters.offset])


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
        prefix = token.endswith("*") and not token.startswith('"')
        words = re.findall(r"\w+", token.strip('"*'))
        if not words:
            if out and out[-1] == "&":
                out.pop()
            continue
        quoted = [f"'{w}'" for w in words]
        term = " <-> ".join(quoted)
        if prefix:
            term = " <-> ".join([*quoted[:-1], quoted[-1] + ":*"])
        out.append(f"({term})" if len(words) > 1 else term)
    while out and out[-1] in ("&", "|", "!"):
        out.pop()
    if depth:
        raise QueryError(f"invalid search query {text!r}: unbalanced '('")
    if not out:
        raise QueryError("empty search query")
    return " ".join(out)


def search(store: PostgresStore, query: str, filters: Filters) -> list[dict[str, Any]]:
    """Full-text search, best match first (``store.query.search``): the query is made in
    every text search configuration the stored items' languages use, so one GIN index
    lookup finds each item in its own language."""
    if not query.strip():
        raise QueryError("empty search query")
    if filters.collapse:
        raise QueryError("--collapse needs a SQLite database for now")
    text = ts_query(query)
    with store.pool.connection() as conn:
        languages = [r[0] for r in conn.execute(
            "SELECT DISTINCT language FROM items WHERE language IS NOT NULL")]
    configs = sorted({"simple", *(TS_CONFIGS[code] for code in
                                  (lang.split("-")[0].lower() for lang in languages)
                                  if code in TS_CONFIGS)})
    tsquery = " || ".join("to_tsquery(%s, %s)" for _ in configs)
    where, params = filters.where()
    return _query(store, f"""
        WITH q AS (SELECT ({tsquery}) AS query)
        SELECT {LIST_COLUMNS},
               ts_headline(mediamon_ts_config(items.language),
                           items.title || ' ' || items.summary, q.query,
                           'StartSel=[, StopSel=], MaxWords=14, MinWords=5') AS snippet,
               -ts_rank(%s::float4[], items.search, q.query) AS rank
        FROM q, items JOIN feeds ON feeds.id = items.feed_id
        WHERE items.search @@ q.query AND {_pg(where)}
        ORDER BY rank, items.id LIMIT %s OFFSET %s
    """, [*(v for c in configs for v in (c, text)), RANK_WEIGHTS, *params, filters.limit,
          filters.offset])


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
    return item


def feed_health(store: PostgresStore, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every feed with its state and item counts, in ``store.query.feed_health``'s order
    (removed last, paused before them, gone and dead first, then the failing ones), with
    its ``health``: what `status` lists."""
    since = utc_iso((now or datetime.now(UTC)) - timedelta(days=1))
    rows = _query(store, _pg(feed_health_sql()), [since, since])
    return [health_row(row) for row in rows]
