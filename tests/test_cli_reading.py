"""The reading commands (items, search, show, stories) start fast and stay flat at a
million items (docs/benchmarks.md, "Command latency"): they load no scorer, HTTP client,
numpy or HTML sanitiser, read a config without compiling its topics, and find an id prefix
through the index. Latency itself is measured in benchmarks/cli_latency.py, not here."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_CONFIG, invoke_demo
from mediamon.config import load_config
from mediamon.errors import ConfigError, QueryError
from mediamon.store.base import id_prefix
from mediamon.store.query import get_item
from mediamon.store.sqlite import Store

HEAVY = ("numpy", "httpx", "nh3", "w3lib", "mediamon.fetch", "mediamon.desk.export",
         "mediamon.core.score", "mediamon.core.topics")


def imported_by(db: Path, *args: str) -> set[str]:
    """The modules a real `mediamon` process imports to run ``args`` on ``db``."""
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mediamon", "--config", str(DEMO_CONFIG),
         "--db", str(db), *args], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("args", [("items",), ("search", "taliban"), ("stories",)])
def test_a_listing_loads_no_scorer_http_client_numpy_or_sanitiser(demo_db: Path,
                                                                  args: tuple[str, ...]
                                                                  ) -> None:
    """`items`, `search` and `stories` import none of the heavy modules they do not use."""
    modules = imported_by(demo_db, *args)
    assert "mediamon.store.sqlite" in modules  # the command did run
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_show_loads_no_heavy_module(demo_db: Path) -> None:
    """`show ID` neither."""
    with sqlite3.connect(demo_db) as conn:
        item = conn.execute("SELECT id FROM items LIMIT 1").fetchone()[0]
    modules = imported_by(demo_db, "show", item)
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_numpy_is_still_importable_after_the_store(tmp_path: Path) -> None:
    """The store imports sqlite_utils without numpy, and numpy still works afterwards."""
    code = ("import sys, mediamon.store.sqlite; assert 'numpy' not in sys.modules; "
            "import numpy; print(numpy.zeros(2).sum())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "0.0", done.stderr


def test_a_reading_config_does_not_compile_topics(make_config) -> None:
    """A config read for listing skips the topic queries; the full read still checks them."""
    path = make_config([], extra='[topics.broken]\nquery = "taliban AND ("\n')
    with pytest.raises(ConfigError, match=r"topics\.broken"):
        load_config(path)
    reading = load_config(path, reading=True)
    assert "broken" in reading.topics
    with pytest.raises(RuntimeError, match="not compiled"):
        reading.topic_set.names  # noqa: B018  (scoring with it would be a bug)


def test_the_config_keeps_the_scorers_keep_modes() -> None:
    """config.KEEP_MODES (read without importing the scorer) is core.score's."""
    from mediamon import config
    from mediamon.core import score

    assert config.KEEP_MODES == score.KEEP_MODES


def test_items_lists_even_when_a_topic_query_is_broken(demo_db: Path, make_config) -> None:
    """Listing what is stored does not depend on the topic syntax (scoring still does)."""
    config = make_config([], extra='[topics.broken]\nquery = "taliban AND ("\n')
    assert invoke_demo(demo_db, "items", "--format", "jsonl", config=config).exit_code == 0
    result = invoke_demo(demo_db, "rescore", config=config)
    assert result.exit_code == 1 and "topics.broken" in result.output


def test_an_id_prefix_is_found_through_the_index(demo_db: Path) -> None:
    """`show`, `stories show` and `--story` look an id prefix up as a range of the primary
    key index (LIKE read every row), in any case, and a short prefix is still ambiguous."""
    where, params = id_prefix("id", "AB")
    with sqlite3.connect(demo_db) as conn:
        for table in ("items", "stories", "item_aliases"):
            plan = " ".join(str(r) for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM {table} WHERE {where}", params))
            assert "SEARCH" in plan and f"SCAN {table}" not in plan, plan
        item = conn.execute("SELECT id FROM items ORDER BY id LIMIT 1").fetchone()[0]
    with Store(demo_db, readonly=True) as store:
        assert get_item(store, item[:10].upper())["id"] == item  # type: ignore[index]
        with pytest.raises(QueryError, match="ambiguous"):
            get_item(store, "")
        assert store.resolve_story(item[:10].upper()) == ("item", item)


def test_a_common_topic_is_listed_by_walking_the_date_index(
        demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`items --topic T` gives the same rows whether T's items are collected first or each
    item is tested while walking the date index; a common topic walks (no sort of all its
    items), a rare one is collected."""
    from mediamon.store import query

    with Store(demo_db, readonly=True) as store:
        topics = [r[0] for r in store.db.conn.execute(
            "SELECT DISTINCT topic FROM item_topics ORDER BY 1")]
        assert topics
        for topic in [*topics, "no-such-topic"]:
            for filters in (query.Filters(topic=topic), query.Filters(
                    topic=topic, include_unkept=True, limit=3, offset=1)):
                monkeypatch.setattr(query, "COMMON_TOPIC", 10**9)
                collected = query.items(store, filters)
                monkeypatch.setattr(query, "COMMON_TOPIC", 1)
                assert query.items(store, filters) == collected, topic
        traced: list[str] = []
        store.db.conn.set_trace_callback(traced.append)
        query.items(store, query.Filters(topic=topics[0]))
        store.db.conn.set_trace_callback(None)
        listing = [s for s in traced if "ORDER BY items.published" in s][-1]
        plan = " ".join(str(r) for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + listing))
        assert "items_kept_published" in plan and "TEMP B-TREE FOR ORDER BY" not in plan, plan
