"""A filter that matches nothing in the database (a mistyped topic, language or feed, an
inverted or future period) says so on stderr, one line each, instead of a silent
"(no rows)"; filters that are merely strict say nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import invoke_demo as invoke


def warnings(result) -> list[str]:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize("command", [["items"], ["search", "taliban"], ["stories"],
                                     ["stats"]])
def test_a_mistyped_topic_names_the_closest_configured_topics(demo_db: Path,
                                                              command: list[str]) -> None:
    """--topic with a typo: one warning naming the closest configured topic."""
    result = invoke(demo_db, *command, "--since", "2025-06-01", "--topic", "recogniton")
    (line,) = warnings(result)
    assert line.startswith("warning: --topic 'recogniton' is not a configured topic")
    assert "did you mean 'recognition'" in line
    assert "topics: afghan_actor, afghan_rulers" in line  # then the configured ones, sorted


@pytest.mark.parametrize("command", [["items"], ["search", "taliban"]])
def test_an_unknown_language_lists_the_languages_stored(demo_db: Path,
                                                        command: list[str]) -> None:
    """--lang xx: one warning listing the languages present in the database."""
    (line,) = warnings(invoke(demo_db, *command, "--lang", "xx"))
    assert line.startswith("warning: --lang 'xx': no item in that language")
    for code in ("en", "ru", "fa", "ps"):
        assert f" {code} " in line or f" {code}," in line or line.endswith(f" {code}")


@pytest.mark.parametrize("command", [["items"], ["search", "taliban"]])
def test_an_unknown_feed_names_the_closest_feeds(demo_db: Path, command: list[str]) -> None:
    """--feed with a typo: one warning with the closest feed names."""
    (line,) = warnings(invoke(demo_db, *command, "--feed", "tolonwes"))
    assert line.startswith("warning: --feed 'tolonwes' matches no feed")
    assert "'TOLOnews (example)'" in line
    (line,) = warnings(invoke(demo_db, *command, "--feed", "nosuchfeed"))
    assert "matches no feed" in line and "mediamon feeds list" in line


@pytest.mark.parametrize("command", [["items"], ["search", "taliban"], ["stories"]])
def test_an_inverted_period_is_pointed_out(demo_db: Path, command: list[str]) -> None:
    """--since 2d --until 5d: a warning that the period is inverted."""
    (line,) = warnings(invoke(demo_db, *command, "--since", "2d", "--until", "5d"))
    assert line.startswith("warning: --since") and "is after --until" in line
    assert "swap" in line


def test_export_warns_about_a_period_in_the_future(demo_db: Path, tmp_path: Path) -> None:
    """export --since a date in the future: nothing can match, and it says so."""
    result = invoke(demo_db, "export", "--since", "2999-01-01", "-o", str(tmp_path / "x.jsonl"))
    (line,) = warnings(result)
    assert line.startswith("warning: --since 2999-01-01") and "in the future" in line


def test_several_mistakes_give_one_line_each(demo_db: Path) -> None:
    """Every filter that matches nothing has its own line."""
    lines = warnings(invoke(demo_db, "items", "--topic", "nosuchtopic", "--lang", "xx",
                            "--feed", "nosuchfeed"))
    assert [line.split()[1] for line in lines] == ["--topic", "--lang", "--feed"]


def test_strict_but_valid_filters_say_nothing(demo_db: Path) -> None:
    """Known values that happen to leave no rows give no warning, and neither do results."""
    result = invoke(demo_db, "items", "--topic", "recognition", "--min-score", "0.999")
    assert "(no rows)" in result.stdout and warnings(result) == []
    assert warnings(invoke(demo_db, "items", "--topic", "recognition", "--lang", "en")) == []
    assert warnings(invoke(demo_db, "stories", "--topic", "recognition")) == []
