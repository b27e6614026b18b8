"""The database a daemon job works on (spikes, alerts, retention): opened for one run, with
connections of its own, so a job never shares a transaction with the feed writer.

On SQLite, the file; on PostgreSQL (``database.url``), a ``PostgresReader``: it runs the
desk's SQL there (``store.postgres.read``). ``schedule`` hands ``job_store`` to each job
(the desk modules do not import it: PostgreSQL's store is a long chain of imports). Which
daemon runs a job when several share one PostgreSQL database is decided in ``schedule``
(``store.postgres.locks``), not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from mediamon.config import Config
    from mediamon.store.sqlite import Store

POOL_SIZE = 2  # connections a job's PostgreSQL store may hold


@contextmanager
def job_store(config: Config) -> Iterator[Store]:
    """The configured database, writable, closed when the block ends."""
    if config.db_url is None:
        from mediamon.store.sqlite import Store

        with Store(config.db_path, stories=config.stories) as store:
            yield store
        return
    from mediamon.store.postgres.read import PostgresReader

    reader = PostgresReader(config.db_url, stories=config.stories, pool_size=POOL_SIZE)
    try:
        yield cast("Store", reader)
    finally:
        reader.close()
