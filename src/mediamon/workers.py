"""The worker processes that do the CPU-bound half of a feed pass, and their watchdog.

    pool = WorkerPool(2, initializer=..., stall_timeout=60.0)
    result = await pool.run(fn, job, what=feed_url)

How the processes are made. A process with threads must never ``fork()``: the child gets
a copy of every lock that another thread held at that moment (SQLite's mutexes, malloc's,
the logging module's) in its locked state, and nothing in the child will release it, so
the worker hangs at its first ``sqlite3.connect`` or allocation, silently and forever.
mediamon's main process always has threads (the asyncio executor, the writer's SQLite
calls, test servers), so the workers come from a *fork server*: a fresh, single-threaded
interpreter started once per process with ``posix_spawn``-style fork+exec (safe from any
thread), which imports ``PRELOAD`` once and then forks each worker from itself. A worker
costs a fork of that small process, not a new interpreter (figures in docs/benchmarks.md).
What the fork server loads (``workers_preload``: the parse half of a pass, the language
detector's model) the workers share copy-on-write instead of each loading its own; it keeps
numpy to one thread so that the fork server stays single-threaded, and a worker forked while
it had more threads logs a warning (``threads_at_fork``). A worker does not run the caller's
main module, as a new multiprocessing process would (``_WorkerProcess``): a script that
calls mediamon at its top level works as it would with a plain fork. ``start_fork_server``
starts the server ahead of the first pool (``mediamon run`` does, before it imports the
pipeline).

The watchdog. At most ``size`` jobs are handed to the pool at once, so a job handed over is
running, and its time in the pool is its time in a worker. A job with no result after
``stall_timeout`` seconds is stuck (a feed's parse takes milliseconds): every worker of the
pool is killed, the pool is rebuilt, and the job runs once more; stuck twice, it raises
``WorkerStuck``. A worker that dies (killed, out of memory, a crash in C) breaks the pool:
it is rebuilt and each job that was in flight runs again, alone: a worker that dies then
was killed by that job (or by something outside that hits twice), which raises
``WorkerDied``; the others go on. The caller records those as the feed's
failure; the pool itself always recovers. Workers that cannot start at all (they die at
start ``MAX_START_DEATHS`` times, or never come up) raise ``WorkerStartError``: the
pipeline then parses in its own process for a while.

This module knows nothing about feeds: it runs picklable functions on picklable jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger("mediamon.workers")

T = TypeVar("T")

# Imported once, in this order, by the fork server, so that a new worker starts with them
# loaded: workers_preload first (it must run before numpy is imported; see it).
PRELOAD = ("mediamon.workers_preload", "mediamon.process")
MAX_STUCK = 2  # a job stuck this many times is given up
STARTUP_TIMEOUT = 60.0  # seconds for a new pool's workers to start and initialise
MAX_START_DEATHS = 3  # a pool whose workers die at start this many times in a row: give up
PROCESS_TITLE = "mediamon: parse worker"
# The prefix of the workers' multiprocessing names; the fork server knows them by it
# (workers_preload.WORKER_NAME, the same text: see _WorkerProcess).
WORKER_NAME = "mediamon-worker:"


class WorkerError(Exception):
    """A job that could not be run to a result; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkerStuck(WorkerError):
    pass


class WorkerStartError(WorkerError):
    """The pool could not start its workers (they died at start, or never came up)."""


class WorkerDied(WorkerError):
    pass


def _context(method: str | None = None) -> multiprocessing.context.BaseContext:
    """The fork server where the platform has one (Linux, macOS), else spawn: never a plain
    fork of the calling process (``method`` chooses another, for benchmarks)."""
    if method is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
            else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        # Not the default ["__main__"]: the fork server must not run the caller's script.
        ctx.set_forkserver_preload(list(PRELOAD))
        return _WorkerContext()
    return ctx


if "forkserver" in multiprocessing.get_all_start_methods():
    class _WorkerProcess(multiprocessing.context.ForkServerProcess):
        """A worker from the fork server, named so that the fork server's ``prepare``
        (``workers_preload``) knows it for one of mediamon's: it starts without running the
        caller's main module, which it never needs (its jobs are mediamon's functions). A
        new process of ``multiprocessing`` would run that script again, top level included:
        a script that calls mediamon outside an ``if __name__ == "__main__":`` block would
        poll its feeds again in each worker."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.name = WORKER_NAME + self.name

    class _WorkerContext(multiprocessing.context.ForkServerContext):
        Process = _WorkerProcess


def worker_count(setting: int | None) -> int:
    """Worker processes for ``fetch.workers``: one per CPU by default, none on one CPU."""
    if setting is not None:
        return setting
    cpus = os.cpu_count() or 1
    return cpus if cpus > 1 else 0


def start_fork_server(workers: int | None) -> bool:
    """For a ``fetch.workers`` setting that means workers: start the fork server now and
    return at once, a fresh interpreter that imports ``PRELOAD`` (a quarter of a second)
    while the caller goes on. A command that will parse feeds calls this before its own
    imports and database, which then overlap the server's start, and its first pool finds
    the server ready. False (nothing started) without workers, or where workers come from
    no fork server (spawn)."""
    if worker_count(workers) == 0 or _context().get_start_method() != "forkserver":
        return False
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return True


def _ready(i: int) -> int:
    """The warm-up job: a worker that returns it has started and initialised."""
    return i


def _start_worker(initializer: Callable[..., None] | None, initargs: Sequence[Any],
                  parent: int) -> None:
    """Every worker: a process title, Ctrl-C left to the parent, death with the parent, then
    the caller's initializer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool
    try:
        import setproctitle

        setproctitle.setproctitle(PROCESS_TITLE)
    except Exception:
        pass
    threads = threads_at_fork()
    if threads is not None and threads > 1:
        log.warning("parse worker forked by a fork server that had %d threads: it may hang "
                    "on a lock another thread held", threads)
    _die_with(parent)
    if initializer is not None:
        initializer(*initargs)


def threads_at_fork() -> int | None:
    """In a worker: its fork server's threads (C ones included) when it forked this worker;
    None where no fork server of ``PRELOAD`` made it (spawn, or another fork server)."""
    preload = sys.modules.get("mediamon.workers_preload")
    threads = getattr(preload, "THREADS_AT_FORK", None)
    return threads if isinstance(threads, int) and threads > 0 else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (killed, not yet reaped by its own parent) does not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _die_with(parent: int) -> None:
    """Exit when the process that made the pool is gone, even after a SIGKILL: a worker must
    not outlive its daemon. (The fork server, the worker's real parent, does not notice: every
    worker holds the pipe whose closing would tell it.)"""
    if not _alive(parent):
        os._exit(0)

    def watch() -> None:
        while _alive(parent):
            time.sleep(0.5)
        os._exit(0)  # the daemon was killed: nothing here is worth finishing

    threading.Thread(target=watch, daemon=True, name="mediamon-parent-watch").start()


class WorkerPool:
    """``size`` worker processes from a fork server, with a watchdog (see the module)."""

    def __init__(self, size: int, *, initializer: Callable[..., None] | None = None,
                 initargs: Sequence[Any] = (), stall_timeout: float = 60.0,
                 start_method: str | None = None, name: str = "parse worker",
                 doing: str = "parsing this feed") -> None:
        """``name`` and ``doing`` word the one-line errors: "parse worker stuck...",
        "parse worker died while parsing this feed"."""
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self.name, self.doing = name, doing
        self.stall_timeout = stall_timeout
        self.start_method = start_method
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._executor: ProcessPoolExecutor | None = None
        self._ready: asyncio.Future[None] | None = None  # the current pool's warm-up
        self._slots: asyncio.Semaphore | None = None
        self._isolation: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.restarts = 0  # pools rebuilt after a death or a stuck job (for logs and tests)
        self._wanted = 0  # jobs in ``run``: running or waiting for a worker

    def start(self) -> None:
        """Create the pool now (its workers start with the first job)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.size, mp_context=_context(self.start_method),
                initializer=_start_worker,
                initargs=(self._initializer, self._initargs, os.getpid()))
            self._ready = None

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # asyncio objects belong to one loop
            self._loop, self._ready = loop, None
            self._slots, self._isolation = asyncio.Semaphore(self.size), asyncio.Lock()

    def warm(self) -> None:
        """Start the workers now, in the background of the running loop, so that the first
        job finds them ready (a pass that is sure to have bodies to parse). A failure to
        start shows at the first job, which tries again."""
        self._bind()
        self.start()
        if self._ready is None:
            assert self._executor is not None
            self._ready = asyncio.ensure_future(self._warm(self._executor))
            self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _ready_pool(self) -> ProcessPoolExecutor:
        """The pool with every worker started and initialised, so that a job's time is its
        own, not a new worker's start-up. A pool that cannot start its workers in
        ``STARTUP_TIMEOUT`` is killed and raises WorkerStartError, as does one whose
        workers die at start ``MAX_START_DEATHS`` times in a row (a broken initializer, a
        machine that cannot start processes, a worker that cannot read its start-up data)."""
        deaths = 0
        while True:
            try:
                self.start()
            except OSError as exc:  # no pipes or processes to be had (EMFILE, EAGAIN)
                raise WorkerStartError(f"parse workers cannot start: {exc}") from None
            executor = self._executor
            assert executor is not None
            if self._ready is None:
                self._ready = asyncio.ensure_future(self._warm(executor))
            ready = self._ready
            try:
                await asyncio.shield(ready)
            except (BrokenProcessPool, OSError) as exc:  # OSError: died before reading
                self._restart(executor, "worker died at start", "")  # its start-up data
                deaths += 1
                if deaths >= MAX_START_DEATHS:  # its initializer fails, or the machine
                    raise WorkerStartError(   # cannot start processes: never loop on it
                        f"parse workers died at start {deaths} times "
                        f"({type(exc).__name__})") from None
                continue
            except TimeoutError:
                self._restart(executor, "workers did not start", "")
                raise WorkerStartError(
                    f"parse workers did not start within {STARTUP_TIMEOUT:g} s") from None
            if self._executor is executor:
                return executor

    async def _warm(self, executor: ProcessPoolExecutor) -> None:
        async def start() -> None:
            # Starting a worker writes its start-up data (the initargs: a scorer is some
            # hundred KB) into a pipe that the new process reads only once the fork server has
            # forked it, so on a cold fork server ``submit`` blocks for the server's whole
            # start. In a thread it leaves the event loop free to go on fetching meanwhile.
            submitted = await asyncio.to_thread(
                lambda: [executor.submit(_ready, i) for i in range(self.size)])
            await asyncio.gather(*map(asyncio.wrap_future, submitted))

        await asyncio.wait_for(start(), STARTUP_TIMEOUT)

    def pids(self) -> list[int]:
        """The worker processes alive now (for tests and status)."""
        executor = self._executor
        procs = getattr(executor, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.pid is not None and p.is_alive()]

    async def run(self, fn: Callable[[Any], T], job: Any, *, what: str = "") -> T:
        """``fn(job)`` in a worker. Raises WorkerStuck, WorkerDied or WorkerStartError (see
        the module); a job's own exceptions propagate as they are."""
        self._bind()
        self._wanted += 1
        try:
            return await self._run(fn, job, what)
        finally:
            self._wanted -= 1

    def idle(self) -> int:
        """Workers that a job handed over now would not wait for (none while jobs wait)."""
        return max(0, self.size - self._wanted)

    async def _run(self, fn: Callable[[Any], T], job: Any, what: str) -> T:
        stuck = 0
        alone = False
        while True:
            async with self._turn(alone):
                executor = await self._ready_pool()
                try:
                    future = executor.submit(fn, job)
                    return await asyncio.wait_for(asyncio.wrap_future(future),
                                                  self.stall_timeout)
                except TimeoutError:
                    stuck += 1
                    self._restart(executor, "worker stuck", what, stuck=stuck)
                    if stuck >= MAX_STUCK:
                        raise WorkerStuck(
                            f"{self.name} stuck: no result in {self.stall_timeout:g} s, "
                            f"{stuck} times (workers restarted)") from None
                except BrokenProcessPool:
                    self._restart(executor, "worker died", what, alone=int(alone))
                    if alone:
                        raise WorkerDied(
                            f"{self.name} died while {self.doing}, alone, after a "
                            "first death (killed, out of memory, or a crash)") from None
                    # One death breaks every job in flight: each runs again alone, so a
                    # second death can only be its own.
                    alone = True

    @contextlib.asynccontextmanager
    async def _turn(self, alone: bool) -> AsyncIterator[None]:
        """One worker's turn, or with ``alone`` every worker's (no other job in flight)."""
        assert self._slots is not None and self._isolation is not None
        if not alone:
            async with self._slots:
                yield
            return
        async with self._isolation:
            taken = 0
            try:
                for _ in range(self.size):
                    await self._slots.acquire()
                    taken += 1
                yield
            finally:
                for _ in range(taken):
                    self._slots.release()

    def _restart(self, executor: ProcessPoolExecutor, why: str, what: str,
                 **fields: int) -> None:
        """Kill ``executor``'s workers and drop it; the next job makes a new pool. Once per
        pool, however many of its jobs noticed."""
        if self._executor is not executor:
            return
        self._executor = self._ready = None
        self.restarts += 1
        log.warning("%s; starting new workers", why, extra={"fields": {
            "feed": what, "workers": self.size, "stall_timeout": self.stall_timeout,
            **fields}})
        _kill(executor)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers: running jobs get ``timeout`` seconds to finish (a stuck worker
        never would), then whatever is left is killed."""
        executor, self._executor, self._ready = self._executor, None, None
        if executor is None:
            return
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(1.0)


K = TypeVar("K")


async def run_in_order(pool: WorkerPool, fn: Callable[[Any], T],
                       jobs: Iterable[tuple[K, Any]], done: Callable[[K, T], None], *,
                       ahead: int, what: Callable[[K], str] = lambda key: "") -> None:
    """Run ``fn`` on each job of ``jobs`` (``(key, job)`` pairs) in ``pool``, up to ``ahead``
    jobs beyond the oldest, and hand each result to ``done(key, result)`` in the order of
    ``jobs``: the caller reads the next jobs and handles the results (writes them) while
    the workers compute. An error (``WorkerError``, a job's own, one in ``done``) cancels
    the jobs not handed over yet and propagates."""
    pending: deque[tuple[K, asyncio.Future[T]]] = deque()
    try:
        for key, job in jobs:
            pending.append((key, asyncio.ensure_future(pool.run(fn, job, what=what(key)))))
            if len(pending) > ahead:
                oldest, result = pending.popleft()
                done(oldest, await result)
        while pending:
            oldest, result = pending.popleft()
            done(oldest, await result)
    finally:
        for _, future in pending:
            future.cancel()
        if pending:  # let the cancelled ones end before the caller closes the pool
            await asyncio.gather(*(future for _, future in pending), return_exceptions=True)


def _kill(executor: ProcessPoolExecutor) -> None:
    """SIGKILL every worker of ``executor`` (a stuck one ignores anything gentler) and let
    its threads wind down. Python 3.14 has ``kill_workers()``; earlier ones only the
    executor's own table of processes."""
    killer = getattr(executor, "kill_workers", None)
    if killer is not None:
        killer()
    else:
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(OSError, ValueError):  # already gone
                process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
