"""The worker pool: no fork from a threaded process, a watchdog for stuck workers, recovery
from dead ones. Real processes throughout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import forkcheck
from feedserver import FeedServer, config_text, rss
from mediamon.process import init_worker, worker_known
from mediamon.store.sqlite import Store
from mediamon.workers import PROCESS_TITLE, WorkerDied, WorkerPool, WorkerStuck

# -- jobs (module level: a worker imports this module to unpickle them) ---------------------


def square(n: int) -> int:
    return n * n


def pid_of(_: object) -> int:
    return os.getpid()


def hang(_: object) -> None:
    time.sleep(3600)


def die(_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hang_first_time(marker: str) -> str:
    """Stuck on the first try, fine on the retry (the marker says it was tried)."""
    path = Path(marker)
    if not path.exists():
        path.write_text("tried")
        time.sleep(3600)
    return "done"


def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def title(_: object) -> str:
    return Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()


def run(coro):
    return asyncio.run(coro)


# -- how workers are made -------------------------------------------------------------------


def test_the_fork_check_catches_a_fork_from_a_threaded_process() -> None:
    """The suite-wide check (conftest) would see the old way of making workers: a plain fork
    while a thread runs. Run in a child interpreter, so this suite never forks that way."""
    code = textwrap.dedent("""
        import multiprocessing, threading, time, forkcheck
        forkcheck.install()
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        p = multiprocessing.get_context("fork").Process(target=time.sleep, args=(0,))
        p.start(); p.join(); stop.set()
        print(len(forkcheck.FORKS_WITH_THREADS))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, check=True)
    assert out.stdout.strip() == "1"


def test_workers_are_not_forked_from_this_process_and_carry_a_title() -> None:
    """Workers come from the fork server: their parent is not this (threaded) process, no
    fork happened here, and ps shows what they are."""
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()  # a threaded process, as always
    before = len(forkcheck.FORKS_WITH_THREADS)
    pool = WorkerPool(2)
    try:
        pid = run(pool.run(pid_of, None))
        name = run(pool.run(title, None))
    finally:
        pool.close()
        stop.set()
    assert pid != os.getpid()
    assert len(forkcheck.FORKS_WITH_THREADS) == before
    assert name == PROCESS_TITLE


def test_warm_starts_the_workers_before_any_job_and_off_the_event_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold pass starts its workers before the first body arrives, and starting them never
    blocks the event loop: handing a new worker its start-up data waits for the fork server,
    so the loop's thread must not be the one that does it (it would stop every fetch)."""
    import mediamon.workers as workers_module

    threads: list[threading.Thread] = []

    class Recording(workers_module.ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread())
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(workers_module, "ProcessPoolExecutor", Recording)
    pool = WorkerPool(2, initializer=init_worker, initargs=(None, None))

    async def go() -> tuple[int, list[int]]:
        pool.warm()
        pool.warm()  # a second call while starting is the same start
        assert pool._ready is not None
        await pool._ready
        return await pool.run(square, 3), pool.pids()

    try:
        result, pids = run(go())
    finally:
        pool.close()
    assert result == 9
    assert len(pids) == 2
    warm_ups, job = threads[:-1], threads[-1]
    assert len(warm_ups) == 2
    assert all(t is not threading.main_thread() for t in warm_ups)
    assert job is threading.main_thread()


def test_a_script_that_runs_mediamon_at_its_top_level_runs_once(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """A script that calls mediamon without an ``if __name__ == "__main__":`` block: its
    workers do not run the script again (a new multiprocessing process runs its parent's
    main module, which would poll every feed once more per worker, or die starting one),
    so the pass parses in the workers, stores every feed once, and prints no traceback."""
    for name in ("a", "b"):
        feed_server.add(f"/{name}", rss(name.upper(), [(f"{name}1", ""), (f"{name}2", "")]))
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"),
                                  [feed_server.url("/a"), feed_server.url("/b")],
                                  fetch="workers = 2"), encoding="utf-8")
    marker = tmp_path / "runs.txt"
    script = tmp_path / "ingest.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, os
        from mediamon.config import load_config
        from mediamon.pipeline import Updater
        from mediamon.store.sqlite import Store

        with open({str(marker)!r}, "a") as f:
            f.write(f"{{os.getpid()}}\\n")
        config = load_config({str(config)!r})
        store = Store(config.db_path)
        store.sync_config_feeds(config.feeds, now=__import__("mediamon.clock").clock.utcnow())

        async def once():
            async with Updater(config, store) as updater:
                outcomes = await updater.update_feeds(store.feeds())
                return outcomes, updater._pool.pids()

        outcomes, workers = asyncio.run(once())
        print([o.status for o in outcomes], len(workers))
        store.close()
    """), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "['ok', 'ok'] 2", out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    assert marker.read_text().split() == [str(marker.read_text().split()[0])]  # one run
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 4


def test_start_fork_server_starts_it_once_and_only_for_workers() -> None:
    """``start_fork_server`` (what ``mediamon run`` calls once it has read the config):
    nothing for ``fetch.workers = 0``; otherwise the fork server runs at once, before any
    pool, and the pool made next uses that same server."""
    from multiprocessing import forkserver

    from mediamon.workers import start_fork_server

    assert start_fork_server(0) is False
    assert start_fork_server(2) is True
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert server is not None and os.waitpid(server, os.WNOHANG) == (0, 0)  # running
    assert start_fork_server(1) is True  # again: the same server
    assert forkserver._forkserver._forkserver_pid == server  # type: ignore[attr-defined]
    pool = WorkerPool(1)
    try:
        assert run(pool.run(square, 4)) == 16
        assert forkserver._forkserver._forkserver_pid == server  # type: ignore[attr-defined]
    finally:
        pool.close()


def test_pool_made_and_used_200_times_while_threads_hammer_sqlite(tmp_path: Path) -> None:
    """The birth deadlock's exact path, 200 times: new workers open SQLite (as the parse
    workers do for known hashes) while other threads of this process are inside SQLite. No
    hang, and no job needed the watchdog (a recovered hang would still fail this test)."""
    db = tmp_path / "m.db"
    Store(db).close()
    hammered = tmp_path / "hammer.db"
    sqlite3.connect(hammered).execute("CREATE TABLE t (x)").connection.close()
    stop = threading.Event()
    rounds = [0]

    def hammer() -> None:
        while not stop.is_set():
            conn = sqlite3.connect(hammered, timeout=30)
            with conn:
                conn.execute("INSERT INTO t VALUES (randomblob(64))")
            conn.execute("SELECT count(*) FROM t").fetchone()
            conn.close()
            rounds[0] += 1

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()

    async def many() -> int:
        restarts = 0
        for _ in range(200):
            pool = WorkerPool(2, initializer=init_worker, initargs=(None, str(db)),
                              stall_timeout=120)
            try:
                results = await asyncio.gather(*(pool.run(worker_known, ["a", "b"])
                                                 for _ in range(4)))
                assert results == [{}] * 4
            finally:
                restarts += pool.restarts
                pool.close()
        return restarts

    try:
        assert run(many()) == 0
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert rounds[0] > 200, "the hammering threads did not run alongside"


# -- the watchdog ---------------------------------------------------------------------------


def test_a_stuck_job_is_retried_once_then_given_up_and_the_pool_recovers() -> None:
    """A job with no result in stall_timeout: workers killed, the job run once more, then
    WorkerStuck with a one-line reason; the next job runs normally."""
    pool = WorkerPool(1, stall_timeout=0.5)

    async def go() -> tuple[str, int]:
        started = time.monotonic()
        with pytest.raises(WorkerStuck) as caught:
            await pool.run(hang, None, what="feed-x")
        assert time.monotonic() - started < 20
        return caught.value.reason, await pool.run(square, 7)

    try:
        reason, after = run(go())
    finally:
        pool.close()
    assert "stuck" in reason and "0.5 s" in reason and "\n" not in reason
    assert after == 49 and pool.restarts == 2


def test_a_job_stuck_once_succeeds_on_its_retry(tmp_path: Path) -> None:
    """Retried once: a worker that hung once (not the job's fault) costs one restart."""
    pool = WorkerPool(1, stall_timeout=0.5)
    try:
        assert run(pool.run(hang_first_time, str(tmp_path / "m"))) == "done"
    finally:
        pool.close()
    assert pool.restarts == 1


def test_a_stopped_worker_is_detected_killed_and_replaced() -> None:
    """A real hang, not a sleep: the worker is frozen with SIGSTOP during a job; the watchdog
    kills it (SIGKILL reaches a stopped process) and the job completes in a new worker."""
    pool = WorkerPool(1, stall_timeout=1.0)

    async def go() -> float:
        await pool.run(square, 1)  # the worker exists
        (pid,) = pool.pids()
        job = asyncio.ensure_future(pool.run(slow, 0.3))
        await asyncio.sleep(0.05)
        os.kill(pid, signal.SIGSTOP)
        return await job

    try:
        assert run(go()) == 0.3
    finally:
        pool.close()
    assert pool.restarts == 1


def test_a_job_that_kills_its_worker_is_given_up_and_others_in_flight_survive() -> None:
    """A job whose worker dies twice raises WorkerDied; a job running beside it when the
    pool broke is run again and returns its result; the pool keeps working."""
    pool = WorkerPool(2, stall_timeout=30)

    async def go() -> tuple[str, float, int]:
        other = asyncio.ensure_future(pool.run(slow, 0.5))
        await asyncio.sleep(0.1)
        with pytest.raises(WorkerDied) as caught:
            await pool.run(die, None)
        return caught.value.reason, await other, await pool.run(square, 3)

    try:
        reason, other, after = run(go())
    finally:
        pool.close()
    assert "died while parsing this feed" in reason
    assert (other, after) == (0.5, 9)


def test_a_killed_worker_between_jobs_costs_nothing() -> None:
    """The OOM killer takes an idle worker: the next job finds the pool broken, a new pool
    runs it."""
    pool = WorkerPool(2, stall_timeout=30)

    async def go() -> int:
        await pool.run(square, 2)
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        return await pool.run(square, 5)

    try:
        assert run(go()) == 25
    finally:
        pool.close()


def test_close_does_not_wait_forever_for_a_stuck_worker() -> None:
    """Stopping the daemon with a frozen worker: close() kills it after its grace time."""
    pool = WorkerPool(1, stall_timeout=60)

    async def go() -> None:
        await pool.run(square, 1)
        (pid,) = pool.pids()
        task = asyncio.ensure_future(pool.run(slow, 0.5))
        await asyncio.sleep(0.05)
        os.kill(pid, signal.SIGSTOP)
        task.cancel()

    run(go())
    started = time.monotonic()
    pool.close(timeout=1.0)
    assert time.monotonic() - started < 10


def test_a_hanging_test_fails_with_its_stack_and_the_run_goes_on(tmp_path: Path) -> None:
    """The suite's own guard (pytest-timeout, configured in pyproject.toml): a test stuck on
    a lock that is never released fails with its stack after the timeout, and the tests
    after it still run."""
    (tmp_path / "test_hang.py").write_text(textwrap.dedent("""
        import threading

        def test_deadlocked():
            lock = threading.Lock()
            lock.acquire()
            lock.acquire()  # never released: a deadlock

        def test_after():
            pass
    """))
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=2",
         "-o", "addopts=", str(tmp_path / "test_hang.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 1, out.stdout
    assert "Timeout" in out.stdout and "lock.acquire()" in out.stdout
    assert "1 failed, 1 passed" in out.stdout
    assert time.monotonic() - started < 60


def fail_to_start() -> None:
    raise RuntimeError("cannot initialise")


def test_workers_that_die_at_start_fail_the_job_instead_of_looping() -> None:
    """An initializer that always fails (a broken install, no memory): the job fails with a
    one-line WorkerError after a few tries, not an endless restart."""
    from mediamon.workers import WorkerError

    pool = WorkerPool(1, initializer=fail_to_start, stall_timeout=30)
    started = time.monotonic()
    try:
        with pytest.raises(WorkerError, match="died at start 3 times"):
            run(pool.run(square, 2))
    finally:
        pool.close()
    assert time.monotonic() - started < 60


# -- what the fork server shares with the workers --------------------------------------------


def fork_server_state(_: object) -> tuple[int | None, bool]:
    """In a worker: its fork server's threads when it forked it, and whether the language
    model was already loaded before this worker did anything (that is, by the fork server;
    without py3langid, its absence was found there)."""
    from mediamon.core import language
    from mediamon.workers import threads_at_fork

    return threads_at_fork(), language._model.cache_info().currsize == 1


def detect_all(texts: list[str]) -> list[tuple[str | None, float]]:
    from mediamon.core import language

    return [language.detect(t) for t in texts]


_POOL_IN_A_CHILD = textwrap.dedent("""
    import asyncio, json, sys
    import mediamon.workers as workers
    from test_workers import fork_server_state
    workers.PRELOAD = (*workers.PRELOAD, *sys.argv[1:])

    async def main():
        pool = workers.WorkerPool(2)
        try:
            return await asyncio.gather(*(pool.run(fork_server_state, None) for _ in range(6)))
        finally:
            pool.close()

    print(json.dumps(asyncio.run(main())))
""")


def _pool_in_a_child(*preload: str) -> tuple[list[list[object]], str]:
    """A fresh interpreter (so a fresh fork server) runs jobs in a 2-worker pool: each job's
    ``fork_server_state``, and the child's stderr (where the workers' warnings go)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):  # as a user may run it
        env.pop(variable, None)
    out = subprocess.run([sys.executable, "-c", _POOL_IN_A_CHILD, *preload],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_the_fork_server_has_one_thread_at_every_fork_and_shares_the_language_model() -> None:
    """The fork server loads the language model (numpy included) before it forks, and still
    has a single thread, C threads counted (/proc/self/task), at each worker's fork."""
    states, stderr = _pool_in_a_child()
    assert states == [[1, True]] * 6
    assert "forked by a fork server" not in stderr


def test_a_fork_from_a_threaded_fork_server_is_seen() -> None:
    """The count is real: a fork server that runs a thread (a preloaded module starts one)
    forks workers that report two threads, and each warns."""
    states, stderr = _pool_in_a_child("forkserver_thread")
    assert {threads for threads, _ in states} == {2}
    assert "forked by a fork server that had 2 threads" in stderr


def test_workers_detect_the_same_languages_as_this_process() -> None:
    """The model the workers share from the fork server gives the very results of one loaded
    here, on every labelled text (title + summary, and the title alone)."""
    from mediamon.core.language import detect
    from test_language import labelled

    texts = [t for _, text, title in labelled() for t in (text, title)]
    chunks = [texts[i:i + 200] for i in range(0, len(texts), 200)]
    pool = WorkerPool(2)

    async def both() -> list[list[tuple[str | None, float]]]:
        return await asyncio.gather(*(pool.run(detect_all, c) for c in chunks))

    try:
        results = run(both())
    finally:
        pool.close()
    in_workers = [r for chunk in results for r in chunk]
    assert len(in_workers) == len(texts) > 500
    assert [tuple(r) for r in in_workers] == [detect(t) for t in texts]
