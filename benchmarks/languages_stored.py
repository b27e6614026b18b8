"""The language mediamon stores for an item, measured: ``normalise_entry`` on each text, the
way a feed pass stores it (``language``: detected when sure, else declared;
``core.language.item_language``), against the labelled language.

    python benchmarks/languages_stored.py            # tables as Markdown
    python benchmarks/languages_stored.py --json

Texts: the labelled items of tests/data/relevance (dev, heldout, languages: 23 languages),
normalised three ways: in a feed that declares nothing, in a feed that declares "en" for
everything (the common mislabel), and in a feed that declares the right language; then the
real 2022 stream of ../shared/corpus/news/rss-2022.jsonl, as its feeds declare it: how
many stored languages differ from the declared one, and what they became.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mediamon.core.language import backend  # noqa: E402
from mediamon.core.normalise import normalise_entry, normalise_language  # noqa: E402
from mediamon.types import ParsedFeed, RawEntry  # noqa: E402

LABELLED = [REPO / "tests" / "data" / "relevance" / n
            for n in ("dev.jsonl", "heldout.jsonl", "languages.jsonl")]
REAL = REPO.parent / "shared" / "corpus" / "news" / "rss-2022.jsonl"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MODES = ("none", "en", "right", "title none", "title en")


def stored(record: dict[str, Any], declared: str | None,
           detect: bool = True) -> tuple[str | None, str | None]:
    """(language, language_declared) of the record normalised in a feed declaring
    ``declared`` (``detect=False``: as the pipeline's first pass, without detection)."""
    feed = ParsedFeed(title=None, link=None, language=declared, entries=(), format="rss20")
    entry = RawEntry({"title": record.get("title") or "",
                      "summary": record.get("summary") or "",
                      "link": record.get("url") or ""})
    item = normalise_entry(entry, feed_url="https://example.org/feed", feed=feed, now=NOW,
                           detect=detect)
    return item.language, item.language_declared


def labelled() -> dict[str, Any]:
    records = [json.loads(line) for path in LABELLED
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [r for r in records if r.get("language")]
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        truth = normalise_language(record["language"])
        assert truth is not None
        for mode, declared in (("none", None), ("en", "en"), ("right", truth)):
            language, _ = stored(record, declared)
            rows[truth][mode] += language == truth
        for mode, declared in (("title none", None), ("title en", "en")):
            language, _ = stored({"title": record.get("title")}, declared)
            rows[truth][mode] += language == truth
        rows[truth]["texts"] += 1
    return {lang: dict(c) for lang, c in sorted(rows.items(), key=lambda kv: -kv[1]["texts"])}


def real(limit: int | None) -> dict[str, Any]:
    if not REAL.exists():
        return {}
    declared_counts: Counter[str] = Counter()
    changed: dict[str, Counter[str]] = defaultdict(Counter)
    start = time.process_time()
    n = 0
    for line in REAL.open(encoding="utf-8"):
        if limit is not None and n >= limit:
            break
        record = json.loads(line)
        declared = normalise_language(record.get("language"))
        language, kept = stored(record, declared)
        assert kept == declared
        declared_counts[str(declared)] += 1
        if language != declared:
            changed[str(declared)][str(language)] += 1
        n += 1
    elapsed = time.process_time() - start
    # The same items normalised without detection, right after: the cost detection adds.
    start = time.process_time()
    for line in REAL.open(encoding="utf-8").readlines()[:n]:
        record = json.loads(line)
        stored(record, normalise_language(record.get("language")), detect=False)
    plain = time.process_time() - start
    return {"items": n, "us_per_item": round(elapsed / max(n, 1) * 1e6),
            "us_per_item_without_detection": round(plain / max(n, 1) * 1e6),
            "declared": dict(declared_counts),
            "changed": {k: dict(v.most_common()) for k, v in changed.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--real", type=int, default=None, help="only the first N real items")
    args = parser.parse_args()
    result = {"backend": backend(), "labelled": labelled(), "real": real(args.real)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"backend: {result['backend']}\n")
    print("| language | texts | feed declares nothing | feed declares en | feed declares it "
          "| title only, nothing declared | title only, en declared |")
    print("|---|---|---|---|---|---|---|")
    totals: Counter[str] = Counter()
    for lang, c in result["labelled"].items():
        totals.update(c)
        cells = [f"{100 * c.get(m, 0) / c['texts']:.0f} %" for m in MODES]
        print(f"| {lang} | {c['texts']} | " + " | ".join(cells) + " |")
    cells = [f"{100 * totals[m] / totals['texts']:.1f} %" for m in MODES]
    print(f"| **all** | {totals['texts']} | " + " | ".join(cells) + " |")
    r = result["real"]
    if r:
        print(f"\nreal 2022 stream: {r['items']} items, {r['us_per_item']} µs per item "
              f"(normalise + detect), {r['us_per_item_without_detection']} µs without "
              f"detection\n")
        print("| declared | items | stored as declared | stored otherwise |")
        print("|---|---|---|---|")
        for lang, n in sorted(r["declared"].items(), key=lambda kv: -kv[1]):
            other = r["changed"].get(lang, {})
            moved = sum(other.values())
            detail = ", ".join(f"{k} {v}" for k, v in other.items())
            print(f"| {lang} | {n} | {n - moved} | {moved}" + (f" ({detail})" if detail
                                                                 else "") + " |")


if __name__ == "__main__":
    main()
