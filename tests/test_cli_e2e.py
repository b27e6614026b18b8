"""End to end through the CLI: `run --once` against the loopback server, then the queries."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from feedserver import FeedServer
from mediamon.cli import cli

GOOD = ["rss20.xml", "atom10.xml", "rss10.rdf", "rss091.xml", "jsonfeed10.json", "jsonfeed11.json"]


def invoke(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    return result


@pytest.fixture
def ingested(served_feeds: FeedServer, make_config) -> tuple[Path, FeedServer]:
    """A config of every fixture feed plus broken ones, after one `run --once`."""
    served_feeds.status("/down.xml", 500)
    urls = [served_feeds.url("/" + name) for name in
            [*GOOD, "broken.xml", "html_page.html", "not_a_feed.txt", "down.xml"]]
    config = make_config(urls)
    result = invoke(config, "run", "--once")
    assert result.exit_code == 0, result.output
    return config, served_feeds


def db_rows(config: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(config.parent / "mediamon.db") as conn:
        return conn.execute(sql).fetchall()


def test_run_once_summarises_and_reports_failures(ingested: tuple[Path, FeedServer]) -> None:
    """The summary counts ok and failed feeds and names each failure with its reason."""
    config, _ = ingested
    result = invoke(config, "--log-level", "error", "run", "--once")  # second pass
    assert result.exit_code == 0
    out = result.output
    assert "down.xml" in out and "HTTP 500" in out
    assert "html_page.html" in out and "an HTML page, not a feed" in out
    assert "/feed.xml" in out  # the feed the HTML page advertises


def test_first_pass_stores_matching_items_only(ingested: tuple[Path, FeedServer]) -> None:
    """Only items the keep rule matches are stored, each with the topics that matched."""
    config, _ = ingested
    rows = db_rows(config, "SELECT title, kept, topics FROM items")
    titles = {r[0] for r in rows}
    assert "Russia recognizes Islamic Emirate of Afghanistan, Foreign Ministry says" in titles
    assert "Russia becomes first country to recognise Taliban government" in titles
    assert "Earthquake felt in Badakhshan province" not in titles
    assert all(r[1] == 1 and json.loads(r[2]) for r in rows)
    # The broken feed's complete items are parsed (bozo with entries is a warning).
    broken = db_rows(config, "SELECT f.last_status, f.last_warning, l.entries FROM feeds f "
                             "JOIN fetch_log l ON l.feed_id = f.id WHERE f.url LIKE '%broken.xml'")
    assert broken[0][0] == "ok" and "not well-formed" in broken[0][1] and broken[0][2] >= 2


def test_second_pass_is_conditional_and_adds_nothing(ingested: tuple[Path, FeedServer]) -> None:
    """A second run sends the stored validators, gets 304s and stores no duplicate."""
    config, server = ingested
    before = db_rows(config, "SELECT count(*) FROM items")[0][0]
    result = invoke(config, "run", "--once")
    assert result.exit_code == 0
    after = db_rows(config, "SELECT count(*) FROM items")[0][0]
    assert before == after > 0
    for name in GOOD:
        second = server.seen("/" + name)[-1]
        assert "if-none-match" in second.headers or "if-modified-since" in second.headers
    statuses = db_rows(config, "SELECT status, count(*) FROM fetch_log GROUP BY status")
    assert dict(statuses)["not_modified"] >= len(GOOD)


def test_changed_feed_adds_only_the_new_item(ingested: tuple[Path, FeedServer]) -> None:
    """When a feed gains an item, only that item is new on the next pass."""
    config, server = ingested
    body = (Path(__file__).parent / "data" / "feeds" / "rss20.xml").read_text(encoding="utf-8")
    extra = """<item><title>Kabulov: Moscow ready to deepen ties with the Islamic Emirate</title>
      <link>https://tass.com/politics/1999999</link><guid>https://tass.com/politics/1999999</guid>
      <pubDate>Fri, 04 Jul 2025 10:00:00 +0300</pubDate>
      <description>Zamir Kabulov said Russia and the Taliban government will expand
      cooperation.</description></item>"""
    server.set_body("/rss20.xml", body.replace("<item>", extra + "<item>", 1).encode())
    before = db_rows(config, "SELECT count(*) FROM items")[0][0]
    result = invoke(config, "run", "--once")
    assert result.exit_code == 0
    assert db_rows(config, "SELECT count(*) FROM items")[0][0] == before + 1


def test_items_json_and_filters(ingested: tuple[Path, FeedServer]) -> None:
    """`items --json` lists kept items newest first; --topic and --lang filter them."""
    config, _ = ingested
    rows = json.loads(invoke(config, "items", "--json").output)
    assert rows and all(r["kept"] for r in rows)
    published = [r["published"] for r in rows]
    assert published == sorted(published, reverse=True)
    recognition = json.loads(invoke(config, "items", "--topic", "recognition", "--json").output)
    assert recognition and all("recognition" in r["topics"] for r in recognition)
    assert len(recognition) < len(rows)
    russian = json.loads(invoke(config, "items", "--lang", "ru", "--json").output)
    assert russian and all(r["language"] == "ru" for r in russian)
    table = invoke(config, "items", "--limit", "2")
    assert table.exit_code == 0 and len(table.output.strip().splitlines()) == 4


def test_items_formats(ingested: tuple[Path, FeedServer]) -> None:
    """jsonl gives one object per line and csv a header plus one row per item."""
    config, _ = ingested
    n = len(json.loads(invoke(config, "items", "--json").output))
    jsonl = invoke(config, "items", "--format", "jsonl").output.strip().splitlines()
    assert len(jsonl) == n and all(json.loads(line)["id"] for line in jsonl)
    csv_lines = invoke(config, "items", "--format", "csv").output.strip().splitlines()
    assert csv_lines[0].startswith("id,") and len(csv_lines) >= n + 1


def test_search_ranks_and_snippets(ingested: tuple[Path, FeedServer]) -> None:
    """`search` finds words in any field, with a highlighted snippet."""
    config, _ = ingested
    rows = json.loads(invoke(config, "search", "credentials", "--json").output)
    assert rows and "[credentials]" in rows[0]["snippet"]
    assert json.loads(invoke(config, "search", "recogni*", "--json").output)


def test_search_bad_query_is_one_line(ingested: tuple[Path, FeedServer]) -> None:
    """A malformed search query exits 1 with a one-line reason, no traceback."""
    config, _ = ingested
    for query in ['"unbalanced', "AND", "al-Qaida"]:
        result = invoke(config, "search", query)
        assert result.exit_code == 1, query
        assert result.output.startswith("Error: invalid search query"), result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_show_explains_why(ingested: tuple[Path, FeedServer]) -> None:
    """`show ID` prints the item with the topics and words that matched."""
    config, _ = ingested
    rows = json.loads(invoke(config, "search", "credentials", "--json").output)
    item_id = next(r["id"] for r in rows if r["title"].startswith("Russia recognizes"))
    out = invoke(config, "show", item_id[:8]).output
    assert "Why" in out and "topic recognition" in out and "Islamic Emirate" in out
    whole = json.loads(invoke(config, "show", item_id, "--json").output)
    assert whole["id"] == item_id and "recognition" in whole["matches"]
    assert "<script" not in whole["summary_html"]
    missing = invoke(config, "show", "zzzz")
    assert missing.exit_code == 1 and "no item" in missing.output


def test_feeds_list_and_export(ingested: tuple[Path, FeedServer], tmp_path: Path) -> None:
    """`feeds list` shows health (failures first); `feeds export` writes OPML of every feed."""
    config, server = ingested
    listing = json.loads(invoke(config, "feeds", "list", "--json").output)
    assert listing[0]["failures"] >= 1
    assert {r["url"] for r in listing} >= {server.url("/rss20.xml"), server.url("/down.xml")}
    out = tmp_path / "feeds.opml"
    assert invoke(config, "feeds", "export", "-o", str(out)).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert text.count("xmlUrl=") == len(listing)
    assert server.url("/rss20.xml") in text


def test_feeds_add_import_remove(served_feeds: FeedServer, make_config, tmp_path: Path) -> None:
    """Feeds added by hand or from OPML are polled; removing one keeps its items."""
    config = make_config([])
    url = served_feeds.url("/rss10.rdf")
    assert "added" in invoke(config, "feeds", "add", url, "--name", "Reuters").output
    assert "already there" in invoke(config, "feeds", "add", url).output
    opml = tmp_path / "subs.opml"
    opml.write_text(f"""<?xml version="1.0"?><opml version="2.0"><head/><body>
      <outline text="Afghan">
        <outline text="TASS" xmlUrl="{served_feeds.url('/rss20.xml')}"/>
      </outline>
      </body></opml>""", encoding="utf-8")
    assert "1 feeds added" in invoke(config, "feeds", "import", str(opml)).output
    assert invoke(config, "run", "--once").exit_code == 0
    before = json.loads(invoke(config, "items", "--json").output)
    assert {r["feed_name"] for r in before} == {"Reuters", "TASS"}
    assert invoke(config, "feeds", "remove", url).exit_code == 0
    assert json.loads(invoke(config, "items", "--json").output) == before
    listing = json.loads(invoke(config, "feeds", "list", "--json").output)
    assert [r["active"] for r in listing if r["url"] == url] == [False]
    bad = invoke(config, "feeds", "import", str(tmp_path / "missing.opml"))
    assert bad.exit_code != 0


def test_keep_all_stores_everything_with_scores(served_feeds: FeedServer, make_config) -> None:
    """With --keep-all every item is stored; only matching ones count as kept."""
    config = make_config([served_feeds.url("/rss091.xml")])
    assert invoke(config, "run", "--once", "--keep-all").exit_code == 0
    stored = db_rows(config, "SELECT title, kept, score FROM items")
    assert len(stored) == 3
    assert {r[0] for r in stored if not r[1]} >= {"Earthquake felt in Badakhshan province"}
    default_view = json.loads(invoke(config, "items", "--json").output)
    everything = json.loads(invoke(config, "items", "--all", "--json").output)
    assert len(default_view) < len(everything) == 3


def test_local_files_work_offline(make_config) -> None:
    """Feeds given as local paths are read from disk and ingested like any other."""
    feeds_dir = Path(__file__).parent / "data" / "feeds"
    config = make_config([str(feeds_dir / "rss20.xml"), (feeds_dir / "atom10.xml").as_uri()])
    result = invoke(config, "run", "--once")
    assert result.exit_code == 0
    assert json.loads(invoke(config, "items", "--json").output)
    assert invoke(config, "run", "--once").exit_code == 0
    statuses = [r[0] for r in db_rows(config, "SELECT status FROM fetch_log ORDER BY id")]
    assert statuses == ["ok", "ok", "not_modified", "not_modified"]
