"""Feed editing (`feeds add`, `edit`, `remove`, `import`) and `mediamon import` on both
backends: the same commands print the same and store the same on PostgreSQL as on SQLite.

Each test runs on the ``backend`` fixture (``sqlite``, ``postgres``: skipped with the reason
when no PostgreSQL server can be had) and compares with the same commands on a SQLite file
made in the same test. On PostgreSQL, several daemons and imports share the database: an
edit reaches every daemon's next claim without breaking a claim in progress, and two imports
of one file at once, or an import while a daemon stores the same items, store each item once.
Feed ids are left out of comparisons: a PostgreSQL identity may skip numbers (an ``INSERT ...
ON CONFLICT`` that finds the feed there still takes one).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import DEMO_CONFIG, invoke_demo
from feedserver import FeedServer
from mediamon.cli import cli
from mediamon.config import load_config

COPY_FEED = "https://copy.example/feed.xml"
STORIES = load_config(DEMO_CONFIG).stories  # the [stories] the commands use (outlet aliases)


def invoke(config: Path, db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--db", db, "--log-level",
                                    "error", *args])


def is_pg(db: str) -> bool:
    return db.startswith("postgresql://")


def query(db: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on either backend (``?`` placeholders on SQLite, ``%s`` on
    PostgreSQL: tests here pass none or write both)."""
    if is_pg(db):
        import psycopg

        with psycopg.connect(db) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database on each backend: a SQLite file, or a fresh PostgreSQL database (the
    test skips, saying why, when no server can be had)."""
    if request.param == "sqlite":
        return str(tmp_path / "backend.db")
    pytest.importorskip("psycopg", reason="psycopg is not installed: "
                                          "pip install -e '.[postgres]'")
    return str(request.getfixturevalue("pg_url"))


# -- feeds add, edit, remove, import ----------------------------------------------------------


def feed_rows(db: str) -> list[tuple[Any, ...]]:
    """The feeds as the commands left them, without ids."""
    return query(db, "SELECT url, name, tags, origin, active, interval, paused, "
                     "next_fetch IS NULL FROM feeds ORDER BY url")


def feed_id(db: str, url: str) -> str:
    mark = "%s" if is_pg(db) else "?"
    return str(query(db, f"SELECT id FROM feeds WHERE url = {mark}", (url,))[0][0])


def edit_feeds(config: Path, db: str, urls: dict[str, str],
               opml: Path) -> list[tuple[int, str]]:
    """Every feed command, in one order, on ``db``: (exit code, output) of each."""
    steps: list[Callable[[], list[str]]] = [
        lambda: ["feeds", "add", urls["one"], "--name", "Reuters", "--tag", "wire"],
        lambda: ["feeds", "add", urls["one"]],
        lambda: ["feeds", "import", str(opml)],
        lambda: ["feeds", "edit", urls["one"], "--name", "TASS", "--interval", "15m",
                 "--tag", "a", "--tag", "b"],
        lambda: ["feeds", "edit", feed_id(db, urls["two"]), "--paused"],
        lambda: ["feeds", "edit", urls["two"], "--active", "--no-tags", "--interval",
                 "adaptive", "--name", ""],
        lambda: ["feeds", "edit", urls["config"], "--name", "Mine"],
        lambda: ["feeds", "edit", urls["config"], "--paused"],
        lambda: ["feeds", "remove", urls["config"]],
        lambda: ["feeds", "remove", urls["one"]],
        lambda: ["feeds", "remove", "https://nowhere.example/rss"],
        lambda: ["feeds", "edit", "https://nowhere.example/rss", "--paused"],
        lambda: ["feeds", "add", urls["one"]],  # a removed feed comes back
    ]
    done = []
    for step in steps:
        result = invoke(config, db, *step())
        done.append((result.exit_code, result.output.replace(str(config), "CONFIG")))
    return done


def test_feed_commands_do_the_same_on_both(backend: str, served_feeds: FeedServer,
                                           make_config: Callable[..., Path],
                                           tmp_path: Path) -> None:
    """`feeds add` (with discovery over loopback), `feeds import`, `feeds edit` (name,
    interval, tags, pause and resume) and `feeds remove` print the same, refuse the same
    (a config feed's name; an unknown feed) and leave the same feeds on both backends."""
    urls = {"one": served_feeds.url("/rss10.rdf"), "two": served_feeds.url("/rss20.xml"),
            "config": served_feeds.url("/atom10.xml")}
    config = make_config([urls["config"]])
    opml = tmp_path / "subs.opml"
    opml.write_text(f"""<?xml version="1.0"?><opml version="2.0"><head/><body>
      <outline text="Afghan">
        <outline text="TASS" xmlUrl="{urls['two']}"/>
        <outline text="Reuters" xmlUrl="{urls['one']}"/>
      </outline></body></opml>""", encoding="utf-8")
    lite = str(tmp_path / "lite.db")
    expected = edit_feeds(config, lite, urls, opml)
    got = edit_feeds(config, backend, urls, opml)
    assert got == expected
    assert [code for code, _ in got] == [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0]
    assert got[0][1] == f"added {urls['one']}\n"
    assert got[2][1] == "1 feeds added, 1 already there\n"
    assert got[3][1] == f"{urls['one']}: name TASS; interval 15m; tags a, b\n"
    assert "is listed in CONFIG: edit its name" in got[6][1]
    assert "no feed 'https://nowhere.example/rss'" in got[10][1]
    assert feed_rows(backend) == feed_rows(lite)
    assert feed_rows(backend) == [
        (urls["config"], None, "[]", "config", 1, None, 1, True),
        (urls["one"], "TASS", '["a", "b"]', "db", 1, 900.0, 0, True),
        (urls["two"], None, "[]", "db", 1, None, 0, True),
    ]

    def listing(db: str) -> list[dict[str, Any]]:
        rows = json.loads(invoke(config, db, "feeds", "list", "--json").output)
        return [{k: v for k, v in row.items() if k != "id"} for row in rows]

    assert listing(backend) == listing(lite)


def test_an_edit_reaches_the_next_claim_and_spares_one_in_progress(
        backend: str, make_config: Callable[..., Path]) -> None:
    """What the daemon's tick asks (``due_feeds``) sees an edit at once: a paused or
    removed feed is not due, a new interval makes it due now with that interval, a resumed
    one is due again. On PostgreSQL a feed claimed by one daemon keeps its claim through
    the edit (no other daemon takes it meanwhile), and the pass that ends it does not undo
    the pause."""
    from mediamon.clock import utcnow
    from mediamon.store.postgres.open import open_store
    from mediamon.types import FetchResult, Validators

    config = make_config([])
    urls = [f"http://127.0.0.1:9/feed{n}.xml" for n in range(3)]
    for url in urls:
        assert invoke(config, backend, "feeds", "add", "--no-discover", url).exit_code == 0
    a, b = open_store(backend), open_store(backend)
    if is_pg(backend):
        a.owner, b.owner = "daemon-a", "daemon-b"  # type: ignore[union-attr]
    try:
        now = utcnow()
        held = a.due_feeds(now)
        assert [f.url for f in held] == urls
        claims = "SELECT url, claimed_by, claimed_until FROM feeds ORDER BY url"
        before = query(backend, claims) if is_pg(backend) else None
        assert invoke(config, backend, "feeds", "edit", urls[0], "--interval", "15m",
                      "--name", "Pinned").exit_code == 0
        assert invoke(config, backend, "feeds", "edit", urls[1], "--paused").exit_code == 0
        assert invoke(config, backend, "feeds", "remove", urls[2]).exit_code == 0
        if is_pg(backend):
            assert query(backend, claims) == before  # every claim as it was
            assert [r[1] for r in query(backend, claims)] == ["daemon-a"] * 3
            assert b.due_feeds(now) == []  # ... so no other daemon takes them
            for feed in held:  # daemon a's passes end (the hosts are down)
                a.save_feed_failure(feed.url, FetchResult(url=feed.url, status="error",
                                                          validators=Validators(None, None)),
                                    now=now, next_fetch=now, error="refused")
            assert query(backend, "SELECT count(*) FROM feeds WHERE claimed_by IS NOT "
                                  "NULL") == [(0,)]
        due = b.due_feeds(now)
        assert [(f.url, f.name, f.interval) for f in due] == [(urls[0], "Pinned", 900.0)]
        assert query(backend, "SELECT paused, active FROM feeds ORDER BY url") == \
            [(0, 1), (1, 1), (0, 0)]
        assert invoke(config, backend, "feeds", "edit", urls[1], "--active").exit_code == 0
        assert [f.url for f in b.due_feeds(now, exclude=[due[0].id])] == [urls[1]]
    finally:
        a.close()
        b.close()


@pytest.mark.slow
def test_two_running_daemons_follow_each_edit_and_poll_a_feed_once(
        feed_server: FeedServer, pg_url: str, tmp_path: Path) -> None:
    """Two `mediamon run` daemons on one PostgreSQL database: a feed added with `feeds add`
    is polled by one of them, once (counted at the loopback server); a new interval makes
    it polled again at once; paused or removed, a new interval does not; resumed, it is
    polled again. Both daemons then stop cleanly."""
    from conftest import FEEDS, wait_for
    from test_postgres_daemons import start, stop_all, write_config

    feed_server.add("/new.xml", (FEEDS / "rss20.xml").read_bytes(),
                    content_type="application/rss+xml")
    url = feed_server.url("/new.xml")
    config = write_config(tmp_path, [])
    logs = [tmp_path / f"daemon{n}.log" for n in range(2)]
    procs = [start(config, pg_url, log) for log in logs]

    def polls() -> int:
        return len(feed_server.seen("/new.xml"))

    def edit(*args: str) -> None:
        result = invoke(config, pg_url, "feeds", *args)
        assert result.exit_code == 0, result.output

    try:
        edit("add", "--no-discover", url)
        assert wait_for(lambda: polls() == 1, timeout=30), "the new feed was not polled"
        wait_for(lambda: False, timeout=2.5)  # more than two ticks of each daemon
        assert polls() == 1
        edit("edit", url, "--interval", "15m")
        assert wait_for(lambda: polls() == 2), "a new interval did not make it due"
        edit("edit", url, "--paused")
        edit("edit", url, "--interval", "20m")
        wait_for(lambda: False, timeout=2.5)
        assert polls() == 2  # paused: not polled, whatever its interval
        edit("edit", url, "--active")
        assert wait_for(lambda: polls() == 3), "resumed, it was not polled"
        edit("remove", url)
        edit("edit", url, "--interval", "30m")
        wait_for(lambda: False, timeout=2.5)
        assert polls() == 3  # removed: not polled
    finally:
        codes = stop_all(procs)
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    assert query(pg_url, "SELECT count(*) FROM feeds WHERE claimed_by IS NOT NULL") == [(0,)]


def test_feed_commands_on_postgresql_no_longer_refuse(pg_url: str,
                                                      make_config: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    """None of the feed commands nor `import` says it needs SQLite any more."""
    config = make_config([])
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    for args in (["feeds", "add", "--no-discover", "http://127.0.0.1:9/x.xml"],
                 ["feeds", "edit", "http://127.0.0.1:9/x.xml", "--paused"],
                 ["feeds", "remove", "http://127.0.0.1:9/x.xml"],
                 ["import", str(path)]):
        result = invoke(config, pg_url, *args)
        assert result.exit_code == 0, (args, result.output)
        assert "needs a SQLite database" not in result.output


# -- import -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A SQLite database whose stories have several members, and its export: the demo
    feeds polled with --keep-all, plus a copy of twelve of their items carried by another
    outlet half an hour later (so twelve stories have two outlets)."""
    directory = tmp_path_factory.mktemp("pgfeeds")
    demo = directory / "demo.db"
    assert invoke_demo(demo, "run", "--once", "--keep-all").exit_code == 0
    first = directory / "demo.jsonl"
    assert invoke_demo(demo, "export", "-o", str(first)).exit_code == 0
    records = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    copies = []
    for n, record in enumerate(records[:12]):
        copy = dict(record, id=record["id"][:-4] + "c0py", dedup_key=None,
                    url=f"https://copy.example/news/{n}", feed_url=COPY_FEED,
                    feeds=[{"url": COPY_FEED, "name": "Copy Desk",
                            "first_seen": record["first_seen"]}])
        copy["canonical_url"] = copy["url"]
        copy["published"] = (datetime.fromisoformat(record["published"])
                             + timedelta(minutes=30)).isoformat()
        copies.append(copy)
    merged = directory / "merged.jsonl"
    merged.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sorted(
        records + copies, key=lambda r: (r["published"], r["id"]))), encoding="utf-8")
    db = directory / "source.db"
    assert invoke_demo(db, "import", str(merged)).exit_code == 0
    export = directory / "source.jsonl"
    assert invoke_demo(db, "export", "-o", str(export)).exit_code == 0
    assert query(str(db), "SELECT count(*) FROM stories WHERE items > 1") == [(12,)]
    yield db, export


def state(db: str) -> dict[str, list[tuple[Any, ...]]]:
    """What an import stores, without ids that depend on insertion order."""
    columns = ("id, guid, url, canonical_url, title, summary, content, summary_html, "
               "content_html, authors, categories, published, published_from_feed, updated, "
               "first_seen, last_seen, language, language_declared, content_hash, kept, "
               "score, similarity, topics, explanation, dedup_key")
    return {
        "items": sorted(query(db, f"SELECT {columns} FROM items")),
        "item_feeds": sorted(query(db, "SELECT x.item_id, f.url, x.first_seen FROM "
                                       "item_feeds x JOIN feeds f ON f.id = x.feed_id")),
        "item_topics": sorted(query(db, "SELECT item_id, topic, terms FROM item_topics")),
        "seen": sorted(query(db, "SELECT s.id, f.url, s.content_hash, s.first_seen FROM "
                                 "seen s JOIN feeds f ON f.id = s.feed_id")),
        "feeds": sorted(query(db, "SELECT url, name, origin, active FROM feeds")),
        "memberships": sorted(query(db, "SELECT item_id, story_id, outlet, via FROM "
                                        "story_items")),
        "stories": sorted(query(db, "SELECT id, items, reach, first_item_id, first_outlet, "
                                    "first_published, last_published, title FROM stories")),
    }


def with_articles(export: Path, target: Path) -> Path:
    """``export`` with an article page on three of its items (as `export` writes one), each
    with a word found nowhere else."""
    from mediamon.store.articles import ARTICLE_COLUMNS

    lines = export.read_text(encoding="utf-8").splitlines()
    for n in (2, 9, 30):
        record = json.loads(lines[n])
        values = {"url": record["url"], "status": "ok", "reason": None,
                  "text": f"The full article, with the word zyxtarbaz{n} in it.",
                  "title": record["title"], "author": None, "published": None,
                  "language": "en", "canonical_url": record["url"],
                  "final_url": record["url"], "http_status": 200, "matched_on": None,
                  "fetched_at": "2025-07-05T00:00:00+00:00"}
        record["article"] = {column: values[column] for column in ARTICLE_COLUMNS}
        lines[n] = json.dumps(record, ensure_ascii=False)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def test_import_stores_and_prints_the_same_on_both(backend: str, source: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    """`import` of an export prints the same and stores the same items, feeds, topics, seen
    rows, stories and article pages on both backends (an article's words are searched);
    a second import adds nothing; exporting again gives the file back, line for line."""
    export = with_articles(source[1], tmp_path / "articles.jsonl")
    lite = str(tmp_path / "lite.db")
    expected = [invoke_demo(Path(lite), "import", str(export)).output for _ in range(2)]
    got = [invoke(DEMO_CONFIG, backend, "import", str(export)) for _ in range(2)]
    assert [r.exit_code for r in got] == [0, 0]
    assert [r.output for r in got] == expected
    assert expected == ["36 item(s) imported, 0 already here, 8 feed(s) added (inactive)\n",
                        "0 item(s) imported, 36 already here, 0 feed(s) added (inactive)\n"]
    assert state(backend) == state(lite)
    articles = "SELECT item_id, url, status, text, fetched_at FROM articles ORDER BY 1"
    assert len(query(backend, articles)) == 3
    assert query(backend, articles) == query(lite, articles)
    assert len(search_hits(backend, "zyxtarbaz9")) == 1
    assert search_hits(backend, "zyxtarbaz9") == search_hits(lite, "zyxtarbaz9")
    again = tmp_path / "again.jsonl"
    assert invoke(DEMO_CONFIG, backend, "export", "-o", str(again)).exit_code == 0
    assert again.read_text(encoding="utf-8") == export.read_text(encoding="utf-8")


def search_hits(db: str, text: str) -> set[str]:
    result = invoke(DEMO_CONFIG, db, "search", text, "--all", "--json", "--limit", "1000")
    assert result.exit_code == 0, result.output
    return {row["id"] for row in json.loads(result.output)}


def test_sqlite_export_import_into_postgresql_keeps_counts_hits_and_stories(
        source: tuple[Path, Path], pg_url: str) -> None:
    """SQLite -> export -> import into PostgreSQL keeps what `mediamon migrate` checks:
    the same number of rows in each table an import writes, the same search hits, and the
    same story memberships (twelve stories of two outlets among them), reach and counts."""
    db, export = source
    lite = str(db)
    assert invoke(DEMO_CONFIG, pg_url, "import", str(export)).exit_code == 0
    for table in ("items", "item_feeds", "item_topics", "seen", "story_items", "stories",
                  "story_bands"):
        count = f"SELECT count(*) FROM {table}"
        assert query(pg_url, count) == query(lite, count), table
    members = "SELECT item_id, story_id FROM story_items ORDER BY 1"
    assert query(pg_url, members) == query(lite, members)
    stories = "SELECT id, items, reach, first_item_id FROM stories ORDER BY 1"
    assert query(pg_url, stories) == query(lite, stories)
    assert query(pg_url, "SELECT count(*) FROM stories WHERE reach > 1") == [(12,)]
    for text in ("taliban", "russia", "kabul OR moscow", "recogn*", '"islamic emirate"'):
        hits = search_hits(pg_url, text)
        assert hits and hits == search_hits(lite, text), text


def test_a_refused_line_is_named_and_nothing_is_stored(backend: str, source: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    """A line the database refuses (no title) fails the import in one line naming the
    item (exit 1), and nothing of the file is stored, on both backends."""
    _, export = source
    lines = export.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[20])
    bad["title"] = None
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*lines[:20], json.dumps(bad), *lines[21:]]) + "\n",
                    encoding="utf-8")
    result = invoke(DEMO_CONFIG, backend, "import", str(path))
    assert result.exit_code == 1, result.output
    assert f"Error: item {bad['id']}: " in result.output
    assert "null" in result.output.lower() and "title" in result.output
    assert len(result.output.strip().splitlines()) == 1
    for table in ("items", "item_topics", "seen", "story_items", "stories", "feeds"):
        assert query(backend, f"SELECT count(*) FROM {table}") == [(0,)], table


def _wait_for_lock_waiter(url: str, timeout: float = 20.0) -> bool:
    """Whether some session of the database waits for a lock (within ``timeout``)."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND wait_event_type = 'Lock'").fetchone()
            if row and row[0]:
                return True
            time.sleep(0.05)
    return False


def test_two_imports_of_one_file_at_once_store_each_item_once(
        source: tuple[Path, Path], pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Import B reads which items are stored while import A has written the same items but
    not committed them; B's insert then waits for A, and finds them there: every item,
    feed link, topic, seen row and story membership is stored once, B counts the items as
    already here, and the database equals a single import's."""
    from mediamon.clock import utcnow
    from mediamon.desk import export as desk_export
    from mediamon.desk.export import import_records, read_export
    from mediamon.store.postgres.read import PostgresReader

    _, path = source
    records = list(read_export(path.read_text(encoding="utf-8").splitlines(),
                               name=str(path)))
    monkeypatch.setattr(desk_export, "IMPORT_BATCH", 18)  # two batches of the 36
    a_wrote, results = threading.Event(), {}
    errors: list[BaseException] = []

    def a_records() -> Iterator[dict[str, Any]]:
        for n, record in enumerate(records):
            if n == 18:  # the first batch is written, not committed
                a_wrote.set()
                assert _wait_for_lock_waiter(pg_url), "import B never waited for A"
            yield record

    def b_records() -> Iterator[dict[str, Any]]:
        assert a_wrote.wait(20)
        yield from records

    def run(name: str, feed: Callable[[], Iterator[dict[str, Any]]]) -> None:
        try:
            with PostgresReader(pg_url, stories=STORIES) as store:
                results[name] = import_records(store, feed(), now=utcnow())
        except BaseException as exc:  # reported below, with the other's result
            errors.append(exc)

    threads = [threading.Thread(target=run, args=("a", a_records)),
               threading.Thread(target=run, args=("b", b_records))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert results["a"] == {"imported": 36, "skipped": 0, "feeds_added": 8}
    assert results["b"] == {"imported": 0, "skipped": 36, "feeds_added": 0}
    single = str(path.parent / "single.db")
    assert invoke_demo(Path(single), "import", str(path)).exit_code == 0
    assert state(pg_url) == state(single)


@pytest.mark.slow
def test_an_import_while_a_daemon_stores_the_same_items_duplicates_nothing(
        served_feeds: FeedServer, make_config: Callable[..., Path], pg_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mediamon run --once` on PostgreSQL while an import of the same feeds' items (from a
    SQLite database that polled them) has written them and not committed: the pass, which
    found none of them stored, waits at its first insert, then finds the import's item
    there. Each item is stored once, with one story."""
    import subprocess
    import sys

    from mediamon.clock import utcnow
    from mediamon.desk import export as desk_export
    from mediamon.desk.export import import_records, read_export
    from mediamon.store.postgres.read import PostgresReader

    feeds = [served_feeds.url(f"/{name}") for name in ("rss20.xml", "atom10.xml",
                                                       "jsonfeed11.json")]
    config = make_config(feeds)
    lite = str(tmp_path / "lite.db")
    assert invoke(config, lite, "run", "--once", "--keep-all").exit_code == 0
    path = tmp_path / "items.jsonl"
    assert invoke(config, lite, "export", "-o", str(path)).exit_code == 0
    records = list(read_export(path.read_text(encoding="utf-8").splitlines(),
                               name=str(path)))
    monkeypatch.setattr(desk_export, "IMPORT_BATCH", len(records))  # written at the last
    # The config's feeds in the database first: the import adds none, so the pass's
    # first wait is for an item.
    assert invoke(config, pg_url, "feeds", "edit", feeds[0], "--active").exit_code == 0
    daemon: dict[str, Any] = {}

    def polled() -> Iterator[dict[str, Any]]:
        yield from records  # one batch, written once the last record is read
        daemon["process"] = subprocess.Popen(
            [sys.executable, "-m", "mediamon", "--config", str(config), "--db", pg_url,
             "--log-level", "error", "run", "--once", "--keep-all"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    with PostgresReader(pg_url, stories=load_config(config).stories) as store:
        stats = import_records(store, _then_wait(polled(), pg_url), now=utcnow())
    out, _ = daemon["process"].communicate(timeout=120)
    assert daemon["process"].returncode == 0, out
    assert stats == {"imported": len(records), "skipped": 0, "feeds_added": 0}
    assert len(records) >= 10
    count = "SELECT count(*), count(DISTINCT id) FROM items"
    assert query(pg_url, count) == [(len(records), len(records))]
    assert query(pg_url, "SELECT count(*) FROM story_items") == [(len(records),)]
    assert query(pg_url, "SELECT sum(items) FROM stories") == [(len(records),)]
    assert sorted(query(pg_url, "SELECT url, origin, active FROM feeds")) == \
        sorted((url, "config", 1) for url in feeds)
    assert state(pg_url)["items"] == state(lite)["items"]


def _then_wait(records: Iterator[dict[str, Any]], url: str) -> Iterator[dict[str, Any]]:
    """``records``, then (before the import commits) a wait until another session waits
    for one of the import's locks."""
    yield from records
    assert _wait_for_lock_waiter(url, timeout=60), "the daemon never waited for the import"


def test_an_import_while_a_daemons_pass_holds_the_same_items_duplicates_nothing(
        pg_url: str, tmp_path: Path) -> None:
    """A daemon's pass has stored a feed's items and not committed; an import of the same
    items (exported from a SQLite database that stored that pass) read none of them as
    stored, so its insert waits for the pass, then leaves the pass's items as they are:
    the import counts them as already here, and each item has one row, one story and one
    seen row."""
    from mediamon.clock import utcnow
    from mediamon.desk.export import import_records, read_export
    from mediamon.store.postgres.read import PostgresReader
    from mediamon.store.postgres.store import PostgresStore
    from mediamon.store.sqlite import Store
    from mediamon.types import FeedSource
    from test_postgres import FEEDS, fetched, scored_items

    body, url, now = (FEEDS / "rss20.xml").read_bytes(), "http://a/feed", utcnow()
    lite = tmp_path / "lite.db"
    with Store(lite, stories=STORIES) as store:
        store.sync_config_feeds([FeedSource(url)], now=now)
        store.save_feed_pass(url, fetched(body), scored_items(store, body, url), now=now,
                             next_fetch=None, keep_all=True)
    path = tmp_path / "pass.jsonl"
    assert invoke_demo(lite, "export", "-o", str(path)).exit_code == 0
    records = [dict(record, summary=record["summary"] + " (imported)") for record in
               read_export(path.read_text(encoding="utf-8").splitlines(), name=str(path))]
    daemon = PostgresStore(pg_url, stories=STORIES, owner="daemon")
    results: dict[str, dict[str, int]] = {}
    errors: list[BaseException] = []

    def run_import() -> None:
        try:
            with PostgresReader(pg_url, stories=STORIES) as store:
                results["import"] = import_records(store, records, now=utcnow())
        except BaseException as exc:
            errors.append(exc)

    try:
        daemon.sync_config_feeds([FeedSource(url)], now=now)
        scored = scored_items(daemon, body, url)
        thread = threading.Thread(target=run_import)
        with daemon.transaction():
            daemon.host_waits(now)  # a statement of its own: one transaction to the end
            daemon.save_feed_pass(url, fetched(body), scored, now=now, next_fetch=None,
                                  keep_all=True)
            thread.start()
            assert _wait_for_lock_waiter(pg_url), "the import never waited for the pass"
        thread.join(60)
    finally:
        daemon.close()
    assert not errors, errors
    assert results["import"] == {"imported": 0, "skipped": len(records), "feeds_added": 0}
    assert len(records) >= 5
    for sql in ("SELECT count(*), count(DISTINCT id) FROM items",
                "SELECT count(*), count(DISTINCT item_id) FROM story_items",
                "SELECT count(*), count(DISTINCT id) FROM seen"):
        assert query(pg_url, sql) == [(len(records), len(records))], sql
    summaries = query(pg_url, "SELECT id, summary FROM items ORDER BY id")
    assert summaries == sorted((s.item.id, s.item.summary) for s in scored)  # the pass's
