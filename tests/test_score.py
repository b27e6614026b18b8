"""The reference profile and the scorer: similarity, the keep modes, the explanation, the
score formula (monotonic in matching terms), the background and Rocchio feedback."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import replace
from datetime import date

from hypothesis import event, given
from hypothesis import strategies as st

from conftest import DATA, DEFAULT_CONFIG
from mediamon.config import load_config
from mediamon.core.profile import K1, TAU, Background, Profile, builtin_background, stem, terms
from mediamon.core.score import Scorer
from mediamon.core.topics import TopicSet

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


def test_a_copy_gets_the_verdict_remembered_for_its_text() -> None:
    """A text met again (agency copy in another feed) is not scored again, unless its date
    leaves out other topics; a pickled scorer (a parse worker's) starts with no memory."""
    topics = TopicSet.compile({"kabul": "Kabul", "moscow": "Moscow"}, "@kabul AND @moscow",
                              since={"kabul": date(2021, 8, 15)})
    scorer = Scorer(topics, PROFILE)
    text = "Moscow hosts a delegation from Kabul"
    first = scorer.score_text(text, published=date(2022, 1, 1))
    assert first.kept
    assert scorer.score_text(text, published=date(2023, 5, 2)) is first
    assert not scorer.score_text(text, published=date(2021, 1, 1)).kept  # before the window
    assert scorer.score_text(text + ".") is not first  # another text
    clone = pickle.loads(pickle.dumps(scorer))
    again = clone.score_text(text, published=date(2022, 1, 1))
    assert again == first and again is not first


def test_a_pickled_scorer_leaves_its_topics_syntax_trees_out_and_judges_the_same() -> None:
    """A parse worker receives the scorer pickled: the default topics' syntax trees (half its
    size, most of its unpickling time) stay behind and are parsed again only if asked for;
    the copy keeps, scores and explains every labelled text as the original does."""
    clone = pickle.loads(pickle.dumps(SCORER))
    assert clone.topics._nodes is None
    assert len(pickle.dumps(SCORER)) < len(pickle.dumps(SCORER.topics.nodes))
    texts = [f"{item['title']}\n{item['summary']}" for item in map(
        json.loads, (DATA / "relevance" / "dev.jsonl").read_text(encoding="utf-8").splitlines())]
    assert len(texts) > 100
    for text in texts:
        assert clone.score_text(text) == SCORER.score_text(text)
    assert clone.topics.nodes == SCORER.topics.nodes  # parsed again on demand, the same trees
    candidates = replace(SCORER, article_candidates=True)  # with article fetching on
    copy = pickle.loads(pickle.dumps(candidates))
    assert copy._candidates is not None and copy._candidates._nodes is None
    for text in texts[:40]:
        assert (copy.rejects(text) is None) == (candidates.rejects(text) is None)


@given(st.lists(st.sampled_from(["Moscow", "Taliban", "weather", "football", "Kabul", "the"]),
                max_size=12))
def test_score_is_bounded(words: list[str]) -> None:
    """Scores and similarities stay in [0, 1] for any text."""
    m = SCORER.score_text(" ".join(words))
    assert 0.0 <= m.similarity <= 1.0 and 0.0 <= m.score <= 1.0


# --------------------------------------------------------------------------------------
# The BM25 profile, the background and the score formula

# Words the default topics look for that no exclusion (NOT, @offtopic) contains.
POSITIVE_WORDS = [
    "Russia", "Moscow", "Kremlin", "Lavrov", "Kabulov", "Taliban", "Muttaqi", "Kabul",
    "Afghanistan", "recognise", "credentials", "ambassador", "talks", "wheat", "embassy",
    "Россия", "талибов", "Кабулов", "признала", "طالبان", "روسیه", "塔利班", "俄罗斯",
    "Islamic Emirate", "Moscow Format", "KazanForum",
]
OTHER_WORDS = ["cricket", "briefing", "weather", "facial", "the", "and", "Soviet", "Kosovo",
               "2024", "in", "of", "women", "Herat", "Ukraine", "Trump", "award"]


@given(st.lists(st.sampled_from(POSITIVE_WORDS + OTHER_WORDS), max_size=25),
       st.sampled_from(POSITIVE_WORDS))
def test_adding_a_matching_term_never_lowers_the_score(words: list[str], extra: str) -> None:
    """Appending a word a positive topic looks for never lowers score, R or S, nor unkeeps,
    unless it completes an exclusion (``recognise`` next to ``Kosovo``)."""
    before = SCORER.score_text(" ".join(words))
    after = SCORER.score_text(" ".join([*words, extra]))
    assert after.similarity >= before.similarity
    excluded = set(after.topic_names) - set(before.topic_names) - SCORER.positive
    event("completes an exclusion" if excluded else "no new exclusion")
    if excluded:
        return
    assert after.score >= before.score
    assert after.rule_score >= before.rule_score
    assert after.similarity >= before.similarity
    assert after.kept or not before.kept


@given(st.lists(st.sampled_from(POSITIVE_WORDS + OTHER_WORDS), max_size=25),
       st.text(max_size=30))
def test_similarity_never_drops_when_text_grows(words: list[str], extra: str) -> None:
    """S has no length normalisation: appending any text never lowers it."""
    text = " ".join(words)
    assert PROFILE.similarity(text + " " + extra).value >= PROFILE.similarity(text).value


def test_score_formula_components() -> None:
    """score = 0.6 R + 0.4 S, with R = 1 when the keep rule matches."""
    m = SCORER.score_text("Russia recognises the Taliban government; Kabulov hands credentials")
    assert m.kept and m.rule_score == 1.0
    assert abs(m.score - (0.6 * m.rule_score + 0.4 * m.similarity)) < 1e-5
    partial = SCORER.score_text("Taliban close girls' schools in Kandahar")
    assert not partial.kept and 0 < partial.rule_score < 0.5


def test_exclusions_do_not_raise_the_rule_score() -> None:
    """Matching only an exclusion topic (digest, sport) adds nothing to R."""
    assert SCORER.score_text("cricket briefing").rule_score == 0.0
    assert "offtopic" not in SCORER.positive and "relations" in SCORER.positive


def test_similarity_is_bm25_saturation_over_the_profile() -> None:
    """S = 1 - exp(-sum w(t) tf/(tf + K1) / TAU) over the profile's terms."""
    profile = Profile({"kabulov": 0.75, "taliban": 0.25}, {})
    value = profile.similarity("Kabulov Kabulov and the Taliban").value
    b = 0.75 * 2 / (2 + K1) + 0.25 * 1 / (1 + K1)
    assert abs(value - (1 - math.exp(-b / TAU))) < 1e-9
    assert profile.similarity("nothing shared").value == 0.0


def test_idf_falls_as_document_frequency_rises() -> None:
    """A term in more background documents weighs less; unseen terms weigh most."""
    bg = Background(100, {"common": 90, "rare": 2})
    assert bg.idf("unseen") > bg.idf("rare") > bg.idf("common") > 0
    grown = bg.plus(100, {"rare": 50})
    assert grown.documents == 200 and grown.idf("rare") < bg.idf("rare")
    assert Background.loads(bg.dumps()) == bg


def test_builtin_background_is_shipped_and_downweights_common_words() -> None:
    """The cold-start table is in the package and knows common feed words."""
    bg = builtin_background()
    assert bg.documents > 1000 and len(bg.df) > 1000
    assert bg.idf(stem("time")) < bg.idf(stem("taliban"))


def test_profile_weights_sum_to_one_and_prefer_the_subject() -> None:
    """The profile is the seed's top terms by tf-idf, normalised to sum to 1."""
    assert abs(sum(PROFILE.weights.values()) - 1) < 1e-9
    assert len(PROFILE.weights) <= 60
    assert PROFILE.weights[stem("taliban")] > PROFILE.weights.get(stem("people"), 0)


def test_rocchio_feedback_moves_the_profile() -> None:
    """Relevant labelled texts add their terms; irrelevant ones push theirs down."""
    relevant = ["Россия признала талибов; Кабулов вручил грамоты", "Кабулов Москва талибы"]
    moved = Profile.from_texts([SEED], relevant=relevant)
    assert stem("кабулов") in moved.weights and stem("кабулов") not in PROFILE.weights
    text = "Кабулов: Москва признала талибов"
    assert moved.similarity(text).value > PROFILE.similarity(text).value
    pushed = Profile.from_texts([SEED], irrelevant=[SEED.split(".")[0]] * 3)
    assert pushed.weights.get(stem("taliban"), 0) < PROFILE.weights[stem("taliban")]


FEED_PASS = Scorer.from_config(CONFIG, explain_unkept=False)


@given(st.lists(st.sampled_from(POSITIVE_WORDS + OTHER_WORDS), max_size=25))
def test_feed_pass_scorer_agrees_with_the_full_one(words: list[str]) -> None:
    """Explaining only kept items changes nothing but the unkept items' topic list."""
    text = " ".join(words)
    full, fast = SCORER.score_text(text), FEED_PASS.score_text(text)
    assert (fast.kept, fast.score, fast.similarity, fast.rule_score) == (
        full.kept, full.score, full.similarity, full.rule_score)
    if full.kept:
        assert fast.topics == full.topics
    else:
        assert all(hit.terms == () for hit in fast.topics)
        assert {h.topic for h in fast.topics} == {h.topic for h in full.topics} & SCORER.positive
