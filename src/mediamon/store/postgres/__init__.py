"""PostgreSQL storage: the same database as SQLite's, shared by many daemons.

    schema    the tables (checked equal to SQLite's by a test), migrations
    store     PostgresStore: the feed pass's storage (``IngestStore``) and the claims on
              due feeds that let several daemons share the feeds
    stories   story assignment, folded copies and versions in PostgreSQL's dialect
    query     the listing, search, item and feed health (``store.query``'s, same rows)
    read      PostgresReader: a PostgresStore the desk and the CLI read as a SQLite Store

psycopg (``pip install 'mediamon[postgres]'``) is imported only when a PostgreSQL database
is opened.
"""

from __future__ import annotations

URL_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(target: object) -> bool:
    """Whether a ``--db`` value or ``database.url`` names a PostgreSQL database."""
    return isinstance(target, str) and "://" in target and \
        target.split("://", 1)[0].lower() in URL_SCHEMES
