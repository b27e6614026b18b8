"""The store's part for editing feeds from the command line (``feeds remove``, ``feeds
edit``): one SQL text for both databases, as methods of ``sqlite.Store`` and of
``postgres.read.PostgresReader`` (whose ``db`` runs it on PostgreSQL).

A daemon asks the database which feeds are due at every tick (``due_feeds``), so a feed
removed, paused, resumed or given a new interval here is seen by every daemon at its next
tick, on one machine or many. Nothing here touches a feed's claim (``claimed_by``,
``claimed_until`` on PostgreSQL): a pass already under way ends as it began, and its daemon
releases the feed as usual; the change applies from the next poll on.

Adding feeds (``add_feed``) and syncing the config's are each store's own: they differ in
how they order their writes for several daemons.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mediamon.store.base import SQLiteBase

if TYPE_CHECKING:
    from mediamon.store.rows import FeedRow

EDITABLE = ("name", "tags", "interval", "paused")


class FeedEditing(SQLiteBase):
    """``remove_feed`` and ``edit_feed`` over ``self.db`` (SQLite, or PostgreSQL through
    ``PgDatabase``)."""

    if TYPE_CHECKING:  # each store has its own
        def find_feed(self, url_or_id: str) -> FeedRow | None: ...

    def remove_feed(self, url_or_id: str) -> FeedRow | None:
        """Stop polling a feed (its items stay). Returns the feed, or None if unknown."""
        row = self.find_feed(url_or_id)
        if row is None:
            return None
        with self.transaction():
            self.db.execute("UPDATE feeds SET active = 0 WHERE id = ?", [row.id])
        return row

    def edit_feed(self, feed_id: int, **changes: Any) -> None:
        """Change a feed's ``name``, ``tags``, pinned ``interval`` (seconds; None: adaptive)
        or ``paused``. A new interval makes the feed due now, so it applies at once."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        values = {key: json.dumps(list(value)) if key == "tags" else
                  int(value) if key == "paused" else value for key, value in changes.items()}
        if "interval" in changes:
            values["next_fetch"] = None
        if not values:
            return
        assignments = ", ".join(f"{key} = ?" for key in values)
        with self.transaction():
            self.db.execute(f"UPDATE feeds SET {assignments} WHERE id = ?",
                            [*values.values(), feed_id])
