"""Every feed of the shared corpus goes through parse_feed + normalise_feed.

The corpus (/work/shared/corpus/feeds: the test suites of feedparser, gofeed, feed-rs,
feedjira, RSParser and the W3C feed validator, about 3,000 files) is full of deliberately
broken, exotic and hostile documents. The only exception allowed to escape is
``ParseError``; anything else fails the test, listing the files.

It runs sequentially: the whole corpus takes about 3-4 seconds, so a process pool would
cost more in start-up than it saves.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediamon.core.normalise import normalise_feed_counted
from mediamon.core.parse.standard import parse_feed
from mediamon.core.urls import is_http_url
from mediamon.errors import ParseError

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
_HEX16 = re.compile(r"[0-9a-f]{16}")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
# Inside a tag: a script element, an event handler or a javascript: URL.
_UNSAFE = re.compile(
    r"<script|<[^>]*\s(?:on[a-z]+\s*=|(?:href|src)\s*=\s*[\"']?\s*javascript:)", re.IGNORECASE
)

# Measured: 3,088 files; 1,737 parse to at least one entry, 933 yield at least one item
# after normalisation (the rest are feedparser/gofeed unit fixtures whose single entry
# only carries a date, an enclosure or script-only markup); 321 ParseErrors.
MIN_FILES_WITH_ENTRIES = 1650
MIN_FILES_WITH_ITEMS = 880


def _check_item(item) -> None:
    """Invariants every item must satisfy, whatever the feed looked like."""
    assert _HEX16.fullmatch(item.id) and _HEX16.fullmatch(item.content_hash)
    assert item.published.tzinfo is UTC and item.first_seen == NOW
    assert item.updated is None or item.updated.tzinfo is UTC
    assert item.url is None or is_http_url(item.url)
    assert item.canonical_url is None or is_http_url(item.canonical_url)
    assert "\n" not in item.title
    for text in (item.title, item.summary, item.content):
        assert not _CONTROL.search(text)
    for markup in (item.summary_html, item.content_html):
        assert not _UNSAFE.search(markup), markup[:200]
    assert item.language is None or re.fullmatch(r"[a-z]{2,3}", item.language)


def test_corpus_parses_without_unexpected_exceptions(capsys):
    """Only ParseError may escape for any corpus file; most files yield entries."""
    if not CORPUS.is_dir():
        pytest.skip(f"feed corpus not found at {CORPUS}")
    files = sorted(path for path in CORPUS.rglob("*") if path.is_file())
    counts: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    for path in files:
        url = "https://corpus.example/" + path.relative_to(CORPUS).as_posix()
        try:
            feed = parse_feed(path.read_bytes(), url=url)
            result = normalise_feed_counted(feed, feed_url=url, now=NOW)
            for item in result.items:
                _check_item(item)
        except ParseError:
            counts["parse_errors"] += 1
            continue
        except Exception as exc:  # the point of the test: list every file that breaks
            failures.append(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}"[:300])
            continue
        counts["with_entries"] += bool(feed.entries)
        counts["with_items"] += bool(result.items)
        counts["warnings"] += feed.warning is not None
        counts["items"] += len(result.items)
        counts["skipped"] += result.skipped
    elapsed = time.perf_counter() - started

    with capsys.disabled():
        print(
            f"\ncorpus: {len(files)} files, {counts['with_entries']} with entries, "
            f"{counts['with_items']} with items ({counts['items']} items, {counts['skipped']} "
            f"empty entries skipped), {counts['warnings']} warnings, "
            f"{counts['parse_errors']} ParseErrors, {elapsed:.1f} s"
        )
    summary = f"{len(failures)} files raised something other than ParseError:\n"
    assert not failures, summary + "\n".join(failures)
    assert counts["with_entries"] > MIN_FILES_WITH_ENTRIES
    assert counts["with_items"] > MIN_FILES_WITH_ITEMS
