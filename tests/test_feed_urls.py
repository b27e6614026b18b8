"""What can be a feed: an http(s) URL with a host name, or a local file that exists. Anything
else is refused where it is written (``feeds add``: a usage error, exit 2; ``[[feeds]] url``:
a config error naming the file, the key and the reason) instead of failing at every poll.
One exception: a config's local file that is missing today is that feed's failure at poll
time, never an error that stops every command and the daemon."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FEEDS
from feedserver import config_text
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.errors import ConfigError

NOT_FEEDS = [
    ("not-a-url", "is neither an http(s) URL nor an existing file (no such file: "),
    ("http://", "has no host name"),
    ("https://", "has no host name"),
    ("http:///feed.xml", "has no host name"),
    ("ftp://example.org/feed.xml", "is not an http(s) URL, file:// URL or local path"),
    ("https://exa mple.org/rss", "contains a space"),
    ("http://[::1/feed", "is not a valid URL"),
    ("https://example.org:99999/rss", "is not a valid URL"),
    ("file:///no/such/feed.xml", "no such file: /no/such/feed.xml"),
    ("example.org/rss", "did you mean https://example.org/rss?"),
]


def feeds_in(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT url FROM feeds ORDER BY id")]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mediamon.toml"
    path.write_text(config_text(str(tmp_path / "m.db"), []), encoding="utf-8")
    return path


@pytest.mark.parametrize(("url", "reason"), NOT_FEEDS, ids=[u for u, _ in NOT_FEEDS])
def test_feeds_add_refuses_what_cannot_be_a_feed(config: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 url: str, reason: str) -> None:
    """`feeds add` with something that is neither an http(s) URL with a host nor an
    existing file: exit 2, the reason in one line, nothing added (and nothing fetched)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "feeds", "add", url,
                                      "--no-discover"])
    assert result.exit_code == 2, result.output
    assert reason in result.stderr and f'"{url}"' in result.stderr
    assert "Traceback" not in result.output
    assert feeds_in(tmp_path / "m.db") == []


@pytest.mark.parametrize("kind", ["path", "relative path", "file URL", "http URL"])
def test_feeds_add_accepts_urls_and_existing_files(config: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   kind: str) -> None:
    """An http(s) URL with a host, or an existing file as a path (made absolute) or a
    file:// URL, is added as before."""
    monkeypatch.chdir(FEEDS)
    url, stored = {
        "path": (str(FEEDS / "rss20.xml"), str(FEEDS / "rss20.xml")),
        "relative path": ("rss20.xml", str(FEEDS / "rss20.xml")),
        "file URL": ((FEEDS / "rss20.xml").as_uri(), (FEEDS / "rss20.xml").as_uri()),
        "http URL": ("http://127.0.0.1:9/feed.xml", "http://127.0.0.1:9/feed.xml"),
    }[kind]
    result = CliRunner().invoke(cli, ["--config", str(config), "feeds", "add", url,
                                      "--no-discover"])
    assert result.exit_code == 0, result.output
    assert feeds_in(tmp_path / "m.db") == [stored]


MISSING_FILES = ("not-a-url", "file:///no/such/feed.xml")


@pytest.mark.parametrize(("url", "reason"), [(u, r) for u, r in NOT_FEEDS
                                             if u not in MISSING_FILES],
                         ids=[u for u, _ in NOT_FEEDS if u not in MISSING_FILES])
def test_a_config_feed_that_cannot_be_a_feed_is_a_config_error(tmp_path: Path, url: str,
                                                               reason: str) -> None:
    """The same check where the config's feeds are read: the error names the file, the
    feed's key and the reason."""
    path = tmp_path / "mediamon.toml"
    path.write_text(config_text(str(tmp_path / "m.db"), [str(FEEDS / "rss20.xml"), url]),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: feeds[1].url: ")
    assert reason.replace("no such file: ", "") in str(error.value)


def test_a_missing_config_feed_file_fails_that_feed_not_every_command(tmp_path: Path) -> None:
    """A local feed file that is missing (deleted, a share not mounted yet) fails its own
    polls with the reason; the other feeds are polled and the command succeeds."""
    path = tmp_path / "mediamon.toml"
    path.write_text(config_text(str(tmp_path / "m.db"), [str(FEEDS / "rss20.xml"),
                                                         "feeds/typo.xml"]), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "run", "--once"])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'feeds' / 'typo.xml'}  error: no such file" in result.stdout
    assert "1 feed(s) failed" in result.stdout


def test_check_feed_url_keeps_what_it_accepts(tmp_path: Path) -> None:
    """URLs stay as written; paths become absolute, relative to the config's directory."""
    from mediamon.config import check_feed_url

    (tmp_path / "a.xml").write_text("<rss/>", encoding="utf-8")
    assert check_feed_url(tmp_path, "a.xml") == str(tmp_path / "a.xml")
    assert check_feed_url(tmp_path, "HTTPS://Example.org/rss?x=1") == \
        "HTTPS://Example.org/rss?x=1"
    assert check_feed_url(tmp_path, (tmp_path / "a.xml").as_uri()) == \
        (tmp_path / "a.xml").as_uri()
    with pytest.raises(ValueError, match="is not a regular file"):
        check_feed_url(tmp_path, str(tmp_path))
