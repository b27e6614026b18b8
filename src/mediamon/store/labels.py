"""The store's part for the analyst's labels, and what rescoring reads and writes: its SQL, as
methods of ``sqlite.Store``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from mediamon.clock import utc_iso
from mediamon.store.base import SQLiteBase
from mediamon.store.rows import terms_json
from mediamon.types import Match


class RescoreRow(NamedTuple):
    """A stored item as ``rescore`` reads it; ``rowid`` is where its page ends: the rowid
    on SQLite, the id on PostgreSQL (which has no rowid)."""

    rowid: int | str
    id: str
    title: str
    summary: str
    content: str
    kept: int
    published: str | None  # ISO 8601 UTC
    # the stored verdict, as ``verdict_columns`` gives it: a verdict that equals it is not
    # written again
    verdict: tuple[object, ...] = ()


# The columns of a stored verdict, in the order of ``verdict_columns``.
VERDICT_COLUMNS = "kept, score, similarity, topics, explanation"


def verdict_columns(match: Match) -> tuple[object, ...]:
    """The values ``save_rescored`` stores for a verdict (``VERDICT_COLUMNS``); the item's
    topic rows are its explanation's topics and terms."""
    return (int(match.kept), match.score, match.similarity,
            json.dumps(list(match.topic_names), ensure_ascii=False), match.explanation_json)


class LabelTarget(NamedTuple):
    """A stored item that ``mediamon label`` may label: its id and its text."""

    id: str
    title: str
    summary: str
    content: str


class LabelMatch(NamedTuple):
    """A label that ``mediamon label --remove`` may forget; ``title`` is None when the item is
    gone (pruned after the label)."""

    item_id: str
    label: str
    title: str | None


class LabelsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for the analyst's labels, and what rescoring reads and writes."""

    # -- labels ------------------------------------------------------------------------

    def labels_by_item(self) -> dict[str, str]:
        """Every label by item id (empty for a database without labels)."""
        try:
            return dict(self.db.execute("SELECT item_id, label FROM labels").fetchall())
        except sqlite3.OperationalError:
            return {}

    def label_texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The texts of the items the analyst labelled relevant, and irrelevant."""
        try:
            rows = self.db.execute("SELECT label, text FROM labels ORDER BY item_id").fetchall()
        except sqlite3.OperationalError:
            return (), ()
        return (tuple(t for label, t in rows if label == "relevant"),
                tuple(t for label, t in rows if label == "irrelevant"))

    def label_targets(self, prefix: str) -> list[LabelTarget]:
        """The stored items whose id starts with ``prefix``: at most two (two mean ambiguous)."""
        rows = self.db.execute(
            "SELECT id, title, summary, content FROM items WHERE id >= ? AND id < ? LIMIT 2",
            [prefix, prefix + "\U0010ffff"],
        ).fetchall()
        return [LabelTarget(*row) for row in rows]

    def set_label(self, item_id: str, label: str, *, labelled: datetime, text: str) -> None:
        """Record (or replace) the label of an item, with when and the item's text then."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO labels (item_id, label, labelled, text) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET label = excluded.label, "
                "labelled = excluded.labelled, text = excluded.text",
                [item_id, label, utc_iso(labelled), text],
            )

    def label_matches(self, prefix: str) -> list[LabelMatch]:
        """The labels whose item id starts with ``prefix``, with the item's title (None when
        the item is gone): at most two (two mean ambiguous)."""
        rows = self.db.execute(
            "SELECT labels.item_id, labels.label, items.title FROM labels "
            "LEFT JOIN items ON items.id = labels.item_id "
            "WHERE labels.item_id >= ? AND labels.item_id < ? LIMIT 2",
            [prefix, prefix + "\U0010ffff"],
        ).fetchall()
        return [LabelMatch(*row) for row in rows]

    def delete_label(self, item_id: str) -> None:
        """Forget the label of an item (its full id)."""
        with self.transaction():
            self.db.execute("DELETE FROM labels WHERE item_id = ?", [item_id])

    def label_rows(self) -> list[dict[str, str | int | None]]:
        """Every label, the latest first: ``item_id``, ``label``, ``labelled``, and the item's
        ``title`` and ``kept`` (None when the item is gone)."""
        return list(self.db.query(
            "SELECT labels.item_id, labels.label, labels.labelled, items.title, "
            "items.kept FROM labels LEFT JOIN items ON items.id = labels.item_id "
            "ORDER BY labels.labelled DESC, labels.item_id"))

    # -- rescore -----------------------------------------------------------------------

    def rescore_count(self, since: datetime | None = None) -> int:
        """How many stored items there are (published at or after ``since`` when given)."""
        if since is None:
            return int(self.db.execute("SELECT count(*) FROM items").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM items WHERE published >= ?",
                                   [utc_iso(since)]).fetchone()[0])

    def rescore_batch(self, *, since: datetime | None, after_rowid: int | str,
                      limit: int) -> list[RescoreRow]:
        """The next ``limit`` stored items after ``after_rowid`` in rowid order (published at
        or after ``since`` when given); empty when none is left. Start with 0, then give
        the last row's ``rowid``."""
        where, params = ("WHERE published >= ?", [utc_iso(since)]) if since else ("", [])
        rows = self.db.execute(
            f"SELECT rowid, id, title, summary, content, kept, published, {VERDICT_COLUMNS} "
            f"FROM items {where} {'AND' if where else 'WHERE'} rowid > ? ORDER BY rowid "
            f"LIMIT ?",
            [*params, after_rowid, limit],
        ).fetchall()
        return [RescoreRow._make((*row[:7], tuple(row[7:]))) for row in rows]

    def prune_rescored(self, item_id: str) -> None:
        """Delete an item that is no longer kept (``rescore --prune``)."""
        self.db.execute("DELETE FROM items WHERE id = ?", [item_id])

    def save_rescored_many(self, verdicts: Sequence[tuple[str, Match]]) -> None:
        """``save_rescored`` of each ``(item id, match)``."""
        for item_id, match in verdicts:
            self.save_rescored(item_id, match)

    def save_rescored(self, item_id: str, match: Match) -> None:
        """Store an item's new verdict: kept, score, similarity, topics and explanation, and
        its matched topics with their terms."""
        self.db.execute(
            "UPDATE items SET kept = ?, score = ?, similarity = ?, topics = ?, explanation = ? "
            "WHERE id = ?",
            [*verdict_columns(match), item_id],
        )
        self.db.execute("DELETE FROM item_topics WHERE item_id = ?", [item_id])
        for hit in match.topics:
            self.db.execute(
                "INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, ?)",
                [item_id, hit.topic, terms_json(hit.terms)],
            )
