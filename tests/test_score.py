"""The reference profile and the scorer: similarity, the keep modes and the explanation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conftest import DEFAULT_CONFIG
from mediamon.config import load_config
from mediamon.profile import Profile, stem, terms
from mediamon.score import Scorer
from mediamon.topics import TopicSet

CONFIG = load_config(DEFAULT_CONFIG)
SEED = CONFIG.seed_texts[0]
PROFILE = Profile.from_texts([SEED])
SCORER = Scorer.from_config(CONFIG)


def test_profile_terms_are_stemmed_without_stopwords() -> None:
    """The seed's strongest terms are its subject, stemmed, with function words removed."""
    top = [word for word, _ in PROFILE.top_terms(6)]
    assert "taliban" in top and "russia" in top
    assert not set(top) & {"the", "and", "of"}
    assert stem("recognised") == stem("recognising")
    assert stem("талибов") == stem("талибами")
    assert terms("The Taliban and the Kremlin") == ["taliban", "kremlin"]


def test_similarity_orders_related_text_above_unrelated() -> None:
    """An on-topic paragraph is closer to the seed than sport or weather news."""
    on_topic = PROFILE.similarity(
        "Zamir Kabulov said Moscow may recognise the Taliban government in Afghanistan soon.")
    off_topic = PROFILE.similarity("Manchester United beat Chelsea two-nil at Old Trafford.")
    assert on_topic.value > 0.2 > off_topic.value
    assert "kabulov" in on_topic.shared and "taliban" in on_topic.shared
    assert PROFILE.similarity(SEED).value > 0.99


def test_keep_rule_decides_in_rule_mode() -> None:
    """In the default mode the keep rule alone decides, and the explanation says which words."""
    kept = SCORER.score_text("Russia accepts credentials of Taliban ambassador in Moscow")
    assert kept.kept and kept.rule_matched
    assert {h.topic for h in kept.topics} >= {"russia", "taliban"}
    explanation = kept.explanation()
    assert explanation["topics"]["russia"] and explanation["profile_terms"]
    dropped = SCORER.score_text("Facial recognition cameras installed at Heathrow airport")
    assert not dropped.kept and dropped.score < kept.score


def test_keep_modes() -> None:
    """profile, either and both combine the rule and the similarity threshold as named."""
    topics = TopicSet.compile({"kabul": "Kabul"}, None)
    text = "Moscow and the Taliban: Kabulov on recognition of the Taliban government by Russia"
    results = {mode: Scorer(topics, PROFILE, mode, 0.2).score_text(text) for mode in
               ("rule", "profile", "either", "both")}
    assert results["profile"].similarity >= 0.2
    assert [results[m].kept for m in ("rule", "profile", "either", "both")] == [
        False, True, True, False]


@given(st.lists(st.sampled_from(["Moscow", "Taliban", "weather", "football", "Kabul", "the"]),
                max_size=12))
def test_score_is_bounded(words: list[str]) -> None:
    """Scores and similarities stay in [0, 1] for any text."""
    m = SCORER.score_text(" ".join(words))
    assert 0.0 <= m.similarity <= 1.0 and 0.0 <= m.score <= 1.0
