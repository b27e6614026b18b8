"""Storage against a real SQLite file: schema, one transaction per feed, no duplicates."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import sqlite_utils

from mediamon.errors import StoreError
from mediamon.store.sqlite import ScoredItem, Store, migrations, schema_version
from mediamon.types import FeedSource, FetchResult, Item, Match, TopicHit, Validators
from pg_fixtures import BACKENDS, open_store

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


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on each backend: the pass's rules are the same on both."""
    s = cast(Store, open_store(request, tmp_path / "sub" / "m.db"))
    s.sync_config_feeds([FeedSource(FEED, "Example")], now=NOW)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """SQLite alone: what its file, FTS5 index and triggers do."""
    s = Store(tmp_path / "sub" / "m.db")
    s.sync_config_feeds([FeedSource(FEED, "Example")], now=NOW)
    yield s
    s.close()


def test_new_database_is_wal_versioned_and_has_fts(sqlite_store: Store) -> None:
    """A new database is created with WAL, the current schema version and an FTS5 index."""
    store = sqlite_store
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


def test_changed_item_is_updated_in_place_and_in_fts(sqlite_store: Store) -> None:
    """A re-sent item with a new title replaces the stored one and the search index follows."""
    store = sqlite_store
    store.save_feed_pass(FEED, ok(), [ScoredItem(item(1), match())], now=NOW, next_fetch=NOW)
    changed = item(1, title="Kremlin hosts Islamic Emirate delegation", content_hash="h1b")
    out = store.save_feed_pass(FEED, ok(), [ScoredItem(changed, match())], now=NOW, next_fetch=NOW)
    assert out.updated_items == 1
    hits = list(store.db.query("SELECT rowid FROM items_fts WHERE items_fts MATCH 'kremlin'"))
    assert len(hits) == 1
    assert not list(store.db.query("SELECT rowid FROM items_fts WHERE items_fts MATCH 'envoy'"))


def test_a_partial_item_never_overwrites_or_creates_a_stored_one(store: Store) -> None:
    """A worker sends items it expects never to store without their text (partial). If
    another pass stored that item meanwhile, the partial copy links its feed but changes
    neither the stored item nor its hash, so the next full pass updates it properly."""
    store.sync_config_feeds([FeedSource(FEED, "Example"), FeedSource(FEED + "?b", "B")],
                            now=NOW)
    store.save_feed_pass(FEED, ok(), [ScoredItem(item(1), match())], now=NOW, next_fetch=NOW)
    edited = item(1, summary="", content="", summary_html="", content_hash="h1b")
    out = store.save_feed_pass(FEED + "?b", ok(), [
        ScoredItem(edited, match(False), partial=True),
        ScoredItem(item(2, summary="", content_hash="h2"), match(), partial=True),
    ], now=NOW, next_fetch=NOW)
    assert (out.kept_items, out.updated_items) == (0, 0)
    row = store.db.execute("SELECT summary, content_hash, kept FROM items").fetchall()
    assert row == [("Moscow talks.", "h1", 1)]  # item 2 was not inserted from a partial copy
    assert store.db.execute("SELECT count(*) FROM seen WHERE id = ?",  # nor marked as seen
                            [item(2).id]).fetchone()[0] == 0
    assert store.db.execute("SELECT content_hash FROM seen WHERE id = ?",
                            [item(1).id]).fetchone() == ("h1",)
    links = store.db.execute("SELECT count(*) FROM item_feeds WHERE item_id = ?",
                             [item(1).id]).fetchone()[0]
    assert links == 2
    full = store.save_feed_pass(FEED + "?b", ok(), [ScoredItem(item(1, content_hash="h1b"),
                                                               match())],
                                now=NOW, next_fetch=NOW)
    assert full.updated_items == 1


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


def test_a_failing_write_rolls_back_the_whole_pass(sqlite_store: Store) -> None:
    """If anything in a pass fails, neither its items nor the feed state are written."""
    store = sqlite_store
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
    with pytest.raises(StoreError, match=r"junk\.db"):
        Store(path)


def test_readonly_store_needs_an_existing_database(tmp_path: Path) -> None:
    """Query commands on a missing database say how to create it."""
    with pytest.raises(StoreError, match="no such database"):
        Store(tmp_path / "none.db", readonly=True)


# -- schema versions: an older database is backed up and migrated, a newer one refused --------

OLD_FEED = "https://old.example.org/rss"


def old_database(path: Path, version: int) -> list[tuple[str, str]]:
    """A database as a mediamon of schema ``version`` left it: its first ``version`` migrations
    applied, WAL, ``user_version`` set, and one feed with three kept items, their topics, feed
    links and seen rows, a fetch-log row and a label. Returns the items' (id, title)."""
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode = WAL")
    migrations.apply(db, stop_before=[m.name for m in migrations.pending(db)][version])
    db.execute(f"PRAGMA user_version = {version}")
    stamp = "2026-10-30T08:00:00+00:00"
    rows = []
    with db.conn:
        db.execute("INSERT INTO feeds (id, url, name, added, last_status, etag) "
                   "VALUES (1, ?, 'Old wire', ?, 'ok', '\"e1\"')", [OLD_FEED, stamp])
        for n in range(1, 4):
            i = item(n, feed_url=OLD_FEED, url=f"https://old.example.org/{n}",
                     canonical_url=f"https://old.example.org/{n}")
            db.execute(
                "INSERT INTO items (id, feed_id, guid, url, canonical_url, title, summary, content,"
                " summary_html, content_html, authors, categories, published,"
                " published_from_feed, first_seen, last_seen, language, content_hash, kept,"
                " score, similarity, topics, explanation)"
                " VALUES (?, 1, ?, ?, ?, ?, ?, '', ?, '', '[\"Desk\"]', '[]', ?, 1, ?, ?, 'en',"
                " ?, 1, 0.8, 0.3, '[\"russia\"]', '{}')",
                [i.id, i.guid, i.url, i.canonical_url, i.title, i.summary, i.summary_html,
                 i.published.isoformat(), stamp, stamp, i.content_hash])
            db.execute("INSERT INTO item_feeds VALUES (?, 1, ?)", [i.id, stamp])
            db.execute("INSERT INTO item_topics VALUES (?, 'russia', '[\"Kabulov\"]')", [i.id])
            db.execute("INSERT INTO seen (id, feed_id, content_hash, first_seen) "
                       "VALUES (?, 1, ?, ?)", [i.id, i.content_hash, stamp])
            rows.append((i.id, i.title))
        db.execute("INSERT INTO fetch_log (feed_id, started, elapsed, status, http_status, bytes,"
                   " entries, new_items, kept_items) VALUES (1, ?, 0.2, 'ok', 200, 900, 3, 3, 3)",
                   [stamp])
        db.execute("INSERT INTO labels VALUES (?, 'relevant', ?, 'Kabulov')", [rows[0][0], stamp])
    db.close()
    return rows


def dump(path: Path) -> tuple[int, list[str]]:
    """A database's user_version and every statement that rebuilds it."""
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0], list(conn.iterdump())


class _Records(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def store_log() -> Iterator[list[logging.LogRecord]]:
    """What ``mediamon.store.sqlite`` logs at INFO and above during the test (whatever another
    test's CLI run did to the ``mediamon`` logger's level and propagation)."""
    records: list[logging.LogRecord] = []
    handler = _Records(records)
    logger = logging.getLogger("mediamon.store.sqlite")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_older_database_is_backed_up_then_migrated_in_place(
        tmp_path: Path, store_log: list[logging.LogRecord]) -> None:
    """A schema-v2 database (before stories) is copied to ``<db>.schema-v2.bak``, one line
    names the copy, then it is migrated in place: every row kept, stories backfilled, the
    full-text index working; the copy is the old database, complete, in one file."""
    path = tmp_path / "m.db"
    old_rows = old_database(path, 2)
    before = dump(path)
    with Store(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema_version()
        assert migrations.pending(store.db) == []
        assert list(store.db.execute("SELECT id, title FROM items ORDER BY id")) == old_rows
        counts = {t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
            "item_topics", "item_feeds", "seen", "fetch_log", "labels", "story_items")}
        assert counts == {"item_topics": 3, "item_feeds": 3, "seen": 3, "fetch_log": 1,
                          "labels": 1, "story_items": 3}  # m003 gave the old items stories
        assert store.feeds()[0].validators == Validators('"e1"', None)
        # The migrated database takes new passes, and its search index follows.
        store.save_feed_pass(OLD_FEED, ok(), [ScoredItem(item(4, feed_url=OLD_FEED), match())],
                             now=NOW, next_fetch=NOW)
        assert store.db.execute(
            "SELECT count(*) FROM items_fts WHERE items_fts MATCH 'kabulov'").fetchone()[0] == 4
    backup = tmp_path / "m.db.schema-v2.bak"
    lines = [r for r in store_log if "backed up" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert lines[0].fields == {"db": str(path), "from": 2, "to": schema_version(),
                               "backup": str(backup)}
    assert dump(backup) == before
    assert sorted(p.name for p in tmp_path.iterdir() if "schema" in p.name) == [backup.name]
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    Store(path).close()  # up to date: no second copy, nothing logged
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".bak"]) == 1
    assert len(store_log) == 1


def test_new_database_needs_no_backup(tmp_path: Path, store_log: list[logging.LogRecord]) -> None:
    """Creating a database (an empty file too) migrates from nothing and copies nothing."""
    (tmp_path / "empty.db").touch()
    for name in ("new.db", "empty.db"):
        with Store(tmp_path / name) as store:
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".bak"]
    assert store_log == []


def test_an_earlier_backup_is_never_overwritten(tmp_path: Path) -> None:
    """If ``<db>.schema-v2.bak`` exists, the new copy gets another name and the old stays."""
    path = tmp_path / "m.db"
    old_database(path, 2)
    taken = tmp_path / "m.db.schema-v2.bak"
    taken.write_bytes(b"an analyst's own copy")
    Store(path).close()
    assert taken.read_bytes() == b"an analyst's own copy"
    assert dump(tmp_path / "m.db.schema-v2-2.bak")[0] == 2


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """All pending migrations run in one transaction: when m004 fails (someone added its
    column by hand), m003 is undone too, the file is exactly as before, and the error names
    the database, the migration and the backup copy."""
    path = tmp_path / "m.db"
    old_database(path, 2)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE feeds ADD COLUMN fetch_url TEXT")
    before = dump(path)
    with pytest.raises(StoreError) as failed:
        Store(path)
    backup = tmp_path / "m.db.schema-v2.bak"
    message = str(failed.value)
    assert str(path) in message and "m004_fetch_state" in message and str(backup) in message
    assert "duplicate column name: fetch_url" in message and "left as it was" in message
    assert dump(path) == before == dump(backup)


def test_cli_migrates_an_older_database_on_start(tmp_path: Path, feed_server) -> None:
    """`mediamon run --once` on a schema-v2 database: one log line names the copy, then the
    pass is stored next to the old items."""
    from feedserver import config_text, rss

    path = tmp_path / "m.db"
    old_rows = old_database(path, 2)
    feed_server.add("/new.xml", rss("New", [("n1", ""), ("n2", "")]))
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(path), [feed_server.url("/new.xml")]), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mediamon", "--config", str(config), "run",
                           "--once"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    backup = tmp_path / "m.db.schema-v2.bak"
    lines = [line for line in done.stderr.splitlines() if "backed up" in line]
    assert len(lines) == 1
    assert lines[0].endswith(
        " warning database schema is older than this mediamon: backed up, now migrating "
        f"db={path} from=2 to={schema_version()} backup={backup}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == len(old_rows) + 2
    assert dump(backup)[0] == 2


@pytest.mark.parametrize("command", [["run", "--once"], ["items"]])
def test_cli_refuses_a_newer_database_in_one_line(tmp_path: Path, command: list[str]) -> None:
    """Writing or reading, a database from a newer mediamon stops the CLI with exit 1 and
    one line naming the file and both versions; the file is not touched."""
    from feedserver import config_text

    path = tmp_path / "future.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema_version() + 1}")
    before = dump(path)
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(path), ["http://127.0.0.1:9/feed.xml"]), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mediamon", "--config", str(config), *command],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: {path}: database schema version {schema_version() + 1} is newer than this "
        f"mediamon understands ({schema_version()}); upgrade mediamon"]
    assert dump(path) == before
