"""PostgreSQL storage: the same schema and the same feed passes as SQLite, writers that may
run at once, and due feeds claimed so that several daemons share them.

Against a real PostgreSQL server (``pg_url``: a fresh database per test; the tests skip with
the reason where no server can be had) and real SQLite files.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")

from click.testing import CliRunner  # noqa: E402

from conftest import FEEDS  # noqa: E402
from feedserver import FeedServer, config_text  # noqa: E402
from mediamon.cli import cli  # noqa: E402
from mediamon.clock import utcnow  # noqa: E402
from mediamon.config import load_config  # noqa: E402
from mediamon.core.stories import StorySettings  # noqa: E402
from mediamon.errors import StoreError  # noqa: E402
from mediamon.store.postgres import is_postgres_url, schema  # noqa: E402
from mediamon.store.postgres.store import PostgresStore  # noqa: E402
from mediamon.store.sqlite import Store  # noqa: E402
from mediamon.types import FeedSource, FetchResult, Validators  # noqa: E402

# SQLite's declared types -> the class of PostgreSQL's information_schema data_type.
TYPE_CLASS = {"TEXT": "text", "INTEGER": "integer", "REAL": "real", "BLOB": "blob"}
PG_CLASS = {"text": "text", "bigint": "integer", "integer": "integer",
            "double precision": "real", "bytea": "blob"}


def sqlite_columns(db: Path) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    """table -> column -> (type class, NOT NULL, in the primary key), as SQLite has them."""
    out: dict[str, dict[str, tuple[str, bool, bool]]] = {}
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if table in schema.SQLITE_ONLY_TABLES:
                continue
            cols = {}
            for _cid, name, kind, notnull, _default, pk in conn.execute(
                    f"PRAGMA table_info({table})"):
                # An INTEGER PRIMARY KEY is the rowid: never NULL, whatever it declares.
                cols[name] = (TYPE_CLASS[kind], bool(notnull) or bool(pk), bool(pk))
            out[table] = cols
    return out


def pg_columns(url: str) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    out: dict[str, dict[str, tuple[str, bool, bool]]] = {}
    with psycopg.connect(url) as conn:
        keys = {(t, c) for t, c in conn.execute(
            "SELECT kcu.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu USING (constraint_schema, "
            "constraint_name) WHERE tc.constraint_type = 'PRIMARY KEY' "
            "AND tc.table_schema = current_schema()")}
        for table, column, kind, nullable in conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable "
                "FROM information_schema.columns WHERE table_schema = current_schema()"):
            if table == "mediamon_migrations" or (table, column) in schema.PG_ONLY_COLUMNS:
                continue
            out.setdefault(table, {})[column] = (PG_CLASS[kind], nullable == "NO",
                                                 (table, column) in keys)
    return out


def test_both_backends_have_the_same_tables_and_columns(pg_url: str, tmp_path: Path) -> None:
    """A new SQLite database and a new PostgreSQL one have the same tables, and each the same
    columns with the same type class, NOT NULL and primary key (PostgreSQL's own extras
    aside): a migration added to one backend only fails here."""
    Store(tmp_path / "m.db").close()
    PostgresStore(pg_url).close()
    lite, pg = sqlite_columns(tmp_path / "m.db"), pg_columns(pg_url)
    assert sorted(pg) == sorted(lite)
    for table in lite:
        assert pg[table] == lite[table], table


def test_the_schema_check_sees_a_missing_column(pg_url: str, tmp_path: Path) -> None:
    """The comparison above fails when one backend lacks a column the other has."""
    Store(tmp_path / "m.db").close()
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE feeds DROP COLUMN paused")
    assert pg_columns(pg_url)["feeds"] != sqlite_columns(tmp_path / "m.db")["feeds"]


def test_opening_twice_migrates_once_and_refuses_another_apps_database(pg_url: str) -> None:
    """The schema is created on first open and recorded; a database with other tables is
    refused in one line."""
    PostgresStore(pg_url).close()
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM mediamon_migrations").fetchone()[0] == \
            schema.schema_version()
        conn.execute("DROP TABLE mediamon_migrations")
        conn.execute("CREATE TABLE other (x int)")
    with pytest.raises(StoreError, match="not a mediamon database"):
        PostgresStore(pg_url)


def test_an_unreachable_server_is_one_line() -> None:
    """A URL nothing answers on: a one-line error naming it (exit 1), no traceback."""
    result = CliRunner().invoke(cli, ["--config", str(FEEDS.parents[2] / "config/demo.toml"),
                                      "--db", "postgresql://nobody@127.0.0.1:1/none",
                                      "run", "--once"])
    assert result.exit_code == 1, result.output
    assert "postgresql://nobody@127.0.0.1:1/none: cannot connect" in result.output
    assert "Connection refused" in result.output  # the server's reason, not a pool timeout
    assert "Traceback" not in result.output


def test_database_url_in_the_config(tmp_path: Path) -> None:
    """``[database] url`` selects PostgreSQL; with ``path`` too, or not a postgresql:// URL,
    the config is refused naming the key; a SQLite ``--db`` overrides the URL."""
    config = tmp_path / "m.toml"
    config.write_text('[database]\nurl = "postgresql://u@h/db"\nlease = "30s"\n'
                      '[topics.a]\nquery = "x"\n')
    loaded = load_config(config)
    assert loaded.db_url == "postgresql://u@h/db" and loaded.db_lease == 30
    assert load_config(config, db_override=str(tmp_path / "x.db")).db_url is None
    assert load_config(config, db_override="postgres://a@b/c").db_url == "postgres://a@b/c"
    config.write_text('[database]\nurl = "mysql://u@h/db"\n[topics.a]\nquery = "x"\n')
    with pytest.raises(Exception, match=r"database\.url"):
        load_config(config)
    config.write_text('[database]\nurl = "postgresql://u@h/db"\npath = "x.db"\n'
                      '[topics.a]\nquery = "x"\n')
    with pytest.raises(Exception, match="not both"):
        load_config(config)
    assert is_postgres_url("postgresql://x/y") and not is_postgres_url("x.db")


# -- the same feed passes as SQLite ---------------------------------------------------------


def sqlite_state(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        return state_of(conn.execute)


def pg_state(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        return state_of(lambda sql: conn.execute(sql))  # type: ignore[arg-type]


def same_state(lite: Path, url: str) -> dict[str, object]:
    """PostgreSQL's state, after checking that it holds what the SQLite file holds (at
    least ten items, so an empty pass cannot pass)."""
    expected, got = sqlite_state(lite), pg_state(url)
    assert len(got["items"]) >= 10  # type: ignore[arg-type]
    for key in expected:
        assert got[key] == expected[key], key
    return got


def state_of(execute) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What a pass stored, without ids that depend on insertion order."""
    return {
        "items": sorted(
            (r[0], r[1], round(float(r[2]), 6), r[3], r[4], r[5]) for r in execute(
                "SELECT id, kept, score, topics, title, dedup_key FROM items").fetchall()),
        "item_feeds": sorted(execute(
            "SELECT i.item_id, f.url FROM item_feeds i JOIN feeds f ON f.id = i.feed_id"
        ).fetchall()),
        "item_topics": sorted(execute("SELECT item_id, topic, terms FROM item_topics")),
        "seen": sorted(execute("SELECT id, content_hash FROM seen").fetchall()),
        "stories": sorted(execute("SELECT item_id, story_id FROM story_items").fetchall()),
        "aliases": sorted(execute("SELECT id, item_id FROM item_aliases").fetchall()),
        "background": execute("SELECT documents FROM background_size").fetchall(),
        "df": sorted(execute("SELECT term, df FROM background_df").fetchall()),
        "statuses": sorted(execute(
            "SELECT f.url, l.status FROM fetch_log l JOIN feeds f ON f.id = l.feed_id"
        ).fetchall()),
    }


def served_config(served: FeedServer, tmp_path: Path) -> Path:
    """The demo config's topics over the fixture feeds, served on loopback."""
    default = FEEDS.parents[2] / "config" / "mediamon.toml"
    names = ["rss20.xml", "atom10.xml", "jsonfeed10.json", "jsonfeed11.json", "rss091.xml",
             "rss10.rdf", "broken.xml", "html_page.html"]
    feeds = "".join(f'[[feeds]]\nurl = "{served.url("/" + n)}"\n' for n in names)
    path = tmp_path / "served.toml"
    path.write_text(f'extends = "{default}"\n\n{feeds}')
    return path


def test_run_once_on_postgresql_keeps_what_sqlite_keeps(
        served_feeds: FeedServer, pg_url: str, tmp_path: Path) -> None:
    """`mediamon run --once --keep-all` over loopback feeds stores on PostgreSQL exactly what
    it stores on SQLite (items, scores, topics, feeds, seen rows, stories, background); the
    second run finds every feed not modified and stores nothing twice."""
    config = served_config(served_feeds, tmp_path)
    runner = CliRunner()
    lite = tmp_path / "lite.db"
    for db in (str(lite), pg_url):
        result = runner.invoke(cli, ["--config", str(config), "--db", db, "--log-level",
                                     "error", "run", "--once", "--keep-all"])
        assert result.exit_code == 0, result.output
    assert "kept items from" in result.output
    got = same_state(lite, pg_url)
    result = runner.invoke(cli, ["--config", str(config), "--db", pg_url, "--log-level",
                                 "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    again = pg_state(pg_url)
    assert again["items"] == got["items"] and again["seen"] == got["seen"]
    assert [s for _, s in again["statuses"] if s == "not_modified"]  # type: ignore[union-attr]


def test_full_text_index_follows_each_items_language(pg_url: str, tmp_path: Path,
                                                     served_feeds: FeedServer) -> None:
    """Stored items get a tsvector in their language's configuration: an English item's
    'recognises' is found by 'recognition's stem; an unknown language is indexed 'simple'."""
    config = served_config(served_feeds, tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", pg_url, "--log-level",
                                      "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(pg_url) as conn:
        hits = conn.execute(
            "SELECT count(*) FROM items WHERE search @@ to_tsquery('english', 'recognise')"
        ).fetchone()[0]
        assert hits >= 1
        assert conn.execute("SELECT mediamon_ts_config('ru')::text, "
                            "mediamon_ts_config('ps')::text, mediamon_ts_config('en-GB')::text"
                            ).fetchone() == ("russian", "simple", "english")


# -- writers at the same time -------------------------------------------------------------


def fetched(body: bytes) -> FetchResult:
    return FetchResult(url="http://x/", status="ok", http_status=200, body=body,
                       validators=Validators(None, None), elapsed=0.01)


def scored_items(store: PostgresStore, body: bytes, url: str) -> list:  # type: ignore[type-arg]
    from mediamon.config import load_config as _load
    from mediamon.pipeline import scorer_for
    from mediamon.process import process_body

    config = _load(FEEDS.parents[2] / "config" / "demo.toml")
    scorer = scorer_for(config, store)[0]
    processed = process_body(fetched(body), feed_url=url, scorer=scorer, now=utcnow(),
                             keep_all=True, known=store.seen_hashes, stories=store.stories)
    return list(processed.scored)


def test_two_writers_storing_the_same_items_at_once_store_them_once(
        pg_url: str, tmp_path: Path) -> None:
    """Two stores (as two daemons) save passes of two feeds carrying the same articles, the
    second while the first has not committed: neither fails, and the database holds what
    SQLite holds after the two passes one after the other (each article once, the second
    feed's copies folded into it, one story each, every seen row once)."""
    body = (FEEDS / "rss20.xml").read_bytes()
    now = utcnow()
    sources = [FeedSource("http://a/feed"), FeedSource("http://b/feed")]
    with Store(tmp_path / "lite.db") as lite:
        lite.sync_config_feeds(sources, now=now)
        passes = {url: scored_items(lite, body, url) for url in ("http://a/feed",
                                                                 "http://b/feed")}
        for url, scored in passes.items():  # scored first: as the two processes below
            lite.save_feed_pass(url, fetched(body), scored, now=now, next_fetch=None,
                                keep_all=True)
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        a.sync_config_feeds(sources, now=now)
        items_a = scored_items(a, body, "http://a/feed")
        items_b = scored_items(b, body, "http://b/feed")
        a_saved, errors = threading.Event(), []

        def second() -> None:
            a_saved.wait(10)
            try:
                b.save_feed_pass("http://b/feed", fetched(body), items_b, now=now,
                                 next_fetch=None, keep_all=True)
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        with a.transaction():
            a.save_feed_pass("http://a/feed", fetched(body), items_a, now=now,
                             next_fetch=None, keep_all=True)
            a_saved.set()
            time.sleep(0.5)  # b's pass starts before this commits
        thread.join(20)
        assert errors == []
    finally:
        a.close()
        b.close()
    expected, got = sqlite_state(tmp_path / "lite.db"), pg_state(pg_url)
    assert got["aliases"], "the second feed's copies were not folded"
    for key in expected:
        assert got[key] == expected[key], key


def test_concurrent_edits_number_versions_in_turn(pg_url: str) -> None:
    """Two writers editing one item at once each keep the version they replaced: versions
    1 and 2, no duplicate and no error."""
    body = (FEEDS / "rss20.xml").read_bytes()
    now = utcnow()
    stores = [PostgresStore(pg_url) for _ in range(3)]
    try:
        stores[0].sync_config_feeds([FeedSource("http://a/feed")], now=now)
        first = scored_items(stores[0], body, "http://a/feed")
        stores[0].save_feed_pass("http://a/feed", fetched(body), first, now=now,
                                 next_fetch=None, keep_all=True)
        headline = b"Russia recognizes Islamic Emirate of Afghanistan, Foreign Ministry says"
        assert headline in body
        edited = [body.replace(headline, headline.replace(b"Russia", word)) for word in
                  (b"Moscow", b"The Kremlin")]
        passes = [scored_items(s, e, "http://a/feed") for s, e in zip(stores[1:], edited,
                                                                       strict=True)]
        errors: list[Exception] = []
        go = threading.Barrier(2)

        def edit(store: PostgresStore, items: list, text: bytes) -> None:  # type: ignore[type-arg]
            go.wait(10)
            try:
                store.save_feed_pass("http://a/feed", fetched(text), items, now=now,
                                     next_fetch=None, keep_all=True)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=edit, args=(s, p, e)) for s, p, e in
                   zip(stores[1:], passes, edited, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert errors == []
    finally:
        for s in stores:
            s.close()
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("SELECT item_id, array_agg(version ORDER BY version) "
                                "FROM item_versions GROUP BY item_id").fetchall()
    assert [v for _, v in versions] == [[1, 2]]  # one item, edited twice, in turn


# -- claims: several daemons share the due feeds ----------------------------------------------


def feeds_store(pg_url: str, n: int, **kw: object) -> PostgresStore:
    store = PostgresStore(pg_url, **kw)  # type: ignore[arg-type]
    store.sync_config_feeds([FeedSource(f"http://h{i % 7}/f{i}") for i in range(n)],
                            now=utcnow())
    return store


def test_due_feeds_are_claimed_by_one_store_each(pg_url: str) -> None:
    """Three stores asking for due feeds at the same moment get disjoint sets that together
    are every feed; asked again, none gets a feed another holds."""
    stores = [feeds_store(pg_url, 300, owner=f"d{i}") for i in range(3)]
    try:
        got: list[list[int]] = [[] for _ in stores]
        go = threading.Barrier(len(stores))

        def claim(i: int) -> None:
            go.wait(10)
            for _ in range(5):
                got[i] += [f.id for f in stores[i].due_feeds(utcnow(), limit=40)]

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        every = [i for ids in got for i in ids]
        assert len(every) == len(set(every)) == 300
        assert all(stores[0].due_feeds(utcnow()) == [] for _ in range(2))
    finally:
        for s in stores:
            s.close()


def test_a_lease_runs_out_unless_renewed_and_a_saved_pass_releases(pg_url: str) -> None:
    """A claimed feed returns to the others when its lease runs out (a dead daemon); a
    store that still polls it renews it (``exclude``); saving its pass ends the claim and
    moves it out of the due set."""
    lease = timedelta(seconds=1)
    a = feeds_store(pg_url, 3, owner="a", lease=lease)
    b = PostgresStore(pg_url, owner="b", lease=lease)
    try:
        held = [f.id for f in a.due_feeds(utcnow())]
        assert len(held) == 3 and b.due_feeds(utcnow()) == []
        time.sleep(0.6)
        a.due_feeds(utcnow(), exclude=held[:1])  # a still polls the first: renewed
        time.sleep(0.6)
        assert [f.id for f in b.due_feeds(utcnow())] == held[1:]  # the others ran out
        now = utcnow()
        feed = a.find_feed(str(held[0]))
        assert feed is not None
        a.save_feed_failure(feed.url, fetched(b""), now=now,
                            next_fetch=now + timedelta(hours=1), error="x")
        time.sleep(1.1)  # every lease has run out now
        again = [f.id for f in b.due_feeds(utcnow())]
        assert again == held[1:]  # the polled one is not due for an hour, claimed or not
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT claimed_by FROM feeds WHERE id = %s",
                                [held[0]]).fetchone() == (None,)
    finally:
        a.close()
        b.close()


def test_a_hosts_retry_after_is_shared(pg_url: str) -> None:
    """A host's Retry-After written by one store is what every other store reads."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        until = utcnow() + timedelta(minutes=5)
        a.set_host_wait("h1", until, "asked")
        a.set_host_wait("h1", until - timedelta(minutes=1), "again")  # never earlier
        waits = b.host_waits(utcnow())
        assert list(waits) == ["h1"] and waits["h1"][0] == until.replace(
            microsecond=0).isoformat()
    finally:
        a.close()
        b.close()


def test_stories_settings_reach_the_writer(pg_url: str) -> None:
    """The store carries the config's story settings, as SQLite's does."""
    settings = StorySettings(threshold=0.9)
    with PostgresStore(pg_url, stories=settings) as store:
        assert store.stories == settings


def test_run_once_config_with_database_url(served_feeds: FeedServer, pg_url: str,
                                           tmp_path: Path) -> None:
    """``[database] url`` in the config (no --db) is where `run --once` stores."""
    config = tmp_path / "m.toml"
    text = config_text(str(tmp_path / "unused.db"), [served_feeds.url("/rss20.xml")])
    config.write_text(text.replace(f'path = "{tmp_path / "unused.db"}"', f'url = "{pg_url}"'))
    result = CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", "run",
                                      "--once"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "unused.db").exists()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] > 0


def story_feed(title: str, articles: list[tuple[str, str]]) -> bytes:
    """An RSS feed of ``articles``: (link, headline) each, with the headline as summary."""
    entries = "".join(
        f"<item><title>{headline}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Thu, 03 Jul 2025 12:00:00 GMT</pubDate>"
        f"<description>{headline}. Officials said the talks covered trade, security and "
        f"transit.</description></item>" for link, headline in articles)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://{title}.example/</link>{entries}</channel></rss>").encode()


HEADLINES = [
    "Taliban envoy meets Russian foreign minister Lavrov in Moscow for talks on trade ties",
    "Kabul water crisis deepens as drought hits Afghan provinces and aid agencies warn",
]


def test_daemons_joining_the_same_stories_in_crossing_order_never_deadlock(
        pg_url: str) -> None:
    """Two writers, each storing a batch of two passes as the pipeline's writer does (one
    transaction around per-pass blocks), whose items join the same two stories in opposite
    orders, the second pass only once both first passes are stored: both batches complete
    with no error, every item joins its story, and each story counts all its members."""
    now = utcnow()
    seed = story_feed("seed", [(f"https://seed.example/{n}", h)
                               for n, h in enumerate(HEADLINES)])
    feeds = {name: story_feed(name, [(f"https://{name}.example/a", HEADLINES[n])])
             for name, n in (("a1", 0), ("a2", 1), ("b1", 1), ("b2", 0))}
    urls = ["http://seed/", *(f"http://{name}/" for name in feeds)]
    a, b = PostgresStore(pg_url, owner="a"), PostgresStore(pg_url, owner="b")
    try:
        a.sync_config_feeds([FeedSource(u) for u in urls], now=now)
        a.save_feed_pass("http://seed/", fetched(seed), scored_items(a, seed, "http://seed/"),
                         now=now, next_fetch=None, keep_all=True)
        passes = {name: scored_items(a, body, f"http://{name}/")
                  for name, body in feeds.items()}
        halfway = threading.Barrier(2)
        errors: list[BaseException] = []

        def batch(store: PostgresStore, names: tuple[str, str]) -> None:
            try:
                with store.transaction():
                    for n, name in enumerate(names):
                        with store.transaction():
                            store.save_feed_pass(f"http://{name}/", fetched(feeds[name]),
                                                 passes[name], now=now, next_fetch=None,
                                                 keep_all=True)
                        if n == 0:
                            halfway.wait(10)
            except BaseException as exc:
                errors.append(exc)
                halfway.abort()

        threads = [threading.Thread(target=batch, args=(a, ("a1", "a2"))),
                   threading.Thread(target=batch, args=(b, ("b1", "b2")))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
    finally:
        a.close()
        b.close()
    with psycopg.connect(pg_url) as conn:
        members = conn.execute(
            "SELECT s.items, count(si.item_id) FROM stories s "
            "JOIN story_items si ON si.story_id = s.id GROUP BY s.id ORDER BY s.id").fetchall()
    assert members == [(3, 3), (3, 3)]  # each seed article and its two later reports
