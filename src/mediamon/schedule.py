"""The daemon: APScheduler 3 (asyncio) ticking one job per feed.

Each feed is a job with an interval trigger (the feed's own interval or the schedule default,
plus jitter so feeds do not poll in lock-step), ``max_instances=1`` so a slow feed never
overlaps itself and ``coalesce=True`` so missed runs collapse into one. A job only calls
``Updater.update_feed``, which never raises, so no job can take the scheduler down.

The first run of each job comes from the feed's stored ``next_fetch``: a restarted daemon
resumes where it stopped, and feeds that are overdue are spread over the jitter window
instead of all firing at once.

SIGINT/SIGTERM stop it: no new jobs start, running passes finish (each commits in one
transaction, so nothing is half-written), then it exits 0. SIGHUP re-reads the config, and
every minute the database is checked for feeds added or removed with ``mediamon feeds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, load_config
from .errors import MediamonError, StoreError
from .pipeline import Updater, utcnow
from .store import FeedRow, Store

log = logging.getLogger("mediamon.daemon")

RESYNC_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


class DaemonLock:
    """An exclusive lock beside the database, so two daemons never poll the same feeds."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                pid = self.path.read_text().strip()
            except OSError:
                pid = "?"
            raise StoreError(
                f"another mediamon daemon (pid {pid}) is already running on this database "
                f"({self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        reload: Callable[[], Config] | None = None,
        keep_all: bool | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.reload = reload
        self.keep_all = keep_all
        self.updater = Updater(config, store, keep_all=keep_all)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._stop = asyncio.Event()
        self._resync = asyncio.Event()

    def _job_id(self, feed: FeedRow) -> str:
        return f"feed:{feed.id}"

    def _first_run(self, feed: FeedRow, now: datetime) -> datetime:
        jitter = self.config.schedule.jitter
        if feed.next_fetch:
            due = datetime.fromisoformat(feed.next_fetch)
            if due > now:
                return due
        # Overdue or never polled: soon, but spread out.
        return now + timedelta(seconds=random.uniform(0, min(jitter, 30.0) or 1.0))

    def sync_jobs(self) -> None:
        """Make the scheduler's jobs match the active feeds in the database."""
        now = utcnow()
        feeds = {self._job_id(f): f for f in self.store.feeds()}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in feeds:
                job.remove()
                log.info("feed removed from the schedule", extra={"fields": {"job": job.id}})
        for job_id, feed in feeds.items():
            interval = feed.interval or self.config.schedule.interval
            job = self.scheduler.get_job(job_id)
            if job is not None and job.trigger.interval.total_seconds() == interval:
                continue
            if job is not None:
                job.remove()
            self.scheduler.add_job(
                self._poll,
                IntervalTrigger(seconds=interval, jitter=int(self.config.schedule.jitter) or None,
                                timezone="UTC"),
                args=[feed.id],
                id=job_id,
                name=feed.name or feed.url,
                next_run_time=self._first_run(feed, now),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )

    async def _poll(self, feed_id: int) -> None:
        if self._stop.is_set():
            return
        feed = self.store.find_feed(str(feed_id))
        if feed is None or not feed.active:
            return
        await self.updater.update_feed(feed)

    def _reload_config(self) -> None:
        if self.reload is None:
            return
        try:
            config = self.reload()
        except MediamonError as exc:
            log.error("config not reloaded: %s", exc)
            return
        self.config = config
        self.updater.config = config
        self.store.sync_config_feeds(config.feeds, now=utcnow())
        log.info("config reloaded", extra={"fields": {"feeds": len(config.feeds)}})

    async def _resync_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync.wait(), RESYNC_SECONDS)
            if self._stop.is_set():
                break
            if self._resync.is_set():
                self._resync.clear()
                self._reload_config()
            try:
                self.sync_jobs()
            except Exception:
                log.exception("could not resync feeds")

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._resync.set)
        self.store.sync_config_feeds(self.config.feeds, now=utcnow())
        self.scheduler.start()
        self.sync_jobs()
        log.info("daemon started", extra={"fields": {
            "feeds": len(self.scheduler.get_jobs()), "db": str(self.store.path), "pid": os.getpid()}})
        resync = asyncio.create_task(self._resync_loop())
        try:
            await self._stop.wait()
        finally:
            log.info("stopping")
            self.scheduler.shutdown(wait=False)
            resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resync
            await self._drain()
            await self.updater.aclose()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            log.info("stopped")

    async def _drain(self) -> None:
        """Let passes already running finish; cancel them past the grace period.

        Cancelling is safe: a pass only writes in one synchronous transaction, which a
        cancellation (delivered at an ``await``) can never interrupt half-way.
        """
        current = asyncio.current_task()
        running = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not running:
            return
        _done, pending = await asyncio.wait(running, timeout=STOP_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)


def run_daemon(config_path: Path, *, db_override: str | None, keep_all: bool | None) -> None:
    config = load_config(config_path, db_override=db_override)
    lock = DaemonLock(config.db_path)
    lock.acquire()
    try:
        with Store(config.db_path) as store:
            daemon = Daemon(
                config, store, keep_all=keep_all,
                reload=lambda: load_config(config_path, db_override=db_override),
            )
            asyncio.run(daemon.run())
    finally:
        lock.release()
