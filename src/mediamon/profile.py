"""The reference profile: a weighted term vector built from the seed article(s).

An item's *similarity* is the cosine between its term vector and the profile, in [0, 1].
Terms are folded words (see ``text``), with stopwords removed and Snowball-stemmed by script
(Latin -> English, Cyrillic -> Russian; other scripts are kept as folded words), so
"recognise", "recognised" and "recognising" count as one term.

Weights are sublinear term frequency (1 + log tf) times an inverse document frequency. IDF
comes from ``idf`` when the caller has a background (items seen so far); without one every
term weighs the same and stopwords do the work.

snowballstemmer is used because it is the reference implementation of the Snowball stemmers,
pure Python with an optional C speed-up (PyStemmer), and covers Russian as well as English.
This module does no I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from .text import words

# Function words that carry no topic (English and Russian, the seed's languages and the
# commonest others in the default feeds). Folded forms, as ``text.fold`` produces them.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself s t said
    says say one two new also us mr ms may might must shall many much well since yet via
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
    него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо
    ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто
    этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были
    куда зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти
    нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше
    чуть том нельзя такой им более всегда конечно всю между это также заявил
    """.split()
)

_STEMMERS = {
    "latin": snowballstemmer.stemmer("english"),
    "cyrillic": snowballstemmer.stemmer("russian"),
}


def _script(word: str) -> str | None:
    first = word[0]
    if first.isascii():
        return "latin"
    if "\u0400" <= first <= "\u04ff":
        return "cyrillic"
    if "\u00c0" <= first <= "\u024f":
        return "latin"
    return None


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball stem of a folded word, chosen by its script; other scripts unchanged."""
    script = _script(word)
    if script is None:
        return word
    return str(_STEMMERS[script].stemWord(word))


def terms(text: str) -> list[str]:
    """Stemmed content terms of ``text``: folded, stopwords and 1-letter words and numbers out."""
    out = []
    for word in words(text):
        if len(word) < 2 or word in STOPWORDS or word.isdigit():
            continue
        out.append(stem(word))
    return out


def _vector(counts: Mapping[str, int], idf: Mapping[str, float] | None) -> dict[str, float]:
    vec = {
        term: (1.0 + math.log(tf)) * (idf.get(term, 1.0) if idf else 1.0)
        for term, tf in counts.items()
    }
    norm = math.sqrt(sum(w * w for w in vec.values()))
    return {t: w / norm for t, w in vec.items()} if norm else {}


@dataclass(frozen=True)
class Similarity:
    value: float  # cosine in [0, 1]
    shared: tuple[str, ...]  # the profile words that contributed most, most first


@dataclass(frozen=True)
class Profile:
    """A normalised term vector and, for explanations, a readable word for each stem."""

    weights: Mapping[str, float]
    labels: Mapping[str, str]

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, idf: Mapping[str, float] | None = None) -> Profile:
        counts: Counter[str] = Counter()
        labels: dict[str, str] = {}
        for text in texts:
            for word in words(text):
                if len(word) < 2 or word in STOPWORDS or word.isdigit():
                    continue
                term = stem(word)
                counts[term] += 1
                labels.setdefault(term, word)
        return cls(_vector(counts, idf), labels)

    def top_terms(self, n: int = 20) -> list[tuple[str, float]]:
        ranked = sorted(self.weights.items(), key=lambda kv: -kv[1])[:n]
        return [(self.labels.get(t, t), w) for t, w in ranked]

    def similarity(self, text: str, *, top: int = 8) -> Similarity:
        """Cosine similarity of ``text`` to the profile, with the shared terms that weigh most."""
        if not self.weights:
            return Similarity(0.0, ())
        item = _vector(Counter(terms(text)), None)
        contributions = [
            (w * self.weights[t], t) for t, w in item.items() if t in self.weights
        ]
        if not contributions:
            return Similarity(0.0, ())
        value = min(1.0, sum(c for c, _ in contributions))
        contributions.sort(reverse=True)
        shared = tuple(self.labels.get(t, t) for _, t in contributions[:top])
        return Similarity(value, shared)
