"""One feed never hurts another: every kind of server misbehaviour becomes a one-line error on
its own feed, while the healthy feeds of the same run are stored in full."""

from __future__ import annotations

import asyncio
import json
import socket
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, config_text, rss
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.pipeline import run_once
from mediamon.store.sqlite import Store

GOOD = {f"/good{n}.xml": [(f"g{n}-{k}", "") for k in range(5)] for n in range(4)}
FEED = rss("Feed", [(f"x{k}", "") for k in range(40)])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def faulty_routes(bad: FeedServer, good: FeedServer) -> dict[str, str]:
    """Serve every fault on ``bad``; returns path -> the start of the expected error."""
    bad.status("/e500.xml", 500)
    bad.status("/e503.xml", 503)
    bad.redirect("/loop-a.xml", "/loop-b.xml")
    bad.redirect("/loop-b.xml", "/loop-a.xml")
    bad.slow("/slow.xml", FEED, delay_per_chunk=0.3, chunks=20)
    bad.stall("/stall.xml")
    bad.huge("/huge.xml", 50_000_000)
    bad.gzip_bomb("/bomb.xml", 100_000_000)
    bad.close_mid_body("/midclose.xml", FEED)
    page = (f'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" '
            f'href="{good.url("/good0.xml")}"></head><body>News</body></html>').encode()
    bad.add("/page.html", page, content_type="text/html")
    bad.add("/empty.xml", b"")
    bad.add("/text.xml", b"Service temporarily moved, sorry.", content_type="text/plain")
    broken = zlib.compress(FEED)  # zlib is not gzip
    bad.add_route("/badgzip.xml", lambda h: h.respond(
        200, {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}, broken))
    return {
        "/e500.xml": "HTTP 500 Internal Server Error",
        "/e503.xml": "HTTP 503 Service Unavailable",
        "/loop-a.xml": "redirect loop: ",
        "/slow.xml": "timed out after 2.0 s reading the body",
        "/stall.xml": "timed out",
        "/huge.xml": "response larger than 200.0 kB cap",
        "/bomb.xml": "response larger than 200.0 kB cap",
        "/midclose.xml": "server closed the connection mid-body",
        "/page.html": f"an HTML page, not a feed (it links to a feed at {good.url('/good0.xml')})",
        "/empty.xml": "empty response body",
        "/text.xml": "not a feed (the body is neither XML nor JSON)",
        "/badgzip.xml": "could not decode gzip body",
    }


def usable_routes(bad: FeedServer) -> dict[str, str | None]:
    """Imperfect feeds that still give items: path -> the start of the expected warning."""
    whole = rss("Cut", [(f"t{k}", "") for k in range(3)]).decode()
    bad.add("/truncated.xml", whole[: whole.index("<item>", whole.index("t1<")) + 30].encode())
    bad.add("/wrongtype.xml", rss("W", [("w1", "")]), content_type="text/plain")
    bad.add_route("/notype.xml", lambda h: h.respond(200, {}, rss("N", [("n1", "")])))
    latin = rss("L", [("l1", "")]).replace(b"About l1", "Café l1".encode("latin-1"))
    bad.add("/badenc.xml", latin, content_type="application/rss+xml; charset=utf-8")
    return {"/truncated.xml": "not well-formed XML", "/wrongtype.xml": None,
            "/notype.xml": None, "/badenc.xml": None}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory):
    """One `run --once` over 4 good feeds (one host) and every fault (another host)."""
    tmp_path = tmp_path_factory.mktemp("faults")
    with FeedServer() as good, FeedServer() as bad:
        for path, items in GOOD.items():
            good.add(path, rss(path, items))
        errors = faulty_routes(bad, good)
        usable = usable_routes(bad)
        extra = {"gone": bad.url("/gone.xml"),
                 "tls": f"https://127.0.0.1:{bad.port}/tls.xml",
                 "refused": f"http://127.0.0.1:{closed_port()}/feed.xml"}
        bad.status("/gone.xml", 410)
        urls = ([good.url(p) for p in GOOD] + [bad.url(p) for p in errors]
                + [bad.url(p) for p in usable] + list(extra.values()))
        config_path = tmp_path / "mediamon.toml"
        config_path.write_text(config_text(
            str(tmp_path / "m.db"), urls,
            fetch='timeout = "2s"\nmax_bytes = "200KB"\nper_host = 8'), encoding="utf-8")
        config = load_config(config_path)
        with Store(config.db_path) as store:
            outcomes = {o.url: o for o in asyncio.run(run_once(config, store))}
            yield good, bad, errors, usable, extra, outcomes, store, config_path


def test_every_fault_is_a_one_line_error_on_its_feed(fault_run) -> None:
    """Each faulty feed fails with its own one-line reason, recorded on its row."""
    _good, bad, errors, _usable, extra, outcomes, store, _ = fault_run
    for path, reason in errors.items():
        outcome = outcomes[bad.url(path)]
        assert outcome.status == "error", path
        assert outcome.error is not None and outcome.error.startswith(reason), (path, outcome)
        assert "\n" not in outcome.error
        row = store.find_feed(bad.url(path))
        assert row is not None and row.last_error == outcome.error and row.failures == 1
        assert row.next_reason and row.next_reason.startswith("backoff after 1 failure")
    assert outcomes[extra["tls"]].error == "TLS error: WRONG_VERSION_NUMBER"
    assert outcomes[extra["refused"]].error == "connection refused"
    assert outcomes[extra["gone"]].status == "gone"


def test_healthy_feeds_are_stored_in_full_beside_the_faults(fault_run) -> None:
    """The healthy feeds' items are all there, and the usable imperfect ones gave theirs."""
    _good, bad, _errors, usable, _extra, outcomes, store, _ = fault_run
    stored = {r[0] for r in store.db.execute("SELECT guid FROM items")}
    assert {guid for items in GOOD.values() for guid, _ in items} <= stored
    for path, warning in usable.items():
        outcome = outcomes[bad.url(path)]
        assert outcome.status == "ok" and outcome.new_items >= 1, (path, outcome)
        assert (outcome.warning or "").startswith(warning or ""), (path, outcome.warning)
    assert {"t0", "w1", "n1", "l1"} <= stored


def test_status_lists_troubled_feeds_first_with_their_reasons(fault_run) -> None:
    """`status --json` puts gone and failing feeds before healthy ones, each with why."""
    _good, _bad, errors, _usable, _extra, _outcomes, _store, config_path = fault_run
    result = CliRunner().invoke(cli, ["--config", str(config_path), "status", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    health = [r["health"] for r in rows]
    assert health[0] == "gone" and health[-1] == "ok"
    assert health == sorted(health, key=["gone", "dead", "failing", "ok"].index)
    failing = [r for r in rows if r["health"] == "failing"]
    assert len(failing) == len(errors) + 2  # + the TLS and refused feeds
    for row in rows:
        assert row["next_reason"] and ("last_error" in row) and ("poll_interval" in row)
        assert "items_last_day" in row and "next_fetch" in row and "last_success" in row
    table = CliRunner().invoke(cli, ["--config", str(config_path), "status"])
    assert table.exit_code == 0 and "health" in table.output and "why" in table.output


def test_feeds_add_on_a_web_page_subscribes_to_the_feed_it_links(tmp_path: Path,
                                                                  feed_server: FeedServer
                                                                  ) -> None:
    """`feeds add SITE_URL` fetches the page and adds the feed it advertises; a page that
    advertises none is refused."""
    feed_server.add("/feed.xml", rss("F", [("a", "")]))
    feed_server.add("/site", b'<html><head><link rel="alternate" type="application/atom+xml" '
                             b'href="/feed.xml"></head><body>hi</body></html>',
                    content_type="text/html")
    feed_server.add("/plain", b"<html><body>no feeds here</body></html>",
                    content_type="text/html")
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), []), encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(cli, ["--config", str(config), "feeds", "add",
                                feed_server.url("/site")])
    assert added.exit_code == 0, added.output
    assert f"added {feed_server.url('/feed.xml')}" in added.output
    direct = runner.invoke(cli, ["--config", str(config), "feeds", "add",
                                 feed_server.url("/feed.xml")])
    assert "already there" in direct.output
    refused = runner.invoke(cli, ["--config", str(config), "feeds", "add",
                                  feed_server.url("/plain")])
    assert refused.exit_code == 1
    assert "the page links to none" in refused.output
