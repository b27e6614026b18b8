"""A config's compiled topics come from the user's cache when the same queries were compiled
before by the same code (``core.topics_cache``): the copy judges every labelled text as a
fresh compile does, a changed query compiles afresh, and a damaged or unwritable cache costs
only the compile."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from conftest import DATA, DEFAULT_CONFIG
from mediamon.config import load_config
from mediamon.core import topics_cache
from mediamon.core.text import tokenize
from mediamon.core.topics import TopicError, TopicSet

DEFAULT = load_config(DEFAULT_CONFIG).topic_set
QUERIES = dict(DEFAULT._sources or {})
KEEP = "(@relations OR @recognition) NOT @offtopic"
SINCE = dict(DEFAULT.since)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIAMON_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "topics"


def _copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle")) if folder.exists() else []


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> TopicSet:
        raise AssertionError("compiled, not loaded")
    monkeypatch.setattr(TopicSet, "compile", refuse)


def test_the_default_topics_are_compiled_once_then_loaded_and_judge_the_same(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert QUERIES and DEFAULT.keep_rule is not None
    first = topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE)
    assert len(_copies(cache)) == 1
    _no_compiling(monkeypatch)
    loaded = topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE)
    assert loaded is not first
    assert loaded.names == first.names and loaded.since == first.since
    assert loaded.positive_topics() == first.positive_topics()
    texts = [f"{item['title']}\n{item['summary']}" for item in map(
        json.loads, (DATA / "relevance" / "dev.jsonl").read_text(encoding="utf-8").splitlines())]
    assert len(texts) > 100
    kept = 0
    for text in texts:
        tokens = tokenize(text)
        assert loaded.match(tokens) == first.match(tokens), text
        assert loaded.could_keep(set(tokens.words)) == first.could_keep(set(tokens.words))
        kept += loaded.match(tokens).keep
    assert 0 < kept < len(texts)
    monkeypatch.undo()
    assert loaded.nodes == first.nodes  # the syntax trees, parsed again when asked for


def test_another_query_keep_rule_or_window_is_compiled_afresh(cache: Path) -> None:
    topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE)
    changed = dict(QUERIES, sport=QUERIES["sport"] + " OR curling")
    topics_cache.compiled(TopicSet, changed, KEEP, SINCE)
    topics_cache.compiled(TopicSet, QUERIES, "@relations", SINCE)
    topics_cache.compiled(TopicSet, QUERIES, KEEP, dict(SINCE, sport=date(2020, 1, 1)))
    assert len(_copies(cache)) == 4
    curling = topics_cache.compiled(TopicSet, changed, KEEP, SINCE)
    assert "sport" in curling.match(tokenize("Curling")).names
    assert "sport" not in topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE).match(
        tokenize("Curling")).names


def test_a_damaged_copy_is_compiled_again_and_replaced(cache: Path) -> None:
    topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE)
    (copy,) = _copies(cache)
    copy.write_bytes(b"not a pickle")
    again = topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE)
    assert again.match(tokenize("Russia recognises the Taliban government")).keep
    assert copy.read_bytes() != b"not a pickle"


def test_a_cache_that_cannot_be_written_costs_only_the_compile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("x", encoding="utf-8")
    monkeypatch.setenv("MEDIAMON_CACHE_DIR", str(blocked))
    topic_set = topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE)
    assert topic_set.match(tokenize("Russia recognises the Taliban government")).keep
    if os.geteuid() != 0:  # root writes anywhere: the read-only directory only for others
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o500)
        monkeypatch.setenv("MEDIAMON_CACHE_DIR", str(readonly))
        assert topics_cache.compiled(TopicSet, QUERIES, KEEP, SINCE).names == topic_set.names


def test_small_sets_are_not_cached_and_errors_are_never_cached(cache: Path) -> None:
    small = topics_cache.compiled(TopicSet, {"a": "alpha OR beta"}, "@a")
    assert small.match(tokenize("beta")).keep
    assert _copies(cache) == []
    with pytest.raises(TopicError) as bad:
        topics_cache.compiled(TopicSet, dict(QUERIES, sport="(curling"), KEEP, SINCE)
    assert bad.value.key == "topics.sport.query"
    assert _copies(cache) == []


def test_the_most_recently_used_copies_are_kept(cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics_cache, "KEEP", 2)
    variants = {word: dict(QUERIES, sport=QUERIES["sport"] + f" OR {word}")
                for word in ("curling", "rowing", "fencing")}
    topics_cache.compiled(TopicSet, variants["curling"], KEEP, SINCE)
    (curling,) = _copies(cache)
    topics_cache.compiled(TopicSet, variants["rowing"], KEEP, SINCE)
    os.utime(curling, ns=(1, 1))  # as if written long ago ...
    topics_cache.compiled(TopicSet, variants["curling"], KEEP, SINCE)  # ... and used now
    topics_cache.compiled(TopicSet, variants["fencing"], KEEP, SINCE)
    kept = _copies(cache)
    assert len(kept) == 2 and curling in kept  # rowing's, the least recently used, went


def test_another_folding_table_makes_another_copy(cache: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Terms are folded when they are compiled (Traditional Chinese to Simplified, with the
    table an installed package provides): another table, another copy."""
    package = tmp_path / "site" / "foldtable"
    (package / "dictionary").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    table = package / "dictionary" / "TSCharacters.txt"
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(topics_cache, "_DATA", (("foldtable", "dictionary/TSCharacters.txt"),))
    paths = []
    for text in ("個\t个\n", "個\t个\n從\t从\n"):
        table.write_text(text, encoding="utf-8")
        topics_cache._code.cache_clear()
        paths.append(topics_cache._path(QUERIES, KEEP, SINCE))
    topics_cache._code.cache_clear()
    assert paths[0] != paths[1]
