"""Open the database a command or the daemon names: a SQLite file, or a PostgreSQL URL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mediamon.core.stories import StorySettings
from mediamon.store.postgres import is_postgres_url

if TYPE_CHECKING:
    from mediamon.store.postgres.store import PostgresStore
    from mediamon.store.sqlite import Store


def open_store(target: str | Path, *, readonly: bool = False,
               stories: StorySettings | None = None,
               lease: timedelta | None = None) -> Store | PostgresStore:
    """``sqlite.Store`` for a path, ``PostgresStore`` for a ``postgresql://`` URL (psycopg
    is imported only then; without it the error says which extra to install)."""
    if is_postgres_url(target):
        try:
            from mediamon.store.postgres.store import DEFAULT_LEASE, PostgresStore
        except ImportError as exc:
            from mediamon.errors import StoreError

            raise StoreError(f"PostgreSQL needs psycopg: pip install 'mediamon[postgres]' "
                             f"({exc})") from None
        return PostgresStore(str(target), readonly=readonly, stories=stories,
                             lease=lease or DEFAULT_LEASE)
    from mediamon.store.sqlite import Store

    return Store(target, readonly=readonly, stories=stories)
