"""The daemon: the database decides which feeds are due; APScheduler 3 only ticks.

Every ``TICK_SECONDS`` one job asks the store for the feeds whose ``next_fetch`` has passed
(never-polled feeds first, then the most overdue; gone feeds never) and hands them to the
``Updater``, which polls them within the global and per-host limits and writes each feed's
next poll back in the same transaction as its items. So the schedule lives in the database:
a restarted daemon resumes where it stopped, overdue feeds are taken a few at a time in
the order they fell due rather than all at once, and a feed added with ``mediamon feeds
add`` is seen on the next tick. The tick runs with ``max_instances=1`` and ``coalesce=True``
and never raises; passes run as their own tasks, so a slow feed never delays the tick.

SIGINT/SIGTERM stop it: no new passes start, running passes finish (each commits in one
transaction, so nothing is half-written), then it exits 0. SIGHUP re-reads the config; it is
also re-read when the file changes (checked every ``RESYNC_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from mediamon.clock import utcnow
from mediamon.config import Config, RetentionSettings, load_config
from mediamon.errors import MediamonError, StoreError
from mediamon.pipeline import STOP_GRACE_SECONDS, Updater
from mediamon.store.interface import IngestStore
from mediamon.store.sqlite import Store

if TYPE_CHECKING:
    from mediamon.store.postgres.locks import JobLocks

log = logging.getLogger("mediamon.daemon")

TICK_SECONDS = 1.0
RESYNC_SECONDS = 60.0
REFILL_SECONDS = 0.1  # between early ticks when passes finish
QUEUE_FACTOR = 4  # feeds queued or running at most: this many times fetch.concurrency


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
        store: IngestStore,
        *,
        reload: Callable[[], Config] | None = None,
        keep_all: bool | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.reload = reload
        self.keep_all = keep_all
        self.config_path = config_path
        self._config_mtime = self._mtime()
        self.updater = Updater(config, store, keep_all=keep_all)
        self.updater.on_low(self._refill)
        self._retiring: set[Updater] = set()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._stop = asyncio.Event()
        self._resync = asyncio.Event()
        self._refilling: asyncio.Task[None] | None = None
        self._last_refill = 0.0
        self._job_locks: JobLocks | None = None  # PostgreSQL: which desk jobs are ours

    def _mtime(self) -> float | None:
        try:
            return self.config_path.stat().st_mtime if self.config_path else None
        except OSError:
            return None

    async def tick(self) -> None:
        """The scheduler's one job: hand the feeds the database says are due to the updater."""
        if self._stop.is_set():
            return
        try:
            room = self.config.fetch.concurrency * QUEUE_FACTOR - self.updater.pending
            if room <= 0:
                return
            busy = self.updater.busy_ids.union(*(u.busy_ids for u in self._retiring))
            due = self.store.due_feeds(utcnow(), limit=room, exclude=busy)
            for feed in due:
                self.updater.submit(feed)
        except Exception:
            log.exception("tick failed")

    def _refill(self) -> None:
        """Passes are finishing: tick now rather than at the next second, so a backlog of
        due feeds (a restart, a big import) is worked off at full speed."""
        if self._stop.is_set() or (self._refilling is not None and not self._refilling.done()):
            return
        now = time.monotonic()
        if now - self._last_refill < REFILL_SECONDS:
            return  # the regular tick comes soon enough; never spin on failing writes
        self._last_refill = now
        self._refilling = asyncio.get_running_loop().create_task(self.tick())

    def _reload_config(self) -> None:
        if self.reload is None:
            return
        try:
            config = self.reload()
        except MediamonError as exc:
            log.error("config not reloaded: %s", exc)
            return
        self._config_mtime = self._mtime()
        old, self.config = self.updater, config
        self.store.sync_config_feeds(config.feeds, now=utcnow())
        if replace(config, feeds=()) != replace(old.config, feeds=()):
            # New topics, limits or schedule: a new updater (scorer and workers) for the
            # passes that start from now on; the old one finishes what it started.
            self.updater = Updater(config, self.store, keep_all=self.keep_all)
            self.updater.on_low(self._refill)
            self.updater.start(pool=True)
            old.on_low(None)
            self._retiring.add(old)
            asyncio.get_running_loop().create_task(self._retire(old))
        log.info("config reloaded", extra={"fields": {"feeds": len(config.feeds)}})

    async def _retire(self, updater: Updater) -> None:
        try:
            await updater.drain(STOP_GRACE_SECONDS)
            await updater.aclose()
        finally:
            self._retiring.discard(updater)

    async def resync(self) -> None:
        """Every minute, or at once on SIGHUP: re-read the config if asked or if it changed,
        and pick up hosts that asked to wait."""
        try:
            if self._resync.is_set() or self._mtime() != self._config_mtime:
                self._resync.clear()
                self._reload_config()
            self.updater.refresh_host_waits()
        except Exception:
            log.exception("could not resync feeds")

    def request_stop(self) -> None:
        self._stop.set()

    def _hangup(self) -> None:
        self._resync.set()
        job = self.scheduler.get_job("resync")
        if job is not None:
            job.modify(next_run_time=utcnow())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._hangup)
        self.store.sync_config_feeds(self.config.feeds, now=utcnow())
        self.updater.start(pool=True)  # fork the workers before anything starts a thread
        now = utcnow()
        self.scheduler.add_job(self.tick, IntervalTrigger(seconds=TICK_SECONDS, timezone="UTC"),
                               id="tick", next_run_time=now, max_instances=1, coalesce=True,
                               misfire_grace_time=None)
        self.scheduler.add_job(self.resync, IntervalTrigger(seconds=RESYNC_SECONDS,
                                                            timezone="UTC"),
                               id="resync", next_run_time=now + timedelta(seconds=RESYNC_SECONDS),
                               max_instances=1, coalesce=True, misfire_grace_time=None)
        self._add_desk_jobs(now)
        self.scheduler.start()
        log.info("daemon started", extra={"fields": {
            "feeds": len(self.store.feeds()), "db": str(self.store.path), "pid": os.getpid(),
            "workers": self.updater.workers}})
        try:
            await self._stop.wait()
        finally:
            log.info("stopping")
            self.scheduler.shutdown(wait=False)
            self.updater.on_low(None)
            with contextlib.suppress(Exception):
                await self.updater.drain(STOP_GRACE_SECONDS)
            await self.updater.aclose()
            if self._job_locks is not None:  # another daemon takes the desk jobs over
                self._job_locks.close()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            log.info("stopped")

    def _add_desk_jobs(self, now: datetime) -> None:
        """Spikes, alerts and retention, each in a thread with a database connection of its
        own (``desk.jobs``). On PostgreSQL any number of daemons share the database, and
        each job runs on one of them: the one holding its advisory lock
        (``store.postgres.locks``), so alerts have one sender and retention one deleter; a
        dead daemon's jobs pass to another within one interval."""
        from mediamon.desk.jobs import job_store  # SQLite's file or PostgreSQL

        if self.config.db_url is not None:
            from mediamon.store.postgres.locks import JobLocks

            self._job_locks = JobLocks(self.config.db_url)
        # Volume spikes (desk/trends.py): checked after passes that stored items; the
        # alerts job below sends the surges it records to [[alerts]] when = "spikes".
        from mediamon.desk import trends

        self.scheduler.add_job(self._desk_job("spikes", trends.DaemonJob().run,
                                              lambda c: c.spikes.enabled),
                               IntervalTrigger(seconds=trends.DAEMON_SECONDS, timezone="UTC"),
                               args=[lambda: self.config, job_store], id="spikes",
                               max_instances=1, coalesce=True, misfire_grace_time=None)
        # [[alerts]] (alerts.py): immediate ones after the passes, digests when due.
        from mediamon.desk.alerts import DAEMON_SECONDS, daemon_job

        self.scheduler.add_job(self._desk_job("alerts", daemon_job, lambda c: bool(c.alerts)),
                               IntervalTrigger(seconds=DAEMON_SECONDS, timezone="UTC"),
                               args=[lambda: self.config, job_store], id="alerts",
                               max_instances=1, coalesce=True, misfire_grace_time=None)
        # [retention] (housekeeping.py) once a day, the first a minute after start.
        from mediamon.desk import housekeeping

        self.scheduler.add_job(
            self._desk_job("retention", housekeeping.daemon_job,
                           lambda c: c.retention != RetentionSettings()),
            IntervalTrigger(seconds=housekeeping.DAEMON_SECONDS, timezone="UTC"),
            args=[lambda: self.config, job_store], id="retention", max_instances=1,
            coalesce=True, misfire_grace_time=None,
            next_run_time=now + timedelta(seconds=RESYNC_SECONDS))

    def _desk_job(self, name: str, job: Callable[..., Awaitable[Any]],
                  wanted: Callable[[Config], bool]) -> Callable[..., Awaitable[Any]]:
        """``job`` as the scheduler runs it: on SQLite as it is (one daemon per file); on
        PostgreSQL only while this daemon holds the job's lock (asked at every run, so a
        job whose holder died is taken over at the next one), and only when this daemon's
        config ``wanted`` it (else the lock is let go of, for a daemon whose config has
        work for the job). Never raises."""
        locks = self._job_locks
        if locks is None:
            return job

        async def if_held(*args: Any) -> Any:
            try:
                if not wanted(self.config):
                    await asyncio.to_thread(locks.release, name)
                    return None
                mine = await asyncio.to_thread(locks.hold, name)
            except Exception:
                log.exception("desk job lock failed")
                return None
            return await job(*args) if mine else None

        return if_held


def run_daemon(config_path: Path, *, db_override: str | None, keep_all: bool | None) -> None:
    config = load_config(config_path, db_override=db_override)
    if config.db_url is not None:
        _run_shared_daemon(config, config_path, db_override=db_override, keep_all=keep_all)
        return
    lock = DaemonLock(config.db_path)
    lock.acquire()
    try:
        with Store(config.db_path, stories=config.stories) as store:
            daemon = Daemon(
                config, store, keep_all=keep_all, config_path=config_path,
                reload=lambda: load_config(config_path, db_override=db_override),
            )
            asyncio.run(daemon.run())
    finally:
        lock.release()


def _run_shared_daemon(config: Config, config_path: Path, *, db_override: str | None,
                       keep_all: bool | None) -> None:
    """The daemon on PostgreSQL (``database.url``): no lock file, since any number of
    daemons on any number of machines share the feeds through the database's claims
    (``store.postgres.store.PostgresStore.due_feeds``). Feeds still queued when it stops
    are released for the others at once rather than when their lease runs out."""
    from mediamon.store.postgres.open import open_store
    from mediamon.store.postgres.store import PostgresStore

    assert config.db_url is not None
    lease = timedelta(seconds=config.db_lease) if config.db_lease else None
    with open_store(config.db_url, stories=config.stories, lease=lease) as store:
        assert isinstance(store, PostgresStore)
        daemon = Daemon(config, store, keep_all=keep_all, config_path=config_path,
                        reload=lambda: load_config(config_path, db_override=db_override))
        try:
            asyncio.run(daemon.run())
        finally:
            with contextlib.suppress(Exception):
                store.release()  # every pass of this process has ended
