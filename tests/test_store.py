"""Storage against a real SQLite file: schema, one transaction per feed, no duplicates."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mediamon.errors import StoreError
from mediamon.store import ScoredItem, Store, schema_version
from mediamon.types import FeedSource, FetchResult, Item, Match, TopicHit, Validators

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEED = "https://example.org/feed.xml"


def item(n: int, **changes: object) -> Item:
    base = Item(
        id=f"{n:016x}", feed_url=FEED, guid=f"https://example.org/{n}",
        url=f"https://example.org/{n}", canonical_url=f"https://example.org/{n}",
        title=f"Kabulov meets Taliban envoy {n}", summary="Moscow talks.", content="",
        summary_html="<p>Moscow talks.</p>", content_html="", authors=("Desk",),
        categories=("Politics",), published=NOW - timedelta(hours=n), updated=None,
        first_seen=NOW, language="en", content_hash=f"h{n}",
    )
    return replace(base, **changes)


def match(kept: bool = True) -> Match:
    hits = (TopicHit("russia", ("Kabulov",)), TopicHit("taliban", ("Taliban",))) if kept else ()
    return Match(kept=kept, score=0.8 if kept else 0.1, similarity=0.3, topics=hits,
                 rule_matched=kept, profile_terms=("kabulov",))


def ok(body: bytes = b"<rss/>", etag: str = '"v1"') -> FetchResult:
    return FetchResult(FEED, "ok", 200, FEED, body, (), Validators(etag, None))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "sub" / "m.db")
    s.sync_config_feeds([FeedSource(FEED, "Example")], now=NOW)
    yield s
    s.close()


def test_new_database_is_wal_versioned_and_has_fts(store: Store) -> None:
    """A new database is created with WAL, the current schema version and an FTS5 index."""
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    assert {"feeds", "items", "item_topics", "item_feeds", "fetch_log", "items_fts"} <= set(
        store.db.table_names())


def test_kept_items_are_stored_with_their_matches(store: Store) -> None:
    """Kept items are inserted with their topic rows; non-kept ones are only remembered."""
    out = store.save_feed_pass(FEED, ok(), [ScoredItem(item(1), match()),
                                            ScoredItem(item(2), match(False))],
                               now=NOW, next_fetch=NOW, entries=2)
    assert (out.new_items, out.kept_items) == (2, 1)
    assert [r["id"] for r in store.db.query("SELECT id FROM items")] == [item(1).id]
    topics = list(store.db.query("SELECT topic, terms FROM item_topics"))
    assert topics == [{"topic": "russia", "terms": '["Kabulov"]'},
                      {"topic": "taliban", "terms": '["Taliban"]'}]
    assert store.db.execute("SELECT count(*) FROM seen").fetchone()[0] == 2


def test_repeated_pass_adds_no_duplicates(store: Store) -> None:
    """The same items twice: nothing new the second time."""
    batch = [ScoredItem(item(1), match()), ScoredItem(item(2), match(False))]
    store.save_feed_pass(FEED, ok(), batch, now=NOW, next_fetch=NOW)
    again = store.save_feed_pass(FEED, ok(), batch, now=NOW, next_fetch=NOW)
    assert (again.new_items, again.kept_items, again.updated_items) == (0, 0, 0)
    assert store.db.execute("SELECT count(*) FROM items").fetchone()[0] == 1


def test_changed_item_is_updated_in_place_and_in_fts(store: Store) -> None:
    """A re-sent item with a new title replaces the stored one and the search index follows."""
    store.save_feed_pass(FEED, ok(), [ScoredItem(item(1), match())], now=NOW, next_fetch=NOW)
    changed = item(1, title="Kremlin hosts Islamic Emirate delegation", content_hash="h1b")
    out = store.save_feed_pass(FEED, ok(), [ScoredItem(changed, match())], now=NOW, next_fetch=NOW)
    assert out.updated_items == 1
    hits = list(store.db.query("SELECT rowid FROM items_fts WHERE items_fts MATCH 'kremlin'"))
    assert len(hits) == 1
    assert not list(store.db.query("SELECT rowid FROM items_fts WHERE items_fts MATCH 'envoy'"))


def test_feed_state_and_log_are_written_with_the_items(store: Store) -> None:
    """Validators, status and the fetch log move with the items; failures count up then reset."""
    store.save_feed_pass(FEED, ok(etag='"v2"'), [], now=NOW, next_fetch=NOW + timedelta(hours=1))
    feed = store.feeds()[0]
    assert feed.validators == Validators('"v2"', None)
    assert (feed.last_status, feed.failures) == ("ok", 0)
    assert feed.next_fetch == "2026-11-01T13:00:00+00:00"
    failed = FetchResult(FEED, "error", 500, error="HTTP 500 Internal Server Error")
    store.save_feed_failure(FEED, failed, now=NOW, next_fetch=NOW)
    store.save_feed_failure(FEED, failed, now=NOW, next_fetch=NOW)
    feed = store.feeds()[0]
    assert (feed.last_status, feed.failures, feed.last_error) == (
        "error", 2, "HTTP 500 Internal Server Error")
    assert feed.validators == Validators('"v2"', None)  # a failure keeps the validators
    log = [r["status"] for r in store.db.query("SELECT status FROM fetch_log ORDER BY id")]
    assert log == ["ok", "error", "error"]


def test_a_failing_write_rolls_back_the_whole_pass(store: Store) -> None:
    """If anything in a pass fails, neither its items nor the feed state are written."""
    good = ScoredItem(item(1), match())
    store.db.execute("CREATE TRIGGER boom BEFORE INSERT ON fetch_log BEGIN "
                     "SELECT RAISE(ABORT, 'disk trouble'); END")
    with pytest.raises(sqlite3.DatabaseError, match="disk trouble"):
        store.save_feed_pass(FEED, ok(etag='"v9"'), [good], now=NOW, next_fetch=NOW)
    assert store.db.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM seen").fetchone()[0] == 0
    assert store.feeds()[0].validators == Validators(None, None)


def test_config_sync_deactivates_removed_feeds(store: Store) -> None:
    """A feed dropped from the config stops being polled but keeps its row and items."""
    store.save_feed_pass(FEED, ok(), [ScoredItem(item(1), match())], now=NOW, next_fetch=NOW)
    store.sync_config_feeds([FeedSource("https://other.org/rss")], now=NOW)
    assert [f.url for f in store.feeds()] == ["https://other.org/rss"]
    assert len(store.feeds(active_only=False)) == 2
    assert store.db.execute("SELECT count(*) FROM items").fetchone()[0] == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer mediamon is refused with a clear message."""
    path = tmp_path / "future.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema_version() + 1}")
    with pytest.raises(StoreError, match="newer than this mediamon understands"):
        Store(path)


def test_not_a_database(tmp_path: Path) -> None:
    """A file that is not SQLite gives a StoreError naming it."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store(path)


def test_readonly_store_needs_an_existing_database(tmp_path: Path) -> None:
    """Query commands on a missing database say how to create it."""
    with pytest.raises(StoreError, match="no such database"):
        Store(tmp_path / "none.db", readonly=True)
