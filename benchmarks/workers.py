"""What the parse workers' start method costs: fork (unsafe from a threaded process, the
old way) against the fork server (the default) and spawn.

For each method, in a fresh interpreter (a fork server is made once per process):
  first pool ready      a new WorkerPool until every worker has started and initialised
                        (with the fork server: its own start, preloading mediamon.pipeline)
  new pool ready        another pool while the server is running (what a rebuild costs)
  job                   one feed body (50 news-like items) parsed, normalised and scored in
                        a worker, round trip included: median over the jobs
  empty job             the round trip alone
The initializer carries the default config's scorer, as in `mediamon run`.

    python benchmarks/workers.py [--jobs 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def measure(method: str, jobs: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    from workload import generate

    from mediamon.config import load_config
    from mediamon.pipeline import _init_worker, _Job, _process_job, scorer_for
    from mediamon.types import FetchResult
    from mediamon.workers import WorkerPool

    config = load_config(REPO / "config" / "mediamon.toml")
    scorer = scorer_for(config, None)[0]
    doc = generate(feeds=1, items=50)[0]
    fetch = FetchResult("https://example.org/f", "ok", body=doc.body,
                        headers=(("content-type", doc.content_type),))
    job = _Job(fetch, "https://example.org/f", datetime(2025, 7, 4, tzinfo=UTC), False)

    async def ready(pool: WorkerPool) -> float:
        started = time.perf_counter()
        await pool._ready_pool()
        return time.perf_counter() - started

    async def run() -> dict[str, float]:
        first = WorkerPool(2, initializer=_init_worker, initargs=(scorer, None),
                           start_method=method)
        first_ready = await ready(first)
        first.close()
        second = WorkerPool(2, initializer=_init_worker, initargs=(scorer, None),
                            start_method=method)
        new_ready = await ready(second)
        times, empty = [], []
        for _ in range(jobs):
            t = time.perf_counter()
            await second.run(_process_job, job)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            await second.run(int, 0)
            empty.append(time.perf_counter() - t)
        second.close()
        return {"first_pool_ready_ms": first_ready * 1e3, "new_pool_ready_ms": new_ready * 1e3,
                "job_ms": statistics.median(times) * 1e3,
                "empty_job_ms": statistics.median(empty) * 1e3}

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.jobs)))
        return
    rows = {}
    for method in ("fork", "forkserver", "spawn"):
        out = subprocess.run([sys.executable, __file__, "--one", method, "--jobs",
                              str(args.jobs)], capture_output=True, text=True, check=True)
        rows[method] = json.loads(out.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    print(f"{args.jobs} jobs per method, 2 workers, load average {load[0]:.2f} {load[1]:.2f}")
    print("| start method | first pool ready ms | new pool ready ms | job ms (50 items) | "
          "empty job ms |")
    print("|---|---|---|---|---|")
    for method, r in rows.items():
        print(f"| {method} | {r['first_pool_ready_ms']:.0f} | {r['new_pool_ready_ms']:.0f} | "
              f"{r['job_ms']:.2f} | {r['empty_job_ms']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
