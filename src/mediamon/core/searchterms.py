"""Search queries in every script: inflected forms and Chinese, Japanese and Korean words.

SQLite's word index (FTS5, ``unicode61``) finds a word only as it is written: ``талибы``
does not find ``талибов``, and Chinese, Japanese and Korean text, written without spaces,
is indexed as long runs, so ``塔利班`` finds nothing inside ``俄罗斯承认塔利班政府``.

- **Inflections.** ``expand_query`` rewrites each bare word of a query in an inflected
  language into a prefix of its stem: Russian and Ukrainian (Cyrillic, the Snowball Russian
  stemmer: ``талибы`` -> ``талиб*``, which finds талибов, талибами...), Persian, Dari, Pashto,
  Urdu and Arabic (Arabic script: the plural and possessive endings ``ها``, ``های``, ``ات``
  are dropped and the rest is a prefix: ``سفارت‌ها`` -> ``سفارت*``), Turkish, Polish and the
  other Snowball languages when the query says which (``--lang tr``) or the word's letters
  do (ğ ı ş: Turkish; ą ę ł ń ś ź ż: Polish). Quoted phrases, ``prefix*``, ``column:word``,
  operators and words of other languages are left as written (an English search means what
  it says).
- **CJK.** ``cjk_terms`` gives the words of a query that contain CJK characters; the store
  searches those in a character-trigram index of the items that have such text
  (``store.scripts``).

Pure: no I/O.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from mediamon.errors import QueryError

_TOKEN = re.compile(r'"[^"]*"|[()]|[^\s()"]+')
_OPERATORS = frozenset({"AND", "OR", "NOT"})
# Scripts as code point ranges: a regular expression with these classes takes milliseconds
# to compile, which every `mediamon search` would pay at start-up.
_CYRILLIC = ((0x0400, 0x04FF),)
_ARABIC_SCRIPT = ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_CJK = ((0x3040, 0x30FF), *_HAN, (0xAC00, 0xD7AF))  # core.text's: kana, ideographs, hangul
_TURKISH = frozenset("ğışĞİŞ")
_POLISH = frozenset("ąęłńśźżĄĘŁŃŚŹŻ")


def _has(text: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= ord(ch) <= high for ch in text for low, high in ranges)


# Plural and possessive endings of Persian-script nouns, with or without the zero-width
# non-joiner: dropped before the prefix (longest first).
_ARABIC_SCRIPT_ENDINGS = ("\u200cهای", "\u200cها", "های", "ها", "ات")
# The one table of which stemmer a language takes (ISO 639-1 -> Snowball algorithm):
# SQLite search's query expansion here (``--lang``), and PostgreSQL's text-search
# configuration of each item (``store.postgres.schema.TS_CONFIGS``: the ones PostgreSQL
# ships, which are Snowball's under the same names).
STEMMERS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
    "da": "danish", "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian",
    "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian",
    "nb": "norwegian", "nn": "norwegian", "pl": "polish", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
MIN_STEM = 3  # a shorter stem would find too much: the word stays as written


@cache
def _stemmer(name: str) -> Any:
    import snowballstemmer  # on the first inflected query only: the CLI starts without it

    return snowballstemmer.stemmer(name)


def has_cjk(text: str) -> bool:
    """Whether ``text`` has a Chinese, Japanese or Korean character."""
    return not text.isascii() and _has(text, _CJK)


def cjk_terms(query: str) -> list[tuple[str, ...]]:
    """The words of a query that has CJK text, each with its other spelling (Traditional
    Chinese also as Simplified: ``俄羅斯`` and ``俄罗斯``), for the trigram index; every word
    must occur. Such a query takes plain words and phrases (quotes are dropped); OR, NOT,
    NEAR, parentheses, prefixes and columns raise ``QueryError``."""
    terms: list[tuple[str, ...]] = []
    for token in _TOKEN.findall(query):
        if token == "AND":
            continue
        if token in _OPERATORS or token in "()" or token.upper().startswith("NEAR") \
                or (not token.startswith('"') and (token.endswith("*") or ":" in token)):
            raise QueryError(
                f"{token!r}: a search with Chinese, Japanese or Korean words takes plain "
                f"words and phrases, all of which must occur (no OR, NOT, NEAR, "
                f"parentheses, prefix* or column:)")
        for word in token.strip('"').split():
            term = spellings(word)
            if term not in terms:
                terms.append(term)
    return terms


MAX_SPELLINGS = 16


def spellings(word: str) -> tuple[str, ...]:
    """``word`` and its other Chinese spellings: Simplified and Traditional characters
    both ways (``小麦``, ``小麥``), from OpenCC's character table (``core.text``), at most
    ``MAX_SPELLINGS``; the word alone when it has no Chinese character."""
    if not _has(word, _HAN):
        return (word,)
    from mediamon.core.text import fold_word

    traditional = _traditional()
    options: list[list[str]] = []
    for ch in word:
        if not _has(ch, _HAN):
            options.append([ch])
            continue
        simple = fold_word(ch) or ch
        options.append(list(dict.fromkeys([ch, simple, *traditional.get(simple, ())])))
    found = [""]
    for choice in options:
        found = [head + ch for head in found for ch in choice][:MAX_SPELLINGS]
    return tuple(dict.fromkeys([word, *found]))


@lru_cache(maxsize=1)
def _traditional() -> dict[str, tuple[str, ...]]:
    """Simplified character -> the Traditional ones that fold to it."""
    from mediamon.core.text import traditional_to_simplified

    table: dict[str, list[str]] = {}
    for code, simple in traditional_to_simplified().items():
        table.setdefault(simple, []).append(chr(code))
    return {simple: tuple(trads) for simple, trads in table.items()}


def stem_prefix(word: str, language: str | None = None) -> str | None:
    """``word`` as a stem prefix (``talib*``) when it is in an inflected language this module
    knows (``language``, an ISO 639-1 code, or its letters), else None."""
    if not word.replace("\u200c", "").isalpha():
        return None  # digits, hyphens, apostrophes: as written
    lowered = word.lower()
    if _has(word, _ARABIC_SCRIPT):
        base = lowered
        for ending in _ARABIC_SCRIPT_ENDINGS:
            if base.endswith(ending) and len(base) - len(ending) >= MIN_STEM:
                base = base[: -len(ending)]
                break
        return base.rstrip("\u200c") + "*" if len(base) >= MIN_STEM else None
    name = STEMMERS.get(language or "")
    if name is None:
        if _has(word, _CYRILLIC):
            name = "russian"
        elif _TURKISH.intersection(word):
            name = "turkish"
        elif _POLISH.intersection(word):
            name = "polish"
        else:
            return None
    if name == "russian" and not _has(word, _CYRILLIC):
        return None  # a Latin word in a Russian search
    # A stem need not be a prefix of the word (Turkish büyükelçiliği -> büyükelçilik): the
    # part they share is.
    stemmed = _stemmer(name).stemWord(lowered)
    shared = next((i for i, (a, b) in enumerate(zip(lowered, stemmed, strict=False)) if a != b),
                  min(len(lowered), len(stemmed)))
    stem = lowered[:shared]
    if len(stem) < MIN_STEM:
        return None
    return stem + "*"


def expand_query(query: str, language: str | None = None) -> str:
    """``query`` (FTS5 syntax) with each bare word of an inflected language replaced by its
    stem prefix (``stem_prefix``); everything else as written. A query with nothing to
    expand comes back unchanged, character for character."""
    tokens = _TOKEN.findall(query)
    changed = False
    out: list[str] = []
    for token in tokens:
        replacement = None
        if (token not in _OPERATORS and not token.startswith('"') and token not in "()"
                and not token.endswith("*") and ":" not in token and "^" not in token
                and not token.upper().startswith("NEAR")):
            replacement = stem_prefix(token, language)
        if replacement is not None and replacement != token:
            changed = True
            out.append(replacement)
        else:
            out.append(token)
    if not changed:
        return query
    text = " ".join(out)
    return text.replace("( ", "(").replace(" )", ")")
