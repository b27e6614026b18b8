"""SQLite storage: schema, migrations, and the write side of the pipeline.

One ``Store`` wraps one database file (sqlite-utils over the standard ``sqlite3`` module):
WAL journal so readers never block the writer, a busy timeout so a reader that arrives
mid-write waits instead of failing, and named migrations so the schema is versioned.

The unit of writing is one feed pass: ``save_feed_pass`` stores a feed's new and changed
items, their topic matches, the feed's new fetch state and a fetch-log row in ONE
transaction. A crash at any moment leaves either all of it or none of it. The pass is
``store.ingest.FeedPassWriter``'s, shared with PostgreSQL; this module gives it SQLite's
connection and full-text index (``_begin_pass``, ``_new_row``, ``_end_pass``).

This module decides nothing about relevance or scheduling; it stores what it is given.
Reading for the analyst (search, filters) lives in ``query``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

from mediamon.clock import utc_iso
from mediamon.core.profile import Background
from mediamon.core.stories import StorySettings
from mediamon.errors import ReadOnlyError, StoreError
from mediamon.store import articles as articles_store
from mediamon.store import scripts
from mediamon.store import stories as story_store
from mediamon.store import trends as trends_store
from mediamon.store.alerts import AlertsStore
from mediamon.store.articles import ArticlesStore
from mediamon.store.base import Migrations, sqlite_utils  # sqlite_utils without numpy
from mediamon.store.exchange import ExchangeStore
from mediamon.store.feeds import FeedEditing
from mediamon.store.ingest import FeedPassWriter
from mediamon.store.labels import LabelsStore
from mediamon.store.retention import RetentionStore
from mediamon.store.rows import FeedRow as FeedRow
from mediamon.store.rows import ScoredItem as ScoredItem
from mediamon.store.seen import seen_hashes, seen_raw
from mediamon.store.stats import StatsStore
from mediamon.store.stories import StoriesStore
from mediamon.store.trends import TrendsStore
from mediamon.types import FeedSource

BUSY_TIMEOUT_MS = 10_000
# The page cache of a connection that writes (SQLite's default is 2 MB). A feed pass inserts
# rows at random places in the indexes keyed by ids and hashes; with 2 MB the pages it dirtied
# were spilled to the WAL before the commit and read back (a cold poll of the dense workload:
# 2.2 million pwrite64 and 1 million pread64 calls, 4-5 of the writer's 16 CPU seconds in the
# kernel). 16 MB holds them (sys 2.6 s; 32-128 MB gained nothing more) and bounds what a
# long-running daemon keeps (docs/benchmarks.md, "The writer's page cache").
WRITER_CACHE_KIB = 16 * 1024
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
    """Each item's dedup key, folded copies, earlier versions, and stories; items
    stored before this migration get their key and their story (default settings)."""
    db.execute("ALTER TABLE items ADD COLUMN dedup_key TEXT")  # see urls.dedup_key
    db.execute("CREATE INDEX items_dedup_key ON items(dedup_key)")
    story_store.create_schema(db.conn)
    story_store.backfill(db.conn, StorySettings())


@migrations()
def m004_fetch_state(db: sqlite_utils.Database) -> None:
    """The schedule lives in the database (why the next poll is when it is, the
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
    """FTS5 ``rank`` is bm25 weighted title 5, summary 2, content 1, so ``ORDER BY
    rank`` is ranked inside FTS5 (``query.search``) and Datasette's search box ranks the same
    way."""
    db.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('rank', 'bm25(5.0, 2.0, 1.0)')")


@migrations()
def m006_alerts(db: sqlite_utils.Database) -> None:
    """``[[alerts]]`` state (``alerts.py``): each alert's clock and counters, and
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
    """The items of one feed without reading every ``item_feeds`` row, for the
    search and listing filter ``--feed`` (its primary key starts with the item id)."""
    db.execute("CREATE INDEX IF NOT EXISTS item_feeds_feed ON item_feeds(feed_id, item_id)")


@migrations()
def m008_index_once_per_pass(db: sqlite_utils.Database) -> None:
    """New items enter the full-text index once per feed pass
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


@migrations()
def m016_seen_raw(db: sqlite_utils.Database) -> None:
    """``seen.raw``: the digest of the entry that gave the row its content hash
    (``core.normalise.entry_digest``), so that a poll recognises an entry it met before
    without rendering its text. NULL where unknown: rows from before, imported ones, and
    those whose hash was set otherwise."""
    db.execute("ALTER TABLE seen ADD COLUMN raw TEXT")
    db.execute("CREATE INDEX seen_raw ON seen(raw) WHERE raw IS NOT NULL")


def schema_version() -> int:
    """The schema version this code writes: the number of registered migrations."""
    return len(migrations.pending(sqlite_utils.Database(memory=True)))




class Store(StoriesStore, AlertsStore, ExchangeStore, RetentionStore, LabelsStore,
            StatsStore, TrendsStore, ArticlesStore, FeedEditing, FeedPassWriter):
    """One mediamon database file. Not thread-safe: one Store per thread or task.

    Its SQL for the desk lives in its parts (``store.alerts``, ``exchange``, ``retention``,
    ``labels``, ``stats``); this module opens, migrates and writes feed passes."""

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 stories: StorySettings | None = None) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.stories = stories or StorySettings()  # the config's [stories]
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
                    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
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

    @property
    def group_commit(self) -> bool:
        """Yes: the file has one writer at a time anyway, and a commit per pass rewrote the
        same index pages again and again. Readers (WAL) do not wait for it; another writer
        (a CLI command) waits at most ``GROUP_COMMIT_SECONDS`` longer."""
        return True

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
        feed passes at once, and each pass stays all-or-nothing within the batch.
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

    # remove_feed, edit_feed: store.feeds (FeedEditing), one SQL text for both databases

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

    # -- schedule: the database decides which feeds are due ----------------------

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
        return seen_hashes(self.db.conn, list(ids))

    def seen_raw(self, digests: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Entry digest -> (item id, content hash) of the entries met before
        (``store.seen.seen_raw``)."""
        return seen_raw(self.db.conn, list(digests))

    # -- the feed pass (store.ingest.FeedPassWriter): SQLite's hooks -------------------

    def _pass_conn(self) -> sqlite3.Connection:
        return self.db.conn

    def _begin_pass(self, keys: Sequence[str]) -> None:
        self._unindexed = []  # rowids of the pass's new items (_new_row), for _end_pass

    def _new_row(self, cursor: Any) -> None:
        self._unindexed.append(cursor.lastrowid)

    def _end_pass(self, documents: Sequence[Sequence[str]]) -> None:
        self._grow_background(documents)
        self.index_items(self._unindexed)

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
        """Count new items into the background document frequencies."""
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
