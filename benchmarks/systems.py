"""The systems under test, each run in a fresh process on a fresh database:

    python benchmarks/systems.py SYSTEM --urls FILE --workdir DIR --stats URL [--repo TREE]

SYSTEM is ``mediamon``, ``sequential`` or ``reader``. The process polls every URL twice
(``cold``: empty database; ``repoll``: nothing changed, so every feed should answer 304, or,
with the server's ``--changing``, each feed has moved on by a few entries) and
prints one JSON line: per phase the wall time, the CPU seconds of this process and of the
child processes it started and reaped (all threads, ``getrusage``: mediamon's parser workers
are counted), the server's status counts and CPU, and what the system stored; plus the peak
RSS of the process and the largest RSS of a child. The peak proportional set size (PSS) of
the process and its descendants together is sampled every 50 ms by ``run.py`` from its own
process (``PeakMemory``): reading ``smaps_rollup`` costs the reading process CPU time, and
a sampler thread in the measured process would be counted in its CPU and hold its GIL
(more so for a system with more processes). Imports happen before any
timing; each phase is timed from opening the database to closing it, as a fresh
``mediamon run --once`` would be.

- ``mediamon``: writes a config that ``extends`` the default one (its topics, keep rule and
  fetch limits) with the benchmark feeds, a database in DIR and ``jitter = "0s"``, then runs
  ``asyncio.run(run_once(load_config(path), Store(db)))``. ``--repo`` runs the mediamon
  code and default config of another tree (a snapshot) instead of this one.
- ``sequential``: one pooled ``httpx.Client``, a conditional GET with the stored ETag,
  ``feedparser.parse`` on the bytes and ``sqlite_utils`` ``upsert_all`` per feed.
- ``mediamon-no-stories`` (diagnostic, not in the default set): ``mediamon`` with story
  assignment and the copy lookup switched off in the writer, to measure what they cost.
- ``reader``: lemon24's ``reader``: ``make_reader``, ``add_feed`` per URL, then
  ``update_feeds(scheduled=False)`` (reader 3.21+ skips feeds not yet due by default).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def source_fingerprint(repo: Path) -> str:
    """A short hash of mediamon's code, default config and seeds, to tell runs of different
    code apart (the tree may change while a benchmark runs)."""
    digest = hashlib.sha256()
    files = [*(repo / "src" / "mediamon").rglob("*"), repo / "config" / "mediamon.toml",
             *(repo / "seeds").rglob("*")]
    for path in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def mediamon_config(urls: list[str], db: Path, repo: Path = REPO) -> str:
    """Config text: the default topics and limits, the benchmark feeds, a private database."""
    lines = [
        f"extends = {_toml_str(str(repo / 'config' / 'mediamon.toml'))}",
        "",
        "[database]",
        f"path = {_toml_str(str(db))}",
        "",
        "[schedule]",
        'jitter = "0s"',
    ]
    for url in urls:
        lines += ["", "[[feeds]]", f"url = {_toml_str(url)}"]
    return "\n".join(lines) + "\n"


def run_mediamon(urls: list[str], workdir: Path, repo: Path = REPO, **_: Any
                 ) -> Callable[[], dict[str, Any]]:
    fingerprint = source_fingerprint(repo)
    sys.path.insert(0, str(repo / "src"))
    # The parse workers too: they fork from a fork server, a fresh interpreter that imports
    # mediamon before it applies this process's sys.path (Python 3.11), so without this it
    # would load the installed mediamon, not the tree measured (a snapshot's workers would run
    # the live tree's code, or fail to unpickle the scorer when the two differ).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, (str(repo / "src"), os.environ.get("PYTHONPATH"))))
    import mediamon
    from mediamon.config import load_config
    from mediamon.pipeline import run_once
    from mediamon.store.sqlite import Store

    try:  # trees before f22452f (a snapshot to compare with) have none
        from mediamon.workers import start_fork_server
    except ImportError:
        start_fork_server = None  # type: ignore[assignment]
    assert Path(mediamon.__file__).is_relative_to(repo), f"imported {mediamon.__file__}"
    config_path = workdir / "mediamon.toml"
    config_path.write_text(mediamon_config(urls, workdir / "mediamon.db", repo), encoding="utf-8")

    def poll() -> dict[str, Any]:
        config = load_config(config_path)
        assert {f.url for f in config.feeds} == set(urls), "config feeds differ from the workload"
        if start_fork_server is not None:  # as `mediamon run` does once it has read
            start_fork_server(config.fetch.workers)  # the config
        store = Store(config.db_path)
        try:
            outcomes = asyncio.run(run_once(config, store))
        finally:
            store.close()
        errors = [o.error for o in outcomes if o.status == "error"]
        return {
            "entries": sum(o.entries for o in outcomes),
            "stored": sum(o.kept_items for o in outcomes),
            "outcomes": dict(Counter(o.status for o in outcomes)),
            "errors": errors[:3],
            "source": fingerprint,
        }

    return poll


def run_sequential(urls: list[str], workdir: Path, **_: Any) -> Callable[[], dict[str, Any]]:
    import feedparser
    import httpx
    import sqlite_utils

    db_path = workdir / "sequential.db"

    def poll() -> dict[str, Any]:
        db = sqlite_utils.Database(db_path)
        feeds = db["feeds"]
        etags = {r["url"]: r["etag"] for r in feeds.rows} if feeds.exists() else {}
        entries = stored = 0
        statuses: Counter[int] = Counter()
        with httpx.Client(timeout=30) as client:
            for url in urls:
                etag = etags.get(url)
                response = client.get(url, headers={"If-None-Match": etag} if etag else {})
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    continue
                parsed = feedparser.parse(response.content)
                rows = [{  # an entry with neither id nor link (real feeds have them) by place
                    "id": e.get("id") or e.get("link") or f"{url}#{n}",
                    "feed": url,
                    "title": e.get("title"),
                    "link": e.get("link"),
                    "published": e.get("published"),
                    "author": e.get("author"),
                    "summary": e.get("summary"),
                    "content": (e.get("content") or [{}])[0].get("value"),
                } for n, e in enumerate(parsed.entries)]
                db["entries"].upsert_all(rows, pk="id")
                feeds.upsert({"url": url, "etag": response.headers.get("etag")}, pk="url")
                entries += len(parsed.entries)
                stored += len(rows)
        db.close()
        return {"entries": entries, "stored": stored, "outcomes": dict(statuses)}

    return poll


def run_reader(urls: list[str], workdir: Path, reader_workers: int = 1, **_: Any
               ) -> Callable[[], dict[str, Any]]:
    from reader import make_reader

    db_path = workdir / "reader.sqlite"

    def poll() -> dict[str, Any]:
        reader = make_reader(str(db_path))
        try:
            for url in urls:
                reader.add_feed(url, exist_ok=True)
            before = reader.get_entry_counts().total
            reader.update_feeds(scheduled=False, workers=reader_workers)
            total = reader.get_entry_counts().total
            failed = [f.url for f in reader.get_feeds() if f.last_exception]
        finally:
            reader.close()
        return {"entries": None, "stored": total - before, "outcomes": {"failed": len(failed)},
                "errors": failed[:3]}

    return poll


def run_mediamon_without_stories(urls: list[str], workdir: Path, repo: Path = REPO,
                                 **_: Any) -> Callable[[], dict[str, Any]]:
    """Diagnostic only, never a supported setup: mediamon with the stories' per-item work in the
    writer switched off (story assignment and the lookup of copies of stored items), to show
    how much of the cold time that work takes."""
    poll = run_mediamon(urls, workdir, repo)
    from mediamon.store import stories as story_store
    from mediamon.store.sqlite import Store

    Store._assign_story = lambda self, *a, **k: None  # type: ignore[method-assign]
    story_store.find_copy = lambda *a, **k: None  # type: ignore[assignment]
    return poll


SYSTEMS = {"mediamon": run_mediamon, "sequential": run_sequential, "reader": run_reader,
           "mediamon-no-stories": run_mediamon_without_stories}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


def descendants(root: int | None = None) -> list[int]:
    """The pids of the children of ``root`` (default: this process), their children, and so
    on (mediamon's parse workers are children of its fork server, not of this process)."""
    found: list[int] = []
    todo = [os.getpid() if root is None else root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    kids = [int(p) for p in fh.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


_TICK = os.sysconf("SC_CLK_TCK")


def _live_cpu(pid: int) -> float:
    """CPU seconds of a running process: its own, and that of the children it has reaped
    (a fork server reaps the workers it forked)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICK


def _cpu() -> float:
    """CPU seconds of this process, of its children that have ended, and of its descendants
    still running with what they reaped: mediamon's parse workers are forked by a fork
    server that lives until this process exits, so they count only through it."""
    total = sum(_live_cpu(pid) for pid in descendants())
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def tree_pss_mb(root: int) -> float:
    """Proportional set size of process ``root`` and its descendants, in MB (shared pages
    split between the processes that share them, so forked workers are not counted twice)."""
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total / 1024


class PeakMemory:
    """Samples ``tree_pss_mb(pid)`` every 50 ms in a thread of the process that measures
    (``run.py``), never of the one measured; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_pss_mb(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(system: str, urls: list[str], workdir: Path, stats: str, **options: Any
            ) -> dict[str, Any]:
    poll = SYSTEMS[system](urls, workdir, **options)
    result: dict[str, Any] = {"system": system}
    for phase in ("cold", "repoll"):
        _get(stats + f"/__reset?phase={phase}")  # the server's --changing feeds move on
        cpu, start = _cpu(), time.perf_counter()
        detail = poll()
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
        server = _get(stats + "/__stats")
        result[phase] = {"wall": wall, "cpu": cpu, "server": server, **detail}
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["children_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--urls", type=Path, required=True, help="file with one URL a line")
    parser.add_argument("--workdir", type=Path, required=True, help="an empty directory")
    parser.add_argument("--stats", required=True, help="base URL of the server's /__stats")
    parser.add_argument("--reader-workers", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="a tree with src/mediamon, config/ and seeds/ (default: this one)")
    args = parser.parse_args()
    urls = args.urls.read_text().split()
    result = measure(args.system, urls, args.workdir, args.stats,
                     reader_workers=args.reader_workers, repo=args.repo.resolve())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
