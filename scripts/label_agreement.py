"""How far two labellers agree on the same real items: the ceiling a relevance score can
be held to. Reads only labels (ids, labels), never texts.

    python scripts/label_agreement.py tests/data/relevance/real/second-labeller-labels.jsonl \
        tests/data/relevance/real/blind1[2-5]-labels.jsonl

The first file is the second labeller's; the others hold the first labels of the same ids.
Printed: exact agreement, the table of label pairs, and the second labeller scored as
``mediamon eval`` scores mediamon against the first (kept = core or related; precision
over kept, recall over core), and the same the other way round.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

POSITIVE = {"core", "related"}


def labels(paths: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out[row["id"]] = row["label"]
    return out


def as_eval(truth: dict[str, str], system: dict[str, str], ids: list[str]) -> str:
    kept = [i for i in ids if system[i] in POSITIVE]
    false_alarms = sum(truth[i] == "no" for i in kept)
    core = [i for i in ids if truth[i] == "core"]
    precision = (len(kept) - false_alarms) / len(kept) if kept else 1.0
    recall = sum(system[i] in POSITIVE for i in core) / len(core) if core else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"precision {precision:.3f}  core recall {recall:.3f}  F1 {f1:.3f}"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    second, first = labels(argv[:1]), labels(argv[1:])
    ids = sorted(i for i in second if i in first)
    if not ids:
        print("no id is in both", file=sys.stderr)
        return 1
    same = sum(first[i] == second[i] for i in ids)
    print(f"{len(ids)} items labelled twice; exact agreement {same / len(ids):.3f}")
    for (a, b), n in sorted(Counter((first[i], second[i]) for i in ids).items()):
        print(f"  first {a:8} second {b:8} {n}")
    print("second labeller scored against the first:", as_eval(first, second, ids))
    print("first labeller scored against the second:", as_eval(second, first, ids))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
