"""The analyst's commands on PostgreSQL beside SQLite: whole `mediamon` commands on the same
database in both, start-up included (the time an analyst waits).

    python benchmarks/pg_reads.py                     # 100,000 items
    python benchmarks/pg_reads.py --items 20000 --runs 5

The SQLite database is ``benchmarks/cli_latency.py``'s (``search.py``'s synthetic monitoring
items, their topics, feeds, full-text index and stories), built once and cached at ``--db``;
it is moved into a fresh PostgreSQL database with `mediamon migrate` (which checks the copy),
on ``MEDIAMON_TEST_PG`` or a throwaway cluster (``tests/pgcluster.py``, fsync off), then
``ANALYZE``d. Each command of ``cli_latency.commands`` (and `stats`, `report`, `export`) runs
as a real subprocess on SQLite, then at once on PostgreSQL (side by side, so both see the
same machine load), ``--runs`` times after two warm-up runs (hyperfine when installed). The
table shows each backend's median wall time and PostgreSQL's as a multiple of SQLite's.
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "tests")]

import cli_latency  # noqa: E402

import pgcluster  # noqa: E402


def server_or_cluster() -> tuple[str, pgcluster.Cluster | None]:
    """The PostgreSQL server to measure on: ``MEDIAMON_TEST_PG``, else a throwaway cluster
    started here (returned too, for the caller to stop)."""
    server = os.environ.get("MEDIAMON_TEST_PG")
    if server:
        return server, None
    cluster = pgcluster.start()
    return cluster.url, cluster


def fresh_database(server: str, name: str) -> str:
    import psycopg

    from pg_fixtures import with_database

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    return with_database(server, name)


def in_process(sqlite_path: Path, url: str, runs: int) -> None:
    """The reading functions the commands call, timed inside one process on both stores
    (start-up, config and output left out): median ms of ``runs`` after one warm-up."""
    from datetime import UTC, datetime, timedelta

    from mediamon.desk.stats import collect
    from mediamon.store import query
    from mediamon.store.postgres.read import PostgresReader
    from mediamon.store.sqlite import Store

    with Store(sqlite_path, readonly=True) as lite, PostgresReader(url, readonly=True) as pg:
        newest = datetime.fromisoformat(query.items(lite, query.Filters(limit=1))[0]
                                        ["published"])
        month = newest - timedelta(days=30)
        now = datetime.now(UTC)
        calls = [
            ("items", lambda s: query.items(s, query.Filters())),
            ("items --topic taliban", lambda s: query.items(s, query.Filters(topic="taliban"))),
            ("search taliban", lambda s: query.search(s, "taliban", query.Filters())),
            ('search "islamic emirate" --since (a month)',
             lambda s: query.search(s, '"islamic emirate"', query.Filters(since=month))),
            ("stories", lambda s: s.list_stories(limit=50)),
            ("stats (60 days by day)", lambda s: collect(s, now=now, since=newest
                                                          - timedelta(days=60), until=newest,
                                                          by="day")),
        ]
        print("\nIn one process (the store's reading only):\n")
        print("| call | SQLite median ms | PostgreSQL median ms | PostgreSQL / SQLite |")
        print("|---|--:|--:|--:|")
        for label, call in calls:
            medians = []
            for store in (lite, pg):
                call(store)
                times = []
                for _ in range(runs):
                    began = time.perf_counter()
                    call(store)
                    times.append((time.perf_counter() - began) * 1000)
                medians.append(statistics.median(times))
            a, b = medians
            print(f"| `{label}` | {a:.1f} | {b:.1f} | {b / a:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/mediamon-pg-reads.db"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-hyperfine", action="store_true")
    args = parser.parse_args()
    cli_latency.ensure(args.db, args.items)
    server, cluster = server_or_cluster()
    try:
        url = fresh_database(server, "mediamon_pg_reads")
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mediamon", "migrate", str(args.db), url],
                       check=True, capture_output=True)
        moved = time.perf_counter() - began
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120",
               "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir())
                                          / "mediamon-bench-pycache")}
        for name in ("MEDIAMON_CONFIG", "MEDIAMON_DB", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        hyperfine = shutil.which("hyperfine") is not None and not args.no_hyperfine
        measure = cli_latency.run_hyperfine if hyperfine else cli_latency.run_plain
        load = os.getloadavg()
        print(f"`python benchmarks/pg_reads.py --items {args.items} --runs {args.runs}`: "
              f"{args.items:,} items; `migrate` into PostgreSQL took {moved:.0f} s; "
              f"{'hyperfine -N --warmup 2' if hyperfine else 'subprocess, 2 warm-up runs'}. "
              f"Load before {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.\n")
        print("| command | SQLite median ms | PostgreSQL median ms | PostgreSQL / SQLite |")
        print("|---|--:|--:|--:|")
        measured = [(label, argv) for label, argv in cli_latency.commands(args.db)
                    if label != "mediamon --version"]
        base = measured[1][1][:measured[1][1].index("items")]
        measured += [("stats --since 60d", [*base, "stats", "--since", "60d"]),
                     ("report --since 14d", [*base, "report", "--since", "14d"]),
                     ("export --since 14d", [*base, "export", "--since", "14d"])]
        for label, argv in measured:
            at = argv.index("--db") + 1
            on_pg = [*argv[:at], url, *argv[at + 1:]]
            lite, _ = measure(argv, args.runs, env)
            pg, _ = measure(on_pg, args.runs, env)
            a, b = statistics.median(lite), statistics.median(pg)
            print(f"| `{label}` | {a:.0f} | {b:.0f} | {b / a:.2f} |", flush=True)
        in_process(args.db, url, args.runs)
        load = os.getloadavg()
        print(f"\nLoad after {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
              f"{os.cpu_count()} CPUs.")
    finally:
        if cluster is not None:
            pgcluster.stop(cluster.directory)


if __name__ == "__main__":
    main()
