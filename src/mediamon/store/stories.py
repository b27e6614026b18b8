"""in the store: stories, folded copies and item versions, on SQLite and PostgreSQL.

The feed pass (``store.ingest``) calls in here inside its one transaction per feed pass, so
an item is never stored without its story, and a crash leaves neither. The deciding is done
by the pure ``stories`` module; this one only reads candidates and writes results, in one
SQL text for both databases (SQLite's placeholders; ``store.postgres.sql.PgConn`` runs it on
PostgreSQL): what the two say differently is the small ``DIALECTS`` table and
``store.base.among``. Where several PostgreSQL writers may meet, membership rows are unique
(``ON CONFLICT DO NOTHING``), an item's row is locked before its versions are numbered, and
a story's counters may wait for the commit (``assign``'s ``later``, ``update_stories``).

Tables (created by ``store.m003_stories``; ``store.m010_story_headlines`` added the
headline key of ``story_items``):

    stories        one row per story: first published time, first item and outlet,
                   representative title (the earliest mention's), mention count, reach
    story_items    one row per stored item: its story, outlet, time, term hashes, headline
                   key, and the item it joined through (with the similarity); the index
                   on (headline, t) finds earlier items with the same headline (m010)
    story_bands    LSH band keys: (key, t, n), the primary key is the lookup index, so finding
                   candidates is ``bands`` index range scans limited to the time window
    item_aliases   ids of copies folded into a stored item (another feed's copy of the same
                   URL, or a re-sent item with a new guid): the copy's id -> the item's id
    item_versions  earlier versions of an item's title, text and link, with what changed

Story tables carry no foreign keys, so the index can be exercised on its own (benchmarks,
evaluation). Nothing here decides relevance or scheduling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from mediamon.core.stories import (
    Candidate,
    Decision,
    Fingerprint,
    StorySettings,
    band_keys,
    decide,
    fingerprint,
    headline_band_keys,
    headline_key,
    minutes,
    pack_terms,
    story_id_for,
    unpack_terms,
    usable_headline,
)
from mediamon.core.text import fold
from mediamon.core.urls import dedup_key, registrable_domain, site_of
from mediamon.store.base import SQLiteBase, among, id_prefix, json_list_sql
from mediamon.store.outlets import OutletScope

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS stories (
        id TEXT PRIMARY KEY,
        first_published TEXT NOT NULL,      -- UTC ISO-8601: the earliest mention
        first_item_id TEXT NOT NULL,
        first_outlet TEXT,
        title TEXT NOT NULL,                -- the earliest mention's title
        last_published TEXT NOT NULL,
        items INTEGER NOT NULL,             -- stored items (each may have come via several feeds)
        reach INTEGER NOT NULL,             -- distinct outlets
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS stories_first_published ON stories(first_published)",
    "CREATE INDEX IF NOT EXISTS stories_last_published ON stories(last_published)",
    """
    CREATE TABLE IF NOT EXISTS story_items (
        n INTEGER PRIMARY KEY,              -- short handle for story_bands
        item_id TEXT NOT NULL UNIQUE,
        story_id TEXT NOT NULL,
        outlet TEXT,
        t INTEGER NOT NULL,                 -- published, minutes since the epoch
        terms BLOB NOT NULL,                -- sorted 32-bit term hashes
        via TEXT,                           -- the item it joined through (NULL: founded it)
        similarity REAL,                    -- Jaccard similarity to ``via``
        joined TEXT NOT NULL,
        headline TEXT                       -- stories.headline_key of the title (m010)
    )
    """,
    "CREATE INDEX IF NOT EXISTS story_items_story ON story_items(story_id, outlet)",
    "CREATE INDEX IF NOT EXISTS story_items_headline ON story_items(headline, t)",
    """
    CREATE TABLE IF NOT EXISTS story_bands (
        key INTEGER NOT NULL,
        t INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (key, t, n)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS item_aliases (
        id TEXT PRIMARY KEY,                -- the copy's own id (as normalise formed it)
        item_id TEXT NOT NULL,              -- the stored item it is a copy of
        feed_id INTEGER NOT NULL,
        reason TEXT NOT NULL,               -- 'same url' or 'same url and title'
        first_seen TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS item_aliases_item ON item_aliases(item_id)",
    """
    CREATE TABLE IF NOT EXISTS item_versions (
        item_id TEXT NOT NULL,
        version INTEGER NOT NULL,           -- 1 = the first version stored
        seen_from TEXT NOT NULL,            -- when this version was first stored
        replaced TEXT NOT NULL,             -- when a feed sent the next one
        feed_id INTEGER,                    -- the feed that sent the change
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        content TEXT NOT NULL,
        url TEXT,
        content_hash TEXT NOT NULL,
        changed TEXT NOT NULL,              -- JSON list: title, summary, content, url
        PRIMARY KEY (item_id, version)
    ) WITHOUT ROWID
    """,
]


def create_schema(conn: Any) -> None:
    """Create the stories tables (idempotent). ``conn`` is sqlite3 or sqlite-utils."""
    for statement in SCHEMA:
        conn.execute(statement)


def add_headlines(conn: Any) -> None:
    """Migration m010: give ``story_items`` its headline key column and index, and every
    stored item its key (from its title). Idempotent: a database whose story tables were
    created with the column already only gets the missing keys. Stories already formed are
    left as they are; headline identity applies to items stored from now on."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(story_items)")}
    if "headline" not in columns:
        conn.execute("ALTER TABLE story_items ADD COLUMN headline TEXT")
    conn.execute("CREATE INDEX IF NOT EXISTS story_items_headline ON story_items(headline, t)")
    rows = conn.execute(
        "SELECT si.n, i.title FROM story_items si JOIN items i ON i.id = si.item_id "
        "WHERE si.headline IS NULL").fetchall()
    conn.executemany("UPDATE story_items SET headline = ? WHERE n = ?",
                     [(headline_key(title or "") or None, n) for n, title in rows])


_HOST_LIKE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def merge_outlets(conn: Any) -> int:
    """Migration m014: outlets stored as hosts before an outlet was the registrable domain
    (``news.bbc.co.uk``, ``da.azadiradio.com``) become that domain (``bbc.co.uk``), and the
    reach and first outlet of each story that had one are counted again, so one outlet's
    subdomains count once. Feed names (a local feed's outlet) are left as they are.
    Returns how many stored outlets changed."""
    changes = []
    for (outlet,) in conn.execute(
            "SELECT DISTINCT outlet FROM story_items WHERE outlet IS NOT NULL").fetchall():
        if _HOST_LIKE.match(outlet):
            domain = registrable_domain(outlet)
            if domain != outlet:
                changes.append((domain, outlet))
    if not changes:
        return 0
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS merged_outlets (story_id TEXT PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO merged_outlets SELECT DISTINCT story_id "
                     "FROM story_items WHERE outlet = ?", [(old,) for _, old in changes])
    conn.executemany("UPDATE story_items SET outlet = ? WHERE outlet = ?", changes)
    conn.executemany("UPDATE stories SET first_outlet = ? WHERE first_outlet = ?", changes)
    conn.execute(
        "UPDATE stories SET reach = (SELECT count(DISTINCT outlet) FROM story_items "
        "WHERE story_id = stories.id) WHERE id IN (SELECT story_id FROM merged_outlets)")
    conn.execute("DROP TABLE merged_outlets")
    return len(changes)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def outlet_for(url: str | None, site_url: str | None = None, feed_url: str | None = None,
               feed_name: str | None = None) -> str | None:
    """The outlet of an item: the site of its link (``www.reuters.com`` -> ``reuters.com``),
    else of its feed's site or URL, else the feed's name (a local file has no site)."""
    for candidate in (url, site_url, feed_url):
        site = site_of(candidate)
        if site:
            return site
    return feed_name or None


# --- writing -------------------------------------------------------------------------------


# Only a story's first members are put in the band index. A new copy is compared with
# those, not with every earlier copy: in a news spike (hundreds of reprints of one wire
# story within hours) the candidates per item stay bounded instead of growing with the
# story, which made assignment cost quadratic in the spike (12 ms per item after 1,000
# copies, measured with benchmarks/run.py). A copy that resembles only a late member, not
# any of the first ones, starts its own story.
INDEXED_PER_STORY = 16

# Bounded candidates (docs/stories.md): a window crowded with same-topic items (wire texts
# repeated by hundreds of feeds, template headlines, rewrites that each start a story) made
# every new item read and compare hundreds of earlier ones (about 100 per item on the wire
# workload of benchmarks/workload.py: 2.3 ms of assignment per item, quadratic in a spike).
# Now a lookup reads at most PER_BUCKET rows of each band's bucket (the latest in the
# window: news arrives in time order), counts the bands each earlier item shares, checks
# only the MAX_CANDIDATES that share the most (then the most recently stored). Shared bands
# estimate similarity (a pair of Jaccard J shares bands x J^rows of them on average: 2.8 at
# the threshold, 0.2 for two unrelated items on one topic), so a true copy ranks high.
PER_BUCKET = 8
MAX_CANDIDATES = 32


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class Dialect:
    """What story writing says differently on each database (``DIALECTS``); the SQL itself
    is one text with SQLite's ``?`` placeholders (``store.postgres.sql.PgConn`` turns them
    into psycopg's)."""

    greatest: str  # the larger of two values
    least: str
    lock_row: str  # appended to a SELECT of rows this transaction changes next
    # Several writers: a story's reach is counted again from its members when a member
    # joins (another writer may have added an outlet meanwhile) and its row is locked
    # first. One writer: one probe of the (story_id, outlet) index says whether the new
    # member adds an outlet, where counting read every member (thousands in a spike).
    recount_reach: bool


DIALECTS = {
    "sqlite": Dialect(greatest="max", least="min", lock_row="", recount_reach=False),
    "postgresql": Dialect(greatest="GREATEST", least="LEAST", lock_row=" FOR UPDATE",
                          recount_reach=True),
}

# A change to a story's row that a member joining makes (``update_stories``):
# (story id, (stamp, published, item id, outlet, title, adds an outlet)).
StoryChange = tuple[str, tuple[str, str, str, str | None, str, bool]]


def candidates(
    conn: Any, band_keys: Sequence[int], t: int, settings: StorySettings,
    per_bucket: int = PER_BUCKET, limit: int = MAX_CANDIDATES,
) -> list[Candidate]:
    """Earlier items sharing a band key with ``band_keys`` and published within the window,
    at most ``limit`` of them: those sharing the most bands, then the most recently stored,
    among the ``per_bucket`` latest in the window in each band's bucket (one range scan of
    the band index per key, from the window's end back). However crowded the window, a
    lookup reads at most ``per_bucket * bands`` index rows and ``limit`` items."""
    if not band_keys:
        return []
    low, high = t - settings.window_minutes, t + settings.window_minutes
    rows = conn.execute(_bucket_sql(len(band_keys)), [
        *(value for key in band_keys for value in (key, low, high, per_bucket)), limit])
    return [Candidate(item_id, story_id, when, unpack_terms(bytes(blob)), shared, outlet,
                      headline)
            for item_id, story_id, when, blob, shared, outlet, headline in rows]


@lru_cache(maxsize=8)
def _bucket_sql(keys: int) -> str:
    """The candidate query for ``keys`` band keys (see ``candidates``); one text for SQLite
    and PostgreSQL (which wants a name for each subquery)."""
    walks = " UNION ALL ".join(
        "SELECT n FROM (SELECT n FROM story_bands WHERE key = ? AND t BETWEEN ? AND ? "
        f"ORDER BY t DESC LIMIT ?) AS w{k}" for k in range(keys))
    return ("SELECT i.item_id, i.story_id, i.t, i.terms, b.shared, i.outlet, i.headline FROM "
            f"(SELECT n, count(*) AS shared FROM ({walks}) AS w GROUP BY n "
            "ORDER BY shared DESC, n DESC LIMIT ?) AS b "
            "JOIN story_items AS i ON i.n = b.n")


# Earlier items with one headline that a lookup reads (the nearest in time): enough to find
# the story and to see a template repeated by one outlet; a spike of copies stays bounded.
# Each copy of a wire headline pays for this read in the single writer: 64 cost the wire
# workload 18.5 s against 15.2 s with 16 (docs/benchmarks.md), and grouped the real 2022
# pairs no better (tests/stories_eval.py --real: the same 53 of 53 agency-headline pairs).
HEADLINE_MATCHES = 16


def headline_candidates(conn: Any, key: str, t: int, settings: StorySettings,
                        limit: int = HEADLINE_MATCHES) -> list[Candidate]:
    """Items with headline key ``key`` published within the window of ``t``, nearest first
    (then the earlier, then the first stored): two walks of the (headline, t) index away
    from ``t``, each stopping after ``limit`` entries and reading only the index, then the
    ``limit`` nearest rows themselves. Their ``bands_shared`` is 0.

    Sorting every row with the key by distance instead read all copies of a wire headline
    (and each one's row) for each new copy: thousands in a spike."""
    low, high = t - settings.window_minutes, t + settings.window_minutes
    near = conn.execute(
        "SELECT * FROM (SELECT n, t FROM story_items WHERE headline = ? AND t BETWEEN ? AND ? "
        " ORDER BY t DESC, n DESC LIMIT ?) AS before_t "
        "UNION ALL "
        "SELECT * FROM (SELECT n, t FROM story_items WHERE headline = ? AND t > ? AND t <= ? "
        " ORDER BY t, n LIMIT ?) AS after_t",
        [key, low, t, limit, key, t, high, limit],
    ).fetchall()
    if not near:
        return []
    near.sort(key=lambda r: (abs(r[1] - t), r[1], r[0]))
    order = {n: rank for rank, (n, _) in enumerate(near[:limit])}
    rows = conn.execute(
        f"SELECT n, item_id, story_id, t, terms, outlet FROM story_items "
        f"WHERE n IN ({','.join('?' * len(order))})", list(order)).fetchall()
    rows.sort(key=lambda r: order[r[0]])
    return [Candidate(item_id, story_id, when, _term_set(bytes(blob)), 0, outlet, key)
            for _, item_id, story_id, when, blob, outlet in rows]


@lru_cache(maxsize=4096)
def _term_set(blob: bytes) -> frozenset[int]:
    """A stored item's term hashes as a set. The first members of busy stories are
    candidates for every new copy, so their sets are kept (keyed by the blob itself)."""
    return frozenset(unpack_terms(blob))


def _decide_by_headline(conn: Any, fp: Fingerprint, t: int, settings: StorySettings,
                        outlet: str | None) -> tuple[Decision | None, list[Candidate]]:
    """The decision from the items with the new item's headline alone, when they settle it:
    the headline joins it to a story, or one of them is an exact copy (the same terms: the
    most similar an item can be); and those items. None: the band index must be consulted.

    This is the fast path of wire copies: a copy word for word of an agency text shares its
    headline with the original, and costs one range scan of the headline index instead of
    the band lookup (docs/stories.md, "Bounded candidates")."""
    if not usable_headline(fp.headline, settings):
        return None, []
    found = headline_candidates(conn, fp.headline, t, settings)
    if not found:
        return None, []
    if fp.usable:  # an exact copy shares every band
        size = len(fp.terms)
        found = [c._replace(bands_shared=len(fp.bands))
                 if len(c.terms) == size and fp.terms.issuperset(c.terms) else c
                 for c in found]
    decision = decide(fp, t, found, settings, outlet)
    if decision.by == "headline" or (decision.by == "terms" and decision.similarity == 1.0):
        return decision, found
    return None, found


def assign(
    conn: Any,
    *,
    item_id: str,
    title: str,
    summary: str,
    published: datetime,
    outlet: str | None,
    settings: StorySettings,
    stamp: str,
    fp: Fingerprint | None = None,
    dialect: str = "sqlite",
    later: list[tuple[str, Any]] | None = None,
    carried: Decision | None = None,
) -> Decision:
    """Put one stored item into a story (an existing one or its own) and index it.

    ``conn`` runs SQLite-style SQL on ``dialect``'s database (a ``sqlite3`` connection, or
    ``store.postgres.sql.PgConn``). ``fp``: the item's fingerprint, if computed already
    (``stories.fingerprint`` of this title and summary under these settings). Returns the
    decision; an item that already has a story keeps it (also one another writer gave it
    a story meanwhile: its membership row is unique).

    Joining an existing story changes that story's row (counters, first mention). With
    ``later`` (what the caller writes just before its commit, as (kind, value) pairs) the
    change is appended there as ``("story", StoryChange)``, for ``update_stories``
    (PostgreSQL: a row many writers change is held for the shortest time); without it, it
    is made at once.

    ``carried``: the decision another database made for this item, under the same
    ``grouping_key`` (an import into a database without stories: ``desk.export``). The item
    joins that story, or founds it under that id if it is not stored yet; nothing is looked
    up or compared.
    """
    sql = DIALECTS[dialect]
    row = conn.execute(
        "SELECT story_id FROM story_items WHERE item_id = ?", [item_id]).fetchone()
    if row is not None:
        return Decision(row[0])
    outlet = settings.outlet(outlet)  # an outlet's other registered domains count as one
    copied = carried is not None and carried.story_id is not None
    if fp is None or not (fp.complete or copied):  # looked up by: its band keys are needed
        fp = fingerprint(title, summary, settings)
    t = minutes(published)
    if carried is not None and carried.story_id is not None:
        story = carried.story_id
        known = conn.execute("SELECT 1 FROM stories WHERE id = ?", [story]).fetchone()
        decision = replace(carried, story_id=story if known is not None else None)
    else:
        by_headline, same_headline = _decide_by_headline(conn, fp, t, settings, outlet)
        if by_headline is not None:
            decision = by_headline
        else:
            found = candidates(conn, fp.index_keys, t, settings)
            banded = {c.item_id for c in found}
            found += [c for c in same_headline if c.item_id not in banded]
            decision = decide(fp, t, found, settings, outlet)
        story = decision.story_id or story_id_for(item_id)
    new_outlet = decision.story_id is not None and outlet is not None and \
        not sql.recount_reach and conn.execute(
            "SELECT 1 FROM story_items WHERE story_id = ? AND outlet = ? LIMIT 1",
            [story, outlet]).fetchone() is None
    inserted = conn.execute(
        "INSERT INTO story_items (item_id, story_id, outlet, t, terms, via, similarity, joined, "
        "headline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING "
        "RETURNING n",
        [item_id, story, outlet, t, pack_terms(fp.terms), decision.via,
         round(decision.similarity, 4) if decision.via else None, stamp,
         fp.headline or None],
    ).fetchone()
    if inserted is None:  # another writer gave it its story since the check above
        row = conn.execute(
            "SELECT story_id FROM story_items WHERE item_id = ?", [item_id]).fetchone()
        return Decision(row[0])
    n = inserted[0]
    when = _iso(published)
    if decision.story_id is None:
        members = 0
        conn.execute(
            "INSERT INTO stories (id, first_published, first_item_id, first_outlet, title, "
            "last_published, items, reach, created, updated) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            [story, when, item_id, outlet, title, when, int(outlet is not None), stamp, stamp],
        )
    else:
        stored = conn.execute("SELECT items FROM stories WHERE id = ?", [story]).fetchone()
        waiting = sum(1 for kind, value in later or () if kind == "story"
                      and value[0] == story)
        members = (int(stored[0]) if stored else 0) + waiting
        change: StoryChange = (story, (stamp, when, item_id, outlet, title, new_outlet))
        if later is None:
            update_stories(conn, [change], dialect=dialect)
        else:
            later.append(("story", change))
    if members < INDEXED_PER_STORY:
        if not fp.complete:  # indexed after all (a carried story with fewer members)
            fp = fingerprint(title, summary, settings)
        conn.executemany(
            "INSERT INTO story_bands (key, t, n) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(key, t, n) for key in fp.index_keys],
        )
    return decision


def update_stories(conn: Any, changes: Sequence[StoryChange], *,
                   dialect: str = "sqlite") -> None:
    """Count new members into their stories (``StoryChange``s, in the order they joined).
    Where several writers may count at once (``Dialect.recount_reach``), the stories' rows
    are locked first, all at once and in id order, so the reach counted next sees every
    member another writer committed, and two writers lock shared stories in one order."""
    sql = DIALECTS[dialect]
    if sql.recount_reach:
        reach = "(SELECT count(DISTINCT outlet) FROM story_items WHERE story_id = stories.id)"
        for where, params in among(dialect, "id", sorted({story for story, _ in changes})):
            conn.execute(f"SELECT id FROM stories WHERE {where} ORDER BY id{sql.lock_row}",
                         params)
    else:
        reach = "reach + ?"
    update = f"""
        UPDATE stories SET
            items = items + 1, reach = {reach}, updated = ?,
            last_published = {sql.greatest}(last_published, ?),
            first_item_id = CASE WHEN ? < first_published THEN ? ELSE first_item_id END,
            first_outlet = CASE WHEN ? < first_published THEN ? ELSE first_outlet END,
            title = CASE WHEN ? < first_published THEN ? ELSE title END,
            first_published = {sql.least}(first_published, ?)
        WHERE id = ?
        """
    for story, (stamp, when, item_id, outlet, title, new_outlet) in sorted(
            changes, key=lambda change: change[0]):
        counted = [] if sql.recount_reach else [int(new_outlet)]
        conn.execute(update, [*counted, stamp, when, when, item_id, when, outlet, when, title,
                              when, story])


def reindex(conn: Any, *, item_id: str, title: str, summary: str,
            settings: StorySettings) -> None:
    """After an edit: index the item's new words (it stays in its story; an edited headline
    is still the same report) and refresh the story's title if it is the first mention."""
    row = conn.execute("SELECT n, t, story_id, terms, headline FROM story_items "
                       "WHERE item_id = ?", [item_id]).fetchone()
    if row is None:
        return
    n, t, story, blob, old_headline = row
    old_terms = unpack_terms(bytes(blob))
    if len(old_terms) >= settings.min_terms:
        # The old keys follow from the stored term hashes and headline: delete them by
        # primary key.
        old_keys = band_keys(old_terms, settings.bands, settings.rows) + \
            headline_band_keys(old_headline or "", settings)
        conn.executemany("DELETE FROM story_bands WHERE key = ? AND t = ? AND n = ?",
                         [(key, t, n) for key in old_keys])
    fp = fingerprint(title, summary, settings)
    conn.execute("UPDATE story_items SET terms = ?, headline = ? WHERE n = ?",
                 [pack_terms(fp.terms), fp.headline or None, n])
    conn.executemany(
        "INSERT INTO story_bands (key, t, n) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(key, t, n) for key in fp.index_keys])
    conn.execute("UPDATE stories SET title = ? WHERE id = ? AND first_item_id = ?",
                 [title, story, item_id])


def same_title(a: str, b: str) -> bool:
    """Titles equal up to case, accents and spacing."""
    return " ".join(fold(a).split()) == " ".join(fold(b).split())


def stored_keys(conn: Any, keys: Iterable[str], *, dialect: str = "sqlite") -> set[str]:
    """Those of ``keys`` that some stored item has as its dedup key."""
    found: set[str] = set()
    for where, params in among(dialect, "dedup_key", sorted(keys)):
        found.update(key for (key,) in conn.execute(
            f"SELECT DISTINCT dedup_key FROM items WHERE {where}", params))
    return found


def find_copy(conn: Any, *, item_id: str, key: str, title: str,
              feed_id: int) -> tuple[str, str] | None:
    """A stored item this new one is a copy of, by dedup key: (item id, reason) or None.

    Another feed's item with the same key is a copy. Within one feed the title must match
    too: a feed that re-sends an item with a new guid keeps its link and headline, while a
    feed that links every item to one section page gives them different headlines.
    """
    rows = conn.execute(
        "SELECT items.id, items.title, "
        "EXISTS (SELECT 1 FROM item_feeds WHERE item_id = items.id AND feed_id = ?) "
        "FROM items WHERE dedup_key = ? AND id != ? ORDER BY first_seen, id",
        [feed_id, key, item_id],
    ).fetchall()
    for other, other_title, _ in rows:
        if same_title(title, other_title):
            return other, "same url and title"
    others = [other for other, _, this_feed in rows if not this_feed]
    if len(rows) == 1 and others:
        return others[0], "same url"
    return None


def add_alias(conn: Any, *, alias: str, item_id: str, feed_id: int, reason: str,
              stamp: str) -> None:
    conn.execute(
        "INSERT INTO item_aliases (id, item_id, feed_id, reason, first_seen) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        [alias, item_id, feed_id, reason, stamp],
    )


def aliases(conn: Any, ids: Sequence[str], *, dialect: str = "sqlite") -> dict[str, str]:
    """alias id -> stored item id, for the given ids that are folded copies."""
    found: dict[str, str] = {}
    for where, params in among(dialect, "id", ids):
        for alias, item_id in conn.execute(
                f"SELECT id, item_id FROM item_aliases WHERE {where}", params):
            found[alias] = item_id
    return found


VERSIONED = ("title", "summary", "content", "url")


def save_version(conn: Any, *, item_id: str, new: dict[str, Any], feed_id: int | None,
                 stamp: str, dialect: str = "sqlite") -> list[str]:
    """Keep the stored version of an item before it is overwritten; returns what changed.
    Where several writers may edit at once, the item's row is locked first, so their
    versions are numbered in turn (and the version's primary key refuses a duplicate)."""
    cur = conn.execute(
        "SELECT title, summary, content, url, content_hash, first_seen FROM items WHERE id = ?"
        + DIALECTS[dialect].lock_row, [item_id],
    )
    row = cur.fetchone()
    if row is None:
        return []
    old = dict(zip(("title", "summary", "content", "url", "content_hash", "first_seen"), row,
                   strict=True))
    changed = [name for name in VERSIONED if (old[name] or "") != (new.get(name) or "")]
    last = conn.execute(
        "SELECT max(version), max(replaced) FROM item_versions WHERE item_id = ?", [item_id]
    ).fetchone()
    version = (last[0] or 0) + 1
    conn.execute(
        "INSERT INTO item_versions (item_id, version, seen_from, replaced, feed_id, title, "
        "summary, content, url, content_hash, changed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [item_id, version, last[1] or old["first_seen"], stamp, feed_id, old["title"],
         old["summary"], old["content"], old["url"], old["content_hash"], json.dumps(changed)],
    )
    return changed


def backfill(conn: Any, settings: StorySettings) -> None:
    """Give items stored before stories existed their dedup key and their story, oldest
    first, as if they had arrived in publication order."""
    rows = conn.execute(
        "SELECT items.id, items.canonical_url, items.title, items.summary, items.published, "
        "items.first_seen, feeds.site_url, feeds.url, feeds.name FROM items "
        "JOIN feeds ON feeds.id = items.feed_id ORDER BY items.published, items.id"
    ).fetchall()
    for item_id, canonical, title, summary, published, first_seen, site, feed_url, name in rows:
        conn.execute("UPDATE items SET dedup_key = ? WHERE id = ?", [dedup_key(canonical), item_id])
        assign(conn, item_id=item_id, title=title, summary=summary,
               published=datetime.fromisoformat(published),
               outlet=outlet_for(canonical, site, feed_url, name), settings=settings,
               stamp=first_seen)


# --- reading -------------------------------------------------------------------------------


def list_stories(
    conn: Any,
    *,
    since: str | None = None,
    until: str | None = None,
    topic: str | None = None,
    min_reach: int | None = None,
    include_unkept: bool = False,
    limit: int = 50,
    outlets: OutletScope | None = None,
    dialect: str = "sqlite",
) -> list[dict[str, Any]]:
    """Stories newest first (by their first mention), with reach and the kept topics.

    ``since``/``until`` (UTC ISO) keep stories with a mention in that period; ``outlets``
    (``--country``/``--kind``) those carried by one of its outlets (with a kept item)."""
    clauses: list[str] = []
    params: list[str | int] = []
    kept = "" if include_unkept else "AND i.kept = 1"
    if not include_unkept:
        clauses.append("EXISTS (SELECT 1 FROM story_items si JOIN items i ON i.id = si.item_id "
                       "WHERE si.story_id = s.id AND i.kept = 1)")
    if since:
        clauses.append("s.last_published >= ?")
        params.append(since)
    if until:
        clauses.append("s.first_published < ?")
        params.append(until)
    if topic:
        clauses.append("EXISTS (SELECT 1 FROM story_items si JOIN item_topics it "
                       "ON it.item_id = si.item_id WHERE si.story_id = s.id AND it.topic = ?)")
        params.append(topic)
    if min_reach:
        clauses.append("s.reach >= ?")
        params.append(min_reach)
    if outlets is not None:
        scope, scope_params = outlets.on_outlet("si.outlet")
        clauses.append("EXISTS (SELECT 1 FROM story_items si JOIN items i ON i.id = si.item_id "
                       f"WHERE si.story_id = s.id {kept} AND {scope})")
        params += scope_params
    where = " AND ".join(clauses) or "1 = 1"
    topics = json_list_sql(dialect, "topic", f"""
                    SELECT DISTINCT it.topic FROM story_items si
                    JOIN items i ON i.id = si.item_id
                    JOIN item_topics it ON it.item_id = si.item_id
                    WHERE si.story_id = s.id {kept} ORDER BY it.topic""")
    sql = f"""
        SELECT s.id, s.first_published, s.first_outlet, s.reach, s.items AS mentions,
               s.last_published, s.title, s.first_item_id, {topics} AS topics
        FROM stories s WHERE {where}
        ORDER BY s.first_published DESC, s.id LIMIT ?
    """
    rows = []
    cur = conn.execute(sql, [*params, limit])
    names = [d[0] for d in cur.description]
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        row["topics"] = json.loads(row["topics"] or "[]")
        rows.append(row)
    return rows


def resolve(conn: Any, ident: str) -> tuple[str, str] | None:
    """("story", id) or ("item", id) for a story id, an item id, a folded copy's id, or a
    unique prefix of one. Raises ValueError when the prefix is ambiguous."""
    where, params = id_prefix("id", ident.strip())
    found: set[tuple[str, str]] = set()
    for kind, sql in (
        ("story", f"SELECT id FROM stories WHERE {where} LIMIT 2"),
        ("item", f"SELECT id FROM items WHERE {where} LIMIT 2"),
        ("item", f"SELECT item_id FROM item_aliases WHERE {where} LIMIT 2"),
    ):
        found.update((kind, r[0]) for r in conn.execute(sql, params))
    if len(found) > 1:
        raise ValueError(f"{ident!r} is ambiguous: give more of the id")
    return found.pop() if found else None


def story(conn: Any, story_id: str) -> dict[str, Any] | None:
    """One story with every mention (outlet, feed, time, URL) and how each item joined."""
    cur = conn.execute("SELECT * FROM stories WHERE id = ?", [story_id])
    row = cur.fetchone()
    if row is None:
        return None
    result = dict(zip([d[0] for d in cur.description], row, strict=True))
    cur = conn.execute(
        """
        SELECT si.item_id, si.outlet, i.published, i.title, i.url, i.kept, si.via,
               si.similarity, f.name AS feed_name, f.url AS feed_url, itf.first_seen AS seen
        FROM story_items si
        JOIN items i ON i.id = si.item_id
        JOIN item_feeds itf ON itf.item_id = si.item_id
        JOIN feeds f ON f.id = itf.feed_id
        WHERE si.story_id = ?
        ORDER BY i.published, si.item_id, itf.first_seen
        """,
        [story_id],
    )
    names = [d[0] for d in cur.description]
    result["mentions"] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for mention in result["mentions"]:
        mention["kept"] = bool(mention["kept"])
    result["topics"] = [r[0] for r in conn.execute(
        "SELECT DISTINCT topic FROM item_topics it JOIN story_items si ON si.item_id = "
        "it.item_id WHERE si.story_id = ? ORDER BY topic", [story_id])]
    return result


def item_story(conn: Any, item_id: str) -> dict[str, Any] | None:
    cur = conn.execute(
        "SELECT si.story_id, si.via, si.similarity, si.outlet, si.t, s.reach, s.items, s.title "
        "FROM story_items si JOIN stories s ON s.id = si.story_id WHERE si.item_id = ?",
        [item_id],
    )
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None


def versions(conn: Any, item_id: str) -> list[dict[str, Any]]:
    """Earlier versions of an item, oldest first."""
    cur = conn.execute(
        "SELECT v.version, v.seen_from, v.replaced, v.title, v.summary, v.content, v.url, "
        "v.changed, f.name AS feed_name FROM item_versions v LEFT JOIN feeds f "
        "ON f.id = v.feed_id WHERE v.item_id = ? ORDER BY v.version", [item_id])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        row["changed"] = json.loads(row["changed"])
    return rows


def item_text(conn: Any, item_id: str) -> dict[str, Any] | None:
    cur = conn.execute(
        "SELECT i.id, i.title, i.summary, i.published, si.story_id, si.t, si.outlet "
        "FROM items i LEFT JOIN story_items si ON si.item_id = i.id WHERE i.id = ?", [item_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None


class StoriesStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for reading stories (the functions above, on its
    connection): what the CLI, the report and alerts show."""

    def list_stories(self, **filters: Any) -> list[dict[str, Any]]:
        """See ``list_stories``."""
        return list_stories(self.db.conn, dialect=self.dialect, **filters)

    def resolve_story(self, ident: str) -> tuple[str, str] | None:
        """See ``resolve``."""
        return resolve(self.db.conn, ident)

    def story(self, story_id: str) -> dict[str, Any] | None:
        """See ``story``."""
        return story(self.db.conn, story_id)

    def item_story(self, item_id: str) -> dict[str, Any] | None:
        """See ``item_story``."""
        return item_story(self.db.conn, item_id)

    def versions(self, item_id: str) -> list[dict[str, Any]]:
        """See ``versions``."""
        return versions(self.db.conn, item_id)

    def item_text(self, item_id: str) -> dict[str, Any] | None:
        """See ``item_text``."""
        return item_text(self.db.conn, item_id)

    def item_urls(self, item_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored URL of each of ``item_ids`` that exists."""
        found: dict[str, str | None] = {}
        for chunk in _chunks(list(item_ids)):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.conn.execute(
                f"SELECT id, url FROM items WHERE id IN ({marks})", list(chunk)).fetchall())
        return found
