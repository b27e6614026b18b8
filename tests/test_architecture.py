"""The package's layers hold: no import cycle, the core imports nothing above it, storage
owns every SQL statement, and no chain of imports is deeper than nine modules.

Read from the source with ``ast`` (nothing is imported), so a rule broken anywhere in
``src/mediamon`` fails here with the module and the line that broke it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from conftest import REPO

SRC = REPO / "src" / "mediamon"
MAX_LEVELS = 9
# What the core may import of mediamon: itself and the shared vocabulary below it.
CORE_MAY_IMPORT = ("mediamon.core", "mediamon.types", "mediamon.errors", "mediamon.clock")
# What storage must never import: the layers above it.
ABOVE_STORE = ("mediamon.desk", "mediamon.cli", "mediamon.pipeline", "mediamon.schedule",
               "mediamon.workers", "mediamon.fetch", "mediamon.discover")
# SQL as this code base writes it (keywords in capitals), and lower-case SQL where its
# shape leaves no doubt; prose that starts "Select ... from" is neither.
_UPPER = re.compile(
    r"^\s*(SELECT\b[\s\S]*\bFROM\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b"
    r"|DELETE\s+FROM\b|CREATE\s+(TABLE|INDEX|UNIQUE|VIRTUAL|TRIGGER|TEMP)"
    r"|DROP\s+(TABLE|INDEX|TRIGGER)|PRAGMA\s|ALTER\s+TABLE|WITH\s+\w+(\([^)]*\))?\s+AS\s*\()")
_LOWER = re.compile(
    r"^\s*(select\b[\s\S]*\bfrom\s+\w+(\s+(where|order|group|limit|join)\b|\s*$)"
    r"|insert\s+(or\s+\w+\s+)?into\s+\w+\s*[(]|delete\s+from\s+\w+\s*(where\b|$)"
    r"|update\s+\w+\s+set\s+\w+\s*=|pragma\s+\w+\s*(=|$))")


def is_sql(text: str) -> bool:
    return bool(_UPPER.search(text) or _LOWER.search(text))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, int]]:
    """(module of mediamon, line) for every import ``name`` makes when it runs, lazy ones
    included (those under ``if TYPE_CHECKING:`` are annotations, never run)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # blocks that only type checkers run import nothing
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, *([node.module] if node.module else [])])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("mediamon"):
                found.append((target, node.lineno))
    return found


GRAPH = {name: sorted({t for t, _ in imports(name)}) for name in MODULES}


def test_there_is_no_import_cycle() -> None:
    """Following imports never leads back to where it started."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in GRAPH[name]:
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in MODULES:
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("mediamon.core")])
def test_the_core_imports_nothing_above_it(name: str) -> None:
    """core/ imports only core/, types, errors and clock: no storage, network, desk, CLI,
    config or pipeline."""
    bad = [(t, line) for t, line in imports(name) if not t.startswith(CORE_MAY_IMPORT)]
    assert not bad, f"{MODULES[name]}: imports {bad}"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("mediamon.store")])
def test_storage_imports_nothing_above_it(name: str) -> None:
    """store/ never imports the desk, the CLI, the pipeline or the network."""
    bad = [(t, line) for t, line in imports(name) if t.startswith(ABOVE_STORE)]
    assert not bad, f"{MODULES[name]}: imports {bad}"


def sql_outside_store() -> list[str]:
    found = []
    for name, path in MODULES.items():
        if name == "mediamon.store" or name.startswith("mediamon.store."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values
                               if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if text is not None and is_sql(text):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {text.strip()[:60]!r}")
    return found


def test_no_sql_outside_storage() -> None:
    """Every SQL statement is in store/: no other module writes a query of its own."""
    assert sql_outside_store() == []


def test_the_sql_check_sees_sql(tmp_path: Path) -> None:
    """The pattern finds statements of each kind, in plain and f-strings, and not prose."""
    for text in ("SELECT id FROM items", "select count(*)\n  from seen where id = ?",
                 "delete from labels", "INSERT INTO t VALUES",
                 "INSERT OR IGNORE INTO t", "UPDATE feeds SET x = 1", "DELETE FROM labels",
                 "CREATE INDEX i ON t (x)", "PRAGMA wal_checkpoint", "ALTER TABLE t ADD c",
                 "WITH x AS (SELECT 1) SELECT * FROM x"):
        assert is_sql(text), text
    for prose in ("Select the feeds from the list", "delete the old items",
                  "update: the feed moved", "Select one from each", "delete from the list of"):
        assert not is_sql(prose), prose


def test_no_import_chain_is_deeper_than_nine_modules() -> None:
    """The longest chain of imports, from the entry point down, has at most nine modules."""

    @cache
    def chain(name: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for target in GRAPH[name]:
            found = chain(target)
            if len(found) > len(best):
                best = found
        return (name, *best)

    # From the entry point down: the console script's mediamon.cli (mediamon.__main__ is the
    # two-line shim of `python -m mediamon` that calls it).
    longest = max((chain(name) for name in MODULES if name != "mediamon.__main__"), key=len)
    assert len(longest) <= MAX_LEVELS, " -> ".join(longest)
