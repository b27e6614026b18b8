"""The analyst's writes on PostgreSQL: labels, rescoring, retention and vacuum, as the SQLite
store's parts (``store.labels``, ``store.retention``) run them, on ``PgDatabase``.

``PostgresDesk`` is one of ``read.PostgresReader``'s bases. Their SQL is one text for both
databases; written again here is only what PostgreSQL cannot run as SQLite's:

- ``rescore_batch``: SQLite pages by rowid, which PostgreSQL's items do not have; here
  pages go by item id (the primary key), in the same ``RescoreRow`` shape;
  ``save_rescored_many``: one statement an item, pipelined, where SQLite runs two and one
  a topic (each a round trip on PostgreSQL); the article
  texts a rescore reads (``article_texts``, ``set_matched_on``: ``store.articles``' ask
  SQLite's catalogue first);
- ``lock_stories``: retention recounts the stories that lost items while daemons may be
  counting new items into them (``store.stories.update_stories`` adds one to a
  story's count with its row locked): locked first, in id order as the daemons lock them,
  the count read next sees every member committed, and one added later is added to it;
- ``compact`` and ``storage_sizes``: ``VACUUM (ANALYZE)`` outside any transaction (the
  pool's connections are in autocommit), and the database's size.

Writes that daemons and the analyst may make at once stay single statements: a label is
one upsert (``ON CONFLICT``), a rescored item's row is locked by its ``UPDATE`` before its
topics are replaced (as a feed pass locks an edited item), and spikes are inserted with
``ON CONFLICT DO NOTHING`` (``store.trends``).

What this module does not do: it decides nothing (``desk.relevance``,
``desk.housekeeping``), and does not open the database (``read.PostgresReader`` does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mediamon.clock import utc_iso
from mediamon.store.labels import VERDICT_COLUMNS, LabelsStore, RescoreRow
from mediamon.store.retention import RetentionStore
from mediamon.store.rows import terms_json
from mediamon.types import Match

_SAVE_RESCORED = """
    WITH kept AS (
        UPDATE items SET kept = :kept, score = :score, similarity = :similarity,
                         topics = :topics, explanation = :explanation
        WHERE id = :id RETURNING id),
    gone AS (
        DELETE FROM item_topics
        WHERE item_id = :id AND NOT (topic = ANY(CAST(:names AS text[]))))
    INSERT INTO item_topics (item_id, topic, terms)
    SELECT kept.id, t.topic, t.terms
    FROM kept, unnest(CAST(:names AS text[]), CAST(:terms AS text[])) AS t(topic, terms)
    ON CONFLICT (item_id, topic) DO UPDATE SET terms = excluded.terms
"""


class PostgresDesk(LabelsStore, RetentionStore):
    """Labels, rescoring, retention and vacuum on PostgreSQL (see the module docstring)."""

    dialect = "postgresql"

    if TYPE_CHECKING:  # what PostgresStore (PostgresReader's first base) gives
        pool: Any

    def rescore_batch(self, *, since: datetime | None, after_rowid: int | str,
                      limit: int) -> list[RescoreRow]:
        """As ``LabelsStore.rescore_batch``, paged by item id: start with 0 (or ""), then
        give the last row's ``rowid`` (its id)."""
        after = after_rowid if isinstance(after_rowid, str) else ""
        where, params = ("AND published >= ?", [utc_iso(since)]) if since else ("", [])
        rows = self.db.execute(
            f"SELECT id, id, title, summary, content, kept, published, {VERDICT_COLUMNS} "
            f"FROM items WHERE id > ? {where} ORDER BY id LIMIT ?",
            [after, *params, limit]).fetchall()
        return [RescoreRow._make((*row[:7], tuple(row[7:]))) for row in rows]

    def save_rescored_many(self, verdicts: Sequence[tuple[str, Match]]) -> None:
        """As ``LabelsStore.save_rescored`` of each, one statement an item sent together
        (psycopg's ``executemany`` pipelines them): the item's row updated (and locked),
        the topics it no longer matches deleted and the others upserted, none for an
        item deleted meanwhile. Three statements an item, each waiting for its answer,
        took twice as long as the scoring."""
        rows = []
        for item_id, match in verdicts:
            hits = {hit.topic: terms_json(hit.terms) for hit in match.topics}
            rows.append({
                "id": item_id, "kept": int(match.kept), "score": match.score,
                "similarity": match.similarity,
                "topics": json.dumps(list(match.topic_names), ensure_ascii=False),
                "explanation": match.explanation_json,
                "names": list(hits), "terms": list(hits.values())})
        if rows:
            self.db.conn.executemany(_SAVE_RESCORED, rows)

    def article_texts(self, ids: Sequence[str]) -> dict[str, str]:
        """As ``ArticlesStore.article_texts`` (what ``rescore`` scores an item with): one
        statement over an array, where SQLite first asks its catalogue for the table and
        then reads 500 ids a statement."""
        return dict(self.db.execute(
            "SELECT item_id, text FROM articles WHERE item_id = ANY(?) AND status = 'ok' "
            "AND text IS NOT NULL", [list(ids)]).fetchall())

    def set_matched_on(self, item_id: str, matched_on: str | None) -> None:
        self.db.execute("UPDATE articles SET matched_on = ? WHERE item_id = ?",
                        [matched_on, item_id])

    def lock_stories(self, story_ids: Sequence[str]) -> None:
        if story_ids:
            self.db.execute("SELECT id FROM stories WHERE id = ANY(?) ORDER BY id FOR UPDATE",
                            [sorted(story_ids)])

    def storage_sizes(self) -> dict[str, int]:
        """The database's size on disk (``pg_database_size``), in bytes; no WAL file."""
        row = self.db.execute("SELECT pg_database_size(current_database())").fetchone()
        return {"file": int(row[0]) if row else 0, "wal": 0}

    def compact(self) -> bool:
        """``VACUUM (ANALYZE)`` of the database: dead rows' space made reusable, the
        planner's statistics refreshed. Not in a transaction (VACUUM cannot run in one):
        a pooled connection, in autocommit. Returns False (nothing is ever left busy)."""
        with self.pool.connection() as conn:
            conn.execute("VACUUM (ANALYZE)")
        return False
