"""The store's part for retention (deleting what has expired) and vacuum: its SQL, as methods
of ``sqlite.Store``.
"""

from __future__ import annotations

from mediamon.store.base import SQLiteBase


class RetentionStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for retention (deleting what has expired) and vacuum."""
