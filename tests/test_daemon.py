"""The daemon as a real process: it polls on schedule, stores items and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import fetch_count, wait_for
from feedserver import FeedServer, Handler, config_text, rss, slow_feeds
from mediamon.clock import utcnow
from mediamon.config import load_config
from mediamon.schedule import Daemon
from mediamon.store.sqlite import Store

pytestmark = pytest.mark.slow


def start_daemon(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mediamon", "--config", str(config), *extra, "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def test_daemon_polls_repeatedly_and_stops_on_sigterm(served_feeds: FeedServer,
                                                      make_config) -> None:
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
    """A second daemon on the same database exits 1 with a clear message instead of
    double-polling."""
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


def committed(db: Path) -> dict[str, int]:
    """Feed URL -> items stored, for every feed whose pass committed."""
    with sqlite3.connect(db, timeout=10) as conn:
        done = {r[0] for r in conn.execute(
            "SELECT f.url FROM fetch_log l JOIN feeds f ON f.id = l.feed_id")}
        counts = dict(conn.execute(
            "SELECT f.url, count(i.id) FROM feeds f LEFT JOIN items i ON i.feed_id = f.id "
            "GROUP BY f.url"))
    return {url: counts.get(url, 0) for url in done} | {
        url: -n for url, n in counts.items() if url not in done and n}


def test_kill_9_mid_ingest_loses_nothing_committed_and_restart_resumes(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """kill -9 during a large ingest: each committed feed has all its items, once; a restart
    polls only the feeds that were not committed, and then every item is there once."""
    paths = slow_feeds(feed_server, count=30, items=50, delay=0.2)
    urls = [feed_server.url(p) for p in paths]
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), urls, fetch="per_host = 2",
                                  schedule='interval = "1h"'), encoding="utf-8")
    db = tmp_path / "m.db"
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "mediamon", "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert wait_for(lambda: fetch_count(db) >= 4), "nothing committed"
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(timeout=10)
    before = committed(db)
    assert 4 <= len(before) < len(urls), "the kill did not land mid-ingest"
    assert all(n == 50 for n in before.values()), before  # whole feeds only, never part
    first_requests = {u: len(feed_server.seen(p)) for u, p in zip(urls, paths, strict=True)}

    proc = subprocess.Popen([sys.executable, "-m", "mediamon", "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert wait_for(lambda: fetch_count(db) >= len(urls), timeout=40), "not resumed"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.close()
    after = committed(db)
    assert after == {url: 50 for url in urls}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT guid) FROM items").fetchone() == \
            (1500, 1500)
        assert conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0] == len(urls)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for url, path in zip(urls, paths, strict=True):
        if url in before:  # committed before the kill: not fetched again after the restart
            assert len(feed_server.seen(path)) == first_requests[url]


def test_config_changes_are_picked_up_by_the_periodic_check(tmp_path: Path) -> None:
    """Editing the config's feeds is noticed by the daemon's resync, without SIGHUP."""
    path = tmp_path / "mediamon.toml"
    db = tmp_path / "m.db"
    path.write_text(config_text(str(db), ["http://127.0.0.1:9/a.xml"]), encoding="utf-8")
    with Store(db) as store:
        daemon = Daemon(load_config(path), store, config_path=path,
                        reload=lambda: load_config(path))
        store.sync_config_feeds(daemon.config.feeds, now=utcnow())
        path.write_text(config_text(str(db), ["http://127.0.0.1:9/b.xml"]), encoding="utf-8")
        os.utime(path, (time.time() + 5, time.time() + 5))
        asyncio.run(daemon.resync())
        active = {f.url for f in store.feeds()}
    assert active == {"http://127.0.0.1:9/b.xml"}


def test_daemon_schedules_retention_daily(tmp_path: Path) -> None:
    """The daemon registers the [retention] job: once a day, the first run soon after start."""
    path = tmp_path / "mediamon.toml"
    db = tmp_path / "m.db"
    path.write_text(config_text(str(db), ["http://127.0.0.1:9/a.xml"]), encoding="utf-8")
    seen = {}

    async def main(daemon: Daemon) -> None:
        running = asyncio.get_running_loop().create_task(daemon.run())
        while daemon.scheduler.get_job("retention") is None and not running.done():
            await asyncio.sleep(0.05)
        job = daemon.scheduler.get_job("retention")
        seen["interval"] = job.trigger.interval.total_seconds()
        seen["first"] = (job.next_run_time - utcnow()).total_seconds()
        daemon.request_stop()
        await running

    with Store(db) as store:
        asyncio.run(main(Daemon(load_config(path), store, config_path=path)))
    assert seen["interval"] == 86_400 and 0 < seen["first"] <= 120



def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def parse_workers(pid: int) -> list[int]:
    """The parse workers of the daemon ``pid`` (by their process title)."""
    workers = []
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"mediamon: parse worker"):
            workers.append(child)
    return workers


def changing_feeds(server: FeedServer, count: int) -> list[str]:
    """``count`` feeds that carry a new item at every request, so every poll is parsed."""
    urls = []
    for n in range(count):
        hits = [0]

        def route(h: Handler, n: int = n, hits: list[int] = hits) -> None:
            hits[0] += 1
            body = rss(f"Feed {n}", [(f"f{n}-poll{k}", "") for k in range(hits[0])])
            h.respond(200, {"Content-Type": "application/rss+xml"}, body)

        server.add_route(f"/changing{n}.xml", route)
        urls.append(server.url(f"/changing{n}.xml"))
    return urls


def items_stored(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def daemon_with_two_workers(server: FeedServer, tmp_path: Path, *, feeds: int
                            ) -> tuple[Path, subprocess.Popen[str]]:
    """A real daemon with 2 parse workers over ``feeds`` changing feeds polled every second,
    returned once both workers are up (its database, its process)."""
    config = tmp_path / "mediamon.toml"
    db = tmp_path / "m.db"
    config.write_text(config_text(str(db), changing_feeds(server, feeds), fetch="workers = 2",
                                  feed_keys='interval = "1s"'), encoding="utf-8")
    proc = start_daemon(config)
    if not wait_for(lambda: len(parse_workers(proc.pid)) == 2):
        proc.kill()
        proc.communicate(timeout=15)
        pytest.fail("the daemon started no parse workers")
    return db, proc


def test_daemon_outlives_a_killed_parse_worker(feed_server: FeedServer, tmp_path: Path) -> None:
    """kill -9 of one of two parse workers (what the OOM killer does): the daemon logs it,
    starts new workers, keeps polling and storing, and still stops with 0 on SIGTERM."""
    db, proc = daemon_with_two_workers(feed_server, tmp_path, feeds=4)
    try:
        assert wait_for(lambda: fetch_count(db) >= 8)
        victim = parse_workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        before = items_stored(db)
        assert wait_for(lambda: items_stored(db) >= before + 12, timeout=30), \
            "no items stored after the worker died"
        assert proc.poll() is None, "the daemon stopped"
        assert victim not in parse_workers(proc.pid)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "worker died" in err
    assert "stopping" in err and err.count("stopping") == 1


def test_parse_workers_die_with_a_killed_daemon(feed_server: FeedServer, tmp_path: Path) -> None:
    """kill -9 of the daemon leaves no parse worker behind."""
    _db, proc = daemon_with_two_workers(feed_server, tmp_path, feeds=2)
    try:
        workers = parse_workers(proc.pid)
    finally:
        proc.kill()
        proc.communicate(timeout=15)

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and
                       "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
                       for pid in workers)

    assert wait_for(gone, timeout=10), "parse workers outlived the daemon"
