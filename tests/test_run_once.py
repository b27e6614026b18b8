"""`mediamon run --once` as a user meets it: exit codes that say what happened, a network
that is down said in one line, and Ctrl-C that still prints what was done."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import fetch_count, wait_for
from feedserver import FeedServer, Handler, config_text, rss
from mediamon.config import load_config
from mediamon.pipeline import NetworkWatch, run_once
from mediamon.store.sqlite import Store
from mediamon.types import FeedOutcome


def mediamon(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediamon", *args], capture_output=True,
                          text=True, timeout=120, **kw)  # type: ignore[call-overload]


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_exit_1_when_no_feed_could_be_fetched(tmp_path: Path) -> None:
    """Every feed failing is a failed run: the summary still lists each reason, then
    one line says nothing could be fetched, and the exit status is 1."""
    port = closed_port()
    urls = [f"http://127.0.0.1:{port}/a.xml", f"http://127.0.0.1:{port}/b.xml"]
    config = tmp_path / "m.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), urls), encoding="utf-8")
    out = mediamon("--config", str(config), "run", "--once")
    assert out.returncode == 1, out.stderr
    assert "2 feed(s) failed" in out.stdout and "connection refused" in out.stdout
    assert "no feed could be fetched" in out.stderr
    assert "Traceback" not in out.stderr


def test_exit_0_when_some_feeds_fail(feed_server: FeedServer, tmp_path: Path) -> None:
    """One broken feed among good ones is an ordinary run (exit 0): it is listed."""
    feed_server.add("/ok.xml", rss("OK", [("a", "about")]))
    urls = [feed_server.url("/ok.xml"), f"http://127.0.0.1:{closed_port()}/x.xml"]
    config = tmp_path / "m.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), urls), encoding="utf-8")
    out = mediamon("--config", str(config), "run", "--once")
    assert out.returncode == 0, out.stderr
    assert "1 feed(s) failed" in out.stdout


def test_network_down_is_said_once_when_every_feed_is_unreachable(tmp_path: Path) -> None:
    """No route to any host (this machine has no network to lose, so the transport says
    what a dead network says): one warning that the network looks down, not just a failure
    per feed."""
    urls = [f"http://feeds{n}.example/rss" for n in range(2)]
    config_path = tmp_path / "m.toml"
    config_path.write_text(config_text(str(tmp_path / "m.db"), urls), encoding="utf-8")

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 101] Network is unreachable", request=request)

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("mediamon.pipeline")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # whatever an earlier command line set
    try:
        with Store(tmp_path / "m.db") as store:
            async def go() -> list[FeedOutcome]:
                async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as c:
                    return await run_once(load_config(config_path), store, client=c)

            outcomes = asyncio.run(go())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert {o.status for o in outcomes} == {"error"}
    down = [r.getMessage() for r in records if "network looks down" in r.getMessage()]
    assert len(down) == 1


def test_network_watch_needs_several_hosts_and_forgets_on_success() -> None:
    """One unreachable host is that host's problem; three in a row with nothing fetched
    in between is the network; a success ends it (said once each way)."""
    def fail(url: str) -> FeedOutcome:
        return FeedOutcome(url, "error", error="DNS lookup failed for x: no address")

    watch = NetworkWatch()
    for _ in range(5):
        watch.observe(fail("http://a/"), "a")
    assert not watch.down
    watch.observe(fail("http://b/"), "b")
    watch.observe(FeedOutcome("http://c/", "error", error="HTTP 500"), "c")
    assert not watch.down
    watch.observe(fail("http://c/"), "c")
    assert watch.down
    watch.observe(FeedOutcome("http://d/", "ok"), "d")
    assert not watch.down
    watch.observe(fail("http://a/"), "a")
    assert not watch.down


@pytest.mark.slow
def test_ctrl_c_prints_the_partial_summary_and_keeps_what_was_committed(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """SIGINT during a long `run --once`: running passes commit, no new one starts, the
    summary of what was done is printed, exit 130, the database is sound."""
    urls = []
    for n in range(40):
        body = rss(f"Feed {n}", [(f"f{n}-i1", "about")])

        def route(h: Handler, body: bytes = body) -> None:
            if not h.stopping.wait(0.5):
                h.respond(200, {"Content-Type": "application/rss+xml"}, body)

        feed_server.add_route(f"/slow{n}.xml", route)
        urls.append(feed_server.url(f"/slow{n}.xml"))
    db = tmp_path / "m.db"
    config = tmp_path / "m.toml"
    config.write_text(config_text(str(db), urls, fetch="concurrency = 2\nper_host = 2"),
                      encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "mediamon", "--config", str(config), "run",
                             "--once"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert wait_for(lambda: fetch_count(db) >= 4), "no feed polled"
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 15
    assert "interrupted" in err and "Traceback" not in err
    done = fetch_count(db)
    assert 4 <= done < 40
    assert f"\n{done} " in out or f"{done}  " in out  # the summary counts what was done
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == done
