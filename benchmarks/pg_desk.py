"""The analyst's writes on PostgreSQL beside SQLite: `rescore`, `relang`, `trends` and
`vacuum` as whole commands on the same database in both, start-up included.

    python benchmarks/pg_desk.py                     # 20,000 items, 3 runs
    python benchmarks/pg_desk.py --items 100000 --runs 5

The SQLite database is ``benchmarks/cli_latency.py``'s (``search.py``'s synthetic items with
their topics, feeds, full-text index and stories), built once and cached at ``--db``; a copy
is moved into a fresh PostgreSQL database with `mediamon migrate`, on ``MEDIAMON_TEST_PG``
or a throwaway cluster (``tests/pgcluster.py``, fsync off). Each command runs as a
subprocess on the SQLite copy, then at once on PostgreSQL (side by side, so both see the
same machine load), ``--runs`` times; the table gives each backend's median wall time, the
items per second where the command reads every item, and PostgreSQL's time as a multiple of
SQLite's. The commands change the databases as they would an analyst's (rescoring twice
gives the same verdicts; `vacuum` runs without [retention], so it only compacts).
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
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
from pg_reads import fresh_database, server_or_cluster  # noqa: E402

import pgcluster  # noqa: E402

CONFIG = REPO / "config" / "mediamon.toml"


def timed(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-800:]}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/mediamon-pg-desk.db"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cli_latency.ensure(args.db, args.items)
    server, cluster = server_or_cluster()
    work = Path(tempfile.mkdtemp(prefix="mediamon-pg-desk-"))
    try:
        copy = work / "copy.db"
        with sqlite3.connect(args.db) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        url = fresh_database(server, "mediamon_pg_desk")
        subprocess.run([sys.executable, "-m", "mediamon", "migrate", str(copy), url],
                       check=True, capture_output=True)
        with sqlite3.connect(copy) as conn:
            count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            newest = conn.execute("SELECT max(published) FROM items").fetchone()[0]
        env = {**os.environ, "NO_COLOR": "1"}
        for name in ("MEDIAMON_CONFIG", "MEDIAMON_DB"):
            env.pop(name, None)
        commands = [("rescore", ["rescore"], True), ("relang", ["relang"], True),
                    ("trends --at (the newest item)", ["trends", "--at", newest[:16]], False),
                    ("vacuum", ["vacuum"], False)]
        load = os.getloadavg()
        print(f"`python benchmarks/pg_desk.py --items {args.items} --runs {args.runs}`: "
              f"{count:,} items. Load before {load[0]:.2f} / {load[1]:.2f} / "
              f"{load[2]:.2f}.\n")
        print("| command | SQLite s | PostgreSQL s | SQLite items/s | PostgreSQL items/s "
              "| PostgreSQL / SQLite |")
        print("|---|--:|--:|--:|--:|--:|")
        for label, argv, per_item in commands:
            times: dict[str, list[float]] = {"sqlite": [], "postgres": []}
            for _ in range(args.runs):
                for name, db in (("sqlite", str(copy)), ("postgres", url)):
                    times[name].append(timed([sys.executable, "-m", "mediamon", "--config",
                                              str(CONFIG), "--db", db, *argv], env))
            a, b = (statistics.median(times[n]) for n in ("sqlite", "postgres"))
            rates = (f"{count / a:,.0f} | {count / b:,.0f}" if per_item else "- | -")
            print(f"| `{label}` | {a:.2f} | {b:.2f} | {rates} | {b / a:.2f} |", flush=True)
        load = os.getloadavg()
        print(f"\nLoad after {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
              f"{os.cpu_count()} CPUs.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            pgcluster.stop(cluster.directory)


if __name__ == "__main__":
    main()
