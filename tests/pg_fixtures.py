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
