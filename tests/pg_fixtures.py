"""PostgreSQL fixtures (a pytest plugin, loaded by conftest.py).

``pg_server``: a server URL for the whole session: ``MEDIAMON_TEST_PG`` when set (``.ci/run``
sets it), else a throwaway cluster started here (``pgcluster``) and stopped at the end;
where neither is possible every test that asks for it skips with the reason.

``pg_url``: a new, empty database on that server for one test (``CREATE DATABASE``, dropped
after the test), as a ``postgresql://`` URL.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

import pgcluster

_counter = itertools.count(1)


def with_database(url: str, name: str) -> str:
    """``url`` with its database part replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL (its maintenance database), or the test skips with why."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    url = os.environ.get("MEDIAMON_TEST_PG")
    cluster = None
    if not url:
        try:
            cluster = pgcluster.start()
        except pgcluster.ClusterUnavailable as exc:
            pytest.skip(f"no PostgreSQL server: MEDIAMON_TEST_PG is not set and none could be "
                        f"started here ({exc})")
        url = cluster.url
    try:
        with psycopg.connect(url, connect_timeout=10):
            pass
    except psycopg.Error as exc:
        if cluster is not None:
            pgcluster.stop(cluster.directory)
        pytest.skip(f"PostgreSQL server {url} does not answer: {exc}")
    try:
        yield url
    finally:
        if cluster is not None:
            pgcluster.stop(cluster.directory)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for this test: its URL."""
    import psycopg

    name = f"mediamon_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ["sqlite", "postgres"]


def open_store(request: pytest.FixtureRequest, path: os.PathLike[str] | str,
               **kwargs: object) -> object:
    """A writable store on the backend of ``request.param`` ("sqlite" or "postgres"): a
    SQLite ``Store`` at ``path``, or a ``PostgresReader`` on a fresh database of this test
    (it runs the SQLite store's SQL too, so a test may read either through ``store.db``).
    For fixtures parametrised with ``params=BACKENDS``; PostgreSQL skips with the reason
    when no server can be had."""
    if request.param == "postgres":
        from mediamon.store.postgres.read import PostgresReader

        return PostgresReader(request.getfixturevalue("pg_url"), **kwargs)
    from mediamon.store.sqlite import Store

    return Store(path, **kwargs)


def config_on(request: pytest.FixtureRequest, path: os.PathLike[str] | str) -> None:
    """Point the config file at ``path`` to the backend of ``request.param``: for
    "postgres", ``database.url`` of a fresh database of this test (SQLite keeps its path)."""
    if request.param != "postgres":
        return
    url = request.getfixturevalue("pg_url")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "[database]\n" not in text:
        raise ValueError(f"{path} has no [database] table to point at PostgreSQL")
    # the SQLite path that tests' configs put first in [database] gives way to the URL
    text = re.sub(r"\[database\]\n(?:path = .*\n)?", f'[database]\nurl = "{url}"\n', text,
                  count=1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def store_of(config: object, **kwargs: object) -> object:
    """The writable store a loaded ``Config`` names: PostgreSQL when it has a
    ``database.url``, else its SQLite file."""
    url = getattr(config, "db_url", None)
    if url:
        from mediamon.store.postgres.read import PostgresReader

        return PostgresReader(url, **kwargs)
    from mediamon.store.sqlite import Store

    return Store(config.db_path, **kwargs)
