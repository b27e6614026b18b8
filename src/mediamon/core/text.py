"""Text folding and tokenising shared by topic matching and the reference profile.

The same function folds the analyst's query terms and the item text, so matching is
"what you typed, ignoring case, accents and script variants":

- Unicode NFKC, then case folding (``Ä`` -> ``ä``, ``ß`` -> ``ss``);
- combining marks removed (``é`` -> ``e``, ``ё`` -> ``е``, Arabic harakat dropped), except
  the breve of Cyrillic ``й`` and ``ў``, which are letters of their own (``й`` is not ``и``);
- Arabic-script letter variants unified (``ي``/``ى`` -> ``ی``, ``ك`` -> ``ک``, hamza forms of
  alef -> ``ا``, ``ة`` -> ``ه``), tatweel and zero-width joiners removed;
- Traditional Chinese characters folded to Simplified (OpenCC's character table: ``會談``
  -> ``会谈``), so one term matches both scripts;
- CJK ideographs, kana and hangul become one token per character, so a Chinese term is
  matched as a phrase of characters (Chinese is written without spaces).

Tokens are runs of letters and digits (with any combining marks and zero-width joiners
inside them, so ``كَتَبَ`` and Persian ``می‌خواهم`` stay one word); anything else is a boundary,
so ``Russia`` never matches inside ``Prussia``. This module does no I/O beyond reading
OpenCC's character table once, the first time a text that is not ASCII is folded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_ARABIC_FOLD = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Farsi yeh
        "\u0649": "\u06cc",  # alef maksura -> Farsi yeh
        "\u0643": "\u06a9",  # Arabic kaf -> keheh
        "\u0623": "\u0627",  # alef with hamza above -> alef
        "\u0625": "\u0627",  # alef with hamza below -> alef
        "\u0622": "\u0627",  # alef with madda -> alef
        "\u0671": "\u0627",  # alef wasla -> alef
        "\u0629": "\u0647",  # teh marbuta -> heh
        "\u06c0": "\u0647",  # heh with yeh above -> heh
        "\u0640": None,  # tatweel
        "\u200c": None,  # zero-width non-joiner (Persian half-space)
        "\u200d": None,  # zero-width joiner
        "\u00ad": None,  # soft hyphen
    }
)



def traditional_to_simplified() -> dict[int, str]:
    """OpenCC's table of Traditional characters with their Simplified form (the first
    candidate of each line): 4,000 entries, one ``str.translate`` with the Arabic folds."""
    try:
        data = resources.files("opencc") / "dictionary" / "TSCharacters.txt"
        lines = data.read_text(encoding="utf-8").splitlines()
    except (ModuleNotFoundError, OSError):  # pragma: no cover - a broken install
        return {}
    table: dict[int, str] = {}
    for line in lines:
        traditional, _, simplified = line.partition("\t")
        candidates = simplified.split()
        if len(traditional) == 1 and candidates and len(candidates[0]) == 1:
            table[ord(traditional)] = candidates[0]
    return table


@lru_cache(maxsize=1)
def _script_fold() -> dict[int, str | None]:
    """The Arabic folds and OpenCC's table in one ``str.translate`` table, built when the
    first text that is not ASCII is folded (an ASCII query or listing never pays for it)."""
    return {**traditional_to_simplified(), **_ARABIC_FOLD}

# Ideographic scripts: every character is its own token.
_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul syllables
)


def _joiner_class() -> str:
    """Regex class body: combining marks (Mn, Mc, Me) of the Basic Multilingual Plane that
    are not already word characters, plus the invisible joiners that ``fold`` removes."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        ch = chr(cp)
        if unicodedata.category(ch)[0] == "M" and not ch.isalnum():
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    body = "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)
    return body + "\\u200c\\u200d\\u00ad"


# A word starts with a letter or digit and goes on with letters, digits, combining marks
# (Arabic harakat, Indic vowel signs, decomposed accents) and zero-width joiners: those are
# inside a word, not boundaries, and folding removes the ones that do not matter.
_LETTERS = rf"[^\W_{_CJK}]"
_TOKEN_RE = re.compile(rf"[{_CJK}]|{_LETTERS}+(?:[{_joiner_class()}]+{_LETTERS}*)*")
# The same tokens for ASCII text, where a word is a run of letters and digits: about three
# times faster, and most feed items are ASCII (the relevance benchmark).
_ASCII_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")
# Cyrillic letters whose breve is part of the letter, not an accent: ``й`` is not ``и``.
_KEEP_BREVE = frozenset("иу")


def fold(text: str) -> str:
    """Fold text for matching: case, accents and script variants (see module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    text = text.translate(_script_fold())
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if not unicodedata.combining(ch) or (
            ch == "\u0306" and kept and kept[-1] in _KEEP_BREVE
        ):
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    return fold(word)


@dataclass(frozen=True)
class Tokens:
    """Folded tokens of one text, with where each came from in the original."""

    text: str  # the original text, NFC-normalised (the spans index into it)
    words: tuple[str, ...]  # folded
    spans: tuple[tuple[int, int], ...]  # (start, end) of each token in ``text``

    def surface(self, start: int, end: int) -> str:
        """The original text covered by tokens ``start`` to ``end`` inclusive."""
        return self.text[self.spans[start][0] : self.spans[end][1]]


_GROUP = re.Match.group
_SPAN = re.Match.span


def tokenize(text: str) -> Tokens:
    """Split ``text`` into folded tokens, keeping the original spans.

    Folding is done per token: folding the whole text first could change lengths and
    break the spans (``ß`` folds to ``ss``).
    """
    # NFC (not NFKC) so the spans stay valid for the returned text; each token is folded
    # with NFKC on its own below. Full-width letters and ligatures are word characters.
    if text.isascii():
        matches = list(_ASCII_TOKEN_RE.finditer(text))
    else:
        text = unicodedata.normalize("NFC", text)
        matches = list(_TOKEN_RE.finditer(text))
    # map() over the match methods keeps the per-token work in C: this runs once per item.
    words = tuple(map(fold_word, map(_GROUP, matches)))
    spans = tuple(map(_SPAN, matches))
    if "" in words:
        # Folding can leave nothing of a token (a lone mark or joiner): drop those.
        kept = [i for i, word in enumerate(words) if word]
        words = tuple(words[i] for i in kept)
        spans = tuple(spans[i] for i in kept)
    return Tokens(text, words, spans)


# Words after which a full stop does not end a sentence (titles, ranks, months, "vs.").
_ABBREVIATIONS = frozenset("""
    mr mrs ms dr prof gen col lt maj capt sgt adm gov sen rep pres st jr sr no nos vs etc
    inc ltd co corp dept approx jan feb mar apr jun jul aug sep sept oct nov dec
    ul al ob nr np tj ds pl ks gen płk ppłk mjr kpt""".split())
_STOPS = frozenset(".!?;|\n\u3002\uff01\uff1f\u061f\u06d4\u0964\u2026")


def sentence_ids(tokens: Tokens) -> list[int]:
    """The sentence each token belongs to (0, 1, 2...), for "in the same sentence".

    A sentence ends at ! ? ; | and their CJK and Arabic-script forms, at a full stop unless
    the word before it is a single letter (U.S., J. Smith; not a CJK or Hangul character,
    since those scripts are split a character at a time) or an abbreviation (Mr., Gen.),
    or what follows goes on in lower case ("e.g. the"), or it is a decimal point (3.5), and
    at every line break but the first. The first joins a headline to the sentence after it
    (an item's text is title, summary and content, one per line): a headline is a sentence
    in short, and its lead often names who it means ("Moscow lifts the ban" / "The Taliban
    welcomed..."). A headline with a full stop of its own still ends there. In a list of
    hashtags ("#ukraine #taliban #russians") each tag after the first is a sentence of its
    own: the tags are labels, not words of one sentence (a hashtag inside prose is not
    split off).
    """
    ids = [0] * len(tokens.words)
    text, spans = tokens.text, tokens.spans
    current = 0
    first_break = True
    tag = bool(spans) and text[: spans[0][0]].endswith("#")
    for i in range(1, len(spans)):
        gap = text[spans[i - 1][1] : spans[i][0]]
        line_break = "\n" in gap
        after_tag, tag = tag, gap.endswith("#")
        if (gap and not gap.isspace() and _ends_sentence(gap, tokens, i)) or \
                (line_break and not first_break) or (tag and after_tag):
            current += 1
        if line_break:
            first_break = False
        ids[i] = current
    return ids


def _ends_sentence(gap: str, tokens: Tokens, i: int) -> bool:
    if not any(ch in _STOPS for ch in gap):
        return False
    if any(ch in _STOPS and ch != "." for ch in gap):
        return True
    before, after = tokens.words[i - 1], tokens.text[tokens.spans[i][0]]
    # A single letter before the stop is an initial (U.S., J. Smith); a single CJK or Hangul
    # character is not: those scripts are split a character at a time.
    initial = len(before) == 1 and not is_cjk(before)
    return not (initial or before in _ABBREVIATIONS or after.islower()
                or (before.isdigit() and after.isdigit()))


def words(text: str) -> list[str]:
    """Folded tokens only, for callers that need no spans (the same words as ``tokenize``)."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    folded = (fold_word(m.group()) for m in _TOKEN_RE.finditer(text))
    return [word for word in folded if word]


def is_cjk(ch: str) -> bool:
    return bool(_TOKEN_RE.fullmatch(ch)) and bool(re.match(f"[{_CJK}]", ch))
