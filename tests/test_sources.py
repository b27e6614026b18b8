"""The source registry: who each outlet is, built in and extended by the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEFAULT_CONFIG
from mediamon.config import builtin_sources, load_config
from mediamon.core.sources import KINDS, SIDES, Source, SourceRegistry, side_of_country, source_from
from mediamon.core.urls import site_of
from mediamon.errors import ConfigError

MINIMAL = """
[topics.russia]
query = "Russia OR Moscow"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mediamon.toml"
    path.write_text(MINIMAL + text, encoding="utf-8")
    return path


def test_every_default_feed_has_a_registered_outlet() -> None:
    """An analyst grouping by country or kind sees no default feed as unknown."""
    config = load_config(DEFAULT_CONFIG)
    missing = [feed.url for feed in config.feeds
               if config.sources.lookup(site_of(feed.url)) is None]
    assert not missing, missing
    assert len(config.sources) == len(builtin_sources()) >= 40


def test_built_in_entries_are_well_formed_and_each_domain_listed_once() -> None:
    seen: dict[str, str] = {}
    for source in builtin_sources():
        assert source.kind in KINDS and source.group in SIDES, source
        for domain in source.domains:
            assert domain not in seen, f"{domain}: {seen.get(domain)} and {source.name}"
            seen[domain] = source.name


def test_one_outlet_under_several_registered_domains_counts_under_its_first() -> None:
    """bbci.co.uk (BBC's feeds) and bbc.co.uk are one outlet; an unknown domain is itself."""
    registry = load_config(DEFAULT_CONFIG).sources
    assert registry.outlet(site_of("https://feeds.bbci.co.uk/pashto/rss.xml")) == "bbc.co.uk"
    assert registry.outlet(site_of("https://news.bbc.co.uk/x")) == "bbc.co.uk"
    assert registry.outlet("tass.com") == "tass.ru"
    assert registry.outlet("example.org") == "example.org"
    assert registry.outlet(None) is None
    tass = registry.lookup("TASS.COM")
    assert tass is not None and (tass.name, tass.country, tass.kind, tass.group) == (
        "TASS", "RU", "state", "russian")


@pytest.mark.parametrize(("country", "side"), [
    ("RU", "russian"), ("AF", "afghan"), ("PK", "regional"), ("CN", "regional"),
    ("UZ", "regional"), ("GB", "western"), ("US", "western"), ("QA", "other"),
    ("BR", "other"),
])
def test_side_follows_the_country(country: str, side: str) -> None:
    assert side_of_country(country) == side


def test_an_entry_can_name_its_side() -> None:
    """An outlet based in one country and serving another's audience says so."""
    eurasianet = load_config(DEFAULT_CONFIG).sources.lookup("eurasianet.org")
    assert eurasianet is not None and eurasianet.country == "US"
    assert eurasianet.group == "regional"


def test_the_config_adds_outlets_and_overrides_built_in_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[[sources]]
name = "Kabul Times"
domains = ["kabultimes.gov.af"]
country = "AF"
languages = ["en"]
kind = "state"

[[sources]]
name = "TASS (English service)"
domains = "tass.com"
country = "RU"
kind = "wire"
"""))
    kabul = config.sources.lookup("kabultimes.gov.af")
    assert kabul == Source("Kabul Times", ("kabultimes.gov.af",), "AF", "state", ("en",))
    english = config.sources.lookup("tass.com")
    assert english is not None and english.kind == "wire"
    russian = config.sources.lookup("tass.ru")  # the built-in entry keeps its other domain
    assert russian is not None and russian.name == "TASS"


@pytest.mark.parametrize(("entry", "key", "reason"), [
    ('name = "X"\ndomains = ["x.org"]\ncountry = "RU"\nkind = "tabloid"', "sources[0].kind",
     "'tabloid' is not one of wire, public, state, private, blog"),
    ('name = "X"\ndomains = ["x.org"]\ncountry = "Russia"\nkind = "wire"',
     "sources[0].country", "is not a two-letter country code"),
    ('name = "X"\ndomains = ["http://x.org/"]\ncountry = "RU"\nkind = "wire"',
     "sources[0].domains", "is not a domain name"),
    ('name = "X"\ndomains = []\ncountry = "RU"\nkind = "wire"', "sources[0].domains",
     "a domain or a non-empty list"),
    ('domains = ["x.org"]\ncountry = "RU"\nkind = "wire"', "sources[0].name", "missing"),
    ('name = "X"\ndomains = ["x.org"]\ncountry = "RU"\nkind = "wire"\nsite = "x"',
     "sources[0].site", "unknown key"),
    ('name = "X"\ndomains = ["x.org"]\ncountry = "RU"\nkind = "wire"\nside = "eastern"',
     "sources[0].side", "'eastern' is not one of"),
    ('name = "X"\ndomains = ["x.org"]\ncountry = "RU"\nkind = "wire"\nlanguages = ["Russian"]',
     "sources[0].languages", "not a list of language codes"),
])
def test_a_bad_entry_names_the_file_the_key_and_the_reason(
        tmp_path: Path, entry: str, key: str, reason: str) -> None:
    path = write(tmp_path, "[[sources]]\n" + entry + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and reason in message, message


def test_sources_must_be_a_list_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "mediamon.toml"
    path.write_text('sources = "tass.ru"\n' + MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources: must be a list of tables"):
        load_config(path)


def test_registry_without_entries_knows_nothing() -> None:
    registry = SourceRegistry()
    assert len(registry) == 0 and registry.lookup("tass.ru") is None
    assert registry.outlet("tass.ru") == "tass.ru"
    assert source_from({"name": " A ", "domains": "A.ORG", "country": "FR", "kind": "blog"}) \
        == Source("A", ("a.org",), "FR", "blog")
