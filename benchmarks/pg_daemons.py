"""Many daemons on one PostgreSQL database: feeds/s, items/s and duplicate polls.

    python benchmarks/pg_daemons.py                       # 10,000 feeds x 5 items; 1, 2, 4 daemons
    python benchmarks/pg_daemons.py --feeds 1000 --daemons 1,2   # a quicker run
    python benchmarks/pg_daemons.py --kill-only           # only the kill -9 scenario

For each daemon count: a fresh database on one PostgreSQL server (``MEDIAMON_TEST_PG`` or a
throwaway cluster, ``tests/pgcluster.py``), that many `mediamon run` processes started
together on one config listing every feed (polled hourly, every item stored: ``keep_all``,
so each item is full-text indexed and given its story), and the time until every feed's
pass is committed (the ``fetch_log`` rows). The feeds come from ``workload.py`` (as for
``run.py``), served by this script in a subprocess (``--serve``) that counts the requests
for each feed: a feed requested twice is a duplicate poll, and must never happen.

First, the baseline in the same run: one daemon on a SQLite file, same feeds and config.
Then the kill scenario: two daemons with a short lease; once a third of the feeds are done,
one is killed with SIGKILL. Reported: the feeds it held, how long after the kill the last
of them was committed by the other (a lease at most, plus a tick and a pass), and whether
any feed was committed twice or requested more than the killed daemon's in-flight ones.

Wall time includes each daemon's start (reading the config, syncing the feeds, forking its
parse workers). It runs on whatever else the machine is doing: `uptime` is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "tests")]


# -- the feed server (its own process) --------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    import server
    import workload

    class Counting(server.FeedServer):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, **kw)  # type: ignore[arg-type]
            self.paths: Counter[str] = Counter()

        async def respond(self, method: str, path: str, headers: dict[str, str]
                          ) -> tuple[int, dict[str, str], bytes]:
            if path == "/__paths":
                return 200, {"Content-Type": "application/json"}, json.dumps(
                    dict(self.paths)).encode()
            if path == "/__clear":
                self.paths.clear()
                return 200, {}, b""
            if not path.startswith("/__"):
                self.paths[path] += 1
            return await super().respond(method, path, headers)

    async def main() -> None:
        docs = workload.generate(args.feeds, args.items, args.seed, "default")
        app = Counting(docs, 0.0)
        servers = [await asyncio.start_server(app.handle, "127.0.0.1", 0, backlog=4096)
                   for _ in range(args.hosts)]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        urls = [f"http://127.0.0.1:{ports[i % len(ports)]}{d.path}" for i, d in enumerate(docs)]
        print(json.dumps({"urls": urls, "items": sum(d.items for d in docs),
                          "control": f"http://127.0.0.1:{ports[0]}"}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1() or stop.set())
        await stop.wait()

    asyncio.run(main())


def get_json(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else {}  # type: ignore[no-any-return]


# -- the database ----------------------------------------------------------------------------


def fresh_database(server_url: str, name: str) -> str:
    import psycopg

    from pg_fixtures import with_database

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    return with_database(server_url, name)


def scalar(url: str, sql: str, params: list[object] | None = None) -> object:
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            row = conn.execute(sql, params or []).fetchone()  # type: ignore[arg-type]
            return row[0] if row else None
    except psycopg.errors.UndefinedTable:
        return None


def write_config(directory: Path, urls: list[str], lease: str) -> Path:
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
    config = directory / "mediamon.toml"
    config.write_text(
        f'extends = "{REPO / "config" / "mediamon.toml"}"\n\n'
        f'[database]\nlease = "{lease}"\n\n'
        '[fetch]\ntimeout = "30s"\n\n'
        '[schedule]\ninterval = "1h"\njitter = "0s"\n\n'
        '[keep]\nkeep_all = true\nrule = "@russia OR @taliban OR @afghanistan"\n\n'
        + feeds, encoding="utf-8")
    return config


def start_daemon(config: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mediamon", "--config", str(config), "--db", url,
             "--log-level", "warning", "run"], stdout=subprocess.DEVNULL, stderr=out)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_done(url: str, feeds: int, timeout: float) -> float | None:
    """Seconds until ``feeds`` passes are committed (None: not within ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done = scalar(url, "SELECT count(DISTINCT feed_id) FROM fetch_log") or 0
        if int(done) >= feeds:  # type: ignore[call-overload]
            return time.monotonic() - started
        time.sleep(0.25)
    return None


# -- the scenarios ---------------------------------------------------------------------------


def run_count(args: argparse.Namespace, server: dict[str, object], pg: str, n: int,
              work: Path) -> dict[str, object]:
    urls: list[str] = server["urls"]  # type: ignore[assignment]
    control = str(server["control"])
    get_json(control + "/__clear")
    url = fresh_database(pg, f"bench_daemons_{n}")
    config = write_config(work, urls, "5m")
    started = time.monotonic()
    procs = [start_daemon(config, url, work / f"d{n}-{i}.log") for i in range(n)]
    try:
        elapsed = wait_done(url, len(urls), args.timeout)
        time.sleep(2)  # a duplicate poll would come now, if ever
    finally:
        stop(procs)
    wall = elapsed if elapsed is not None else time.monotonic() - started
    paths = get_json(control + "/__paths")
    items = int(scalar(url, "SELECT count(*) FROM items") or 0)  # type: ignore[call-overload]
    passes = int(scalar(url, "SELECT count(*) FROM fetch_log") or 0)  # type: ignore[call-overload]
    return {
        "daemons": n, "feeds": len(urls), "done": elapsed is not None,
        "seconds": round(wall, 1), "feeds_per_s": round(len(urls) / wall, 1),
        "items": items, "items_per_s": round(items / wall, 1),
        "requests": sum(paths.values()),
        "duplicate_polls": sum(c - 1 for c in paths.values() if c > 1),
        "passes_committed_twice": passes - len(urls) if passes > len(urls) else 0,
    }


def run_sqlite(args: argparse.Namespace, server: dict[str, object],
               work: Path) -> dict[str, object]:
    """The baseline, in the same run: one daemon on a SQLite file, the same feeds."""
    import sqlite3

    urls: list[str] = server["urls"]  # type: ignore[assignment]
    control = str(server["control"])
    get_json(control + "/__clear")
    db = work / "baseline.db"
    config = write_config(work, urls, "5m")
    started = time.monotonic()
    proc = start_daemon(config, str(db), work / "sqlite.log")

    def done() -> int:
        try:
            with sqlite3.connect(db, timeout=10) as conn:
                return int(conn.execute("SELECT count(DISTINCT feed_id) FROM fetch_log"
                                        ).fetchone()[0])
        except sqlite3.Error:
            return 0

    try:
        while done() < len(urls) and time.monotonic() - started < args.timeout:
            time.sleep(0.25)
        wall = time.monotonic() - started
        time.sleep(2)
    finally:
        stop([proc])
    paths = get_json(control + "/__paths")
    with sqlite3.connect(db) as conn:
        items = int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    return {
        "daemons": 1, "backend": "sqlite", "feeds": len(urls), "seconds": round(wall, 1),
        "feeds_per_s": round(len(urls) / wall, 1), "items": items,
        "items_per_s": round(items / wall, 1),
        "duplicate_polls": sum(c - 1 for c in paths.values() if c > 1),
    }


def run_kill(args: argparse.Namespace, server: dict[str, object], pg: str,
             work: Path) -> dict[str, object]:
    urls: list[str] = server["urls"]  # type: ignore[assignment]
    control = str(server["control"])
    get_json(control + "/__clear")
    url = fresh_database(pg, "bench_daemons_kill")
    config = write_config(work, urls, args.lease)
    procs = [start_daemon(config, url, work / f"kill-{i}.log") for i in range(2)]
    victim = procs[0]
    owner = f"{socket.gethostname()}:{victim.pid}"
    try:
        while int(scalar(url, "SELECT count(*) FROM fetch_log") or 0) < len(urls) // 3:  # type: ignore[call-overload]
            time.sleep(0.1)
        victim.kill()
        victim.wait()
        killed = time.monotonic()
        import psycopg

        with psycopg.connect(url) as conn:
            held = [r[0] for r in conn.execute(
                "SELECT id FROM feeds WHERE claimed_by = %s", [owner])]
        last = None
        while time.monotonic() - killed < args.timeout:
            with psycopg.connect(url) as conn:
                pending = conn.execute(
                    "SELECT count(*) FROM unnest(%s::bigint[]) AS h(id) WHERE NOT EXISTS "
                    "(SELECT 1 FROM fetch_log WHERE feed_id = h.id)", [held]).fetchone()[0]
            if pending == 0:
                last = time.monotonic() - killed
                break
            time.sleep(0.1)
        wait_done(url, len(urls), args.timeout)
        time.sleep(2)
    finally:
        stop(procs)
    paths = get_json(control + "/__paths")
    passes = int(scalar(url, "SELECT count(*) FROM fetch_log") or 0)  # type: ignore[call-overload]
    distinct = int(scalar(url, "SELECT count(DISTINCT feed_id) FROM fetch_log") or 0)  # type: ignore[call-overload]
    twice = sum(c - 1 for c in paths.values() if c > 1)
    return {
        "lease": args.lease, "feeds_held_by_the_killed_daemon": len(held),
        "seconds_until_all_taken_over": round(last, 1) if last is not None else None,
        "feeds_committed": distinct, "passes_committed_twice": passes - distinct,
        "requests_twice": twice, "requests_twice_outside_held": max(0, twice - len(held)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--daemons", default="1,2,4", help="daemon counts, comma-separated")
    parser.add_argument("--lease", default="10s", help="the lease of the kill scenario")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--kill-only", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the one-daemon SQLite run the others compare with")
    parser.add_argument("--keep-logs", metavar="DIR", help="write the daemons' logs here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    import pgcluster

    cluster = None
    pg = os.environ.get("MEDIAMON_TEST_PG")
    if not pg:
        cluster = pgcluster.start()
        pg = cluster.url
    feeder = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(args.feeds), "--items",
         str(args.items), "--seed", str(args.seed), "--hosts", str(args.hosts)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert feeder.stdout is not None
        server = json.loads(feeder.stdout.readline())
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        with tempfile.TemporaryDirectory(prefix="mediamon-pg-bench-") as tmp:
            work = Path(args.keep_logs or tmp)
            work.mkdir(parents=True, exist_ok=True)
            if not args.kill_only and not args.no_baseline:
                print(json.dumps(run_sqlite(args, server, work)), flush=True)
            if not args.kill_only:
                for n in (int(x) for x in args.daemons.split(",")):
                    print(json.dumps(run_count(args, server, pg, n, work)), flush=True)
            if not args.no_kill:
                print(json.dumps({"kill": run_kill(args, server, pg, work)}), flush=True)
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    finally:
        feeder.terminate()
        feeder.wait()
        if cluster is not None:
            pgcluster.stop(cluster.directory)


if __name__ == "__main__":
    main()
