"""Every command has help and is documented in the README."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from conftest import REPO
from mediamon.cli import cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
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
