"""Article pages wired into the feed pass (enrich.py): fetched from a real loopback server
for the items that need them, stored with their status, used to keep, explain, search,
show, export and rescore.

The feeds and pages are written here: a teaser-only feed whose items mention one side of
the keep rule ("@russia AND @taliban") and whose articles may mention the other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedserver import FeedServer
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.core.score import ARTICLE_MARK, Scorer, score_with_article
from mediamon.core.topics import TopicSet
from mediamon.pipeline import run_once
from mediamon.store.sqlite import Store

pytest.importorskip("trafilatura", reason="needs the articles extra (trafilatura)")

HTML = "text/html; charset=utf-8"
MORE = ("A second round of talks is expected in the spring, according to people familiar "
        "with the plans, who said the venue had not been chosen and the list of topics was "
        "still being negotiated by the two foreign ministries.")
FILLER = ("The talks were held behind closed doors in a government guest house, and "
          "officials from both delegations declined to describe the agenda in detail. "
          "Observers said the meeting followed months of quiet contacts between envoys, "
          "and that trade, transit and security along the northern border were discussed.")


def article_html(headline: str, paragraphs: list[str]) -> bytes:
    """A news article page in the usual shape: navigation, an <article> with a headline
    and paragraphs, a related-links box and a footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{headline} | Example News</title>
<link rel="canonical" href="https://news.example.org/{headline.lower().replace(' ', '-')}">
<meta name="author" content="A. Reporter"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>{headline}</h1><p class="byline">By A. Reporter</p>{body}</article>
<aside><h2>Related stories</h2><ul><li><a href="/x">Markets close higher</a></li></ul></aside>
<footer>Copyright Example News</footer></body></html>""".encode()


def teaser_feed(server: FeedServer, items: list[tuple[str, str, str]]) -> bytes:
    """RSS whose items are (guid, title, teaser), each linking to /articles/<guid>."""
    parts = [f"<item><title>{title}</title><link>{server.url('/articles/' + guid)}</link>"
             f'<guid isPermaLink="false">{guid}</guid>'
             f"<pubDate>Mon, 01 Dec 2025 10:00:00 GMT</pubDate>"
             f"<description>{teaser}</description></item>" for guid, title, teaser in items]
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Teasers</title><link>https://news.example.org/</link>"
            + "".join(parts) + "</channel></rss>").encode()


def write_config(path: Path, db: Path, feeds: list[str], *, enabled: bool = True,
                 per_pass: int = 50, keep_all: bool = False, workers: int = 0) -> Path:
    feeds_toml = "".join(f'[[feeds]]\nurl = "{url}"\n' for url in feeds)
    path.write_text(f"""
[database]
path = "{db}"

[schedule]
jitter = "0s"

[fetch]
workers = {workers}

[keep]
rule = "@russia AND @taliban"
keep_all = {str(keep_all).lower()}

[articles]
enabled = {str(enabled).lower()}
per_pass = {per_pass}
timeout = "5s"

[topics.russia]
query = "Russia OR Russian OR Kremlin OR Lavrov"

[topics.taliban]
query = "Taliban* OR Muttaqi"

[topics.sport]
query = "football"

{feeds_toml}""", encoding="utf-8")
    return path


def poll(config_path: Path) -> None:
    """One ``run --once`` pass through the library (the CLI test below runs the command)."""
    config = load_config(config_path)
    with Store(config.db_path, stories=config.stories) as store:
        asyncio.run(run_once(config, store))


def page_requests(server: FeedServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/articles/")]


def rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def newsroom(feed_server: FeedServer, tmp_path: Path) -> FeedServer:
    """A feed of four teasers and their article pages:

    - ``lavrov``: the teaser names Russia only (a positive topic; not kept); its article
      names the Taliban as well: kept once the article is read.
    - ``kremlin``: the teaser names both (kept on the feed); its article adds Muttaqi.
    - ``market``: names neither (no topic): its page is never asked for.
    - ``sport``: a football teaser (a topic, but not a positive one): never asked for.
    """
    feed_server.add("/feed.xml", teaser_feed(feed_server, [
        ("lavrov", "Lavrov receives a delegation", "Russia's foreign minister met envoys."),
        ("kremlin", "Kremlin and Taliban talk trade", "Russia and the Taliban met in Kazan."),
        ("market", "Markets close higher", "Stocks rose on Monday."),
        ("sport", "Football final tonight", "The football final is sold out."),
    ]))
    feed_server.add("/articles/lavrov", article_html("Lavrov receives a delegation", [
        "Russian Foreign Minister Sergei Lavrov received a delegation in Moscow on Monday.",
        "The visitors were envoys of the Taliban government, led by Amir Khan Muttaqi, "
        "and the zanzibarite accord on transit was signed afterwards.",
        FILLER, MORE]), HTML)
    feed_server.add("/articles/kremlin", article_html("Kremlin and Taliban talk trade", [
        "Officials of the Kremlin and the Taliban discussed trade in Kazan on Monday.",
        "Amir Khan Muttaqi, the Taliban's foreign minister, led his delegation.",
        FILLER, FILLER]), HTML)
    feed_server.add("/articles/market", article_html("Markets", [FILLER, FILLER]), HTML)
    feed_server.add("/articles/sport", article_html("Football", [FILLER, FILLER]), HTML)
    return feed_server


# -- the feed pass ------------------------------------------------------------------------


def test_a_teaser_is_kept_once_its_article_is_read(newsroom: FeedServer,
                                                  tmp_path: Path) -> None:
    """An item whose teaser matches one side of the keep rule is stored as kept once its
    article, served on loopback, supplies the other, and its explanation names the article's
    terms; items with no positive topic have no page fetched."""
    db = tmp_path / "m.db"
    poll(write_config(tmp_path / "m.toml", db, [newsroom.url("/feed.xml")]))
    assert sorted(page_requests(newsroom)) == ["/articles/kremlin", "/articles/lavrov"]
    kept = dict(rows(db, "SELECT id, kept FROM items"))
    assert len(kept) == 2 and all(kept.values())
    (lavrov,) = rows(db, "SELECT items.id, explanation, topics FROM items "
                         "WHERE title LIKE 'Lavrov%'")
    why = json.loads(str(lavrov[1]))
    assert why["kept"] and why["rule_matched"]
    assert why["topics"]["taliban"] and \
        all(t.startswith(ARTICLE_MARK) for t in why["topics"]["taliban"])
    assert any(not t.startswith(ARTICLE_MARK) for t in why["topics"]["russia"])  # the teaser's
    assert rows(db, "SELECT status, matched_on, title, author FROM articles "
                    "WHERE item_id = ?", lavrov[0]) == [
        ("ok", "article", "Lavrov receives a delegation", "A Reporter")]
    # The item kept on its feed text keeps that, and gains the article's term.
    (kremlin,) = rows(db, "SELECT items.id, explanation FROM items WHERE title LIKE 'Kremlin%'")
    assert rows(db, "SELECT matched_on FROM articles WHERE item_id = ?", kremlin[0]) == \
        [("feed",)]
    assert ARTICLE_MARK + "Muttaqi" in json.loads(str(kremlin[1]))["topics"]["taliban"]


def test_a_second_pass_asks_for_no_page_again(newsroom: FeedServer, tmp_path: Path) -> None:
    """A stored article is not fetched again: the next pass requests no page."""
    config = write_config(tmp_path / "m.toml", tmp_path / "m.db", [newsroom.url("/feed.xml")])
    poll(config)
    first = len(page_requests(newsroom))
    poll(config)
    assert first == 2 and len(page_requests(newsroom)) == first


def test_disabled_fetches_no_page(newsroom: FeedServer, tmp_path: Path) -> None:
    """``[articles] enabled = false``: no page is requested, the teaser item is not kept and
    no article row exists."""
    db = tmp_path / "m.db"
    poll(write_config(tmp_path / "m.toml", db, [newsroom.url("/feed.xml")], enabled=False))
    assert page_requests(newsroom) == []
    assert [r[0] for r in rows(db, "SELECT title FROM items")] == \
        ["Kremlin and Taliban talk trade"]
    assert rows(db, "SELECT count(*) FROM articles") == [(0,)]


def kept_feed(server: FeedServer, guids: list[str]) -> None:
    """/kept.xml: one item per guid whose teaser names both sides (kept on the feed)."""
    server.add("/kept.xml", teaser_feed(server, [
        (g, f"Kremlin hosts Taliban envoys ({g})", f"Russia and the Taliban met ({g}).")
        for g in guids]))


def test_paywall_consent_and_404_pages_are_stored_with_their_status(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """Pages that give no article are stored with their status and reason; the feed pass,
    its items and the article that did work are unaffected."""
    from conftest import DATA

    kept_feed(feed_server, ["good", "paid", "cookies", "missing"])
    feed_server.add("/articles/good", article_html("Good", [
        "Officials of the Kremlin met the Taliban on Monday.", FILLER, FILLER]), HTML)
    feed_server.add("/articles/paid", (DATA / "articles" / "paywall.html").read_bytes(), HTML)
    feed_server.add("/articles/cookies", (DATA / "articles" / "cookiewall.html").read_bytes(),
                    HTML)
    db = tmp_path / "m.db"
    poll(write_config(tmp_path / "m.toml", db, [feed_server.url("/kept.xml")]))
    assert rows(db, "SELECT status, error FROM fetch_log") == [("ok", None)]
    found = {str(url).rsplit("/", 1)[-1]: (status, reason) for url, status, reason in rows(
        db, "SELECT url, status, reason FROM articles")}
    assert found["good"] == ("ok", None)
    assert found["paid"][0] == "paywall" and found["paid"][1]
    assert found["cookies"][0] == "consent" and found["cookies"][1]
    assert found["missing"][0] == "http-error" and "404" in str(found["missing"][1])
    assert rows(db, "SELECT count(*), sum(kept) FROM items") == [(4, 4)]


def test_the_budget_holds_and_deferred_pages_come_next_pass(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """``per_pass = 2``: a pass requests two pages, the others are deferred (a stored item
    gets a "deferred" row, an unstored candidate is processed again next pass), and the next
    pass fetches the rest: every page once."""
    kept_feed(feed_server, ["k1", "k2", "k3"])
    for g in ("k1", "k2", "k3"):
        feed_server.add(f"/articles/{g}", article_html(g, [
            "The Kremlin and the Taliban met.", FILLER, FILLER]), HTML)
    feed_server.add("/teaser.xml", teaser_feed(feed_server, [
        ("t1", "Lavrov receives envoys", "Russia's foreign minister met envoys.")]))
    feed_server.add("/articles/t1", article_html("Lavrov", [
        "Lavrov received envoys of the Taliban.", FILLER, FILLER]), HTML)
    db = tmp_path / "m.db"
    config = write_config(tmp_path / "m.toml", db, [feed_server.url("/kept.xml"),
                                                    feed_server.url("/teaser.xml")],
                          per_pass=2)
    poll(config)
    assert len(page_requests(feed_server)) == 2
    assert rows(db, "SELECT count(*) FROM articles WHERE status = 'ok'")[0][0] <= 2
    poll(config)  # both feeds answer "not modified" unless a candidate asked for its feed
    assert sorted(page_requests(feed_server)) == [
        "/articles/k1", "/articles/k2", "/articles/k3", "/articles/t1"]
    assert rows(db, "SELECT count(*) FROM articles WHERE status = 'ok'") == [(4,)]
    assert rows(db, "SELECT matched_on FROM articles JOIN items ON items.id = item_id "
                    "WHERE items.title LIKE 'Lavrov%'") == [("article",)]


def test_search_finds_a_word_only_the_article_has(newsroom: FeedServer,
                                                  tmp_path: Path) -> None:
    """`mediamon search` finds an item by a word that only its article contains, with the
    article's snippet; a column filter still searches the feed text alone, without error."""
    db = tmp_path / "m.db"
    config = write_config(tmp_path / "m.toml", db, [newsroom.url("/feed.xml")])
    poll(config)
    out = CliRunner().invoke(cli, ["--config", str(config), "search", "zanzibarite",
                                   "--json"])
    assert out.exit_code == 0, out.output
    found = json.loads(out.output)
    assert [r["title"] for r in found] == ["Lavrov receives a delegation"]
    assert "[zanzibarite]" in found[0]["snippet"]
    out = CliRunner().invoke(cli, ["--config", str(config), "search", "title:zanzibarite"])
    assert out.exit_code == 0, out.output
    assert "Lavrov" not in out.output
    # Words in both: each item once.
    out = CliRunner().invoke(cli, ["--config", str(config), "search", "Taliban", "--json"])
    titles = [r["title"] for r in json.loads(out.output)]
    assert sorted(titles) == ["Kremlin and Taliban talk trade", "Lavrov receives a delegation"]


def test_run_once_then_show_export_and_rescore(newsroom: FeedServer, tmp_path: Path) -> None:
    """End to end through the command line: `run --once` (a subprocess) fetches the
    articles; `show` says the item matched on its article and prints the article's first
    paragraphs (``--full``: all); `export` carries the article and `import` takes it back;
    `rescore` keeps the article-kept item because it scores the stored article too. The
    run parses and extracts in its worker processes."""
    db = tmp_path / "m.db"
    config = write_config(tmp_path / "m.toml", db, [newsroom.url("/feed.xml")], workers=1)
    done = subprocess.run([sys.executable, "-m", "mediamon", "--config", str(config), "run",
                           "--once"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (item_id,) = rows(db, "SELECT id FROM items WHERE title LIKE 'Lavrov%'")[0]
    runner = CliRunner()
    shown = runner.invoke(cli, ["--config", str(config), "show", str(item_id)[:12]])
    assert shown.exit_code == 0, shown.output
    assert "matched on:  article" in shown.output
    assert "'article:Taliban'" in shown.output
    assert "status:     ok" in shown.output
    assert "Sergei Lavrov received a delegation" in shown.output
    assert "more paragraph(s): show --full" in shown.output
    full = runner.invoke(cli, ["--config", str(config), "show", str(item_id)[:12], "--full"])
    assert "A second round of talks" not in shown.output
    assert "A second round of talks" in full.output
    assert "more paragraph(s)" not in full.output

    exported = runner.invoke(cli, ["--config", str(config), "export", "--kept-only"])
    assert exported.exit_code == 0, exported.output
    records = {r["id"]: r for r in map(json.loads, exported.output.splitlines())}
    article = records[str(item_id)]["article"]
    assert article["status"] == "ok" and article["matched_on"] == "article"
    assert "zanzibarite" in article["text"]
    copy = tmp_path / "copy.db"
    (tmp_path / "export.jsonl").write_text(exported.output, encoding="utf-8")
    imported = runner.invoke(cli, ["--db", str(copy), "import", str(tmp_path / "export.jsonl")])
    assert imported.exit_code == 0, imported.output
    again = runner.invoke(cli, ["--db", str(copy), "export", "--kept-only"])
    assert again.output == exported.output  # the round trip keeps the articles
    found = runner.invoke(cli, ["--db", str(copy), "search", "zanzibarite", "--json"])
    assert [r["id"] for r in json.loads(found.output)] == [item_id]

    rescored = runner.invoke(cli, ["--config", str(config), "rescore"])
    assert rescored.exit_code == 0, rescored.output
    assert rows(db, "SELECT kept FROM items WHERE id = ?", item_id) == [(1,)]
    assert rows(db, "SELECT matched_on FROM articles WHERE item_id = ?", item_id) == \
        [("article",)]
    why = json.loads(str(rows(db, "SELECT explanation FROM items WHERE id = ?", item_id)[0][0]))
    assert ARTICLE_MARK + "Taliban" in why["topics"]["taliban"]


# -- scoring with an article (pure) --------------------------------------------------------


def scorer(keep: str) -> Scorer:
    topics = TopicSet.compile({"russia": "Russia OR Kremlin", "taliban": "Taliban",
                               "sport": "football"}, keep)
    return Scorer(topics, None, explain_unkept=False)


def test_score_with_article_marks_the_terms_only_the_article_has() -> None:
    """Terms found in the article alone are marked ``article:``; the feed's are not, even
    when the article repeats them in another case."""
    match, on = score_with_article(scorer("@russia AND @taliban"), "Russia hosts envoys",
                                   "The Taliban and RUSSIA met. Kremlin officials spoke.")
    assert on == "article" and match.kept
    terms = {hit.topic: hit.terms for hit in match.topics}
    assert set(terms["taliban"]) == {"article:Taliban"}
    assert "Russia" in terms["russia"] and "article:Kremlin" in terms["russia"]


def test_an_article_never_unkeeps_an_item() -> None:
    """A NOT completed only by the article's words leaves the feed's verdict (kept, matched
    on the feed); an item neither text keeps has no ``matched_on``."""
    s = scorer("(@russia AND @taliban) NOT @sport")
    match, on = score_with_article(s, "Russia and the Taliban met", "Later, football.")
    assert match.kept and on == "feed"
    assert not any(t.startswith(ARTICLE_MARK) for hit in match.topics for t in hit.terms)
    match, on = score_with_article(s, "Markets rose", "Nothing else happened.")
    assert not match.kept and on is None


def test_the_prefilter_lets_article_candidates_through() -> None:
    """With ``article_candidates``, an item that may match a positive topic is scored (the
    keep rule alone would reject it unscored); one that matches no positive topic is still
    rejected."""
    plain = scorer("@russia AND @taliban")
    wide = Scorer(plain.topics, None, explain_unkept=False, article_candidates=True)
    assert plain.rejects("Russia hosts envoys") is not None
    assert wide.rejects("Russia hosts envoys") is None
    assert wide.rejects("The football final") is not None


def test_a_store_without_articles_says_once_that_it_skips_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that cannot keep articles fetches none, and says so in one log line however
    many times it is asked."""
    from mediamon import enrich

    # caplog listens at the root; an earlier CLI test in this process must not hide it.
    monkeypatch.setattr(logging.getLogger("mediamon"), "propagate", True)
    config = load_config(write_config(tmp_path / "m.toml", tmp_path / "m.db", []))
    enrich._SAID.clear()
    with caplog.at_level(logging.WARNING, logger="mediamon.enrich"):
        assert not enrich.enabled(config, object())
        assert not enrich.enabled(config, object())
    # One record emitted; a pytest that also hands it to a handler on the logger itself
    # lists the same record twice, so records are told apart by identity.
    emitted = {id(r): r for r in caplog.records if r.name == "mediamon.enrich"}
    lines = [r.getMessage() for r in emitted.values()]
    assert len(lines) == 1 and "cannot keep articles" in lines[0]


def test_an_unstored_candidate_whose_page_waits_is_read_next_pass(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """Two teasers that only their articles would keep, a budget of one page: the first
    pass keeps one; the other, not stored, is processed again by the next pass (although its
    feed has not changed) and kept then; each page is requested once."""
    feed_server.add("/teaser.xml", teaser_feed(feed_server, [
        (g, f"Lavrov receives envoys ({g})", f"Russia's foreign minister met envoys ({g}).")
        for g in ("t1", "t2")]))
    for g in ("t1", "t2"):
        feed_server.add(f"/articles/{g}", article_html(g, [
            f"Lavrov received envoys of the Taliban ({g}).", FILLER, MORE]), HTML)
    db = tmp_path / "m.db"
    config = write_config(tmp_path / "m.toml", db, [feed_server.url("/teaser.xml")],
                          per_pass=1)
    poll(config)
    assert len(page_requests(feed_server)) == 1
    assert rows(db, "SELECT count(*) FROM items WHERE kept = 1") == [(1,)]
    poll(config)
    assert sorted(page_requests(feed_server)) == ["/articles/t1", "/articles/t2"]
    assert rows(db, "SELECT count(*) FROM items WHERE kept = 1") == [(2,)]
    assert rows(db, "SELECT count(*) FROM seen") == [(2,)]
    poll(config)  # nothing left to ask for
    assert len(page_requests(feed_server)) == 2


def test_migrate_to_postgres_keeps_the_articles_searchable(
        newsroom: FeedServer, tmp_path: Path, pg_url: str) -> None:
    """`mediamon migrate` copies the article rows into PostgreSQL, where the "ok" texts are
    indexed (``articles.search``, GIN): the article-only word finds its item."""
    psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")
    db = tmp_path / "m.db"
    poll(write_config(tmp_path / "m.toml", db, [newsroom.url("/feed.xml")]))
    moved = CliRunner().invoke(cli, ["migrate", str(db), pg_url])
    assert moved.exit_code == 0, moved.output
    with psycopg.connect(pg_url) as conn:
        copied = conn.execute("SELECT item_id, status, matched_on FROM articles "
                              "ORDER BY item_id").fetchall()
        found = conn.execute(
            "SELECT items.title FROM articles JOIN items ON items.id = articles.item_id "
            "WHERE articles.search @@ plainto_tsquery(mediamon_ts_config(articles.language), "
            "'zanzibarite')").fetchall()
    assert copied == sorted(rows(db, "SELECT item_id, status, matched_on FROM articles"))
    assert found == [("Lavrov receives a delegation",)]


def test_a_page_that_says_429_holds_its_host_for_the_feeds_too(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """An article page answering 429 with Retry-After is stored as an HTTP error, holds its
    host in the database, and postpones the feeds of that host: the next pass does not ask
    for the feed."""
    kept_feed(feed_server, ["busy"])
    feed_server.status("/articles/busy", 429, {"Retry-After": "300"})
    db = tmp_path / "m.db"
    config = write_config(tmp_path / "m.toml", db, [feed_server.url("/kept.xml")])
    poll(config)
    ((status, reason),) = rows(db, "SELECT status, reason FROM articles")
    assert status == "http-error" and "429" in str(reason) and "held" in str(reason)
    ((host, until),) = rows(db, "SELECT host, wait_until FROM hosts")
    assert host == f"127.0.0.1:{feed_server.port}"
    assert rows(db, "SELECT next_fetch >= ? FROM feeds", until) == [(1,)]
    poll(config)
    assert len(feed_server.seen("/kept.xml")) == 1
    assert len(feed_server.seen("/articles/busy")) == 1


def test_search_pages_with_articles_are_exact(tmp_path: Path) -> None:
    """Every page of a search, with and without a filter, is the reference ranking: each
    item matching in its feed text or its article once, at its better bm25 rank, filtered,
    by (rank, id); with more article matches than the first look takes (so the filter
    forces the look at every match)."""
    import random

    from mediamon.core.extract import Article
    from mediamon.store.query import Filters, search

    rng = random.Random(5)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    with Store(tmp_path / "x.db") as store:
        store.db.execute("INSERT INTO feeds (url, added) VALUES ('http://f', 'x')")
        items = []
        for n in range(400):
            title = " ".join(rng.choice(words) for _ in range(4))
            items.append((f"i{n:03d}", 1, title, " ".join(rng.choice(words) for _ in range(9)),
                          "", "", "", "[]", "[]", f"2025-01-01T00:{n // 60:02d}:{n % 60:02d}",
                          1, "x", "x", f"h{n}", int(n % 7 != 0), 0.5, 0.0, "[]", "{}"))
        store.db.conn.executemany(
            "INSERT INTO items (id, feed_id, title, summary, content, summary_html, "
            "content_html, authors, categories, published, published_from_feed, first_seen, "
            "last_seen, content_hash, kept, score, similarity, topics, explanation) "
            "VALUES (" + ", ".join("?" * 19) + ")", items)
        store.db.conn.executemany(
            "INSERT INTO item_topics (item_id, topic, terms) VALUES (?, 'rare', '[]')",
            [(f"i{n:03d}",) for n in range(0, 400, 9)])
        store.index_items([r[0] for r in store.db.execute("SELECT rowid FROM items")])
        for n in range(0, 400, 1):
            if n % 4:
                text = " ".join(rng.choice(words + ["zeta"] * 3) for _ in range(30))
                store.save_article(f"i{n:03d}", Article("http://a", "ok", text=text),
                                   now=datetime(2025, 1, 2, tzinfo=UTC))
        for query in ("zeta", "alpha", "alpha OR zeta", "zeta AND beta"):
            for topic in (None, "rare"):
                expected = reference(store, query, topic)
                for limit, offset in ((10, 0), (10, 10), (7, 21), (500, 0)):
                    got = search(store, query, Filters(topic=topic, limit=limit,
                                                       offset=offset))
                    assert [r["id"] for r in got] == expected[offset:offset + limit], \
                        (query, topic, limit, offset)
                    assert all(r["snippet"] and "[" in r["snippet"] for r in got)


def reference(store: Store, query: str, topic: str | None) -> list[str]:
    """The ranking ``search`` should give, computed the plain way."""
    where = "items.kept = 1" + (" AND items.id IN (SELECT item_id FROM item_topics WHERE "
                                "topic = 'rare')" if topic else "")
    best: dict[str, float] = {}
    for item_id, rank in store.db.execute(
            "SELECT items.id, bm25(items_fts, 5.0, 2.0, 1.0) FROM items_fts JOIN items ON "
            f"items.rowid = items_fts.rowid WHERE items_fts MATCH ? AND {where}", [query]):
        best[item_id] = rank
    for item_id, rank in store.db.execute(
            "SELECT items.id, bm25(articles_fts) FROM articles_fts JOIN articles ON "
            "articles.rowid = articles_fts.rowid JOIN items ON items.id = articles.item_id "
            f"WHERE articles_fts MATCH ? AND {where}", [query]):
        best[item_id] = min(rank, best.get(item_id, rank))
    return [item_id for item_id, _ in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))]


def test_a_postgresql_pass_keeps_a_teaser_by_its_article(
        newsroom: FeedServer, tmp_path: Path, pg_url: str) -> None:
    """On PostgreSQL the same: the teaser item is stored as kept once its article is read,
    with ``article:`` terms, its article row (matched on the article) is searchable through
    its tsvector, and a second pass asks for no page again."""
    psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")
    from mediamon.store.postgres.store import PostgresStore

    config = load_config(write_config(tmp_path / "m.toml", tmp_path / "unused.db",
                                      [newsroom.url("/feed.xml")]))
    for _ in range(2):
        with PostgresStore(pg_url, stories=config.stories) as store:
            asyncio.run(run_once(config, store))
    assert sorted(page_requests(newsroom)) == ["/articles/kremlin", "/articles/lavrov"]
    with psycopg.connect(pg_url) as conn:
        kept = conn.execute("SELECT title, kept, explanation FROM items ORDER BY title"
                            ).fetchall()
        articles = conn.execute(
            "SELECT items.title, articles.status, articles.matched_on FROM articles "
            "JOIN items ON items.id = articles.item_id ORDER BY items.title").fetchall()
        found = conn.execute(
            "SELECT items.title FROM articles JOIN items ON items.id = articles.item_id "
            "WHERE articles.search @@ plainto_tsquery(mediamon_ts_config(articles.language), "
            "'zanzibarite')").fetchall()
    assert [(t, k) for t, k, _ in kept] == [("Kremlin and Taliban talk trade", 1),
                                            ("Lavrov receives a delegation", 1)]
    assert json.loads(kept[1][2])["topics"]["taliban"] == ["article:Taliban", "article:Muttaqi"]
    assert articles == [("Kremlin and Taliban talk trade", "ok", "feed"),
                        ("Lavrov receives a delegation", "ok", "article")]
    assert found == [("Lavrov receives a delegation",)]


def test_the_daemon_budget_is_whole_again_after_a_polling_interval(
        feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the daemon (passes submitted one by one, no ``run --once``), ``per_pass`` pages
    are fetched per ``schedule.interval``: a second pass at once fetches no page, one an
    interval later does."""
    from mediamon import enrich
    from mediamon.pipeline import Updater

    feed_server.add("/teaser.xml", teaser_feed(feed_server, [
        (g, f"Lavrov receives envoys ({g})", f"Russia's foreign minister met envoys ({g}).")
        for g in ("t1", "t2")]))
    for g in ("t1", "t2"):
        feed_server.add(f"/articles/{g}", article_html(g, [
            f"Lavrov received envoys of the Taliban ({g}).", FILLER, MORE]), HTML)
    config = load_config(write_config(tmp_path / "m.toml", tmp_path / "m.db",
                                      [feed_server.url("/teaser.xml")], per_pass=1))
    clock = [1000.0]
    monkeypatch.setattr(enrich.time, "monotonic", lambda: clock[0])

    async def daemon_passes(store: Store) -> list[int]:
        pages = []
        async with Updater(config, store) as updater:
            for advance in (0.0, 1.0, config.schedule.interval):
                clock[0] += advance
                (feed,) = store.feeds()
                await updater.update_feed(feed)
                pages.append(len(page_requests(feed_server)))
        return pages

    with Store(config.db_path, stories=config.stories) as store:
        store.sync_config_feeds(config.feeds, now=datetime.now(UTC))
        assert asyncio.run(daemon_passes(store)) == [1, 1, 2]
