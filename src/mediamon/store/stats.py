"""The store's part for counts for stats and the report, and what Datasette is shown: its SQL,
as methods of ``sqlite.Store``.
"""

from __future__ import annotations

from mediamon.store.base import SQLiteBase


class StatsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for stats, the report and Datasette."""
