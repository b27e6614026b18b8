"""The store's part for alert state, and the items and stories an alert sends: its SQL, as
methods of ``sqlite.Store``.
"""

from __future__ import annotations

from mediamon.store.base import SQLiteBase


class AlertsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for alert state, and the items and stories an alert sends."""
