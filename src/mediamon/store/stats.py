"""The store's part for counts for stats and the report, and what Datasette is shown: its SQL,
as methods of ``sqlite.Store``.

``desk.stats`` counts kept items (and stories) per period, top outlets and languages;
``desk.report`` lists the top stories with their sources and a per-outlet table;
``desk.serve`` hands Datasette the canned queries of ``CANNED_QUERIES``. All of it reads;
nothing here writes.

An item counts in the period of its ``published`` time (UTC); a story in the period of its
first mention. An item's outlet is its story's outlet (the site of its link, ``story_store``);
without the stories tables (``has_stories``) it is the name of the feed it came through.
Methods that depend on that take ``with_stories``: the caller checks once, so that one
reading sees one schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from mediamon.clock import utc_iso
from mediamon.store.base import SQLiteBase, SQLValue, distinct_text_sql, json_object_sql
from mediamon.store.outlets import OutletScope

Bucket = Literal["hour", "day", "week", "month"]
"""The length of a period: weeks start on Monday, months on their first day."""

# Datasette's canned queries (``desk.serve`` puts them in its metadata): today's kept items,
# this week's top stories and failing feeds. Datasette runs them itself, read only.
CANNED_QUERIES: dict[str, dict[str, str]] = {
    "todays_kept_items": {
        "title": "Today's kept items",
        "description": "Kept items published or first seen today (UTC), newest first",
        "sql": """
SELECT items.id, items.published, items.title, items.url, feeds.name AS feed,
       story_items.outlet, items.language, round(items.score, 2) AS score, items.topics,
       story_items.story_id AS story
FROM items
JOIN feeds ON feeds.id = items.feed_id
LEFT JOIN story_items ON story_items.item_id = items.id
WHERE items.kept = 1
  AND (items.published >= date('now') OR items.first_seen >= date('now'))
ORDER BY items.published DESC
LIMIT 1000""".strip(),
    },
    "top_stories_this_week": {
        "title": "Top stories this week",
        "description": "Stories with a kept item, mentioned or updated in the last 7 days, "
                       "by reach (distinct outlets)",
        "sql": """
SELECT stories.id, stories.title, stories.reach, stories.items AS mentions,
       stories.first_outlet, stories.first_published, stories.last_published,
       items.url AS first_url
FROM stories
LEFT JOIN items ON items.id = stories.first_item_id
WHERE (stories.last_published >= strftime('%Y-%m-%dT%H:%M:%S', 'now', '-7 days')
       OR stories.updated >= strftime('%Y-%m-%dT%H:%M:%S', 'now', '-7 days'))
  AND EXISTS (SELECT 1 FROM story_items JOIN items kept ON kept.id = story_items.item_id
              WHERE story_items.story_id = stories.id AND kept.kept = 1)
ORDER BY stories.reach DESC, stories.items DESC, stories.first_published DESC
LIMIT 50""".strip(),
    },
    "failing_feeds": {
        "title": "Failing feeds",
        "description": "Active feeds whose last poll failed, gone and dead ones first",
        "sql": """
SELECT id, coalesce(name, title, url) AS feed, url, last_status, last_http_status, failures,
       failing_since, dead_since, gone_since, last_error, last_success, next_fetch
FROM feeds
WHERE active = 1
  AND (failures > 0 OR last_status IN ('error', 'gone') OR gone_since IS NOT NULL)
ORDER BY gone_since IS NULL, dead_since IS NULL, failures DESC, id""".strip(),
    },
}


def _bucket_sql(column: str, by: Bucket) -> str:
    """SQL giving the period label (``desk.stats._label``) of the UTC time in ``column``:
    2025-07-03 (day, week: its Monday, month: its first day) or 2025-07-03T14:00 (hour)."""
    if by == "week":  # SQLite: 'weekday 1' moves forward to a Monday, so go back 6 days first
        return f"date({column}, '-6 days', 'weekday 1')"
    if by == "hour":
        return f"strftime('%Y-%m-%dT%H:00', {column})"
    return f"strftime('%Y-%m-01', {column})" if by == "month" else f"date({column})"


def _kept_items(since: datetime, until: datetime, topic: str | None,
                outlets: OutletScope | None = None) -> tuple[str, list[SQLValue]]:
    """The FROM and WHERE of the kept items (joined to their feed) published from ``since``
    up to ``until`` (that matched ``topic``, if given; of the ``outlets`` in scope, if
    given), and its parameters."""
    where = "items.kept = 1 AND items.published >= ? AND items.published < ?"
    params: list[SQLValue] = [utc_iso(since), utc_iso(until)]
    if topic:
        where += " AND items.id IN (SELECT item_id FROM item_topics WHERE topic = ?)"
        params.append(topic)
    if outlets is not None:
        clause, scope_params = outlets.clause("items.id")
        where += f" AND {clause}"
        params += scope_params
    return f"FROM items JOIN feeds ON feeds.id = items.feed_id WHERE {where}", params


def _item_outlet(with_stories: bool) -> str:
    """SQL giving the outlet of the item in ``items`` (its feed in ``feeds``)."""
    return ("coalesce((SELECT outlet FROM story_items WHERE item_id = items.id), feeds.name, "
            "feeds.url)" if with_stories else "coalesce(feeds.name, feeds.url)")


def _report_kept(since: datetime, until: datetime, topic: str | None,
                 outlets: OutletScope | None = None) -> tuple[str, list[SQLValue]]:
    """The condition on ``i`` (items) of the report's kept items, and its parameters."""
    topic_clause = "AND i.id IN (SELECT item_id FROM item_topics WHERE topic = ?)" if topic else ""
    params: list[SQLValue] = [utc_iso(since), utc_iso(until), *([topic] if topic else [])]
    if outlets is not None:
        clause, scope_params = outlets.clause("i.id")
        topic_clause += f" AND {clause}"
        params += scope_params
    return f"i.kept = 1 AND i.published >= ? AND i.published < ? {topic_clause}", params


class StatsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for stats, the report and Datasette."""

    def _dict_rows(self, sql: str, params: list[SQLValue]) -> list[dict[str, SQLValue]]:
        """The rows of ``sql``, each a dict by column name."""
        cur = self.db.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- stats ------------------------------------------------------------------------------

    def _bucket(self, column: str, by: Bucket) -> str:
        """``_bucket_sql`` in this database's dialect (PostgreSQL's store writes its own)."""
        return _bucket_sql(column, by)

    def has_stories(self) -> bool:
        """Whether the database has the stories tables."""
        return bool(self.db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('stories', 'story_items')").fetchone()[0] == 2)

    def kept_items_per_period(self, by: Bucket, *, since: datetime, until: datetime,
                              topic: str | None = None, outlets: OutletScope | None = None,
                              ) -> list[tuple[str | None, int]]:
        """Kept items published from ``since`` up to ``until`` (that matched ``topic``),
        counted per period of ``by``: (period label, count), periods without items left out."""
        base, params = _kept_items(since, until, topic, outlets)
        return [(period, n) for period, n in self.db.execute(
            f"SELECT {self._bucket('items.published', by)}, count(*) {base} GROUP BY 1",
            params)]

    def new_stories_per_period(self, by: Bucket, *, since: datetime, until: datetime,
                               topic: str | None = None, outlets: OutletScope | None = None,
                               ) -> list[tuple[str | None, int]]:
        """Stories first mentioned from ``since`` up to ``until`` that have a kept item
        (that matched ``topic``; from an outlet in ``outlets``), counted per period of
        ``by``: (period label, count). Needs the stories tables (``has_stories``)."""
        _, params = _kept_items(since, until, topic)
        topic_clause = ("AND i.id IN (SELECT item_id FROM item_topics WHERE topic = ?)"
                        if topic else "")
        if outlets is not None:
            clause, scope_params = outlets.on_outlet("si.outlet")
            topic_clause += f" AND {clause}"
            params += scope_params
        return [(period, n) for period, n in self.db.execute(
            f"SELECT {self._bucket('s.first_published', by)}, count(*) FROM stories s "
            f"WHERE s.first_published >= ? AND s.first_published < ? AND EXISTS ("
            f"SELECT 1 FROM story_items si JOIN items i ON i.id = si.item_id "
            f"WHERE si.story_id = s.id AND i.kept = 1 {topic_clause}) GROUP BY 1",
            params)]

    def top_outlets(self, *, since: datetime, until: datetime, topic: str | None = None,
                    with_stories: bool, limit: int, outlets: OutletScope | None = None,
                    ) -> list[tuple[str, int]]:
        """The ``limit`` outlets with the most kept items published from ``since`` up to
        ``until`` (that matched ``topic``): (outlet, count), most first, then by name."""
        base, params = _kept_items(since, until, topic, outlets)
        outlet = _item_outlet(with_stories)
        return [(str(o), n) for o, n in self.db.execute(
            f"SELECT {outlet} AS o, count(*) AS n {base} GROUP BY o ORDER BY n DESC, o "
            f"LIMIT {limit:d}", params)]

    def top_languages(self, *, since: datetime, until: datetime, topic: str | None = None,
                      limit: int, outlets: OutletScope | None = None,
                      ) -> list[tuple[str, int]]:
        """The ``limit`` languages with the most kept items published from ``since`` up to
        ``until`` (that matched ``topic``): (code or "unknown", count), most first. The
        language is the detected one (``items.language``; core/language.item_language)."""
        base, params = _kept_items(since, until, topic, outlets)
        return [(str(lang), n) for lang, n in self.db.execute(
            f"SELECT coalesce(items.language, 'unknown') AS l, count(*) AS n {base} "
            f"GROUP BY l ORDER BY n DESC, l LIMIT {limit:d}", params)]

    def kept_items_per_period_and_outlet(
            self, by: Bucket, *, since: datetime, until: datetime, topic: str | None = None,
            with_stories: bool, outlets: OutletScope | None = None,
            ) -> list[tuple[str | None, str, int]]:
        """Kept items published from ``since`` up to ``until`` (that matched ``topic``),
        counted per period of ``by`` and outlet: (period label, outlet, count)."""
        base, params = _kept_items(since, until, topic, outlets)
        outlet = _item_outlet(with_stories)
        return [(period, name, n) for period, name, n in self.db.execute(
            f"SELECT {self._bucket('items.published', by)}, {outlet} AS o, count(*) {base} "
            f"GROUP BY 1, 2", params)]

    # -- report -----------------------------------------------------------------------------

    def top_stories(self, *, since: datetime, until: datetime, topic: str | None = None,
                    limit: int, outlets: OutletScope | None = None,
                    ) -> list[dict[str, SQLValue]]:
        """The ``limit`` stories with kept items published from ``since`` up to ``until``
        (that matched ``topic``), by reach, then kept items, best score and newest.

        Each row: the story's ``id``, ``title``, ``first_published``, ``first_outlet``,
        ``reach`` and ``items``, and ``kept_items`` and ``best_score`` of those kept items.
        Needs the stories tables (``has_stories``). With ``outlets``, only the kept items of
        the outlets in scope count (and only stories with one are listed).
        """
        kept, params = _report_kept(since, until, topic, outlets)
        return self._dict_rows(f"""
            SELECT s.id, s.title, s.first_published, s.first_outlet, s.reach, s.items,
                   count(*) AS kept_items, max(i.score) AS best_score
            FROM stories s JOIN story_items si ON si.story_id = s.id
            JOIN items i ON i.id = si.item_id
            WHERE {kept}
            GROUP BY s.id
            ORDER BY s.reach DESC, kept_items DESC, best_score DESC, s.first_published DESC
            LIMIT ?""", [*params, limit])

    def story_sources(self, story_id: str, *, since: datetime, until: datetime,
                      topic: str | None = None) -> list[dict[str, SQLValue]]:
        """The kept items of story ``story_id`` published from ``since`` up to ``until``
        (that matched ``topic``), oldest first.

        Each row: the item's ``id``, ``title``, ``url``, ``published``, ``language``,
        ``score`` and ``summary``, its ``outlet``, its feed's name (``feed_name``) and
        ``matches``: a JSON object of each topic it matched to the words that matched it
        (None when none).
        """
        kept, params = _report_kept(since, until, topic)
        return self._dict_rows(f"""
                SELECT i.id, i.title, i.url, i.published, i.language, i.score, i.summary,
                       si.outlet, f.name AS feed_name,
                       (SELECT {json_object_sql(self.dialect, "topic", "terms")}
                        FROM item_topics WHERE item_id = i.id) AS matches
                FROM story_items si JOIN items i ON i.id = si.item_id
                JOIN feeds f ON f.id = i.feed_id
                WHERE si.story_id = ? AND {kept}
                ORDER BY i.published, i.id""", [story_id, *params])

    def outlet_summary(self, *, since: datetime, until: datetime, topic: str | None = None,
                       with_stories: bool) -> list[dict[str, SQLValue]]:
        """One row per outlet of the kept items published from ``since`` up to ``until``
        (that matched ``topic``), most items first.

        Each row: ``outlet``, ``items``, ``stories`` (distinct stories; each item its own
        without the stories tables), ``first_reports`` (stories it mentioned first in the
        period; None without the stories tables), ``mean_score``, ``languages`` (comma
        separated, ``?`` for unknown) and ``latest`` (the newest publication time).
        """
        kept, params = _report_kept(since, until, topic)
        outlet = ("coalesce((SELECT outlet FROM story_items WHERE item_id = i.id), f.name, f.url)"
                  if with_stories else "coalesce(f.name, f.url)")
        story_of = ("(SELECT story_id FROM story_items WHERE item_id = i.id)"
                    if with_stories else "i.id")
        first = ("(SELECT count(*) FROM stories s WHERE s.first_outlet = o.outlet "
                 "AND s.first_published >= ? AND s.first_published < ?)"
                 if with_stories else "NULL")
        return self._dict_rows(f"""
        SELECT o.outlet, count(*) AS items, count(DISTINCT o.story) AS stories,
               {first} AS first_reports,
               round(CAST(avg(o.score) AS NUMERIC), 2) AS mean_score,
               {distinct_text_sql(self.dialect, "o.language")} AS languages,
               max(o.published) AS latest
        FROM (SELECT {outlet} AS outlet, {story_of} AS story, i.score, i.published,
                     coalesce(i.language, '?') AS language
              FROM items i JOIN feeds f ON f.id = i.feed_id WHERE {kept}) AS o
        GROUP BY o.outlet ORDER BY items DESC, o.outlet""",
            [*([utc_iso(since), utc_iso(until)] if with_stories else []), *params])
