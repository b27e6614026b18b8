"""mediamon from any directory: which config and database a command uses, `mediamon init`,
and the built-in default in a non-editable install."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import mediamon
from conftest import REPO
from feedserver import FeedServer, rss
from mediamon.config import BUILTIN_CONFIG, find_config, load_config, user_config_dir
from mediamon.errors import ConfigError


def mediamon_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediamon", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**os.environ, **(env or {})})


def test_config_is_found_in_the_documented_order(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """--config, then $MEDIAMON_CONFIG, then ./mediamon.toml, then the user config
    directory, then the built-in default."""
    monkeypatch.chdir(tmp_path)
    assert find_config(None) == BUILTIN_CONFIG
    home = user_config_dir() / "mediamon.toml"
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("")
    try:
        assert find_config(None) == home
        (tmp_path / "mediamon.toml").write_text("")
        assert find_config(None) == Path("mediamon.toml")
        monkeypatch.setenv("MEDIAMON_CONFIG", "/elsewhere/env.toml")
        assert find_config(None) == Path("/elsewhere/env.toml")
        assert find_config("given.toml") == Path("given.toml")
    finally:
        home.unlink()


def test_the_built_in_default_loads_with_its_seed_and_a_user_database() -> None:
    """The shipped default is the project's config/mediamon.toml; its database is in the
    user data directory, the same for every working directory."""
    assert BUILTIN_CONFIG.read_bytes() == (REPO / "config" / "mediamon.toml").read_bytes()
    config = load_config(BUILTIN_CONFIG)
    assert config.db_path.name == "mediamon.db"
    assert config.db_path.parent.name == "mediamon"
    assert str(config.db_path).startswith(os.environ["XDG_DATA_HOME"])


def test_init_writes_a_config_that_every_directory_finds(feed_server: FeedServer,
                                                         tmp_path: Path) -> None:
    """`mediamon init` then `run --once` in one directory and `items` in another: the same
    database, found without --config."""
    feed_server.add("/f.xml", rss("Russia recognises the Taliban government", [("a1", "")]))
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    out = mediamon_cli("init", cwd=one)
    assert out.returncode == 0, out.stderr
    written = user_config_dir() / "mediamon.toml"
    assert str(written) in out.stdout and "any directory" in out.stdout
    assert (written.parent / "seeds" / "russia-taliban-two-way-game.txt").is_file()
    text = written.read_text(encoding="utf-8")
    feed = feed_server.url("/f.xml")
    written.write_text(text.split("# -- Feeds", 1)[0] + f'\n[[feeds]]\nurl = "{feed}"\n',
                       encoding="utf-8")
    try:
        ran = mediamon_cli("run", "--once", cwd=one)
        assert ran.returncode == 0, ran.stderr
        listed = mediamon_cli("items", "--json", cwd=two)
        assert listed.returncode == 0, listed.stderr
        assert "Russia recognises the Taliban government" in listed.stdout
        again = mediamon_cli("init", cwd=two)
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        written.unlink()


def test_init_into_a_directory_says_how_to_use_it(tmp_path: Path) -> None:
    """Elsewhere than the user config directory, init says how to point mediamon at it,
    and the copy loads with its own seed."""
    out = mediamon_cli("init", str(tmp_path / "desk"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout and "MEDIAMON_CONFIG" in out.stdout
    config = load_config(tmp_path / "desk" / "mediamon.toml")
    assert config.profile.seeds[0].parent == tmp_path / "desk" / "seeds"


def test_a_missing_extends_file_is_reported_against_the_file_that_names_it(
        tmp_path: Path) -> None:
    """The error names the config that says `extends`, the key, and the missing file."""
    child = tmp_path / "child.toml"
    child.write_text('extends = "nowhere.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(child)
    assert caught.value.path == str(child) and caught.value.key == "extends"
    assert "nowhere.toml" in caught.value.reason and "no such file" in caught.value.reason


def test_the_version_is_written_in_one_place() -> None:
    """pyproject.toml takes the version from mediamon.__version__."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert version("mediamon") == mediamon.__version__


@pytest.mark.slow
def test_a_non_editable_install_works_from_anywhere(tmp_path: Path) -> None:
    """A wheel installed into a fresh environment carries the default config and seed:
    `mediamon paths` and `mediamon score` work in an empty directory."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(wheels), str(REPO)], check=True, capture_output=True, timeout=300)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    py = venv / "bin" / "python"
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    where = subprocess.run([str(py), "-c", "import mediamon; print(mediamon.__file__)"],
                           capture_output=True, text=True, cwd=empty, env=env, check=True)
    assert str(venv) in where.stdout  # the installed copy, not the checkout
    paths = subprocess.run([str(venv / "bin" / "mediamon"), "paths", "--json"],
                           capture_output=True, text=True, cwd=empty, env=env, timeout=60)
    assert paths.returncode == 0, paths.stderr
    assert "built in" in paths.stdout and str(venv) in paths.stdout
    item = '{"id": "x", "title": "Russia recognises the Taliban government"}\n'
    scored = subprocess.run([str(venv / "bin" / "mediamon"), "score", "--builtin"],
                            input=item, capture_output=True, text=True, cwd=empty, env=env,
                            timeout=60)
    assert scored.returncode == 0, scored.stderr
    assert '"kept": true' in scored.stdout
