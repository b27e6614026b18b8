"""Search: odd and hostile queries, the filters, the fast ranked path, Atom output."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import feedparser
import pytest

import mediamon.store.query as query
from conftest import invoke_demo as invoke
from mediamon.store.query import Filters, search
from mediamon.store.sqlite import Store


@pytest.fixture
def db_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database that a test may change."""
    target = tmp_path / "copy.db"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


HOSTILE = [
    "al-Qaida", '"unbalanced', "taliban AND", "'; DROP TABLE items; --", "NEAR(", "*",
    "title:", ")", "a\x00b", "OR OR", "content:(", "😀", "ракета OR", "^", "-1", "NOT",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_odd_queries_give_one_line_errors_or_results(demo_db: Path, text: str) -> None:
    """Malformed or hostile search text exits 0 or with a one-line error, never a traceback."""
    result = invoke(demo_db, "search", "--", text)
    assert result.exit_code in (0, 1), result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                      SystemExit)
    if result.exit_code == 1:
        assert result.output.startswith("Error: ") and "Traceback" not in result.output
    with sqlite3.connect(demo_db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] > 0


def test_malformed_query_says_what_is_wrong(demo_db: Path) -> None:
    """A word with a hyphen is explained: not a column, quote it."""
    result = invoke(demo_db, "search", "al-Qaida")
    assert result.exit_code == 1
    assert "'Qaida' is not a column" in result.output and "double quotes" in result.output


def test_kept_unkept_and_all_partition_the_items(demo_db: Path) -> None:
    """--unkept lists only not-kept items, the default only kept ones, --all both."""
    store = Store(demo_db, readonly=True)
    kept = {r["id"] for r in query.items(store, Filters(limit=1000))}
    unkept = {r["id"] for r in query.items(store, Filters(limit=1000, only_unkept=True))}
    every = {r["id"] for r in query.items(store, Filters(limit=1000, include_unkept=True))}
    store.close()
    assert kept and unkept and not kept & unkept
    assert kept | unkept == every


def test_story_language_and_score_filters(demo_db: Path) -> None:
    """--story, --lang and --min-score keep only the matching items."""
    store = Store(demo_db, readonly=True)
    rows = query.items(store, Filters(limit=1000, include_unkept=True))
    story = next(r["story"] for r in rows if r["story"])
    same = query.items(store, Filters(limit=1000, include_unkept=True, story=story[:8]))
    assert same and all(r["story"] == story for r in same)
    ru = search(store, "россия OR росси*", Filters(language="ru", include_unkept=True))
    assert all(r["language"] == "ru" for r in ru)
    high = search(store, "taliban", Filters(min_score=0.9))
    assert high and all(r["score"] >= 0.9 for r in high)
    store.close()


@pytest.mark.parametrize("filters", [
    Filters(limit=3), Filters(limit=5, include_unkept=True), Filters(limit=2, language="en"),
    Filters(limit=50, only_unkept=True), Filters(limit=4, feed="Reuters"),
])
def test_fast_ranked_path_equals_the_full_query(demo_db: Path, filters: Filters,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranking the best candidates first gives the same page as ranking every match."""
    store = Store(demo_db, readonly=True)
    for text in ("taliban", "russia OR afghanistan", "recogni*"):
        monkeypatch.setattr(query, "CANDIDATES", 1)  # forces the fallback when filtered
        small = [(r["id"], r["snippet"]) for r in search(store, text, filters)]
        monkeypatch.setattr(query, "CANDIDATES", 10**6)
        large = [(r["id"], r["snippet"]) for r in search(store, text, filters)]
        assert small == large
    store.close()


def _reference(store: Store, text: str, filters: Filters) -> list[tuple[str, str]]:
    """The first page as the plain joined query gives it: every match filtered, then ranked."""
    where, params = filters.where()
    return [(r[0], r[1]) for r in store.db.execute(
        f"SELECT items.id, snippet(items_fts, -1, '[', ']', '…', 14), "
        f"bm25(items_fts, 5.0, 2.0, 1.0) AS rank FROM items_fts "
        f"JOIN items ON items.rowid = items_fts.rowid WHERE items_fts MATCH ? AND {where} "
        f"ORDER BY rank, items.id LIMIT ?", [text, *params, filters.limit])]


@pytest.mark.parametrize("candidates", [1, 1000])
def test_feed_story_and_prefix_searches_equal_the_joined_query(
        demo_db: Path, candidates: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feed and story filters (filtered first), prefixes (one snippet cursor) and the fallback
    give the page of the plain joined query."""
    monkeypatch.setattr(query, "CANDIDATES", candidates)
    store = Store(demo_db, readonly=True)
    story = next(r["story"] for r in query.items(store, Filters(limit=1000, include_unkept=True))
                 if r["story"])
    cases = [Filters(limit=4, feed="Reuters"), Filters(limit=50, feed="1"),
             Filters(limit=10, story=story[:8], include_unkept=True),
             Filters(limit=2, language="en"), Filters(limit=50, include_unkept=True)]
    compared = 0
    for filters in cases:
        for text in ("taliban", "russia OR afghanistan", "recogni*", "talib* OR russ*"):
            got = [(r["id"], r["snippet"]) for r in search(store, text, filters)]
            assert got == _reference(store, text, filters)
            compared += bool(got)
    store.close()
    assert compared >= 10


def test_feed_filter_has_an_index(tmp_path: Path) -> None:
    """Migration m007 indexes item_feeds by feed, and the --feed filter reads it."""
    store = Store(tmp_path / "new.db")
    where, params = Filters(feed="Reuters").where()
    plan = " ".join(str(row) for row in store.db.execute(
        f"EXPLAIN QUERY PLAN SELECT id FROM items WHERE {where}", params).fetchall())
    store.close()
    assert "item_feeds_feed" in plan


def test_rank_config_weights_titles(demo_db: Path) -> None:
    """The FTS5 rank is the weighted bm25 the search orders by (migration m005_desk)."""
    with sqlite3.connect(demo_db) as conn:
        config = dict(conn.execute("SELECT k, v FROM items_fts_config").fetchall())
    assert config["rank"] == "bm25(5.0, 2.0, 1.0)"


def test_atom_output_reads_back_with_the_same_items(demo_db: Path) -> None:
    """`search --format atom` is a feed feedparser reads with no bozo flag and the same items."""
    expected = invoke(demo_db, "search", "taliban OR russia", "--format", "jsonl")
    ids = [line.split('"id": "')[1].split('"')[0] for line in expected.output.splitlines()]
    result = invoke(demo_db, "search", "taliban OR russia", "--format", "atom")
    assert result.exit_code == 0
    feed = feedparser.parse(result.output.encode())
    assert feed.bozo == 0 and feed.version == "atom10"
    assert [e.id.rsplit(":", 1)[1] for e in feed.entries] == ids
    assert all(link.href.startswith("http") for e in feed.entries for link in e.get("links", []))


@pytest.mark.parametrize("listing", [("items", "--all"), ("stories",)])
def test_every_listing_has_atom(demo_db: Path, listing: tuple[str, ...]) -> None:
    """`items` and `stories` also render as valid Atom with one entry per row."""
    rows = invoke(demo_db, *listing, "--format", "jsonl").output.splitlines()
    feed = feedparser.parse(invoke(demo_db, *listing, "--format", "atom").output.encode())
    assert feed.bozo == 0 and len(feed.entries) == len(rows) > 0


def test_atom_sanitises_html_and_drops_unsafe_links(db_copy: Path) -> None:
    """Script, event handlers, javascript: links and XML-invalid characters never reach the feed."""
    with sqlite3.connect(db_copy) as conn:
        item_id = conn.execute("SELECT id FROM items WHERE kept = 1 LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE items SET url = 'javascript:alert(1)', title = 'Bad\x0btitle <b>', "
            "content_html = '<p onclick=\"x()\">ok</p><script>alert(1)</script>"
            "<a href=\"javascript:alert(2)\">j</a><a href=\"https://e.org/\">fine</a>' "
            "WHERE id = ?", [item_id])
    result = invoke(db_copy, "items", "--format", "atom")
    assert result.exit_code == 0
    feed = feedparser.parse(result.output.encode())
    assert feed.bozo == 0
    entry = next(e for e in feed.entries if e.id.endswith(item_id))
    assert not entry.get("links") and entry.title == "Badtitle <b>"
    html = entry.content[0].value
    assert "script" not in html and "onclick" not in html and "javascript" not in html
    assert 'href="https://e.org/"' in html
    assert "javascript" not in result.output


def test_empty_database_gives_an_empty_valid_feed(tmp_path: Path) -> None:
    """A search with no matches is still a valid Atom feed."""
    db = tmp_path / "empty.db"
    Store(db).close()
    feed = feedparser.parse(invoke(db, "search", "nothing", "--format", "atom").output.encode())
    assert feed.bozo == 0 and feed.entries == []


def test_filters_refuse_a_nul_whoever_builds_them() -> None:
    """query.Filters itself refuses a NUL (SQLite's LIKE would stop at it and match all)."""
    from mediamon.errors import QueryError
    from mediamon.store.query import Filters

    for name in ("topic", "feed", "language", "story"):
        with pytest.raises(QueryError, match="NUL"):
            Filters(**{name: "tass\x00"})
    assert Filters(feed="tass").feed == "tass"
