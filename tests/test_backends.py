"""The analyst's commands on both backends: the same database content in SQLite and in
PostgreSQL gives the same listings, search hits, items, stories, stats, report, export,
feed health and alerts, through the same CLI code.

The content: the fixture feeds served on loopback, polled once into a SQLite file with
`mediamon run --once --keep-all`, and that file moved into PostgreSQL with `mediamon
migrate` (checked there: same counts, memberships and search probes). Each test runs a
command on the ``backend`` fixture (``sqlite``, ``postgres``: skipped with the reason when
no PostgreSQL server can be had) and compares what it prints with what the same command
prints on the SQLite file. Documented differences (docs/scaling.md): search ranks and
snippets, so searches compare their hits as sets.

Alerts are run on each backend after its own `run --once` (a loopback webhook counts what
is sent); article texts come from a feed whose pages are served too.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import FEEDS
from feedserver import FeedServer
from mediamon.cli import cli

CONTENT_TYPES = {".xml": "application/rss+xml", ".rdf": "application/rdf+xml",
                 ".json": "application/feed+json", ".html": "text/html"}
FEED_NAMES = ["rss20.xml", "atom10.xml", "jsonfeed10.json", "jsonfeed11.json", "rss091.xml",
              "rss10.rdf", "broken.xml", "html_page.html"]
# A fixed period around the fixture feeds' dates: the output does not depend on today.
PERIOD = ["--since", "2025-06-01", "--until", "2025-08-01"]


def _serve_fixture_feeds(server: FeedServer) -> None:
    for path in sorted(FEEDS.iterdir()):
        ctype = "application/atom+xml" if path.name.startswith("atom") else \
            CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        server.add("/" + path.name, path.read_bytes(), content_type=ctype)


def _config(server: FeedServer, directory: Path, extra: str = "") -> Path:
    """The default config's topics over the fixture feeds served by ``server``."""
    default = FEEDS.parents[2] / "config" / "mediamon.toml"
    feeds = "".join(f'[[feeds]]\nurl = "{server.url("/" + n)}"\n' for n in FEED_NAMES)
    path = directory / "served.toml"
    path.write_text(f'extends = "{default}"\n\n{feeds}{extra}', encoding="utf-8")
    return path


def invoke(config: Path, db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--db", db, "--log-level",
                                    "error", *args])


def output(config: Path, db: str, *args: str) -> str:
    """What the command prints (stdout) on ``db``; it must succeed."""
    result = invoke(config, db, *args)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


class Corpus:
    """The polled SQLite file and the config that polled it."""

    def __init__(self, config: Path, sqlite: Path) -> None:
        self.config = config
        self.sqlite = str(sqlite)

    def expected(self, *args: str) -> str:
        """What the command prints on the SQLite file."""
        return output(self.config, self.sqlite, *args)


def poll_fixture_feeds(directory: Path, name: str) -> tuple[Path, Path]:
    """The fixture feeds served on loopback and polled once (every item kept) into the
    SQLite file ``directory/name``: (the config that polled them, the file)."""
    sqlite = directory / name
    with FeedServer() as server:
        _serve_fixture_feeds(server)
        config = _config(server, directory)
        result = invoke(config, str(sqlite), "run", "--once", "--keep-all")
        assert result.exit_code == 0, result.output
    return config, sqlite


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    yield Corpus(*poll_fixture_feeds(tmp_path_factory.mktemp("backends"), "lite.db"))


@pytest.fixture(scope="module")
def pg_copy(corpus: Corpus, pg_server: str) -> Iterator[str]:
    """The corpus moved into a new PostgreSQL database by `mediamon migrate`."""
    import psycopg

    from pg_fixtures import with_database

    name = f"mediamon_backends_{os.getpid()}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    url = with_database(pg_server, name)
    try:
        result = CliRunner().invoke(cli, ["migrate", corpus.sqlite, url])
        assert result.exit_code == 0, result.output
        yield url
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, corpus: Corpus) -> str:
    """The corpus on each backend: the SQLite file, or its copy in PostgreSQL (the test
    skips, saying why, when no PostgreSQL server can be had)."""
    if request.param == "sqlite":
        return corpus.sqlite
    pytest.importorskip("psycopg", reason="psycopg is not installed: "
                                          "pip install -e '.[postgres]'")
    return str(request.getfixturevalue("pg_copy"))


def run(corpus: Corpus, db: str, *args: str) -> str:
    return output(corpus.config, db, *args)


def item_ids(corpus: Corpus) -> list[str]:
    return [r["id"] for r in json.loads(corpus.expected("items", "--all", "--json",
                                                        "--limit", "1000"))]


# -- items, search, show --------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["--all"],
    [],
    ["--topic", "taliban", "--all"],
    ["--lang", "ru", "--all"],
    ["--feed", "1", "--all"],
    ["--min-score", "0.5"],
    ["--since", "2025-07-03", "--until", "2025-07-05", "--all"],
    ["--all", "--limit", "4", "--offset", "3"],
    ["--all", "--collapse"],
    ["--unkept"],
    ["--all", "--country", "RU"],
    ["--all", "--kind", "wire"],
])
def test_items_lists_the_same_rows(corpus: Corpus, backend: str, args: list[str]) -> None:
    """`items` with each filter lists the same rows, in the same order, on both backends
    (JSON, CSV, the table and an Atom feed)."""
    rows = json.loads(run(corpus, backend, "items", *args, "--json"))
    assert rows  # an empty listing's Atom feed is dated now: compared, it could differ
    assert rows == json.loads(corpus.expected("items", *args, "--json"))
    for fmt in ("csv", "table", "atom"):
        assert run(corpus, backend, "items", *args, "--format", fmt) == \
            corpus.expected("items", *args, "--format", fmt)
    if args in (["--all"], ["--topic", "taliban", "--all"]):
        assert len(rows) >= 5


def test_an_empty_listing_warns_the_same(corpus: Corpus, backend: str) -> None:
    """A filter nothing matches gives the same warning on stderr on both backends."""
    result = invoke(corpus.config, backend, "items", "--topic", "talibn", "--lang", "xx")
    expected = invoke(corpus.config, corpus.sqlite, "items", "--topic", "talibn",
                      "--lang", "xx")
    assert result.exit_code == 0
    assert "did you mean 'taliban'" in result.stderr
    assert result.stderr == expected.stderr


@pytest.mark.parametrize("query", ["kazan", '"islamic emirate"', "taliban",
                                   "moscow OR kabul", "taliban NOT kazan", "recogn*",
                                   "title:taliban", 'summary:"islamic emirate"'])
def test_search_finds_the_same_items(corpus: Corpus, backend: str, query: str) -> None:
    """`search` finds the same items on both backends (as a set: ranking and snippets are
    each database's own), each with a snippet marking a match; --collapse keeps one per
    story on both."""
    def hits(db: str, *extra: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(
            output(corpus.config, db, "search", query, "--all", "--json", *extra))
        return rows

    expected = {r["id"] for r in hits(corpus.sqlite)}
    got = hits(backend)
    assert expected
    assert {r["id"] for r in got} == expected
    assert all("[" in (r["snippet"] or "") for r in got)
    collapsed = hits(backend, "--collapse")
    assert {r["story"] for r in collapsed} == {r["story"] for r in
                                               hits(corpus.sqlite, "--collapse")}
    assert len({r["story"] for r in collapsed}) == len(collapsed)


def test_search_errors_are_one_line(corpus: Corpus, backend: str) -> None:
    """An unbalanced query, or a column filter naming no column, is a one-line error (exit
    1) on both backends."""
    for query in ("(taliban", "place:kabul"):
        result = invoke(corpus.config, backend, "search", query)
        assert result.exit_code == 1, query
        assert "Traceback" not in result.output and result.output.startswith("Error: ")
        assert result.output.count("\n") == 1
    result = invoke(corpus.config, backend, "search", "place:kabul")
    assert "'place' is not a column (search columns: title, summary, content)" in \
        result.output


def test_show_prints_the_same_item(corpus: Corpus, backend: str) -> None:
    """`show` (by a prefix of the id) prints every item the same on both backends, as text
    and as JSON with its history."""
    ids = item_ids(corpus)
    assert len(ids) >= 10
    for item_id in ids:
        for args in (["show", item_id[:8]], ["show", item_id, "--json", "--history"]):
            assert run(corpus, backend, *args) == corpus.expected(*args)
    missing = invoke(corpus.config, backend, "show", "zzzz")
    assert missing.exit_code == 1 and "no item with id 'zzzz'" in missing.output


# -- stories ----------------------------------------------------------------------------------


def test_stories_have_the_same_members(corpus: Corpus, backend: str) -> None:
    """`stories`, `stories show` and `stories explain` print the same stories, members and
    reasons on both backends."""
    for args in (["--all"], [], ["--all", "--min-reach", "2"], ["--topic", "taliban"],
                 ["--all", *PERIOD], ["--all", "--country", "AF"], ["--kind", "state"]):
        assert run(corpus, backend, "stories", *args, "--json") == \
            corpus.expected("stories", *args, "--json")
    stories = json.loads(run(corpus, backend, "stories", "--all", "--json"))
    assert len(stories) >= 5 and all(s["first_outlet"] for s in stories)
    for story in stories:
        for args in (["stories", "show", story["id"], "--json"],
                     ["stories", "show", story["id"][:8]],
                     ["stories", "explain", story["id"]]):
            assert run(corpus, backend, *args) == corpus.expected(*args)
    assert run(corpus, backend, "stories", "--all", "--format", "atom") == \
        corpus.expected("stories", "--all", "--format", "atom")


# -- stats, report, export, status -----------------------------------------------------------


@pytest.mark.parametrize("args", [
    [], ["--by", "hour"], ["--by", "week"], ["--by", "month"], ["--by-outlet"],
    ["--topic", "taliban"], ["--country", "RU", "--by-outlet"], ["--kind", "wire"],
])
def test_stats_count_the_same(corpus: Corpus, backend: str, args: list[str]) -> None:
    """`stats` counts the same items, stories, outlets and languages per period on both
    backends (JSON and CSV)."""
    got = json.loads(run(corpus, backend, "stats", *PERIOD, *args, "--json"))
    assert got == json.loads(corpus.expected("stats", *PERIOD, *args, "--json"))
    assert got["total_items"] >= (5 if not args else 1) and got["timeline"]
    assert run(corpus, backend, "stats", *PERIOD, *args, "--format", "csv") == \
        corpus.expected("stats", *PERIOD, *args, "--format", "csv")


def test_the_report_is_the_same(corpus: Corpus, backend: str) -> None:
    """`report` writes the same HTML page on both backends: stories, sources, outlets."""
    def undated(page: str) -> str:  # the minute it was generated: two runs may straddle one
        return re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "generated", page)

    for args in ([], ["--topic", "taliban"], ["--country", "AF"]):
        page = run(corpus, backend, "report", *PERIOD, *args)
        assert "generated 20" in page
        assert undated(page) == undated(corpus.expected("report", *PERIOD, *args))
        assert "<table" in page and ("tass" in page or args)


@pytest.mark.parametrize("args", [["--format", "jsonl"], ["--format", "csv"],
                                  ["--format", "json"], ["--format", "atom"],
                                  ["--kept-only", "--since", "2025-07-03"]])
def test_export_writes_the_same_rows(corpus: Corpus, backend: str, args: list[str]) -> None:
    """`export` writes the same records on both backends."""
    text = run(corpus, backend, "export", *args)
    assert text == corpus.expected("export", *args)
    assert len(text.splitlines()) >= 5


def test_export_formats_hold_the_same_records(corpus: Corpus, backend: str,
                                             tmp_path: Path) -> None:
    """`export --format json` is the JSON Lines' records as one array, and an Atom export
    has an entry per record, newest first; the file's extension picks the format."""
    lines = [json.loads(line) for line in run(corpus, backend, "export").splitlines()]
    assert json.loads(run(corpus, backend, "export", "--format", "json")) == lines
    atom = tmp_path / "items.atom"
    run(corpus, backend, "export", "-o", str(atom))
    text = atom.read_text(encoding="utf-8")
    assert text.count("<entry>") == len(lines) >= 10
    ids = re.findall(r"<id>urn:mediamon:item:(\w+)</id>", text)
    assert ids == [r["id"] for r in reversed(lines)]
    assert json.loads(output(corpus.config, backend, "export", "--since", "2099-01-01",
                             "--format", "json")) == []


def test_status_is_the_same(corpus: Corpus, backend: str) -> None:
    """`status` and `feeds list` show the same feeds, states and counts on both backends."""
    for args in (["status", "--json"], ["feeds", "list", "--json"]):
        assert run(corpus, backend, *args) == corpus.expected(*args)
    rows = json.loads(run(corpus, backend, "status", "--json"))
    assert {r["health"] for r in rows} >= {"ok", "failing"}


# -- a SQLite copy, and what needs SQLite -----------------------------------------------------


def test_export_to_sqlite_copies_a_window(corpus: Corpus, backend: str,
                                          tmp_path: Path) -> None:
    """`export --format sqlite` writes a new SQLite database of the items of a window, from
    either backend: the same items, topics and feeds as the source lists for that window;
    an existing file is refused."""
    copy = tmp_path / "window.db"
    result = invoke(corpus.config, backend, "export", "--since", "2025-07-03", "--format",
                    "sqlite", "-o", str(copy))
    assert result.exit_code == 0, result.output
    window = ["items", "--all", "--since", "2025-07-03", "--json"]
    listed = json.loads(corpus.expected(*window))
    copied = json.loads(output(corpus.config, str(copy), *window))
    assert len(listed) >= 5
    for row in [*listed, *copied]:
        row.pop("story")  # stories are found again among the copied items
    assert copied == listed
    everything = json.loads(output(corpus.config, str(copy), "items", "--all", "--json"))
    assert [row["id"] for row in everything] == [row["id"] for row in copied]
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM item_topics").fetchone()[0] > 0
    again = invoke(corpus.config, backend, "export", "--format", "sqlite", "-o", str(copy))
    assert again.exit_code == 1 and "exists" in again.output


def test_serve_on_postgresql_says_how_to_get_sqlite(corpus: Corpus, pg_copy: str) -> None:
    """`serve` on PostgreSQL stops with one line: it needs SQLite, and how to copy a window
    into a SQLite file."""
    result = invoke(corpus.config, pg_copy, "serve")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "needs a SQLite database" in result.output
    assert "export --since 30d --format sqlite -o window.db" in result.output


# -- alerts ----------------------------------------------------------------------------------


def test_alerts_send_the_same_on_both(tmp_path: Path, pg_url: str) -> None:
    """`alerts send` on PostgreSQL sends what it sends on SQLite: each new kept item once
    to a loopback webhook (a second send has nothing new), and `alerts list` counts the
    same; the dry run sends nothing."""
    from test_alerts import Receiver

    sent: dict[str, list[str]] = {}
    listed: dict[str, list[dict[str, Any]]] = {}
    for name, db in (("sqlite", str(tmp_path / "alerts.db")), ("postgres", pg_url)):
        receiver = Receiver()
        try:
            with FeedServer() as server:
                _serve_fixture_feeds(server)
                directory = tmp_path / name
                directory.mkdir()
                config = _config(server, directory,
                                 f'\n[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n')
                assert invoke(config, db, "alerts", "send").exit_code == 0  # registers
                assert not receiver.bodies
                result = invoke(config, db, "run", "--once")
                assert result.exit_code == 0, result.output
                dry = invoke(config, db, "alerts", "send", "--dry-run")
                assert dry.exit_code == 0 and "would send" in dry.output, dry.output
                assert not receiver.bodies
                result = invoke(config, db, "alerts", "send")
                assert result.exit_code == 0 and "sent" in result.output, result.output
                again = invoke(config, db, "alerts", "send")
                assert again.exit_code == 0, again.output
                state = json.loads(output(config, db, "alerts", "list", "--json"))
        finally:
            receiver.close()
        # by title: the ids of items whose link is on the feed server depend on its port
        sent[name] = sorted(i["title"] for body in receiver.bodies
                            for i in body["json"]["items"])
        listed[name] = [{k: row[k] for k in ("name", "sent", "unconfirmed", "last_error")}
                        for row in state]
    assert len(sent["sqlite"]) >= 5
    assert sent["postgres"] == sent["sqlite"]
    assert listed["postgres"] == listed["sqlite"]
    assert listed["sqlite"][0]["sent"] == len(sent["sqlite"])


# -- the SQL both databases run -----------------------------------------------------------------


def test_sqlite_placeholders_become_psycopgs() -> None:
    """`?` and `:name` become psycopg's placeholders and `%` is doubled, outside string
    literals; inside them only `%` changes, and `::` casts are left alone."""
    from mediamon.store.postgres.read import pg_sql

    assert pg_sql("SELECT a FROM t WHERE b = ? AND c LIKE ?") == \
        "SELECT a FROM t WHERE b = %s AND c LIKE %s"
    assert pg_sql("WHERE a = :since AND (:topic::text IS NULL OR t = :topic)") == \
        "WHERE a = %(since)s AND (%(topic)s::text IS NULL OR t = %(topic)s)"
    assert pg_sql("SELECT coalesce(x, '?'), 'a:b %Y', y % 2 FROM t WHERE z = ?") == \
        "SELECT coalesce(x, '?'), 'a:b %%Y', y %% 2 FROM t WHERE z = %s"
    assert pg_sql("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_a_postgresql_error_is_one_line(corpus: Corpus, pg_copy: str) -> None:
    """A statement PostgreSQL refuses while reading is a StoreError naming the database in
    one line (the CLI prints it as `Error: ...`), not psycopg's traceback."""
    from mediamon.errors import StoreError
    from mediamon.store.postgres.read import PostgresReader

    with PostgresReader(pg_copy, readonly=True) as store:
        with pytest.raises(StoreError) as raised:
            store.db.execute("SELECT * FROM no_such_table WHERE id = ?", ["x"])
        assert "\n" not in str(raised.value)
        assert "no_such_table" in str(raised.value) and "mediamon_backends" in str(raised.value)
        assert store.db.execute("SELECT count(*) FROM items").fetchone()[0] >= 10


# -- article texts -----------------------------------------------------------------------------


def test_article_texts_are_searched_on_both(tmp_path: Path, pg_url: str) -> None:
    """With article pages fetched (served on loopback), `search` finds an item by a word
    only its article has on both backends, with the article's snippet; the same items for
    every query; `show` and `export` carry the same articles."""
    from test_enrich import FILLER, HTML, MORE, article_html, teaser_feed, write_config

    lite = tmp_path / "articles.db"
    with FeedServer() as server:
        server.add("/feed.xml", teaser_feed(server, [
            ("lavrov", "Lavrov receives a delegation", "Russia's foreign minister met envoys."),
            ("kremlin", "Kremlin and Taliban talk trade", "Russia and the Taliban met in Kazan."),
            ("market", "Markets close higher", "Stocks rose on Monday."),
        ]), content_type="application/rss+xml")
        server.add("/articles/lavrov", article_html("Lavrov receives a delegation", [
            "Russian Foreign Minister Sergei Lavrov received a delegation in Moscow on Monday.",
            "The visitors were envoys of the Taliban government, led by Amir Khan Muttaqi, "
            "and the zanzibarite accord on transit was signed afterwards.", FILLER, MORE]), HTML)
        server.add("/articles/kremlin", article_html("Kremlin and Taliban talk trade", [
            "Officials of the Kremlin and the Taliban discussed trade in Kazan on Monday.",
            "Amir Khan Muttaqi, the Taliban's foreign minister, led his delegation.",
            FILLER, FILLER]), HTML)
        config = write_config(tmp_path / "articles.toml", lite, [server.url("/feed.xml")])
        result = invoke(config, str(lite), "run", "--once")
        assert result.exit_code == 0, result.output
    moved = CliRunner().invoke(cli, ["migrate", str(lite), pg_url])
    assert moved.exit_code == 0, moved.output
    with sqlite3.connect(lite) as conn:
        assert conn.execute("SELECT count(*) FROM articles WHERE status = 'ok'").fetchone()[0] == 2

    def hits(db: str, query: str) -> dict[str, str]:
        rows = json.loads(output(config, db, "search", query, "--all", "--json"))
        return {r["id"]: r["snippet"] for r in rows}

    for query in ("zanzibarite", "muttaqi", "taliban", "kazan", "delegation"):
        expected = hits(str(lite), query)
        got = hits(pg_url, query)
        assert set(got) == set(expected), query
    only_article = hits(pg_url, "zanzibarite")
    assert len(only_article) == 1
    assert "[zanzibarite]" in next(iter(only_article.values()))
    for item_id in hits(str(lite), "russia OR markets"):
        shown = output(config, pg_url, "show", item_id, "--json")
        assert shown == output(config, str(lite), "show", item_id, "--json")
    assert output(config, pg_url, "export") == output(config, str(lite), "export")
