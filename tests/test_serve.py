"""`mediamon serve`: Datasette on loopback with metadata, facets, FTS and canned queries."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import REPO
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.desk.serve import QUERIES, metadata

DEMO = REPO / "config" / "demo.toml"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def serving(config: Path, db: Path | None = None) -> Iterator[str]:
    """`mediamon serve` for ``config`` (and ``--db``) on a free loopback port, as a real
    process; yields the database's base URL, and stops the server with SIGINT."""
    pytest.importorskip("datasette", reason="Datasette is not installed "
                                            "(pip install 'mediamon[datasette]')")
    port = free_port()
    db_args = ["--db", str(db)] if db else []
    log = (db or config).with_name(f"serve-{port}.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediamon", "--config", str(config), *db_args, "serve",
             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # poll until it answers (or the process died)
            if proc.poll() is not None:
                pytest.fail(f"mediamon serve exited: {log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail("mediamon serve did not answer")
            try:
                if get(base + "/-/versions.json")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        yield base + "/" + (db or load_config(config).db_path).stem
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo feeds polled once into a fresh database, served by `mediamon serve`."""
    pytest.importorskip("datasette", reason="Datasette is not installed "
                                            "(pip install 'mediamon[datasette]')")
    db = tmp_path_factory.mktemp("serve") / "desk.db"
    result = CliRunner().invoke(cli, ["--config", str(DEMO), "--db", str(db), "--log-level",
                                      "error", "run", "--once"])
    assert result.exit_code == 0, result.output
    with serving(DEMO, db) as base:
        yield base


def rows(url: str) -> list[dict[str, Any]]:
    status, body = get(url)
    assert status == 200, body[:500]
    return json.loads(body)


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_each_canned_query_returns_rows(server: str, query: str) -> None:
    """Today's kept items, this week's top stories and failing feeds all have rows."""
    found = rows(f"{server}/{query}.json?_shape=array")
    assert found, query
    if query == "failing_feeds":
        assert [r["last_status"] for r in found] == ["error"]
        assert "HTML page" in found[0]["last_error"]
    if query == "todays_kept_items":
        assert len(found) == 14  # every kept demo item was first seen today
    if query == "top_stories_this_week":
        assert [r["reach"] for r in found] == sorted((r["reach"] for r in found), reverse=True)


def test_table_page_loads_with_its_description(server: str) -> None:
    """The items page renders with the metadata's description and facets."""
    status, body = get(f"{server}/items")
    assert status == 200
    page = body.decode()
    assert "The search box takes FTS5 syntax" in page
    data = json.loads(get(f"{server}/items.json?_shape=objects")[1])
    assert {"topics", "language", "feed_id", "published"} <= set(data["facet_results"])


def test_search_box_uses_the_fts_index(server: str, tmp_path_factory: Any) -> None:
    """A search in FTS5 syntax finds exactly the items items_fts matches."""
    query = 'kabul* OR "islamic emirate"'
    found = rows(f"{server}/items.json?_shape=array&_col=title&_size=max&_search="
                 + urllib.parse.quote(query))
    db = sorted(tmp_path_factory.getbasetemp().glob("serve*/desk.db"))[-1]
    with sqlite3.connect(db) as conn:
        expected = {r[0] for r in conn.execute(
            "SELECT items.id FROM items JOIN items_fts ON items_fts.rowid = items.rowid "
            "WHERE items_fts MATCH ?", [query])}
    assert 0 < len(expected) < 24
    assert {r["id"] for r in found} == expected


def test_metadata_file_and_missing_datasette_message(tmp_path: Path) -> None:
    """--metadata-out writes the generated metadata; without Datasette the error is one line."""
    db = tmp_path / "x.db"
    out = tmp_path / "meta.json"
    result = CliRunner().invoke(cli, ["--config", str(DEMO), "--db", str(db), "serve",
                                      "--metadata-out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == json.loads(json.dumps(metadata(db)))
    assert set(json.loads(out.read_text())["databases"]["x"]["queries"]) == set(QUERIES)
    code = ("import sys; sys.modules['datasette'] = None\n"
            "from mediamon.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code, "--config", str(DEMO), "--db", str(db),
                           "serve"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error: Datasette is not installed: pip install " \
                                  "'mediamon[datasette]'"
