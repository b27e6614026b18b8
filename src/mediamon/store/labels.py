"""The store's part for the analyst's labels, and what rescoring reads and writes: its SQL, as
methods of ``sqlite.Store``.
"""

from __future__ import annotations

from mediamon.store.base import SQLiteBase


class LabelsStore(SQLiteBase):
    """Methods of ``sqlite.Store`` for the analyst's labels, and what rescoring reads and writes."""
