"""Config loading: the default config is valid, and every mistake names file, key and reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DEFAULT_CONFIG, REPO
from mediamon.cli import cli
from mediamon.clock import parse_duration
from mediamon.config import load_config, parse_size
from mediamon.errors import ConfigError

MINIMAL = """
[topics.russia]
query = "Russia OR Moscow"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mediamon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_default_config_loads_with_real_feeds_topics_and_seed() -> None:
    """The shipped config is valid, lists at least 20 real feeds and loads the seed article."""
    config = load_config(DEFAULT_CONFIG)
    assert len(config.feeds) >= 20
    assert all(f.url.startswith("https://") for f in config.feeds)
    assert {"russia", "taliban", "recognition"} <= set(config.topics)
    assert config.profile.seeds[0].name == "russia-taliban-two-way-game.txt"
    assert "Kabulov" in config.seed_texts[0]
    # No database.path: the user data directory (conftest points it into a temp folder).
    assert config.db_path == Path(os.environ["XDG_DATA_HOME"]) / "mediamon" / "mediamon.db"
    langs = {t for f in config.feeds for t in f.tags if t.startswith("lang:")}
    assert {"lang:en", "lang:ru", "lang:fa", "lang:ps"} <= langs


def test_minimal_config_uses_defaults(tmp_path: Path) -> None:
    """A config with only a topic is complete: every other setting has a default."""
    config = load_config(write(tmp_path, MINIMAL))
    assert config.fetch.timeout == 30.0
    assert config.schedule.interval == 1800.0
    assert config.db_path == Path(os.environ["XDG_DATA_HOME"]) / "mediamon" / "mediamon.db"
    assert config.feeds == ()


def test_bad_duration_names_file_key_and_reason(tmp_path: Path) -> None:
    """A feed interval that is not a duration reports the feed's index and the accepted forms."""
    text = MINIMAL + "".join(
        f'[[feeds]]\nurl = "https://example.org/{i}.xml"\n' for i in range(3)
    ) + '[[feeds]]\nurl = "https://example.org/3.xml"\ninterval = "5x"\n'
    message = error_of(tmp_path, text)
    assert message == (
        f'{tmp_path / "mediamon.toml"}: feeds[3].interval: '
        '"5x" is not a duration (use 30s, 15m, 2h)'
    )


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    """A misspelt key is refused, naming it and the key it probably meant."""
    message = error_of(tmp_path, MINIMAL + "[fetch]\ntimout = \"10s\"\n")
    assert message.endswith("fetch.timout: unknown key (did you mean 'timeout'?)")


def test_unknown_top_level_section(tmp_path: Path) -> None:
    """An unknown section is named as the unknown key."""
    message = error_of(tmp_path, MINIMAL + "[fetcher]\ntimeout = 3\n")
    assert ": fetcher: unknown key" in message


def test_missing_seed_file(tmp_path: Path) -> None:
    """A seed file that does not exist is named with the key that lists it."""
    message = error_of(tmp_path, MINIMAL + '[profile]\nseeds = ["nope.txt"]\n')
    assert message == (f"{tmp_path / 'mediamon.toml'}: profile.seeds[0]: "
                       f"no such seed file: {tmp_path / 'nope.txt'}")


def test_malformed_topic_query_reports_column(tmp_path: Path) -> None:
    """An unbalanced parenthesis in a topic query gives the topic's key and the column."""
    message = error_of(tmp_path, '[topics.russia]\nquery = "(Russia OR Moscow"\n')
    assert message.startswith(f"{tmp_path / 'mediamon.toml'}: topics.russia.query: ")
    assert "parenthes" in message and "column 1" in message


def test_keep_rule_with_unknown_topic(tmp_path: Path) -> None:
    """The keep rule may only name topics that exist."""
    message = error_of(tmp_path, MINIMAL + '[keep]\nrule = "@russia AND @nope"\n')
    assert ": keep" in message and "nope" in message


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    """Broken TOML and a missing file are reported with the path, not a traceback."""
    assert "not valid TOML" in error_of(tmp_path, "[topics\n")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_wrong_types_and_ranges(tmp_path: Path) -> None:
    """Values of the wrong type or out of range are refused with the key."""
    assert "fetch.concurrency: must be at least 1" in error_of(
        tmp_path, MINIMAL + "[fetch]\nconcurrency = 0\n")
    assert "profile.threshold: must be between 0 and 1" in error_of(
        tmp_path, MINIMAL + "[profile]\nthreshold = 2\n")
    assert 'keep.mode: "sometimes" is not one of' in error_of(
        tmp_path, MINIMAL + '[keep]\nmode = "sometimes"\n')
    assert "fetch.max_bytes" in error_of(tmp_path, MINIMAL + '[fetch]\nmax_bytes = "lots"\n')
    assert "feeds[0].url: missing" in error_of(tmp_path, MINIMAL + "[[feeds]]\nname = 'x'\n")
    assert "feeds[1].url: duplicate of feeds[0]" in error_of(
        tmp_path, MINIMAL + '[[feeds]]\nurl = "https://a.org/f"\n[[feeds]]\nurl = "https://a.org/f"\n')
    assert "feeds[0].url" in error_of(tmp_path, MINIMAL + '[[feeds]]\nurl = "ftp://a.org/f"\n')


def test_local_feed_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    """A relative feed path is made absolute from the config file's directory."""
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "a.xml").write_text("<rss/>", encoding="utf-8")
    config = load_config(write(tmp_path, MINIMAL + '[[feeds]]\nurl = "feeds/a.xml"\n'))
    assert config.feeds[0].url == str(tmp_path / "feeds" / "a.xml")


def test_db_override_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--db wins over MEDIAMON_DB, which wins over the config."""
    path = write(tmp_path, MINIMAL)
    monkeypatch.setenv("MEDIAMON_DB", str(tmp_path / "env.db"))
    assert load_config(path).db_path == (tmp_path / "env.db").resolve()
    flag = load_config(path, db_override=tmp_path / "flag.db")
    assert flag.db_path == (tmp_path / "flag.db").resolve()


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1.5h", 5400), (90, 90),
    ("250ms", 0.25),
])
def test_durations(text: object, seconds: float) -> None:
    """Durations accept the usual suffixes and plain seconds."""
    assert parse_duration(text) == seconds


def test_sizes() -> None:
    """Sizes accept decimal and binary suffixes."""
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 524_288
    with pytest.raises(ValueError):
        parse_size("0")


def test_cli_reports_config_errors_in_one_line(tmp_path: Path) -> None:
    """Every command stops with exit 1 and the one-line reason when the config is bad."""
    path = write(tmp_path, MINIMAL + '[schedule]\ninterval = "soon"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "run", "--once"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f'Error: {path}: schedule.interval: "soon" is not a duration (use 30s, 15m, 2h)'
    )


def test_config_from_environment(tmp_path: Path) -> None:
    """MEDIAMON_CONFIG chooses the config file."""
    path = write(tmp_path, MINIMAL + '[fetch]\nconcurrency = "x"\n')
    result = CliRunner().invoke(cli, ["feeds", "list"], env={"MEDIAMON_CONFIG": str(path)})
    assert result.exit_code == 1
    assert str(path) in result.output


def test_demo_config_extends_the_default() -> None:
    """config/demo.toml reuses the default topics and seed, with local example feeds."""
    demo = load_config(REPO / "config" / "demo.toml")
    default = load_config(DEFAULT_CONFIG)
    assert demo.topics == default.topics and demo.keep == default.keep
    assert demo.seed_texts == default.seed_texts
    assert demo.db_path == REPO / "data" / "demo.db"
    assert demo.feeds and all(Path(f.url).is_file() for f in demo.feeds)


def test_extends_merges_topics_and_replaces_sections(tmp_path: Path) -> None:
    """A child config adds topics to its parent's and replaces whole sections it names."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "seed.txt").write_text("Kabulov in Moscow", encoding="utf-8")
    (tmp_path / "base" / "base.toml").write_text(
        MINIMAL + '[fetch]\ntimeout = "5s"\nconcurrency = 3\n[profile]\nseeds = ["seed.txt"]\n',
        encoding="utf-8")
    child = write(tmp_path, 'extends = "base/base.toml"\n[fetch]\nconcurrency = 4\n'
                            '[topics.kabul]\nquery = "Kabul"\n')
    config = load_config(child)
    assert set(config.topics) == {"russia", "kabul"}
    assert (config.fetch.concurrency, config.fetch.timeout) == (4, 30.0)
    assert config.seed_texts == ("Kabulov in Moscow",)


def test_extends_errors(tmp_path: Path) -> None:
    """extends must name another readable config, one level deep."""
    assert "extends: a config cannot extend itself" in error_of(
        tmp_path, 'extends = "mediamon.toml"\n' + MINIMAL)
    assert 'extends: "absent.toml": no such file' in error_of(
        tmp_path, 'extends = "absent.toml"\n' + MINIMAL)
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    assert "only one level of extends" in error_of(tmp_path, 'extends = "a.toml"\n')


def test_story_headline_settings_are_read_and_checked(tmp_path: Path) -> None:
    """[stories] headline_window, headline_min_terms and series_gap reach StorySettings;
    a bad value names the key."""
    path = tmp_path / "m.toml"
    path.write_text('[stories]\nheadline_window = "6h"\nheadline_min_terms = 7\n'
                    'series_gap = "0s"\n\n[topics.t]\nquery = "x"\n', encoding="utf-8")
    stories = load_config(path).stories
    assert (stories.headline_window, stories.headline_min_terms, stories.series_gap) == \
        (21600.0, 7, 0.0)
    path.write_text('[stories]\nseries_gap = "soon"\n\n[topics.t]\nquery = "x"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"stories\.series_gap"):
        load_config(path)


def test_topic_date_windows_are_read_and_checked(tmp_path: Path) -> None:
    """``since`` takes a TOML date or an ISO date string; anything else names the key."""
    from datetime import date

    for value in ("2021-08-15", '"2021-08-15"'):
        config = load_config(write(tmp_path, MINIMAL + f"since = {value}\n"))
        assert config.topic_set.since == {"russia": date(2021, 8, 15)}
    assert load_config(write(tmp_path, MINIMAL)).topic_set.since == {}
    message = error_of(tmp_path, MINIMAL + 'since = "last summer"\n')
    assert "topics.russia.since: must be a date such as 2021-08-15" in message
    assert message.startswith(str(tmp_path / "mediamon.toml"))


def test_the_default_config_reads_afghanistan_as_the_taliban_only_since_they_took_kabul(
) -> None:
    """Relations between Moscow and Kabul count as relations with the Taliban only for
    items published since 15 August 2021 (the Republic's before); a report that names
    the Taliban counts whatever its date; undated items are judged on their words."""
    from datetime import UTC, datetime

    from mediamon.core.score import Scorer

    config = load_config(DEFAULT_CONFIG)
    scorer = Scorer(config.topic_set, None)
    kabul = "Russia signs a deal to invest in Afghanistan's railways, Kabul says"
    taliban = "Russia signs a deal with the Taliban to invest in Afghanistan's railways"
    old = datetime(2017, 10, 31, tzinfo=UTC)
    new = datetime(2023, 10, 31, tzinfo=UTC)
    assert scorer.score_text(kabul, published=new).kept
    assert scorer.score_text(kabul).kept
    assert not scorer.score_text(kabul, published=old).kept
    assert scorer.score_text(taliban, published=old).kept
