"""One output convention across the CLI, and the small things a new user reaches for in the
first week: paging, removing a label, editing and pausing feeds, `status --failing`, a log
file, and help text that speaks to the user."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
import sqlite_utils
from click.testing import CliRunner, Result

from conftest import REPO
from conftest import invoke_demo as invoke
from feedserver import FeedServer
from mediamon.cli import cli
from mediamon.store.sqlite import Store, migrations


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()
                 ) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group``, groups included, with its path."""
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazy top-level group imports on request
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


COMMANDS = dict(all_commands(cli))

# Commands that print no rows or records, so no --format/--json: each with the reason. Every
# other runnable command is a listing and must take both.
NOT_LISTINGS = {
    ("run",): "polls; prints a summary (the log is the record)",
    ("init",): "writes a starter config",
    ("alerts", "send"): "sends messages",
    ("export",): "writes a data file: --format jsonl|csv is the file's format",
    ("import",): "reads a data file",
    ("feeds", "add"): "changes the feeds",
    ("feeds", "edit"): "changes a feed",
    ("feeds", "remove"): "changes the feeds",
    ("feeds", "import"): "reads OPML",
    ("feeds", "export"): "writes OPML",
    ("label",): "records a label",
    ("rescore",): "changes the database",
    ("relang",): "changes the database",
    ("score",): "JSON Lines in and out by design",
    ("report",): "writes an HTML page",
    ("serve",): "starts a web server",
    ("vacuum",): "changes the database",
    ("migrate",): "copies a database into PostgreSQL",
}


def option(command: click.Command, name: str) -> click.Option | None:
    return next((p for p in command.params
                 if isinstance(p, click.Option) and name in p.opts), None)


def runnable(command: click.Command) -> bool:
    """A group only lists its subcommands unless it runs on its own too (``stories``)."""
    return not isinstance(command, click.Group) or command.invoke_without_command


LISTINGS = sorted(path for path, command in COMMANDS.items()
                  if runnable(command) and path not in NOT_LISTINGS)


def test_the_exemptions_are_real_commands() -> None:
    """Every command exempted from --format/--json exists (the list cannot go stale)."""
    assert set(NOT_LISTINGS) <= set(COMMANDS)
    assert {("items",), ("search",), ("stories",), ("stories", "show"), ("feeds", "list"),
            ("status",), ("stats",), ("labels",), ("alerts", "list")} <= set(LISTINGS)


@pytest.mark.parametrize("path", LISTINGS, ids=" ".join)
def test_every_listing_takes_format_and_json(path: tuple[str, ...]) -> None:
    """Each listing command has --format with json among its choices, and --json for it."""
    command = COMMANDS[path]
    fmt, as_json = option(command, "--format"), option(command, "--json")
    advice = ("give it cli.output_options, or list it in NOT_LISTINGS with the reason it "
              "prints no rows")
    assert fmt is not None, f"mediamon {' '.join(path)} has no --format: {advice}"
    assert as_json is not None and as_json.is_flag, \
        f"mediamon {' '.join(path)} has no --json: {advice}"
    assert isinstance(fmt.type, click.Choice) and "json" in fmt.type.choices
    assert "--format json" in (as_json.help or "")


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_json_never_comes_without_format(path: tuple[str, ...]) -> None:
    """Wherever --json exists, --format exists too (one convention, no odd ones out)."""
    command = COMMANDS[path]
    if option(command, "--json") is not None:
        assert option(command, "--format") is not None


# Arguments for the listings that need some, on the demo database.
LISTING_ARGS = {
    ("search",): ["taliban"],
    ("stories", "show"): ["47d5"],
    ("stories", "explain"): ["47d5", "fbfd"],
    ("show",): ["47d5"],
    ("eval",): [str(REPO / "tests" / "data" / "relevance" / "dev.jsonl"), "--builtin"],
    # fixed dates: the default period ends now, which moves on between the two runs
    ("stats",): ["--since", "2020-01-01", "--until", "2027-01-01"],
}


@pytest.mark.parametrize("path", LISTINGS, ids=" ".join)
def test_json_is_the_same_as_format_json(path: tuple[str, ...], demo_db: Path) -> None:
    """`--json` prints exactly what `--format json` prints, and it is JSON."""
    args = [*path, *LISTING_ARGS.get(path, [])]
    short, long = invoke(demo_db, *args, "--json"), invoke(demo_db, *args, "--format", "json")
    assert short.exit_code == 0, short.output
    assert long.exit_code == 0, long.output
    assert json.loads(short.stdout) == json.loads(long.stdout)


def test_stories_show_rows_as_csv_and_jsonl(demo_db: Path) -> None:
    """`stories show --format csv|jsonl` gives one row per mention, with the story's id."""
    whole = json.loads(invoke(demo_db, "stories", "show", "47d5", "--json").stdout)
    lines = invoke(demo_db, "stories", "show", "47d5", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["item_id"] for line in lines] == \
        [m["item_id"] for m in whole["mentions"]]
    table = list(csv.DictReader(io.StringIO(
        invoke(demo_db, "stories", "show", "47d5", "--format", "csv").stdout)))
    assert {r["story_id"] for r in table} == {whole["id"]}


# -- help text speaks to the user --------------------------------------------------------------

ISSUE = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)


@pytest.mark.parametrize("path", [(), *sorted(COMMANDS)], ids=lambda p: " ".join(p) or "mediamon")
def test_help_never_mentions_issue_numbers(path: tuple[str, ...]) -> None:
    """No command's help (text and options) refers to an issue number."""
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert not ISSUE.search(result.output), result.output


def test_readme_never_mentions_issue_numbers() -> None:
    """The README speaks of features, not of issue numbers."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert not ISSUE.search(text), ISSUE.search(text)


# -- export and report write to stdout without -o ---------------------------------------------


def test_export_without_output_writes_json_lines_to_stdout(demo_db: Path) -> None:
    """`mediamon export` with no -o writes JSON Lines to stdout (--format csv: CSV)."""
    result = invoke(demo_db, "export", "--kept-only")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 14 and all(r["kept"] for r in records)
    as_csv = invoke(demo_db, "export", "--kept-only", "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == 14


def test_report_without_output_writes_html_to_stdout(demo_db: Path) -> None:
    """`mediamon report` with no -o writes the page to stdout."""
    result = invoke(demo_db, "report", "--since", "2025-06-30", "--until", "2025-07-07")
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().lower().startswith("<!doctype html")


# -- labels can be listed and removed -----------------------------------------------------------


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of a database (WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def test_a_label_can_be_removed(demo_db: Path, tmp_path: Path) -> None:
    """`label ID --remove` forgets the label: `labels` no longer lists it, and rescore applies
    the rule again."""
    db = copy_db(demo_db, tmp_path / "demo.db")
    assert invoke(db, "label", "47d5", "irrelevant").exit_code == 0
    listed = json.loads(invoke(db, "labels", "--json").stdout)
    assert [(r["item_id"][:4], r["label"]) for r in listed] == [("47d5", "irrelevant")]
    assert invoke(db, "rescore").exit_code == 0
    assert "47d57bff68" not in invoke(db, "items", "--format", "csv").stdout

    removed = invoke(db, "label", "47d5", "--remove")
    assert removed.exit_code == 0, removed.output
    assert "47d57bff684ce32c" in removed.output and "rescore" in removed.output
    assert json.loads(invoke(db, "labels", "--json").stdout) == []
    assert invoke(db, "rescore").exit_code == 0
    assert "47d57bff68" in invoke(db, "items", "--format", "csv").stdout


def test_removing_a_label_that_is_not_there_is_one_line(demo_db: Path, tmp_path: Path) -> None:
    """Removing a missing label is a domain error; a label with --remove is a usage error."""
    db = copy_db(demo_db, tmp_path / "demo.db")
    missing = invoke(db, "label", "47d5", "--remove")
    assert missing.exit_code == 1
    assert missing.output.startswith("Error: ") and len(missing.output.splitlines()) == 1
    assert invoke(db, "label", "47d5", "relevant", "--remove").exit_code == 2
    assert invoke(db, "label", "47d5").exit_code == 2


# -- paging ------------------------------------------------------------------------------------


def ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [row["id"] for row in json.loads(result.stdout)]


@pytest.mark.parametrize("command", [
    ["items", "--all"], ["items", "--all", "--collapse"],
    ["search", "russia OR taliban OR kabul", "--all"],
    ["search", "russia OR taliban OR kabul", "--all", "--collapse"],
], ids=" ".join)
def test_pages_are_stable_and_cover_everything(command: list[str], demo_db: Path,
                                               tmp_path: Path) -> None:
    """--limit N --offset K pages through a listing without gaps or repeats, even when every
    item has the same date (the id breaks ties)."""
    db = copy_db(demo_db, tmp_path / "demo.db")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE items SET published = '2025-07-03T12:00:00+00:00'")
    everything = ids(invoke(db, *command, "--json", "--limit", "1000"))
    assert len(everything) > 10
    pages = [ids(invoke(db, *command, "--json", "--limit", "4", "--offset", str(k)))
             for k in range(0, len(everything) + 4, 4)]
    assert [i for page in pages for i in page] == everything
    assert pages[-1] == []
    assert ids(invoke(db, *command, "--json", "--limit", "1000")) == everything


def test_offset_must_not_be_negative(demo_db: Path) -> None:
    """A negative --offset is a usage error."""
    result = invoke(demo_db, "items", "--offset", "-1")
    assert result.exit_code == 2 and "Invalid value for '--offset'" in result.output


# -- status --failing ----------------------------------------------------------------------------


def test_status_failing_lists_only_failing_feeds(demo_db: Path) -> None:
    """`status --failing` shows the failing feeds (the demo's HTML page) and nothing else."""
    every = json.loads(invoke(demo_db, "status", "--json").stdout)
    failing = json.loads(invoke(demo_db, "status", "--failing", "--json").stdout)
    assert len(every) > len(failing) >= 1
    assert {r["health"] for r in failing} <= {"failing", "dead", "gone"}
    assert [r["id"] for r in failing] == \
        [r["id"] for r in every if r["health"] in ("failing", "dead", "gone")]
    assert any(r["url"].endswith("html_page.html") for r in failing)


# -- feeds edit, paused feeds --------------------------------------------------------------------


def run_cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", *args])


def feed_row(config: Path, url: str) -> dict:
    rows = json.loads(run_cli(config, "feeds", "list", "--json").stdout)
    return next(r for r in rows if r["url"] == url)


def test_feeds_edit_changes_name_interval_and_tags(served_feeds: FeedServer, make_config) -> None:
    """`feeds edit` renames a feed, pins its interval and replaces its tags."""
    config = make_config([])
    url = served_feeds.url("/rss20.xml")
    assert run_cli(config, "feeds", "add", url, "--no-discover").exit_code == 0
    result = run_cli(config, "feeds", "edit", url, "--name", "TASS", "--interval", "15m",
                     "--tag", "russia", "--tag", "wire")
    assert result.exit_code == 0, result.output
    row = feed_row(config, url)
    assert (row["name"], row["tags"]) == ("TASS", ["russia", "wire"])
    with Store(config.parent / "mediamon.db") as store:
        assert store.find_feed(url).interval == 900
    assert run_cli(config, "feeds", "edit", str(row["id"]), "--interval", "adaptive"
                   ).exit_code == 0
    with Store(config.parent / "mediamon.db") as store:
        assert store.find_feed(url).interval is None
    bad = run_cli(config, "feeds", "edit", url, "--interval", "5x")
    assert bad.exit_code == 2 and "Invalid value for '--interval'" in bad.output
    assert run_cli(config, "feeds", "edit", "https://nowhere.example/rss", "--paused"
                   ).exit_code == 1
    assert run_cli(config, "feeds", "edit", url).exit_code == 2  # nothing to change


def test_paused_feeds_are_not_polled(served_feeds: FeedServer, make_config) -> None:
    """A paused feed is not polled by `run --once` nor due for the daemon, and is shown as
    paused; --active resumes it."""
    config = make_config([])
    paused, polled = served_feeds.url("/rss20.xml"), served_feeds.url("/atom10.xml")
    for url in (paused, polled):
        assert run_cli(config, "feeds", "add", url, "--no-discover").exit_code == 0
    result = run_cli(config, "feeds", "edit", paused, "--paused")
    assert result.exit_code == 0, result.output
    assert run_cli(config, "run", "--once").exit_code == 0
    assert served_feeds.seen("/rss20.xml") == [] and served_feeds.seen("/atom10.xml")
    assert feed_row(config, paused)["status"] == "paused"
    status = json.loads(run_cli(config, "status", "--json").stdout)
    assert {r["url"]: r["health"] for r in status}[paused] == "paused"
    assert "paused" in run_cli(config, "status").stdout
    with Store(config.parent / "mediamon.db") as store:
        assert [f.url for f in store.due_feeds(datetime.now(UTC))] == []  # polled just now
        store.db.execute("UPDATE feeds SET next_fetch = NULL")
        store.db.conn.commit()
        assert [f.url for f in store.due_feeds(datetime.now(UTC))] == [polled]

    assert run_cli(config, "feeds", "edit", paused, "--active").exit_code == 0
    assert run_cli(config, "run", "--once").exit_code == 0
    assert served_feeds.seen("/rss20.xml")


def test_config_feeds_are_paused_here_but_edited_in_the_config(served_feeds: FeedServer,
                                                               make_config) -> None:
    """A feed from the config can be paused (and stays paused when the config is re-read);
    its name, interval and tags are edited in the config."""
    url = served_feeds.url("/rss20.xml")
    config = make_config([url])
    refused = run_cli(config, "feeds", "edit", url, "--name", "Other")
    assert refused.exit_code == 1 and str(config) in refused.output
    assert run_cli(config, "feeds", "edit", url, "--paused").exit_code == 0
    assert run_cli(config, "run", "--once").exit_code == 0
    assert served_feeds.seen("/rss20.xml") == []
    assert feed_row(config, url)["status"] == "paused"


def test_the_paused_column_comes_with_a_migration(tmp_path: Path, make_config) -> None:
    """A database from before paused feeds gets the column (every feed not paused); until
    then, the commands that only read it show its feeds as not paused."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    names = [m.name for m in migrations.pending(db)]
    new = next(n for n in names if "paused" in n)
    migrations.apply(db, stop_before=new)
    db.execute(f"PRAGMA user_version = {names.index(new)}")
    db.execute("INSERT INTO feeds (url, origin, added) "
               "VALUES ('https://a.example/rss', 'db', '2026-01-01')")
    db.conn.commit()
    db.close()
    listed = run_cli(make_config([]), "--db", str(path), "status", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(r["paused"], r["health"]) for r in json.loads(listed.stdout)] == [(False, "new")]
    with Store(path) as store:
        assert [f.paused for f in store.feeds(include_paused=True)] == [False]


# -- logging: a file, and the level from the environment -------------------------------------


def test_log_file_takes_the_log_instead_of_stderr(tmp_path: Path) -> None:
    """--log-file PATH writes the log there and nothing to stderr."""
    log = tmp_path / "mediamon.log"
    result = CliRunner().invoke(cli, ["--config", str(REPO / "config" / "demo.toml"),
                                      "--db", str(tmp_path / "demo.db"), "--log-file", str(log),
                                      "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "fetch" in log.read_text(encoding="utf-8")
    assert result.stderr == ""


def test_log_file_that_cannot_be_opened_is_a_usage_error(tmp_path: Path) -> None:
    """A --log-file in a missing directory is a one-line error, not a traceback."""
    result = CliRunner().invoke(cli, ["--log-file", str(tmp_path / "no" / "x.log"), "status"])
    assert result.exit_code == 2 and "Invalid value for '--log-file'" in result.output


@pytest.mark.parametrize("level", ["debug", "warning", "error"])
def test_log_level_comes_from_the_environment(level: str, tmp_path: Path) -> None:
    """MEDIAMON_LOG_LEVEL sets the level when --log-level is not given."""
    result = CliRunner().invoke(cli, ["--config", str(REPO / "config" / "demo.toml"),
                                      "--db", str(tmp_path / "x.db"), "status"],
                                env={"MEDIAMON_LOG_LEVEL": level})
    assert result.exit_code == 0, result.output
    assert logging.getLogger("mediamon").level == getattr(logging, level.upper())


def test_the_top_level_group_loads_only_what_a_command_needs() -> None:
    """`mediamon --version` imports no command module, no config and no store; one command
    imports its own module; the CLI's format lists are output's."""
    import subprocess
    import sys

    code = ("import sys; from mediamon.cli import main; sys.argv = ['mediamon', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('mediamon')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    loaded = out.strip().splitlines()[-1]
    for heavy in ("mediamon.config", "mediamon.store", "mediamon.cli.items",
                  "mediamon.pipeline", "mediamon.core"):
        assert f"'{heavy}" not in loaded, loaded
    from mediamon import output
    from mediamon.cli import app

    assert (app.FORMATS, app.LISTING_FORMATS) == (output.FORMATS, output.LISTING_FORMATS)
    import importlib
    import pkgutil

    import mediamon.cli as package

    for module in pkgutil.iter_modules(package.__path__):  # every command module, loaded
        importlib.import_module(f"mediamon.cli.{module.name}")
    assert set(app.COMMANDS) == set(cli.commands), "a command is missing from app.COMMANDS"
    for name, module in app.COMMANDS.items():
        assert cli.commands[name].callback.__module__ == f"mediamon.cli.{module}", name
