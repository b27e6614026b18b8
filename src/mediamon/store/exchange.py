"""The store's part for export and import of items (JSON Lines, CSV, Atom): its SQL, as methods
of ``sqlite.Store``.
"""

from __future__ import annotations

from mediamon.store.base import SQLiteBase


class ExchangeStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for export and import of items (JSON Lines, CSV, Atom)."""
