"""The read side on PostgreSQL (``store.postgres.query``) gives SQLite's rows: the same
listings with the same filters and order, the same item, and searches that find at least
what SQLite's full-text index finds, best first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")

from click.testing import CliRunner  # noqa: E402

from feedserver import FeedServer  # noqa: E402
from mediamon.cli import cli  # noqa: E402
from mediamon.errors import QueryError  # noqa: E402
from mediamon.store import query as lite_query  # noqa: E402
from mediamon.store.postgres import query as pg_query  # noqa: E402
from mediamon.store.postgres.query import ts_query  # noqa: E402
from mediamon.store.postgres.store import PostgresStore  # noqa: E402
from mediamon.store.query import Filters  # noqa: E402
from mediamon.store.sqlite import Store  # noqa: E402
from test_postgres import served_config  # noqa: E402


@pytest.fixture
def both(served_feeds: FeedServer, pg_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The loopback feeds polled once into SQLite, and that database moved into
    PostgreSQL (`migrate`): the same rows on both."""
    config = served_config(served_feeds, tmp_path)
    lite = tmp_path / "lite.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(lite),
                                      "--log-level", "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["migrate", str(lite), pg_url])
    assert result.exit_code == 0, result.output
    with Store(lite, readonly=True) as sqlite, PostgresStore(pg_url, readonly=True) as pg:
        yield sqlite, pg


FILTERS = [
    Filters(),
    Filters(include_unkept=True, limit=5, offset=3),
    Filters(only_unkept=True),
    Filters(topic="taliban", include_unkept=True),
    Filters(language="ru", include_unkept=True),
    Filters(feed="rss20", include_unkept=True),
    Filters(min_score=0.5),
    Filters(since=datetime(2025, 7, 3, tzinfo=UTC), until=datetime(2025, 7, 5, tzinfo=UTC),
            include_unkept=True),
]


def test_listings_are_sqlites(both) -> None:  # type: ignore[no-untyped-def]
    """Every filter lists the same rows in the same order on both backends."""
    sqlite, pg = both
    for filters in FILTERS:
        expected = lite_query.items(sqlite, filters)
        got = pg_query.items(pg, filters)
        assert got == expected, filters
    assert lite_query.items(sqlite, Filters(include_unkept=True))  # not all empty


def test_an_item_is_sqlites(both) -> None:  # type: ignore[no-untyped-def]
    """`show`'s item (by a prefix of its id) has the same fields, matches and feeds."""
    sqlite, pg = both
    for row in lite_query.items(sqlite, Filters(include_unkept=True)):
        expected = lite_query.get_item(sqlite, row["id"][:6])
        assert pg_query.get_item(pg, row["id"][:6]) == expected
    assert pg_query.get_item(pg, "zzzz") is None


@pytest.mark.parametrize("query", ["taliban", "kazan", '"islamic emirate"', "recogn*",
                                   "taliban NOT kazan", "russia OR afghanistan",
                                   "(moscow OR kabul) AND taliban"])
def test_search_finds_what_sqlite_finds(both, query: str) -> None:  # type: ignore[no-untyped-def]
    """Each search finds on PostgreSQL every item SQLite's FTS5 finds (stemming may add
    more), with a snippet, best first."""
    sqlite, pg = both
    filters = Filters(include_unkept=True, limit=1000)
    expected = {r["id"] for r in lite_query.search(sqlite, query, filters)}
    got = pg_query.search(pg, query, filters)
    assert expected, query
    assert expected <= {r["id"] for r in got}, query
    assert all(r["snippet"] for r in got)
    assert [r["rank"] for r in got] == sorted(r["rank"] for r in got)


def test_the_query_language_translates() -> None:
    """FTS5's words, phrases, prefixes and operators become to_tsquery's; nonsense is a
    one-line QueryError."""
    assert ts_query("kabul taliban") == "'kabul' & 'taliban'"
    assert ts_query('"islamic emirate" recogni*') == "('islamic' <-> 'emirate') & 'recogni':*"
    assert ts_query("a OR b NOT c") == "'a' | 'b' & ! 'c'"
    assert ts_query("(a OR b) AND c") == "( 'a' | 'b' ) & 'c'"
    for bad in ("", "   ", "(a", "a)"):
        with pytest.raises(QueryError):
            ts_query(bad)


def test_feed_health_is_sqlites(both) -> None:  # type: ignore[no-untyped-def]
    """`status`'s rows (state, counts, health, order) are the same on both backends, a
    failing feed first."""
    sqlite, pg = both
    now = datetime.now(UTC)
    expected = lite_query.feed_health(sqlite, now=now)
    got = pg_query.feed_health(pg, now=now)
    assert got == expected
    assert got[0]["health"] == "failing"  # the HTML page, first
