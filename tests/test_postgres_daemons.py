"""Many daemons, one PostgreSQL database: real `mediamon run` processes share the feeds of a
loopback server that counts the requests for each feed.

No feed is polled twice in one interval, whichever daemon takes it; a daemon killed with
SIGKILL mid-pass leaves its claimed feeds to the others once its lease runs out, and every
feed is then stored once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")

from conftest import wait_for  # noqa: E402
from feedserver import FeedServer, config_text, slow_feeds  # noqa: E402

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, urls: list[str], *, lease: str = "5m") -> Path:
    """Feeds polled hourly; each daemon takes at most 8 at a time (concurrency 2)."""
    config = tmp_path / "mediamon.toml"
    text = config_text(str(tmp_path / "unused.db"), urls, fetch="concurrency = 2\n"
                       "per_host = 2\nworkers = 0", schedule='interval = "1h"')
    config.write_text(text.replace(f'path = "{tmp_path / "unused.db"}"',
                                   f'lease = "{lease}"'), encoding="utf-8")
    return config


def start(config: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mediamon", "--config", str(config), "--db", url, "run"],
            stdout=subprocess.DEVNULL, stderr=out)


def passes(url: str) -> Counter[str]:
    """Feed URL -> passes committed (fetch_log rows); empty before the schema exists."""
    try:
        with psycopg.connect(url) as conn:
            return Counter(r[0] for r in conn.execute(
                "SELECT f.url FROM fetch_log l JOIN feeds f ON f.id = l.feed_id"))
    except psycopg.errors.UndefinedTable:
        return Counter()


def stop_all(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    return [proc.wait(timeout=30) for proc in procs]


def test_three_daemons_share_the_feeds_and_poll_none_twice(
        feed_server: FeedServer, pg_url: str, tmp_path: Path) -> None:
    """Three `mediamon run` on one database: every feed is polled exactly once (counted at
    the server), each pass is stored once, and the work is spread over the daemons."""
    paths = slow_feeds(feed_server, prefix="/feed", count=60, items=3, delay=0.2)
    urls = [feed_server.url(p) for p in paths]
    config = write_config(tmp_path, urls)
    logs = [tmp_path / f"daemon{i}.log" for i in range(3)]
    procs = [start(config, pg_url, log) for log in logs]
    try:
        assert wait_for(lambda: sum(passes(pg_url).values()) >= len(urls), timeout=90), \
            "not every feed was polled"
        # Longer than a tick and a pass: any second poll would have been made by now.
        wait_for(lambda: False, timeout=3)
    finally:
        codes = stop_all(procs)
    assert codes == [0, 0, 0], [log.read_text()[-2000:] for log in logs]
    requests = Counter(p for p in paths for _ in feed_server.seen(p))
    assert requests == Counter({p: 1 for p in paths})  # duplicates at the server: none
    assert passes(pg_url) == Counter({u: 1 for u in urls})
    fetched_by = [log.read_text().count(" fetch ") for log in logs]
    assert sum(fetched_by) == len(urls)
    assert sum(1 for n in fetched_by if n) >= 2, fetched_by  # shared, not one daemon's
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT guid) FROM items").fetchone() == \
            (180, 180)
        assert conn.execute("SELECT count(*) FROM feeds WHERE claimed_by IS NOT NULL"
                            ).fetchone()[0] == 0  # every claim ended with its pass


def test_a_killed_daemons_feeds_are_taken_over_after_its_lease(
        feed_server: FeedServer, pg_url: str, tmp_path: Path) -> None:
    """kill -9 of a daemon mid-pass: the feeds it held are polled by another daemon once
    their lease has run out (not before), every feed is stored once with all its items,
    and only the feeds the killed daemon was polling are requested a second time."""
    paths = slow_feeds(feed_server, prefix="/feed", count=24, items=5, delay=1.0)
    urls = [feed_server.url(p) for p in paths]
    config = write_config(tmp_path, urls, lease="4s")
    first = start(config, pg_url, tmp_path / "first.log")
    owner = f"{socket.gethostname()}:{first.pid}"
    try:
        assert wait_for(lambda: sum(passes(pg_url).values()) >= 2, timeout=60), \
            (tmp_path / "first.log").read_text()[-2000:]
    finally:
        first.kill()  # SIGKILL: no cleanup of any kind
        first.wait(timeout=10)
    with psycopg.connect(pg_url) as conn:
        orphans = dict(conn.execute(
            "SELECT url, claimed_until FROM feeds WHERE claimed_by = %s", [owner]).fetchall())
    done_before = set(passes(pg_url))
    assert orphans, "the killed daemon held no feed"
    assert len(done_before) < len(urls), "the kill did not land mid-ingest"

    second = start(config, pg_url, tmp_path / "second.log")
    try:
        assert wait_for(lambda: len(passes(pg_url)) >= len(urls), timeout=90), \
            (tmp_path / "second.log").read_text()[-2000:]
    finally:
        assert stop_all([second]) == [0]
    assert passes(pg_url) == Counter({u: 1 for u in urls})  # nothing lost, nothing twice
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT guid) FROM items").fetchone() == \
            (120, 120)
        started = dict(conn.execute(
            "SELECT f.url, l.started FROM fetch_log l JOIN feeds f ON f.id = l.feed_id "
            "WHERE f.url = ANY(%s)", [list(orphans)]).fetchall())
    for url, until in orphans.items():  # taken over only once the lease had run out
        assert datetime.fromisoformat(started[url]) >= until.replace(microsecond=0), url
    for path, url in zip(paths, urls, strict=True):
        allowed = 2 if url in orphans else 1
        assert 1 <= len(feed_server.seen(path)) <= allowed, (url, len(feed_server.seen(path)))
    assert os.path.exists(tmp_path / "second.log")


def test_a_daemon_stopped_cleanly_releases_what_it_had_queued(
        feed_server: FeedServer, pg_url: str, tmp_path: Path) -> None:
    """SIGTERM mid-ingest: the daemon exits 0 and holds no feed any more (the feeds it had
    claimed but not polled are due for the others at once, not when the lease runs out)."""
    paths = slow_feeds(feed_server, prefix="/feed", count=20, items=2, delay=1.0)
    config = write_config(tmp_path, [feed_server.url(p) for p in paths], lease="10m")
    proc = start(config, pg_url, tmp_path / "daemon.log")
    owner = f"{socket.gethostname()}:{proc.pid}"

    def claimed() -> int:
        try:
            with psycopg.connect(pg_url) as conn:
                return conn.execute("SELECT count(*) FROM feeds WHERE claimed_by = %s",
                                    [owner]).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0

    try:
        assert wait_for(lambda: claimed() >= 4, timeout=60), \
            (tmp_path / "daemon.log").read_text()[-2000:]
    finally:
        assert stop_all([proc]) == [0]
    assert claimed() == 0
    assert len(passes(pg_url)) < len(paths)  # it stopped mid-ingest
