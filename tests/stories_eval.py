"""The labelled story pairs (tests/data/stories): load them, cluster them through the real
story index, and measure pair precision and recall.

    python tests/stories_eval.py            # the report in docs/stories.md
    python tests/stories_eval.py --sweep    # precision/recall over a range of thresholds
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from mediamon.stories import StorySettings, explain_pair
from mediamon.story_store import assign, create_schema

DATA = Path(__file__).resolve().parent / "data" / "stories"


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


def cluster(items: dict[str, LabelledItem], settings: StorySettings) -> dict[str, str]:
    """item id -> story id, assigning items in publication order through the story index."""
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    stories = {}
    for item in sorted(items.values(), key=lambda i: (i.published, i.id)):
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
    window, ignoring LSH and transitivity), or of the text alone (``by="text"``: similar
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
            same = exp.similar_enough and exp.in_window
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


if __name__ == "__main__":
    if "--sweep" in sys.argv:
        for threshold in (0.2, 0.25, 0.3, 0.35, 0.375, 0.4, 0.45, 0.5, 0.6):
            s = score(replace(StorySettings(), threshold=threshold))
            print(f"threshold {threshold:<5} precision {s.precision:.3f} recall {s.recall:.3f}"
                  f"  independent reports grouped {s.unscored_merged}/{s.unscored}")
    else:
        print(report())
