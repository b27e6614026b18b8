"""What the parts of the SQLite store share: the database handle and its transaction.

``sqlite.Store`` is assembled from parts, one module each (``alerts``, ``exchange``,
``retention``, ``labels``, ``stats``), each a class of methods over ``self.db`` that derives
from ``SQLiteBase``; ``Store`` opens the file, migrates it and derives from all of them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

# A value SQLite stores or returns (BLOBs aside): what query parameters and rows hold.
SQLValue = str | int | float | None


class SQLiteBase:
    """The attributes and the transaction every part of the store relies on."""

    db: sqlite_utils.Database
    path: Path
    readonly: bool

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction (see ``Store.transaction``)."""
        raise NotImplementedError
