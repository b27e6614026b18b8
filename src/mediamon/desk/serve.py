"""``mediamon serve``: the database in Datasette, described, faceted and with canned queries.

``metadata(db_path)`` builds Datasette's metadata (the ``-m metadata.json`` document) from
this module: a title and description for each table and its columns, facets (topic,
language, feed and day on ``items``; outlet and day on ``stories``; topic on
``item_topics``; outlet on ``story_items``), the FTS5 index behind ``items``' search box
(raw FTS5 syntax, ranked like ``mediamon search``), and three canned queries: today's kept
items, this week's top stories and failing feeds (their SQL is the store's:
``store.stats.CANNED_QUERIES``). ``run_datasette`` runs Datasette's own
``serve`` command with it, on a read-only view of the file (the daemon may keep writing).

Datasette is an optional extra (``pip install 'mediamon[datasette]'``, 0.64 or later and
before 1.0, whose canned queries and facets moved out of metadata). Nothing here writes to
the database.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any

from mediamon.errors import MediamonError
from mediamon.store.stats import CANNED_QUERIES

INSTALL_HINT = "Datasette is not installed: pip install 'mediamon[datasette]'"

_ITEM_COLUMNS = {
    "id": "Stable item id (a prefix works with `mediamon show`)",
    "feed_id": "The feed it first came through (every feed: item_feeds)",
    "guid": "The feed's own id for the entry",
    "url": "Link as the feed gave it",
    "canonical_url": "Link normalised: no tracking parameters, AMP or mobile hosts",
    "title": "Headline, plain text",
    "summary": "Summary, plain text",
    "content": "Full text when the feed carries it, plain text",
    "summary_html": "Summary as sanitised HTML",
    "content_html": "Content as sanitised HTML",
    "authors": "JSON list of authors",
    "categories": "JSON list of the feed's categories",
    "published": "Publication time, UTC ISO-8601 (first seen when the feed gave none)",
    "published_from_feed": "1 if the feed gave the date",
    "updated": "The feed's update time, UTC",
    "first_seen": "When mediamon first stored it, UTC",
    "last_seen": "When a feed last listed it, UTC",
    "language": "Language code (feed-declared or detected)",
    "content_hash": "Hash of title and text: a change means an edit",
    "kept": "1: matched the keep rule (or the profile); 0: stored only for audits",
    "score": "Relevance score 0-1: 0.6 x rule + 0.4 x similarity to the reference",
    "similarity": "Similarity to the reference profile, 0-1",
    "topics": "JSON list of the topics it matched",
    "explanation": "JSON: why it was kept or not (topics, matched words, profile terms)",
    "dedup_key": "Key that finds copies of the same link",
}

TABLES: dict[str, dict[str, Any]] = {
    "items": {
        "description": "Every stored item: kept ones, and audit items stored with --keep-all. "
                       "The search box takes FTS5 syntax: words, \"phrases\", prefix*, "
                       "AND/OR/NOT, title:word.",
        "columns": _ITEM_COLUMNS,
        "facets": [{"array": "topics"}, "language", "feed_id", {"date": "published"}, "kept"],
        "sort_desc": "published",
        "fts_table": "items_fts",
        "fts_pk": "rowid",
        "searchmode": "raw",
        "label_column": "title",
    },
    "feeds": {
        "description": "The feeds polled, with their fetch state and schedule",
        "columns": {
            "url": "Feed URL as configured or added",
            "name": "Display name from the config or `feeds add`",
            "origin": "config, or db (added with `mediamon feeds add` or OPML)",
            "active": "0: removed; its items stay",
            "last_status": "ok, not_modified, error or gone",
            "last_error": "Why the last poll failed",
            "failures": "Consecutive failed polls",
            "next_fetch": "When it is polled next, UTC",
            "next_reason": "Why then",
            "poll_interval": "Current interval in seconds",
            "dead_since": "Failing for schedule.dead_after: polled weekly",
            "gone_since": "HTTP 410: no longer polled",
        },
        "facets": ["last_status", "origin", "active"],
        "label_column": "name",
    },
    "item_topics": {
        "description": "One row per topic an item matched, with the words that matched it",
        "columns": {"topic": "Topic name from [topics]",
                    "terms": "JSON list of the words, as they appeared"},
        "facets": ["topic"],
    },
    "item_feeds": {"description": "Every feed an item came through, and when"},
    "stories": {
        "description": "Near-copies across outlets grouped into one story (docs/stories.md)",
        "columns": {
            "first_published": "The earliest mention, UTC",
            "first_item_id": "The item that mentioned it first",
            "first_outlet": "The outlet that reported it first",
            "title": "The first mention's headline",
            "items": "Stored items in the story",
            "reach": "Distinct outlets",
        },
        "facets": ["first_outlet", {"date": "first_published"}],
        "sort_desc": "reach",
        "label_column": "title",
    },
    "story_items": {
        "description": "Each stored item's story and outlet, and the item it joined through",
        "columns": {"outlet": "The site of the item's link (or its feed's name)",
                    "t": "Published, minutes since the epoch",
                    "via": "The item it joined through (empty: it founded the story)",
                    "similarity": "Jaccard similarity to `via`"},
        "facets": ["outlet"],
    },
    "fetch_log": {
        "description": "One row per poll of a feed",
        "facets": ["status", "feed_id"],
        "sort_desc": "started",
    },
    "seen": {"description": "Every item ever parsed, kept or not: what counts as new"},
    "labels": {"description": "The analyst's judgements (`mediamon label`)"},
    "item_versions": {"description": "Earlier versions of edited items"},
    "item_aliases": {"description": "Ids of copies folded into a stored item"},
    "hosts": {"description": "Hosts that asked to wait (Retry-After)"},
    "alerts": {"description": "[[alerts]] state: when each alert started, ran and sent"},
    "alert_sent": {"description": "What each alert sent on each channel, and when",
                   "facets": ["alert", "channel"], "sort_desc": "claimed"},
    "background_df": {"description": "Document frequencies behind the profile's idf",
                      "hidden": True},
    "background_size": {"description": "How many items background_df counts", "hidden": True},
    "story_bands": {"description": "The stories' LSH index", "hidden": True},
}

QUERIES = CANNED_QUERIES  # today's kept items, top stories this week, failing feeds


def database_name(db_path: Path) -> str:
    """The name Datasette gives a database file: its stem."""
    return Path(db_path).stem


def metadata(db_path: Path) -> dict[str, Any]:
    """Datasette metadata for this database file (tables, columns, facets, queries)."""
    return {
        "title": "mediamon",
        "description": "News items that matched your topics, why, and the stories they form. "
                       "See the canned queries below, or search items.",
        "databases": {
            database_name(db_path): {
                "description": "Collected by mediamon; the schema is described in its README",
                "tables": TABLES,
                "queries": QUERIES,
            }
        },
    }


def write_metadata(db_path: Path, out: Path) -> None:
    try:
        out.write_text(json.dumps(metadata(db_path), indent=2, ensure_ascii=False),
                       encoding="utf-8")
    except OSError as exc:
        raise MediamonError(f"{out}: {exc.strerror}") from None


def datasette_available() -> bool:
    return importlib.util.find_spec("datasette") is not None


def run_datasette(db_path: Path, *, host: str = "127.0.0.1", port: int = 8001) -> int:
    """Run Datasette's ``serve`` on the file with this module's metadata until stopped.
    Returns the exit status. Raises MediamonError when Datasette is not installed."""
    if not datasette_available():
        raise MediamonError(INSTALL_HINT)
    from datasette.cli import cli as datasette_cli

    with tempfile.TemporaryDirectory(prefix="mediamon-serve-") as tmp:
        meta = Path(tmp) / "metadata.json"
        write_metadata(db_path, meta)
        args = ["serve", str(db_path), "--metadata", str(meta), "--host", host,
                "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
                "--setting", "facet_time_limit_ms", "500"]
        try:
            datasette_cli.main(args=args, prog_name="datasette", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
        except KeyboardInterrupt:
            return 0
    return 0
