"""Every command has help and is documented in the README."""

from __future__ import annotations

import contextlib
import functools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conftest import REPO
from mediamon.cli import cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazy top-level group imports on request
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


COMMANDS = all_commands(cli)


def test_the_expected_commands_exist() -> None:
    """The command set is the one the README promises."""
    assert {("run",), ("items",), ("search",), ("show",), ("status",), ("feeds", "list"),
            ("feeds", "add"), ("feeds", "remove"), ("feeds", "import"),
            ("feeds", "export")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    """`mediamon ... --help` works and says something for every command."""
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    """The README shows each command at least once."""
    assert "mediamon " + " ".join(path) in README or (
        len(path) == 1 and f"mediamon {path[0]}" in README)


def test_readme_has_the_two_commands_and_ci_runs_the_test_one() -> None:
    """The README's test command is exactly what .ci/run executes."""
    assert "pip install -e . && mediamon run" in README
    test_command = "pip install -e '.[test]' && pytest"
    assert test_command in README
    assert test_command in (REPO / ".ci" / "run").read_text(encoding="utf-8")


# -- every command example in the README works on the demo database ---------------------------


def readme_examples() -> list[tuple[str, str | None]]:
    """Each `mediamon` command of the README's code blocks, in order: the mediamon part of
    every line of a ``sh`` block, and every ``$ mediamon`` line of an output block with the
    first line of the output shown under it."""
    found: list[tuple[str, str | None]] = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M):
        lines = body.splitlines()
        for n, line in enumerate(lines):
            if lang == "sh":
                found += [(part.strip(), None) for part in line.split("&&")
                          if part.strip().startswith("mediamon ")]
            elif line.startswith("$ mediamon "):
                shown = lines[n + 1] if n + 1 < len(lines) else None
                found.append((line[2:], shown))
    return found


EXAMPLES = readme_examples()

# Examples that cannot run here, only parse: what each needs.
PARSE_ONLY = {
    ("run",): "runs until stopped",
    ("serve",): "runs until stopped (unless --metadata-out)",
    ("alerts", "send"): "[[alerts]] in the config, and a webhook or mail server",
}

# Files the README's examples name that a user brings along.
USER_FILES = {
    "subscriptions.opml": '<?xml version="1.0"?><opml version="2.0"><head/><body>'
                          '<outline text="Afghan"><outline text="Example" '
                          'xmlUrl="https://example.org/rss"/></outline></body></opml>',
}


def user_directory(path: Path) -> Path:
    """A directory to run the examples in, as a user's checkout would be: the repository's
    config, tests and seeds, and the user's own files."""
    for name in ("config", "tests", "seeds"):
        (path / name).symlink_to(REPO / name, target_is_directory=True)
    for name, text in USER_FILES.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


def example_args(example: str) -> tuple[list[str], str | None]:
    """The arguments after ``mediamon`` and the file stdout is redirected to, if any."""
    words = shlex.split(example, comments=True)[1:]
    if ">" in words:
        at = words.index(">")
        return words[:at], words[at + 1]
    return words, None


@contextlib.contextmanager
def dry_run(calls: list[tuple[str, ...]]) -> Iterator[None]:
    """Within it, no command runs: click parses and converts every option and argument as
    usual, and each command that would run records its path in ``calls`` instead."""
    commands = [((), cli), *((path, command_at(path)) for path in COMMANDS)]
    saved = [(command, command.callback) for _, command in commands]
    for path, command in commands:
        command.callback = functools.partial(lambda path, *a, **kw: calls.append(path), path)
    try:
        yield
    finally:
        for command, callback in saved:
            command.callback = callback


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    return command


def command_path(args: list[str]) -> tuple[str, ...]:
    """The command an example runs, after checking that it parses (AssertionError if not)."""
    calls: list[tuple[str, ...]] = []
    with dry_run(calls):
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return max(calls, key=len)


def same_line(printed: str, shown: str) -> bool:
    """Whether the README shows ``printed`` (spacing aside; "..." ends a shortened line)."""
    printed, shown = " ".join(printed.split()), " ".join(shown.split())
    if shown.endswith("..."):
        return printed.startswith(shown[:-3].rstrip())
    return printed == shown


def test_readme_has_command_examples() -> None:
    """The README's examples are found (the test below would pass on none)."""
    assert len(EXAMPLES) > 40
    assert ("mediamon items --since 2d", None) in [(e.split("  #")[0].strip(), s)
                                                   for e, s in EXAMPLES]


@pytest.mark.parametrize("example", [e for e, _ in EXAMPLES])
def test_readme_example_parses(example: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command example in the README is a valid mediamon command line (files it
    reads are made empty: click opens them while parsing)."""
    monkeypatch.chdir(user_directory(tmp_path))
    Path("items.jsonl").touch()  # written by the README's export example
    command_path(example_args(example)[0])


def test_readme_examples_work_on_the_demo(tmp_path: Path) -> None:
    """Run every README example, in order, on the demo feeds (as README says: `mediamon
    --config config/demo.toml run --once` first): each exits 0, or with the error the README
    shows; an example's shown output starts as the README says."""
    user_directory(tmp_path)
    base = ["--config", str(REPO / "config" / "demo.toml"), "--db", str(tmp_path / "demo.db"),
            "--log-level", "error"]
    runner = CliRunner()
    built = runner.invoke(cli, [*base, "run", "--once"])
    assert built.exit_code == 0, built.output
    failures = []
    with contextlib.chdir(tmp_path):
        for example, shown in EXAMPLES:
            args, redirect = example_args(example)
            path = command_path(args)
            if path in PARSE_ONLY and not (path == ("serve",) and "--metadata-out" in args):
                continue
            if path == ("feeds", "add"):
                args = [*args, "--no-discover"]  # no network here
            result = runner.invoke(cli, [*base, *args])
            lines = result.output.splitlines() or [""]  # as on a terminal: with stderr
            if shown is not None and shown.startswith("Error:"):
                # A domain (1) or usage (2) error; usage lines come before the error, and a
                # path in it differs from one machine to another.
                error = next((line for line in lines if line.startswith("Error:")), "")
                if result.exit_code not in (1, 2) or not same_line(
                        error.split("/")[0], shown.split("/")[0]):
                    failures.append(f"{example}: exit {result.exit_code}, prints "
                                    f"{error or lines[0]!r}; the README shows {shown!r}")
            elif result.exit_code != 0:
                failures.append(f"{example}: exit {result.exit_code}: {result.output[-300:]}")
            elif shown is not None and not same_line(lines[0], shown):
                failures.append(f"{example}: prints {lines[0]!r}, the README shows {shown!r}")
            elif redirect:
                Path(redirect).write_text(result.stdout, encoding="utf-8")
    assert not failures, "\n".join(failures)
