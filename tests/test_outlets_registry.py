"""Outlets that mean something: `--country` and `--kind` on items, search, stories, stats and
the report, resolved through the source registry; counts by country and kind; the report's
first carrier and coverage split. Items come through a real feed pass on loopback into a real
SQLite file, and every command runs through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, config_text
from mediamon.cli import cli

STORY = ("Moscow accepts the credentials of the Taliban ambassador",
         "The Russian foreign ministry accepted the credentials of the Islamic Emirate's "
         "envoy on Thursday, a first step about recognition.")
# (link, hour published on 2025-07-03, title and summary): the first five are one story,
# carried first by TASS; the last two are stories of their own.
ITEMS = [
    ("https://tass.ru/politika/1", 10, *STORY),
    ("https://tolonews.com/afghanistan-1", 11, *STORY),
    ("https://news.bbc.co.uk/world/asia-1", 12, *STORY),
    ("https://www.dawn.com/news/1", 12, *STORY),
    ("https://example.org/blog/1", 13, *STORY),
    ("https://ria.ru/economy/2", 9, "Russian wheat shipments to Afghanistan double",
     "Grain exporters report about twice the volume of last year through Uzbekistan."),
    ("https://pajhwok.com/kabul-3", 15, "Kabul opens a trade fair for regional exporters",
     "Traders from Central Asia gathered in the capital about new routes."),
]


def feed(items: list[tuple[str, int, str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>{summary}</description>"
        f"<pubDate>Thu, 03 Jul 2025 {hour:02d}:00:00 GMT</pubDate></item>"
        for link, hour, title, summary in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Wire</title><link>https://example.net/</link>{entries}"
            f"</channel></rss>").encode()


def mediamon(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", *args])


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `run --once` of a feed whose links go to seven outlets."""
    tmp = tmp_path_factory.mktemp("outlets")
    with FeedServer() as server:
        server.add("/wire.xml", feed(ITEMS), content_type="application/rss+xml")
        config = tmp / "m.toml"
        config.write_text(config_text(str(tmp / "m.db"), [server.url("/wire.xml")]),
                          encoding="utf-8")
        result = mediamon(config, "run", "--once")
    assert result.exit_code == 0, result.output
    return config


def listed(config: Path, *args: str) -> list[dict]:
    result = mediamon(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def hosts(rows: list[dict]) -> set[str]:
    return {re.sub(r"^https://(www\.)?([^/]+)/.*$", r"\2", row["url"]) for row in rows}


@pytest.mark.parametrize(("options", "expected"), [
    (["--country", "RU"], {"tass.ru", "ria.ru"}),
    (["--country", "af"], {"tolonews.com", "pajhwok.com"}),
    (["--kind", "state"], {"tass.ru", "ria.ru"}),
    (["--kind", "wire"], {"pajhwok.com"}),
    (["--country", "GB", "--kind", "public"], {"news.bbc.co.uk"}),
    (["--country", "unknown"], {"example.org"}),
    (["--kind", "unknown"], {"example.org"}),
    (["--country", "RU", "--kind", "private"], set()),
])
def test_items_and_search_filter_by_the_registry(polled: Path, options: list[str],
                                                 expected: set[str]) -> None:
    """`items` and `search` keep the items whose outlet the registry puts in that country
    and/or kind; outlets it does not list are "unknown"."""
    assert hosts(listed(polled, "items", *options)) == expected
    assert hosts(listed(polled, "search", "about", *options)) == expected


def test_a_country_no_outlet_has_warns_and_a_malformed_one_is_a_usage_error(
        polled: Path) -> None:
    """--country XX lists nothing and says the registry has no such outlet (exit 0);
    --country Russia is not a country code (exit 2, one line, no traceback)."""
    result = mediamon(polled, "items", "--country", "XX")
    assert result.exit_code == 0
    assert "--country XX" in result.output and "no outlet in the source registry" in \
        result.output and "RU" in result.output
    bad = mediamon(polled, "items", "--country", "Russia")
    assert bad.exit_code == 2 and "two-letter country code" in bad.output
    assert "Traceback" not in bad.output
    bad_kind = mediamon(polled, "stats", "--kind", "tabloid")
    assert bad_kind.exit_code == 2


def test_stories_filter_by_any_of_their_outlets_and_reach_counts_one_outlet_once(
        polled: Path) -> None:
    """`stories --country GB` lists the story the BBC carried (not those it did not); the
    story's reach counts five outlets."""
    everything = listed(polled, "stories")
    assert len(everything) == 3
    gb = listed(polled, "stories", "--country", "GB")
    assert [s["title"] for s in gb] == [STORY[0]]
    assert gb[0]["reach"] == 5 and gb[0]["first_outlet"] == "tass.ru"
    af = listed(polled, "stories", "--country", "AF")
    assert {s["title"] for s in af} == {STORY[0], ITEMS[-1][2]}
    assert listed(polled, "stories", "--kind", "blog") == []


def test_stats_counts_by_country_and_kind_and_filters(polled: Path) -> None:
    """`stats` counts kept items by their outlet's country and kind; --country limits every
    count to that country's outlets."""
    args = ["stats", "--since", "2025-07-01", "--until", "2025-07-05"]
    stats = listed(polled, *args)
    assert {r["country"]: r["items"] for r in stats["countries"]} == \
        {"RU": 2, "AF": 2, "GB": 1, "PK": 1, "unknown": 1}
    assert {r["kind"]: r["items"] for r in stats["kinds"]} == \
        {"state": 2, "private": 2, "wire": 1, "public": 1, "unknown": 1}
    russian = listed(polled, *args, "--country", "RU")
    assert russian["total_items"] == 2 and russian["total_stories"] == 2
    assert {r["outlet"] for r in russian["outlets"]} == {"tass.ru", "ria.ru"}
    table = mediamon(polled, *args)
    assert "By country (source registry)" in table.output and "By kind" in table.output


def test_report_shows_who_carried_each_story_first_and_the_split_by_side(
        polled: Path, tmp_path: Path) -> None:
    """The report names each story's first carrier with its country and kind, splits its
    coverage between Russian, Afghan, regional, Western and unknown outlets, and totals the
    period by side; --country PK lists only what Pakistani outlets carried."""
    out = tmp_path / "r.html"
    result = mediamon(polled, "report", "--since", "2025-07-01", "--until", "2025-07-05",
                      "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "first <b>TASS</b> (tass.ru, RU, state)" in page
    assert ("coverage: Russian <b>1</b> · Afghan <b>1</b> · regional <b>1</b> · "
            "Western <b>1</b> · unknown <b>1</b>") in page
    side_table = page.split("Coverage by side", 1)[1]
    for side, n in (("Russian", 2), ("Afghan", 2), ("regional", 1), ("Western", 1),
                    ("unknown", 1)):
        assert f"<td>{side}</td><td class='n'>{n}</td>" in side_table
    pk = tmp_path / "pk.html"
    assert mediamon(polled, "report", "--since", "2025-07-01", "--until", "2025-07-05",
                    "--country", "PK", "-o", str(pk)).exit_code == 0
    page = pk.read_text(encoding="utf-8")
    assert STORY[0] in page and ITEMS[-1][2] not in page and ITEMS[-2][2] not in page
    outlets = page.split("<h2>Outlets</h2>", 1)[1].split("</table>", 1)[0]
    assert "dawn.com" in outlets and "tass.ru" not in outlets


def test_the_filters_give_the_same_on_postgresql(polled: Path, pg_url: str,
                                                 tmp_path: Path) -> None:
    """The same feed stored in PostgreSQL: `items`, `search` and `stats` filter by country
    and kind exactly as on SQLite (the filter is plain SQL both run)."""
    config = tmp_path / "pg.toml"
    with FeedServer() as server:
        server.add("/wire.xml", feed(ITEMS), content_type="application/rss+xml")
        config.write_text(config_text(str(tmp_path / "unused.db"),
                                      [server.url("/wire.xml")]), encoding="utf-8")
        ran = mediamon(config, "--db", pg_url, "run", "--once")
    assert ran.exit_code == 0, ran.output

    def on_pg(*args: str) -> Any:
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", pg_url,
                                          "--log-level", "error", *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    for options in (["--country", "RU"], ["--kind", "state"], ["--country", "unknown"],
                    ["--country", "GB", "--kind", "public"]):
        assert hosts(on_pg("items", *options)) == hosts(listed(polled, "items", *options))
        query = "credentials OR exporters"  # "about" is a stop word of PostgreSQL's English
        assert hosts(on_pg("search", query, *options)) == \
            hosts(listed(polled, "search", query, *options)) != set()
    args = ["stats", "--since", "2025-07-01", "--until", "2025-07-05"]
    for options in ([], ["--country", "AF"]):
        pg, lite = on_pg(*args, *options), listed(polled, *args, *options)
        for key in ("total_items", "total_stories", "countries", "kinds", "outlets"):
            assert pg[key] == lite[key], key
    page = tmp_path / "pk.html"
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", pg_url, "report",
                                      "--since", "2025-07-01", "--until", "2025-07-05",
                                      "--country", "PK", "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "first <b>TASS</b> (tass.ru, RU, state)" in html
    assert STORY[0] in html and ITEMS[-1][2] not in html and ITEMS[-2][2] not in html


def test_an_outlets_registered_domains_count_once_in_reach(tmp_path: Path) -> None:
    """A story carried on tass.ru and tass.com, bbc.co.uk and bbc.com, and two domains a
    config's [[sources]] entry names as one outlet, has a reach of three: the registry's
    first domain of each outlet is the one it counts under."""
    links = ["https://tass.ru/a", "https://tass.com/b", "https://www.bbc.com/c",
             "https://www.bbc.co.uk/d", "https://example.org/e", "https://example.net/f"]
    own = ('[[sources]]\nname = "Example"\ndomains = ["example.org", "example.net"]\n'
           'country = "US"\nkind = "blog"\n\n')
    with FeedServer() as server:
        server.add("/one.xml", feed([(link, 10 + n, *STORY) for n, link in enumerate(links)]),
                   content_type="application/rss+xml")
        config = tmp_path / "m.toml"
        config.write_text(own + config_text(str(tmp_path / "m.db"), [server.url("/one.xml")]),
                          encoding="utf-8")
        assert mediamon(config, "run", "--once").exit_code == 0
    (story,) = listed(config, "stories")
    assert story["reach"] == 3 and story["mentions"] == 6
    assert story["first_outlet"] == "tass.ru"
    assert hosts(listed(config, "items", "--kind", "blog")) == {"example.org", "example.net"}
