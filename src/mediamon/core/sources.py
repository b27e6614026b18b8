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

__all__ = ["KINDS", "SIDES", "UNKNOWN", "Selection", "Source", "SourceRegistry",
           "side_of_country", "source_from"]

UNKNOWN = "unknown"
"""The country, kind and side of an outlet the registry does not list (``--country unknown``
selects those outlets)."""

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


@dataclass(frozen=True)
class Selection:
    """What ``--country``/``--kind`` select: the registered ``domains`` that match, and
    whether outlets the registry does not list match too (``unknown``)."""

    domains: tuple[str, ...]
    unknown: bool


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

    def domains(self) -> tuple[str, ...]:
        """Every registered domain, sorted."""
        return tuple(sorted(self._by_domain))

    def describe(self, outlet: str | None) -> dict[str, str]:
        """``name``, ``country``, ``kind`` and ``side`` of a stored outlet (a registrable
        domain, or a feed's name): ``unknown`` for each when the registry does not list it
        (the name is then the outlet itself)."""
        source = self.lookup(outlet)
        if source is None:
            return {"name": outlet or UNKNOWN, "country": UNKNOWN, "kind": UNKNOWN,
                    "side": UNKNOWN}
        return {"name": source.name, "country": source.country, "kind": source.kind,
                "side": source.group}

    def select(self, *, country: str | None = None, kind: str | None = None) -> Selection:
        """The outlets of ``country`` (ISO code, any case) and of ``kind``, each also
        ``unknown``: registered domains whose entry matches both, and unknown outlets when
        every given value is ``unknown``. Raises ValueError for a value that cannot be one
        (a kind not in KINDS, a country that is not two letters)."""
        if country is not None:
            country = country.strip()
            if country.lower() != UNKNOWN and not _COUNTRY.match(country.upper()):
                raise ValueError(f"{country!r} is not a two-letter country code (e.g. RU) "
                                 f"or {UNKNOWN}")
            country = UNKNOWN if country.lower() == UNKNOWN else country.upper()
        if kind is not None:
            kind = kind.strip().lower()
            if kind not in (*KINDS, UNKNOWN):
                raise ValueError(f"{kind!r} is not one of {', '.join(KINDS)}, {UNKNOWN}")
        given = [v for v in (country, kind) if v is not None]
        unknown = all(v == UNKNOWN for v in given)
        if UNKNOWN in given:
            return Selection((), unknown)
        domains = tuple(sorted(
            domain for domain, source in self._by_domain.items()
            if (country is None or source.country == country)
            and (kind is None or source.kind == kind)))
        return Selection(domains, False)

    def aliases(self) -> tuple[tuple[str, str], ...]:
        """(domain, the domain its outlet counts under) for every domain that is not its
        outlet's first (``outlet``): what ``StorySettings.outlet_aliases`` holds."""
        return tuple(sorted((domain, source.domains[0])
                            for domain, source in self._by_domain.items()
                            if domain != source.domains[0]))

    def countries(self) -> list[str]:
        """The countries of the registered outlets, sorted."""
        return sorted({s.country for s in self._by_domain.values()})

