"""The daemon as a real process: it polls on schedule, stores items and stops cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from feedserver import FeedServer

pytestmark = pytest.mark.slow


def start_daemon(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mediamon", "--config", str(config), *extra, "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def fetch_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def test_daemon_polls_repeatedly_and_stops_on_sigterm(served_feeds: FeedServer, make_config) -> None:
    """`mediamon run` polls each feed at its interval, logs each fetch, and exits 0 on SIGTERM."""
    served_feeds.status("/down.xml", 503, headers={"Retry-After": "1"})
    config = make_config([served_feeds.url("/rss20.xml"), served_feeds.url("/down.xml")],
                         interval='"1s"')
    db = config.parent / "mediamon.db"
    proc = start_daemon(config)
    try:
        assert wait_for(lambda: len(served_feeds.seen("/rss20.xml")) >= 3), "feed not re-polled"
        assert wait_for(lambda: fetch_count(db) >= 3)
    finally:
        started = time.monotonic()
        code, err = stop(proc)
    assert code == 0, err
    assert time.monotonic() - started < 5
    assert "daemon started" in err and "stopped" in err
    assert "status=not_modified" in err  # one line per fetch, conditional after the first
    assert "status=error" in err and "HTTP 503" in err  # the failing feed did not stop it
    with sqlite3.connect(db) as conn:
        titles = [r[0] for r in conn.execute("SELECT title FROM items")]
        assert "Russia recognizes Islamic Emirate of Afghanistan, Foreign Ministry says" in titles
        assert len(titles) == len(set(titles))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_second_daemon_on_the_same_database_refuses(served_feeds: FeedServer, make_config) -> None:
    """A second daemon on the same database exits 1 with a clear message instead of double-polling."""
    config = make_config([served_feeds.url("/rss20.xml")])
    first = start_daemon(config)
    try:
        assert wait_for(lambda: fetch_count(config.parent / "mediamon.db") >= 1)
        second = subprocess.run(
            [sys.executable, "-m", "mediamon", "--config", str(config), "run"],
            capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 1
        assert "another mediamon daemon" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        code, err = stop(first)
    assert code == 0, err


def test_daemon_picks_up_feeds_added_on_sighup(served_feeds: FeedServer, make_config) -> None:
    """A feed added with `feeds add` is polled after SIGHUP, without a restart."""
    config = make_config([served_feeds.url("/rss20.xml")])
    db = config.parent / "mediamon.db"
    proc = start_daemon(config)
    try:
        assert wait_for(lambda: fetch_count(db) >= 1)
        added = subprocess.run(
            [sys.executable, "-m", "mediamon", "--config", str(config), "feeds", "add",
             served_feeds.url("/rss10.rdf")], capture_output=True, text=True, timeout=30)
        assert added.returncode == 0, added.stderr
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(served_feeds.seen("/rss10.rdf")) >= 1), "new feed not polled"
    finally:
        code, err = stop(proc)
    assert code == 0, err
