"""The store's part for volume trends and spikes: its SQL, as methods of ``sqlite.Store``.

It counts kept items per hour, per topic and per story, and records the surges
``desk.trends`` finds (table ``spikes``, created by ``sqlite.m011_spikes``, which also lets
``alert_sent`` hold them: kind ``'spike'``). An item's hour is that of the earlier of its
published time and its first sighting: a feed's back catalogue lands where it was published
(the baseline), not all at once in the hour it was first polled, and an item dated in the
future counts when it was seen. Whether a count is unusual is decided by ``core.spikes``.

The same methods run on PostgreSQL (``store.postgres.read``); only the hour arithmetic
(SQLite's ``julianday``), the two-argument ``min``/``max`` and ``kept_mark`` (no rowid
there) are spelt for each by ``dialect``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from mediamon.clock import utc_iso
from mediamon.store.base import SQLiteBase, SQLValue

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS spikes (     -- one row per surge of a topic or story
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL CHECK (scope IN ('topic', 'story')),
        key TEXT NOT NULL,                  -- the topic's name or the story's id
        started TEXT NOT NULL,              -- the check that found it unusual first
        last_unusual TEXT NOT NULL,         -- the latest check that still did
        window_hours INTEGER NOT NULL,      -- hours counted
        count INTEGER NOT NULL,             -- items in the window when it was found
        expected REAL NOT NULL,
        p REAL NOT NULL,
        score REAL NOT NULL,                -- -log10(p)
        peak INTEGER NOT NULL               -- the most items in a window during the surge
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS spikes_key ON spikes(scope, key, last_unusual)",
    "CREATE INDEX IF NOT EXISTS spikes_started ON spikes(started)",
]

# alert_sent as m006_alerts made it, with 'spike' among the kinds it may hold.
_ALERT_SENT = """
    CREATE TABLE alert_sent_new (
        alert TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('item', 'story', 'spike')),
        ref TEXT NOT NULL,
        title TEXT NOT NULL,
        url TEXT,
        claimed TEXT NOT NULL,
        sent TEXT,
        PRIMARY KEY (alert, channel, kind, ref)
    ) WITHOUT ROWID
"""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create ``spikes`` and let ``alert_sent`` hold spikes (SQLite cannot change a CHECK
    constraint in place: the table is copied). Run inside a migration's transaction."""
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute(_ALERT_SENT)
    conn.execute("INSERT INTO alert_sent_new SELECT alert, channel, kind, ref, title, url, "
                 "claimed, sent FROM alert_sent")
    conn.execute("DROP TABLE alert_sent")
    conn.execute("ALTER TABLE alert_sent_new RENAME TO alert_sent")


class SpikeRow(TypedDict):
    """One row of ``spikes``."""

    id: str
    scope: str
    key: str
    started: str
    last_unusual: str
    window_hours: int
    count: int
    expected: float
    p: float
    score: float
    peak: int


class UnsentSpike(SpikeRow):
    """A spike an alert has not sent on a channel, with its story's title and link."""

    title: str | None  # the story's (None for a topic)
    url: str | None
    reach: int | None


# The hours ago of an item's time (the earlier of published and first seen) at :now.
_HOURS_AGO = ("CAST((julianday(:now) - julianday(min(i.published, i.first_seen))) * 24 "
              "AS INTEGER)")


def _julianday_pg(value: str) -> str:
    """SQLite's ``julianday`` of an ISO time, in PostgreSQL: SQLite keeps a time as whole
    milliseconds since the Julian epoch and divides by 86,400,000 in double precision;
    doing the same here gives the same doubles, so an item exactly N hours old falls in
    the same hour on both (exact arithmetic would put some in the next hour)."""
    return (f"((round(extract(epoch FROM ({value})::timestamptz) * 1000) "
            f"+ 210866760000000)::float8 / 86400000.0)")


# _HOURS_AGO in PostgreSQL: no julianday, and its two-argument min is LEAST; trunc is
# CAST AS INTEGER's rounding toward zero.
_HOURS_AGO_PG = (f"trunc(({_julianday_pg(':now')} - "
                 f"{_julianday_pg('LEAST(i.published, i.first_seen)')}) * 24)::bigint")


class TrendsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for hourly counts and the spikes found in them."""

    def _hourly(self, sql: str, params: dict[str, SQLValue], hours: int
                ) -> dict[str, list[int]]:
        counts: dict[str, list[int]] = {}
        for key, ago, n in self.db.execute(sql, params).fetchall():
            if 0 <= ago < hours:
                counts.setdefault(key, [0] * hours)[hours - 1 - ago] = n
        return counts

    def _hours_ago(self) -> str:
        return _HOURS_AGO_PG if self.dialect == "postgresql" else _HOURS_AGO

    def _span(self, now: datetime, hours: int) -> dict[str, SQLValue]:
        return {"now": utc_iso(now), "start": utc_iso(now - timedelta(hours=hours)),
                "hours": hours}

    def topic_hourly_counts(self, *, now: datetime, hours: int) -> dict[str, list[int]]:
        """Kept items per topic per hour over the ``hours`` before ``now``: each list is
        ``hours`` long, oldest hour first, the last one ending at ``now``."""
        sql = f"""
            SELECT t.topic, {self._hours_ago()} AS ago, count(*)
            FROM items i JOIN item_topics t ON t.item_id = i.id
            WHERE i.kept = 1 AND i.published > :start AND i.first_seen > :start
            GROUP BY t.topic, ago
        """
        return self._hourly(sql, self._span(now, hours), hours)

    def story_hourly_counts(self, *, now: datetime, hours: int, window: int,
                            min_count: int) -> dict[str, list[int]]:
        """Kept items per story per hour, as ``topic_hourly_counts``, for the stories
        with at least ``min_count`` kept items in the last ``window`` hours."""
        params = self._span(now, hours) | {
            "recent": utc_iso(now - timedelta(hours=window)), "min_count": min_count}
        least = "LEAST" if self.dialect == "postgresql" else "min"
        sql = f"""
            WITH recent AS (
                SELECT si.story_id FROM items i JOIN story_items si ON si.item_id = i.id
                WHERE i.kept = 1 AND i.published > :recent AND i.first_seen > :recent
                  AND {least}(i.published, i.first_seen) <= :now
                GROUP BY si.story_id HAVING count(*) >= :min_count
            )
            SELECT si.story_id, {self._hours_ago()} AS ago, count(*)
            FROM recent r JOIN story_items si ON si.story_id = r.story_id
            JOIN items i ON i.id = si.item_id
            WHERE i.kept = 1 AND i.published > :start AND i.first_seen > :start
            GROUP BY si.story_id, ago
        """
        return self._hourly(sql, params, hours)

    def collecting_since(self, *, now: datetime, hours: int) -> datetime | None:
        """When the database began collecting, as far as the last ``hours`` show: the
        earliest first sighting of a kept item in them (None: none). Hours before it
        are not counted as quiet ones."""
        row = self.db.execute(
            "SELECT min(first_seen) FROM items WHERE kept = 1 AND published > :start "
            "AND first_seen > :start", self._span(now, hours)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def kept_mark(self) -> int:
        """A number that grows whenever an item is stored (the largest rowid; PostgreSQL's
        items have no rowid: their count, which retention alone makes smaller)."""
        sql = "SELECT count(*) FROM items" if self.dialect == "postgresql" else \
            "SELECT max(rowid) FROM items"
        row = self.db.execute(sql).fetchone()
        return int(row[0] or 0)

    def story_summaries(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Title, first item's link and reach of each story in ``ids``."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for sid, title, url, reach, first in self.db.execute(
                    f"SELECT s.id, s.title, i.url, s.reach, s.first_published FROM stories s "
                    f"LEFT JOIN items i ON i.id = s.first_item_id WHERE s.id IN ({marks})",
                    chunk):
                found[sid] = {"title": title, "url": url, "reach": reach,
                              "first_published": first}
        return found

    def last_unusual(self, scope: str, keys: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        """For each key, its latest surge: (spike id, last unusual check)."""
        found: dict[str, tuple[str, datetime]] = {}
        for key in keys:
            row = self.db.execute(
                "SELECT id, last_unusual FROM spikes WHERE scope = ? AND key = ? "
                "ORDER BY last_unusual DESC LIMIT 1", [scope, key]).fetchone()
            if row:
                found[key] = (row[0], datetime.fromisoformat(row[1]))
        return found

    def record_spike(self, row: SpikeRow) -> bool:
        """Store a new surge; False when it was there (its id is the scope, key and start:
        a second check of the same moment adds nothing)."""
        return self.db.execute(
            "INSERT INTO spikes (id, scope, key, started, last_unusual, window_hours, count, "
            "expected, p, score, peak) VALUES (:id, :scope, :key, :started, :last_unusual, "
            ":window_hours, :count, :expected, :p, :score, :peak) "
            "ON CONFLICT (id) DO NOTHING", dict(row)).rowcount > 0

    def continue_spike(self, spike_id: str, *, now: datetime, count: int) -> None:
        """A surge is still going: move its last unusual check on, keep its peak."""
        greatest = "GREATEST" if self.dialect == "postgresql" else "max"
        self.db.execute(f"UPDATE spikes SET last_unusual = ?, peak = {greatest}(peak, ?) "
                        "WHERE id = ?", [utc_iso(now), count, spike_id])

    def spikes_since(self, since: datetime) -> list[SpikeRow]:
        """Surges still unusual at or after ``since``, newest first."""
        cur = self.db.execute("SELECT * FROM spikes WHERE last_unusual >= ? "
                              "ORDER BY started DESC, id", [utc_iso(since)])
        names = [d[0] for d in cur.description]
        return [cast(SpikeRow, dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def unsent_alert_spikes(self, alert: str, channel: str, *, since: str,
                            topic: str | None, min_reach: int | None,
                            limit: int) -> list[UnsentSpike]:
        """Surges started at or after ``since`` that the alert has not sent (or claimed) on
        this channel: topics (only ``topic`` if given) and stories (with a kept item that
        matched ``topic``, and at least ``min_reach`` outlets); oldest first."""
        params: dict[str, SQLValue] = {"alert": alert, "channel": channel, "since": since,
                                       "topic": topic, "min_reach": min_reach, "limit": limit}
        cur = self.db.execute("""
            SELECT k.*, s.title, fi.url, s.reach
            FROM spikes k
            LEFT JOIN stories s ON k.scope = 'story' AND s.id = k.key
            LEFT JOIN items fi ON fi.id = s.first_item_id
            WHERE k.started >= :since
              AND (k.scope = 'topic' AND (CAST(:topic AS TEXT) IS NULL OR k.key = :topic)
                   OR k.scope = 'story' AND s.id IS NOT NULL
                      AND (CAST(:min_reach AS BIGINT) IS NULL OR s.reach >= :min_reach)
                      AND (CAST(:topic AS TEXT) IS NULL OR EXISTS (
                          SELECT 1 FROM story_items x JOIN items i ON i.id = x.item_id
                          JOIN item_topics it ON it.item_id = i.id
                          WHERE x.story_id = s.id AND i.kept = 1 AND it.topic = :topic)))
              AND NOT EXISTS (SELECT 1 FROM alert_sent a WHERE a.alert = :alert
                              AND a.channel = :channel AND a.kind = 'spike' AND a.ref = k.id)
            ORDER BY k.started, k.id LIMIT :limit
        """, params)
        names = [d[0] for d in cur.description]
        return [cast(UnsentSpike, dict(zip(names, r, strict=True))) for r in cur.fetchall()]
