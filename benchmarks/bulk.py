"""Bulk-path benchmark: `mediamon import` of a large export and `mediamon rescore` of a large
database, each beside a baseline measured in the same run.

    python benchmarks/bulk.py                          # import 200,000 items, rescore 1,000,000
    python benchmarks/bulk.py --import-items 50000 --rescore-items 100000 --repeat 3
    python benchmarks/bulk.py --skip-rescore --old-import 20000
    python benchmarks/bulk.py --skip-rescore --import-items 20000 --postgres  # and PostgreSQL
    python benchmarks/bulk.py --skip-import --skip-rescore --stream  # real 2022 news

**Import.** The export file is made once and cached in ``--dir``: ``benchmarks/workload.py``
news-like feeds (500 feeds x 50 items per day of items, one seed per day, each day's items
published over 31 hours) are parsed, normalised and scored by mediamon's own ``process_body``
with ``keep_all`` (so kept and not-kept items, as an audit database holds them), written to a
source database with ``mediamon import`` and exported from it with ``mediamon export``: the
file an analyst moves between machines. Timed: ``mediamon import FILE`` as a subprocess into
a fresh database (start-up, reading, items, feeds, topics, ``seen`` rows, stories and the
full-text index), ``--repeat`` times: the stories the records carry are copied, the story
fingerprints computed in the worker processes. Beside it, in the same rounds, the same
import with ``--workers 0`` (fingerprints computed in the command's own process), and the
import of the same file without its stories (each item's story found again, as in a
database that already has stories). Baselines in the same run: (1) the same
records' item rows inserted by plain sqlite-utils ``insert_all`` into an empty table
(reading and decoding the file included: the floor for "load this JSON Lines file into
SQLite"); (2) with
``--old-import N``, the previous per-item import (one statement per row, as it was before the
batched import) run on the first N records through ``git show`` of ``--old-rev``.

**Import on PostgreSQL** (``--postgres [URL]``: that server, else ``MEDIAMON_TEST_PG``, else
a throwaway cluster from ``tests/pgcluster.py``, fsync off). Timed: the same ``mediamon
import FILE`` as a subprocess into a fresh PostgreSQL database (the schema made by the
command), in the same rounds as SQLite's, so both see the same machine. Baseline in the same
run: the records' item rows written with ``COPY`` into a fresh database's ``items`` table
(reading and decoding the file included; PostgreSQL generates and GIN-indexes each row's
``search`` vector, as for every item): the floor for "load this file into PostgreSQL".

**Rescore.** The database is ``benchmarks/search.py``'s 1,000,000-item build (cached). Timed:
``mediamon rescore`` as a subprocess (with its progress bar, written to a pipe) on a copy,
``--repeat`` times (how many verdicts it changed is counted), then the same command again on
that copy (every verdict is then as stored, and none is written), beside ``mediamon rescore
--workers 0`` (scoring in the command's own process instead of the worker processes) on a
fresh copy. Baseline in the same run:
scoring the same texts with the same scorer in one loop without any database
(``Scorer.score_text`` over an in-memory list): the scoring work itself, on one core.

Medians are reported, with the load average before and after. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIG = REPO / "config" / "mediamon.toml"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))

import workload  # noqa: E402  (benchmarks/workload.py: the feeds)

from mediamon.clock import utc_iso  # noqa: E402
from mediamon.config import load_config  # noqa: E402
from mediamon.core.stories import grouping_key  # noqa: E402
from mediamon.pipeline import scorer_for  # noqa: E402
from mediamon.process import process_body  # noqa: E402
from mediamon.types import FetchResult  # noqa: E402

ITEMS_PER_DAY = 25_000  # one workload (500 feeds x 50 items) per day


def mediamon(*args: str, db: Path | str, quiet: bool = True) -> float:
    """Run ``mediamon --config CONFIG --db DB ARGS`` as a subprocess; returns wall seconds."""
    argv = [sys.executable, "-m", "mediamon", "--config", str(CONFIG), "--db", str(db), *args]
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=quiet, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): "
                         f"{(done.stderr or '')[-800:]}")
    return elapsed


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def workload_records(count: int) -> Iterator[dict[str, Any]]:
    """``count`` export-shaped records of workload items: one day of feeds per seed."""
    config = load_config(CONFIG)
    scorer, _ = scorer_for(config, None)
    made = 0
    day = 0
    base = workload.BASE_DATE
    ids: set[str] = set()  # some item ids repeat from one day's feeds to the next
    try:
        while made < count:
            workload.BASE_DATE = base + timedelta(days=day)  # each seed's items on its own day
            now = workload.BASE_DATE + timedelta(hours=1)
            stamp = utc_iso(now)
            for doc in workload.generate(500, 50, seed=day + 1):
                url = f"https://feeds{day % 50}.example{doc.path}"
                fetch = FetchResult(url=url, status="ok", http_status=200, final_url=url,
                                    body=doc.body, headers=(("content-type", doc.content_type),))
                processed = process_body(fetch, feed_url=url, scorer=scorer, now=now,
                                         keep_all=True)
                for scored in processed.scored:
                    if scored.item.id in ids:
                        continue
                    ids.add(scored.item.id)
                    yield _record(scored.item, scored.match, url, stamp or "")
                    made += 1
                    if made >= count:
                        return
            day += 1
    finally:
        workload.BASE_DATE = base


def _record(item: Any, match: Any, feed_url: str, stamp: str) -> dict[str, Any]:
    """An item as ``mediamon export`` writes it (the columns ``Store`` stores)."""
    return {
        "id": item.id, "guid": item.guid, "url": item.url,
        "canonical_url": item.canonical_url, "title": item.title, "summary": item.summary,
        "content": item.content, "summary_html": item.summary_html,
        "content_html": item.content_html, "authors": list(item.authors),
        "categories": list(item.categories), "published": utc_iso(item.published),
        "published_from_feed": item.published_from_feed, "updated": utc_iso(item.updated),
        "first_seen": stamp, "last_seen": stamp, "language": item.language,
        "content_hash": item.content_hash, "kept": match.kept, "score": match.score,
        "similarity": match.similarity, "topics": list(match.topic_names),
        "explanation": match.explanation(), "dedup_key": item.dedup_key,
        "feed_url": feed_url,
        "matches": {hit.topic: list(hit.terms) for hit in match.topics},
        "feeds": [{"url": feed_url, "name": None, "first_seen": stamp}],
    }


def ensure_export(count: int, workdir: Path) -> Path:
    """The export file of ``count`` workload items (made once: see the module docstring)."""
    path = workdir / f"export-{count}.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            story = json.loads(f.readline() or "{}").get("story") or {}
        if story.get("grouping") == grouping_key(load_config(CONFIG).stories):
            return path
        # made before exports carried each item's story, or under another grouping (its
        # stories would be found again on import, not copied): made again
        path.unlink()
    source_lines = workdir / f"source-{count}.jsonl"
    began = time.perf_counter()
    print(f"making {count:,} workload items", file=sys.stderr, flush=True)
    records = sorted(workload_records(count), key=lambda r: (r["published"], r["id"]))
    with source_lines.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    source = workdir / f"source-{count}.db"
    _remove_db(source)
    print("importing them into a source database", file=sys.stderr, flush=True)
    mediamon("import", str(source_lines), db=source)
    print("exporting", file=sys.stderr, flush=True)
    mediamon("export", "-o", str(path), db=source)
    source_lines.unlink()
    print(f"  export made in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return path


def without_stories(path: Path, bare: Path) -> Path:
    """``bare``: the export ``path`` with its records' ``story`` removed (each item's story
    is then found again on import, as in a database that already has stories)."""
    with path.open(encoding="utf-8") as f, bare.open("w", encoding="utf-8") as out:
        for line in f:
            record = json.loads(line)
            record.pop("story", None)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return bare


def import_round(path: Path, bare: Path, target: Path, copied: list[float],
                 alone: list[float], found: list[float]) -> None:
    """One round of the three imports into a fresh ``target``: ``path`` (stories copied,
    fingerprints in the workers), the same with ``--workers 0``, and ``bare``."""
    for times, argv in ((found, [str(bare)]), (copied, [str(path)]),
                        (alone, ["--workers", "0", str(path)])):
        _remove_db(target)
        times.append(mediamon("import", *argv, db=target))


def baseline_insert_all(path: Path, target: Path) -> float:
    """Read the export and insert every record's item row with sqlite-utils ``insert_all``."""
    import sqlite_utils

    _remove_db(target)
    began = time.perf_counter()
    db = sqlite_utils.Database(target)
    db.conn.execute("PRAGMA journal_mode = WAL")
    db.conn.execute("PRAGMA synchronous = NORMAL")

    def rows() -> Iterator[dict[str, Any]]:
        with path.open(encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                for key in ("authors", "categories", "topics", "explanation", "matches",
                            "feeds"):
                    record[key] = json.dumps(record[key], ensure_ascii=False)
                yield record

    with db.conn:
        db["items"].insert_all(rows(), pk="id", batch_size=1000)
    db.close()
    return time.perf_counter() - began


def old_import(path: Path, count: int, workdir: Path, rev: str) -> float | None:
    """The per-item import of ``rev`` (a git revision) on the first ``count`` records."""
    tree = workdir / f"old-{rev}"
    if not (tree / "src").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src", "config", "seeds"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            print(f"  (no old import: git archive {rev} failed)", file=sys.stderr)
            return None
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    part = workdir / f"export-first-{count}.jsonl"
    with path.open(encoding="utf-8") as f, part.open("w", encoding="utf-8") as out:
        for _, line in zip(range(count), f, strict=False):
            out.write(line)
    target = workdir / "old-import.db"
    _remove_db(target)
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    argv = [sys.executable, "-m", "mediamon", "--config", str(tree / "config" / "mediamon.toml"),
            "--db", str(target), "import", str(part)]
    began = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, env=env)
    elapsed = time.perf_counter() - began
    _remove_db(target)
    return elapsed


def bench_import(args: argparse.Namespace, workdir: Path) -> None:
    path = ensure_export(args.import_items, workdir)
    count = sum(1 for _ in path.open(encoding="utf-8"))
    size = path.stat().st_size / 1e6
    target = workdir / "import.db"
    # The same file without the stories its records carry: each item's story is found as a
    # new item's is (what an import into a database that already has stories does).
    bare = without_stories(path, workdir / f"export-{count}-no-stories.jsonl")
    ours, found, alone, floor = [], [], [], []
    pg = PgRuns(args.postgres) if args.postgres is not None else None
    try:
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            import_round(path, bare, target, ours, alone, found)
            floor.append(baseline_insert_all(path, workdir / "insert_all.db"))
            if pg is not None:
                pg.round(path)
        with sqlite3.connect(target) as conn:
            stories = conn.execute("SELECT count(*), sum(items > 1) FROM stories").fetchone()
        _remove_db(target)
        _remove_db(workdir / "insert_all.db")
        bare.unlink()
        med, base = statistics.median(ours), statistics.median(floor)
        again, here = statistics.median(found), statistics.median(alone)
        print(f"\nimport of {count:,} exported items ({size:,.0f} MB of JSON Lines), median "
              f"of {args.repeat}:")
        print("| path | median s | items/s |")
        print("|---|---|---|")
        print(f"| `mediamon import` (whole command; into a new database, so the stories the "
              f"records carry are copied) | {med:.1f} | {count / med:,.0f} |")
        print(f"| `mediamon import --workers 0` (fingerprints computed in the command's own "
              f"process) | {here:.1f} | {count / here:,.0f} |")
        print(f"| `mediamon import` of the file without its stories (each found again, as "
              f"into a database that has some) | {again:.1f} | {count / again:,.0f} |")
        print(f"| baseline: sqlite-utils `insert_all` of the item rows | {base:.1f} | "
              f"{count / base:,.0f} |")
        if pg is not None:
            pg.report(count)
        if args.old_import:
            old = old_import(path, min(args.old_import, count), workdir, args.old_rev)
            if old is not None:
                n = min(args.old_import, count)
                print(f"| previous per-item import ({args.old_rev}), first {n:,} items, 1 run "
                      f"| {old:.1f} | {n / old:,.0f} |")
        print(f"({stories[0]:,} stories, {stories[1]:,} of them with more than one item)")
        if pg is not None and pg.stories is not None:
            same = "the same as" if pg.stories == tuple(stories) else "NOT the same as"
            print(f"(PostgreSQL: {pg.stories[0]:,} stories, {pg.stories[1]:,} of them with "
                  f"more than one item: {same} SQLite's)")
    finally:
        if pg is not None:
            pg.close()


class PgRuns:
    """``mediamon import`` on PostgreSQL and its ``COPY`` baseline, a round at a time."""

    def __init__(self, server: str) -> None:
        sys.path.insert(0, str(REPO / "tests"))
        import pgcluster

        self.cluster = None
        server = server or os.environ.get("MEDIAMON_TEST_PG", "")
        if not server:
            self.cluster = pgcluster.start()
            server = self.cluster.url
        self.server = server
        self.ours: list[float] = []
        self.floor: list[float] = []
        self.stories: tuple[int, int] | None = None

    def fresh(self, name: str) -> str:
        import psycopg

        from pg_fixtures import with_database

        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        return with_database(self.server, name)

    def round(self, path: Path) -> None:
        import psycopg

        url = self.fresh("mediamon_bulk_import")
        self.ours.append(mediamon("import", str(path), db=url))
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*), count(*) FILTER (WHERE items > 1) "
                               "FROM stories").fetchone()
            self.stories = (int(row[0]), int(row[1])) if row else None
        self.floor.append(self.copy_items(path, self.fresh("mediamon_bulk_copy")))

    def copy_items(self, path: Path, url: str) -> float:
        """Read the export and ``COPY`` every record's item row into ``items``."""
        import psycopg

        from mediamon.store.exchange import EXPORT_COLUMNS
        from mediamon.store.postgres.store import PostgresStore

        PostgresStore(url).close()  # the schema (not timed)
        json_columns = ("authors", "categories", "topics", "explanation")
        flags = ("kept", "published_from_feed")
        began = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO feeds (id, url, added) VALUES (1, 'x', '')")
            columns = ", ".join(("feed_id", *EXPORT_COLUMNS))
            with conn.cursor().copy(f"COPY items ({columns}) FROM STDIN") as copy, \
                    path.open(encoding="utf-8") as f:
                for line in f:
                    record = json.loads(line)
                    copy.write_row([1, *(
                        json.dumps(record.get(c), ensure_ascii=False) if c in json_columns
                        else int(bool(record.get(c))) if c in flags else record.get(c)
                        for c in EXPORT_COLUMNS)])
        return time.perf_counter() - began

    def report(self, count: int) -> None:
        med, base = statistics.median(self.ours), statistics.median(self.floor)
        print(f"| `mediamon import` on PostgreSQL (whole command) | {med:.1f} | "
              f"{count / med:,.0f} |")
        print(f"| baseline: `COPY` of the item rows into PostgreSQL | {base:.1f} | "
              f"{count / base:,.0f} |")

    def close(self) -> None:
        import psycopg

        with psycopg.connect(self.server, autocommit=True) as conn:
            for name in ("mediamon_bulk_import", "mediamon_bulk_copy"):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.cluster is not None:
            import pgcluster

            pgcluster.stop(self.cluster.directory)


def ensure_rescore_db(count: int, workdir: Path) -> Path:
    import search as search_bench  # benchmarks/search.py: the 1M-item database

    path = workdir / f"rescore-{count}.db"
    if path.exists():
        with sqlite3.connect(path) as conn:
            if conn.execute("SELECT count(*) FROM items").fetchone()[0] == count:
                return path
    print(f"building {path} with {count:,} items", file=sys.stderr, flush=True)
    search_bench.build(path, count)
    return path


def baseline_score(db: Path, count: int) -> float:
    """Score the stored texts in one loop, no database writes (the scorer of ``rescore``)."""
    from mediamon.store.sqlite import Store

    config = load_config(CONFIG)
    store = Store(db, readonly=True)
    scorer, _ = scorer_for(config, store)
    texts = ["\n".join(p for p in row if p) for row in store.db.conn.execute(
        "SELECT title, summary, content FROM items")]
    store.close()
    began = time.perf_counter()
    for text in texts:
        scorer.score_text(text)
    return time.perf_counter() - began


def changed_verdicts(before: Path, after: Path) -> int:
    """How many items' verdicts (kept, score, explanation) differ between two copies."""
    with sqlite3.connect(after) as conn:
        conn.execute("ATTACH DATABASE ? AS before", [str(before)])
        return int(conn.execute(
            "SELECT count(*) FROM items JOIN before.items AS b ON b.id = items.id WHERE "
            "b.kept != items.kept OR b.score != items.score "
            "OR b.explanation != items.explanation").fetchone()[0])


def bench_rescore(args: argparse.Namespace, workdir: Path) -> None:
    source = ensure_rescore_db(args.rescore_items, workdir)
    target = workdir / "rescore-copy.db"
    ours, again, alone, floor = [], [], [], []
    changed = 0
    for _ in range(args.repeat):
        _remove_db(target)
        shutil.copyfile(source, target)
        ours.append(mediamon("rescore", db=target))
        changed = changed_verdicts(source, target)
        again.append(mediamon("rescore", db=target))  # every verdict as stored now
        _remove_db(target)
        shutil.copyfile(source, target)
        alone.append(mediamon("rescore", "--workers", "0", db=target))
        floor.append(baseline_score(source, args.rescore_items))
    _remove_db(target)
    med, one, base = statistics.median(ours), statistics.median(alone), statistics.median(floor)
    same = statistics.median(again)
    n = args.rescore_items
    print(f"\nrescore of {n:,} stored items, median of {args.repeat}:")
    print("| path | median s | items/s |")
    print("|---|---|---|")
    print(f"| `mediamon rescore` (whole command, progress bar on; scoring in the worker "
          f"processes, one per CPU; {changed:,} verdicts changed) | {med:.1f} | "
          f"{n / med:,.0f} |")
    print(f"| the same command again on that database (every verdict as stored: none "
          f"written) | {same:.1f} | {n / same:,.0f} |")
    print(f"| `mediamon rescore --workers 0` (scoring in the command's own process) | "
          f"{one:.1f} | {n / one:,.0f} |")
    print(f"| baseline: `score_text` over the texts in memory, no database | {base:.1f} | "
          f"{n / base:,.0f} |")


STREAM = REPO.parent / "shared" / "corpus" / "news" / "rss-2022.jsonl"


def stream_records() -> list[dict[str, Any]]:
    """The real 2022 stream in ../shared as export records (title, summary, link, dates,
    feed; not scored), oldest first: real news, where most items are a story of their own."""
    records = []
    for line in STREAM.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        when = row["published"].replace(" ", "T")
        digest = hashlib.sha1(row["url"].encode()).hexdigest()
        summary = row.get("summary") or ""
        records.append({
            "id": digest[:16], "guid": row["url"], "url": row["url"],
            "canonical_url": row["url"], "title": row["title"], "summary": summary,
            "content": "", "summary_html": summary, "content_html": "", "authors": [],
            "categories": [], "published": when, "published_from_feed": True,
            "updated": None, "first_seen": when, "last_seen": when,
            "language": (row.get("language") or "en")[:2], "content_hash": digest,
            "kept": False, "score": 0.0, "similarity": 0.0, "topics": [], "explanation": {},
            "dedup_key": digest, "feed_url": row["feed"], "matches": {},
            "feeds": [{"url": row["feed"], "name": None, "first_seen": when}]})
    records.sort(key=lambda r: (r["published"], r["id"]))
    return records


def bench_stream_import(args: argparse.Namespace, workdir: Path) -> None:
    """``mediamon import`` of the real 2022 stream's export, with and without the stories it
    carries, in the same rounds."""
    if not STREAM.is_file():
        print(f"\n(no stream import: {STREAM} is absent)")
        return
    records = stream_records()
    lines = workdir / "stream-records.jsonl"
    lines.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                     encoding="utf-8")
    source, path = workdir / "stream-source.db", workdir / "stream-export.jsonl"
    _remove_db(source)
    mediamon("import", str(lines), db=source)
    mediamon("export", "-o", str(path), db=source)
    bare = without_stories(path, workdir / "stream-export-no-stories.jsonl")
    with sqlite3.connect(source) as conn:
        stories = conn.execute("SELECT count(*), sum(items > 1) FROM stories").fetchone()
    target = workdir / "stream-import.db"
    copied, found, alone = [], [], []
    for _ in range(args.repeat):
        import_round(path, bare, target, copied, alone, found)
    for leftover in (target, source):
        _remove_db(leftover)
    for leftover in (lines, path, bare):
        leftover.unlink()
    n = len(records)
    one, two, three = (statistics.median(copied), statistics.median(found),
                       statistics.median(alone))
    print(f"\nimport of the real 2022 stream ({n:,} items; {stories[0]:,} stories, "
          f"{stories[1]:,} of them with more than one item), median of {args.repeat}:")
    print("| path | median s | items/s |")
    print("|---|---|---|")
    print(f"| `mediamon import` into a new database (stories copied) | {one:.2f} | "
          f"{n / one:,.0f} |")
    print(f"| the same, fingerprints computed in the command's own process (`--workers 0`) | "
          f"{three:.2f} | {n / three:,.0f} |")
    print(f"| the same without the stories (each found again) | {two:.2f} | {n / two:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--import-items", type=int, default=200_000)
    parser.add_argument("--rescore-items", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-rescore", action="store_true")
    parser.add_argument("--stream", action="store_true",
                        help="also import the real 2022 stream of ../shared/corpus/news, "
                             "with and without the stories its export carries")
    parser.add_argument("--old-import", type=int, default=0, metavar="N",
                        help="also time the previous per-item import on the first N records")
    parser.add_argument("--old-rev", default="d8d35fa",
                        help="the git revision with the previous import (default: d8d35fa)")
    parser.add_argument("--postgres", nargs="?", const="", default=None, metavar="URL",
                        help="also time the import on PostgreSQL: this server, else "
                             "MEDIAMON_TEST_PG, else a throwaway cluster")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mediamon-bulk",
                        help="where the export, databases and caches live")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; python {platform.python_version()}, SQLite "
          f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs; load before {load[0]:.2f} / "
          f"{load[1]:.2f} / {load[2]:.2f}")
    if not args.skip_import:
        bench_import(args, args.dir)
    if not args.skip_rescore:
        bench_rescore(args, args.dir)
    if args.stream:
        bench_stream_import(args, args.dir)
    load = os.getloadavg()
    print(f"\nload after {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


if __name__ == "__main__":
    main()
