"""Score an item against the analyst's topics and the reference profile, and decide to keep it.

    R = 1                                   if the keep rule matched
        0.5 x (topics matched / topics)     otherwise
    S = cosine similarity to the reference profile, in [0, 1] (0 without seeds)
    score = 0.6 R + 0.4 S                   (with no profile: score = R)

``kept`` depends on ``[keep] mode``: ``rule`` (the keep rule matched), ``profile``
(S >= ``[profile] threshold``), ``either`` or ``both``. Every decision carries its
explanation (topics, the words that matched each, the shared profile words, S, score).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config, KeepMode
from .profile import Profile
from .text import tokenize
from .topics import TopicSet
from .types import Item, Match

RULE_WEIGHT = 0.6
PROFILE_WEIGHT = 0.4


@dataclass(frozen=True)
class Scorer:
    topics: TopicSet
    profile: Profile | None
    mode: KeepMode = "rule"
    threshold: float = 0.25

    @classmethod
    def from_config(cls, config: Config) -> Scorer:
        profile = Profile.from_texts(config.seed_texts) if config.seed_texts else None
        return cls(config.topic_set, profile, config.keep.mode, config.profile.threshold)

    def score_item(self, item: Item) -> Match:
        return self.score_text(item.text)

    def score_text(self, text: str) -> Match:
        result = self.topics.match(tokenize(text))
        n_topics = len(self.topics.names) or 1
        rule = 1.0 if result.keep else 0.5 * len(result.hits) / n_topics
        if self.profile is not None:
            sim = self.profile.similarity(text)
            similarity, shared = sim.value, sim.shared
            score = RULE_WEIGHT * rule + PROFILE_WEIGHT * similarity
        else:
            similarity, shared, score = 0.0, (), rule
        by_profile = self.profile is not None and similarity >= self.threshold
        kept = {
            "rule": result.keep,
            "profile": by_profile,
            "either": result.keep or by_profile,
            "both": result.keep and by_profile,
        }[self.mode]
        return Match(
            kept=kept,
            score=round(score, 6),
            similarity=round(similarity, 6),
            topics=result.hits,
            rule_matched=result.keep,
            profile_terms=shared,
        )
