"""CLI latency benchmark: whole `mediamon` commands on a 1,000,000-item database, start-up
included (the time an analyst waits).

    python benchmarks/cli_latency.py                       # builds /tmp/mediamon-cli-bench.db once
    python benchmarks/cli_latency.py --items 200000 --runs 11
    python benchmarks/cli_latency.py --profile             # one run of each under -X importtime

The commands read the repository's ``config/mediamon.toml`` (its topics). The database is
built once and cached at ``--db`` (rebuilt when its item count differs):
the items, topics, feeds and full-text index of ``benchmarks/search.py``'s ``build`` (a
monitoring database: Zipf-distributed words, 8 % on the monitored story, two years of
items, 25 % kept), plus stories for every item (one to five items each, as a stream of
copies makes them), written in bulk through mediamon's own schema and then ``ANALYZE``d.

Each command runs as a real subprocess (``sys.executable -m mediamon``, and the installed
``mediamon`` script for ``--version``, not a version manager's shim), with hyperfine when
it is installed (``--warmup 2``), otherwise ``--runs`` times after two warm-up runs, with
compiled bytecode cached as an installed package has it. The table shows the median and
the slowest run in ms, and the mean CPU time (user + system) of a run: on a machine others
are using, wall time waits for a core, CPU time does not. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import search as search_bench  # benchmarks/search.py: the items


def add_stories(path: Path, seed: int = 2) -> None:
    """Put every item into a story (1-5 consecutive items of different feeds each), in
    bulk: ``story_items`` and ``stories`` rows as ``store.stories.assign`` writes them."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("DELETE FROM story_items")
    conn.execute("DELETE FROM stories")
    cur = conn.execute("SELECT id, feed_id, published, title FROM items ORDER BY published, id")
    n = 0
    members: list[tuple] = []
    stories: list[tuple] = []
    while rows := cur.fetchmany(50_000):
        i = 0
        while i < len(rows):
            size = min(rng.choice((1, 1, 1, 2, 2, 3, 5)), len(rows) - i)
            group = rows[i:i + size]
            i += size
            first_id, first_feed, first_published, title = group[0]
            story = f"s{first_id}"
            outlets = {f"outlet{feed}.example" for _, feed, _, _ in group}
            stories.append((story, first_published, first_id, f"outlet{first_feed}.example",
                            title, group[-1][2], len(group), len(outlets), first_published,
                            first_published))
            for k, (item_id, feed, published, _) in enumerate(group):
                n += 1
                members.append((n, item_id, story, f"outlet{feed}.example", n // 60,
                                rng.randbytes(160), group[0][0] if k else None,
                                0.6 if k else None, published))
        conn.executemany("INSERT INTO story_items (n, item_id, story_id, outlet, t, terms, via, "
                         "similarity, joined) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", members)
        conn.executemany("INSERT INTO stories (id, first_published, first_item_id, "
                         "first_outlet, title, last_published, items, reach, created, "
                         "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", stories)
        members.clear()
        stories.clear()
    conn.commit()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def ensure(db: Path, items: int) -> None:
    count = None
    if db.exists():
        with sqlite3.connect(db) as conn:
            count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            stories = conn.execute("SELECT count(*) FROM story_items").fetchone()[0]
        if count == items and stories == items:
            return
    print(f"building {db} with {items:,} items", file=sys.stderr, flush=True)
    began = time.perf_counter()
    search_bench.build(db, items)
    print("  adding stories", file=sys.stderr, flush=True)
    add_stories(db)
    print(f"  built in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)


def commands(db: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) of the measured commands; ``show`` and ``stories show`` take a recent
    kept item and its story."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        item = conn.execute("SELECT id FROM items WHERE kept = 1 ORDER BY published DESC "
                            "LIMIT 1").fetchone()[0]
        story = conn.execute("SELECT story_id FROM story_items WHERE item_id = ?",
                             [item]).fetchone()[0]
        newest = conn.execute("SELECT max(published) FROM items").fetchone()[0]
    # Periods end at the newest item (the database does not move with the clock).
    end = datetime.fromisoformat(newest)
    week, month = ((end - timedelta(days=d)).date().isoformat() for d in (7, 30))
    config = Path(__file__).resolve().parents[1] / "config" / "mediamon.toml"
    base = [sys.executable, "-m", "mediamon", "--config", str(config), "--db", str(db)]
    # The installed script itself, not a version manager's shim in front of it (pyenv's
    # adds a shell and a second interpreter start).
    script = str(Path(sys.executable).with_name("mediamon"))
    if not Path(script).exists():
        script = shutil.which("mediamon") or "mediamon"
    return [
        ("mediamon --version", [script, "--version"]),
        ("items", [*base, "items"]),
        ("items --topic taliban", [*base, "items", "--topic", "taliban"]),
        ("items --since (a week) --topic recognition", [*base, "items", "--since", week,
                                                        "--topic", "recognition"]),
        ("search taliban", [*base, "search", "taliban"]),
        ('search "islamic emirate" --since (a month)', [*base, "search", '"islamic emirate"',
                                                       "--since", month]),
        ("show ID", [*base, "show", item]),
        ("stories", [*base, "stories"]),
        ("stories show ID", [*base, "stories", "show", story]),
    ]


def run_plain(argv: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], float]:
    """Wall times in ms of ``runs`` runs after two warm-up runs, and their mean CPU ms."""
    times = []
    cpu = 0.0
    for k in range(runs + 2):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, check=False)
        elapsed = (time.perf_counter() - began) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
        if k >= 2:
            times.append(elapsed)
            cpu += (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return times, cpu / runs


def run_hyperfine(argv: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], float]:
    """Wall times in ms (hyperfine, ``--warmup 2``, no shell) and the mean CPU ms."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(["hyperfine", "--warmup", "2", "--runs", str(runs), "-N",
                        "--export-json", out.name, "--style", "none",
                        " ".join(_quote(a) for a in argv)],
                       check=True, env=env, capture_output=True)
        result = json.loads(Path(out.name).read_text())["results"][0]
    return [t * 1000 for t in result["times"]], (result["user"] + result["system"]) * 1000


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'" if any(c in arg for c in " \"'") else arg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/mediamon-cli-bench.db"))
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--only", help="measure only commands whose label contains this")
    parser.add_argument("--no-hyperfine", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="print -X importtime's slowest imports of each command")
    args = parser.parse_args()
    ensure(args.db, args.items)
    # The repository's default config (its topics) and the benchmark database. Compiled
    # bytecode is cached as an installed package has it (pip compiles on install), in a
    # directory of its own: with PYTHONDONTWRITEBYTECODE set, every start would compile
    # mediamon's modules from source again.
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120",
           "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "mediamon-bench-pycache")}
    for name in ("MEDIAMON_CONFIG", "MEDIAMON_DB", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    use_hyperfine = shutil.which("hyperfine") is not None and not args.no_hyperfine
    load = os.getloadavg()
    size = args.db.stat().st_size / 1e6
    print(f"`python benchmarks/cli_latency.py --items {args.items} --runs {args.runs}`: "
          f"{args.items:,} items, database {size:,.0f} MB; "
          f"{'hyperfine -N --warmup 2' if use_hyperfine else 'subprocess, 2 warm-up runs'}, "
          f"{args.runs} runs. Load before {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.\n")
    print("| command | median ms | slowest ms | CPU ms (mean) |")
    print("|---|---|---|---|")
    for label, argv in commands(args.db):
        if args.only and args.only not in label:
            continue
        if args.profile:
            done = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]]
                                  if argv[0] == sys.executable else argv,
                                  capture_output=True, env=env, check=False, text=True)
            lines = [line for line in done.stderr.splitlines() if "import time:" in line]
            lines.sort(key=lambda line: -int(line.split("|")[1]))
            print(f"{label}:", *lines[:8], sep="\n  ")
            continue
        times, cpu = (run_hyperfine if use_hyperfine else run_plain)(argv, args.runs, env)
        print(f"| `{label}` | {statistics.median(times):.0f} | {max(times):.0f} | {cpu:.0f} |",
              flush=True)
    load = os.getloadavg()
    print(f"\nMachine: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite "
          f"{sqlite3.sqlite_version}; load after {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.")


if __name__ == "__main__":
    main()
