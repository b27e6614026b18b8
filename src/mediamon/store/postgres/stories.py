"""PostgreSQL side of stories, folded copies and item versions: ``store.stories``'s writing
functions in PostgreSQL's dialect, for ``PostgresStore.save_feed_pass``.

The deciding is the pure ``core.stories``'s, exactly as on SQLite; only the SQL differs.
What differs because several daemons may write at once:

- story membership: ``story_items.item_id`` is unique and the row is inserted with ``ON
  CONFLICT DO NOTHING``: an item another writer put in a story first keeps that story;
- a story's counters: the story's row is locked (``FOR UPDATE``) before its reach is
  counted, so two writers adding to one story count each other's members;
- edit history: the item's row is locked before its versions are numbered, and the
  version's primary key refuses a duplicate number.

Two writers storing near-duplicate items at the same moment cannot see each other's
uncommitted items, so each may found a story; on SQLite (one writer) the second would join
the first's. That is the one documented difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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
    minutes,
    pack_terms,
    story_id_for,
    unpack_terms,
    usable_headline,
)
from mediamon.store import stories as sqlite_stories
from mediamon.store.stories import HEADLINE_MATCHES, INDEXED_PER_STORY, VERSIONED, same_title

Conn = Any  # a psycopg Connection (the store's, inside its transaction)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


@lru_cache(maxsize=4096)
def _term_set(blob: bytes) -> frozenset[int]:
    return frozenset(unpack_terms(blob))


# Each band bucket is read only near the item's time, as on SQLite (``store.stories``:
# ``PER_BUCKET`` rows on each side of ``t``); None there: the whole window is read.
PER_BUCKET: int | None = getattr(sqlite_stories, "PER_BUCKET", None)


def candidates(conn: Conn, keys: Sequence[int], t: int,
               settings: StorySettings) -> list[Candidate]:
    """Earlier items sharing a band key with ``keys`` and published within the window
    (``store.stories.candidates``)."""
    if not keys:
        return []
    low, high = t - settings.window_minutes, t + settings.window_minutes
    if PER_BUCKET is None:
        rows = conn.execute(
            "SELECT i.item_id, i.story_id, i.t, i.terms, b.shared, i.outlet, i.headline FROM "
            "(SELECT n, count(*) AS shared FROM story_bands "
            " WHERE key = ANY(%s) AND t BETWEEN %s AND %s GROUP BY n) AS b "
            "JOIN story_items AS i ON i.n = b.n",
            [list(keys), low, high]).fetchall()
    else:
        rows = conn.execute(
            "SELECT i.item_id, i.story_id, i.t, i.terms, b.shared, i.outlet, i.headline FROM "
            "(SELECT w.n, count(*) AS shared FROM unnest(%s::bigint[]) AS k(key) "
            " CROSS JOIN LATERAL ("
            "  (SELECT n FROM story_bands WHERE key = k.key AND t BETWEEN %s AND %s "
            "   ORDER BY t DESC LIMIT %s) UNION ALL "
            "  (SELECT n FROM story_bands WHERE key = k.key AND t > %s AND t <= %s "
            "   ORDER BY t LIMIT %s)) AS w GROUP BY w.n) AS b "
            "JOIN story_items AS i ON i.n = b.n",
            [list(keys), low, t, PER_BUCKET, t, high, PER_BUCKET]).fetchall()
    return [Candidate(item_id, story_id, when, _term_set(bytes(blob)), shared, outlet,
                      headline)
            for item_id, story_id, when, blob, shared, outlet, headline in rows]


def headline_candidates(conn: Conn, key: str, t: int, settings: StorySettings,
                        limit: int = HEADLINE_MATCHES) -> list[Candidate]:
    """Items with headline key ``key`` within the window of ``t``, the ``limit`` nearest
    (by distance, then time, then id), walking the (headline, t) index away from ``t``."""
    low, high = t - settings.window_minutes, t + settings.window_minutes
    rows = conn.execute(
        "(SELECT item_id, story_id, t, terms, outlet FROM story_items "
        " WHERE headline = %s AND t BETWEEN %s AND %s ORDER BY t DESC, item_id LIMIT %s) "
        "UNION ALL "
        "(SELECT item_id, story_id, t, terms, outlet FROM story_items "
        " WHERE headline = %s AND t > %s AND t <= %s ORDER BY t, item_id LIMIT %s)",
        [key, low, t, limit, key, t, high, limit]).fetchall()
    rows.sort(key=lambda r: (abs(r[2] - t), r[2], r[0]))
    return [Candidate(item_id, story_id, when, _term_set(bytes(blob)), 0, outlet, key)
            for item_id, story_id, when, blob, outlet in rows[:limit]]


def assign(conn: Conn, *, item_id: str, title: str, summary: str, published: datetime,
           outlet: str | None, settings: StorySettings, stamp: str,
           fp: Fingerprint | None = None,
           later: list[tuple[str, Any]] | None = None) -> Decision:
    """``store.stories.assign`` on PostgreSQL: one stored item into a story, indexed.

    Joining an existing story changes that story's row (its counters and first mention),
    a row other writers may change too: with ``later``, the change is appended there as
    ``("story", (story id, values))`` for ``update_stories`` to make just before the commit
    (``PostgresStore._before_commit``); without it, it is made at once."""
    row = conn.execute("SELECT story_id FROM story_items WHERE item_id = %s",
                       [item_id]).fetchone()
    if row is not None:
        return Decision(row[0])
    if fp is None:
        fp = fingerprint(title, summary, settings)
    t = minutes(published)
    found = candidates(conn, fp.bands, t, settings)
    if usable_headline(fp.headline, settings):
        banded = {c.item_id for c in found}
        found += [c for c in headline_candidates(conn, fp.headline, t, settings)
                  if c.item_id not in banded]
    decision = decide(fp, t, found, settings, outlet)
    story = decision.story_id or story_id_for(item_id)
    inserted = conn.execute(
        "INSERT INTO story_items (item_id, story_id, outlet, t, terms, via, similarity, "
        "joined, headline) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (item_id) DO NOTHING RETURNING n",
        [item_id, story, outlet, t, pack_terms(fp.terms), decision.via,
         round(decision.similarity, 4) if decision.via else None, stamp,
         fp.headline or None]).fetchone()
    if inserted is None:  # another writer gave it its story meanwhile
        row = conn.execute("SELECT story_id FROM story_items WHERE item_id = %s",
                           [item_id]).fetchone()
        return Decision(row[0])
    n = inserted[0]
    when = _iso(published)
    if decision.story_id is None:
        conn.execute(
            "INSERT INTO stories (id, first_published, first_item_id, first_outlet, title, "
            "last_published, items, reach, created, updated) "
            "VALUES (%s, %s, %s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            [story, when, item_id, outlet, title, when, int(outlet is not None), stamp,
             stamp])
        members = 0
    else:
        stored = conn.execute("SELECT items FROM stories WHERE id = %s", [story]).fetchone()
        waiting = sum(1 for kind, value in later or () if kind == "story"
                      and value[0] == story)
        members = (int(stored[0]) if stored else 0) + waiting
        change = (story, (stamp, when, item_id, outlet, title))
        if later is None:
            update_stories(conn, [change])
        else:
            later.append(("story", change))
    if members < INDEXED_PER_STORY and fp.bands:
        conn.execute(
            "INSERT INTO story_bands (key, t, n) SELECT k, %s, %s FROM unnest(%s::bigint[]) "
            "AS k ON CONFLICT DO NOTHING", [t, n, list(fp.bands)])
    return decision


def update_stories(conn: Conn, changes: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Count new members into their stories: ``(story id, (stamp, published, item id,
    outlet, title))`` each, in the order they joined. The stories' rows are locked first,
    all at once and in id order, so the reach counted next sees every member another
    writer committed, and two writers lock shared stories in the same order."""
    stories = sorted({story for story, _ in changes})
    conn.execute("SELECT id FROM stories WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                 [stories])
    for story, (stamp, when, item_id, outlet, title) in sorted(
            changes, key=lambda change: change[0]):
        conn.execute(
            """
            UPDATE stories SET
                items = items + 1, updated = %s,
                reach = (SELECT count(DISTINCT outlet) FROM story_items WHERE story_id = %s),
                last_published = GREATEST(last_published, %s),
                first_item_id = CASE WHEN %s < first_published THEN %s ELSE first_item_id END,
                first_outlet = CASE WHEN %s < first_published THEN %s ELSE first_outlet END,
                title = CASE WHEN %s < first_published THEN %s ELSE title END,
                first_published = LEAST(first_published, %s)
            WHERE id = %s
            """,
            [stamp, story, when, when, item_id, when, outlet, when, title, when, story])


def reindex(conn: Conn, *, item_id: str, title: str, summary: str,
            settings: StorySettings) -> None:
    """After an edit: the item's new words indexed, the story's title refreshed."""
    row = conn.execute("SELECT n, t, story_id, terms FROM story_items WHERE item_id = %s",
                       [item_id]).fetchone()
    if row is None:
        return
    n, t, story, blob = row
    old_terms = unpack_terms(bytes(blob))
    if len(old_terms) >= settings.min_terms:
        old = band_keys(old_terms, settings.bands, settings.rows)
        conn.execute("DELETE FROM story_bands WHERE key = ANY(%s) AND t = %s AND n = %s",
                     [list(old), t, n])
    fp = fingerprint(title, summary, settings)
    conn.execute("UPDATE story_items SET terms = %s, headline = %s WHERE n = %s",
                 [pack_terms(fp.terms), fp.headline or None, n])
    if fp.bands:
        conn.execute(
            "INSERT INTO story_bands (key, t, n) SELECT k, %s, %s FROM unnest(%s::bigint[]) "
            "AS k ON CONFLICT DO NOTHING", [t, n, list(fp.bands)])
    conn.execute("UPDATE stories SET title = %s WHERE id = %s AND first_item_id = %s",
                 [title, story, item_id])


def stored_keys(conn: Conn, keys: Iterable[str]) -> set[str]:
    wanted = sorted(keys)
    if not wanted:
        return set()
    return {key for (key,) in conn.execute(
        "SELECT DISTINCT dedup_key FROM items WHERE dedup_key = ANY(%s)", [wanted])}


def find_copy(conn: Conn, *, item_id: str, key: str, title: str,
              feed_id: int) -> tuple[str, str] | None:
    """``store.stories.find_copy`` on PostgreSQL."""
    rows = conn.execute(
        "SELECT items.id, items.title, "
        "EXISTS (SELECT 1 FROM item_feeds WHERE item_id = items.id AND feed_id = %s) "
        "FROM items WHERE dedup_key = %s AND id != %s ORDER BY first_seen, id",
        [feed_id, key, item_id]).fetchall()
    for other, other_title, _ in rows:
        if same_title(title, other_title):
            return other, "same url and title"
    others = [other for other, _, this_feed in rows if not this_feed]
    if len(rows) == 1 and others:
        return others[0], "same url"
    return None


def add_alias(conn: Conn, *, alias: str, item_id: str, feed_id: int, reason: str,
              stamp: str) -> None:
    conn.execute(
        "INSERT INTO item_aliases (id, item_id, feed_id, reason, first_seen) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        [alias, item_id, feed_id, reason, stamp])


def aliases(conn: Conn, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(conn.execute("SELECT id, item_id FROM item_aliases WHERE id = ANY(%s)",
                             [list(ids)]).fetchall())


def save_version(conn: Conn, *, item_id: str, new: dict[str, Any], feed_id: int | None,
                 stamp: str) -> list[str]:
    """Keep the stored version of an item before it is overwritten; returns what changed.
    The item's row is locked first, so concurrent edits number their versions in turn."""
    row = conn.execute(
        "SELECT title, summary, content, url, content_hash, first_seen FROM items "
        "WHERE id = %s FOR UPDATE", [item_id]).fetchone()
    if row is None:
        return []
    old = dict(zip(("title", "summary", "content", "url", "content_hash", "first_seen"), row,
                   strict=True))
    changed = [name for name in VERSIONED if (old[name] or "") != (new.get(name) or "")]
    last = conn.execute(
        "SELECT max(version), max(replaced) FROM item_versions WHERE item_id = %s",
        [item_id]).fetchone()
    version = (last[0] or 0) + 1
    conn.execute(
        "INSERT INTO item_versions (item_id, version, seen_from, replaced, feed_id, title, "
        "summary, content, url, content_hash, changed) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [item_id, version, last[1] or old["first_seen"], stamp, feed_id, old["title"],
         old["summary"], old["content"], old["url"], old["content_hash"],
         json.dumps(changed)])
    return changed
