"""Stories on real news: the labelled 2022 pairs (tests/data/stories/real-2022-pairs.csv,
docs/stories.md "Evidence: real wire copies") must keep agency-headline copies together and the hard
negatives apart.

The pair file holds ids, labels and reasons only; the texts belong to their publishers and
are read at test time from ../shared/corpus/news/rss-2022.jsonl. Tests that need them skip,
saying why, when that file is absent.
"""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from mediamon.core.stories import StorySettings
from stories_eval import (
    NEWS_2022,
    REAL_PAIRS,
    RealScores,
    load_real_items,
    load_real_pairs,
    score_real,
)

# Thresholds (docs/stories.md, "Evidence: real wire copies"). Before headline identity the grouping
# kept 40 of the 53 agency-headline pairs (0.755) and merged 21 of the 72 daily/weekly
# series pairs; now it keeps all 53 and merges none. The margins allow two agency copies
# to be lost to a later change of the word similarity, not a return of the old behaviour.
MIN_AGENCY_HEADLINE_RECALL = 0.95  # of the same-headline copies, in one story
MIN_SAME_RECALL = 0.96  # of every same-story pair (near-copies with rewritten headlines too)
MIN_NEAR_COPY_RECALL = 0.92  # of the copies whose headline was edited (0.80 before near_headlines)
MAX_SERIES_MERGED = 0  # issues of a daily or weekly series: never one story
MAX_SIMILAR_HEADLINE_MERGED = 1  # the one known merge by words (two BBC oil-cap reports)
MIN_PRECISION = 0.95

KINDS = {"agency-headline": "same", "near-copy": "same", "daily-series": "different",
         "weekly-series": "different", "similar-headline": "different"}


def test_the_real_pair_file_holds_ids_labels_and_reasons_only() -> None:
    """Columns a,b,label,kind,reason; ids in the stream's form; each pair once; every kind
    with its one label; reasons short and in our words (checked against the texts below)."""
    with REAL_PAIRS.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["a", "b", "label", "kind", "reason"]
        rows = list(reader)
    seen = set()
    for row in rows:
        assert re.fullmatch(r"n2022-\d{5}", row["a"]) and re.fullmatch(r"n2022-\d{5}", row["b"])
        assert KINDS[row["kind"]] == row["label"], row
        assert 10 <= len(row["reason"]) <= 90, row
        pair = frozenset((row["a"], row["b"]))
        assert len(pair) == 2 and pair not in seen, row
        seen.add(pair)
    counts = Counter(row["kind"] for row in rows)
    assert counts["agency-headline"] >= 50 and counts["daily-series"] >= 50
    assert sum(n for k, n in counts.items() if KINDS[k] == "same") >= 100


@pytest.fixture(scope="module")
def real() -> RealScores:
    """The whole 2022 stream (8,020 items) assigned through the story index, once."""
    if not NEWS_2022.exists():
        pytest.skip(f"the real 2022 news stream is not at {NEWS_2022} (it lives in "
                    f"../shared/corpus/news beside the repository; its texts are not copied "
                    f"into the repository)")
    return score_real(StorySettings(), items=load_real_items(), pairs=load_real_pairs())


def test_every_real_pair_joins_the_stream_and_no_reason_quotes_a_headline() -> None:
    """Every id is an item of the stream, the same-story pairs come from different feeds,
    and no reason repeats four words in a row of either headline."""
    if not NEWS_2022.exists():
        pytest.skip(f"the real 2022 news stream is not at {NEWS_2022}")
    items = load_real_items()
    for pair in load_real_pairs():
        a, b = items[pair.a], items[pair.b]
        assert a.feed != b.feed or pair.label == "different", pair  # copies: other feeds
        for title in (a.title, b.title):
            words = re.findall(r"\w+", title.lower())
            quoted = {" ".join(words[i:i + 4]) for i in range(len(words) - 3)}
            reason = " ".join(re.findall(r"\w+", pair.reason.lower()))
            assert not any(q in reason for q in quoted), pair


def test_agency_headline_copies_share_a_story(real: RealScores) -> None:
    """Outlets running one agency headline with their own first paragraph: one story."""
    kind = real.kind("agency-headline")
    assert kind.together / kind.pairs >= MIN_AGENCY_HEADLINE_RECALL, real.wrong
    assert real.recall >= MIN_SAME_RECALL, real.wrong


def test_copies_under_an_edited_headline_share_a_story(real: RealScores) -> None:
    """A word changed, a name dropped, a clause moved, the standfirst rewritten or left out:
    one story (``near_headlines`` where the words alone fall short)."""
    kind = real.kind("near-copy")
    assert kind.together / kind.pairs >= MIN_NEAR_COPY_RECALL, real.wrong


def test_hard_negatives_stay_apart(real: RealScores) -> None:
    """A daily series a day apart, a weekly round-up under one headline, and different
    events under similar headlines within three days are not merged."""
    for name in ("daily-series", "weekly-series"):
        assert real.kind(name).together <= MAX_SERIES_MERGED, real.wrong
    assert real.kind("similar-headline").together <= MAX_SIMILAR_HEADLINE_MERGED, real.wrong
    assert real.precision >= MIN_PRECISION, real.wrong
