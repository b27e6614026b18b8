"""The package type-checks: mypy over src/mediamon with the settings in pyproject.toml, which
hold the pure core and the storage to every flag of --strict."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO

STRICT = {"disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
          "disallow_untyped_decorators", "disallow_any_generics", "disallow_subclassing_any",
          "check_untyped_defs", "warn_return_any", "no_implicit_reexport", "extra_checks"}


def test_mypy_finds_no_error(tmp_path: Path) -> None:
    """`mypy` (as configured) reports no error anywhere in the package."""
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout


def test_core_and_store_are_checked_strictly() -> None:
    """The core and the storage get every per-module flag --strict sets."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    strict = [o for o in config["overrides"] if "mediamon.core.*" in o["module"]]
    assert len(strict) == 1
    assert {"mediamon.core.*", "mediamon.store.*"} <= set(strict[0]["module"])
    assert all(strict[0].get(flag) is True for flag in STRICT), STRICT - set(strict[0])
    assert config["warn_unused_ignores"] and config["strict_equality"]


def test_the_strict_flags_catch_what_plain_mypy_lets_pass(tmp_path: Path) -> None:
    """Proof that the flags bite: a function without annotations in a strict module is an
    error under them, and passes plain mypy."""
    source = tmp_path / "sample.py"
    source.write_text("def add(a, b):\n    return a + b\n")
    plain = subprocess.run([sys.executable, "-m", "mypy", "--no-site-packages", "--cache-dir",
                            str(tmp_path / "c1"), str(source)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
    flags = [f"--{flag.replace('_', '-')}" for flag in sorted(STRICT)]
    strict = subprocess.run([sys.executable, "-m", "mypy", "--no-site-packages", *flags,
                             "--cache-dir", str(tmp_path / "c2"), str(source)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stdout
    assert strict.returncode == 1 and "no-untyped-def" in strict.stdout
