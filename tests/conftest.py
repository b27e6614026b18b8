"""Shared fixtures: the loopback feed server, configs that point at it, and the corpus path."""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import forkcheck
from feedserver import FeedServer, feed_server  # noqa: F401  (re-exported fixture)

pytest_plugins = ["pg_fixtures"]  # pg_server, pg_url: a PostgreSQL database per test

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
FEEDS = DATA / "feeds"
SHARED = REPO.parent / "shared"
DEFAULT_CONFIG = REPO / "config" / "mediamon.toml"

forkcheck.install()


@functools.cache
def default_scorer() -> Any:
    """The default config's scorer without a database (made once per test process)."""
    from mediamon.config import load_config
    from mediamon.pipeline import scorer_for

    return scorer_for(load_config(DEFAULT_CONFIG), None)[0]

# Never the real user's config or database: the user directories (platformdirs follows the
# XDG variables) point into a throwaway folder, for this process and every child.
_HOME = Path(tempfile.mkdtemp(prefix="mediamon-tests-home-"))
os.environ["XDG_CONFIG_HOME"] = str(_HOME / "config")
os.environ["XDG_DATA_HOME"] = str(_HOME / "data")
os.environ["XDG_CACHE_HOME"] = str(_HOME / "cache")  # the language model's copy: made once
for _name in ("MEDIAMON_CONFIG", "MEDIAMON_DB", "MEDIAMON_CACHE_DIR"):
    os.environ.pop(_name, None)
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_fork_from_a_threaded_process():
    """Every test: nothing forked this process while it had other threads (a child of such
    a fork can inherit a lock held by another thread and hang forever)."""
    start = len(forkcheck.FORKS_WITH_THREADS)
    yield
    forks = forkcheck.FORKS_WITH_THREADS[start:]
    assert not forks, "forked from a threaded process:\n" + "\n".join(forks)


def default_settings_text(db_path: Path) -> str:
    """The default config's settings, topics and keep rule, without its internet feeds,
    with absolute paths so the copy works from a temporary directory."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    text = text.split("# -- Feeds", 1)[0]
    text = text.replace('"../seeds/', f'"{REPO}/seeds/')
    text = text.replace("[database]\n", f'[database]\npath = "{db_path}"\n', 1)
    text = re.sub(r'(?m)^jitter = ".*"', 'jitter = "0s"', text)
    return text


def feeds_text(urls: list[str], **extra: str) -> str:
    parts = []
    for url in urls:
        parts.append(f'[[feeds]]\nurl = "{url}"\n' + "".join(
            f"{k} = {v}\n" for k, v in extra.items()))
    return "\n".join(parts)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config with the default topics and the given feed URLs; returns its path."""

    def make(urls: list[str], *, name: str = "mediamon.toml", extra: str = "",
             **feed_keys: str) -> Path:
        path = tmp_path / name
        path.write_text(
            default_settings_text(tmp_path / "mediamon.db") + "\n" + extra + "\n"
            + feeds_text(urls, **feed_keys),
            encoding="utf-8",
        )
        return path

    return make


@pytest.fixture
def served_feeds(feed_server: FeedServer) -> FeedServer:  # noqa: F811
    """The loopback server with the fixture feeds of tests/data/feeds at /NAME."""
    types = {".xml": "application/rss+xml", ".rdf": "application/rdf+xml",
             ".json": "application/feed+json", ".html": "text/html", ".txt": "text/plain"}
    for path in sorted(FEEDS.iterdir()):
        ctype = types.get(path.suffix, "application/octet-stream")
        if path.name.startswith("atom"):
            ctype = "application/atom+xml"
        feed_server.add("/" + path.name, path.read_bytes(), content_type=ctype)
    return feed_server


def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> bool:
    """Poll ``predicate`` every 0.1 s until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def fetch_count(db: Path) -> int:
    """Rows in a database's fetch log: feed passes committed so far (0 before the schema)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet


DEMO_CONFIG = REPO / "config" / "demo.toml"


def invoke_demo(db: Path, *args: str, config: Path = DEMO_CONFIG):
    """Run `mediamon` with the demo config (or ``config``) on the database ``db``."""
    from click.testing import CliRunner

    from mediamon.cli import cli

    return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db),
                                    "--log-level", "error", *args])


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo feeds polled once with --keep-all (kept and not-kept items)."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    result = invoke_demo(db, "run", "--once", "--keep-all")
    assert result.exit_code == 0, result.output
    return db
