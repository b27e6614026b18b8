"""The labelled story pairs (tests/data/stories): load them, cluster them through the real
story index, and measure pair precision and recall.

    python tests/stories_eval.py            # the report in docs/stories.md
    python tests/stories_eval.py --sweep    # precision/recall over a range of thresholds
    python tests/stories_eval.py --real     # the real 2022 pairs (needs ../shared/corpus/news)
    python tests/stories_eval.py --real --wrong   # ... and every pair it gets wrong
    python tests/stories_eval.py --real --off     # ... with headline identity and the
                                                  #     series rule off (the grouping before)
    python tests/stories_eval.py --joins          # each real item a near-copy of its
                                                  #     headline joined, to read through

The real pairs (``real-2022-pairs.csv``) hold ids, labels and reasons only: their texts belong
to the publishers and are read at run time from ../shared/corpus/news/rss-2022.jsonl.
"""

from __future__ import annotations

import csv
import html
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from mediamon.core.stories import StorySettings, explain_pair, headline_key
from mediamon.store.stories import assign, create_schema, outlet_for

DATA = Path(__file__).resolve().parent / "data" / "stories"
NEWS_2022 = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "news" / "rss-2022.jsonl"
REAL_PAIRS = DATA / "real-2022-pairs.csv"


@dataclass(frozen=True)
class LabelledItem:
    id: str
    story: str
    event: str
    outlet: str
    feed: str
    published: datetime
    url: str
    title: str
    summary: str


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: str  # same, different, unscored
    kind: str
    reason: str = ""


class StoryItem(Protocol):
    """What clustering needs of an item (written or real)."""

    @property
    def id(self) -> str: ...
    @property
    def outlet(self) -> str | None: ...
    @property
    def published(self) -> datetime: ...
    @property
    def title(self) -> str: ...
    @property
    def summary(self) -> str: ...


@dataclass(frozen=True)
class RealItem:
    """One item of the real 2022 stream, as the feed pass would store it: entities decoded,
    the outlet being the site of its link (``story_store.outlet_for``)."""

    id: str
    feed: str
    outlet: str | None
    published: datetime
    title: str
    summary: str


def load_items(path: Path = DATA / "items.txt") -> dict[str, LabelledItem]:
    """Blocks of ``key: value`` lines separated by blank lines; ``#`` lines are comments."""
    items: dict[str, LabelledItem] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.strip() and not line.startswith("#"):
                key, value = line.split(": ", 1)
                fields[key] = value
        if not fields:
            continue
        fields["published"] = datetime.fromisoformat(fields["published"].replace("Z", "+00:00"))
        item = LabelledItem(**fields)
        items[item.id] = item
    return items


def load_pairs(path: Path = DATA / "pairs.csv") -> list[Pair]:
    with path.open(encoding="utf-8", newline="") as f:
        return [Pair(**row) for row in csv.DictReader(f)]


def load_real_items(path: Path = NEWS_2022) -> dict[str, RealItem]:
    """The real 2022 stream (one JSON object a line: id, feed, title, summary, published,
    url). Raises FileNotFoundError when the shared corpus is not there."""
    items: dict[str, RealItem] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            items[row["id"]] = RealItem(
                id=row["id"], feed=row["feed"],
                outlet=outlet_for(row.get("url"), None, row["feed"], None),
                published=datetime.fromisoformat(row["published"]),
                title=html.unescape(row.get("title") or ""),
                summary=html.unescape(row.get("summary") or ""))
    return items


def load_real_pairs(path: Path = REAL_PAIRS) -> list[Pair]:
    return load_pairs(path)


def cluster(items: dict[str, StoryItem] | dict[str, LabelledItem] | dict[str, RealItem],
            settings: StorySettings) -> dict[str, str]:
    """item id -> story id, assigning items in publication order through the story index."""
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    stories = {}
    ordered: Iterable[StoryItem] = sorted(items.values(), key=lambda i: (i.published, i.id))
    for item in ordered:
        assign(conn, item_id=item.id, title=item.title, summary=item.summary,
               published=item.published, outlet=item.outlet, settings=settings,
               stamp="2026-01-01T00:00:00+00:00")
    for item_id, story_id in conn.execute("SELECT item_id, story_id FROM story_items"):
        stories[item_id] = story_id
    conn.close()
    return stories


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    tn: int
    unscored_merged: int
    unscored: int
    wrong: tuple[tuple[Pair, float], ...]


def score(settings: StorySettings = StorySettings(), *, by: str = "cluster") -> Scores:
    """Pair precision and recall of the clustering (``by="cluster"``: both items ended up in
    one story), of the pairwise decision alone (``by="pair"``: similar enough and within the
    window, or the same counting headline within the headline window, ignoring LSH,
    transitivity and the series rules), or of the text alone (``by="text"``: similar
    enough, ignoring the time window too)."""
    items, pairs = load_items(), load_pairs()
    grouped = cluster(items, settings) if by == "cluster" else {}
    tp = fp = fn = tn = merged = unscored = 0
    wrong = []
    for pair in pairs:
        a, b = items[pair.a], items[pair.b]
        apart = int(abs((a.published - b.published).total_seconds()) // 60)
        exp = explain_pair((a.title, a.summary), (b.title, b.summary), settings,
                           minutes_apart=apart)
        if by == "cluster":
            same = grouped[a.id] == grouped[b.id]
        elif by == "pair":
            same = (exp.similar_enough and exp.in_window) or exp.same_headline
        else:
            same = exp.similar_enough
        if pair.label == "unscored":
            unscored += 1
            merged += same
            continue
        truth = pair.label == "same"
        tp += same and truth
        fp += same and not truth
        fn += truth and not same
        tn += not truth and not same
        if same != truth:
            wrong.append((pair, exp.similarity))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Scores(precision, recall, tp, fp, fn, tn, merged, unscored, tuple(wrong))


def report(settings: StorySettings = StorySettings()) -> str:
    items, pairs = load_items(), load_pairs()
    lines = [f"{len(items)} items, {len(pairs)} pairs "
             f"({sum(p.label == 'same' for p in pairs)} same story, "
             f"{sum(p.label == 'different' for p in pairs)} different, "
             f"{sum(p.label == 'unscored' for p in pairs)} unscored); threshold "
             f"{settings.threshold}, window {settings.window / 86400:g} d, "
             f"{settings.bands} bands x {settings.rows} rows"]
    for by in ("cluster", "pair", "text"):
        s = score(settings, by=by)
        lines.append(f"{by:8} precision {s.precision:.3f}  recall {s.recall:.3f}  "
                     f"(tp {s.tp}, fp {s.fp}, fn {s.fn}, tn {s.tn}); independent reports of "
                     f"one event grouped: {s.unscored_merged} of {s.unscored}")
        for pair, sim in s.wrong:
            lines.append(f"    wrong: {pair.a} {pair.b} {pair.label} ({pair.kind}) "
                         f"similarity {sim:.3f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class KindScore:
    kind: str
    label: str
    pairs: int
    together: int  # pairs whose two items ended in one story

    @property
    def right(self) -> int:
        return self.together if self.label == "same" else self.pairs - self.together


@dataclass(frozen=True)
class RealScores:
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    tn: int
    kinds: tuple[KindScore, ...]
    wrong: tuple[Pair, ...]

    def kind(self, name: str) -> KindScore:
        return next(k for k in self.kinds if k.kind == name)


def score_pairs(stories: dict[str, str], pairs: list[Pair]) -> RealScores:
    """Pair precision and recall of a clustering (item id -> story id), and per kind how
    many pairs ended in one story."""
    tp = fp = fn = tn = 0
    together: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    wrong = []
    for pair in pairs:
        same = stories[pair.a] == stories[pair.b]
        truth = pair.label == "same"
        total[pair.kind, pair.label] += 1
        together[pair.kind, pair.label] += same
        tp += same and truth
        fp += same and not truth
        fn += truth and not same
        tn += not truth and not same
        if same != truth:
            wrong.append(pair)
    kinds = tuple(KindScore(kind, label, n, together[kind, label])
                  for (kind, label), n in total.items())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return RealScores(precision, recall, tp, fp, fn, tn, kinds, tuple(wrong))


def score_real(settings: StorySettings = StorySettings(), *,
               items: dict[str, RealItem] | None = None,
               pairs: list[Pair] | None = None) -> RealScores:
    """The whole real stream assigned in publication order through the story index (as the
    feed pass does), scored on the labelled real pairs."""
    items = load_real_items() if items is None else items
    pairs = load_real_pairs() if pairs is None else pairs
    return score_pairs(cluster(items, settings), pairs)


def report_real(settings: StorySettings = StorySettings(), *, wrong: bool = False) -> str:
    items, pairs = load_real_items(), load_real_pairs()
    s = score_real(settings, items=items, pairs=pairs)
    labels = Counter(p.label for p in pairs)
    lines = [f"{len(items)} real items, {len(pairs)} labelled pairs ({labels['same']} same "
             f"story, {labels['different']} different); threshold {settings.threshold}, "
             f"window {settings.window / 86400:g} d",
             f"pair     precision {s.precision:.3f}  recall {s.recall:.3f}  (tp {s.tp}, "
             f"fp {s.fp}, fn {s.fn}, tn {s.tn})"]
    for k in sorted(s.kinds, key=lambda k: (k.label != "same", k.kind)):
        lines.append(f"  {k.kind:17} {k.label:9} {k.pairs:3} pairs, {k.together:3} in one "
                     f"story ({k.right / k.pairs:6.1%} right)")
    if wrong:
        for pair in s.wrong:
            a, b = items[pair.a], items[pair.b]
            hours = abs((a.published - b.published).total_seconds()) / 3600
            lines.append(f"    wrong: {pair.a} {pair.b} {pair.label} ({pair.kind}, "
                         f"{hours:.1f} h apart): {pair.reason}")
    return "\n".join(lines)


def near_joins(settings: StorySettings = StorySettings()) -> list[str]:
    """Every item of the real stream that joined a story through a near-copy of its
    headline (the decision was "headline", the two keys differ), with the item it joined:
    the list docs/stories.md says was read through."""
    items = load_real_items()
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    lines = []
    for item in sorted(items.values(), key=lambda i: (i.published, i.id)):
        d = assign(conn, item_id=item.id, title=item.title, summary=item.summary,
                   published=item.published, outlet=item.outlet, settings=settings,
                   stamp="2026-01-01T00:00:00+00:00")
        if d.by == "headline" and d.via and \
                headline_key(items[d.via].title) != headline_key(item.title):
            via = items[d.via]
            hours = (item.published - via.published).total_seconds() / 3600
            lines.append(f"{item.id} {item.outlet}  joined  {via.id} {via.outlet}  "
                         f"{hours:.1f} h later\n    {item.title}\n    {via.title}")
    conn.close()
    return lines


if __name__ == "__main__":
    if "--joins" in sys.argv:
        found = near_joins()
        print("\n".join(found) + f"\n{len(found)} items joined by a near-copy of a headline")
    elif "--real" in sys.argv:
        chosen = StorySettings()
        if "--off" in sys.argv:
            chosen = replace(chosen, headline_window=0, series_gap=0)
        print(report_real(chosen, wrong="--wrong" in sys.argv))
    elif "--sweep" in sys.argv:
        for threshold in (0.2, 0.25, 0.3, 0.35, 0.375, 0.4, 0.45, 0.5, 0.6):
            s = score(replace(StorySettings(), threshold=threshold))
            print(f"threshold {threshold:<5} precision {s.precision:.3f} recall {s.recall:.3f}"
                  f"  independent reports grouped {s.unscored_merged}/{s.unscored}")
    else:
        print(report())
