"""PostgreSQL storage for the feed pass: ``PostgresStore`` implements ``IngestStore``.

One ``PostgresStore`` is one process's handle on one PostgreSQL database, through a psycopg
3 connection pool: reads take a pooled connection for one statement; ``transaction()``
holds one connection for its length (nested calls are savepoints that roll back alone,
as on SQLite). Many processes on many machines may open the same database at once:

- due feeds are *claimed* (``due_feeds``: ``FOR UPDATE SKIP LOCKED`` and a lease, see
  ``claims``), so two daemons never poll one feed in one interval, and a dead daemon's
  feeds come back when its leases run out;
- every write that two daemons could make at once relies on a unique constraint and ``ON
  CONFLICT`` (items, their feeds and topics, seen rows, aliases, story membership, the
  background counts), or locks the row it is about to change (an item before its version
  is numbered, a story before its reach is counted), never a read and a later write;
- the background document frequencies of a transaction are written once, just before it
  commits, sorted by term: every writer takes those rows' locks in one order and holds
  them for the shortest time.

What this module does not do: the analyst's side (listings, search, stories, stats, the
report, export, alerts) is ``read.PostgresReader``'s, a subclass, and so are labels,
rescoring, retention and vacuum (``desk.PostgresDesk``, one of its bases).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from mediamon.clock import utc_iso
from mediamon.core.profile import Background
from mediamon.core.stories import StorySettings
from mediamon.errors import StoreError
from mediamon.store import stories as story_store
from mediamon.store.ingest import FeedPassWriter
from mediamon.store.postgres import schema
from mediamon.store.postgres.articles import PostgresArticles
from mediamon.store.postgres.sql import PgConn
from mediamon.store.rows import FeedRow, ScoredItem
from mediamon.types import FeedOutcome, FeedSource, FetchResult

log = logging.getLogger("mediamon.store.postgres")

DEFAULT_LEASE = timedelta(minutes=5)
DEADLOCK_RETRIES = 3
CONNECT_TIMEOUT = 10  # seconds
POOL_SIZE = 4

def redact(url: str) -> str:
    """The URL without its password, to show and log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore(PostgresArticles, FeedPassWriter):
    """One PostgreSQL database, opened by URL; migrated on open unless ``readonly``.

    ``lease``: how long a claimed feed stays this process's before another may take it
    (``due_feeds``); ``owner``: this process's name in ``feeds.claimed_by``."""

    dialect = "postgresql"

    def __init__(self, url: str, *, readonly: bool = False,
                 stories: StorySettings | None = None, lease: timedelta = DEFAULT_LEASE,
                 pool_size: int = POOL_SIZE, owner: str | None = None) -> None:
        self.url = url
        self.display = redact(url)
        # ``IngestStore.path``: what is shown for the database (no file: a parse worker's
        # SeenReader finds nothing there and the writer's seen_hashes decides instead).
        self.path = Path(self.display)
        self.readonly = readonly
        self.stories = stories or StorySettings()
        self.lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._tx: psycopg.Connection[Any] | None = None  # transaction()'s connection
        self._real = False  # a database transaction is open on it
        self._lazy: Any = None  # the one the outermost block began itself, if it did
        self._later: list[tuple[str, Any]] = []  # written just before the commit
        try:
            # One connection first: a server that is down or refuses says why at once,
            # where the pool would retry in the background until its timeout.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
            self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url, min_size=1, max_size=pool_size, open=False,
                kwargs={"autocommit": True}, name="mediamon")
            self.pool.open(wait=True, timeout=30)
        except (psycopg.Error, OSError) as exc:
            reason = " ".join(str(exc).split())
            raise StoreError(f"{self.display}: cannot connect: {reason}") from exc
        except Exception as exc:  # psycopg_pool.PoolTimeout: the server never answered
            raise StoreError(f"{self.display}: cannot connect: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self.pool.close()
            raise

    # -- opening and migrating ------------------------------------------------------------

    def _open(self) -> None:
        try:
            with self.pool.connection() as conn:
                version = self._version(conn)
                if version > schema.schema_version():
                    raise StoreError(
                        f"{self.display}: database schema version {version} is newer than "
                        f"this mediamon understands ({schema.schema_version()}); upgrade "
                        "mediamon")
                if version < schema.schema_version():
                    if self.readonly and version == 0:
                        raise StoreError(f"not a mediamon database: {self.display} (it is "
                                         "empty; `mediamon run --once` creates the database)")
                    self._migrate(conn)
        except psycopg.Error as exc:
            raise StoreError(f"{self.display}: {exc}") from exc

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        # One statement, so one snapshot: two would let another daemon's first migration
        # commit in between, and its tables would look like a foreign database's.
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'mediamon_migrations'), "
            "ARRAY(SELECT table_name::text FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name LIMIT 6)").fetchone()
        assert row is not None
        migrated, tables = row
        if not migrated:
            if tables:
                shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
                raise StoreError(f"not a mediamon database: {self.display} (it holds other "
                                 f"tables: {shown})")
            return 0
        row = conn.execute("SELECT count(*) FROM mediamon_migrations").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """The pending migrations in ONE transaction, under an advisory lock: several
        daemons may start at once; one migrates, the others wait and find it done."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [schema.MIGRATION_LOCK])
            conn.execute(schema.MIGRATIONS_TABLE)
            done = {r[0] for r in conn.execute("SELECT name FROM mediamon_migrations")}
            for name, apply in schema.MIGRATIONS:
                if name in done:
                    continue
                try:
                    with conn.transaction():
                        apply(conn)
                        conn.execute("INSERT INTO mediamon_migrations (name) VALUES (%s)",
                                     [name])
                except psycopg.Error as exc:
                    raise StoreError(f"{self.display}: schema migration {name} failed "
                                     f"({exc}); the database was left as it was") from exc

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections and transactions ----------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """Inside ``transaction()`` its connection (its database transaction begun, see
        there), else a pooled one for a statement."""
        if self._tx is not None:
            yield self._cx()
            return
        with self.pool.connection() as conn:
            yield conn

    def _cx(self) -> psycopg.Connection[Any]:
        """The connection of ``transaction()``, with a database transaction open: a
        statement run directly in the outermost block begins one that lasts to its end."""
        assert self._tx is not None
        if not self._real:
            self._lazy = self._tx.transaction()
            self._lazy.__enter__()
            self._real = True
        return self._tx

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, params).fetchall()

    def _dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._conn() as conn:
            return conn.execute(sql, params).rowcount

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    @property
    def group_commit(self) -> bool:
        """No: a transaction held open while this node's other passes run would hold the
        row locks that the other nodes' daemons wait for."""
        return False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A block of writes on one connection, all or nothing.

        Nested blocks roll back alone, as on SQLite, but a database transaction is only
        as long as it must be: the outermost block begins one at its first statement of
        its own (then nested blocks are savepoints in it); an outermost block that only
        holds nested ones (the pipeline's writer: one nested block per feed pass) commits
        each of them as its own transaction. So a daemon holds its row locks for one pass,
        not a batch of them, and many daemons writing at once rarely wait on each other.

        What a block leaves for its commit (background counts, story counters: see
        ``_before_commit``) is written just before it, and dropped with a rolled-back block.
        """
        if self.readonly:
            raise StoreError(f"{self.display}: opened read-only")
        if self._tx is None:
            conn = self.pool.getconn()
            self._tx, self._real, self._lazy, self._later = conn, False, None, []
            try:
                yield
                if self._lazy is not None:
                    self._before_commit(conn)
                    self._lazy.__exit__(None, None, None)
            except BaseException as exc:
                if self._lazy is not None:
                    self._lazy.__exit__(type(exc), exc, exc.__traceback__)
                raise
            finally:
                self._tx, self._real, self._lazy, self._later = None, False, None, []
                self.pool.putconn(conn)
            return
        conn = self._tx
        if not self._real:  # a block of its own: one database transaction
            self._real, self._later = True, []
            try:
                with conn.transaction():
                    yield
                    self._before_commit(conn)
            finally:
                self._real, self._later = False, []
            return
        mark = len(self._later)
        try:
            with conn.transaction():  # a savepoint
                yield
        except BaseException:
            del self._later[mark:]
            raise

    # -- feeds and their schedule ---------------------------------------------------------

    def sync_config_feeds(self, sources: Sequence[FeedSource], *, now: datetime) -> None:
        """As ``sqlite.Store.sync_config_feeds``; the feeds in URL order, so daemons
        starting together take the rows' locks in one order."""
        stamp = utc_iso(now)
        ordered = sorted(sources, key=lambda s: s.url)
        with self.transaction():
            with self._cx().cursor() as cur:
                cur.executemany(
                    """
                    INSERT INTO feeds (url, name, tags, origin, interval, added, active)
                    VALUES (%s, %s, %s, 'config', %s, %s, 1)
                    ON CONFLICT (url) DO UPDATE SET
                        name = excluded.name, tags = excluded.tags, interval = excluded.interval,
                        origin = 'config', active = 1
                    WHERE (feeds.name, feeds.tags, feeds.interval, feeds.origin, feeds.active)
                        IS DISTINCT FROM (excluded.name, excluded.tags, excluded.interval,
                                          'config', 1)
                    """,
                    [(s.url, s.name, json.dumps(list(s.tags)), s.interval, stamp)
                     for s in ordered])
            self._run("UPDATE feeds SET active = 0 WHERE origin = 'config' AND active = 1 "
                      "AND NOT (url = ANY(%s))", [[s.url for s in ordered]])

    def add_feed(self, source: FeedSource, *, now: datetime) -> bool:
        """Add a feed; False if it was there (a removed or gone one comes back)."""
        with self.transaction():
            return self._run(
                """
                INSERT INTO feeds (url, name, tags, origin, interval, added, active)
                VALUES (%s, %s, %s, 'db', %s, %s, 1)
                ON CONFLICT (url) DO UPDATE SET active = 1, gone_since = NULL, next_fetch = NULL
                    WHERE feeds.active = 0 OR feeds.gone_since IS NOT NULL
                """,
                [source.url, source.name, json.dumps(list(source.tags)), source.interval,
                 utc_iso(now)]) > 0

    def feeds(self, *, active_only: bool = True,
              include_paused: bool = False) -> list[FeedRow]:
        where = "WHERE active = 1" if active_only else ""
        if active_only and not include_paused:
            where += " AND paused = 0"
        return [FeedRow.from_row(r) for r in self._dicts(
            f"SELECT * FROM feeds {where} ORDER BY id")]

    def find_feed(self, url_or_id: str) -> FeedRow | None:
        where = "id = %s" if url_or_id.isdigit() else "url = %s"
        arg: Any = int(url_or_id) if url_or_id.isdigit() else url_or_id
        rows = self._dicts(f"SELECT * FROM feeds WHERE {where}", [arg])
        return FeedRow.from_row(rows[0]) if rows else None

    def feed_id(self, url: str) -> int:
        rows = self._rows("SELECT id FROM feeds WHERE url = %s", [url])
        if not rows:
            raise StoreError(f"feed not in the database: {url}")
        return int(rows[0][0])

    def due_feeds(self, now: datetime, *, limit: int = 1000,
                  exclude: Iterable[int] = ()) -> list[FeedRow]:
        """Claim the feeds due at ``now`` (never polled first, then the most overdue) that
        no other process holds, for ``lease``; ``exclude``: feeds this process is still
        polling, whose leases are renewed here (the daemon asks every tick, so a live
        daemon keeps its feeds and a dead one's run out within one lease).

        Rows another transaction has locked are skipped, not waited for (``SKIP LOCKED``),
        and a row changed since this statement's snapshot is checked again as it is now
        (a feed another daemon just polled is no longer due)."""
        skip = sorted(set(exclude))
        until = self.lease.total_seconds()
        with self.transaction():
            if skip:
                self._run("UPDATE feeds SET claimed_until = now() + %s * interval '1 second' "
                          "WHERE id = ANY(%s) AND claimed_by = %s", [until, skip, self.owner])
            rows = self._dicts(
                """
                WITH due AS (
                    SELECT id FROM feeds
                    WHERE active = 1 AND paused = 0 AND gone_since IS NULL
                          AND (next_fetch IS NULL OR next_fetch <= %s)
                          AND (claimed_until IS NULL OR claimed_until <= now())
                          AND NOT (id = ANY(%s))
                    ORDER BY next_fetch IS NOT NULL, next_fetch, id
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE feeds SET claimed_by = %s,
                                 claimed_until = now() + %s * interval '1 second'
                FROM due WHERE feeds.id = due.id
                RETURNING feeds.*
                """,
                [utc_iso(now), skip, limit, self.owner, until])
        feeds = [FeedRow.from_row(r) for r in rows]
        feeds.sort(key=lambda f: (f.next_fetch is not None, f.next_fetch or "", f.id))
        return feeds

    def release(self) -> int:
        """Give up every claim this process holds (a daemon that stops: the feeds it had
        queued are due for the others at once, not when their leases run out)."""
        with self.transaction():
            return self._run("UPDATE feeds SET claimed_by = NULL, claimed_until = NULL "
                             "WHERE claimed_by = %s", [self.owner])

    def next_due(self) -> str | None:
        rows = self._rows("SELECT min(next_fetch) FROM feeds WHERE active = 1 AND paused = 0 "
                          "AND gone_since IS NULL")
        return rows[0][0] if rows else None

    def feed_urls(self) -> list[tuple[int, str]]:
        return [(r[0], r[1] or r[2]) for r in self._rows(
            "SELECT id, fetch_url, url FROM feeds WHERE active = 1 AND paused = 0 "
            "AND gone_since IS NULL ORDER BY id")]

    def postpone(self, feed_ids: Sequence[int], until: datetime, reason: str) -> int:
        """Move the next poll of these feeds to ``until`` (never earlier); this process's
        claims on them end (the feeds are not due again before ``until``)."""
        if not feed_ids:
            return 0
        stamp = utc_iso(until)
        with self.transaction():
            return self._run(
                "UPDATE feeds SET next_fetch = %s, next_reason = %s, "
                "claimed_by = CASE WHEN claimed_by = %s THEN NULL ELSE claimed_by END, "
                "claimed_until = CASE WHEN claimed_by = %s THEN NULL ELSE claimed_until END "
                "WHERE id = ANY(%s) AND (next_fetch IS NULL OR next_fetch < %s)",
                [stamp, reason, self.owner, self.owner, sorted(feed_ids), stamp])

    def set_host_wait(self, host: str, until: datetime, reason: str) -> None:
        """A host's Retry-After, shared with every process through the database."""
        with self.transaction():
            self._run(
                "INSERT INTO hosts (host, wait_until, reason) VALUES (%s, %s, %s) "
                "ON CONFLICT (host) DO UPDATE SET "
                "wait_until = GREATEST(hosts.wait_until, excluded.wait_until), "
                "reason = excluded.reason", [host, utc_iso(until), reason])

    def host_waits(self, now: datetime) -> dict[str, tuple[str, str]]:
        return {host: (until, reason) for host, until, reason in self._rows(
            "SELECT host, wait_until, reason FROM hosts WHERE wait_until > %s",
            [utc_iso(now)])}

    # -- what a pass needs to know -------------------------------------------------------

    def background(self) -> Background:
        rows = self._rows("SELECT documents FROM background_size WHERE id = 1")
        if not rows or not rows[0][0]:
            return Background()
        df = {term: int(n) for term, n in self._rows("SELECT term, df FROM background_df")}
        return Background(int(rows[0][0]), df)

    def label_texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        rows = self._rows("SELECT label, text FROM labels ORDER BY item_id")
        return (tuple(t for label, t in rows if label == "relevant"),
                tuple(t for label, t in rows if label == "irrelevant"))

    def seen_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        wanted = list(ids)
        if not wanted:
            return {}
        return dict(self._rows("SELECT id, content_hash FROM seen WHERE id = ANY(%s)",
                               [wanted]))

    def seen_raw(self, digests: Iterable[str]) -> dict[str, tuple[str, str]]:
        wanted = list(digests)
        if not wanted:
            return {}
        return {raw: (item_id, content_hash) for raw, item_id, content_hash in self._rows(
            "SELECT raw, id, content_hash FROM seen WHERE raw = ANY(%s)", [wanted])}

    def counts(self) -> dict[str, int]:
        """The totals ``run --once`` prints (``store.query.counts`` on SQLite)."""
        row = self._rows(
            "SELECT (SELECT count(*) FROM feeds WHERE active = 1), "
            "(SELECT count(*) FROM items WHERE kept = 1), (SELECT count(*) FROM items), "
            "(SELECT count(*) FROM seen)")[0]
        return dict(zip(("feeds", "items_kept", "items_stored", "items_seen"),
                        (int(v) for v in row), strict=True))

    # -- writing a pass -----------------------------------------------------------------

    def save_feed_pass(
        self, feed_url: str, fetch: FetchResult, scored: Sequence[ScoredItem], *,
        now: datetime, next_fetch: datetime | None, keep_all: bool = False, entries: int = 0,
        warning: str | None = None, feed_title: str | None = None,
        site_url: str | None = None, state: dict[str, Any] | None = None,
    ) -> FeedOutcome:
        """``FeedPassWriter.save_feed_pass`` (the one pass of both stores) on PostgreSQL.

        The pass first locks its items' ids and dedup keys (``_lock_keys``), so another
        process's pass over the same articles waits and then sees them. Should PostgreSQL
        still find two passes waiting on each other (rows both change, taken in different
        orders) it cancels one of them; that one is rolled back and made again, up to
        ``DEADLOCK_RETRIES`` times, on what the other committed."""
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                return super().save_feed_pass(
                    feed_url, fetch, scored, now=now, next_fetch=next_fetch,
                    keep_all=keep_all, entries=entries, warning=warning,
                    feed_title=feed_title, site_url=site_url, state=state)
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_RETRIES:
                    raise
                log.info("feed pass made again after a deadlock", extra={"fields": {
                    "feed": feed_url, "attempt": attempt + 1}})
        raise AssertionError("unreachable")

    # The pass's hooks (store.ingest): what PostgreSQL does differently from SQLite.

    def _pass_conn(self) -> PgConn:
        return PgConn(self._cx())

    def _begin_pass(self, keys: Sequence[str]) -> None:
        self._lock_keys(keys)

    def _story_later(self) -> list[tuple[str, Any]]:
        return self._later

    def _end_pass(self, documents: Sequence[Sequence[str]]) -> None:
        self._later.extend(("document", terms) for terms in documents)

    def _release_claim(self) -> tuple[str, list[Any]]:
        """The feed's state update ends this process's claim on it."""
        return (", claimed_by = CASE WHEN claimed_by = ? THEN NULL ELSE claimed_by END, "
                "claimed_until = CASE WHEN claimed_by = ? THEN NULL ELSE claimed_until END",
                [self.owner, self.owner])

    def _lock_keys(self, keys: Sequence[str]) -> None:
        """Hold, until the transaction ends, a lock on each item id and dedup key of a pass,
        taken before the pass reads what is stored: another process's pass over the same
        items (another feed with the same articles) waits for this one to commit, then
        reads its items, and folds its copies into them rather than storing them twice.
        Taken in one order (by hash), so two passes never wait on each other in a circle."""
        if keys:
            self._run("SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT "
                      "hashtextextended(k, 0) AS h FROM unnest(%s::text[]) AS k ORDER BY 1) "
                      "AS locks", [sorted(set(keys))])

    def _before_commit(self, conn: psycopg.Connection[Any]) -> None:
        """What the block left for its commit, written in an order every writer shares,
        just before it commits: the stories its new items joined (their rows locked in
        story id order, then each one's counters updated), then the new documents' terms
        in the background counts, sorted by term. A writer holds those much-shared rows
        for the last moment of its transaction only, and two writers never wait on each
        other in a circle for them."""
        joined = [value for kind, value in self._later if kind == "story"]
        if joined:
            story_store.update_stories(PgConn(conn), joined, dialect=self.dialect)
        documents = [value for kind, value in self._later if kind == "document"]
        if documents:
            df = Counter(chain.from_iterable(map(set, documents)))
            terms = sorted(df)
            conn.execute(
                "INSERT INTO background_df (term, df) SELECT term, n "
                "FROM unnest(%s::text[], %s::bigint[]) AS u(term, n) ORDER BY term "
                "ON CONFLICT (term) DO UPDATE SET df = background_df.df + excluded.df",
                [terms, [df[t] for t in terms]])
            conn.execute("UPDATE background_size SET documents = documents + %s WHERE id = 1",
                         [len(documents)])
        self._later.clear()
