"""Fuzzing: property tests the other suites lack (canonical_url and read_opml on
arbitrary input) and a seeded, bounded fuzz run over mutated corpus feeds through parse,
normalise, score and store into a real SQLite file. Only ParseError may escape.

MEDIAMON_FUZZ_CASES sets the number of mutated documents (default 2,000, about 10 s);
MEDIAMON_FUZZ_SEED the seed (default 7).
"""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DEFAULT_CONFIG, SHARED
from mediamon.config import load_config
from mediamon.core.urls import canonical_url, is_http_url
from mediamon.errors import ParseError
from mediamon.opml import OpmlError, read_opml
from mediamon.pipeline import scorer_for
from mediamon.process import process_body
from mediamon.store.sqlite import Store
from mediamon.types import FeedSource, FetchResult

CORPUS = SHARED / "corpus" / "feeds"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
CASES = int(os.environ.get("MEDIAMON_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("MEDIAMON_FUZZ_SEED", "7"))
TOKENS = [b"<", b">", b"&", b"&amp;", b"&#0;", b"&#xD800;", b"]]>", b"<![CDATA[", b"</item>",
          b"<item>", b"<entry>", b"<!DOCTYPE x [<!ENTITY e \"e\">]>", b"\x00", b"\xff\xfe",
          b"\xc3", b'"', b"'", b"<script>", b"javascript:", b"{", b"}", b"[", b"]", b":",
          b'"items":', b"<pubDate>9999-99-99</pubDate>", b"<ttl>-1</ttl>"]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120), st.one_of(st.none(), st.text(max_size=60),
                                        st.sampled_from(["https://e.org/a/b?c=1", "http://x"])))
def test_property_canonical_url_on_any_text(url: str, base: str | None) -> None:
    """canonical_url takes any text and base: None or an http(s) URL, and is idempotent."""
    result = canonical_url(url, base=base)
    assert result is None or is_http_url(result)
    assert result is None or canonical_url(result) == result


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(
    lambda t: f'<opml version="2.0"><body>{t}</body></opml>'.encode()))
def test_property_read_opml_on_any_bytes(data: bytes) -> None:
    """read_opml on arbitrary bytes returns http(s) feeds or raises OpmlError, nothing else."""
    try:
        feeds = read_opml(data)
    except OpmlError:
        return
    assert all(is_http_url(feed.url) for feed in feeds)


def mutate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """One seeded mutation: bit flips, truncation, a splice, a token insertion or a
    duplicated slice (several may stack)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(5)
        if kind == 0 and out:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:
            out = out[: rng.randrange(len(out))]
        elif kind == 2 and other:
            cut, at = rng.randrange(len(out) + 1), rng.randrange(len(other))
            out = out[:cut] + other[at:at + rng.randint(1, 4000)]
        elif kind == 3:
            i = rng.randrange(len(out) + 1)
            out[i:i] = rng.choice(TOKENS)
        elif out:
            i = rng.randrange(len(out))
            j = min(len(out), i + rng.randint(1, 2000))
            out[j:j] = out[i:j] * rng.randint(1, 3)
    return bytes(out)


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file()
                   and p.suffix.lower() in {".xml", ".rss", ".atom", ".rdf", ".json", ".feed"})
    return [p for p in files if p.stat().st_size < 200_000]


@pytest.mark.slow
def test_fuzz_mutated_corpus_through_parse_normalise_score_store(tmp_path: Path) -> None:
    """Mutated corpus documents either raise ParseError or are scored and stored in one
    transaction each; nothing else escapes, and every committed item is still there."""
    files = corpus_files()
    if not files:
        pytest.skip(f"no feed corpus at {CORPUS}")
    rng = random.Random(SEED)
    scorer, _info = scorer_for(load_config(DEFAULT_CONFIG), None)
    db = tmp_path / "fuzz.db"
    store = Store(db)
    url = "https://fuzz.example/feed"
    store.add_feed(FeedSource(url), now=NOW)
    counts = {"cases": 0, "parse_errors": 0, "stored_passes": 0, "items": 0}
    committed: set[str] = set()
    failures: list[str] = []
    for case in range(CASES):
        path, other = rng.choice(files), rng.choice(files)
        body = mutate(rng, path.read_bytes(), other.read_bytes())
        fetch = FetchResult(url=url, status="ok", http_status=200, final_url=url, body=body)
        counts["cases"] += 1
        try:
            processed = process_body(fetch, feed_url=url, scorer=scorer, now=NOW,
                                     keep_all=True, known=store.seen_hashes)
        except ParseError:
            counts["parse_errors"] += 1
            continue
        except Exception as exc:  # what this test exists to find
            failures.append(f"case {case} ({path.name}) parse: {type(exc).__name__}: {exc}")
            continue
        try:
            store.save_feed_pass(url, fetch, processed.scored, now=NOW, next_fetch=None,
                                 keep_all=True, entries=processed.entries,
                                 warning=processed.warning)
        except Exception as exc:
            failures.append(f"case {case} ({path.name}) store: {type(exc).__name__}: {exc}")
            continue
        counts["stored_passes"] += 1
        # What the pass committed (a copy of a stored item is folded into it, not stored).
        ids = [s.item.id for s in processed.scored][:900]
        committed.update(r[0] for r in store.db.execute(
            f"SELECT id FROM items WHERE id IN ({','.join('?' * len(ids))})", ids))
    store.close()
    with sqlite3.connect(db) as conn:
        (check,) = conn.execute("PRAGMA integrity_check").fetchone()
        present = {r[0] for r in conn.execute("SELECT id FROM items")}
    counts["items"] = len(present)
    print(f"fuzz: {counts}, failures {len(failures)}, seed {SEED}")
    assert failures == [], "\n".join(failures[:20])
    assert check == "ok"
    lost = committed - present
    print(f"fuzz: committed {len(committed)}, lost {len(lost)}")
    assert counts["cases"] == CASES and counts["stored_passes"] > CASES // 4
    assert committed and lost == set()
