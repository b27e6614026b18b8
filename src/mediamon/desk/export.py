"""Getting items out of a database and back in: Atom feeds, JSON Lines/CSV exports, imports.

- ``atom_feed(rows)`` turns any item listing (``items``, ``search``, ``stories``) into an
  Atom 1.0 document a feed reader can subscribe to. Item HTML is sanitised with nh3 (the
  same allow-list ingest uses, links restricted to http(s)); characters XML cannot carry are
  dropped; a link that is not http(s) is left out.
- ``export_items`` writes every stored column of each item, with its topic matches and every
  feed it came through (by URL, since feed ids differ between databases); ``import_items``
  reads such JSON Lines back. Export -> import -> export gives the same lines: the round trip
  is lossless for items, their topics and their feeds. Imported items get their story in the
  target database (``story_store.assign``), and a ``seen`` row so polling does not store
  them again. Feeds an import names that the target does not know are added inactive (their
  items are kept, the feed is not polled).

This module does not decide relevance and does not fetch anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import nh3

from mediamon import __version__
from mediamon.clock import utc_iso
from mediamon.core.stories import Decision, Fingerprint, StorySettings, grouping_key
from mediamon.core.stories import fingerprint as story_fingerprint
from mediamon.errors import MediamonError
from mediamon.output import read_json_lines
from mediamon.store.exchange import EXPORT_COLUMNS, BadImportRow
from mediamon.store.rows import terms_json
from mediamon.store.stories import INDEXED_PER_STORY

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from pathlib import Path

    from mediamon.store.sqlite import Store

ATOM_NS = "http://www.w3.org/2005/Atom"

# Characters XML 1.0 cannot contain (C0 controls other than tab/newline/CR, surrogates, ...).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# EXPORT_COLUMNS (from store.exchange): the items columns written to and read from an export,
# in order (feed_id is replaced by the feed's URL: ids differ between databases).
_JSON_COLUMNS = ("authors", "categories", "topics", "explanation")
_BOOL_COLUMNS = ("kept", "published_from_feed")


class ExportFormatError(MediamonError):
    """An import line that is not a mediamon export record."""


def http_link(url: object) -> str | None:
    """``url`` if it is an http(s) URL, else None (javascript:, data:, file: are dropped)."""
    if isinstance(url, str) and re.match(r"^https?://[^\s<>\"]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def xml_text(value: object) -> str:
    """Text safe to put in an XML document."""
    return _NOT_XML.sub("", "" if value is None else str(value))


def clean_html(html: str) -> str:
    """Item HTML made safe to embed: nh3's allow-list, http(s) links only, no rel leaks."""
    return nh3.clean(xml_text(html), url_schemes={"http", "https"},
                     link_rel="noopener noreferrer nofollow")


def _rfc3339(value: str | None) -> str:
    when = datetime.fromisoformat(value) if value else datetime.now(UTC)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def item_html(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The HTML and authors of items, by id, for feeds and reports (listings omit them)."""
    found: dict[str, dict[str, Any]] = {}
    for row in store.item_html_rows(ids):
        found[row["id"]] = {**row, "authors": json.loads(row["authors"] or "[]")}
    return found


def atom_feed(rows: Sequence[dict[str, Any]], *, title: str, feed_id: str,
              html: dict[str, dict[str, Any]] | None = None,
              updated: datetime | None = None) -> str:
    """An Atom 1.0 document with one entry per row.

    Args:
        rows: item rows (``id``, ``title``, ``url``, ``published``, optional ``feed_name``,
            ``snippet``, ``topics``, ``score``) or story rows (``first_published``,
            ``first_outlet``, ``reach``).
        title: the feed's title (e.g. the query that produced it).
        feed_id: a stable URI for the feed (a ``tag:`` URI is fine).
        html: optional ``item_html`` of the rows, for the entry content.
        updated: the feed's updated time (default: the newest entry, else now).
    Returns:
        The XML document as text.
    """
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = xml_text(text)
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "title", title)
    sub(feed, "id", feed_id)
    dates = [r.get("published") or r.get("first_published") for r in rows]
    newest = max((d for d in dates if d), default=None)
    sub(feed, "updated", _rfc3339(utc_iso(updated) if updated else newest))
    sub(feed, "generator", "mediamon", version=__version__)
    author = sub(feed, "author")
    sub(author, "name", "mediamon")
    for row in rows:
        entry = sub(feed, "entry")
        sub(entry, "title", row.get("title") or "(no title)", type="text")
        kind = "story" if "reach" in row and "first_outlet" in row else "item"
        sub(entry, "id", f"urn:mediamon:{kind}:{row['id']}")
        when = _rfc3339(row.get("published") or row.get("first_published"))
        sub(entry, "updated", when)
        sub(entry, "published", when)
        link = http_link(row.get("url"))
        if link:
            sub(entry, "link", href=link, rel="alternate")
        extra = (html or {}).get(row["id"], {})
        names = extra.get("authors") or [row.get("feed_name") or row.get("first_outlet")
                                         or "unknown"]
        for name in names:
            sub(sub(entry, "author"), "name", name)
        for topic in row.get("topics") or []:
            sub(entry, "category", term=xml_text(topic))
        if row.get("snippet"):
            sub(entry, "summary", row["snippet"], type="text")
        elif kind == "story":
            sub(entry, "summary", f"first reported by {row.get('first_outlet') or '-'}; reach "
                                  f"{row.get('reach')} outlet(s), {row.get('mentions')} item(s)",
                type="text")
        elif extra.get("summary"):
            sub(entry, "summary", extra["summary"], type="text")
        body = extra.get("content_html") or extra.get("summary_html")
        if body:
            sub(entry, "content", clean_html(body), type="html")
    ET.indent(feed)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            + ET.tostring(feed, encoding="unicode") + "\n")


# -- export / import --------------------------------------------------------------------------


def export_records(store: Store, *, since: datetime | None = None,
                   include_unkept: bool = True) -> Iterator[dict[str, Any]]:
    """Every stored item (published since ``since``) as one JSON-ready record, oldest first.

    Each record carries its story (``story``: the story's id, the item it joined through,
    their similarity, and the ``grouping_key`` of this database's settings), for
    ``import_records``."""
    grouping = grouping_key(store.stories)
    for batch in store.export_item_batches(since=since, kept_only=not include_unkept):
        records: list[dict[str, Any]] = batch
        ids = [r["id"] for r in records]
        matches: dict[str, dict[str, list[str]]] = {}
        for item_id, topic, terms in store.item_topic_terms(ids):
            matches.setdefault(item_id, {})[topic] = json.loads(terms)
        via: dict[str, list[dict[str, Any]]] = {}
        for item_id, url, name, first_seen in store.item_feed_links(ids):
            via.setdefault(item_id, []).append(
                {"url": url, "name": name, "first_seen": first_seen})
        # articles (store.articles): an item whose page was fetched carries its article
        articles = store.articles_of(ids) if hasattr(store, "articles_of") else {}
        grouped = {item_id: {"id": story, "via": via, "similarity": similarity,
                             "grouping": grouping}
                   for item_id, story, via, similarity in store.item_stories(ids)}
        for record in records:
            for key in _JSON_COLUMNS:
                record[key] = json.loads(record[key])
            for key in _BOOL_COLUMNS:
                record[key] = bool(record[key])
            record["matches"] = matches.get(record["id"], {})
            record["feeds"] = via.get(record["id"], [])
            if record["id"] in grouped:
                record["story"] = grouped[record["id"]]
            if record["id"] in articles:
                record["article"] = articles[record["id"]]
            yield record


def export_sqlite(store: Store, path: Path, *, since: datetime | None = None,
                  include_unkept: bool = True, now: datetime) -> dict[str, int]:
    """Copy the items ``export_records`` gives (from a SQLite or a PostgreSQL ``store``) into
    a new SQLite database at ``path``, as ``import`` would: every column, topics and feeds
    (inactive there), stories found again among the copied items. A window of a large
    database, for Datasette (``serve``) or to hand over. Returns ``import_records``'s counts.
    """
    from mediamon.store.sqlite import Store as SQLiteStore

    with SQLiteStore(path, stories=store.stories) as target:
        return import_records(target, export_records(store, since=since,
                                                     include_unkept=include_unkept), now=now)


def export_atom(store: Store, records: Iterable[dict[str, Any]], *, title: str) -> tuple[str, int]:
    """The records as an Atom feed (``atom_feed``: each item with its stored HTML, newest
    entry first as a feed reader expects), and how many there are."""
    rows = [{**record, "feed_name": (record["feeds"] or [{}])[0].get("name")}
            for record in records]
    rows.reverse()  # records come oldest first
    return atom_feed(rows, title=title, feed_id="urn:mediamon:export",
                     html=item_html(store, [r["id"] for r in rows])), len(rows)


def write_export(records: Iterable[dict[str, Any]], out: IO[str], fmt: str) -> int:
    """Write records as ``jsonl``, ``json`` (one array, written as the records come) or
    ``csv`` (lists and objects as JSON text); returns the count."""
    count = 0
    if fmt in ("jsonl", "json"):
        array = fmt == "json"
        for record in records:
            text = json.dumps(record, ensure_ascii=False, indent=2 if array else None)
            out.write((("[\n" if not count else ",\n") + text) if array else text + "\n")
            count += 1
        if array:
            out.write("\n]\n" if count else "[]\n")
        return count
    fields = ["feed_url", *EXPORT_COLUMNS, "matches", "feeds", "story", "article"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict)
                         else v for k, v in record.items()})
        count += 1
    return count


def read_export(lines: Iterable[str], *, name: str) -> Iterator[dict[str, Any]]:
    """Records from a JSON Lines export; a bad line raises ``ExportFormatError`` with its number."""
    required = {"id", "feed_url", "title", "published", "content_hash", "feeds", "matches"}
    for where, record in read_json_lines(lines, name=name, error=ExportFormatError):
        missing = sorted(required - set(record))
        if missing:
            raise ExportFormatError(f"{where}: not a mediamon export record (missing "
                                    f"{', '.join(missing)}; make one with `mediamon export`)")
        yield record


IMPORT_BATCH = 2_000  # records per batch of statements


class ImportStopped(MediamonError):
    """An import that could not finish (a worker died or hung): nothing of it is stored."""


FingerprintJob = tuple[StorySettings, list[tuple[str, str]], list[bool]]


def _fingerprints(job: FingerprintJob) -> list[Fingerprint]:
    """The story fingerprints of ``(title, summary)`` pairs, each with its band keys or
    not (a job for a worker process)."""
    settings, texts, banded = job
    return [story_fingerprint(title, summary, settings, bands)
            for (title, summary), bands in zip(texts, banded, strict=True)]


def _texts(batch: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each record's title and summary, "" for what is not text: a record without a title is
    refused by the insert (a NOT NULL error naming it), not by its fingerprint."""
    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    return [(text(record.get("title")), text(record.get("summary"))) for record in batch]


def import_records(store: Store, records: Iterable[dict[str, Any]], *, now: datetime,
                   progress: Callable[[int], None] | None = None,
                   workers: int = 0) -> dict[str, int]:
    """Insert exported records into ``store``; items already there (same id) are left as
    they are. One transaction: a bad line leaves the database unchanged.

    Records are written in batches (``IMPORT_BATCH``): one query finds the stored ids, one
    statement inserts the items, one each their feeds, topics and ``seen`` rows; then each
    new item gets its story, in the file's order (an export is oldest first, so a story's
    first mention comes first).

    Into a database where no item has a story yet, a record that carries the story its
    database gave it (``export_records``), under the same ``grouping_key`` as this one's,
    keeps that story: the source database's grouping is copied, at a fraction of the cost
    of finding it again. Any other record is compared with the stored items as a new one
    is.

    With ``workers`` and more than one batch, the batches' story fingerprints (terms,
    MinHash band keys: most of an import's work once stories are copied) are computed in
    that many worker processes, ahead of the batch being written. A file of more than one
    batch into a database of less than one has the indexes no step reads made once, at
    the end (``indexes_deferred``).

    Args:
        progress: called with the number of records read after each batch.
    Returns:
        ``{"imported": n, "skipped": n, "feeds_added": n}``.
    Raises:
        ExportFormatError: a line that is not an export record (nothing is stored).
        ImportStopped: a worker died or hung twice on a batch (nothing is stored).
    """
    stats = {"imported": 0, "skipped": 0, "feeds_added": 0}
    feed_ids: dict[str, int] = {}
    outlets: dict[tuple[int, str | None], str | None] = {}
    settings = store.stories
    seen_ids: set[str] = set()
    # Stories are copied only into a database that has none: there nothing stored could
    # belong to an event the file reports, so its grouping is the file's.
    copy_from = grouping_key(settings) if not store.any_story() else None

    def feed_id(url: str, name: str | None) -> int:
        if url not in feed_ids:
            known = store.feed_id_for_url(url)
            if known is None:
                # Not polled: the analyst imported items, not a subscription.
                feed_ids[url], added = store.add_imported_feed(url, name, now=now)
                stats["feeds_added"] += added
            else:
                feed_ids[url] = known
        return feed_ids[url]

    def write(batch: list[dict[str, Any]], fingerprints: list[Fingerprint]) -> None:
        stored = store.stored_item_ids([r["id"] for r in batch])
        new: list[tuple[dict[str, Any], int]] = []
        rows: list[list[Any]] = []
        fp_of: dict[str, Fingerprint] = {}
        for record, fp in zip(batch, fingerprints, strict=True):
            if record["id"] in stored or record["id"] in seen_ids:
                stats["skipped"] += 1
                continue
            seen_ids.add(record["id"])
            fp_of[record["id"]] = fp
            names = {f["url"]: f.get("name") for f in record["feeds"]}
            first = feed_id(record["feed_url"], names.get(record["feed_url"]))
            new.append((record, first))
            rows.append(_row(first, record))
        try:
            rowids = store.insert_exported_items(rows)
        except BadImportRow as bad:  # a NOT NULL or type problem in a hand-made line
            raise ExportFormatError(f"item {new[bad.index][0]['id']}: {bad.error}") from None
        # PostgreSQL: another import or a daemon may have stored some of them since the
        # read above; those stay as that writer stored them.
        stats["skipped"] += sum(rowid is None for rowid in rowids)
        new = [pair for pair, rowid in zip(new, rowids, strict=True) if rowid is not None]
        links, topics, seen = [], [], []
        for record, first in new:
            links += [(record["id"], feed_id(via["url"], via.get("name")), via["first_seen"])
                      for via in record["feeds"]]
            topics += [(record["id"], topic, terms_json(tuple(terms)))
                       for topic, terms in record["matches"].items()]
            seen.append((record["id"], first, record["content_hash"], record["first_seen"]))
        store.add_imported_links(links, topics, seen)
        store.import_articles([(record["id"], record["article"]) for record, _ in new
                               if isinstance(record.get("article"), dict)])
        for record, first in new:
            url = record.get("canonical_url")
            # The outlet is the site of the link (scheme and host), else the feed's.
            key = (first, "/".join(url.split("/", 3)[:3]) if url else None)
            if key not in outlets:
                outlets[key] = store.feed_outlet(first, url)
            title, summary = record["title"], record.get("summary") or ""
            store.assign_story(
                item_id=record["id"], title=title, summary=summary,
                published=datetime.fromisoformat(record["published"]), outlet=outlets[key],
                stamp=record.get("first_seen") or "",
                fp=fp_of[record["id"]], carried=_carried(record.get("story"), copy_from))
        store.index_items([rowid for rowid in rowids if rowid is not None])
        stats["imported"] += len(new)

    # Records read per story they carry: past a story's first INDEXED_PER_STORY members an
    # item is stored without band rows, so its fingerprint needs no band keys (most of its
    # cost). Counted as read, so over rather than under; assign makes the band keys of a
    # member it does index after all.
    carried_so_far: Counter[str] = Counter()

    def job(batch: list[dict[str, Any]]) -> FingerprintJob:
        banded = []
        for record in batch:
            carried = _carried(record.get("story"), copy_from)
            story = carried.story_id if carried is not None else None
            banded.append(story is None or carried_so_far[story] < INDEXED_PER_STORY)
            if story is not None:
                carried_so_far[story] += 1
        return settings, _texts(batch), banded

    read = 0

    def written(batch: list[dict[str, Any]], fingerprints: list[Fingerprint]) -> None:
        nonlocal read
        write(batch, fingerprints)
        read += len(batch)
        if progress is not None:
            progress(read)

    with store.transaction():
        batches = _batches(records)
        # With workers, or into a database of less than a batch, the first two batches are
        # read before anything is written: a file of more than one batch gets the workers
        # (a pool takes a second to start) and its indexes made once at the end
        # (indexes_deferred). Otherwise each batch is written before the next is read.
        head = list(itertools.islice(batches, 1))
        small = store.holds_fewer_items(than=IMPORT_BATCH)
        if head and len(head[0]) == IMPORT_BATCH and (workers > 0 or small):
            if workers > 0:
                from mediamon.workers import start_fork_server

                start_fork_server(workers)  # it starts while the second batch is read
            head += itertools.islice(batches, 1)
        bulk = len(head) == 2 and small
        with store.indexes_deferred() if bulk else contextlib.nullcontext():
            if len(head) == 2 and workers > 0:
                asyncio.run(_fingerprint_in_workers(itertools.chain(head, batches), job,
                                                    workers, written))
            else:
                for batch in itertools.chain(head, batches):
                    written(batch, _fingerprints(job(batch)))
    return stats


def _batches(records: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= IMPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def _fingerprint_in_workers(
    batches: Iterator[list[dict[str, Any]]],
    job: Callable[[list[dict[str, Any]]], FingerprintJob], workers: int,
    written: Callable[[list[dict[str, Any]], list[Fingerprint]], None],
) -> None:
    """``written(batch, fingerprints)`` for each batch in order, its fingerprints computed
    in a pool of ``workers`` processes, up to ``workers`` batches ahead."""
    from mediamon.workers import WorkerError, WorkerPool, run_in_order

    pool = WorkerPool(workers, name="import worker", doing="fingerprinting a batch")
    pool.start()
    try:
        await run_in_order(pool, _fingerprints,
                           ((batch, job(batch)) for batch in batches),
                           written, ahead=workers,
                           what=lambda batch: f"import from {batch[0].get('id')}")
    except WorkerError as exc:
        raise ImportStopped(f"import stopped: {exc}; nothing was imported") from None
    finally:
        pool.close()


def _carried(story: Any, grouping: str | None) -> Decision | None:
    """The story a record carries, if this import copies it (see ``import_records``); a
    hand-made or damaged ``story`` is ignored (the item's story is found again)."""
    if grouping is None or not isinstance(story, dict) or story.get("grouping") != grouping:
        return None
    story_id, via, similarity = story.get("id"), story.get("via"), story.get("similarity")
    if not isinstance(story_id, str) or not 0 < len(story_id) <= 64:
        return None
    if not (via is None or isinstance(via, str)):
        return None
    if isinstance(similarity, bool) or not isinstance(similarity, int | float | None):
        return None
    return Decision(story_id, via, float(similarity or 0.0))


def _column_value(column: str, value: Any) -> Any:
    """An export record's value of one items column, as stored."""
    if column in _JSON_COLUMNS:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return terms_json(tuple(value))
        return json.dumps(value if value is not None else
                          ({} if column == "explanation" else []), ensure_ascii=False)
    if column in _BOOL_COLUMNS:
        return int(bool(value))
    return value


_CONVERTED = tuple((i, column) for i, column in enumerate(EXPORT_COLUMNS)
                   if column in _JSON_COLUMNS or column in _BOOL_COLUMNS)


def _row(feed_id: int, record: dict[str, Any]) -> list[Any]:
    """``(feed_id, *EXPORT_COLUMNS values)`` of a record, as stored (``_column_value``):
    the columns read in one pass, and only the JSON and boolean ones converted."""
    row = [feed_id, *map(record.get, EXPORT_COLUMNS)]
    for i, column in _CONVERTED:
        row[i + 1] = _column_value(column, row[i + 1])
    return row

