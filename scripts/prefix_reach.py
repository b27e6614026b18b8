"""Which words each wildcard of the topics reaches in real text: where a prefix over-matches.

    python scripts/prefix_reach.py                       # every topic, the 2022 stream
    python scripts/prefix_reach.py ties stance --texts more.jsonl --top 20

A wildcard written for one word reaches every word that starts like it: ``diploma*`` was
meant for a diploma and also matched "diplomatic", ``import*`` matches "important". Read
the list for each topic whose words decide a relation (``ties``, ``stance``) or exclude one
(``judging``, ``threats``, ``guarded_against``). Printed per wildcard: how many distinct
words it reaches, then the most frequent with their counts. Wildcards inside phrases and
NEAR are listed too.

Text: the real 2022 stream in ../shared/corpus/news (title and summary of each item) and
any JSON Lines files given with ``--texts`` (their ``title`` and ``summary``). Nothing is
written.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from mediamon.config import load_config  # noqa: E402
from mediamon.core.text import tokenize  # noqa: E402
from mediamon.core.topics import Node, Term, _children, parse_query  # noqa: E402

STREAM = REPO.parent / "shared" / "corpus" / "news" / "rss-2022.jsonl"


def word_counts(paths: list[Path]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            counts.update(tokenize(f"{row.get('title') or ''}\n{row.get('summary') or ''}").words)
    return counts


def terms(node: Node) -> Iterator[Term]:
    if isinstance(node, Term):
        yield node
        return
    for child in _children(node):
        yield from terms(child)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("topics", nargs="*", help="topic names (default: all)")
    parser.add_argument("--config", default=str(REPO / "config" / "mediamon.toml"))
    parser.add_argument("--texts", action="append", default=[], type=Path,
                        help="more JSON Lines files with title and summary")
    parser.add_argument("--top", type=int, default=12, help="words shown per wildcard")
    args = parser.parse_args()
    paths = [p for p in [STREAM, *args.texts] if p.is_file()]
    if not paths:
        print(f"no text: {STREAM} is absent and no --texts given", file=sys.stderr)
        return 1
    counts = word_counts(paths)
    words = sorted(counts)
    queries = load_config(args.config).topics  # topic name -> query
    names = args.topics or list(queries)
    unknown = [name for name in names if name not in queries]
    if unknown:
        print(f"no such topic: {', '.join(unknown)}", file=sys.stderr)
        return 1
    seen: set[tuple[str, str]] = set()
    for name in names:
        for term in terms(parse_query(queries[name])):
            for pattern in term.patterns:
                if pattern.kind != "prefix" or (name, pattern.word) in seen:
                    continue
                seen.add((name, pattern.word))
                start = bisect.bisect_left(words, pattern.word)
                reached = []
                for word in words[start:]:
                    if not word.startswith(pattern.word):
                        break
                    reached.append(word)
                reached.sort(key=lambda w: -counts[w])
                shown = " ".join(f"{w}:{counts[w]}" for w in reached[:args.top])
                print(f"{name:16} {pattern.word + '*':20} {len(reached):4}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
