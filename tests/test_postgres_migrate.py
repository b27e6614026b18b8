"""`mediamon migrate SQLITE_FILE postgresql://...`: a SQLite database moved into PostgreSQL
without loss, checked before it commits; the daemon carries on from it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")

from click.testing import CliRunner  # noqa: E402

from feedserver import FeedServer  # noqa: E402
from mediamon.cli import cli  # noqa: E402
from mediamon.store.postgres.store import PostgresStore  # noqa: E402
from test_postgres import pg_state, same_state, served_config  # noqa: E402


def polled_sqlite(served: FeedServer, tmp_path: Path) -> tuple[Path, Path]:
    config = served_config(served, tmp_path)
    db = tmp_path / "lite.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "--log-level",
                                      "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    return config, db


def test_migrate_moves_everything_and_the_daemon_carries_on(
        served_feeds: FeedServer, pg_url: str, tmp_path: Path) -> None:
    """Everything SQLite holds is in PostgreSQL after `migrate` (items, feeds, seen rows,
    stories, background, fetch log), the command says what it checked, and `run --once`
    on the copy finds every feed not modified (validators came along) and stores nothing
    twice."""
    config, db = polled_sqlite(served_feeds, tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["migrate", str(db), pg_url])
    assert result.exit_code == 0, result.output
    assert "story memberships" in result.output and "search probes" in result.output
    got = same_state(db, pg_url)
    result = runner.invoke(cli, ["--config", str(config), "--db", pg_url, "--log-level",
                                 "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    after = pg_state(pg_url)
    assert after["items"] == got["items"] and after["stories"] == got["stories"]
    new = Counter(after["statuses"]) - Counter(got["statuses"])  # type: ignore[arg-type]
    assert sum(new.values()) == len({url for url, _ in got["statuses"]})  # every feed's
    assert {status for _, status in new} <= {"not_modified", "error"}  # pass was logged
    assert "internal error" not in result.output


def test_migrate_refuses_a_database_with_data(served_feeds: FeedServer, pg_url: str,
                                              tmp_path: Path) -> None:
    """A target that already holds feeds is refused in one line (exit 1), and left alone."""
    _config, db = polled_sqlite(served_feeds, tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate", str(db), pg_url]).exit_code == 0
    before = pg_state(pg_url)
    result = runner.invoke(cli, ["migrate", str(db), pg_url])
    assert result.exit_code == 1
    assert "already holds feeds or items" in result.output and "Traceback" not in result.output
    assert pg_state(pg_url) == before


def test_a_copy_that_does_not_match_is_rolled_back(served_feeds: FeedServer, pg_url: str,
                                                   tmp_path: Path) -> None:
    """When the copy differs (here a trigger moves one item to another story as it is
    copied), the check names the difference, exits 1, and nothing is written."""
    _config, db = polled_sqlite(served_feeds, tmp_path)
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("""
            CREATE FUNCTION shuffle() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.n = 1 THEN NEW.story_id := 'elsewhere'; END IF;
                RETURN NEW;
            END $$""")
        conn.execute("CREATE TRIGGER shuffle BEFORE INSERT ON story_items "
                     "FOR EACH ROW EXECUTE FUNCTION shuffle()")
    result = CliRunner().invoke(cli, ["migrate", str(db), pg_url])
    assert result.exit_code == 1, result.output
    assert "story memberships differ" in result.output
    assert "nothing was written" in result.output
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 0


def test_migrate_wants_a_postgresql_url(tmp_path: Path) -> None:
    """A second argument that is not a postgresql:// URL is a usage error (exit 2)."""
    db = tmp_path / "x.db"
    db.touch()
    result = CliRunner().invoke(cli, ["migrate", str(db), str(tmp_path / "other.db")])
    assert result.exit_code == 2
    assert "postgresql:// URL" in result.output
