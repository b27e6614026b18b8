"""Databases a new user points mediamon at by mistake or on purpose: a read-only file, a copy
on a read-only file system, an empty file, another application's SQLite file, a file that is
not SQLite at all. Commands that only read work where they can and never write; commands
that write stop in one line, naming the file and the reason, before doing anything.

Read-only for real: the tests run as root here, and root ignores file permissions, so as
root a path is made immutable with ``chattr +i`` (which root must obey too: the kernel
refuses every write, exactly as on a read-only mount); as any other user it is chmodded.
Where neither works (no ``chattr``, a file system without the flag) the test is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from conftest import DEMO_CONFIG, FEEDS, REPO, invoke_demo
from mediamon.store.sqlite import Store


def make_read_only(paths: list[Path]) -> Callable[[], None]:
    """Make ``paths`` (files and directories) impossible to write for this process; returns
    the function that undoes it."""
    if os.geteuid() != 0:
        modes = {p: stat.S_IMODE(p.stat().st_mode) for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)

        def undo() -> None:
            for p, mode in modes.items():
                p.chmod(mode)
    else:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True)
            pytest.skip(f"chattr +i failed: {done.stderr.strip()}")

        def undo() -> None:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    for p in paths:
        assert not os.access(p, os.W_OK), f"{p} is still writable"
    return undo


@pytest.fixture
def read_only() -> Iterator[Callable[..., None]]:
    """``read_only(path, ...)`` makes paths read-only until the end of the test."""
    undos: list[Callable[[], None]] = []
    yield lambda *paths: undos.append(make_read_only(list(paths)))
    for undo in reversed(undos):
        undo()


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of a mediamon database, in WAL mode, with no -wal/-shm beside it
    (as a snapshot or a copy on a share would be)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = WAL")
    dst.close()
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{target}{suffix}").exists()
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(path: Path) -> list[str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        return list(conn.iterdump())


def one_item(db: Path) -> tuple[str, str]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT id, title FROM items WHERE kept = 1 "
                            "ORDER BY published DESC LIMIT 1").fetchone()


def demo_like_config(tmp_path: Path, db: Path, *, extra: str = "",
                     leave_out: str | None = None) -> Path:
    """The demo config's feeds (all, or all but the one whose URL has ``leave_out``) on
    ``db``, with ``extra`` TOML after them."""
    feeds = DEMO_CONFIG.read_text(encoding="utf-8").split("[[feeds]]")[1:]
    config = tmp_path / "demo-like.toml"
    config.write_text(
        f'extends = "{REPO}/config/mediamon.toml"\n[database]\npath = "{db}"\n'
        + "".join("[[feeds]]" + f.replace("../tests/", f"{REPO}/tests/") for f in feeds
                  if not leave_out or leave_out not in f)
        + extra, encoding="utf-8")
    return config


def one_line_error(result: Result) -> str:
    """The CLI stopped with exit 1 and one line on stderr, no traceback."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def read_commands(item_id: str) -> list[list[str]]:
    return [["status"], ["feeds", "list"], ["feeds", "export"], ["items"],
            ["search", "taliban"], ["show", item_id], ["stories"], ["stats", "--since", "3650d"],
            ["export", "-o", "-"], ["report", "--since", "3650d", "-o", "-"],
            ["vacuum", "--dry-run"]]


# -- point: read-only files and directories --------------------------------------------------


@pytest.mark.parametrize("what", ["file", "file and directory"])
def test_query_commands_read_a_read_only_database(demo_db: Path, tmp_path: Path, read_only,
                                                  what: str) -> None:
    """On a read-only file (and on a copy whose directory is read-only too, with no -wal or
    -shm beside it, as on a snapshot or a share), every command that only reads works and
    shows the data, and the file is not changed."""
    db = copy_db(demo_db, tmp_path / "ro" / "copy.db")
    item_id, title = one_item(db)
    before = digest(db)
    read_only(db, *([db.parent] if what == "file and directory" else []))
    for command in read_commands(item_id):
        result = invoke_demo(db, *command)
        assert result.exit_code == 0, (command, result.output)
        if command[0] in ("items", "show", "export"):
            assert title in result.stdout, command
    assert "TASS World (example)" in invoke_demo(db, "status").stdout
    assert digest(db) == before


def test_reading_commands_never_write_the_database(demo_db: Path, tmp_path: Path) -> None:
    """`status`, `feeds list` and `feeds export` show the config as it is now (a feed new in
    the config, one no longer in it) without writing it into the database."""
    db = copy_db(demo_db, tmp_path / "copy.db")
    # rss20.xml (TASS) leaves the config; not_a_feed.txt joins it.
    config = demo_like_config(
        tmp_path, db, leave_out="rss20.xml",
        extra=f'[[feeds]]\nurl = "{FEEDS}/not_a_feed.txt"\nname = "New in the config"\n')
    before = dump(db)
    status = invoke_demo(db, "status", "--json", config=config)
    assert status.exit_code == 0, status.output
    rows = {r["url"]: r for r in json.loads(status.stdout)}
    new = rows[str(FEEDS / "not_a_feed.txt")]
    assert (new["name"], new["health"], new["active"]) == ("New in the config", "new", True)
    assert rows[str(FEEDS / "rss20.xml")]["health"] == "removed"
    listing = invoke_demo(db, "feeds", "list", config=config)
    assert listing.exit_code == 0 and "New in the config" in listing.stdout
    opml = invoke_demo(db, "feeds", "export", config=config)
    assert "not_a_feed.txt" in opml.stdout and "rss20.xml" not in opml.stdout
    assert dump(db) == before


def test_status_before_the_first_run_lists_the_config_and_creates_nothing(
        tmp_path: Path) -> None:
    """Before any run, `status` and `feeds list` list the config's feeds as new and leave
    no database behind."""
    db = tmp_path / "none.db"
    result = invoke_demo(db, "status")
    assert result.exit_code == 0, result.output
    assert "TASS World (example)" in result.stdout and "new" in result.stdout
    assert invoke_demo(db, "feeds", "list").exit_code == 0
    assert not db.exists()


def _retention_config(tmp_path: Path, db: Path) -> Path:
    return demo_like_config(tmp_path, db, extra='[retention]\nunkept_after = "1s"\n'
                                                'fetch_log_after = "1s"\n')


@pytest.mark.parametrize("what", ["file", "directory"])
def test_writing_commands_stop_in_one_line_before_doing_anything(
        demo_db: Path, tmp_path: Path, read_only, what: str) -> None:
    """On a read-only database (or one in a read-only directory, where SQLite cannot keep
    its -wal and -shm files) every command that writes stops with exit 1 and one line that
    names the file and the reason, before it prints or fetches anything."""
    db = copy_db(demo_db, tmp_path / "ro" / "copy.db")
    item_id, _ = one_item(db)
    exported = tmp_path / "items.jsonl"
    assert invoke_demo(db, "export", "-o", str(exported)).exit_code == 0
    config = _retention_config(tmp_path, db)
    before = digest(db)
    read_only(db if what == "file" else db.parent)
    reason = ("the file is read-only" if what == "file"
              else f"its directory {db.parent} is read-only")
    for command in (["run", "--once"], ["label", item_id, "relevant"], ["rescore"],
                    ["feeds", "add", str(FEEDS / "not_a_feed.txt")],
                    ["feeds", "add", "http://127.0.0.1:9/feed.xml"],
                    ["feeds", "remove", "1"], ["import", str(exported)], ["vacuum"]):
        line = one_line_error(invoke_demo(db, *command, config=config))
        assert line.startswith(f"Error: cannot write to {db}: "), (command, line)
        assert reason in line, (command, line)
    assert digest(db) == before


def test_the_daemon_refuses_a_read_only_database(demo_db: Path, tmp_path: Path,
                                                 read_only) -> None:
    """`mediamon run` (the daemon) stops at once with the same one line, exit 1."""
    db = copy_db(demo_db, tmp_path / "ro" / "copy.db")
    read_only(db)
    done = subprocess.run([sys.executable, "-m", "mediamon", "--config", str(DEMO_CONFIG),
                           "--db", str(db), "run"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: cannot write to {db}: the file is read-only"]


def test_reading_an_older_database_upgrades_it_first(tmp_path: Path, read_only) -> None:
    """A database an older mediamon wrote (schema v2): a reading command brings its schema
    up to date first (with the backup copy beside it, as `run` would) and then reads it;
    on a read-only file it says in one line why it cannot."""
    from mediamon.store.sqlite import schema_version
    from test_store import old_database

    db = tmp_path / "old.db"
    old_rows = old_database(db, 2)
    result = invoke_demo(db, "items", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(r["title"] for r in json.loads(result.stdout)) == \
        sorted(title for _, title in old_rows)
    assert (tmp_path / "old.db.schema-v2.bak").exists()
    frozen = tmp_path / "frozen" / "old.db"
    frozen.parent.mkdir()
    old_database(frozen, 2)
    read_only(frozen)
    line = one_line_error(invoke_demo(frozen, "status"))
    assert line == (f"Error: {frozen}: database schema version 2 is older than this "
                    f"mediamon's ({schema_version()}) and cannot be upgraded here: the file "
                    "is read-only")


@pytest.mark.slow
def test_serve_shows_a_read_only_database(demo_db: Path, tmp_path: Path, read_only) -> None:
    """`serve` only reads: a database it cannot write is served as it is."""
    from test_serve import get, serving

    db = copy_db(demo_db, tmp_path / "ro" / "copy.db")
    _, title = one_item(db)
    read_only(db)
    with serving(DEMO_CONFIG, db) as base:
        status, body = get(f"{base}/items.json?_shape=array&_size=100")
    assert status == 200 and title in body.decode()


# -- point: empty, foreign and non-SQLite files ----------------------------------------------


def foreign_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('an analyst''s own notes')")
    conn.close()
    return path


READERS = [["items"], ["stories"], ["show", "ab"], ["stats"], ["search", "taliban"],
           ["status"], ["feeds", "list"], ["export", "-o", "-"], ["report", "-o", "-"],
           ["vacuum", "--dry-run"]]


@pytest.mark.parametrize("kind", ["empty", "foreign"])
@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_read_commands_say_it_is_not_a_mediamon_database(tmp_path: Path, kind: str,
                                                         command: list[str]) -> None:
    """An empty (0-byte) file or another application's SQLite file: every reading command
    says "not a mediamon database: PATH" (exit 1) and leaves the file as it was."""
    db = tmp_path / f"{kind}.db"
    if kind == "empty":
        db.touch()
    else:
        foreign_db(db)
    before = db.read_bytes()
    line = one_line_error(invoke_demo(db, *command))
    assert line.startswith(f"Error: not a mediamon database: {db}"), line
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [db.name]


def test_a_writing_command_creates_the_schema_in_an_empty_file(tmp_path: Path) -> None:
    """`run --once` on a 0-byte file creates the schema in it, as on a missing file."""
    db = tmp_path / "empty.db"
    db.touch()
    result = invoke_demo(db, "run", "--once")
    assert result.exit_code == 0, result.output
    assert invoke_demo(db, "items").exit_code == 0


@pytest.mark.parametrize("command", [["run", "--once"], ["feeds", "add", str(FEEDS / "rss20.xml")],
                                     ["vacuum"], ["rescore"]], ids=" ".join)
def test_writing_commands_never_touch_a_foreign_database(tmp_path: Path,
                                                         command: list[str]) -> None:
    """Another application's SQLite file is never given mediamon's tables (nor backed up as
    an old mediamon schema): exit 1, "not a mediamon database", the file as it was."""
    db = foreign_db(tmp_path / "notes.db")
    before = dump(db)
    line = one_line_error(invoke_demo(db, *command))
    assert line.startswith(f"Error: not a mediamon database: {db} "), line
    assert "notes" in line  # what it does hold
    assert dump(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [db.name]


@pytest.mark.parametrize("command", [["items"], ["status"], ["run", "--once"]], ids=" ".join)
def test_a_file_that_is_not_sqlite(tmp_path: Path, command: list[str]) -> None:
    """A file that is not SQLite at all: "not a SQLite database: PATH", exit 1, untouched."""
    db = tmp_path / "notes.txt"
    db.write_text("shopping list\n" * 100, encoding="utf-8")
    before = db.read_bytes()
    line = one_line_error(invoke_demo(db, *command))
    assert line == f"Error: not a SQLite database: {db}"
    assert db.read_bytes() == before


def test_store_api_refuses_foreign_and_empty_read_only(tmp_path: Path) -> None:
    """The Store itself: read-only on an empty file or a foreign one is refused; a writer
    may create the schema in the empty file but not in the foreign one."""
    from mediamon.errors import StoreError

    empty, foreign = tmp_path / "empty.db", foreign_db(tmp_path / "f.db")
    empty.touch()
    for path in (empty, foreign):
        with pytest.raises(StoreError, match="not a mediamon database"):
            Store(path, readonly=True)
    with pytest.raises(StoreError, match="not a mediamon database"):
        Store(foreign)
    Store(empty).close()
    Store(empty, readonly=True).close()
