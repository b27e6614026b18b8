"""The reference profile: a weighted term vector built from the seed article(s), and an
item's *similarity* to it, in [0, 1].

Terms are folded words (see ``text``), stopwords and numbers removed, Snowball-stemmed by
script (Latin -> English, Cyrillic -> Russian; Arabic script and CJK are kept as folded
words), so "recognise", "recognised" and "recognising" are one term.

Profile (the query side)::

    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))        BM25's idf over a background
    v_d(t)   = (1 + ln tf_d(t)) x idf(t), then L2-normalised    one vector per text
    q        = 1.0 x mean(v_seed) + 0.75 x mean(v_relevant) - 0.25 x mean(v_irrelevant)
    w(t)     = the PROFILE_SIZE largest positive entries of q, scaled to sum to 1

``q`` is Rocchio's relevance feedback (Manning, Raghavan and Schuetze, "Introduction to
Information Retrieval", 9.1.1, with their suggested weights); without analyst labels it is
just the seeds. N and df come from a ``Background``: a built-in table (document frequencies
of about 19,000 feed items, made by ``scripts/build_background.py``) plus the document
frequencies of every item mediamon has parsed, which the store grows with each feed pass.

Similarity (the item side) is BM25 with ``b = 0`` and the profile as a weighted query,
divided by its supremum (so ``B`` lies in [0, 1)), then spread out over [0, 1)::

    B = sum over profile terms t of  w(t) x tf(t) / (tf(t) + K1)
    S = 1 - exp(-B / TAU)

With ``b = 0`` there is no length normalisation, so adding words to a text never lowers S
(feed items are headlines and summaries of similar length; long texts cannot run away
either, because each term saturates at w(t)). ``B`` of an on-topic English headline is
about 0.02-0.1 (it shares a handful of the 60 terms), hence TAU = 0.05: such a headline gets
S of 0.3-0.85, and the seed article itself about 1.

snowballstemmer is the reference implementation of the Snowball stemmers (pure Python,
faster with PyStemmer installed). This module does no I/O except reading the built-in
background from the package.
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from mediamon.core.text import words

K1 = 1.2  # BM25 term-frequency saturation
TAU = 0.05  # spreads the BM25 fraction B over [0, 1): S = 1 - exp(-B / TAU)
PROFILE_SIZE = 60  # profile terms kept
ROCCHIO = (1.0, 0.75, 0.25)  # alpha (seeds), beta (relevant), gamma (irrelevant)
BACKGROUND_RESOURCE = "background.tsv.gz"

# Function words that carry no topic, for the languages of the default feeds. Folded
# forms, as ``text.fold`` produces them. Short on purpose: IDF does the rest.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself s t said
    says say one two new us mr ms may might must shall many much well since yet via
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
    него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо
    ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто
    этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были
    куда зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти
    нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше
    чуть том нельзя такой им более всегда конечно всю между это также заявил
    der die das den dem des ein eine einer eines und oder nicht mit von zu im ist sind war auf
    fur als auch es sich bei nach aus wie am um hat haben wird werden
    le la les un une des du de et ou en au aux est sont pour par sur dans avec qui que ne pas
    el los las una unos y o del al es son para por con que se su sus lo
    il lo gli i e di da per con che non si
    ve ile bir bu da de icin olarak ki gibi daha en
    و در به از که این را با است برای آن یک تا هم بر شد می ها های ای شده کرد ده
    د په له او چې دا یې ته هم کې
    کے کی کا اور میں نے کو سے ہے پر یہ
    فی من علی الی ان عن مع هذا هذه التی الذی کان
    ва дар ба аз бо ки ин va bilan uchun bu ham
    """.split()
)

_LANGUAGES = {"latin": "english", "cyrillic": "russian"}


@lru_cache(maxsize=2)
def _stemmer(script: str) -> Any:
    """The Snowball stemmer of a script, made on first use: importing snowballstemmer loads
    every language it has (tens of ms at each start of a command that stems nothing)."""
    import snowballstemmer

    return snowballstemmer.stemmer(_LANGUAGES[script])


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
    return str(_stemmer(script).stemWord(word))


@lru_cache(maxsize=200_000)
def _term(word: str) -> str | None:
    """The profile term of one folded word, or None for a stopword, number or 1-letter word."""
    if len(word) < 2 or word in STOPWORDS or word.isdigit():
        return None
    return stem(word)


def terms_of_words(folded: Iterable[str]) -> list[str]:
    """Profile terms of already folded words (``Tokens.words``), in text order."""
    return [t for t in map(_term, folded) if t is not None]


def terms(text: str) -> list[str]:
    """Stemmed content terms of ``text``: folded, stopwords, 1-letter words and numbers out."""
    return terms_of_words(words(text))


# --------------------------------------------------------------------------------------
# Background document frequencies


@dataclass(frozen=True)
class Background:
    """Document frequencies: how many of ``documents`` texts contain each term."""

    documents: int = 0
    df: Mapping[str, int] = field(default_factory=dict)

    def idf(self, term: str) -> float:
        """BM25's idf, always positive: rare terms weigh most, unseen ones most of all."""
        df = self.df.get(term, 0)
        return math.log(1.0 + (self.documents - df + 0.5) / (df + 0.5))

    def plus(self, documents: int, df: Mapping[str, int]) -> Background:
        """This background with more documents counted in (e.g. the database's)."""
        if not documents:
            return self
        merged = dict(self.df)
        for term, count in df.items():
            merged[term] = merged.get(term, 0) + count
        return Background(self.documents + documents, merged)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Background:
        """Count document frequencies over ``texts`` (the build script and tests use it)."""
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            n += 1
            df.update(set(terms(text)))
        return cls(n, dict(df))

    def dumps(self) -> str:
        """The TSV form of the built-in table: a ``#documents`` line, then term<TAB>df."""
        lines = [f"#documents\t{self.documents}"]
        lines += [f"{t}\t{c}" for t, c in sorted(self.df.items(), key=lambda kv: (-kv[1], kv[0]))]
        return "\n".join(lines) + "\n"

    @classmethod
    def loads(cls, text: str) -> Background:
        documents = 0
        df: dict[str, int] = {}
        for line in text.splitlines():
            key, _, value = line.partition("\t")
            if key == "#documents":
                documents = int(value)
            elif key and value:
                df[key] = int(value)
        return cls(documents, df)


@lru_cache(maxsize=1)
def builtin_background() -> Background:
    """The cold-start background shipped with mediamon (empty if the file is missing)."""
    try:
        data = resources.files("mediamon").joinpath("data", BACKGROUND_RESOURCE).read_bytes()
    except (FileNotFoundError, OSError):
        return Background()
    return Background.loads(gzip.decompress(data).decode("utf-8"))


# --------------------------------------------------------------------------------------
# Profile and similarity


def _vector(text: str, background: Background) -> dict[str, float]:
    """One text's (1 + ln tf) x idf vector, L2-normalised."""
    counts = Counter(terms(text))
    vec = {t: (1.0 + math.log(tf)) * background.idf(t) for t, tf in counts.items()}
    norm = math.sqrt(sum(w * w for w in vec.values()))
    return {t: w / norm for t, w in vec.items()} if norm else {}


def _centroid(texts: Sequence[str], background: Background) -> dict[str, float]:
    """The mean of the texts' vectors."""
    total: dict[str, float] = {}
    vectors = [_vector(text, background) for text in texts]
    for vec in vectors:
        for t, w in vec.items():
            total[t] = total.get(t, 0.0) + w
    return {t: w / len(vectors) for t, w in total.items()} if vectors else {}


@dataclass(frozen=True)
class Similarity:
    value: float  # in [0, 1]
    shared: tuple[str, ...]  # the profile words that contributed most, most first


@dataclass(frozen=True)
class Profile:
    """Profile term weights (summing to 1) and, for explanations, a readable word per stem."""

    weights: Mapping[str, float]
    labels: Mapping[str, str]

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        *,
        background: Background | None = None,
        relevant: Sequence[str] = (),
        irrelevant: Sequence[str] = (),
        size: int = PROFILE_SIZE,
    ) -> Profile:
        """Build the profile from seed texts, optionally moved by the analyst's labels.

        Args:
            texts: the seed article(s).
            background: document frequencies for idf; the built-in table when None.
            relevant, irrelevant: texts the analyst labelled (Rocchio feedback).
            size: how many terms to keep.
        """
        seeds = list(texts)
        bg = builtin_background() if background is None else background
        alpha, beta, gamma = ROCCHIO
        query: dict[str, float] = {}
        for weight, group in ((alpha, seeds), (beta, relevant), (-gamma, irrelevant)):
            for t, w in _centroid(group, bg).items():
                query[t] = query.get(t, 0.0) + weight * w
        ranked = sorted(((w, t) for t, w in query.items() if w > 0), key=lambda x: (-x[0], x[1]))
        top = ranked[:size]
        total = sum(w for w, _ in top)
        weights = {t: w / total for w, t in top} if total else {}
        labels: dict[str, str] = {}
        for text in [*seeds, *relevant]:
            for word in words(text):
                term = _term(word)
                if term in weights:
                    labels.setdefault(term, word)
        return cls(weights, labels)

    def top_terms(self, n: int = 20) -> list[tuple[str, float]]:
        ranked = sorted(self.weights.items(), key=lambda kv: -kv[1])[:n]
        return [(self.labels.get(t, t), w) for t, w in ranked]

    def similarity(self, text: str, *, top: int = 8) -> Similarity:
        """Similarity of ``text`` to the profile, with the shared terms that weigh most."""
        return self.similarity_terms(terms(text), top=top)

    def similarity_terms(self, item_terms: Iterable[str], *, top: int = 8) -> Similarity:
        """``similarity`` for terms already extracted (``terms_of_words``)."""
        weights = self.weights
        counts: dict[str, int] = {}
        for t in item_terms:
            if t in weights:
                counts[t] = counts.get(t, 0) + 1
        if not counts:
            return Similarity(0.0, ())
        contributions = sorted(
            ((weights[t] * tf / (tf + K1), t) for t, tf in counts.items()), reverse=True)
        value = 1.0 - math.exp(-sum(c for c, _ in contributions) / TAU)
        shared = tuple(self.labels.get(t, t) for _, t in contributions[:top])
        return Similarity(value, shared)
