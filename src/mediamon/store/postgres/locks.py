"""Which of the daemons sharing one PostgreSQL database runs each desk job (spikes, alerts,
retention): the one holding the job's advisory lock.

A daemon asks ``JobLocks.hold(job)`` before each run of a job. The first to ask takes the
job's lock (``pg_try_advisory_lock``, session-level, on a connection kept for this alone)
and keeps it for as long as it lives: it runs the job at every interval, and every other
daemon's ``hold`` says no, so each job runs on exactly one daemon per interval. A daemon
that dies loses its session, and with it its locks, at once (a killed process's socket is
closed by its kernel; a machine that vanishes is noticed by the server's TCP keepalives):
the next daemon to ask takes the job over, within one interval of it. A daemon that stops
cleanly closes the connection, so another takes over at its next run. A daemon whose config
gives a job nothing to do (no ``[[alerts]]``, spikes off, no ``[retention]``) does not ask
for it, and lets go of it if it held it, so daemons with different configs do not keep a
job from the one that has work for it.

The lock only keeps daemons from racing: what each job writes stays safe without it (alerts
claim each entry in ``alert_sent`` before sending, spikes are inserted ``ON CONFLICT DO
NOTHING``, retention's deletes and recounts lock the rows they change).

Advisory locks belong to one database: two mediamon databases on one server never share a
lock. What this module does not do: run the jobs (``schedule``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from typing import Any

import psycopg

from mediamon.store.postgres.store import CONNECT_TIMEOUT, redact

log = logging.getLogger("mediamon.store.postgres")


def lock_key(job: str) -> int:
    """The advisory lock's key for ``job``: 64 bits of a hash of its name (signed, as
    PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"mediamon desk job\0{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class JobLocks:
    """One process's hold on desk jobs (see the module docstring); safe to call from the
    daemon's job threads at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.display = redact(url)
        self._conn: psycopg.Connection[Any] | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def hold(self, job: str) -> bool:
        """Whether this process runs ``job`` now: True when it held the job's lock already
        (and its session is still alive) or has just taken it; False when another process
        holds it, or the database cannot be reached (the next call tries again)."""
        with self._mutex:
            try:
                if self._conn is None or self._conn.closed:
                    self._held.clear()  # a lost session lost its locks
                    self._conn = psycopg.connect(
                        self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                        application_name="mediamon desk jobs")
                if job in self._held:
                    self._conn.execute("SELECT 1")  # the session, so the lock, still there
                    return True
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         [lock_key(job)]).fetchone()
            except psycopg.Error as exc:
                log.warning("desk job lock unavailable", extra={"fields": {
                    "job": job, "db": self.display, "error": " ".join(str(exc).split())}})
                self._drop()
                return False
            if row and row[0]:
                self._held.add(job)
                log.info("desk job taken", extra={"fields": {"job": job}})
                return True
            return False

    def release(self, job: str) -> None:
        """Let go of ``job`` (this process has nothing to do for it any more: another daemon
        whose config has something may take it)."""
        with self._mutex:
            if job not in self._held or self._conn is None:
                return
            self._held.discard(job)
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", [lock_key(job)])
            except psycopg.Error:
                self._drop()  # a lost session has let go of every lock already
                return
            log.info("desk job released", extra={"fields": {"job": job}})

    @property
    def held(self) -> frozenset[str]:
        """The jobs this process holds."""
        with self._mutex:
            return frozenset(self._held)

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
        self._held.clear()

    def close(self) -> None:
        """Give up every job: the locks are let go of first (a closing session lets go of
        them too, but a moment after the client has gone), then the connection closes."""
        with self._mutex:
            if self._conn is not None and self._held:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_advisory_unlock_all()")
            self._drop()
