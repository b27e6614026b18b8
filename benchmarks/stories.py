"""Story assignment benchmark: how long grouping takes, and whether it slows
down as the store grows.

    python benchmarks/stories.py                      # quick default: a few minutes
    python benchmarks/stories.py --full               # 100,000 items; store 10k -> 1M (~40 min)
    python benchmarks/stories.py --assign 50000 --sizes 10000,100000 --repeat 3

Two measurements, on a real SQLite file (WAL, as mediamon opens it), through the same code
``save_feed_pass`` runs (``story_store.assign``), 100 items per transaction like a feed pass:

1. **assign N**: put N items into stories, starting from an empty store. Reported as the
   median wall time over ``--repeat`` runs (a fresh database each time).
2. **growth**: for each store size S, the store is first filled with S items (fingerprints
   and band rows written in bulk, not timed), then ``--batch`` more items are assigned and
   timed in transactions of 100; reported as the median and 90th percentile time per item
   over those transactions, with how many candidates each item was compared with.

Items are synthetic but shaped like a news stream: headline (8 words) + summary (30 words)
drawn from a Zipf-distributed vocabulary of 30,000 made-up words, arriving at ``--rate``
items per day; 60 % are copies of a story from the last two days with a quarter of their
words changed (reprints and rewrites), the rest start a new story. Arrival rate, not store
size, decides how many items share the time window, so the per-item cost should stay flat
as the store grows; only the B-tree depth of the band index grows (logarithmically).

3. **workload** (``--workload SHAPE``): the items ``benchmarks/workload.py`` makes for that
   shape (500 feeds x 50 items; ``wire``: 30 % topical, mostly five agency texts copied
   word for word across feeds) are parsed, normalised and scored by ``process_body`` with
   the default config, and the kept ones are assigned in feed order, 100 per transaction,
   through this code and through ``store/stories.py`` of ``--baseline-rev`` (git), side by
   side in the same run, ``--repeat`` times each (alternating). Reported: time per item,
   CPU time per item, candidates compared exactly (mean and max) and the stories formed.

Nothing is fetched; everything stays in a temporary directory.
"""

from __future__ import annotations

import argparse
import bisect
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mediamon.core.stories import StorySettings, fingerprint, minutes, pack_terms, story_id_for
from mediamon.store.stories import assign, create_schema

START = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = StorySettings()


@dataclass(frozen=True)
class Synthetic:
    id: str
    title: str
    summary: str
    published: datetime
    outlet: str
    truth: int  # the generator's story number


class Stream:
    """A deterministic stream of synthetic news items (see the module docstring)."""

    def __init__(self, *, rate: float, seed: int = 1, vocabulary: int = 30_000,
                 copy_share: float = 0.6) -> None:
        self.rng = random.Random(seed)
        syllables = ["ka", "ro", "mi", "tal", "ban", "mos", "sha", "dor", "ni", "ve", "lu",
                     "zan", "kor", "pe", "ti", "gra", "ul", "fen", "sto", "ar", "qi", "bel"]
        words: set[str] = set()
        while len(words) < vocabulary:
            words.add("".join(self.rng.choices(syllables, k=self.rng.randint(2, 4))))
        self.words = sorted(words)
        self.rng.shuffle(self.words)
        weights = [1 / (rank + 20) for rank in range(vocabulary)]
        self.cum = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        self.total = total
        self.step = timedelta(seconds=86400 / rate)
        self.copy_share = copy_share
        self.recent: list[tuple[datetime, int, list[str]]] = []  # stories of the last 2 days
        self.n = 0
        self.stories = 0
        self.outlets = [f"outlet{i}.example" for i in range(60)]

    def _draw(self, k: int) -> list[str]:
        cum, total, rng, words = self.cum, self.total, self.rng, self.words
        return [words[bisect.bisect(cum, rng.random() * total)] for _ in range(k)]

    def __iter__(self) -> Iterator[Synthetic]:
        return self

    def __next__(self) -> Synthetic:
        now = START + self.step * self.n
        self.n += 1
        while self.recent and self.recent[0][0] < now - timedelta(days=2):
            self.recent.pop(0)
        if self.recent and self.rng.random() < self.copy_share:
            _, story, text = self.rng.choice(self.recent)
            text = [w if self.rng.random() > 0.25 else self._draw(1)[0] for w in text]
        else:
            story, text = self.stories, self._draw(38)
            self.stories += 1
            self.recent.append((now, story, text))
        return Synthetic(f"{self.n:016x}", " ".join(text[:8]), " ".join(text[8:]), now,
                         self.rng.choice(self.outlets), story)


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    create_schema(conn)
    return conn


def assign_batch(conn: sqlite3.Connection, batch: list[Synthetic]) -> list[int]:
    """One transaction, like one feed pass; returns the candidates compared per item."""
    compared = []
    conn.execute("BEGIN IMMEDIATE")
    for item in batch:
        decision = assign(conn, item_id=item.id, title=item.title, summary=item.summary,
                          published=item.published, outlet=item.outlet, settings=SETTINGS,
                          stamp="2026-01-01T00:00:00+00:00")
        compared.append(decision.compared)
    conn.execute("COMMIT")
    return compared


def bench_assign(count: int, rate: float, repeat: int, tmp: Path) -> dict[str, float]:
    times = []
    joined = 0
    for run in range(repeat):
        path = tmp / f"assign{run}.db"
        conn = open_db(path)
        items = list(_take(Stream(rate=rate, seed=run + 1), count))
        started = time.perf_counter()
        for start in range(0, count, 100):
            assign_batch(conn, items[start : start + 100])
        times.append(time.perf_counter() - started)
        stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
        joined = count - stories
        conn.close()
        path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    median = statistics.median(times)
    return {"items": count, "median_s": median, "min_s": min(times), "max_s": max(times),
            "per_item_us": median / count * 1e6, "joined": joined}


def _take(stream: Stream, count: int) -> Iterator[Synthetic]:
    for _ in range(count):
        yield next(stream)


def fill(conn: sqlite3.Connection, stream: Stream, size: int) -> float:
    """Write ``size`` items' story rows in bulk (each its generator story), untimed."""
    started = time.perf_counter()
    conn.execute("BEGIN")
    rows, bands = [], []
    n = conn.execute("SELECT coalesce(max(n), 0) FROM story_items").fetchone()[0]
    for _ in range(size):
        item = next(stream)
        n += 1
        fp = fingerprint(item.title, item.summary, SETTINGS)
        t = minutes(item.published)
        story = story_id_for(f"truth{item.truth}")
        rows.append((n, item.id, story, item.outlet, t, pack_terms(fp.terms), "fill"))
        bands.extend((key, t, n) for key in fp.bands)
        if len(rows) >= 20_000:
            _flush(conn, rows, bands)
    _flush(conn, rows, bands)
    conn.execute("COMMIT")
    # Write the bulk fill back to the database now, so no timed batch pays for it.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


def _flush(conn: sqlite3.Connection, rows: list[tuple], bands: list[tuple]) -> None:
    conn.executemany("INSERT INTO story_items (n, item_id, story_id, outlet, t, terms, joined) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT OR IGNORE INTO story_bands (key, t, n) VALUES (?, ?, ?)", bands)
    conn.executemany(
        "INSERT OR IGNORE INTO stories (id, first_published, first_item_id, first_outlet, "
        "title, last_published, items, reach, created, updated) "
        "VALUES (?, '2025', ?, ?, '', '2025', 1, 1, '', '')",
        [(r[2], r[1], r[3]) for r in rows])
    rows.clear()
    bands.clear()


def bench_growth(sizes: list[int], batch: int, rate: float, tmp: Path) -> list[dict[str, float]]:
    """One store grown through ``sizes``; after each fill, time ``batch`` new items."""
    path = tmp / "growth.db"
    conn = open_db(path)
    stream = Stream(rate=rate, seed=7)
    results = []
    stored = 0
    for size in sorted(sizes):
        fill_s = fill(conn, stream, size - stored)
        per_item, compared = [], []
        for _ in range(0, batch, 100):
            items = list(_take(stream, 100))
            started = time.perf_counter()
            compared += assign_batch(conn, items)
            per_item.append((time.perf_counter() - started) / len(items))
        stored = size + batch
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        per_item.sort()
        results.append({
            "store": size, "fill_s": fill_s,
            "median_us": statistics.median(per_item) * 1e6,
            "p90_us": per_item[int(len(per_item) * 0.9)] * 1e6,
            "compared": statistics.mean(compared),
            "window_items": 2 * SETTINGS.window / 86400 * rate,
            "db_mb": path.stat().st_size / 1e6,
        })
        print(f"  store {size:>9,}: {results[-1]['median_us']:7.0f} us/item median "
              f"(p90 {results[-1]['p90_us']:.0f}), {results[-1]['compared']:.1f} candidates "
              f"compared, fill {fill_s:.0f} s, {results[-1]['db_mb']:.0f} MB", flush=True)
    conn.close()
    return results


def workload_items(shape: str) -> list[Synthetic]:
    """The kept items of one workload shape, as the feed pass would store them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import workload

    from mediamon.config import load_config
    from mediamon.pipeline import scorer_for
    from mediamon.process import process_body
    from mediamon.store.stories import outlet_for
    from mediamon.types import FetchResult

    config = load_config(Path(__file__).resolve().parents[1] / "config" / "mediamon.toml")
    scorer, _ = scorer_for(config, None)
    now = workload.BASE_DATE + timedelta(hours=1)
    kept = []
    for doc in workload.generate(500, 50, shape=shape):
        url = f"https://feeds.example{doc.path}"
        fetch = FetchResult(url=url, status="ok", http_status=200, final_url=url,
                            body=doc.body, headers=(("content-type", doc.content_type),))
        for scored in process_body(fetch, feed_url=url, scorer=scorer, now=now).scored:
            if scored.match.kept:
                item = scored.item
                kept.append(Synthetic(item.id, item.title, item.summary, item.published,
                                      outlet_for(item.url) or "", 0))
    return kept


def baseline_assign(rev: str, tmp: Path):  # type: ignore[no-untyped-def]
    """``store.stories.assign`` as it was at git revision ``rev`` (with today's core)."""
    import importlib.util
    import subprocess

    source = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "show",
                             f"{rev}:src/mediamon/store/stories.py"],
                            capture_output=True, text=True, check=True).stdout
    path = tmp / f"stories_{rev}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"stories_{rev}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.assign


def bench_workload(shape: str, rev: str, repeat: int, tmp: Path) -> None:
    started = time.perf_counter()
    items = workload_items(shape)
    print(f"workload {shape}: {len(items):,} kept items (made in "
          f"{time.perf_counter() - started:.0f} s); assigned 100 per transaction", flush=True)
    systems = {"this code": assign, f"baseline {rev}": baseline_assign(rev, tmp)}
    results: dict[str, list[tuple[float, float, list[int], int]]] = {k: [] for k in systems}
    for run in range(repeat):
        for name, fn in systems.items():
            path = tmp / f"workload{run}.db"
            conn = open_db(path)
            compared: list[int] = []
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(items), 100):
                conn.execute("BEGIN IMMEDIATE")
                for item in items[start:start + 100]:
                    decision = fn(conn, item_id=item.id, title=item.title,
                                  summary=item.summary, published=item.published,
                                  outlet=item.outlet, settings=SETTINGS,
                                  stamp="2026-01-01T00:00:00+00:00")
                    compared.append(decision.compared)
                conn.execute("COMMIT")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            results[name].append((wall, cpu, compared, stories))
    print("| code | us per item (median) | CPU us per item | compared: mean / max | stories |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs) / len(items) * 1e6
        cpu = statistics.median(r[1] for r in runs) / len(items) * 1e6
        compared = runs[0][2]
        print(f"| {name} | {wall:,.0f} | {cpu:,.0f} | {statistics.mean(compared):.1f} / "
              f"{max(compared)} | {runs[0][3]:,} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assign", type=int, default=20_000,
                        help="items assigned from an empty store (default 20,000; 0 skips)")
    parser.add_argument("--sizes", default="10000,30000,100000",
                        help="store sizes for the growth measurement, comma-separated")
    parser.add_argument("--batch", type=int, default=2_000,
                        help="items timed at each store size (default 2,000)")
    parser.add_argument("--rate", type=float, default=5_000, help="items per day (default 5,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the assign measurement")
    parser.add_argument("--full", action="store_true",
                        help="--assign 100000 --sizes 10000,100000,1000000")
    parser.add_argument("--dir", help="where to put the databases (default: a temp dir)")
    parser.add_argument("--workload", metavar="SHAPE",
                        help="only time the kept items of this benchmarks/workload.py shape "
                             "(e.g. wire) against --baseline-rev")
    parser.add_argument("--baseline-rev", default="d8d35fa",
                        help="git revision of the baseline store/stories.py (default d8d35fa)")
    args = parser.parse_args(argv)
    if args.full:
        args.assign, args.sizes = 100_000, "10000,100000,1000000"
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; settings {SETTINGS}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if args.workload:
            bench_workload(args.workload, args.baseline_rev, args.repeat, Path(tmp))
            print(f"load after {os.getloadavg()[0]:.2f}")
            return
        if args.assign:
            a = bench_assign(args.assign, args.rate, args.repeat, Path(tmp))
            print(f"assign {a['items']:,} items: median {a['median_s']:.1f} s (min "
                  f"{a['min_s']:.1f}, max {a['max_s']:.1f}, {args.repeat} runs) = "
                  f"{a['per_item_us']:.0f} us/item; {a['joined']:,} joined an existing story",
                  flush=True)
        print(f"growth ({args.batch:,} items timed per size, {args.rate:,.0f} items/day, "
              f"~{2 * SETTINGS.window / 86400 * args.rate:,.0f} items in a +-window):")
        bench_growth(sizes, args.batch, args.rate, Path(tmp))
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
