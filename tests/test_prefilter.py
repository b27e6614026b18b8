"""The prefilter (``TopicSet.could_keep``, ``Scorer.rejects``) is exact: an item it rejects is
one the full scoring would not keep, with the same profile terms, on every item of the shared
corpus, the benchmark workloads and the labelled sets, in every keep mode; a feed pass gives
the writer the same items with it and without it, with and without keep_all; and it does
reject most items of the workloads."""

from __future__ import annotations

import itertools
import json
import pickle
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediamon.config import load_config
from mediamon.core import topics as topics_module
from mediamon.core.normalise import normalise_entry, shows_something
from mediamon.core.parse import parse_body
from mediamon.core.score import KEEP_MODES, Scorer, _ascii_words
from mediamon.core.stories import StorySettings
from mediamon.core.text import tokenize
from mediamon.core.topics import Not, Or, TopicSet, parse_query
from mediamon.errors import ParseError
from mediamon.pipeline import scorer_for
from mediamon.process import process_body
from mediamon.types import FetchResult

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpus"
RELEVANCE = REPO / "tests" / "data" / "relevance"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
SHAPES = ("default", "short", "long", "wire", "sparse")


def _feed_texts(body: bytes, url: str) -> Iterator[str]:
    try:
        parsed, _fast = parse_body(body, url=url, headers=())
    except ParseError:
        return
    for entry in parsed.entries:
        item = normalise_entry(entry, feed_url=url, feed=parsed, now=NOW, html=False)
        if shows_something(item):
            yield item.text


@cache
def corpus_feed_texts() -> tuple[str, ...]:
    root = SHARED / "feeds"
    texts: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        url = "https://corpus.example/" + path.relative_to(root).as_posix()
        texts += _feed_texts(path.read_bytes(), url)
    return tuple(texts)


@cache
def news_texts() -> tuple[str, ...]:
    path = SHARED / "news" / "rss-2022.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return tuple("\n".join(filter(None, (r.get("title"), r.get("summary")))) for r in records)


@cache
def labelled_texts() -> tuple[str, ...]:
    texts = []
    for path in sorted(RELEVANCE.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = "\n".join(filter(None, (record.get("title"), record.get("summary"),
                                           record.get("text"))))
            if text:
                texts.append(text)
    return tuple(texts)


@cache
def workload_texts(shape: str) -> tuple[str, ...]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from workload import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    texts: list[str] = []
    # 1,000 items of each shape (300 long ones): every kind of item the generator makes.
    for doc in generate(6 if shape == "long" else 20, 50, 1, shape):
        texts += _feed_texts(doc.body, "https://bench.example" + doc.path)
    return tuple(texts)


SETS = {
    "corpus feeds": corpus_feed_texts,
    "rss-2022 news": news_texts,
    "labelled sets": labelled_texts,
    **{f"workload {shape}": (lambda shape=shape: workload_texts(shape)) for shape in SHAPES},
}


@cache
def scorer(explain_unkept: bool) -> Scorer:
    config = load_config(REPO / "config" / "mediamon.toml")
    return scorer_for(config, None, explain_unkept=explain_unkept)[0]


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_rejected_text_is_one_the_full_scoring_does_not_keep(name: str) -> None:
    """Every text of the set, in every keep mode, with and without keep_all's explanations:
    when the prefilter rejects it, the full scoring does not keep it either and gives the
    same profile terms; in profile and either mode it rejects nothing."""
    if name in ("corpus feeds", "rss-2022 news") and not SHARED.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED}")
    texts = SETS[name]()
    assert len(texts) > 100
    for explain_unkept in (False, True):
        for mode in KEEP_MODES:
            s = replace(scorer(explain_unkept), mode=mode)
            rejected = 0
            for text in texts:
                quick = s.rejects(text)
                if quick is None:
                    continue
                rejected += 1
                full = s.score_text(text)
                assert not full.kept and not full.rule_matched, (mode, text[:200])
                assert quick.doc_terms == full.doc_terms, text[:200]
            if mode in ("profile", "either"):
                assert rejected == 0
            elif name != "labelled sets":  # mostly on-topic by design
                assert rejected > 0.3 * len(texts), (mode, rejected, len(texts))


def process_all(shape: str, *, mode: str, keep_all: bool, prefilter: bool
                ) -> list[tuple[object, ...]]:
    """Every workload body of ``shape`` through the real ``process_body`` (nothing stored
    yet), as the writer receives it: what it stores in full, what it only records."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from workload import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    s = replace(scorer(keep_all), mode=mode, prefilter=prefilter)
    out: list[tuple[object, ...]] = []
    for doc in generate(3 if shape == "long" else 6, 50, 1, shape):
        url = "https://bench.example" + doc.path
        fetch = FetchResult(url, "ok", 200, url, doc.body)
        processed = process_body(fetch, feed_url=url, scorer=s, now=NOW, keep_all=keep_all,
                                 known=lambda ids: {}, stories=StorySettings())
        for si in processed.scored:
            if si.partial:  # recorded as seen, counted into the profile's background
                out.append((si.item.id, si.item.content_hash, si.item.dedup_key,
                            si.match.kept, si.match.doc_terms))
            else:  # stored: every field, the match and its explanation
                out.append((si.item, si.match, si.match.doc_terms, si.match.explanation(),
                            si.fingerprint))
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_a_feed_pass_gives_the_writer_the_same_items_with_and_without_the_prefilter(
        shape: str) -> None:
    """process_body with and without the prefilter, in every keep mode and with keep_all:
    the same items stored with the same match, score and explanation, the same items only
    recorded as seen with the same profile terms."""
    for keep_all in (False, True):
        for mode in KEEP_MODES:
            with_it = process_all(shape, mode=mode, keep_all=keep_all, prefilter=True)
            without = process_all(shape, mode=mode, keep_all=keep_all, prefilter=False)
            assert with_it == without, (shape, mode, keep_all)


def test_the_prefilter_skips_scoring_for_most_workload_items() -> None:
    """On the default workload most new items are rejected without scoring."""
    s = scorer(False)
    texts = workload_texts("default")
    rejected = sum(s.rejects(text) is not None for text in texts)
    assert rejected > 0.6 * len(texts)
    assert all(not s.score_text(t).kept for t in texts if s.rejects(t) is not None)


# Small topic sets with every operator: the prefilter never hides a match.

QUERIES = {
    "word": "alpha OR beta",
    "phrase": '"gamma delta" OR "epsi* zeta"',
    "stems": "running~ OR свобода~",
    "near": "(alpha NEAR/2 gamma) OR (beta NEAR/s zeta)",
    "and_not": "omega AND NOT alpha",
    "except": "delta EXCEPT \"gamma delta\"",
    "refs": "@word AND (theta OR @stems)",
    "cjk": "塔利班 OR 俄罗斯",
    "prefix_only": '"kap* lam*"',
}
KEEP = "(@refs OR @phrase OR @cjk OR @prefix_only OR (@near NOT @and_not)) NOT iota"
VOCABULARY = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "omega", "theta", "iota",
              "runs", "runner", "свободы", "свободе", "kappa", "lambda", "塔", "利", "班", "俄",
              "罗", "斯", "the", "and", ".", "\n", "x"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=14))
def test_could_keep_never_says_no_to_a_text_the_keep_rule_matches(words: list[str]) -> None:
    """Random texts over the queries' own words: whenever the keep rule matches, could_keep
    says it might (and with no keep rule: whenever a topic matches)."""
    text = " ".join(words)
    tokens = tokenize(text)
    for keep in (KEEP, None):
        topics = TopicSet.compile(QUERIES, keep)
        if topics.match(tokens).keep:
            assert topics.could_keep(set(tokens.words)), text


def test_could_keep_sets_aside_texts_without_what_the_rule_needs() -> None:
    """It says no when a word every way of matching needs is missing (here iota-free texts
    without any of the refs' words), and yes for the words of each way the rule can match."""
    topics = TopicSet.compile(QUERIES, KEEP)
    assert not topics.could_keep({"the", "x"})
    assert not topics.could_keep({"alpha"})  # @word alone: @refs also needs theta or a stem
    for words in ({"alpha", "theta"}, {"beta", "runs"}, {"gamma", "delta"}, {"epsilon", "zeta"},
                  {"塔", "利", "班"}, {"kappa", "lambda"}, {"alpha", "gamma"}):
        assert topics.could_keep(words), words


def test_the_words_it_remembers_change_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """What each word satisfies is worked out once and remembered: a topic set that forgets
    after every word, and a pickled copy (which starts with no memory), answer every set of
    up to three of the queries' words as one that remembers them all; a phrase needs all its
    words, whichever of them is met first."""
    remembering = TopicSet.compile(QUERIES, KEEP)
    monkeypatch.setattr(topics_module, "REMEMBERED_WORDS", 1)
    forgetting = TopicSet.compile(QUERIES, KEEP)
    remembering.could_keep(set(VOCABULARY))
    copy = pickle.loads(pickle.dumps(remembering))
    assert copy._atoms.words == {} and remembering._atoms.words
    answers = set()
    for size in range(4):
        for words in itertools.combinations(VOCABULARY, size):
            present = set(words)
            answer = remembering.could_keep(present)
            assert forgetting.could_keep(present) == answer, words
            assert copy.could_keep(present) == answer, words
            answers.add(answer)
    assert answers == {True, False}
    assert len(forgetting._atoms.words) <= 1
    for words in ({"kappa"}, {"lambda"}, {"lambda", "x"}):  # '"kap* lam*"' needs both
        assert not remembering.could_keep(words), words


def test_a_query_that_can_match_without_any_word_always_may_be_kept() -> None:
    """A rule that matches by exclusion alone (which compile() refuses, but a TopicSet can
    be built from any tree) makes could_keep always say yes."""
    nodes = {"loose": Or((parse_query("alpha"), Not(parse_query("beta"))))}
    topics = TopicSet(nodes)
    assert topics.could_keep(set())
    assert topics.match(tokenize("nothing here")).keep


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_the_prefilters_ascii_words_are_the_tokenizers(text: str) -> None:
    """For ASCII text the prefilter's quick split gives exactly ``tokenize``'s words."""
    assert _ascii_words(text) == list(tokenize(text).words)


def test_the_prefilters_ascii_words_on_every_ascii_text_of_the_sets() -> None:
    """The same on every ASCII text of the corpora, the workloads and the labelled sets."""
    texts = [t for name in ("labelled sets", *(f"workload {s}" for s in SHAPES))
             for t in SETS[name]() if t.isascii()]
    assert len(texts) > 1000
    for text in texts:
        assert _ascii_words(text) == list(tokenize(text).words), text[:200]
