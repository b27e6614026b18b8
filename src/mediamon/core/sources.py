"""The source registry: who an outlet is (name, country, languages, kind, side).

An outlet is a registrable domain (``urls.site_of``). The registry says what the analyst
asks of it: ``TASS`` is a Russian state-controlled agency, ``TOLOnews`` a private Afghan
broadcaster, ``DW`` a German public broadcaster. The built-in entries (``data/sources.toml``:
every default feed's outlet and the agencies most quoted on the story) are read by
``config.py``, which adds or overrides them with the config's ``[[sources]]``; this module
only checks entries and looks domains up. No I/O.

``side`` groups outlets the way the seed article asks how each side tells the story:
``russian``, ``afghan``, ``regional`` (Afghanistan's neighbours and the region's powers:
Pakistan, Iran, India, China, Central Asia, Turkey), ``western`` (Europe, North America,
Australia and Japan's allies), ``other``. It follows ``country`` unless an entry gives it (an
exile outlet counts with the audience it serves).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["KINDS", "SIDES", "Source", "SourceRegistry", "side_of_country", "source_from"]

KINDS = ("wire", "public", "state", "private", "blog")
"""wire: a news agency (Reuters, AFP, Interfax); public: a public-service broadcaster (BBC,
DW); state: controlled by a government (TASS, RT, Xinhua: a state agency counts here, not as
``wire``, because who controls it is what the analyst weighs); private; blog."""

SIDES = ("russian", "afghan", "regional", "western", "other")

_REGIONAL = frozenset(
    "PK IN IR CN UZ TJ TM KZ KG TR AZ BD".split())
_WESTERN = frozenset(
    "US GB CA AU NZ IE DE FR IT ES PT NL BE LU CH AT DK SE NO FI IS PL CZ SK HU RO BG GR "
    "HR SI EE LV LT UA JP KR IL".split())
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def side_of_country(country: str) -> str:
    """``RU`` -> russian, ``AF`` -> afghan, a neighbour or regional power -> regional, Europe
    and North America -> western, anything else -> other."""
    if country == "RU":
        return "russian"
    if country == "AF":
        return "afghan"
    if country in _REGIONAL:
        return "regional"
    if country in _WESTERN:
        return "western"
    return "other"


@dataclass(frozen=True)
class Source:
    """One outlet: ``domains`` are the registrable domains it publishes under."""

    name: str
    domains: tuple[str, ...]
    country: str  # ISO 3166-1 alpha-2
    kind: str  # one of KINDS
    languages: tuple[str, ...] = ()
    side: str = ""  # one of SIDES; "" means side_of_country(country)

    @property
    def group(self) -> str:
        """The side it tells the story from (``side`` if given, else by ``country``)."""
        return self.side or side_of_country(self.country)


def source_from(entry: Mapping[str, object]) -> Source:
    """A registry entry checked: raise ``ValueError("key: reason")`` on the first bad key."""
    known = {"name", "domains", "country", "kind", "languages", "side"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown key (keys: {', '.join(sorted(known))})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: missing or empty")
    domains = entry.get("domains")
    if isinstance(domains, str):
        domains = [domains]
    if not isinstance(domains, list) or not domains:
        raise ValueError("domains: a domain or a non-empty list of domains")
    for domain in domains:
        if not isinstance(domain, str) or not _DOMAIN.match(domain.lower()):
            raise ValueError(f"domains: {domain!r} is not a domain name (e.g. 'tass.ru')")
    country = entry.get("country")
    if not isinstance(country, str) or not _COUNTRY.match(country):
        raise ValueError(f"country: {country!r} is not a two-letter country code (e.g. 'RU')")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    languages = entry.get("languages", [])
    if isinstance(languages, str):
        languages = [languages]
    if not isinstance(languages, list) or not all(
            isinstance(code, str) and _LANGUAGE.match(code) for code in languages):
        raise ValueError(f"languages: {languages!r} is not a list of language codes "
                         "(e.g. ['ru', 'en'])")
    side = entry.get("side", "")
    if side and side not in SIDES:
        raise ValueError(f"side: {side!r} is not one of {', '.join(SIDES)}")
    assert isinstance(kind, str) and isinstance(side, str)
    return Source(name.strip(), tuple(d.lower() for d in domains), country, kind,
                  tuple(languages), side)


class SourceRegistry:
    """Outlets by registrable domain; later entries override earlier ones per domain."""

    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self._by_domain: dict[str, Source] = {}
        for source in sources:
            for domain in source.domains:
                self._by_domain[domain] = source

    def __len__(self) -> int:
        return len(set(map(id, self._by_domain.values())))

    def __contains__(self, domain: object) -> bool:
        return domain in self._by_domain

    def lookup(self, domain: str | None) -> Source | None:
        """The outlet registered under ``domain`` (a registrable domain), if any."""
        return self._by_domain.get(domain.lower()) if domain else None

    def outlet(self, domain: str | None) -> str | None:
        """The one domain an outlet counts under: its first listed domain, so that
        ``bbci.co.uk`` and ``bbc.co.uk`` are one outlet; an unknown domain stays itself."""
        source = self.lookup(domain)
        return source.domains[0] if source else domain

    def sources(self) -> list[Source]:
        """Every registered outlet once, by name."""
        unique = {id(s): s for s in self._by_domain.values()}
        return sorted(unique.values(), key=lambda s: s.name.casefold())
