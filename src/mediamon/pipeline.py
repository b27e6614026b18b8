"""The one orchestrator: passes over feeds, on both cores, with one writer.

    update_feeds(feeds)        (run --once; the daemon submits the feeds the database says are due)
      at most fetch.concurrency passes at once and fetch.per_host per host; for each feed:
        if its host asked to wait (Retry-After)    postpone the feed to then, stop
        fetch    conditional GET of the feed's URL (or where it moved)      [event loop]
        if the body is byte-for-byte the last one  treat it as not modified
        process  parse -> normalise -> skip items whose content hash is unchanged
                 -> set aside new items the keep rule cannot match (prefilter: only their
                 seen row and profile terms) -> score -> sanitise the HTML of items that
                 will be stored                          [worker process: process.py]
        plan     the next poll: adaptive interval, server hints, backoff, Retry-After,
                 dead after schedule.dead_after, never again after 410     [policy, pure]
        write    items + fetch state + next poll: one savepoint per feed, a batch of feeds
                 per transaction, through the one writer                   [event loop]
        if 429/503 with Retry-After               postpone every feed of that host

Parsing is the CPU-bound part (feedparser alone is about 0.3 ms an item), so it runs in a
pool of worker processes (``fetch.workers``, one per CPU by default; ``workers.WorkerPool``:
a fork server, and a watchdog that restarts stuck or dead workers and fails only the feed
that stalls them) while the event loop keeps fetching. A cold pass starts the workers as it
begins; a body of ``SPLIT_BYTES`` or more per idle worker is shared between them (each
parses it and processes a share of its entries; ``process.merge``). Workers look up the
content hashes of items already seen through their own read-only connection, so an
unchanged item is neither scored nor sanitised. Nothing but the writer writes, and a feed's
items and its new fetch state commit together: a crash (even kill -9) loses at most the
batch being written, whose feeds are fetched again next time because their validators did
not move either.

Expected failures (network, HTTP status, malformed feeds) are recorded on the feed and the
pass goes on; anything unexpected is logged with its traceback and recorded on that feed too,
so a daemon never dies of one bad feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

from mediamon import enrich
from mediamon.clock import utc_iso, utcnow
from mediamon.config import Config
from mediamon.core import policy
from mediamon.core.policy import Limits, Plan
from mediamon.core.profile import Background, builtin_background
from mediamon.core.score import Scorer
from mediamon.fetch import fetch_feed, make_client, unreachable
from mediamon.process import Job, Processed, init_worker, merge, process_job, run_job
from mediamon.store.interface import IngestStore
from mediamon.store.rows import FeedRow, ScoredItem
from mediamon.types import FeedOutcome, FetchResult
from mediamon.workers import WorkerError, WorkerPool, WorkerStartError, worker_count

log = logging.getLogger("mediamon.pipeline")

REDIRECT_CONFIRMATIONS = 3  # a permanent redirect moves the feed once seen this many times
WRITE_BATCH = 32  # feed passes per write transaction at most
# Group commit: while passes that have not written yet are running, the writer's transaction
# waits this long at most for their writes (``_Writer``), on a store that allows it
# (``group_commit``). 1 s (and 128 passes) saved the writer a further 0.6-1.1 CPU-s on the
# dense workload, but then few kill -9s landed between two commits (8 of the crash test's 20,
# which needs 10 to show that a run killed mid-ingest loses nothing) and another writer would
# wait longer: not taken.
GROUP_COMMIT_SECONDS = 0.2
# Passes at once, those waiting for the writer included, per slot of fetch.concurrency.
WAITING_PER_SLOT = 2
STOP_GRACE_SECONDS = 10.0  # what running passes get to finish when asked to stop
# A body of this many bytes per idle worker is shared between them (each parses it and
# processes a share of its entries): a 5.7 MB feed of 5,000 items took one worker 2.9 s.
SPLIT_BYTES = 1_000_000
# Workers that could not start are tried again after this long; meanwhile bodies are parsed
# in this process.
POOL_RETRY_SECONDS = 600.0




def host_of(url: str) -> str:
    """``host[:port]`` of an http(s) URL, lower-cased ("" for files and nonsense)."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return ""
        return parts.hostname + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return ""


def _ceil_second(when: datetime) -> datetime:
    """``when`` rounded up to a whole second (the database keeps seconds)."""
    if when.microsecond:
        return when.replace(microsecond=0) + timedelta(seconds=1)
    return when


def limits_of(config: Config) -> Limits:
    s = config.schedule
    return Limits(min_interval=s.min_interval, max_interval=s.max_interval,
                  default_interval=s.interval, jitter=s.jitter, dead_after=s.dead_after,
                  max_retry_after=config.fetch.max_retry_after)


# -- the scorer, with what the database knows ------------------------------------------


@dataclass(frozen=True)
class Feedback:
    """Texts the analyst labelled, for the profile."""

    relevant: tuple[str, ...] = ()
    irrelevant: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.relevant) + len(self.irrelevant)


@dataclass(frozen=True)
class ScorerInfo:
    """What a scorer was built from, for reports."""

    builtin_documents: int
    stored_documents: int
    labels: int


def scorer_for(config: Config, store: IngestStore | None, *, feedback: bool = True,
               explain_unkept: bool = True) -> tuple[Scorer, ScorerInfo]:
    """The scorer for ``config``: built-in background plus the store's, and (if ``feedback``)
    the store's labels as Rocchio feedback. ``store`` None: the built-in background alone.
    ``explain_unkept=False``: matched terms only for kept items (see ``Scorer``)."""
    builtin = builtin_background()
    stored = store.background() if store is not None else Background()
    labels = Feedback(*store.label_texts()) if store is not None and feedback else Feedback()
    background = builtin.plus(stored.documents, stored.df)
    scorer = Scorer.from_config(config, background=background, relevant=labels.relevant,
                                irrelevant=labels.irrelevant, explain_unkept=explain_unkept)
    return scorer, ScorerInfo(builtin.documents, stored.documents, len(labels))


# -- the CPU-bound half: process.py, in worker processes ----------------------------------


# -- the writer -----------------------------------------------------------------------------


class _Writer:
    """The one writer: runs write functions in batches, each batch one transaction and each
    function a savepoint in it, so one feed's pass stays all-or-nothing. A caller's future
    resolves only after its batch committed.

    Group commit (``linger`` > 0): while passes that have not written yet are running
    (``unwritten``: their tasks, each taken out as it queues its first write, which
    ``on_written`` then reports), the transaction stays open for up to ``linger`` seconds
    for their writes, instead of committing each pass on its own. A cold poll's passes
    arrive one at a time, as fast as the writer takes them, so without it every pass was its
    own commit, and every commit rewrites the index pages it touched (docs/benchmarks.md,
    "Group commit"). The last pass of a run commits at once."""

    def __init__(self, store: IngestStore, *, batch: int = WRITE_BATCH, linger: float = 0.0,
                 unwritten: set[asyncio.Task[Any]] | None = None,
                 on_written: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.batch = batch
        self.linger = linger
        self.unwritten = set() if unwritten is None else unwritten
        self.on_written = on_written  # a task left ``unwritten``
        self._queue: deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._open = False  # a transaction is open (aclose waits for its commit)

    async def run(self, fn: Callable[[], Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        if task in self.unwritten:
            self.unwritten.discard(task)
            self.on_written()
        self._queue.append((fn, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="mediamon-writer")
        self._wake.set()
        return await future

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # let passes that are ready queue their writes too
            while self._queue:
                await self._write()
                await asyncio.sleep(0)

    async def _write(self) -> None:
        """One transaction: what is queued, and with ``linger`` what comes while it waits."""
        done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        start = time.monotonic()
        cancelled = False
        self._open = True
        try:
            with self.store.transaction():
                while True:
                    while self._queue and len(done) < self.batch:
                        fn, future = self._queue.popleft()
                        try:
                            ok, value = self._one(fn)
                        except Exception:
                            done.append((future, False, None))  # failed with the batch, below
                            raise
                        done.append((future, ok, value))
                    left = self.linger - (time.monotonic() - start)
                    if len(done) >= self.batch or left <= 0 or not self.unwritten:
                        break
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except TimeoutError:
                        break
                    except asyncio.CancelledError:  # commit what was written, then stop
                        cancelled = True
                        break
        except Exception as exc:  # the commit itself failed: nothing of the batch is stored
            done = [(future, False, exc) for future, _, _ in done]
        finally:
            self._open = False
        for future, ok, value in done:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        if cancelled:
            raise asyncio.CancelledError

    def _one(self, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """``fn`` in a savepoint: (True, its result), or (False, the error) rolled back."""
        try:
            with self.store.transaction():  # a savepoint
                return True, fn()
        except Exception as exc:  # that pass is rolled back, the batch goes on
            if not self.store.in_transaction:
                # SQLite rolled back the whole batch (the disk is full, an I/O error):
                # every pass in it failed, with this error.
                raise
            return False, exc

    async def aclose(self) -> None:
        while self._queue or self._open:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


# -- dispatching: global and per-host limits -------------------------------------------------


class _Dispatcher:
    """Starts passes at most ``concurrency`` at once and ``per_host`` per host, taking hosts
    in turn, so feeds of one busy host never hold up the others.

    ``per_host`` limits requests, not the work after them: a pass gives its host's slot back
    (``release_host``) as soon as its body has arrived, so the next feed of that host is
    fetched while this one is parsed and written (one host serving many feeds would
    otherwise keep at most ``per_host`` passes, and so at most that many cores, busy).
    """

    def __init__(self, run: Callable[[FeedRow], Any], *, concurrency: int, per_host: int,
                 unwritten: set[asyncio.Task[Any]] | None = None) -> None:
        self._run = run
        # Its passes that have not asked the writer for anything yet: ``concurrency`` counts
        # these, since a pass that waits for the writer's commit (``_Writer``, group commit)
        # needs neither the network nor a core. Passes that wait for the writer are bounded
        # too (``WAITING_PER_SLOT``), so a writer slower than the parsing does not gather
        # every feed's parsed items in memory.
        self.unwritten: set[asyncio.Task[Any]] = set() if unwritten is None else unwritten
        self.on_low: Callable[[], None] | None = None  # called when few passes are left
        self.concurrency = concurrency
        self.per_host = per_host
        self._queues: dict[str, deque[FeedRow]] = {}
        self._ready: deque[str] = deque()
        self._in_ready: set[str] = set()
        self._active: dict[str, int] = {}
        self._holding: dict[int, str] = {}  # feed id -> the host whose slot its pass holds
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._queued: set[int] = set()
        self.results: dict[int, Any] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy_ids(self) -> set[int]:
        """Feeds queued or being polled."""
        return self._queued | set(self._tasks)

    @property
    def pending(self) -> int:
        return len(self._queued) + len(self._tasks)

    def _key(self, feed: FeedRow) -> str:
        return host_of(feed.effective_url) or f"feed:{feed.id}"

    def submit(self, feed: FeedRow) -> bool:
        """Queue a pass over ``feed``; False when it is already queued or running."""
        if feed.id in self._queued or feed.id in self._tasks:
            return False
        key = self._key(feed)
        self._queues.setdefault(key, deque()).append(feed)
        self._queued.add(feed.id)
        self._idle.clear()
        self._mark_ready(key)
        self.pump()
        return True

    def _mark_ready(self, key: str) -> None:
        if key not in self._in_ready and self._queues.get(key) and \
                self._active.get(key, 0) < self.per_host:
            self._ready.append(key)
            self._in_ready.add(key)

    def _fetching(self) -> int:
        """Passes started that have not handed their write over yet: every task in
        ``unwritten`` is one of this dispatcher's (``pump`` adds it, the writer and ``_done``
        only take tasks out), so no walk over the running passes is needed."""
        return len(self.unwritten)

    def pump(self) -> None:
        """Start what the limits allow (also when a pass has handed its write over)."""
        while self._fetching() < self.concurrency and \
                len(self._tasks) < WAITING_PER_SLOT * self.concurrency and self._ready:
            key = self._ready.popleft()
            self._in_ready.discard(key)
            queue = self._queues.get(key)
            if not queue or self._active.get(key, 0) >= self.per_host:
                continue
            feed = queue.popleft()
            if not queue:
                del self._queues[key]
            self._queued.discard(feed.id)
            self._active[key] = self._active.get(key, 0) + 1
            self._holding[feed.id] = key
            task = asyncio.create_task(self._run(feed), name=f"mediamon-feed-{feed.id}")
            self._tasks[feed.id] = task
            self.unwritten.add(task)
            task.add_done_callback(functools.partial(self._done, feed=feed, key=key))
            self._mark_ready(key)

    def _free_slot(self, feed_id: int) -> str | None:
        """Give back the host slot ``feed_id``'s pass holds (once); its host's key."""
        key = self._holding.pop(feed_id, None)
        if key is not None:
            self._active[key] -= 1
            if not self._active[key]:
                del self._active[key]
        return key

    def release_host(self, feed_id: int) -> None:
        """The pass over ``feed_id`` is done with the network: the next feed of its host may
        be fetched now, while this pass goes on (within ``concurrency`` passes at once)."""
        key = self._free_slot(feed_id)
        if key is not None:
            self._mark_ready(key)
            self.pump()

    def _done(self, task: asyncio.Task[Any], feed: FeedRow, key: str) -> None:
        self._tasks.pop(feed.id, None)
        self.unwritten.discard(task)
        self._free_slot(feed.id)
        if not task.cancelled() and task.exception() is None:
            self.results[feed.id] = task.result()
        self._mark_ready(key)
        self.pump()
        if not self._tasks and not self._queued:
            self._idle.set()
        if self.on_low is not None and self.pending < self.concurrency:
            self.on_low()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def cancel_queued(self) -> None:
        """Forget feeds not started yet (the daemon is stopping)."""
        self._queues.clear()
        self._ready.clear()
        self._in_ready.clear()
        self._queued.clear()
        if not self._tasks:
            self._idle.set()

    def tasks(self) -> list[asyncio.Task[Any]]:
        return list(self._tasks.values())


class NetworkWatch:
    """Says once that the network looks down, and once that it is back.

    Down: ``DOWN_AFTER`` feeds on as many different hosts in a row failed to resolve or
    connect, with no fetch succeeding in between (or, at the end of a pass, every feed of
    the pass did). One bad host never looks like a dead network."""

    DOWN_AFTER = 3

    def __init__(self) -> None:
        self.down = False
        self._hosts: set[str] = set()
        self._failed = 0

    def observe(self, outcome: FeedOutcome, host: str) -> None:
        if outcome.status == "error" and unreachable(outcome.error):
            self._failed += 1
            self._hosts.add(host)
            if len(self._hosts) >= self.DOWN_AFTER:
                self._say_down()
        elif outcome.status in ("ok", "not_modified"):
            if self.down:
                log.info("network is back", extra={"fields": {"feed": outcome.url}})
            self.down, self._failed = False, 0
            self._hosts.clear()

    def end_of_pass(self, outcomes: Sequence[FeedOutcome]) -> None:
        fetched = [o for o in outcomes if o.status != "postponed"]
        if fetched and all(o.status == "error" and unreachable(o.error) for o in fetched):
            self._say_down()

    def _say_down(self) -> None:
        if not self.down:
            self.down = True
            log.warning("the network looks down: %d feed(s) on %d host(s) could not be "
                        "resolved or connected to, and nothing was fetched in between",
                        self._failed, len(self._hosts) or 1)


# -- the orchestrator -----------------------------------------------------------------------


class Updater:
    """Runs feed passes with one shared HTTP client, a worker pool and one writer."""

    def __init__(
        self,
        config: Config,
        store: IngestStore,
        *,
        client: httpx.AsyncClient | None = None,
        scorer: Scorer | None = None,
        clock: Callable[[], datetime] = utcnow,
        keep_all: bool | None = None,
        workers: int | None = None,
    ) -> None:
        self.config = config
        self.store = store
        # The profile's idf comes from the built-in background plus every item this
        # database has seen, and the analyst's labels move it; unkept items are explained
        # only when they are stored.
        stores_unkept = config.keep.keep_all if keep_all is None else keep_all
        self.scorer = scorer or scorer_for(config, store, explain_unkept=stores_unkept)[0]
        self.clock = clock
        self.keep_all = config.keep.keep_all if keep_all is None else keep_all
        self.limits = limits_of(config)
        self.workers = worker_count(config.fetch.workers if workers is None else workers)
        self._client = client
        self._own_client = client is None
        # At most ``concurrency`` passes at once (the dispatcher keeps to it too, and to the
        # per-host limit; fetch.make_client enforces per_host once more for direct calls).
        self._global = asyncio.Semaphore(config.fetch.concurrency)
        self._pool: WorkerPool | None = None
        self._pool_retry = 0.0  # time.monotonic() before which no pool is made
        # Passes running that have not asked the writer for anything yet: the writer waits
        # for them (group commit), and the dispatcher's concurrency counts them.
        unwritten: set[asyncio.Task[Any]] = set()
        self._writer = _Writer(
            store, linger=GROUP_COMMIT_SECONDS if store.group_commit else 0.0,
            unwritten=unwritten, on_written=lambda: self._dispatcher.pump())
        self._dispatcher = _Dispatcher(self.update_feed, concurrency=config.fetch.concurrency,
                                       per_host=config.fetch.per_host, unwritten=unwritten)
        self._host_until: dict[str, tuple[datetime, str]] = {}
        self._started = False
        self.network = NetworkWatch()
        # -- articles (enrich.py): with [articles] enabled, the pages of a pass's kept items
        # and of those a positive topic matched; the prefilter then lets the latter through.
        self._articles_on = enrich.enabled(config, store)
        if self._articles_on:
            self.scorer = replace(self.scorer, article_candidates=True)
        self._enricher: enrich.Enricher | None = None
        # -- end articles

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            f = self.config.fetch
            # More pooled connections than passes at once, so connections to many hosts
            # stay open between requests (the dispatcher keeps to fetch.concurrency).
            self._client = make_client(
                user_agent=f.user_agent, timeout=f.timeout, connect_timeout=f.connect_timeout,
                read_timeout=f.read_timeout, max_connections=max(128, 4 * f.concurrency),
                per_host=f.per_host, http2=f.http2, proxy=f.proxy,
            )
        return self._client

    # -- articles (enrich.py)
    @property
    def enricher(self) -> enrich.Enricher:
        if self._enricher is None:
            def hold(host: str, until: datetime, reason: str) -> int:
                self.store.set_host_wait(host, until, reason)
                ids = [i for i, url in self.store.feed_urls() if host_of(url) == host]
                return self.store.postpone(ids, until, reason)

            holds = enrich.PassHolds(self._host_until, host_of, self.clock, self._writer.run,
                                     hold)
            store = cast(enrich.ArticleStore, self.store)  # enrich.enabled checked it
            self._enricher = enrich.Enricher(
                self.config, store, client=self.client, scorer=self.scorer,
                clock=self.clock, write=self._writer.run, holds=holds, pool=lambda: self._pool)
        return self._enricher
    # -- end articles

    def start(self, *, pool: bool = False) -> None:
        """Load the hosts that asked to wait; with ``pool``, create the worker pool now (the
        daemon does). Otherwise the pool starts with the first body to parse: a poll where
        every feed answers "not modified" never starts it."""
        if not self._started:
            self._started = True
            self.refresh_host_waits()
        if pool and (workers := self._worker_pool()) is not None:
            workers.start()

    def _worker_pool(self) -> WorkerPool | None:
        """The worker pool, made if need be; None with ``fetch.workers = 0``, and for
        ``POOL_RETRY_SECONDS`` after the workers could not start (see ``_pool_failed``)."""
        if self._pool is None and self.workers > 0 and time.monotonic() >= self._pool_retry:
            self._pool = WorkerPool(self.workers, initializer=init_worker,
                                    initargs=(self.scorer, str(self.store.path)),
                                    stall_timeout=self.config.fetch.worker_timeout)
        return self._pool

    def _pool_failed(self, reason: str) -> None:
        """The workers cannot start (no processes to be had; a worker that dies before it
        reads its start-up data, as when a script runs mediamon outside an ``if __name__ ==
        "__main__":`` block): parse in this process rather than lose the pass, and try the
        workers again later."""
        if self._pool is None:
            return  # another job of the same pool said so already
        self._pool.close()
        self._pool = None
        self._pool_retry = time.monotonic() + POOL_RETRY_SECONDS
        log.warning("%s: parsing in this process for %g minutes", reason,
                    POOL_RETRY_SECONDS / 60)

    def refresh_host_waits(self) -> None:
        now = self.clock()
        for host, (until, reason) in self.store.host_waits(now).items():
            self._host_until[host] = (datetime.fromisoformat(until), reason)

    async def aclose(self) -> None:
        await self._writer.aclose()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Updater:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- many feeds

    def submit(self, feed: FeedRow) -> bool:
        """Queue a pass over ``feed`` (the daemon); False if it is already queued or running."""
        self.start()
        return self._dispatcher.submit(feed)

    @property
    def busy_ids(self) -> set[int]:
        return self._dispatcher.busy_ids

    def on_low(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever fewer passes than ``fetch.concurrency`` are left (the
        daemon then asks the database for more due feeds at once)."""
        self._dispatcher.on_low = callback

    @property
    def pending(self) -> int:
        return self._dispatcher.pending

    async def update_feeds(self, feeds: Sequence[FeedRow]) -> list[FeedOutcome]:
        """Update every feed within the limits; outcomes in the order of ``feeds``."""
        self.start()
        if self._enricher is not None:  # articles: a new pass, a whole budget
            self._enricher.start_pass()
        if any(f.last_success is None for f in feeds) and \
                (workers := self._worker_pool()) is not None:
            # A feed never fetched will send a body: the workers start while the first
            # requests are on their way rather than after the first body arrived.
            workers.warm()
        for feed in feeds:
            self._dispatcher.submit(feed)
        await self._dispatcher.wait_idle()
        results = self._dispatcher.results
        return [results.pop(f.id) for f in feeds if f.id in results]

    async def drain(self, timeout: float) -> None:
        """Stop starting passes; let running ones finish, cancelling them after ``timeout``."""
        self._dispatcher.cancel_queued()
        tasks = self._dispatcher.tasks()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)

    # -- one feed

    async def update_feed(self, feed: FeedRow) -> FeedOutcome:
        """One pass over one feed. Never raises for anything a feed or server can do."""
        started = time.perf_counter()
        outcome: FeedOutcome
        try:
            self.start()
            waiting = self._host_wait(feed)
            if waiting is not None:
                outcome = await self._postpone(feed, *waiting)
            else:
                outcome = await self._pass(feed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a database fault: record it, keep the daemon alive
            log.exception("internal error while updating %s", feed.url)
            outcome = FeedOutcome(feed.url, "error", error=f"internal error: {exc!r}")
            await self._record_internal_error(feed, outcome)
        log_outcome(outcome, feed, time.perf_counter() - started)
        self.network.observe(outcome, host_of(feed.effective_url) or feed.url)
        return outcome

    def _host_wait(self, feed: FeedRow) -> tuple[datetime, str] | None:
        host = host_of(feed.effective_url)
        wait = self._host_until.get(host) if host else None
        if wait is None:
            return None
        if wait[0] <= self.clock():
            del self._host_until[host]
            return None
        return wait

    async def _postpone(self, feed: FeedRow, until: datetime, reason: str) -> FeedOutcome:
        until = _ceil_second(until)  # stored at second precision: never due before ``until``
        await self._writer.run(lambda: self.store.postpone([feed.id], until, reason))
        return FeedOutcome(feed.url, "postponed", error=reason)

    async def _pass(self, feed: FeedRow) -> FeedOutcome:
        async with self._global:
            fetch = await fetch_feed(
                self.client, feed.effective_url, feed.validators,
                max_bytes=self.config.fetch.max_bytes, timeout=self.config.fetch.timeout,
                now=self.clock(),
            )
            if fetch.status in ("ok", "not_modified"):
                # The body is here: the host's slot goes to its next feed. (After an error the
                # slot is kept to the end of the pass, so a Retry-After holds the host before
                # any other request goes to it.)
                self._dispatcher.release_host(feed.id)
            now = self.clock()
            processed = None
            if fetch.status == "ok" and fetch.body is not None:
                if hashlib.sha256(fetch.body).hexdigest()[:16] == feed.body_hash:
                    # Some servers send no validators (or stale ones): an identical body is
                    # "not modified" and costs no parsing.
                    fetch = replace(fetch, status="not_modified", body=None)
                else:
                    processed = await self._process(fetch, feed, now)
        plan, state = self._plan(feed, fetch, processed, now)
        outcome = await self._writer.run(lambda: self._save(feed, fetch, processed, plan, state,
                                                            now))
        # -- articles (enrich.py): once the pass is committed; a page never fails it. A feed
        # not modified still has the pages an earlier pass deferred fetched.
        if self._articles_on and fetch.status in ("ok", "not_modified") and \
                (processed is None or processed.error is None):
            await self.enricher.after_pass(feed, processed.scored if processed else (),
                                           processed.unchanged if processed else ())
        # -- end articles
        if fetch.status == "error" and fetch.retry_after is not None:
            await self._hold_host(feed, fetch.retry_after, now)
        return outcome

    async def _process(self, fetch: FetchResult, feed: FeedRow, now: datetime) -> Processed:
        job = Job(fetch, feed.url, now, self.keep_all, self.store.stories,
                  recognise=feed.last_success is not None)
        workers = self._worker_pool()
        if workers is None:
            return self._process_here(job)
        try:
            assert fetch.body is not None
            parts = min(workers.idle(), len(fetch.body) // SPLIT_BYTES)
            if parts < 2:
                return await workers.run(process_job, job, what=feed.url)
            # A large body and idle workers (one big feed, or the last of a pass): each
            # worker parses the body and processes its share of the entries.
            done = await asyncio.gather(
                *(workers.run(process_job, replace(job, part=(k, parts)), what=feed.url)
                  for k in range(parts)), return_exceptions=True)
            for result in done:
                if isinstance(result, BaseException):
                    raise result
            return merge(cast(list[Processed], done), now)
        except WorkerStartError as exc:
            if self._pool is workers:
                self._pool_failed(exc.reason)
            return self._process_here(job)
        except WorkerError as exc:
            # Stuck or dying twice on this body: the feed fails this pass, with the reason,
            # and is polled again on the error schedule; the pool has recovered already.
            log.warning("feed not parsed: %s", exc.reason, extra={"fields": {"feed": feed.url}})
            return Processed((), 0, None, None, None, error=exc.reason)

    def _process_here(self, job: Job) -> Processed:
        return run_job(job, self.scorer, self.store.seen_hashes, self.store.seen_raw)

    def _plan(self, feed: FeedRow, fetch: FetchResult, processed: Processed | None,
              now: datetime) -> tuple[Plan, dict[str, Any]]:
        """The next poll and the feed's new schedule state (pure but for the random jitter)."""
        failed = fetch.status == "error" or (processed is not None and processed.error)
        kind: policy.Outcome = "error" if failed else fetch.status  # type: ignore[assignment]
        parsed_ok = processed is not None and processed.error is None
        rate = processed.rate if parsed_ok and processed is not None else feed.publish_rate
        body_hint = processed.body_hint if parsed_ok and processed is not None else \
            feed.body_hint
        header_hint = None
        if fetch.status in ("ok", "not_modified"):
            headers = {k.lower(): v for k, v in fetch.headers}
            header_hint = policy.header_hint(headers, now)
        floor = policy.hint_floor([header_hint, body_hint], self.limits)
        adaptive, adaptive_why = policy.adaptive_rule(rate, self.limits)
        interval, why = policy.effective_interval(
            pinned=feed.interval, adaptive=adaptive, floor=floor, limits=self.limits,
            adaptive_why=adaptive_why,
            hint_source="Cache-Control" if (header_hint or 0) > (body_hint or 0) else "ttl")
        failures = feed.failures + 1 if kind == "error" else 0
        since = None
        if kind == "error":
            since = datetime.fromisoformat(feed.failing_since) if feed.failing_since else now
        error = fetch.error if fetch.status == "error" else \
            processed.error if processed is not None else None
        plan = policy.plan_next(
            now, kind, interval=interval, interval_reason=why, failures=failures,
            failing_since=since, retry_after=fetch.retry_after, error=error,
            limits=self.limits)
        state: dict[str, Any] = {
            "poll_interval": interval,
            "publish_rate": rate,
            "body_hint": body_hint,
            "next_reason": plan.reason,
            "failing_since": utc_iso(since),
            "dead_since": (feed.dead_since or utc_iso(now)) if plan.dead else None,
        }
        if plan.dead and not feed.dead_since:
            log.warning("feed is dead: polled rarely from now on",
                        extra={"fields": {"feed": feed.url, "why": plan.reason}})
        elif feed.dead_since and kind != "error":
            log.info("dead feed answers again", extra={"fields": {"feed": feed.url}})
        state.update(self._redirect_state(feed, fetch, kind))
        return plan, state

    def _redirect_state(self, feed: FeedRow, fetch: FetchResult, kind: str) -> dict[str, Any]:
        """Follow a permanent redirect for good once it has been seen
        ``REDIRECT_CONFIRMATIONS`` times in a row; a temporary one never moves a feed."""
        if kind == "error":
            return {}  # an error says nothing about where the feed lives
        target = fetch.permanent_url
        if not target:
            return {"redirect_to": None, "redirect_seen": 0} if feed.redirect_to else {}
        seen = feed.redirect_seen + 1 if target == feed.redirect_to else 1
        if seen < REDIRECT_CONFIRMATIONS:
            return {"redirect_to": target, "redirect_seen": seen}
        log.info("feed moved permanently", extra={"fields": {
            "feed": feed.url, "from": feed.effective_url, "to": target, "seen": seen}})
        return {"fetch_url": None if target == feed.url else target, "redirect_to": None,
                "redirect_seen": 0}

    def _save(self, feed: FeedRow, fetch: FetchResult, processed: Processed | None,
              plan: Plan, state: dict[str, Any], now: datetime) -> FeedOutcome:
        """Store a pass (called by the writer, inside its transaction)."""
        if processed is not None and processed.error is None:
            scored = self._fresh(processed)
            return self.store.save_feed_pass(
                feed.url, fetch, scored, now=now, next_fetch=plan.next_fetch,
                keep_all=self.keep_all, entries=processed.entries, warning=processed.warning,
                feed_title=processed.title, site_url=processed.link, state=state,
            )
        error = processed.error if processed is not None else None
        return self.store.save_feed_failure(feed.url, fetch, now=now, error=error,
                                            next_fetch=plan.next_fetch, state=state)

    def _fresh(self, processed: Processed) -> Sequence[ScoredItem]:
        """The items to store. An item the worker passed as unchanged whose stored hash has
        changed since (another feed's pass updated it meanwhile) carries the stored hash, so
        the store only links it to this feed and keeps the newer version: it has no match
        or HTML to store an update with."""
        if not processed.unchanged:
            return processed.scored
        unchanged = set(processed.unchanged)
        now_known = self.store.seen_hashes(unchanged)
        fresh = []
        for s in processed.scored:
            current = now_known.get(s.item.id)
            if s.item.id in unchanged and current is not None and \
                    current != s.item.content_hash:
                # no entry digest: this hash is not the one the entry gave
                s = replace(s, item=replace(s.item, content_hash=current), raw=None)
            fresh.append(s)
        return fresh

    async def _hold_host(self, feed: FeedRow, retry_after: float, now: datetime) -> None:
        """Retry-After on a 429/503: no request to that host until then, for any feed."""
        host = host_of(feed.effective_url)
        wait = policy.host_wait(retry_after, self.limits)
        if not host or wait <= 0:
            return
        until = _ceil_second(now + timedelta(seconds=wait))
        reason = (f"host {host} asked to wait until {utc_iso(until)} "
                  f"(Retry-After on {feed.effective_url})")
        current = self._host_until.get(host)
        if current is None or current[0] < until:
            self._host_until[host] = (until, reason)

        def write() -> int:
            self.store.set_host_wait(host, until, reason)
            ids = [i for i, url in self.store.feed_urls() if host_of(url) == host and i != feed.id]
            return self.store.postpone(ids, until, reason)

        moved = await self._writer.run(write)
        log.warning("host asked to wait", extra={"fields": {
            "host": host, "until": utc_iso(until), "feeds_postponed": moved,
            "feed": feed.url}})

    async def _record_internal_error(self, feed: FeedRow, outcome: FeedOutcome) -> None:
        try:
            now = self.clock()
            interval = feed.poll_interval or feed.interval or self.limits.default_interval
            since = datetime.fromisoformat(feed.failing_since) if feed.failing_since else now
            plan = policy.plan_next(now, "error", interval=interval,
                                    failures=feed.failures + 1, failing_since=since,
                                    error=outcome.error, limits=self.limits)
            failed = FetchResult(feed.url, "error", error=outcome.error)
            state = {"next_reason": plan.reason, "failing_since": utc_iso(since)}
            await self._writer.run(lambda: self.store.save_feed_failure(
                feed.url, failed, now=now, next_fetch=plan.next_fetch, error=outcome.error,
                state=state))
        except Exception:
            log.exception("could not record the failure of %s", feed.url)


def log_outcome(outcome: FeedOutcome, feed: FeedRow, elapsed: float) -> None:
    """One line per fetch: feed, status, bytes, duration, new and kept items."""
    fields: dict[str, Any] = {
        "feed": feed.name or feed.url,
        "url": feed.url,
        "status": outcome.status,
        "http": outcome.http_status,
        "entries": outcome.entries,
        "new": outcome.new_items,
        "kept": outcome.kept_items,
        "bytes": outcome.bytes,
        "seconds": round(elapsed, 3),
    }
    if outcome.error:
        fields["error"] = outcome.error
    if outcome.warning:
        fields["warning"] = outcome.warning
    level = logging.WARNING if outcome.status == "error" else logging.INFO
    log.log(level, "fetch", extra={"fields": fields})


async def run_once(config: Config, store: IngestStore, *, keep_all: bool | None = None,
                   client: httpx.AsyncClient | None = None,
                   stop: asyncio.Event | None = None) -> list[FeedOutcome]:
    """Poll every active feed once (the config's feeds are synced into the store first).

    Feeds that are gone (HTTP 410) are left alone; feeds whose server asked to wait
    (Retry-After) come back as "postponed" without a request. When ``stop`` is set (Ctrl-C)
    no further pass starts, running ones get ``STOP_GRACE_SECONDS`` to commit, and the
    outcomes so far are returned.
    """
    store.sync_config_feeds(config.feeds, now=utcnow())
    async with Updater(config, store, keep_all=keep_all, client=client) as updater:
        feeds = [f for f in store.feeds() if f.gone_since is None]
        passes = asyncio.ensure_future(updater.update_feeds(feeds))
        if stop is not None:
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({passes, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set() and not passes.done():
                await updater.drain(STOP_GRACE_SECONDS)
        outcomes = await passes
        updater.network.end_of_pass(outcomes)
        return outcomes
