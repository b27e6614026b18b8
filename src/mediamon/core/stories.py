"""Stories: group near-copies of one report across outlets. The pure core.

A **story** is one report and its copies: a wire story reprinted by other outlets, lightly
edited rewrites of it, and the same report under differently translated headlines in the
same language. Items are grouped by the words of their title and summary:

    terms(item)   folded words (``text.words``) without stopwords and wire credits
                  ("Reuters", "TASS"), Snowball-stemmed by script (English, Russian), with
                  British -ise spellings folded to -ize; numbers kept (they tell one
                  earthquake or one meeting from another)
    similarity    Jaccard |A & B| / |A | B| of two items' term sets, computed exactly
    same story    similarity >= ``threshold`` and published at most ``window`` apart; an item
                  joins the story of its most similar earlier item, else starts a new story

Finding the most similar earlier item must not mean comparing with every stored item, so
candidates come from locality-sensitive hashing: MinHash over the term set (``bands x rows``
hash functions, one 32-bit term hash each) cut into ``bands`` bands of ``rows`` values; two
items are candidates when at least one band is equal, which happens with probability
``1 - (1 - J^rows)^bands`` for Jaccard similarity J. With the defaults (20 bands of 2 rows)
a pair at the threshold (J = 0.375) becomes a candidate 95.2 % of the time, at J = 0.5
99.7 %, while two unrelated items on the same topic (J ~ 0.1) meet 18 % of the time and are
then rejected by the exact check. The store keeps one row per band with the item's time, so
a lookup is ``bands`` index probes limited to the time window: its cost depends on how many
items fall in the window, not on how many are stored.

Why MinHash + LSH bands rather than SimHash: headlines and summaries are short (20-60
terms), and a lightly rewritten copy changes a third of them; SimHash's Hamming distance is
noisy on such short texts, while MinHash estimates Jaccard directly and the band S-curve is
easy to tune and to explain ("these bands matched"). The exact Jaccard check on the stored
term hashes removes the estimator's error from the decision.

Why the window: two Taliban delegations arriving in Moscow a year apart are described in
almost the same words (Jaccard up to 0.83 in ``tests/data/stories``). Only time tells them
apart, so only items published within ``window`` of each other are candidates.

Headline identity: outlets that run an agency's report often keep its headline and write
their own first paragraph, so the terms overlap too little. An item whose **headline key**
(``headline_key``: case, accents, quotes, apostrophes, dashes and punctuation folded away)
equals that of an earlier item published within ``headline_window`` joins that item's story,
before the words are consulted (it is the stronger evidence). Not every headline counts:
one with fewer than ``headline_min_terms`` content words ("Ukraine war: live updates";
live-blog and round-up words do not count) is too generic, and a headline that one outlet
used ``series_gap`` or more apart (a daily or weekly title) is a template, not a report.
Two items of one outlet whose headlines differ only in their numbers, that far apart ("key
events, day 290" and "day 291"), are issues of a series and never one story, whatever
their words.

Near-copies of a headline: a word changed ("bars women" / "bars female employees"), a name or
a clause dropped or moved, an outlet's name appended, and an empty or different standfirst
beside it. When no earlier item is similar enough by its terms, an item joins the story of
the nearest candidate within a day whose headline is a near-copy of its own
(``near_headlines``: most content words the same, two of them in the same order; not
round-ups; from one outlet, only a headline lengthened or shortened). The headline's own
content terms get band keys too (``Fingerprint.headline_bands``), so that such copies are
candidates even when the texts beside them share no band.

This module decides; it reads and writes nothing (``story_store`` stores). See
docs/stories.md for the method, the labelled pairs and the measured precision and recall.
"""

from __future__ import annotations

import hashlib
import random
import re
import struct
import unicodedata
from array import array
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from mediamon.core.text import fold, tokenize

__all__ = [
    "GROUPING_VERSION",
    "Candidate",
    "Decision",
    "Fingerprint",
    "PairExplanation",
    "StorySettings",
    "band_keys",
    "decide",
    "explain_pair",
    "fingerprint",
    "grouping_key",
    "headline_band_keys",
    "headline_content",
    "headline_key",
    "headline_series",
    "headline_terms",
    "jaccard",
    "minutes",
    "near_headlines",
    "pack_terms",
    "story_id_for",
    "term_hash",
    "terms",
    "unpack_terms",
    "usable_headline",
]


@dataclass(frozen=True)
class StorySettings:
    """The ``[stories]`` section of the config (see README, "Configuration")."""

    threshold: float = 0.375  # Jaccard similarity needed to join a story
    window: float = 3 * 86400.0  # seconds: only items this close in time are candidates
    bands: int = 20  # LSH bands
    rows: int = 2  # MinHash values per band
    min_terms: int = 4  # items with fewer distinct terms never join (or are joined by) others
    # Headline identity (docs/stories.md, "Agency headline, own standfirst"):
    headline_window: float = 2 * 86400.0  # seconds; equal headlines this close: one story (0: off)
    headline_min_terms: int = 4  # fewer content words: too generic to count
    series_gap: float = 12 * 3600.0  # one outlet's headline this far apart: a series (0: off)
    # (domain, the domain it counts under) for outlets registered under several domains
    # (core/sources ``SourceRegistry.aliases``: tass.com -> tass.ru), so that a story's reach
    # counts such an outlet once; the config fills it from the source registry. Not one of
    # the [stories] settings, so it takes no part in comparing them.
    outlet_aliases: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def outlet(self, site: str | None) -> str | None:
        """The outlet ``site`` (a registrable domain, or a feed's name) counts under."""
        if site is None or not self.outlet_aliases:
            return site
        return _alias_map(self.outlet_aliases).get(site, site)

    @property
    def window_minutes(self) -> int:
        return int(self.window // 60)

    @property
    def headline_window_minutes(self) -> int:
        return int(min(self.headline_window, self.window) // 60)

    @property
    def series_gap_minutes(self) -> int:
        return int(self.series_gap // 60)


@lru_cache(maxsize=8)
def _alias_map(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


# Raised whenever a change to the fingerprint or the decision would group the same items
# differently: stories an export carries are then found again on import, not copied.
GROUPING_VERSION = 2  # 2: near-copies of a headline join (near_headlines)


def grouping_key(settings: StorySettings) -> str:
    """A short name for how these settings group items (every ``[stories]`` setting, the
    outlets counted as one, ``GROUPING_VERSION``): two databases whose keys are equal put
    the same items in the same stories, so an import may copy an export's stories."""
    parts = (GROUPING_VERSION, settings.threshold, settings.window, settings.bands,
             settings.rows, settings.min_terms, settings.headline_window,
             settings.headline_min_terms, settings.series_gap, settings.outlet_aliases)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


# Function words of the feeds' main languages (folded), and wire credits: "(Reuters)" or
# "TASS reported" is in a reprint but not in the original, and says nothing about the event.
STOPWORDS = frozenset(
    """
    a about after again against all also am an and any are as at be because been before
    being between both but by can could did do does during each for from further had has have
    having he her here his how i if in into is it its just me more most my no nor not now of
    off on once only or other our out over own same she should so some such than that the
    their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your s t said says say
    told according reported report reports quoted citing cited mr ms may might must via
    reuters afp ap tass ria interfax xinhua anadolu bernama ani pti pajhwok dpa efe ansa
    и в во не что он на я с со как а то все она так его но да к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему когда даже ну ли если уже или ни быть был него до
    вас там потом себя ей может они тут где есть надо ней для мы их чем была сам без себе под
    будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем
    чтобы нее сейчас были куда зачем всех никогда можно при об другой хоть после над больше
    тот через эти нас про всего них какая много разве эту моя свою этой перед между это также
    заявил заявила заявили сообщил сообщила сообщили сообщает передает говорится отметил
    тасс риа интерфакс новости
    """.split()
)

@lru_cache(maxsize=2)
def _stemmer(language: str) -> Any:
    """The Snowball stemmer of a language, made on first use: importing snowballstemmer
    loads every language it has (tens of ms), which a command that only lists stored
    items never needs."""
    import snowballstemmer

    return snowballstemmer.stemmer(language)

# recognise/recognize, organisation/organization: outlets spell the same word both ways.
_BRITISH_RE = re.compile(r"is(e|ed|es|ing|ation|ations)\Z")


@lru_cache(maxsize=200_000)
def _term(word: str) -> str | None:
    """The term of one folded word, or None for a stopword or a lone letter."""
    if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
        return None
    first = word[0]
    if first.isascii() or "\u00c0" <= first <= "\u024f":
        if len(word) >= 7:
            word = _BRITISH_RE.sub(r"iz\1", word)
        return str(_stemmer("english").stemWord(word))
    if "\u0400" <= first <= "\u04ff":
        return str(_stemmer("russian").stemWord(word))
    return word  # Arabic script, CJK: folded words as they are


def terms(title: str, summary: str = "") -> dict[str, str]:
    """The distinct terms of an item's title and summary, each with the first word
    (as written) that produced it, in text order: ``{"recogn": "recognised", ...}``."""
    found: dict[str, str] = {}
    tokens = tokenize(f"{title}\n{summary}")
    for word, (start, end) in zip(tokens.words, tokens.spans, strict=True):
        term = _term(word)
        if term is not None and term not in found:
            found[term] = tokens.text[start:end]
    return found


# --- headline identity ------------------------------------------------------------------

# Apostrophes and full stops vanish ("Putin's" = "Putins", "U.S." = "US"), as do separators
# inside numbers ("3,500" = "3500"); every other run of non-letters is one space.
_HEADLINE_DROP = re.compile(r"['\u2018\u2019\u02bc\u0060\u00b4.]|(?<=\d)[,\u00a0](?=\d)")
_HEADLINE_SPLIT = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")

# Words of live blogs, round-ups and briefings ("live updates", "latest", "at a glance",
# "relacja na żywo"), and Polish function words (the term stopwords cover English and
# Russian): they do not make a headline specific, so they do not count as its content.
HEADLINE_FILLER = frozenset(
    """
    live updates update latest news breaking glance key events event today day days week
    weekly daily briefing roundup round digest highlights recap explained watch video videos
    photos pictures podcast analysis opinion editorial quiz morning evening blog minute
    happened know what
    relacja zywo na zywo dzien wiadomosci najnowsze najwazniejsze minuta po minucie
    sie do to nie ze za od jak jest ten ta te juz tym tak czy pod przez dla oraz bez przed
    """.split()
)


def headline_key(title: str) -> str:
    """The headline as outlets copy it: folded case, accents and script variants
    (``text.fold``), quotes, apostrophes, dashes and punctuation gone, spaces collapsed.
    "Russia’s ‘Dirty Bomb’ Claim — Explained" and "Russia's dirty-bomb claim: explained"
    share one key; the words and their order must be the same."""
    text = fold(title)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = _HEADLINE_DROP.sub("", text)
    return " ".join(_HEADLINE_SPLIT.sub(" ", text).split())


def headline_content(key: str) -> int:
    """How many distinct content words a headline key has: its terms (stopwords and wire
    credits out, stemmed) without the live-blog and round-up vocabulary."""
    return len(headline_terms(key))


@lru_cache(maxsize=1)
def _filler_terms() -> frozenset[str]:
    return frozenset(t for w in HEADLINE_FILLER if (t := _term(w)) is not None)


def headline_series(key: str) -> str:
    """The pattern of a headline key: its numbers replaced by ``#``. One outlet's "key events,
    day 290" and "day 291" share it."""
    return _DIGITS.sub("#", key)


# Two headlines are near-copies when their content words mostly agree (Jaccard) and some of
# them stand one after the other in both: "Kremlin critic Yashin jailed for 8 years for
# 'fake news' on Russia war" and "Kremlin critic jailed for 'fake news' on Russia war", or
# "Russia not to blame for Ukraine war - Putin" and "Ukraine war: Russia not to blame for
# conflict - Putin"; but not "Taliban bans women from universities in Afghanistan" and
# "Afghanistan: Taliban arrest women protesting against university ban" (most words shared,
# no two of them in the same order: another event). On the real 2022 stream (docs/stories.md)
# 0.6 and 2 joined 85 items, each read: reports of the event of the item they joined.
HEADLINE_NEAR = 0.6  # Jaccard of the two headlines' content terms
HEADLINE_RUN = 2  # content terms one after the other, in the same order, in both
# A near-copy of a headline is weaker evidence than an equal one (``headline_window``, two
# days): it joins within a day. On the real 2022 stream, near-copy headlines 43-47 hours
# apart were other events (a ban and the protests against it two days later; two missile
# barrages), while the rewrites of one report came within hours.
NEAR_REACH_MINUTES = 24 * 60
# For the same reason a near-copy needs one content word more than an equal headline: "Putin
# meets Xi in Moscow" and "... again" are four words that many reports could share.
NEAR_EXTRA_TERMS = 1
# A round-up's headline names the day, not a report ("Russia-Ukraine war: list of key events,
# day 290" and "... at a glance: what we know on day 290"): two outlets' round-ups of one
# day are near-copies in words only. Matched in headline keys (folded case and accents).
ROUNDUP = re.compile(
    r"\b(?:key events|at a glance|what we know|live updates?|live blog|latest updates|"
    r"as it happened|in pictures|(?:day|week|month) \d+|relacja na zywo|minuta po minucie|"
    r"dzien \d+)\b")


@lru_cache(maxsize=65_536)
def headline_terms(key: str) -> tuple[str, ...]:
    """A headline key's distinct content terms in order (``headline_content`` counts them)."""
    filler = _filler_terms()
    return tuple(term for term in terms(key) if term not in filler)


def near_headlines(a: str, b: str, settings: StorySettings, *,
                   same_outlet: bool = False) -> bool:
    """Whether two different headline keys are near-copies of one headline: each has
    ``headline_min_terms`` + ``NEAR_EXTRA_TERMS`` content words, their content terms agree
    at Jaccard ``HEADLINE_NEAR`` or more, and ``HEADLINE_RUN`` of them stand in the same
    order in both (a word changed, a name or a number dropped, a clause moved: one report).
    Round-ups (``ROUNDUP``) never are. Two headlines of ``same_outlet`` must also differ
    only by what one adds to the other: an outlet lengthens or shortens its own headline
    as a report develops, while its template with one word exchanged ("missile attack on
    Lviv" / "... on Zaporizhzhia") is its next report."""
    if not a or not b or a == b or settings.headline_window <= 0 or \
            ROUNDUP.search(a) or ROUNDUP.search(b):
        return False
    ta, tb = headline_terms(a), headline_terms(b)
    sa, sb = _headline_set(ta), _headline_set(tb)
    least = settings.headline_min_terms + NEAR_EXTRA_TERMS
    if len(sa) < least or len(sb) < least or len(sa & sb) < HEADLINE_NEAR * len(sa | sb):
        return False
    if same_outlet and not (sa <= sb or sb <= sa):
        return False
    return _longest_run(ta, tb) >= HEADLINE_RUN


@lru_cache(maxsize=65_536)
def _headline_set(terms: tuple[str, ...]) -> frozenset[str]:
    return frozenset(terms)


def _longest_run(a: Sequence[str], b: Sequence[str]) -> int:
    """The most terms that follow one another in both ``a`` and ``b``."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def usable_headline(key: str | None, settings: StorySettings) -> bool:
    """Whether a headline key can make two items one story: headline identity is on and
    the key has at least ``headline_min_terms`` content words."""
    if not key or settings.headline_window <= 0:
        return False
    return headline_content(key) >= settings.headline_min_terms


@lru_cache(maxsize=200_000)
def term_hash(term: str) -> int:
    """A stable 32-bit hash of a term (the same on every machine and run)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


def pack_terms(hashes: Iterable[int]) -> bytes:
    """Sorted distinct term hashes as a compact blob (4 bytes each) for the store."""
    return array("I", sorted(set(hashes))).tobytes()


def unpack_terms(blob: bytes) -> array[int]:
    """The distinct term hashes of ``pack_terms`` (a compact array, sorted)."""
    values = array("I")
    values.frombytes(blob)
    return values


def jaccard(a: frozenset[int] | set[int], b: Collection[int]) -> float:
    """|A & B| / |A | B| of a set and a collection of distinct values; 0.0 if one is empty.

    ``b`` may be an unpacked blob: intersecting a set with it needs no second set."""
    if not a or not b:
        return 0.0
    shared = len(a.intersection(b))
    return shared / (len(a) + len(b) - shared)


# --- MinHash + LSH bands -------------------------------------------------------------------

_M64 = (1 << 64) - 1


@lru_cache(maxsize=8)
def _permutations(count: int) -> tuple[tuple[int, int], ...]:
    """``count`` fixed (multiplier, increment) pairs: h(x) = ((a x + b) mod 2^64) >> 32.

    The seed is a constant so band keys stay the same across runs and machines."""
    rng = random.Random(20250703)
    return tuple((rng.getrandbits(64) | 1, rng.getrandbits(64)) for _ in range(count))


@lru_cache(maxsize=32_768)
def _term_minhashes(x: int, count: int) -> array[int]:
    """The ``count`` permuted values of one term hash. Words repeat from item to item, so
    they are computed once per term (a compact array: 32,768 terms take about 7 MB)."""
    return array("I", [((a * x + b) & _M64) >> 32 for a, b in _permutations(count)])


def minhash(hashes: Iterable[int], count: int) -> tuple[int, ...]:
    """``count`` MinHash values of a set of 32-bit term hashes (empty set: all 2^32)."""
    values = list(hashes)
    if not values:
        return (1 << 32,) * count
    # Column-wise minimum of each term's permuted values, in C (map, zip, min).
    return tuple(map(min, zip(*[_term_minhashes(x, count) for x in values], strict=True)))


def band_keys(hashes: Iterable[int], bands: int, rows: int) -> tuple[int, ...]:
    """One signed 64-bit key per band: items sharing a key are candidates.

    The key covers the band number and the (bands, rows) setting too, so keys made under
    other settings never match."""
    signature = minhash(hashes, bands * rows)
    keys = []
    for band in range(bands):
        chunk = signature[band * rows : (band + 1) * rows]
        data = struct.pack(f"<3I{rows}Q", band, bands, rows, *chunk)
        digest = hashlib.blake2b(data, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


@lru_cache(maxsize=4096)
def _cached_band_keys(hashes: frozenset[int], bands: int, rows: int) -> tuple[int, ...]:
    """``band_keys`` of a term set, remembered: wire copies repeat one text word for word,
    and its MinHash signature is half the cost of a fingerprint."""
    return band_keys(hashes, bands, rows)


@dataclass(frozen=True)
class Fingerprint:
    """What the store keeps of an item to find its story: term hashes, band keys and the
    headline key."""

    terms: frozenset[int]
    bands: tuple[int, ...]
    headline: str = ""  # headline_key of the title ("" when it has none)
    headline_bands: tuple[int, ...] = ()  # band keys of the headline's content terms
    # False: the band keys were left out (``fingerprint(..., bands=False)``): enough to
    # store the item in the story it was given, not to look up or index by
    # (``store.stories.assign`` makes the whole fingerprint when it needs it).
    complete: bool = True

    @property
    def usable(self) -> bool:
        return bool(self.bands)

    @property
    def index_keys(self) -> tuple[int, ...]:
        """Every key the store indexes the item under and looks candidates up by: its text's
        bands, and its headline's (near-copies of a headline meet there when the texts
        beside them differ too much to share a band)."""
        return self.bands + self.headline_bands


@lru_cache(maxsize=256)  # agency copy: the same title and summary in many feeds
def fingerprint(title: str, summary: str, settings: StorySettings,
                bands: bool = True) -> Fingerprint:
    """Term hashes, LSH band keys and headline key of an item. Items with fewer than
    ``min_terms`` terms get no band keys: a three-word headline is too short to tell copies
    from look-alikes. The latest texts' fingerprints are remembered (they are immutable).

    ``bands=False``: without the band keys (two thirds of the work; ``complete`` is then
    False), for an item whose story is known and that will not be indexed (an import that
    copies its file's stories, beyond a story's first indexed members)."""
    hashes = frozenset(term_hash(t) for t in terms(title, summary))
    key = headline_key(title)
    if len(hashes) < settings.min_terms:
        return Fingerprint(hashes, (), key)
    if not bands:
        return Fingerprint(hashes, (), key, complete=False)
    return Fingerprint(hashes, _cached_band_keys(hashes, settings.bands, settings.rows), key,
                       headline_band_keys(key, settings))


def headline_band_keys(key: str, settings: StorySettings) -> tuple[int, ...]:
    """The headline's own band keys (``Fingerprint.headline_bands``): none for a headline
    that cannot count (too few content words, identity off) or a round-up's."""
    if not usable_headline(key, settings) or ROUNDUP.search(key):
        return ()
    return _headline_bands(headline_terms(key))


HEADLINE_BANDS = 6  # LSH bands over a headline's own content terms (2 rows each)
_HEADLINE_SALT = 0x3C6E_F372_FE94_F82B  # keeps headline band keys apart from the text's


@lru_cache(maxsize=4096)
def _headline_bands(content: tuple[str, ...]) -> tuple[int, ...]:
    """Band keys of a headline's content terms, salted apart from any text band's."""
    keys = band_keys((term_hash(t) for t in content), HEADLINE_BANDS, 2)
    return tuple(k ^ _HEADLINE_SALT for k in keys)  # still signed 64-bit: both operands are


def minutes(when: datetime) -> int:
    """Minutes since the epoch: the time the store indexes bands by."""
    return int(when.timestamp() // 60)


def story_id_for(item_id: str) -> str:
    """The id of the story an item founds: stable, and never equal to an item id."""
    return hashlib.sha256(f"story:{item_id}".encode()).hexdigest()[:16]


# --- the decision --------------------------------------------------------------------------


class Candidate(NamedTuple):
    """An earlier item that shares at least one band with the new one, or its headline key
    (a named tuple: the store builds hundreds per item)."""

    item_id: str
    story_id: str
    t: int  # minutes since the epoch (published)
    terms: Collection[int]  # distinct term hashes
    bands_shared: int = 1  # 0: found by its headline only
    outlet: str | None = None
    headline: str | None = None  # its headline key


@dataclass(frozen=True)
class Decision:
    """Which story a new item joins: ``story_id`` None means it starts its own."""

    story_id: str | None
    via: str | None = None  # the item it joined through (the most similar, or same headline)
    similarity: float = 0.0
    compared: int = 0  # candidates checked exactly
    bands_shared: int = 0
    by: str | None = None  # "terms" or "headline" when it joined a story


def same_series(key: str, outlet: str | None, t: int, cand: Candidate,
                settings: StorySettings) -> bool:
    """Two issues of one outlet's series: headlines that differ only in their numbers
    ("key events, day 290" / "day 291"), published ``series_gap`` or more apart. They are
    never one story, however alike their words (a series repeats its standfirst too)."""
    return bool(settings.series_gap > 0 and outlet and key and cand.headline
                and cand.outlet == outlet and cand.headline != key
                and abs(cand.t - t) >= settings.series_gap_minutes
                and headline_series(cand.headline) == headline_series(key))


def recurring(outlet: str | None, t: int, matches: Sequence[Candidate],
              settings: StorySettings) -> bool:
    """Whether a headline is a template rather than a report: one outlet used it
    ``series_gap`` or more apart (among the new item and the earlier items with its key).
    A daily "what we know so far" is, an agency headline copied within hours is not."""
    if settings.series_gap <= 0:
        return False
    gap = settings.series_gap_minutes
    times: dict[str, list[int]] = {}
    for who, when in [(outlet, t), *((m.outlet, m.t) for m in matches)]:
        if who:
            times.setdefault(who, []).append(when)
    return any(max(ts) - min(ts) >= gap for ts in times.values())


def decide(
    fp: Fingerprint, t: int, candidates: Iterable[Candidate], settings: StorySettings,
    outlet: str | None = None,
) -> Decision:
    """Join the story of the nearest candidate (in time, then the earlier, then the smaller
    id) with the same usable headline key published within ``headline_window``, unless that
    headline is recurring (a template): the same headline is the strongest evidence there is.

    Otherwise join the story of the most similar candidate published within the window, if
    it is similar enough; ties go to the earlier item (then the smaller id), so the result
    does not depend on the order candidates arrive in. A candidate of the same series as the
    new item (``same_series``) is never joined."""
    best: tuple[float, int, str] | None = None
    chosen: Candidate | None = None
    compared = 0
    window, min_terms = settings.window_minutes, settings.min_terms
    key = fp.headline
    by_headline = usable_headline(key, settings)
    matches: list[Candidate] = []
    close: list[Candidate] = []  # may be near-copies of the headline (``near_headlines``)
    reach = settings.headline_window_minutes
    near_reach = min(reach, NEAR_REACH_MINUTES)
    for cand in candidates:
        if abs(cand.t - t) > window or same_series(key, outlet, t, cand, settings):
            continue
        if by_headline and cand.headline == key:
            matches.append(cand)
        elif by_headline and cand.headline and abs(cand.t - t) <= near_reach and \
                cand.bands_shared:
            close.append(cand)  # compared only if nothing closer decides (below)
        if not fp.usable or not cand.bands_shared or len(cand.terms) < min_terms:
            continue
        compared += 1
        sim = jaccard(fp.terms, cand.terms)
        if sim < settings.threshold:
            continue
        rank = (-sim, cand.t, cand.item_id)
        if best is None or rank < best:
            best, chosen = rank, cand
    near = [m for m in matches if abs(m.t - t) <= reach]
    if near and not recurring(outlet, t, matches, settings):
        match = min(near, key=lambda m: (abs(m.t - t), m.t, m.item_id))
        return Decision(match.story_id, match.item_id, jaccard(fp.terms, match.terms),
                        compared, match.bands_shared, "headline")
    if chosen is not None and best is not None:
        return Decision(chosen.story_id, chosen.item_id, -best[0], compared,
                        chosen.bands_shared, "terms")
    close = [m for m in close if near_headlines(key, m.headline or "", settings,
                                                same_outlet=bool(outlet) and m.outlet == outlet)]
    if close:  # no closer evidence: the nearest near-copy of the headline
        match = min(close, key=lambda m: (abs(m.t - t), m.t, m.item_id))
        return Decision(match.story_id, match.item_id, jaccard(fp.terms, match.terms),
                        compared, match.bands_shared, "headline")
    return Decision(None, compared=compared)


# --- explaining ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PairExplanation:
    """Why two items are (or are not) one story, in terms an analyst can check."""

    similarity: float
    threshold: float
    shared: tuple[str, ...]  # words both use (as the first item wrote them)
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    bands_shared: tuple[int, ...]  # numbers of the LSH bands whose keys are equal
    bands: int
    minutes_apart: int | None
    window_minutes: int
    too_short: bool = False
    notes: tuple[str, ...] = field(default=())
    headlines_equal: bool = False  # equal headline keys
    headline_counts: bool = False  # ... with enough content words to count (and it is on)
    series: bool = False  # headline keys that differ only in their numbers
    headlines_near: bool = False  # near-copies of one headline (``near_headlines``)
    headline_bands_shared: int = 0  # equal keys among the headlines' own bands
    headline_window_minutes: int = 0
    series_gap_minutes: int = 0
    headline_min_terms: int = 0

    @property
    def candidates(self) -> bool:
        return bool(self.bands_shared)

    @property
    def similar_enough(self) -> bool:
        return not self.too_short and self.similarity >= self.threshold

    @property
    def in_window(self) -> bool:
        return self.minutes_apart is None or self.minutes_apart <= self.window_minutes

    @property
    def same_headline(self) -> bool:
        """Equal headlines that count, within the headline window (``decide`` also checks
        that the headline is not one outlet's recurring template)."""
        return self.headlines_equal and self.headline_counts and (
            self.minutes_apart is None or self.minutes_apart <= self.headline_window_minutes)

    @property
    def near_headline(self) -> bool:
        """Near-copies of one headline, within ``NEAR_REACH_MINUTES``, that the bands (the
        text's or the headlines' own) bring together (``decide`` turns to them when no item
        is similar enough by terms)."""
        return self.headlines_near and (self.candidates or self.headline_bands_shared > 0) \
            and (self.minutes_apart is None or self.minutes_apart <= NEAR_REACH_MINUTES)


def explain_pair(
    a: tuple[str, str],
    b: tuple[str, str],
    settings: StorySettings,
    *,
    minutes_apart: int | None = None,
) -> PairExplanation:
    """Compare two items given as (title, summary): similarity, shared words and bands."""
    terms_a, terms_b = terms(*a), terms(*b)
    hashes_a = frozenset(term_hash(t) for t in terms_a)
    hashes_b = frozenset(term_hash(t) for t in terms_b)
    fp_a, fp_b = fingerprint(*a, settings), fingerprint(*b, settings)
    equal = bool(fp_a.headline) and fp_a.headline == fp_b.headline
    shared_bands = tuple(
        i for i, (x, y) in enumerate(zip(fp_a.bands, fp_b.bands, strict=False)) if x == y
    )
    return PairExplanation(
        similarity=jaccard(hashes_a, hashes_b),
        threshold=settings.threshold,
        shared=tuple(word for term, word in terms_a.items() if term in terms_b),
        only_a=tuple(word for term, word in terms_a.items() if term not in terms_b),
        only_b=tuple(word for term, word in terms_b.items() if term not in terms_a),
        bands_shared=shared_bands,
        bands=settings.bands,
        minutes_apart=minutes_apart,
        window_minutes=settings.window_minutes,
        too_short=not (fp_a.usable and fp_b.usable),
        headlines_equal=equal,
        headline_counts=equal and usable_headline(fp_a.headline, settings),
        series=(not equal and bool(fp_a.headline) and bool(fp_b.headline)
                and headline_series(fp_a.headline) == headline_series(fp_b.headline)),
        headlines_near=near_headlines(fp_a.headline, fp_b.headline, settings),
        headline_bands_shared=sum(1 for x, y in zip(fp_a.headline_bands, fp_b.headline_bands,
                                                    strict=False) if x == y),
        headline_window_minutes=settings.headline_window_minutes,
        series_gap_minutes=settings.series_gap_minutes,
        headline_min_terms=settings.headline_min_terms,
    )


def describe(exp: PairExplanation) -> Sequence[str]:
    """Plain-language lines for ``mediamon stories explain``."""
    verdict = (
        "same story" if (exp.similar_enough and exp.in_window and exp.candidates)
        or exp.same_headline or exp.near_headline else "not grouped"
    )
    lines = [
        f"similarity:  {exp.similarity:.3f} (Jaccard of their terms; the threshold is "
        f"{exp.threshold:.3f})",
        f"shared:      {len(exp.shared)} terms: {', '.join(exp.shared) or '-'}",
        f"only first:  {', '.join(exp.only_a) or '-'}",
        f"only second: {', '.join(exp.only_b) or '-'}",
        f"LSH bands:   {len(exp.bands_shared)} of {exp.bands} equal"
        + (f" ({', '.join(map(str, exp.bands_shared))})" if exp.bands_shared else "")
        + ("" if exp.bands_shared else ": never compared"),
    ]
    if exp.minutes_apart is not None:
        hours = exp.minutes_apart / 60
        lines.append(
            f"time apart:  {hours:.1f} h (window {exp.window_minutes / 60:.0f} h)"
            + ("" if exp.in_window else ": outside the window, never compared")
        )
    if exp.too_short:
        lines.append("too short:   one of them has fewer terms than stories.min_terms")
    hours = exp.headline_window_minutes / 60
    if exp.same_headline:
        lines.append(f"headline:    the same (case, quotes and punctuation aside), published "
                     f"within {hours:.0f} h: one story, unless one outlet uses it as a "
                     f"recurring title")
    elif exp.headlines_equal and exp.headline_counts:
        lines.append(f"headline:    the same, but more than {hours:.0f} h apart")
    elif exp.headlines_equal:
        lines.append(f"headline:    the same, but too generic to count (fewer than "
                     f"{exp.headline_min_terms} content words)")
    elif exp.series:
        lines.append(f"headline:    differs only in its numbers: from one outlet "
                     f"{exp.series_gap_minutes / 60:.0f} h or more apart, issues of a "
                     f"series, never one story")
    elif exp.near_headline:
        lines.append(f"headline:    a near-copy (most content words the same, {HEADLINE_RUN} or "
                     f"more in the same order), published within {NEAR_REACH_MINUTES // 60} h: "
                     f"one story when no item is similar enough by its terms")
    elif exp.headlines_near:
        lines.append(f"headline:    a near-copy, but more than {NEAR_REACH_MINUTES // 60} h "
                     f"apart or never compared (no LSH band equal)")
    lines.append(f"verdict:     {verdict}")
    return lines
