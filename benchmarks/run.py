"""Benchmark mediamon against two baselines on the same loopback feeds, in the same run.

    python benchmarks/run.py                  # 500 feeds x 50 items, 3 repetitions
    python benchmarks/run.py --quick          # 50 x 20, 1 repetition: a smoke check
    python benchmarks/run.py --latency 100    # every response 100 ms late
    python benchmarks/run.py --feeds 10000 --items 5 --repeat 1 --section scale
                                              # memory and speed at 10,000 small feeds
    python benchmarks/run.py --write-doc      # also (re)write the results in docs/benchmarks.md
    python benchmarks/run.py --shape wire --hosts 1   # one shape of the workload matrix
    python benchmarks/run.py --feeds 20 --items 20 --hosts 5 --repeat 5 --section tiny
                                              # a few feeds: where start-up counts
    python benchmarks/run.py --feeds 1 --items 5000 --hosts 1 --section one-feed
                                              # one big feed: a single body to parse
    python benchmarks/run.py --changing 2     # the re-poll finds 2 new entries a feed
    python benchmarks/run.py --shape corpus   # the real feed files of ../shared, as they are

The feeds (``workload.py``) are served by ``server.py`` in a subprocess, so its CPU is not
charged to the system under test. Each system (``systems.py``) runs in its own subprocess on
a fresh database, once per repetition, with the order rotated between repetitions; it polls
every feed twice: cold (empty database) and a re-poll where every feed should answer 304, or,
with ``--changing N``, where every feed sends its whole body again with N new entries on top
(the steady state of a daemon polling servers that never answer 304).
The table shows medians over the repetitions (cold wall time also as min-max).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"
sys.path.insert(0, str(HERE))

from systems import PeakMemory  # noqa: E402  (benchmarks/systems.py)

ALL_SYSTEMS = ("mediamon", "sequential", "reader")
DIAGNOSTIC = ("mediamon-no-stories",)  # only when asked for with --systems
# The workload matrix has a section per shape: default (a), one-host (b), short (c), long
# (d), wire (e), sparse (f), many-feeds (g); rich (h: the markup of big outlets' feeds); and
# the small runs where start-up counts: small (i: 100 feeds x 20 items on 10 hosts) and tiny
# (j: 20 feeds x 20 items on 5 hosts), a newcomer's first subscriptions; dense (k: half of
# the items kept); one-feed (l: a single feed of 5,000 items); and changing (m: the re-poll
# of feeds that send their whole body again with a few new entries); corpus (n: the ~3,000
# files of ../shared/corpus/feeds served as they are, a workload nobody shaped).
SECTIONS = ("loopback", "latency", "scale", "diagnostic", "default", "one-host", "short", "long",
            "wire", "sparse", "many-feeds", "rich", "small", "tiny", "dense", "one-feed",
            "changing", "corpus")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--feeds", type=int, default=500, help="number of feeds (N)")
    p.add_argument("--items", type=int, default=50, help="items per feed (M)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported")
    p.add_argument("--latency", type=float, default=0, help="server delay per response, in ms")
    p.add_argument("--hosts", type=int, default=50,
                   help="loopback ports the feeds are spread over; mediamon limits requests "
                        "per host (fetch.per_host = 2), so 1 would serialise it")
    p.add_argument("--seed", type=int, default=1, help="workload RNG seed")
    p.add_argument("--shape", default="default",
                   choices=("default", "short", "long", "wire", "sparse", "rich", "dense",
                            "corpus"),
                   help="the items: default (news-like, 10%% topical), short (about 0.5 KB, "
                        "little HTML), long (5-20 KB of full text each), wire (30%% topical, "
                        "mostly a few agency texts copied word for word across feeds), sparse "
                        "(1%% topical), rich (default items with the markup of big outlets' "
                        "feeds: Media RSS images with credits and captions, comment threads, "
                        "an outlet's own namespace), dense (50%% topical, no copies), corpus "
                        "(every file of ../shared/corpus/feeds as it is: parser test suites "
                        "and real snapshots, --feeds and --items unused); one "
                        "host is --hosts 1, the 10,000-feed "
                        "shape is --feeds 10000 --items 5")
    p.add_argument("--changing", type=int, default=0, metavar="N",
                   help="on the re-poll every feed sends its whole body again, with N new "
                        "entries on top and the N oldest gone (no 304)")
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS),
                   help="comma-separated subset of: " + ", ".join(ALL_SYSTEMS)
                        + f" (and the diagnostic {', '.join(DIAGNOSTIC)})")
    p.add_argument("--reader-workers", type=int, default=1,
                   help="reader's update_feeds(workers=...)")
    p.add_argument("--snapshot", action="store_true",
                   help="copy src/mediamon, config/ and seeds/ to the temp dir first and run "
                        "mediamon from that copy, so edits made during the run do not mix in")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: 50 feeds x 20 items, 1 repetition (overrides those)")
    p.add_argument("--write-doc", action="store_true",
                   help=f"replace this run's results section in {DOC.relative_to(HERE.parent)}")
    p.add_argument("--json", type=Path, metavar="PATH", help="also save the raw results here")
    p.add_argument("--section", choices=SECTIONS,
                   help="the results section --write-doc replaces (default: latency when "
                        "--latency is set; else the shape's own section of the workload "
                        "matrix: one-host for --hosts 1, short, long, wire, sparse; else "
                        "loopback; the matrix's default and many-feeds shapes are asked for "
                        "by name)")
    args = p.parse_args()
    if args.quick:
        args.feeds, args.items, args.repeat = 50, 20, 1
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(ALL_SYSTEMS) - set(DIAGNOSTIC)
    if unknown or not args.systems:
        p.error(f"unknown system(s): {', '.join(sorted(unknown)) or '(none)'}")
    return args


def reader_missing() -> str | None:
    """Why ``reader`` cannot run here, or None if it can."""
    probe = "import reader, sgmllib; print(reader.__version__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"{last} (pip install reader sgmllib3k)"
    return None


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, str(HERE / "server.py"), "--feeds", str(args.feeds),
           "--items", str(args.items), "--seed", str(args.seed), "--hosts", str(args.hosts),
           "--latency", str(args.latency), "--shape", args.shape,
           "--changing", str(args.changing)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        sys.exit("the feed server did not start")
    return proc, json.loads(line)


def snapshot(dest: Path) -> Path:
    """Copy what mediamon runs from (code, default config, seeds) to ``dest``."""
    repo = HERE.parent
    skip = shutil.ignore_patterns("__pycache__")
    for part in ("src/mediamon", "config", "seeds"):
        shutil.copytree(repo / part, dest / part, ignore=skip)
    return dest


def compile_bytecode(repo: Path) -> None:
    """Compile mediamon's modules (``repo``/src) to bytecode beside them, as pip does for an
    installed package. The baselines' libraries have theirs from pip; without this, on a
    machine with PYTHONDONTWRITEBYTECODE set or from a fresh snapshot, mediamon alone paid
    for compiling its modules in every run, in its process and again in its workers' fork
    server (Python reads bytecode it may not write, and checks it against the source)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "src")], check=True)


def run_system(system: str, urls_file: Path, workdir: Path, stats: str,
               args: argparse.Namespace, repo: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    cmd = [sys.executable, str(HERE / "systems.py"), system, "--urls", str(urls_file),
           "--workdir", str(workdir), "--stats", stats,
           "--reader-workers", str(args.reader_workers), "--repo", str(repo)]
    # The peak PSS of the system's process tree is sampled from here, not from a thread of
    # the measured process (systems.PeakMemory says why).
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc, PeakMemory(proc.pid) as memory:
        try:
            out, err = proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            proc.kill()
            sys.exit(f"{system} took more than an hour")
    if proc.returncode:
        sys.exit(f"{system} failed (exit {proc.returncode}):\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "pss_mb": memory.peak}


def check(result: dict[str, Any], feeds: int, sources: set[str]) -> list[str]:
    """Anything that makes a measurement suspect: failed feeds, requests that went missing,
    or mediamon's code or default config changing between repetitions."""
    problems = []
    source = result["cold"].get("source")
    if source and sources and source not in sources:
        problems.append(f"mediamon's source changed during the run (now {source}, "
                        f"before {', '.join(sorted(sources))}): its repetitions ran different code")
    if source:
        sources.add(source)
    for phase in ("cold", "repoll"):
        r = result[phase]
        if r.get("errors"):
            problems.append(f"{result['system']} {phase}: failures, e.g. {r['errors'][0]}")
        if sum(r["server"]["status"].values()) != feeds:
            problems.append(f"{result['system']} {phase}: server saw "
                            f"{r['server']['status']} for {feeds} feeds")
    return problems


def summarise(runs: list[dict[str, Any]], workload: dict[str, Any], feeds: int) -> dict[str, Any]:
    def med(phase: str, key: str) -> float:
        return statistics.median(r[phase][key] for r in runs)

    cold = [r["cold"]["wall"] for r in runs]
    not_modified = statistics.median(
        r["repoll"]["server"]["status"].get("304", 0) / feeds for r in runs)
    return {
        "cold": statistics.median(cold), "cold_min": min(cold), "cold_max": max(cold),
        "items_s": workload["items"] / statistics.median(cold),
        "feeds_s": feeds / statistics.median(cold),
        "cold_cpu": med("cold", "cpu"), "repoll": med("repoll", "wall"),
        "repoll_cpu": med("repoll", "cpu"),
        "server_cpu": statistics.median(r["cold"]["server"]["cpu"] for r in runs),
        "not_modified": not_modified,
        "rss": statistics.median(r["rss_mb"] for r in runs),
        "pss": statistics.median(r.get("pss_mb", 0.0) for r in runs),
        "stored": statistics.median(r["cold"]["stored"] for r in runs),
    }


def table(summary: dict[str, dict[str, Any]]) -> str:
    base, reader = summary.get("sequential"), summary.get("reader")
    head = ("| system | cold wall s (min-max) | items/s | feeds/s | cold CPU s "
            "| server CPU s (cold) "
            "| re-poll wall s | re-poll CPU s | 304s on re-poll | peak RSS MB | peak PSS MB "
            "(with workers) | items stored | cold vs sequential | cold vs reader "
            "| cold CPU vs sequential | re-poll vs sequential |")
    rows = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for name, s in summary.items():
        ratio = [f"{s[k] / ref[k]:.2f}x" if ref else "n/a"
                 for k, ref in (("cold", base), ("cold", reader), ("cold_cpu", base),
                                ("repoll", base))]
        rows.append(
            f"| {name} | {s['cold']:.2f} ({s['cold_min']:.2f}-{s['cold_max']:.2f}) "
            f"| {s['items_s']:,.0f} | {s['feeds_s']:.0f} | {s['cold_cpu']:.2f} "
            f"| {s['server_cpu']:.2f} | {s['repoll']:.3f} | {s['repoll_cpu']:.3f} "
            f"| {s['not_modified']:.0%} | {s['rss']:.0f} | {s['pss']:.0f} | {s['stored']:,.0f} "
            f"| {' | '.join(ratio)} |")
    return "\n".join(rows)


def machine() -> str:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    model = sh("lscpu | grep 'Model name'").partition(":")[2].strip() or platform.processor()
    mem = sh("free -h | awk '/^Mem:/ {print $2}'")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({model}), {mem} RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; load average (1/5/15 min) before the "
            f"run {load}")


def revision(sources: set[str]) -> str:
    """The git commit, whether the tree had local changes, and mediamon's source hash."""
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=HERE.parent, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "src", "config")
    dirty = " with uncommitted changes" if changed else ""
    return f"commit {git('rev-parse', '--short', 'HEAD') or '?'}{dirty}, mediamon source hash " \
           f"{', '.join(sorted(sources)) or 'n/a'}"


def report(args: argparse.Namespace, workload: dict[str, Any], summary: dict[str, Any],
           notes: list[str], machine_line: str, code: str) -> str:
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    what = (f"{args.feeds} feeds x {args.items} items of the {args.shape} shape"
            if args.shape != "corpus" else
            f"the {len(workload['urls']):,} files of ../shared/corpus/feeds as they are "
            f"(about {workload['items']:,} item or entry tags)")
    lines = [
        f"`{command.strip()}` on {datetime.date.today().isoformat()}: "
        f"{what} ({workload['bytes'] / 1e6:.1f} MB), "
        f"{args.repeat} repetition(s), "
        f"server latency {args.latency:g} ms, {args.hosts} loopback ports, "
        + (f"{args.changing} new entries a feed on the re-poll (no 304), " if args.changing
           else "") +
        f"reader workers {args.reader_workers}.",
        "",
        table(summary),
        "",
        f"Code: {code}{' (mediamon ran from a copy taken at the start)' if args.snapshot else ''}.",
        "",
        f"Machine: {machine_line}, after {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.",
    ]
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def default_section(args: argparse.Namespace) -> str:
    """The results section of a run: its latency, its shape, one host, or the default."""
    if args.latency:
        return "latency"
    if args.changing:
        return "changing"
    if args.shape != "default":
        return str(args.shape)
    return "one-host" if args.hosts == 1 else "loopback"


def write_doc(key: str, block: str) -> None:
    start, end = f"<!-- results:{key} start -->", f"<!-- results:{key} end -->"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    new = f"{start}\n{block}{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: new, text)
    else:
        text = text.rstrip("\n") + f"\n\n{new}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    args = parse_args()
    notes = []
    if "reader" in args.systems and (why := reader_missing()):
        args.systems.remove("reader")
        notes.append(f"reader skipped: {why}")
        print(f"reader skipped: {why}", file=sys.stderr)
    machine_line = machine()
    server, workload = start_server(args)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in args.systems}
    sources: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="mediamon-bench-") as tmp:
            urls_file = Path(tmp) / "urls.txt"
            urls_file.write_text("\n".join(workload["urls"]) + "\n")
            repo = snapshot(Path(tmp) / "snapshot") if args.snapshot else HERE.parent
            compile_bytecode(repo)
            for rep in range(args.repeat):
                turn = rep % len(args.systems)
                order = args.systems[turn:] + args.systems[:turn]
                for system in order:
                    result = run_system(system, urls_file, Path(tmp) / f"{rep}-{system}",
                                        workload["stats"], args, repo)
                    runs[system].append(result)
                    print(f"[{rep + 1}/{args.repeat}] {system}: "
                          f"cold {result['cold']['wall']:.2f} s,"
                          f" re-poll {result['repoll']['wall']:.3f} s", file=sys.stderr)
                    notes += [n for n in check(result, len(workload["urls"]), sources)
                              if n not in notes]
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)

    summary = {s: summarise(r, workload, len(workload["urls"])) for s, r in runs.items()}
    block = report(args, workload, summary, notes, machine_line, revision(sources))
    print(block)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "runs": runs}, indent=1))
    if args.write_doc:
        write_doc(args.section or default_section(args), block)
        print(f"wrote {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
