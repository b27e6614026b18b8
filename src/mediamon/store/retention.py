"""The store's part for retention (deleting what has expired) and vacuum: its SQL, as methods
of ``sqlite.Store``.

Finds and deletes expired items (with their story rows, versions and aliases; their ``seen``
row stays, so polling does not store them again) and fetch-log rows, recounts the stories
that lost items, and compacts the file (``compact``). What has expired, and when to
compact, is decided by ``desk.housekeeping``.

On PostgreSQL the same methods run (``store.postgres.read``); ``store.postgres.desk``
gives its own ``compact``, ``storage_sizes`` and ``lock_stories``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mediamon.clock import utc_iso
from mediamon.store.base import SQLiteBase


class RetentionStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for retention (deleting what has expired) and vacuum."""

    # -- retention ------------------------------------------------------------------------

    def unlabelled_items_seen_before(self, *, kept: bool, cutoff: datetime) -> list[str]:
        """Ids of the items (kept or not) first seen before ``cutoff`` that the analyst has
        not labelled."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT id FROM items WHERE kept = ? AND first_seen < ? AND id NOT IN "
            "(SELECT item_id FROM labels)", [int(kept), utc_iso(cutoff)])]

    def item_counts_by_kept(self, ids: Sequence[str]) -> list[tuple[bool, int]]:
        """``(kept, count)`` of the items ``ids``, 500 ids a query: one row per flag per
        query, so a flag can come more than once (add them up)."""
        counts: list[tuple[bool, int]] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            counts += [(bool(kept), n) for kept, n in self.db.conn.execute(
                f"SELECT kept, count(*) FROM items WHERE id IN ({marks}) GROUP BY kept", chunk)]
        return counts

    def fetch_log_count_before(self, cutoff: datetime) -> int:
        """Fetch-log rows of passes started before ``cutoff``."""
        count: int = self.db.conn.execute(
            "SELECT count(*) FROM fetch_log WHERE started < ?", [utc_iso(cutoff)]).fetchone()[0]
        return count

    def delete_items(self, ids: Sequence[str]) -> set[str]:
        """Delete the items ``ids`` with their story rows (``story_items``, ``story_bands``),
        earlier versions and folded copies, 500 ids a statement; their ``seen`` rows stay.
        The stories themselves are left to ``story_item_counts`` and its kin.

        Call inside a transaction. Returns the ids of the stories they were in.
        """
        conn = self.db.conn
        stories: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            stories.update(r[0] for r in conn.execute(
                f"SELECT story_id FROM story_items WHERE item_id IN ({marks})", chunk))
            conn.execute(f"DELETE FROM story_bands WHERE n IN (SELECT n FROM story_items "
                         f"WHERE item_id IN ({marks}))", chunk)
            for table, column in (("story_items", "item_id"), ("item_versions", "item_id"),
                                  ("item_aliases", "item_id"), ("items", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)
        return stories

    def delete_fetch_log_before(self, cutoff: datetime) -> None:
        """Delete the fetch-log rows of passes started before ``cutoff``."""
        self.db.conn.execute("DELETE FROM fetch_log WHERE started < ?", [utc_iso(cutoff)])

    def lock_stories(self, story_ids: Sequence[str]) -> None:
        """Hold these stories' rows until the transaction ends, before they are recounted:
        nothing to do on SQLite, whose writer is the only one; PostgreSQL's store locks
        them, so a daemon's pass counting an item into one waits, or is waited for."""

    def story_item_counts(self, story_id: str) -> tuple[int, int]:
        """``(items, reach)`` of a story as its ``story_items`` are now: how many items, how
        many distinct outlets."""
        items, reach = self.db.conn.execute(
            "SELECT count(*), count(DISTINCT outlet) FROM story_items "
            "WHERE story_id = ?", [story_id]).fetchone()
        return int(items), int(reach)

    def delete_story(self, story_id: str) -> None:
        """Delete a story's row (one with no items left)."""
        self.db.conn.execute("DELETE FROM stories WHERE id = ?", [story_id])

    def set_story_counts(self, story_id: str, *, items: int, reach: int) -> None:
        """Store a story's item count and reach."""
        self.db.conn.execute("UPDATE stories SET items = ?, reach = ? WHERE id = ?",
                             [items, reach, story_id])

    # -- compaction -----------------------------------------------------------------------

    def storage_sizes(self) -> dict[str, int]:
        """The database file's size and its ``-wal`` file's, in bytes (0 for a missing
        file)."""
        wal = self.path.with_name(self.path.name + "-wal")
        return {"file": self.path.stat().st_size if self.path.exists() else 0,
                "wal": wal.stat().st_size if wal.exists() else 0}

    def compact(self) -> bool:
        """Merge the FTS5 index, rebuild the file, and leave the WAL checkpointed and empty.

        In WAL mode VACUUM writes the whole rebuilt database into the ``-wal`` file, and the
        database file only shrinks when that is checkpointed: without the checkpoint after it,
        the file and its WAL together were about twice the database, and stayed so while
        another connection (the daemon) kept the WAL open. The WAL is checkpointed before
        VACUUM too, so it never holds more than one copy.

        Not in a transaction (VACUUM cannot run in one). Returns whether the last checkpoint
        was blocked (a process reading at that moment can stop the WAL being truncated).
        """
        self.db.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA optimize")
        busy = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return bool(busy)
