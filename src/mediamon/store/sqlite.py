"""SQLite storage: schema, migrations, and the write side of the pipeline.

One ``Store`` wraps one database file (sqlite-utils over the standard ``sqlite3`` module):
WAL journal so readers never block the writer, a busy timeout so a reader that arrives
mid-write waits instead of failing, and named migrations so the schema is versioned.

The unit of writing is one feed pass: ``save_feed_pass`` stores a feed's new and changed
items, their topic matches, the feed's new fetch state and a fetch-log row in ONE
transaction. A crash at any moment leaves either all of it or none of it.

This module decides nothing about relevance or scheduling; it stores what it is given.
Reading for the analyst (search, filters) lives in ``query``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

from mediamon.clock import utc_iso
from mediamon.core.dedup import Known, decide
from mediamon.core.profile import Background
from mediamon.core.stories import Fingerprint, StorySettings
from mediamon.errors import ReadOnlyError, StoreError
from mediamon.store import articles as articles_store
from mediamon.store import scripts
from mediamon.store import stories as story_store
from mediamon.store import trends as trends_store
from mediamon.store.alerts import AlertsStore
from mediamon.store.articles import ArticlesStore
from mediamon.store.base import Migrations, sqlite_utils  # sqlite_utils without numpy
from mediamon.store.exchange import ExchangeStore
from mediamon.store.labels import LabelsStore
from mediamon.store.retention import RetentionStore
from mediamon.store.rows import FeedRow as FeedRow
from mediamon.store.rows import ScoredItem as ScoredItem
from mediamon.store.stats import StatsStore
from mediamon.store.stories import StoriesStore
from mediamon.store.trends import TrendsStore
from mediamon.types import FeedOutcome, FeedSource, FetchResult, Item, Match

BUSY_TIMEOUT_MS = 10_000
log = logging.getLogger("mediamon.store.sqlite")

# Schema changes are named migration functions below, applied in order on open. Add new
# ones at the end; never edit one that has shipped. PRAGMA user_version is set to their
# count, so an older mediamon can refuse a database it does not understand.
migrations = Migrations("mediamon")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            name TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            origin TEXT NOT NULL DEFAULT 'config',   -- 'config' or 'db' (added by the CLI/OPML)
            active INTEGER NOT NULL DEFAULT 1,        -- 0: removed from the config; rows kept for history
            interval REAL,                            -- seconds; NULL = schedule default
            title TEXT,                               -- the feed's own title
            site_url TEXT,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            added TEXT NOT NULL,
            last_fetch TEXT,
            last_success TEXT,
            last_status TEXT,                         -- ok, not_modified, error, gone
            last_http_status INTEGER,
            last_error TEXT,
            last_warning TEXT,
            failures INTEGER NOT NULL DEFAULT 0,      -- consecutive
            next_fetch TEXT
        )
        """  # noqa: E501 (a shipped migration is never edited, comments included)
    )
    db.execute(
        """
        CREATE TABLE items (
            id TEXT PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),  -- the feed it first came through
            guid TEXT,
            url TEXT,
            canonical_url TEXT,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            content TEXT NOT NULL,
            summary_html TEXT NOT NULL,
            content_html TEXT NOT NULL,
            authors TEXT NOT NULL,        -- JSON list
            categories TEXT NOT NULL,     -- JSON list
            published TEXT NOT NULL,      -- UTC ISO-8601
            published_from_feed INTEGER NOT NULL,
            updated TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            language TEXT,
            content_hash TEXT NOT NULL,
            kept INTEGER NOT NULL,
            score REAL NOT NULL,
            similarity REAL NOT NULL,
            topics TEXT NOT NULL,         -- JSON list of topic names
            explanation TEXT NOT NULL     -- JSON object: why kept or not
        )
        """
    )
    db.execute("CREATE INDEX items_published ON items(published)")
    db.execute("CREATE INDEX items_kept_published ON items(kept, published)")
    db.execute("CREATE INDEX items_canonical_url ON items(canonical_url)")
    db.execute("CREATE INDEX items_feed ON items(feed_id)")
    db.execute(
        """
        CREATE TABLE item_feeds (           -- every feed an item came through
            item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            first_seen TEXT NOT NULL,
            PRIMARY KEY (item_id, feed_id)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE item_topics (          -- one row per topic an item matched
            item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            topic TEXT NOT NULL,
            terms TEXT NOT NULL,            -- JSON list, as the words appeared in the text
            PRIMARY KEY (item_id, topic)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX item_topics_topic ON item_topics(topic, item_id)")
    db.execute(
        """
        CREATE TABLE seen (                 -- every item ever parsed, kept or not: what is new
            id TEXT PRIMARY KEY,
            feed_id INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            first_seen TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE fetch_log (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            started TEXT NOT NULL,
            elapsed REAL NOT NULL,
            status TEXT NOT NULL,
            http_status INTEGER,
            bytes INTEGER NOT NULL,
            entries INTEGER NOT NULL,
            new_items INTEGER NOT NULL,
            kept_items INTEGER NOT NULL,
            error TEXT,
            warning TEXT
        )
        """
    )
    db.execute("CREATE INDEX fetch_log_feed ON fetch_log(feed_id, started)")
    db.table("items").enable_fts(
        ["title", "summary", "content"],
        create_triggers=True,
        tokenize="unicode61 remove_diacritics 2",
    )


@migrations()
def m002_relevance(db: sqlite_utils.Database) -> None:
    """Background document frequencies for the reference profile, and the analyst's labels."""
    db.execute(
        """
        CREATE TABLE background_df (        -- items parsed so far containing each profile term
            term TEXT PRIMARY KEY,
            df INTEGER NOT NULL
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE background_size (      -- one row: how many items background_df counts
            id INTEGER PRIMARY KEY CHECK (id = 1),
            documents INTEGER NOT NULL
        )
        """
    )
    db.execute("INSERT INTO background_size (id, documents) VALUES (1, 0)")
    db.execute(
        """
        CREATE TABLE labels (               -- `mediamon label`: the analyst's feedback
            item_id TEXT PRIMARY KEY,       -- no foreign key: a label outlives `rescore --prune`
            label TEXT NOT NULL CHECK (label IN ('relevant', 'irrelevant')),
            labelled TEXT NOT NULL,
            text TEXT NOT NULL              -- the item's text when labelled (for the profile)
        ) WITHOUT ROWID
        """
    )


@migrations()
def m003_stories(db: sqlite_utils.Database) -> None:
    """Issue 5: each item's dedup key, folded copies, earlier versions, and stories; items
    stored before this migration get their key and their story (default settings)."""
    db.execute("ALTER TABLE items ADD COLUMN dedup_key TEXT")  # see urls.dedup_key
    db.execute("CREATE INDEX items_dedup_key ON items(dedup_key)")
    story_store.create_schema(db.conn)
    story_store.backfill(db.conn, StorySettings())


@migrations()
def m004_fetch_state(db: sqlite_utils.Database) -> None:
    """Issue 4: the schedule lives in the database (why the next poll is when it is, the
    adaptive interval, failure and dead/gone state, moved URLs) and hosts that asked to wait."""
    for column in (
        "fetch_url TEXT",            # where the feed is fetched after a confirmed permanent move
        "redirect_to TEXT",          # a permanent redirect target seen on recent polls
        "redirect_seen INTEGER NOT NULL DEFAULT 0",  # consecutive polls that saw it
        "poll_interval REAL",        # current interval in seconds (adaptive, pinned or hinted)
        "publish_rate REAL",         # new items per day the feed's dates show
        "body_hint REAL",            # seconds asked for by <ttl> / sy:updatePeriod
        "next_reason TEXT",          # why next_fetch is what it is, one line
        "failing_since TEXT",        # start of the current run of failures
        "dead_since TEXT",           # failing for schedule.dead_after: polled rarely
        "gone_since TEXT",           # HTTP 410: not polled again
    ):
        db.execute(f"ALTER TABLE feeds ADD COLUMN {column}")
    db.execute("CREATE INDEX feeds_next_fetch ON feeds(next_fetch)")
    db.execute(
        """
        CREATE TABLE hosts (                -- a host whose server sent Retry-After (429/503)
            host TEXT PRIMARY KEY,          -- host[:port] as in the feed URL
            wait_until TEXT NOT NULL,       -- no request to it before this (UTC ISO-8601)
            reason TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )


@migrations()
def m005_desk(db: sqlite_utils.Database) -> None:
    """Issue 6: FTS5 ``rank`` is bm25 weighted title 5, summary 2, content 1, so ``ORDER BY
    rank`` is ranked inside FTS5 (``query.search``) and Datasette's search box ranks the same
    way."""
    db.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('rank', 'bm25(5.0, 2.0, 1.0)')")


@migrations()
def m006_alerts(db: sqlite_utils.Database) -> None:
    """Issue 6: ``[[alerts]]`` state (``alerts.py``): each alert's clock and counters, and
    what each alert sent on each channel, so nothing is sent twice."""
    db.execute(
        """
        CREATE TABLE alerts (
            name TEXT PRIMARY KEY,          -- [[alerts]] name
            since TEXT NOT NULL,            -- first seen: it watches what is new after this
            last_run TEXT,
            last_sent TEXT,
            last_digest TEXT,               -- digests: the next one is due `every` after this
            sent INTEGER NOT NULL DEFAULT 0,      -- items or stories sent, all channels
            messages INTEGER NOT NULL DEFAULT 0,  -- webhook posts and emails sent
            failures INTEGER NOT NULL DEFAULT 0,  -- messages that failed after their retries
            last_error TEXT
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE alert_sent (           -- one row per alert, channel and item or story
            alert TEXT NOT NULL,
            channel TEXT NOT NULL,          -- webhook or smtp
            kind TEXT NOT NULL CHECK (kind IN ('item', 'story')),
            ref TEXT NOT NULL,              -- the item or story id
            title TEXT NOT NULL,            -- as sent
            url TEXT,
            claimed TEXT NOT NULL,          -- taken by a sender (before sending)
            sent TEXT,                      -- confirmed sent; NULL: sending, or a crash mid-send
            PRIMARY KEY (alert, channel, kind, ref)
        ) WITHOUT ROWID
        """
    )


@migrations()
def m007_search_feed_index(db: sqlite_utils.Database) -> None:
    """Issue 6: the items of one feed without reading every ``item_feeds`` row, for the
    search and listing filter ``--feed`` (its primary key starts with the item id)."""
    db.execute("CREATE INDEX IF NOT EXISTS item_feeds_feed ON item_feeds(feed_id, item_id)")


@migrations()
def m008_index_once_per_pass(db: sqlite_utils.Database) -> None:
    """Issue 4: new items enter the full-text index once per feed pass
    (``Store.index_items``), no longer through an AFTER INSERT trigger. FTS5 writes out its
    pending terms at every statement savepoint, and each INSERT that fires a trigger opens
    one, so the trigger wrote an index segment per item and then merged them all again:
    about a fifth of the writer's time. The update and delete triggers stay (edits and
    retention are rare)."""
    db.execute("DROP TRIGGER IF EXISTS items_ai")


@migrations()
def m009_feed_paused(db: sqlite_utils.Database) -> None:
    """``feeds edit --paused``: a paused feed stays listed, with its state, but is not
    polled until ``feeds edit --active``. Unlike ``active`` (removed from the config or with
    ``feeds remove``), re-reading the config leaves it alone."""
    db.execute("ALTER TABLE feeds ADD COLUMN paused INTEGER NOT NULL DEFAULT 0")


@migrations()
def m010_story_headlines(db: sqlite_utils.Database) -> None:
    """Stories, agency headline with own standfirst: each stored item's headline key
    (``stories.headline_key``) beside its term hashes, indexed with its time, so an item
    whose headline an earlier item had joins that story (docs/stories.md). Stories already
    formed stay as they are."""
    story_store.add_headlines(db.conn)


@migrations()
def m011_spikes(db: sqlite_utils.Database) -> None:
    """Volume spikes (``store.trends``): the surges found per topic and story, and
    ``alert_sent`` rebuilt so that it may hold them (kind ``'spike'``)."""
    trends_store.create_schema(db.conn)


@migrations()
def m012_fts_follows_text_edits(db: sqlite_utils.Database) -> None:
    """The full-text index row of an item is rewritten only when its title, summary or
    content is updated. The update trigger of ``enable_fts`` fired on every UPDATE of
    ``items``, so ``rescore`` (kept, score, topics), labels and re-polls (last_seen) deleted
    and re-inserted each item's terms in ``items_fts``: most of the database time of a
    rescore."""
    db.execute("DROP TRIGGER IF EXISTS items_au")
    db.execute(
        'CREATE TRIGGER "items_au" AFTER UPDATE OF "title", "summary", "content" ON "items" '
        'BEGIN INSERT INTO "items_fts" ("items_fts", rowid, "title", "summary", "content") '
        'VALUES(\'delete\', old.rowid, old."title", old."summary", old."content"); '
        'INSERT INTO "items_fts" (rowid, "title", "summary", "content") '
        'VALUES (new.rowid, new."title", new."summary", new."content"); END')


@migrations()
def m013_articles(db: sqlite_utils.Database) -> None:
    """Article pages (``store.articles``, docs/articles.md): an item's article status, text
    and metadata, and their own full-text index, which ``search`` also looks in."""
    articles_store.create_schema(db)


@migrations()
def m014_languages_and_outlets(db: sqlite_utils.Database) -> None:
    """Detected languages and registrable-domain outlets. ``items.language`` is now the
    detected language (``core.language.item_language``) and ``items.language_declared``
    the one the feed declared: every reader of ``language`` (``--lang``, ``stats``, the
    report, Datasette's facet) uses the detected one unchanged (core/normalise.py says why
    this way round). Stored items only had the declared one: it is copied into the new
    column, and ``mediamon relang`` detects theirs (about 0.2 ms an item, too slow for a
    migration on a large database). Outlets stored as hosts (``news.bbc.co.uk``) become
    their registrable domain, and the reach of their stories is counted again
    (``stories.merge_outlets``)."""
    db.execute("ALTER TABLE items ADD COLUMN language_declared TEXT")
    db.execute("UPDATE items SET language_declared = language")
    story_store.merge_outlets(db.conn)


@migrations()
def m015_cjk_search(db: sqlite_utils.Database) -> None:
    """Search in Chinese, Japanese and Korean: a character-trigram index of the items that
    have such text, beside the word index (``store.scripts``)."""
    scripts.create_schema(db)


def schema_version() -> int:
    """The schema version this code writes: the number of registered migrations."""
    return len(migrations.pending(sqlite_utils.Database(memory=True)))




def _seen_hashes(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for item_id, content_hash in conn.execute(
            f"SELECT id, content_hash FROM seen WHERE id IN ({marks})", chunk
        ):
            found[item_id] = content_hash
    return found


class SeenReader:
    """``Store.seen_hashes`` for a parse worker: its own read-only connection, opened at
    the first question, and no migration check (the daemon's Store did that). Any
    database trouble answers "nothing known": the items are then processed in full, which
    is always correct, only slower."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None

    def __call__(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            return _seen_hashes(self._conn, ids)
        except sqlite3.Error:
            self._conn = None
            return {}


def _shared_links(items: Iterable[Item]) -> set[str]:
    """Dedup keys that several items of one pass share under different titles: such a link
    (a section page, a home page with a query) says nothing about which article it is."""
    titles: dict[str, set[str]] = {}
    for item in items:
        key = item.dedup_key
        if key is not None:
            titles.setdefault(key, set()).add(" ".join(item.title.casefold().split()))
    return {key for key, seen in titles.items() if len(seen) > 1}


class Store(StoriesStore, AlertsStore, ExchangeStore, RetentionStore, LabelsStore,
            StatsStore, TrendsStore, ArticlesStore):
    """One mediamon database file. Not thread-safe: one Store per thread or task.

    Its SQL for the desk lives in its parts (``store.alerts``, ``exchange``, ``retention``,
    ``labels``, ``stats``); this module opens, migrates and writes feed passes."""

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 stories: StorySettings | None = None) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.stories = stories or StorySettings()  # the config's [stories] (issue 5)
        self._unindexed: list[int] = []  # rowids a feed pass inserted, not yet in items_fts
        try:
            conn = self._open_readonly() if readonly else self._open_writable()
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA foreign_keys = ON")
                self.db = sqlite_utils.Database(conn)
                self._check_ours()
                if not readonly:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints
                version = self._check_version()
                if not readonly and (version != schema_version() or migrations.pending(self.db)):
                    self._migrate()
                elif version < schema_version():
                    conn.close()
                    conn = self._upgrade_then_reopen(version)
                    self.db = sqlite_utils.Database(conn)
            except BaseException:
                conn.close()  # refused or not migrated: hold no handle on the file
                raise
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorname == "SQLITE_NOTADB":
                raise StoreError(f"not a SQLite database: {self.path}") from exc
            raise StoreError(f"{self.path}: {exc}") from exc

    def _open_readonly(self) -> sqlite3.Connection:
        """A connection that cannot write (``mode=ro``): query commands work on a read-only
        file and never change it.

        A WAL database needs its ``-shm`` file; in a directory that cannot hold one (a
        snapshot, a read-only share: no ``-shm`` beside the file and no way to create it)
        SQLite can only open it as ``immutable``, which is safe there: without a ``-shm``
        no connection has the file open in WAL mode, and none can start writing it.
        """
        if not self.path.exists():
            raise StoreError(f"{self.path}: no such database (run `mediamon run --once` first)")
        uri = self.path.absolute().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            conn.close()
            shm = self.path.with_name(self.path.name + "-shm")
            if not isinstance(exc, sqlite3.OperationalError) or shm.exists() or \
                    not exc.sqlite_errorname.startswith("SQLITE_CANTOPEN"):
                raise
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except BaseException:
                conn.close()
                raise
        return conn

    def _upgrade_then_reopen(self, version: int) -> sqlite3.Connection:
        """A database an older mediamon wrote, opened to read: this code's queries need
        the current schema, so it is migrated first (with its backup copy, as any command
        that writes would), then opened read-only again. One it cannot write is refused in
        one line rather than failing on a missing column half-way through a command."""
        reason = self._not_writable()
        if reason:
            raise ReadOnlyError(
                f"{self.path}: database schema version {version} is older than this "
                f"mediamon's ({schema_version()}) and cannot be upgraded here: {reason}")
        Store(self.path, stories=self.stories).close()
        conn = self._open_readonly()
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _open_writable(self) -> sqlite3.Connection:
        """A connection that can write, checked before anything is written: a read-only
        file, or a directory that cannot take the file or its ``-wal``/``-shm``, stops here
        with one line that says which (rather than at the first write, half-way through
        a command)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path}: {exc.strerror} "
                             f"({exc.filename})") from exc
        reason = self._not_writable()
        if reason:
            raise ReadOnlyError(f"cannot write to {self.path}: {reason}")
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            # Write for real, then undo it: access() is not the whole story (an ACL, a
            # file system mounted read-only underneath, a -shm file of another user).
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                conn.execute(f"PRAGMA user_version = {version}")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            conn.close()
            if exc.sqlite_errorname.startswith(
                    ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
                raise ReadOnlyError(f"cannot write to {self.path}: "
                                    f"{self._not_writable() or exc}") from exc
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _not_writable(self) -> str | None:
        """Why the file cannot be written, as far as the file system says (None: it can)."""
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return "the file is read-only"
        folder = self.path.parent
        if not os.access(folder, os.W_OK):
            return (f"its directory {folder} is read-only (SQLite keeps {self.path.name}-wal "
                    f"and {self.path.name}-shm beside the database)")
        return None

    def _check_ours(self) -> None:
        """Refuse a file that is not a mediamon database: another application's SQLite
        file is never read as one, nor given mediamon's tables. A database without tables
        (a new or 0-byte file) is fine for a writer, which creates the schema."""
        tables = [r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")]
        if not tables:
            if self.readonly:
                raise StoreError(f"not a mediamon database: {self.path} (it is empty; "
                                 "`mediamon run --once` creates the database)")
            return
        if migrations.migrations_table in tables and self.db.execute(
                f"SELECT 1 FROM {migrations.migrations_table} WHERE migration_set = ? LIMIT 1",
                [migrations.name]).fetchone():
            return
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"not a mediamon database: {self.path} (it holds other tables: "
                         f"{shown})")

    def _check_version(self) -> int:
        """The database's schema version; one newer than this code is refused."""
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > schema_version():
            raise StoreError(
                f"{self.path}: database schema version {version} is newer than this mediamon "
                f"understands ({schema_version()}); upgrade mediamon"
            )
        return version

    def _migrate(self) -> None:
        """Apply the pending migrations, all in ONE transaction, so a failure (or a crash)
        leaves the database as it was. An existing database is first copied next to itself
        (``_backup_copy``); a new, empty one needs no copy."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
        backup: Path | None = None
        step = "start"
        try:
            self._check_version()
            names = [m.name for m in migrations.pending(self.db)]  # again, under the lock
            old = schema_version() - len(names)
            if names and conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                step = "backup"
                backup = self._backup_copy(old)
                log.warning(
                    "database schema is older than this mediamon: backed up, now migrating",
                    extra={"fields": {"db": str(self.path), "from": old,
                                      "to": schema_version(), "backup": str(backup)}})
            for n, name in enumerate(names):
                # One migration at a time (each a savepoint), so an error names its migration.
                step = name
                migrations.apply(self.db, stop_before=names[n + 1] if n + 1 < len(names) else None)
            step = "commit"
            self.db.execute(f"PRAGMA user_version = {schema_version()}")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if step in ("start", "backup") or not isinstance(exc, Exception):
                raise
            kept = f"; a copy made before migrating is at {backup}" if backup else ""
            raise StoreError(
                f"{self.path}: schema migration {step} failed ({exc}); the database was left "
                f"as it was (schema version {old}){kept}"
            ) from exc

    def _backup_copy(self, version: int) -> Path:
        """A consistent copy of the database as it is, next to it: ``<db>.schema-v<version>.bak``
        (``-2``, ``-3``... added rather than overwrite an earlier copy). Called with the write
        lock held, so the copy is exactly what is about to be migrated."""
        target = None
        for n in range(1, 1000):
            candidate = self.path.with_name(
                f"{self.path.name}.schema-v{version}{f'-{n}' if n > 1 else ''}.bak")
            try:
                candidate.open("xb").close()  # claims the name; fails if it is taken
            except FileExistsError:
                continue
            target = candidate
            break
        if target is None:
            raise StoreError(f"{self.path}: too many schema backup copies next to it")
        try:
            # A second connection: SQLite cannot copy through one that holds the write lock.
            source = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                copy = sqlite3.connect(str(target))
                try:
                    source.backup(copy)
                    copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                finally:
                    copy.close()
            finally:
                source.close()
        except (OSError, sqlite3.Error) as exc:
            target.unlink(missing_ok=True)
            raise StoreError(f"{self.path}: could not copy it to {target} before migrating "
                             f"its schema, so it was not migrated: {exc}") from exc
        return target

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (SQLite rolls a whole one back on a full disk)."""
        return self.db.conn.in_transaction

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taken IMMEDIATE so it never fails half-way on a lock upgrade.

        Inside another transaction it is a SAVEPOINT: the pipeline's writer commits several
        feed passes at once, and each pass stays all-or-nothing within the batch (issue 4).
        """
        conn = self.db.conn
        if conn.in_transaction:
            self._savepoints = getattr(self, "_savepoints", 0) + 1
            name = f"mediamon_sp{self._savepoints}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                # Some errors (SQLITE_FULL, SQLITE_IOERR) make SQLite roll back the whole
                # transaction itself: then there is no savepoint left to return to, and the
                # caller must see the original error, not "no such savepoint".
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._savepoints -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- feeds -------------------------------------------------------------------------

    def sync_config_feeds(self, sources: Sequence[FeedSource], *, now: datetime) -> None:
        """Make the feeds table agree with the config: add new, update names/tags/intervals,
        and mark config feeds no longer listed as inactive (their items stay)."""
        stamp = utc_iso(now)
        urls = [s.url for s in sources]
        with self.transaction():
            for s in sources:
                self.db.execute(
                    """
                    INSERT INTO feeds (url, name, tags, origin, interval, added, active)
                    VALUES (?, ?, ?, 'config', ?, ?, 1)
                    ON CONFLICT(url) DO UPDATE SET
                        name = excluded.name, tags = excluded.tags, interval = excluded.interval,
                        origin = 'config', active = 1
                    """,
                    [s.url, s.name, json.dumps(list(s.tags)), s.interval, stamp],
                )
            placeholders = ",".join("?" * len(urls))
            self.db.execute(
                "UPDATE feeds SET active = 0 WHERE origin = 'config' "
                f"AND url NOT IN ({placeholders})",
                urls,
            )

    def add_feed(self, source: FeedSource, *, now: datetime) -> bool:
        """Add a feed from the CLI or OPML; returns False if it was already there.

        A removed feed is reactivated, and a gone one (HTTP 410) is polled again."""
        with self.transaction():
            cur = self.db.execute(
                """
                INSERT INTO feeds (url, name, tags, origin, interval, added, active)
                VALUES (?, ?, ?, 'db', ?, ?, 1)
                ON CONFLICT(url) DO UPDATE SET active = 1, gone_since = NULL, next_fetch = NULL
                    WHERE active = 0 OR gone_since IS NOT NULL
                """,
                [source.url, source.name, json.dumps(list(source.tags)), source.interval,
                 utc_iso(now)],
            )
            return cur.rowcount > 0

    def remove_feed(self, url_or_id: str) -> FeedRow | None:
        """Stop polling a feed (its items stay). Returns the feed, or None if unknown."""
        row = self.find_feed(url_or_id)
        if row is None:
            return None
        with self.transaction():
            self.db.execute("UPDATE feeds SET active = 0 WHERE id = ?", [row.id])
        return row

    def edit_feed(self, feed_id: int, **changes: Any) -> None:
        """Change a feed's ``name``, ``tags``, pinned ``interval`` (seconds; None: adaptive)
        or ``paused``. A new interval makes the feed due now, so it applies at once."""
        unknown = set(changes) - {"name", "tags", "interval", "paused"}
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        values = {key: json.dumps(list(value)) if key == "tags" else
                  int(value) if key == "paused" else value for key, value in changes.items()}
        if "interval" in changes:
            values["next_fetch"] = None
        if not values:
            return
        assignments = ", ".join(f"{key} = ?" for key in values)
        with self.transaction():
            self.db.execute(f"UPDATE feeds SET {assignments} WHERE id = ?",
                            [*values.values(), feed_id])

    def find_feed(self, url_or_id: str) -> FeedRow | None:
        where = "id = ?" if url_or_id.isdigit() else "url = ?"
        arg: Any = int(url_or_id) if url_or_id.isdigit() else url_or_id
        rows = list(self.db.query(f"SELECT * FROM feeds WHERE {where}", [arg]))
        return FeedRow.from_row(rows[0]) if rows else None

    def feeds(self, *, active_only: bool = True, include_paused: bool = False) -> list[FeedRow]:
        """The feeds by id: with ``active_only``, those that are polled (not removed, and
        not paused unless ``include_paused``); else every feed."""
        where = "WHERE active = 1" if active_only else ""
        rows = self.db.query(f"SELECT * FROM feeds {where} ORDER BY id")
        feeds = [FeedRow.from_row(r) for r in rows]
        # Filtered here, not in SQL: a read-only database may predate the paused column.
        return [f for f in feeds if include_paused or not active_only or not f.paused]

    def feed_id(self, url: str) -> int:
        row = self.db.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()
        if row is None:
            raise StoreError(f"feed not in the database: {url}")
        return int(row[0])

    # -- schedule (issue 4): the database decides which feeds are due ----------------------

    def due_feeds(self, now: datetime, *, limit: int = 1000,
                  exclude: Iterable[int] = ()) -> list[FeedRow]:
        """Active feeds due at ``now``: never polled first, then the most overdue. Gone feeds
        (HTTP 410) and paused ones are never due; ``exclude`` are ids already being polled."""
        skip = list(exclude)
        not_in = f"AND id NOT IN ({','.join('?' * len(skip))})" if skip else ""
        rows = self.db.query(
            f"""
            SELECT * FROM feeds
            WHERE active = 1 AND paused = 0 AND gone_since IS NULL
                  AND (next_fetch IS NULL OR next_fetch <= ?)
                  {not_in}
            ORDER BY next_fetch IS NOT NULL, next_fetch, id
            LIMIT ?
            """,
            [utc_iso(now), *skip, limit],
        )
        return [FeedRow.from_row(r) for r in rows]

    def next_due(self) -> str | None:
        """The earliest next poll of any active feed (None when nothing is scheduled)."""
        row = self.db.execute(
            "SELECT min(next_fetch) FROM feeds WHERE active = 1 AND paused = 0 "
            "AND gone_since IS NULL"
        ).fetchone()
        return row[0] if row else None

    def feed_urls(self) -> list[tuple[int, str]]:
        """(id, URL fetched) of every active feed that is still polled."""
        return [(r[0], r[1] or r[2]) for r in self.db.execute(
            "SELECT id, fetch_url, url FROM feeds WHERE active = 1 AND paused = 0 "
            "AND gone_since IS NULL")]

    def postpone(self, feed_ids: Sequence[int], until: datetime, reason: str) -> int:
        """Move the next poll of these feeds to ``until`` (never earlier), with the reason."""
        stamp = utc_iso(until)
        changed = 0
        with self.transaction():
            for start in range(0, len(feed_ids), 500):
                chunk = list(feed_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                changed += self.db.execute(
                    f"UPDATE feeds SET next_fetch = ?, next_reason = ? WHERE id IN ({marks}) "
                    "AND (next_fetch IS NULL OR next_fetch < ?)",
                    [stamp, reason, *chunk, stamp],
                ).rowcount
        return changed

    def set_host_wait(self, host: str, until: datetime, reason: str) -> None:
        """Remember that ``host`` asked not to be contacted before ``until``."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO hosts (host, wait_until, reason) VALUES (?, ?, ?) "
                "ON CONFLICT(host) DO UPDATE SET wait_until = max(wait_until, excluded.wait_until),"
                " reason = excluded.reason",
                [host, utc_iso(until), reason],
            )

    def host_waits(self, now: datetime) -> dict[str, tuple[str, str]]:
        """Hosts still asking to wait at ``now``: host -> (until, reason)."""
        return {host: (until, reason) for host, until, reason in self.db.execute(
            "SELECT host, wait_until, reason FROM hosts WHERE wait_until > ?", [utc_iso(now)])}

    # -- items -------------------------------------------------------------------------

    def background(self) -> Background:
        """The database's own document frequencies (empty for a database without them)."""
        try:
            row = self.db.execute("SELECT documents FROM background_size WHERE id = 1").fetchone()
            if not row or not row[0]:
                return Background()
            df = dict(self.db.execute("SELECT term, df FROM background_df").fetchall())
        except sqlite3.OperationalError:  # a database from before the relevance migration
            return Background()
        return Background(int(row[0]), df)

    def seen_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """Content hashes of the given item ids that were parsed before (kept or not)."""
        return _seen_hashes(self.db.conn, list(ids))

    def save_feed_pass(
        self,
        feed_url: str,
        fetch: FetchResult,
        scored: Sequence[ScoredItem],
        *,
        now: datetime,
        next_fetch: datetime | None,
        keep_all: bool = False,
        entries: int = 0,
        warning: str | None = None,
        feed_title: str | None = None,
        site_url: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> FeedOutcome:
        """Store one feed pass in one transaction and return what it did.

        ``state`` holds more columns of the feed's fetch state to set in the same
        transaction (issue 4: the schedule, see ``pipeline``).

        ``scored`` holds the items parsed from this fetch with their matches. What happens
        to each is ``core.dedup.decide``'s decision on what this store knows of it (never
        seen, stored, changed, a copy of a stored item...); this method gathers those facts
        and carries the decisions out: an update keeps the replaced version
        (``item_versions``), a copy only links this feed to the item it copies
        (``_fold_copy``), and every inserted item gets its story (``story_store.assign``),
        all in the same transaction.
        """
        stamp = utc_iso(now)
        new = kept = updated = 0
        first_seen: list[tuple[str, ...]] = []  # profile terms of items never seen before
        self._unindexed = []
        seen_rows: list[tuple[str, int, str, str | None]] = []  # new items, in one statement
        with self.transaction():
            feed_id = self.feed_id(feed_url)
            previous = self.seen_hashes(s.item.id for s in scored)
            stored = self._stored_ids([s.item.id for s in scored])
            # Issue 5: copies folded into a stored item earlier (id -> that item's id), and
            # links this pass gives to items with different titles (a section page).
            folded = story_store.aliases(self.db.conn, [s.item.id for s in scored])
            stored |= self._stored_ids(sorted(set(folded.values())))
            shared_links = _shared_links(s.item for s in scored)
            # Dedup keys some stored item has: only those can fold a new item into a copy.
            # Read once per pass; the keys this pass stores are added as it goes.
            usable = {key for s in scored if (key := s.item.dedup_key) is not None} - \
                shared_links
            known_keys = story_store.stored_keys(self.db.conn, usable)
            done: set[str] = set()
            for s in scored:
                item, match = s.item, s.match
                old_hash = previous.get(item.id)
                target = folded.get(item.id)
                known = Known(old_hash=old_hash, stored=item.id in stored,
                              folded=target is not None and target in stored,
                              key_on_stored=item.dedup_key in known_keys,
                              repeated=item.id in done)
                keep = match.kept or keep_all
                done.add(item.id)
                decision = decide(known, content_hash=item.content_hash, partial=s.partial,
                                  keep=keep)
                if decision == "duplicate":
                    continue
                if decision in ("edit-folded", "link-folded"):
                    assert target is not None
                    self._link_feed(target, feed_id, stamp)
                    if decision == "edit-folded":
                        updated += 1
                        self._update_item(replace(item, id=target), match, stamp, feed_id)
                        self._set_seen_hash(item.id, item.content_hash)
                    continue
                if decision == "try-fold":
                    if self._fold_copy(item, feed_id, stamp):
                        continue
                    decision = decide(known, content_hash=item.content_hash,
                                      partial=s.partial, keep=keep, fold=False)
                if item.dedup_key is not None and item.dedup_key in usable:
                    known_keys.add(item.dedup_key)  # it may be stored below
                if decision in ("insert", "note"):
                    new += 1
                    if match.doc_terms is not None:
                        first_seen.append(match.doc_terms)
                    seen_rows.append((item.id, feed_id, item.content_hash, stamp))
                if decision in ("edit", "link"):
                    self._link_feed(item.id, feed_id, stamp)
                if decision in ("edit", "insert-now", "rehash"):
                    self._set_seen_hash(item.id, item.content_hash)
                if decision == "edit":
                    updated += 1
                    self._update_item(item, match, stamp, feed_id)
                if decision in ("insert", "insert-now"):
                    kept += int(match.kept)
                    if decision == "insert-now":
                        updated += 1  # seen before, stored only now that it matches
                    self._insert_item(item, match, feed_id, stamp, s.fingerprint)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO seen (id, feed_id, content_hash, first_seen) "
                "VALUES (?, ?, ?, ?)", seen_rows)
            outcome = FeedOutcome(
                url=feed_url,
                status=fetch.status,
                http_status=fetch.http_status,
                entries=entries,
                new_items=new,
                kept_items=kept,
                updated_items=updated,
                error=fetch.error,
                warning=warning,
                bytes=len(fetch.body or b""),
                elapsed=fetch.elapsed,
            )
            self._update_feed_state(feed_id, fetch, outcome, now=now, next_fetch=next_fetch,
                                    feed_title=feed_title, site_url=site_url, state=state)
            self._log_fetch(feed_id, outcome, started=stamp)
            self._grow_background(first_seen)
            self.index_items(self._unindexed)
        return outcome

    def _set_seen_hash(self, item_id: str, content_hash: str) -> None:
        self.db.execute("UPDATE seen SET content_hash = ? WHERE id = ?", [content_hash, item_id])

    def save_feed_failure(
        self, feed_url: str, fetch: FetchResult, *, now: datetime, next_fetch: datetime | None,
        error: str | None = None, state: dict[str, Any] | None = None,
    ) -> FeedOutcome:
        """Record a pass that stored no items (not modified, HTTP error, parse error);
        ``state`` as in ``save_feed_pass``."""
        status = "error" if error else fetch.status
        outcome = FeedOutcome(
            url=feed_url,
            status=status,
            http_status=fetch.http_status,
            error=error or fetch.error,
            bytes=len(fetch.body or b""),
            elapsed=fetch.elapsed,
        )
        with self.transaction():
            feed_id = self.feed_id(feed_url)
            self._update_feed_state(feed_id, fetch, outcome, now=now, next_fetch=next_fetch,
                                    state=state)
            self._log_fetch(feed_id, outcome, started=utc_iso(now))
        return outcome

    def index_items(self, rowids: Sequence[int]) -> None:
        """Add newly inserted items to the full-text index, in one statement (see
        ``m008_index_once_per_pass``): whoever inserts into ``items`` calls this in the
        same transaction."""
        for chunk in range(0, len(rowids), 500):
            part = list(rowids[chunk : chunk + 500])
            self.db.execute(
                "INSERT INTO items_fts (rowid, title, summary, content) "
                f"SELECT rowid, title, summary, content FROM items "
                f"WHERE rowid IN ({','.join('?' * len(part))})", part)

    def _grow_background(self, documents: Sequence[Sequence[str]]) -> None:
        """Count new items into the background document frequencies (issue 3)."""
        if not documents:
            return
        df = Counter(chain.from_iterable(map(set, documents)))
        self.db.conn.executemany(
            "INSERT INTO background_df (term, df) VALUES (?, ?) "
            "ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
            df.items(),
        )
        self.db.execute("UPDATE background_size SET documents = documents + ? WHERE id = 1",
                        [len(documents)])

    def _stored_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM items WHERE id IN ({marks})", chunk))
        return found

    def _item_columns(self, item: Item, match: Match, stamp: str | None) -> dict[str, Any]:
        return {
            "guid": item.guid,
            "url": item.url,
            "canonical_url": item.canonical_url,
            "title": item.title,
            "summary": item.summary,
            "content": item.content,
            "summary_html": item.summary_html,
            "content_html": item.content_html,
            "authors": json.dumps(list(item.authors), ensure_ascii=False),
            "categories": json.dumps(list(item.categories), ensure_ascii=False),
            "published": utc_iso(item.published),
            "published_from_feed": int(item.published_from_feed),
            "updated": utc_iso(item.updated),
            "last_seen": stamp,
            "language": item.language,
            "language_declared": item.language_declared,
            "content_hash": item.content_hash,
            "kept": int(match.kept),
            "score": match.score,
            "similarity": match.similarity,
            "topics": json.dumps(list(match.topic_names), ensure_ascii=False),
            "explanation": json.dumps(match.explanation(), ensure_ascii=False),
        }

    def _fold_copy(self, item: Item, feed_id: int, stamp: str | None) -> bool:
        """Issue 5: if a never-seen item is a copy of a stored one (same dedup key; within one
        feed also the same title), remember it as a copy of that item and link this feed.
        The caller has checked that the key is a usable one that some stored item has."""
        key = item.dedup_key
        assert key is not None
        found = story_store.find_copy(self.db.conn, item_id=item.id, key=key,
                                      title=item.title, feed_id=feed_id)
        if found is None:
            return False
        target, reason = found
        self.db.execute(
            "INSERT OR IGNORE INTO seen (id, feed_id, content_hash, first_seen) "
            "VALUES (?, ?, ?, ?)",
            [item.id, feed_id, item.content_hash, stamp],
        )
        story_store.add_alias(self.db.conn, alias=item.id, item_id=target, feed_id=feed_id,
                              reason=reason, stamp=stamp or "")
        self._link_feed(target, feed_id, stamp)
        return True

    def _assign_story(self, item: Item, feed_id: int, stamp: str | None,
                      fingerprint: Fingerprint | None = None) -> None:
        """Issue 5: put a newly stored item into its story, in the pass's transaction."""
        outlet = item.site  # story_store.outlet_for, the item's link first
        if outlet is None:
            site_url, feed_url, name = self.db.execute(
                "SELECT site_url, url, name FROM feeds WHERE id = ?", [feed_id]).fetchone()
            outlet = story_store.outlet_for(None, site_url, feed_url, name)
        story_store.assign(
            self.db.conn, item_id=item.id, title=item.title, summary=item.summary,
            published=item.published, outlet=outlet, settings=self.stories,
            stamp=stamp or "", fp=fingerprint,
        )

    def _insert_item(self, item: Item, match: Match, feed_id: int, stamp: str | None,
                     fingerprint: Fingerprint | None = None) -> None:
        cols = self._item_columns(item, match, stamp)
        cols.update(id=item.id, feed_id=feed_id, first_seen=stamp,
                    dedup_key=item.dedup_key)
        names = ", ".join(cols)
        marks = ", ".join("?" * len(cols))
        cursor = self.db.execute(f"INSERT INTO items ({names}) VALUES ({marks})",
                                 list(cols.values()))
        assert cursor.lastrowid is not None  # an INSERT's rowid
        self._unindexed.append(cursor.lastrowid)
        self._link_feed(item.id, feed_id, stamp)
        self._save_topics(item.id, match)
        self._assign_story(item, feed_id, stamp, fingerprint)

    def _update_item(self, item: Item, match: Match, stamp: str | None,
                     feed_id: int | None = None) -> None:
        cols = self._item_columns(item, match, stamp)
        # Issue 5: keep the version being replaced, and re-index the words of an edit.
        changed = story_store.save_version(self.db.conn, item_id=item.id, new=cols,
                                           feed_id=feed_id, stamp=stamp or "")
        cols["dedup_key"] = item.dedup_key
        sets = ", ".join(f"{name} = ?" for name in cols)
        self.db.execute(f"UPDATE items SET {sets} WHERE id = ?", [*cols.values(), item.id])
        self.db.execute("DELETE FROM item_topics WHERE item_id = ?", [item.id])
        self._save_topics(item.id, match)
        if "title" in changed or "summary" in changed:
            story_store.reindex(self.db.conn, item_id=item.id, title=item.title,
                                summary=item.summary, settings=self.stories)

    def _link_feed(self, item_id: str, feed_id: int, stamp: str | None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO item_feeds (item_id, feed_id, first_seen) VALUES (?, ?, ?)",
            [item_id, feed_id, stamp],
        )

    def _save_topics(self, item_id: str, match: Match) -> None:
        # One statement for all of an item's topics (the single writer's time is the
        # ingest's bottleneck once parsing runs in the workers).
        self.db.conn.executemany(
            "INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, ?)",
            [(item_id, hit.topic, json.dumps(list(hit.terms), ensure_ascii=False))
             for hit in match.topics],
        )

    def _update_feed_state(
        self, feed_id: int, fetch: FetchResult, outcome: FeedOutcome, *, now: datetime,
        next_fetch: datetime | None, feed_title: str | None = None, site_url: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        stamp = utc_iso(now)
        failed = outcome.status == "error"
        sets = {
            "last_fetch": stamp,
            "last_status": outcome.status,
            "last_http_status": fetch.http_status,
            "last_error": outcome.error,
            "last_warning": outcome.warning,
            "next_fetch": utc_iso(next_fetch),
        }
        if not failed and outcome.status != "gone":
            sets["last_success"] = stamp
        if fetch.status == "ok" and not failed:
            # Only a body that parsed moves the validators on: after a parse error the
            # next poll must fetch the body again rather than get a 304 for it.
            sets["etag"] = fetch.validators.etag
            sets["last_modified"] = fetch.validators.last_modified
            sets["body_hash"] = hashlib.sha256(fetch.body or b"").hexdigest()[:16]
        if feed_title:
            sets["title"] = feed_title
        if site_url:
            sets["site_url"] = site_url
        if outcome.status == "gone":
            sets["gone_since"] = stamp  # issue 4: not polled again, but still listed
        if state:
            sets.update(state)
        assignments = ", ".join(f"{k} = ?" for k in sets)
        failures = "failures + 1" if failed else "0"
        self.db.execute(
            f"UPDATE feeds SET {assignments}, failures = {failures} WHERE id = ?",
            [*sets.values(), feed_id],
        )

    def _log_fetch(self, feed_id: int, outcome: FeedOutcome, *, started: str | None) -> None:
        self.db.execute(
            """
            INSERT INTO fetch_log (feed_id, started, elapsed, status, http_status, bytes, entries,
                                   new_items, kept_items, error, warning)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [feed_id, started, round(outcome.elapsed, 4), outcome.status, outcome.http_status,
             outcome.bytes, outcome.entries, outcome.new_items, outcome.kept_items,
             outcome.error, outcome.warning],
        )
