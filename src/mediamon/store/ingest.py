"""The feed pass, written once for both databases: what one fetched feed's items do to the
store (``save_feed_pass``), and a pass that stored nothing (``save_feed_failure``).

``FeedPassWriter`` is a base of ``sqlite.Store`` and of ``postgres.store.PostgresStore``.
Its SQL is one text with SQLite's ``?`` placeholders, run on ``_pass_conn()`` (the
``sqlite3`` connection, or ``store.postgres.sql.PgConn`` on the PostgreSQL transaction's
connection); ``store.base.among`` and ``store.stories.DIALECTS`` give the few words the two
spell differently. Every insert that two writers could make at once is ``ON CONFLICT DO
NOTHING`` on a unique constraint, on both.

What the databases truly do differently is behind these hooks, each a few lines in its
store:

    _begin_pass(keys)    PostgreSQL: advisory locks on the pass's item ids and dedup keys,
                         so a concurrent pass over the same articles waits, then sees them.
                         SQLite (one writer: its transaction is IMMEDIATE): a new list of
                         rowids to index.
    _story_later()       PostgreSQL: the list that story counter changes wait in until
                         just before the commit (``_before_commit``). SQLite: None (made
                         at once).
    _new_row(cursor)     SQLite: the new item's rowid, for the full-text index written once
                         per pass. PostgreSQL: nothing (a generated tsvector column).
    _end_pass(docs)      SQLite: the background counts and the full-text index, now.
                         PostgreSQL: the counts left for ``_before_commit``, sorted by term.
    _release_claim()     PostgreSQL: SQL and parameters that end this process's claim on
                         the feed. SQLite: nothing.

The pass, as pseudocode::

    with transaction:
        lock the pass's ids and keys                        (_begin_pass)
        read what is known: seen hashes, stored ids, folded copies, stored dedup keys
        for each item: core.dedup.decide on those facts, and carry the decision out:
            insert (item, feed link, topics, story) | update (version kept, re-indexed)
            | fold into a stored copy | link | rehash | skip
        seen rows of new items, in one statement
        the feed's state and its fetch-log row
        the background counts and the index                 (_end_pass)

This module decides nothing (``core.dedup`` and ``core.stories`` do) and opens no
connection; retrying a pass PostgreSQL cancelled as a deadlock is ``PostgresStore``'s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mediamon.clock import utc_iso
from mediamon.core.dedup import Known, decide
from mediamon.core.stories import Fingerprint, StorySettings
from mediamon.store import stories as story_store
from mediamon.store.base import among
from mediamon.store.rows import ScoredItem, terms_json
from mediamon.types import FeedOutcome, FetchResult, Item, Match


def shared_links(items: Iterable[Item]) -> set[str]:
    """Dedup keys that several items of one pass share under different titles: such a link
    (a section page, a home page with a query) says nothing about which article it is."""
    titles: dict[str, set[str]] = {}
    for item in items:
        key = item.dedup_key
        if key is not None:
            titles.setdefault(key, set()).add(" ".join(item.title.casefold().split()))
    return {key for key, seen in titles.items() if len(seen) > 1}


def item_columns(item: Item, match: Match, stamp: str | None) -> dict[str, Any]:
    """The ``items`` columns an item's new version sets (insert and update alike)."""
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
        "explanation": match.explanation_json,
    }


class FeedPassWriter:
    """The feed pass over ``_pass_conn()``; see the module docstring for the hooks."""

    dialect: str
    stories: StorySettings

    # -- what each store gives ---------------------------------------------------------

    if TYPE_CHECKING:  # provided by sqlite.Store and postgres.store.PostgresStore
        def transaction(self) -> AbstractContextManager[None]: ...
        def feed_id(self, url: str) -> int: ...
        def seen_hashes(self, ids: Iterable[str]) -> dict[str, str]: ...

        def _pass_conn(self) -> Any:
            """The write transaction's connection, speaking SQLite's placeholders."""

    def _begin_pass(self, keys: Sequence[str]) -> None:
        """The pass's first step, given its item ids and dedup keys (PostgreSQL locks
        them until the transaction ends)."""

    def _story_later(self) -> list[tuple[str, Any]] | None:
        """Where story counter changes wait for the commit (``story_store.assign``'s
        ``later``); None: they are made at once."""
        return None

    def _new_row(self, cursor: Any) -> None:
        """An item row was just inserted by ``cursor``."""

    def _end_pass(self, documents: Sequence[Sequence[str]]) -> None:
        """The pass's last writes: ``documents`` are the profile terms of its new items."""

    def _release_claim(self) -> tuple[str, list[Any]]:
        """SQL to add to the feed's state update (``, col = ...``), and its parameters."""
        return "", []

    # -- the pass ----------------------------------------------------------------------

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
        transaction (the schedule: see ``pipeline``).

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
        # new items, in one statement: id, feed, content hash, first seen, entry digest
        seen_rows: list[tuple[str, int, str, str | None, str | None]] = []
        with self.transaction():
            conn = self._pass_conn()
            ids = [s.item.id for s in scored]
            self._begin_pass([*ids, *(k for s in scored if (k := s.item.dedup_key))])
            feed_id = self.feed_id(feed_url)
            previous = self.seen_hashes(ids)
            stored = self._stored_ids(ids)
            # copies folded into a stored item earlier (id -> that item's id), and
            # links this pass gives to items with different titles (a section page).
            folded = story_store.aliases(conn, ids, dialect=self.dialect)
            stored |= self._stored_ids(sorted(set(folded.values())))
            shared = shared_links(s.item for s in scored)
            # Dedup keys some stored item has: only those can fold a new item into a copy.
            # Read once per pass; the keys this pass stores are added as it goes.
            usable = {key for s in scored if (key := s.item.dedup_key) is not None} - shared
            known_keys = story_store.stored_keys(conn, usable, dialect=self.dialect)
            done: set[str] = set()
            for s in scored:
                item, match = s.item, s.match
                target = folded.get(item.id)
                known = Known(old_hash=previous.get(item.id), stored=item.id in stored,
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
                        self._set_seen_hash(item.id, item.content_hash, s.raw)
                    else:
                        self._note_raw(item.id, item.content_hash, known.old_hash, s.raw)
                    continue
                if decision == "try-fold":
                    if self._fold_copy(item, feed_id, stamp, s.raw):
                        continue
                    decision = decide(known, content_hash=item.content_hash,
                                      partial=s.partial, keep=keep, fold=False)
                if item.dedup_key is not None and item.dedup_key in usable:
                    known_keys.add(item.dedup_key)  # it may be stored below
                if decision in ("insert", "note"):
                    new += 1
                    if match.doc_terms is not None:
                        first_seen.append(match.doc_terms)
                    seen_rows.append((item.id, feed_id, item.content_hash, stamp, s.raw))
                if decision in ("edit", "link"):
                    self._link_feed(item.id, feed_id, stamp)
                if decision in ("edit", "insert-now", "rehash"):
                    self._set_seen_hash(item.id, item.content_hash, s.raw)
                if decision in ("link", "nothing"):
                    self._note_raw(item.id, item.content_hash, known.old_hash, s.raw)
                if decision == "edit":
                    updated += 1
                    self._update_item(item, match, stamp, feed_id)
                if decision in ("insert", "insert-now"):
                    if self._insert_item(item, match, feed_id, stamp, s.fingerprint):
                        kept += int(match.kept)
                        if decision == "insert-now":
                            updated += 1  # seen before, stored only now that it matches
                    else:  # another process stored it since this pass looked
                        self._link_feed(item.id, feed_id, stamp)
            conn.executemany(
                "INSERT INTO seen (id, feed_id, content_hash, first_seen, raw) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", seen_rows)
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
            self._end_pass(first_seen)
        return outcome

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

    # -- its steps ---------------------------------------------------------------------

    def _stored_ids(self, ids: Sequence[str]) -> set[str]:
        conn = self._pass_conn()
        found: set[str] = set()
        for where, params in among(self.dialect, "id", ids):
            found.update(r[0] for r in conn.execute(f"SELECT id FROM items WHERE {where}",
                                                    params))
        return found

    def _set_seen_hash(self, item_id: str, content_hash: str, raw: str | None) -> None:
        """A new content hash, and the digest of the entry that gave it (None: unknown).
        A row's ``raw`` always vouches for its ``content_hash`` (``core.normalise``,
        "Recognising an entry seen before"), so the two change together."""
        self._pass_conn().execute("UPDATE seen SET content_hash = ?, raw = ? WHERE id = ?",
                                  [content_hash, raw, item_id])

    def _note_raw(self, item_id: str, content_hash: str, old_hash: str | None,
                  raw: str | None) -> None:
        """An unchanged item normalised from its entry (``raw``): a row without a digest
        gets this one, so the next poll recognises the entry. A row with one keeps it (the
        same item in two feeds would otherwise trade digests at every pass)."""
        if raw is not None and old_hash == content_hash:
            self._pass_conn().execute(
                "UPDATE seen SET raw = ? WHERE id = ? AND raw IS NULL AND content_hash = ?",
                [raw, item_id, content_hash])

    def _item_columns(self, item: Item, match: Match, stamp: str | None) -> dict[str, Any]:
        return item_columns(item, match, stamp)

    def _fold_copy(self, item: Item, feed_id: int, stamp: str | None,
                   raw: str | None = None) -> bool:
        """If a never-seen item is a copy of a stored one (same dedup key; within one
        feed also the same title), remember it as a copy of that item and link this feed.
        The caller has checked that the key is a usable one that some stored item has."""
        key = item.dedup_key
        assert key is not None
        conn = self._pass_conn()
        found = story_store.find_copy(conn, item_id=item.id, key=key, title=item.title,
                                      feed_id=feed_id)
        if found is None:
            return False
        target, reason = found
        conn.execute("INSERT INTO seen (id, feed_id, content_hash, first_seen, raw) "
                     "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                     [item.id, feed_id, item.content_hash, stamp, raw])
        story_store.add_alias(conn, alias=item.id, item_id=target, feed_id=feed_id,
                              reason=reason, stamp=stamp or "")
        self._link_feed(target, feed_id, stamp)
        return True

    def _assign_story(self, item: Item, feed_id: int, stamp: str | None,
                      fingerprint: Fingerprint | None = None) -> None:
        """Put a newly stored item into its story, in the pass's transaction."""
        conn = self._pass_conn()
        outlet = item.site  # story_store.outlet_for, the item's link first
        if outlet is None:
            site_url, feed_url, name = conn.execute(
                "SELECT site_url, url, name FROM feeds WHERE id = ?", [feed_id]).fetchone()
            outlet = story_store.outlet_for(None, site_url, feed_url, name)
        story_store.assign(
            conn, item_id=item.id, title=item.title, summary=item.summary,
            published=item.published, outlet=outlet, settings=self.stories,
            stamp=stamp or "", fp=fingerprint, dialect=self.dialect,
            later=self._story_later(),
        )

    def _insert_item(self, item: Item, match: Match, feed_id: int, stamp: str | None,
                     fingerprint: Fingerprint | None = None) -> bool:
        """Insert a new item with its feed, topics and story; False (nothing written) when
        another process inserted it first."""
        cols = self._item_columns(item, match, stamp)
        cols.update(id=item.id, feed_id=feed_id, first_seen=stamp, dedup_key=item.dedup_key)
        cursor = self._pass_conn().execute(
            f"INSERT INTO items ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            "ON CONFLICT (id) DO NOTHING", list(cols.values()))
        if cursor.rowcount == 0:
            return False
        self._new_row(cursor)
        self._link_feed(item.id, feed_id, stamp)
        self._save_topics(item.id, match)
        self._assign_story(item, feed_id, stamp, fingerprint)
        return True

    def _update_item(self, item: Item, match: Match, stamp: str | None,
                     feed_id: int | None = None) -> None:
        conn = self._pass_conn()
        cols = self._item_columns(item, match, stamp)
        # keep the version being replaced, and re-index the words of an edit.
        changed = story_store.save_version(conn, item_id=item.id, new=cols, feed_id=feed_id,
                                           stamp=stamp or "", dialect=self.dialect)
        cols["dedup_key"] = item.dedup_key
        sets = ", ".join(f"{name} = ?" for name in cols)
        conn.execute(f"UPDATE items SET {sets} WHERE id = ?", [*cols.values(), item.id])
        conn.execute("DELETE FROM item_topics WHERE item_id = ?", [item.id])
        self._save_topics(item.id, match)
        if "title" in changed or "summary" in changed:
            story_store.reindex(conn, item_id=item.id, title=item.title,
                                summary=item.summary, settings=self.stories)

    def _link_feed(self, item_id: str, feed_id: int, stamp: str | None) -> None:
        self._pass_conn().execute(
            "INSERT INTO item_feeds (item_id, feed_id, first_seen) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", [item_id, feed_id, stamp])

    def _save_topics(self, item_id: str, match: Match) -> None:
        # One statement for all of an item's topics (the single writer's time is the
        # ingest's bottleneck once parsing runs in the workers).
        self._pass_conn().executemany(
            "INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(item_id, hit.topic, terms_json(hit.terms)) for hit in match.topics])

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
            sets["gone_since"] = stamp  # not polled again, but still listed
        if state:
            sets.update(state)
        assignments = ", ".join(f"{k} = ?" for k in sets)
        failures = "failures + 1" if failed else "0"
        release, params = self._release_claim()
        self._pass_conn().execute(
            f"UPDATE feeds SET {assignments}, failures = {failures}{release} WHERE id = ?",
            [*sets.values(), *params, feed_id])

    def _log_fetch(self, feed_id: int, outcome: FeedOutcome, *, started: str | None) -> None:
        self._pass_conn().execute(
            """
            INSERT INTO fetch_log (feed_id, started, elapsed, status, http_status, bytes, entries,
                                   new_items, kept_items, error, warning)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [feed_id, started, round(outcome.elapsed, 4), outcome.status, outcome.http_status,
             outcome.bytes, outcome.entries, outcome.new_items, outcome.kept_items,
             outcome.error, outcome.warning])
