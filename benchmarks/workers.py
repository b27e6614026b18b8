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

Memory, per process: ``--memory`` runs a pool of 2 workers through the jobs and prints each
process's PSS and USS (``/proc/PID/smaps_rollup``) after them; ``--watch`` runs a command
(a benchmark) and samples every process it starts every 100 ms, printing each role's peak
(the benchmark's mediamon process, the fork server, each parse worker) and the peak sum:

    python benchmarks/workers.py --memory [--jobs 200]
    python benchmarks/workers.py --watch -- python benchmarks/run.py --systems mediamon --repeat 1

PSS splits a page shared by n processes n ways (so the sum over processes is what they take
together); USS counts the pages only that process holds (what its exit would free).
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
sys.path.insert(0, str(HERE))

from systems import descendants  # noqa: E402  (benchmarks/systems.py: the process tree)


def measure(method: str, jobs: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    from workload import generate

    from mediamon.config import load_config
    from mediamon.pipeline import scorer_for
    from mediamon.process import Job, init_worker, process_job
    from mediamon.types import FetchResult
    from mediamon.workers import WorkerPool

    config = load_config(REPO / "config" / "mediamon.toml")
    scorer = scorer_for(config, None)[0]
    doc = generate(feeds=1, items=50)[0]
    fetch = FetchResult("https://example.org/f", "ok", body=doc.body,
                        headers=(("content-type", doc.content_type),))
    job = Job(fetch, "https://example.org/f", datetime(2025, 7, 4, tzinfo=UTC), False)

    async def ready(pool: WorkerPool) -> float:
        started = time.perf_counter()
        await pool._ready_pool()
        return time.perf_counter() - started

    async def run() -> dict[str, float]:
        first = WorkerPool(2, initializer=init_worker, initargs=(scorer, None),
                           start_method=method)
        first_ready = await ready(first)
        first.close()
        second = WorkerPool(2, initializer=init_worker, initargs=(scorer, None),
                            start_method=method)
        new_ready = await ready(second)
        times, empty = [], []
        for _ in range(jobs):
            t = time.perf_counter()
            await second.run(process_job, job)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            await second.run(int, 0)
            empty.append(time.perf_counter() - t)
        second.close()
        return {"first_pool_ready_ms": first_ready * 1e3, "new_pool_ready_ms": new_ready * 1e3,
                "job_ms": statistics.median(times) * 1e3,
                "empty_job_ms": statistics.median(empty) * 1e3}

    return asyncio.run(run())


# -- memory -----------------------------------------------------------------------------------

def memory_of(pid: int) -> dict[str, float] | None:
    """RSS, PSS and USS of ``pid`` in MB (None when it is gone)."""
    fields = {"Rss:": 0, "Pss:": 0, "Private_Clean:": 0, "Private_Dirty:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                key, _, rest = line.partition(" ")
                if key in fields:
                    fields[key] = int(rest.split()[0])
    except (OSError, ValueError):
        return None
    return {"rss": fields["Rss:"] / 1024, "pss": fields["Pss:"] / 1024,
            "uss": (fields["Private_Clean:"] + fields["Private_Dirty:"]) / 1024}


def threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def role(pid: int) -> str | None:
    """What a process of the benchmark is, from its command line (None: not measured)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if cmd.startswith("mediamon: parse worker"):
        return "parse worker"
    if "multiprocessing.forkserver" in cmd:
        return "fork server"
    if "resource_tracker" in cmd:
        return "resource tracker"
    if "systems.py mediamon" in cmd:
        return "mediamon (main)"
    if "systems.py" in cmd:
        return "baseline " + cmd.split("systems.py", 1)[1].split()[0]
    return None


def print_memory(rows: list[tuple[str, dict[str, float]]], total: float | None = None) -> None:
    print("| process | RSS MB | PSS MB | USS MB |")
    print("|---|---|---|---|")
    for name, m in rows:
        print(f"| {name} | {m['rss']:.0f} | {m['pss']:.0f} | {m['uss']:.0f} |")
    if total is not None:
        print(f"| all of them, PSS at the same moment | | {total:.0f} | |")


def measure_memory(jobs: int) -> list[tuple[str, dict[str, float]]]:
    """A 2-worker pool through ``jobs`` feed bodies, then each process's memory."""
    sys.path.insert(0, str(HERE))
    from workload import generate

    from mediamon.config import load_config
    from mediamon.pipeline import scorer_for
    from mediamon.process import Job, init_worker, process_job
    from mediamon.types import FetchResult
    from mediamon.workers import WorkerPool

    config = load_config(REPO / "config" / "mediamon.toml")
    scorer = scorer_for(config, None)[0]
    docs = generate(feeds=20, items=50)
    when = datetime(2025, 7, 4, tzinfo=UTC)
    job_list = [Job(FetchResult(f"https://example.org/{i}", "ok", body=d.body,
                                 headers=(("content-type", d.content_type),)),
                     f"https://example.org/{i}", when, False) for i, d in enumerate(docs)]

    async def run() -> list[tuple[str, dict[str, float]]]:
        pool = WorkerPool(2, initializer=init_worker, initargs=(scorer, None))
        for i in range(jobs):
            await pool.run(process_job, job_list[i % len(job_list)])
        pids = sorted(pool.pids())
        server = {_parent(p) for p in pids}
        rows = [("main (this benchmark)", memory_of(os.getpid()))]
        rows += [(f"fork server ({threads_of(s)} thread(s))", memory_of(s)) for s in server]
        rows += [(f"parse worker {n}", memory_of(p)) for n, p in enumerate(pids, 1)]
        pool.close()
        return [(name, m) for name, m in rows if m is not None]

    return asyncio.run(run())


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def watch(cmd: list[str], every: float = 0.1) -> int:
    """Run ``cmd``, sample its processes' memory, print each role's peak; its exit code."""
    proc = subprocess.Popen(cmd)
    peaks: dict[str, dict[str, float]] = {}
    peak_total = 0.0
    workers_seen: set[int] = set()
    while proc.poll() is None:
        total = 0.0
        for pid in descendants(proc.pid):
            name = role(pid)
            m = memory_of(pid) if name else None
            if name is None or m is None:
                continue
            if name == "parse worker":
                workers_seen.add(pid)
            total += m["pss"]
            peak = peaks.setdefault(name, {"rss": 0.0, "pss": 0.0, "uss": 0.0})
            for key in peak:
                peak[key] = max(peak[key], m[key])
        peak_total = max(peak_total, total)
        time.sleep(every)
    load = os.getloadavg()
    print(f"\npeak per process over the run ({len(workers_seen)} parse worker processes "
          f"seen; a worker's row is the largest of any worker), load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}:")
    print_memory(sorted(peaks.items()), peak_total)
    return proc.returncode


def main() -> None:
    if "--watch" in sys.argv:
        at = sys.argv.index("--watch")
        cmd = sys.argv[at + 1:]
        if cmd[:1] == ["--"]:
            cmd = cmd[1:]
        if not cmd:
            sys.exit("--watch needs a command to run")
        sys.exit(watch(cmd))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--memory", action="store_true",
                        help="each process's PSS and USS after the jobs, 2 workers")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        rows = measure_memory(args.jobs)
        load = os.getloadavg()
        print(f"{args.jobs} jobs of 50 items, 2 workers, load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print_memory(rows)
        return
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
