"""The store's part for alert state, and the items and stories an alert sends: its SQL, as
methods of ``sqlite.Store``.

Tables from ``sqlite.m006_alerts``: ``alerts`` (each alert's clock and counters) and
``alert_sent`` (what each alert claimed and sent on each channel, so nothing is sent twice).
What to send, and when, is decided by ``desk.alerts``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, TypedDict, cast

from mediamon.clock import utc_iso
from mediamon.store.base import SQLiteBase, SQLValue, json_list_sql, json_object_sql

AlertKind = Literal["item", "story", "spike"]
AlertRef = tuple[AlertKind, str]
"""One thing an alert sends: its kind and the item or story id."""
AlertClaim = tuple[AlertKind, str, str, str | None]
"""What a claim records: kind, item or story id, title and url (as sent)."""


class AlertState(TypedDict):
    """One row of ``alerts``."""

    name: str
    since: str
    last_run: str | None
    last_sent: str | None
    last_digest: str | None
    sent: int
    messages: int
    failures: int
    last_error: str | None


class UnsentItem(TypedDict):
    """A kept item an alert has not sent on a channel (``unsent_alert_items``)."""

    id: str
    title: str
    url: str | None
    published: str
    language: str | None
    score: float
    topics: str  # JSON list of topic names
    feed: str | None
    outlet: str | None
    story_id: str | None
    reach: int | None
    matched: str | None  # JSON object: topic -> the words that matched it


class UnsentStory(TypedDict):
    """A story an alert has not sent on a channel (``unsent_alert_stories``)."""

    id: str
    title: str
    url: str | None
    published: str
    outlet: str | None
    reach: int
    mentions: int
    score: float | None
    topics: str | None  # JSON list of its kept items' topics


class AlertsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for alert state, and the items and stories an alert sends."""

    def register_alerts(self, names: Iterable[str], *, now: datetime) -> None:
        """Give each alert not yet known a state row that watches what is new after
        ``now``; known alerts keep theirs. One transaction."""
        with self.transaction():
            for name in names:
                self.db.execute("INSERT INTO alerts (name, since) VALUES (?, ?) "
                                "ON CONFLICT DO NOTHING", [name, utc_iso(now)])

    def alert_state(self, name: str) -> AlertState | None:
        """The alert's state row, or None if it has none yet."""
        cur = self.db.execute("SELECT * FROM alerts WHERE name = ?", [name])
        row = cur.fetchone()
        if not row:
            return None
        return cast(AlertState, dict(zip([d[0] for d in cur.description], row, strict=True)))

    def _alert_rows(self, sql: str, params: dict[str, SQLValue]) -> list[dict[str, SQLValue]]:
        """The rows of ``sql`` as dicts, by column name."""
        cur = self.db.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]

    def unsent_alert_items(self, alert: str, channel: str, *, since: str,
                           min_score: float | None, min_reach: int | None, topic: str | None,
                           limit: int) -> list[UnsentItem]:
        """Kept items first seen at or after ``since`` that the alert has not sent (or
        claimed) on this channel, with at least ``min_score``, in a story of at least
        ``min_reach`` outlets (an item in no story counts as one) and matching ``topic``
        (None: any); oldest first, at most ``limit``."""
        # The CASTs: PostgreSQL cannot tell the type of a parameter that is NULL otherwise.
        params: dict[str, SQLValue] = {
            "alert": alert, "channel": channel, "since": since, "min_score": min_score,
            "min_reach": min_reach, "topic": topic, "limit": limit}
        sql = f"""
            SELECT i.id, i.title, i.url, i.published, i.language, i.score, i.topics,
                   f.name AS feed, si.outlet, si.story_id, s.reach,
                   (SELECT {json_object_sql(self.dialect, "t.topic", "t.terms")}
                    FROM item_topics t WHERE t.item_id = i.id) AS matched
            FROM items i JOIN feeds f ON f.id = i.feed_id
            LEFT JOIN story_items si ON si.item_id = i.id
            LEFT JOIN stories s ON s.id = si.story_id
            WHERE i.kept = 1 AND i.first_seen >= :since
              AND (CAST(:min_score AS DOUBLE PRECISION) IS NULL OR i.score >= :min_score)
              AND (CAST(:min_reach AS BIGINT) IS NULL OR coalesce(s.reach, 1) >= :min_reach)
              AND (CAST(:topic AS TEXT) IS NULL
                   OR i.id IN (SELECT item_id FROM item_topics WHERE topic = :topic))
              AND NOT EXISTS (SELECT 1 FROM alert_sent a WHERE a.alert = :alert
                              AND a.channel = :channel AND a.kind = 'item' AND a.ref = i.id)
            ORDER BY i.first_seen, i.published, i.id LIMIT :limit
        """
        return cast(list[UnsentItem], self._alert_rows(sql, params))

    def unsent_alert_stories(self, alert: str, channel: str, *, since: str,
                             min_score: float | None, min_reach: int | None,
                             topic: str | None, limit: int) -> list[UnsentStory]:
        """Stories changed at or after ``since`` that the alert has not sent (or claimed) on
        this channel, of at least ``min_reach`` outlets, with a kept item of at least
        ``min_score`` that matches ``topic`` (None: any); oldest first, at most ``limit``.
        Their score is their best kept item's, their topics those of their kept items."""
        params: dict[str, SQLValue] = {
            "alert": alert, "channel": channel, "since": since, "min_score": min_score,
            "min_reach": min_reach, "topic": topic, "limit": limit}
        topics = json_list_sql(self.dialect, "topic", """SELECT DISTINCT it.topic
                    FROM story_items x JOIN items i ON i.id = x.item_id
                    JOIN item_topics it ON it.item_id = x.item_id
                    WHERE x.story_id = s.id AND i.kept = 1 ORDER BY it.topic""")
        sql = f"""
            SELECT s.id, s.title, fi.url, s.first_published AS published, s.first_outlet AS outlet,
                   s.reach, s.items AS mentions,
                   (SELECT max(i.score) FROM story_items x JOIN items i ON i.id = x.item_id
                    WHERE x.story_id = s.id AND i.kept = 1) AS score,
                   {topics} AS topics
            FROM stories s LEFT JOIN items fi ON fi.id = s.first_item_id
            WHERE s.updated >= :since AND s.reach >= coalesce(CAST(:min_reach AS BIGINT), 1)
              AND EXISTS (SELECT 1 FROM story_items x JOIN items i ON i.id = x.item_id
                          WHERE x.story_id = s.id AND i.kept = 1
                            AND (CAST(:min_score AS DOUBLE PRECISION) IS NULL
                                 OR i.score >= :min_score)
                            AND (CAST(:topic AS TEXT) IS NULL OR i.id IN
                                 (SELECT item_id FROM item_topics WHERE topic = :topic)))
              AND NOT EXISTS (SELECT 1 FROM alert_sent a WHERE a.alert = :alert
                              AND a.channel = :channel AND a.kind = 'story' AND a.ref = s.id)
            ORDER BY s.first_published, s.id LIMIT :limit
        """
        return cast(list[UnsentStory], self._alert_rows(sql, params))

    def claim_alert_entries(self, alert: str, channel: str, claims: Sequence[AlertClaim],
                            *, now: datetime) -> list[bool]:
        """Mark items or stories as being sent by this caller (``alert_sent`` rows without
        ``sent``), in one transaction. Returns, for each claim, whether this caller got it
        (False: another sender had claimed it already). ``now`` is when they were claimed."""
        mine = []
        with self.transaction():
            for kind, ref, title, url in claims:
                cur = self.db.execute(
                    "INSERT INTO alert_sent (alert, channel, kind, ref, title, url, "
                    "claimed) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [alert, channel, kind, ref, title, url, utc_iso(now)])
                mine.append(bool(cur.rowcount))
        return mine

    def confirm_alert_sent(self, alert: str, channel: str, refs: Sequence[AlertRef], *,
                           now: datetime, digest: bool) -> None:
        """Record that one message with ``refs`` went out at ``now``: confirm their claims,
        count them and the message in the alert's state and clear its last error (a digest:
        also its ``last_digest``), in one transaction."""
        sent = utc_iso(now)
        with self.transaction():
            self.db.conn.executemany(
                "UPDATE alert_sent SET sent = ? WHERE alert = ? AND channel = ? AND kind = ? "
                "AND ref = ?",
                [(sent, alert, channel, kind, ref) for kind, ref in refs])
            self.db.execute(
                "UPDATE alerts SET last_sent = ?, sent = sent + ?, messages = messages + 1, "
                "last_error = NULL WHERE name = ?",
                [sent, len(refs), alert])
            if digest:
                self.db.execute("UPDATE alerts SET last_digest = ? WHERE name = ?",
                                [sent, alert])

    def release_alert_claims(self, alert: str, channel: str, refs: Sequence[AlertRef], *,
                             error: str) -> None:
        """A message failed: delete its unconfirmed claims (so the next run tries again),
        set the alert's ``last_error`` to ``error`` and count the failure, in one
        transaction."""
        with self.transaction():
            self.db.conn.executemany(
                "DELETE FROM alert_sent WHERE alert = ? AND channel = ? AND kind = ? "
                "AND ref = ? AND sent IS NULL",
                [(alert, channel, kind, ref) for kind, ref in refs])
            self.db.execute("UPDATE alerts SET last_error = ?, failures = failures + 1 "
                            "WHERE name = ?", [error, alert])

    def advance_alert_digest(self, alert: str, now: datetime) -> None:
        """Move a digest's clock on to ``now`` (unless it is later already): the next digest
        is due ``every`` after it, even when this one had nothing to send."""
        with self.transaction():
            self.db.execute("UPDATE alerts SET last_digest = ? WHERE name = ? AND "
                            "(last_digest IS NULL OR last_digest < ?)",
                            [utc_iso(now), alert, utc_iso(now)])

    def mark_alert_run(self, alert: str, now: datetime) -> None:
        """Record that the alert ran at ``now``."""
        with self.transaction():
            self.db.execute("UPDATE alerts SET last_run = ? WHERE name = ?",
                            [utc_iso(now), alert])

    def unconfirmed_alert_claims(self, alert: str) -> int:
        """How many of the alert's claims were never confirmed sent (sending now, or a
        crash between sending and confirming)."""
        count: int = self.db.execute(
            "SELECT count(*) FROM alert_sent WHERE alert = ? AND sent IS NULL",
            [alert]).fetchone()[0]
        return count
