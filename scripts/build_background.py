"""Build mediamon's built-in background: document frequencies of real feed items.

    python scripts/build_background.py [CORPUS_DIR] [-o src/mediamon/data/background.tsv.gz]

Every feed file under CORPUS_DIR (default: ../shared/corpus/feeds, the feed test suites
and real-world feed snapshots that tests/test_corpus.py also uses) goes through mediamon's
own parse_feed and normalise_feed; each distinct item text (title, summary, content) is one
document. The output keeps the terms found in at least --min-df documents, as gzipped
TSV (``#documents<TAB>N``, then ``term<TAB>df``), so the table stays small.

It is the cold-start idf of the reference profile (``profile.builtin_background``): until
mediamon has parsed items of its own, it says which words are common in feed items
("news", "year", "week") and so weigh little. The run is deterministic: the same corpus
gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from mediamon.core.normalise import normalise_feed
from mediamon.core.parse.standard import parse_feed
from mediamon.core.profile import Background
from mediamon.errors import ParseError

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def item_texts(corpus: Path) -> list[str]:
    """Distinct item texts of every feed file under ``corpus``, in path order."""
    seen: set[str] = set()
    texts: list[str] = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        try:
            parsed = parse_feed(path.read_bytes(), url=path.as_uri())
            items = normalise_feed(parsed, feed_url=path.as_uri(), now=NOW)
        except ParseError:
            continue
        for item in items:
            text = item.text
            key = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if text.strip() and key not in seen:
                seen.add(key)
                texts.append(text)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path,
                        default=REPO.parent / "shared" / "corpus" / "feeds")
    parser.add_argument("-o", "--output", type=Path,
                        default=REPO / "src" / "mediamon" / "data" / "background.tsv.gz")
    parser.add_argument("--min-df", type=int, default=2)
    args = parser.parse_args()
    texts = item_texts(args.corpus)
    full = Background.from_texts(texts)
    kept = {t: c for t, c in full.df.items() if c >= args.min_df}
    table = Background(full.documents, kept).dumps().encode("utf-8")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(gzip.compress(table, mtime=0))
    print(f"{full.documents} documents, {len(full.df)} terms, {len(kept)} kept "
          f"(df >= {args.min_df}) -> {args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main()
