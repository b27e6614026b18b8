"""Score an item against the analyst's topics and the reference profile, and decide to keep it.

    R = 1                                    if the keep rule matched
        0.5 x (positive topics matched / positive topics)    otherwise
    S = similarity to the reference profile, in [0, 1] (see ``profile``; 0 without seeds)
    score = 0.6 R + 0.4 S                    (with no profile: score = R)

*Positive topics* are the ones the keep rule names outside any NOT, directly or through
other topics (``TopicSet.positive_topics``); exclusions such as ``@offtopic`` never raise R.
So adding a word that a positive topic looks for never lowers the score unless the same
word completes an exclusion: the rule can only start to match, R only grows, and S has no
length normalisation.

``kept`` depends on ``[keep] mode``: ``rule`` (the keep rule matched), ``profile``
(S >= ``[profile] threshold``), ``either`` or ``both``. Every decision carries its
explanation (topics, the words that matched each, the shared profile words, R, S, score).

Pure: no I/O, no clock. The background and the analyst's labels are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any, Literal, Protocol

from mediamon.core.profile import Background, Profile, terms_of_words
from mediamon.core.text import tokenize
from mediamon.core.topics import Or, Ref, TopicSet
from mediamon.types import Item, Match, TopicHit

KeepMode = Literal["rule", "profile", "either", "both"]
KEEP_MODES: tuple[KeepMode, ...] = ("rule", "profile", "either", "both")


class _Keep(Protocol):
    @property
    def mode(self) -> KeepMode: ...


class _ProfileSettings(Protocol):
    @property
    def threshold(self) -> float: ...


class ScorerConfig(Protocol):
    """What a scorer is built from (``mediamon.config.Config`` is one): core knows the shape,
    not the config module."""

    @property
    def topic_set(self) -> TopicSet: ...
    @property
    def seed_texts(self) -> tuple[str, ...]: ...
    @property
    def keep(self) -> _Keep: ...
    @property
    def profile(self) -> _ProfileSettings: ...


# ``text.tokenize``'s words of an ASCII text: runs of ASCII letters and digits, folded
# (for ASCII, folding is lower-casing), without the spans only a matching query needs.
# Letters lower-cased and everything else made a space in one pass, then split: three times
# faster than a regular expression on long texts.
_ASCII_FOLD = str.maketrans({chr(i): chr(i).lower() if chr(i).isalnum() else " "
                             for i in range(128)})


def _ascii_words(text: str) -> list[str]:
    return text.translate(_ASCII_FOLD).split()


RULE_WEIGHT = 0.6
PROFILE_WEIGHT = 0.4
PARTIAL_RULE = 0.5  # R's ceiling when the keep rule does not match

# Texts whose verdicts a scorer remembers (the latest distinct ones). Agency copy runs word
# for word in many feeds, and a feed poll meets each text once per copy; its verdict is the
# same each time, so a copy costs a dictionary lookup instead of a second scoring.
REMEMBERED_TEXTS = 256


@dataclass(frozen=True)
class Scorer:
    topics: TopicSet
    profile: Profile | None
    mode: KeepMode = "rule"
    threshold: float = 0.25
    positive: frozenset[str] = field(default=frozenset(), compare=False)
    # False: list the matched terms only for kept items (a feed pass that stores only kept
    # items never shows the others, and collecting terms is a third of the rule path's time).
    explain_unkept: bool = True
    # False: ``rejects`` never rejects (the differential tests compare with and without it).
    prefilter: bool = field(default=True, compare=False)
    # True with article fetching on (``enrich``): ``rejects`` lets through an item that may
    # match a positive topic, whose article may complete the keep rule.
    article_candidates: bool = field(default=False, compare=False)
    _candidates: TopicSet | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._remember()
        if not self.positive:
            object.__setattr__(self, "positive", frozenset(self.topics.positive_topics()))
        if self.article_candidates and self.positive:
            # The prefilter's test for "any positive topic" rather than for the keep rule.
            anyone = Or(tuple(Ref(name) for name in sorted(self.positive)))
            object.__setattr__(self, "_candidates", self.topics.with_keep(anyone))

    @classmethod
    def from_config(
        cls,
        config: ScorerConfig,
        *,
        background: Background | None = None,
        relevant: Sequence[str] = (),
        irrelevant: Sequence[str] = (),
        explain_unkept: bool = True,
    ) -> Scorer:
        """The scorer for a config: its topics, keep rule and mode, and a profile built from
        its seeds over ``background`` (built-in when None), moved by labelled texts."""
        profile = None
        if config.seed_texts:
            profile = Profile.from_texts(
                config.seed_texts, background=background, relevant=relevant,
                irrelevant=irrelevant)
        return cls(config.topic_set, profile, config.keep.mode, config.profile.threshold,
                   explain_unkept=explain_unkept)

    def _remember(self) -> None:
        """A fresh memory of recent verdicts (``score_text``): per scorer, never pickled (a
        worker process gets the scorer without it), thread-safe (``lru_cache``)."""
        object.__setattr__(self, "_recent", lru_cache(maxsize=REMEMBERED_TEXTS)(self._score))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_recent"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._remember()

    def score_item(self, item: Item) -> Match:
        return self.score_text(item.text, published=item.published)

    def rejects(self, text: str) -> Match | None:
        """The prefilter: a Match with ``kept=False`` when ``text`` cannot be kept (in
        ``rule`` and ``both`` mode, the keep rule cannot match: ``TopicSet.could_keep``),
        else None (the text needs ``score_text``). Only its ``kept`` and ``doc_terms`` are
        those ``score_text`` would give (the tests prove it on every corpus); the score,
        topics and similarity are left at zero. So it is only for items that are never
        stored and never shown: new ones, when unkept items are not kept (no keep_all).

        Most feed items contain no word the keep rule needs, and this costs a fraction of
        ``score_text``: their words without spans, no query evaluated, no similarity."""
        if self.mode not in ("rule", "both") or not self.prefilter:
            return None
        words = set(_ascii_words(text) if text.isascii() else tokenize(text).words)
        if self.topics.could_keep(words):
            return None
        if self._candidates is not None and self._candidates.could_keep(words):
            return None  # an article candidate (``article_candidates``)
        # The distinct terms of the distinct words: the same set, each word stemmed once.
        doc_terms = (tuple(sorted(set(terms_of_words(words)))) if self.profile is not None
                     else None)
        return Match(kept=False, score=0.0, similarity=0.0, topics=(), rule_matched=False,
                     doc_terms=doc_terms)

    def score_text(self, text: str, *, published: date | None = None) -> Match:
        """Score ``text``, published on ``published`` (None: undated; topics with a date
        window, ``TopicSet.compile``'s ``since``, then always apply).

        A text met again (a copy in another feed) gets the verdict it got last time, if it
        is among the ``REMEMBERED_TEXTS`` latest and its date leaves out the same topics:
        the verdict depends on nothing else."""
        recent: Any = self.__dict__["_recent"]
        return recent(text, tuple(self.topics.off(published)))  # type: ignore[no-any-return]

    def _score(self, text: str, off: tuple[str, ...]) -> Match:
        """``score_text`` with the topics left out by the date (``TopicSet.off``) given."""
        tokens = tokenize(text)
        result = self.topics.match(tokens, terms=self.explain_unkept, off=off)
        if result.keep:
            rule = 1.0
        else:
            positive = self.positive
            matched = sum(1 for hit in result.hits if hit.topic in positive)
            rule = PARTIAL_RULE * matched / (len(positive) or 1)
        doc_terms = None
        if self.profile is not None:
            item_terms = terms_of_words(tokens.words)
            sim = self.profile.similarity_terms(item_terms)
            similarity, shared = sim.value, sim.shared
            score = RULE_WEIGHT * rule + PROFILE_WEIGHT * similarity
            doc_terms = tuple(sorted(set(item_terms)))
        else:
            similarity, shared, score = 0.0, (), rule
        by_profile = self.profile is not None and similarity >= self.threshold
        kept = {
            "rule": result.keep,
            "profile": by_profile,
            "either": result.keep or by_profile,
            "both": result.keep and by_profile,
        }[self.mode]
        if kept and not self.explain_unkept:
            result = self.topics.explain(result)
        return Match(
            kept=kept,
            score=round(score, 6),
            similarity=round(similarity, 6),
            topics=result.hits,
            rule_matched=result.keep,
            profile_terms=shared,
            rule_score=round(rule, 6),
            doc_terms=doc_terms,
        )


# -- scoring with an item's article (docs/articles.md) ------------------------------------

ARTICLE_MARK = "article:"  # a matched term found in the article only, not in the feed text
MatchedOn = Literal["feed", "article"]


def score_with_article(scorer: Scorer, feed_text: str, article_text: str, *,
                       feed_match: Match | None = None,
                       published: date | None = None) -> tuple[Match, MatchedOn | None]:
    """An item's verdict on its feed text and its article's text, and what kept it.

    The item is kept when its feed text is (``feed_match``, scored here when None), or when
    the feed text and the article together are: an article never unkeeps an item (a NOT
    that only the article's words complete leaves the feed's verdict). The match returned
    is the one with the article unless that would unkeep the item; in it, each topic term
    found in the article but not in the feed text is marked ``article:`` (``ARTICLE_MARK``).
    ``matched_on``: "feed" when the feed text alone was kept, "article" when only the
    article made it, None when neither did.
    """
    if feed_match is None:
        feed_match = scorer.score_text(feed_text, published=published)
    both = scorer.score_text(f"{feed_text}\n\n{article_text}", published=published)
    if feed_match.kept and not both.kept:
        return feed_match, "feed"
    matched_on: MatchedOn | None = "feed" if feed_match.kept else \
        "article" if both.kept else None
    if not any(hit.terms for hit in both.topics):
        return both, matched_on
    in_feed = scorer.topics.match(tokenize(feed_text), published=published)
    feed_terms = {hit.topic: {term.casefold() for term in hit.terms} for hit in in_feed.hits}
    hits = tuple(
        TopicHit(hit.topic, tuple(
            term if term.casefold() in feed_terms.get(hit.topic, ()) else ARTICLE_MARK + term
            for term in hit.terms))
        for hit in both.topics)
    return replace(both, topics=hits), matched_on
