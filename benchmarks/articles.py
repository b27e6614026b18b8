"""Benchmark article extraction on real pages: precision, recall, F1 and time per page.

    python benchmarks/articles.py                 # all 181 pages, about a minute
    python benchmarks/articles.py --sample 20     # a seeded sample (--seed), a few seconds
    python benchmarks/articles.py --json          # the figures as one JSON object

The pages are ../shared/corpus/articles (181 real news and blog pages, each with the main
text a person marked by hand; see its SOURCES.md). Three extractors run side by side, page
by page in a rotating order, so a busy machine slows them alike:

- **mediamon**: ``mediamon.core.extract.extract_article`` on the page's bytes, as the
  article fetcher calls it (decoding, markers, metadata): the text it extracted, whatever
  the status (a paywall's teaser is what the page has, and what the hand-marked text
  holds). The row **mediamon, "ok" only** scores the same run with the text of every page
  not called "ok" left out: what an item would get as its article.
- **trafilatura defaults**: ``trafilatura.extract(html)``, nothing set.
- **all page text**: every text node of the page but scripts and styles (the baseline).

The metric is the benchmark's own: lower-case, ``\\w+`` tokens, 4-token shingles with their
counts; per page TP = the shingles both texts share (by count), FP = predicted only,
FN = true only. **Per page**, as the published figures are (each page's TP/FP/FN divided by
their sum, so a long page weighs no more than a short one), and **raw**, the plain sums.
Precision, recall and F1 come from the sums over the pages. Time is wall time per page
(median and 95th percentile); nothing touches the network.

    python benchmarks/articles.py --loopback      # the shapes of tests/test_articles.py

``--loopback`` serves the written pages of tests/data/articles and the awkward shapes
(AMP, paywall stubs, a cookie wall, a redirect to a consent page, a PDF, an image, a page
over the size cap, cp1251 labelled UTF-8, a page slower than the timeout, a 429, a path
robots.txt forbids) from a real server on 127.0.0.1, fetches each through
``mediamon.article.ArticleFetcher`` (a new fetcher and client per round), and reports how
many got the status they should (and, for articles, their text) and the time per page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "articles"
TARGET_F1 = 0.958  # trafilatura 2.0.0's published F1 on these pages

_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Page:
    key: str
    url: str
    html: bytes
    truth: str


def load_pages(corpus: Path = CORPUS, *, sample: int | None = None,
               seed: int = 15) -> list[Page]:
    """The corpus's pages in a stable order, or a seeded sample of ``sample`` of them."""
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)
    if sample is not None and sample < len(keys):
        keys = sorted(random.Random(seed).sample(keys, sample))
    pages = []
    for key in keys:
        with gzip.open(corpus / "html" / f"{key}.html.gz", "rb") as fh:
            body = fh.read()
        pages.append(Page(key, truth[key].get("url") or "", body,
                          truth[key].get("articleBody") or ""))
    return pages


def shingles(text: str | None, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall((text or "").lower())
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def page_counts(truth: str, predicted: str | None) -> tuple[int, int, int]:
    """(TP, FP, FN) of one page's shingles."""
    true, pred = shingles(truth), shingles(predicted)
    return (sum((true & pred).values()), sum((pred - true).values()),
            sum((true - pred).values()))


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    f1: float


def quality(counts: Iterable[tuple[int, int, int]], *, per_page: bool = True) -> Quality:
    """Precision, recall and F1 from per-page (TP, FP, FN), normalised per page or raw."""
    tp = fp = fn = 0.0
    for t, p, n in counts:
        total = t + p + n
        if per_page and total:
            t, p, n = t / total, p / total, n / total
        tp, fp, fn = tp + t, fp + p, fn + n
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(precision, recall, f1)


# -- the extractors ------------------------------------------------------------------------


def mediamon_text(page: Page) -> tuple[str | None, str]:
    from mediamon.core.extract import extract_article

    article = extract_article(page.html, url=page.url, content_type="text/html")
    return article.text, article.status


def trafilatura_text(page: Page) -> tuple[str | None, str]:
    import trafilatura

    return trafilatura.extract(page.html.decode("utf-8", "replace")), "-"


def all_text(page: Page) -> tuple[str | None, str]:
    import lxml.html

    tree = lxml.html.fromstring(page.html.decode("utf-8", "replace"))
    for bad in tree.iter("script", "style", "noscript", "template"):
        bad.text = None
    return " ".join(tree.text_content().split()), "-"


EXTRACTORS: dict[str, Callable[[Page], tuple[str | None, str]]] = {
    "mediamon": mediamon_text,
    "trafilatura defaults": trafilatura_text,
    "all page text": all_text,
}


@dataclass
class Run:
    counts: list[tuple[int, int, int]]
    seconds: list[float]
    statuses: Counter[str]


def run(pages: Sequence[Page], names: Sequence[str] = tuple(EXTRACTORS)) -> dict[str, Run]:
    """Every extractor on every page, in a rotating order per page."""
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # its per-page warnings
    for name in names:  # import and warm up outside the clock
        EXTRACTORS[name](pages[0])
    runs = {name: Run([], [], Counter()) for name in names}
    for i, page in enumerate(pages):
        order = list(names[i % len(names):]) + list(names[:i % len(names)])
        for name in order:
            started = time.perf_counter()
            text, status = EXTRACTORS[name](page)
            runs[name].seconds.append(time.perf_counter() - started)
            runs[name].counts.append(page_counts(page.truth, text))
            runs[name].statuses[status] += 1
            if name == "mediamon":
                ok = runs.setdefault(OK_ONLY, Run([], [], Counter()))
                ok.counts.append(page_counts(page.truth, text if status == "ok" else None))
                ok.seconds.append(runs[name].seconds[-1])
    return runs


OK_ONLY = 'mediamon, "ok" only'


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(runs: dict[str, Run]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, r in runs.items():
        norm, raw = quality(r.counts), quality(r.counts, per_page=False)
        out[name] = {
            "precision": round(norm.precision, 4), "recall": round(norm.recall, 4),
            "f1": round(norm.f1, 4), "raw_precision": round(raw.precision, 4),
            "raw_recall": round(raw.recall, 4), "raw_f1": round(raw.f1, 4),
            "median_ms": round(statistics.median(r.seconds) * 1000, 1),
            "p95_ms": round(_p95(r.seconds) * 1000, 1),
            "statuses": dict(r.statuses) if name == "mediamon" else None,
        }
    return out


def machine() -> dict[str, object]:
    import trafilatura

    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "load": [round(x, 2) for x in os.getloadavg()],
            "trafilatura": trafilatura.__version__, "machine": platform.machine()}


def loopback(rounds: int = 5) -> int:
    """Serve the written shapes on 127.0.0.1 and fetch them politely; print the table."""
    import asyncio

    sys.path.insert(0, str(REPO / "tests"))
    from feedserver import FeedServer
    from mediamon.article import ArticleFetcher
    from mediamon.config import ArticleSettings
    from mediamon.fetch import make_client

    pages = REPO / "tests" / "data" / "articles"

    def read(name: str) -> bytes:
        return (pages / name).read_bytes()

    html = "text/html; charset=utf-8"
    ru = read("ru.html").replace(b"CHARSET", b"utf-8").decode().encode("cp1251")
    # path -> (expected status, a sentence the text must hold when "ok")
    shapes: dict[str, tuple[str, str | None]] = {
        "/article": ("ok", "lets Russian freight cross Afghanistan"),
        "/amp/article": ("ok", "Termez and Hairatan"),
        "/ru/cp1251-said-utf8": ("ok", "российским грузам"),
        "/paywall": ("paywall", None), "/paywall-words": ("paywall", None),
        "/cookie-wall": ("consent", None), "/to-consent": ("consent", None),
        "/section-front": ("empty", None), "/report.pdf": ("not-html", None),
        "/photo.png": ("not-html", None), "/huge": ("too-large", None),
        "/slow": ("http-error", None), "/private/article": ("blocked-by-robots", None),
        "/busy": ("http-error", None),  # last: its 429 holds the host for the rest
    }
    settings = ArticleSettings(enabled=True, timeout=1.0, max_bytes=2_000_000)
    times: dict[str, list[float]] = {path: [] for path in shapes}
    extracting: list[float] = []
    right: Counter[str] = Counter()
    with FeedServer() as server:
        server.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
        server.add("/article", read("article.html"), html)
        server.add("/private/article", read("article.html"), html)
        server.add("/amp/article", read("amp.html"), html)
        server.status("/ru/cp1251-said-utf8", 200, {"Content-Type": html}, ru)
        server.add("/paywall", read("paywall.html"), html)
        server.add("/paywall-words", read("paywall_words.html"), html)
        server.add("/cookie-wall", read("cookiewall.html"), html)
        server.add("/consent", read("consent.html"), html)
        server.redirect("/to-consent", "/consent?continue=%2Fto-consent", code=302)
        server.add("/section-front", read("navigation.html"), html)
        server.status("/report.pdf", 200, {"Content-Type": "application/pdf"},
                      b"%PDF-1.7\n%%EOF\n")
        server.status("/photo.png", 200, {"Content-Type": "image/png"},
                      b"\x89PNG\r\n\x1a\n" + bytes(64))
        server.huge("/huge", 20_000_000)
        server.slow("/slow", read("article.html"), delay_per_chunk=0.3, chunks=10)
        server.status("/busy", 429, {"Retry-After": "60"})

        async def one_round() -> None:
            async with make_client() as client:
                fetcher = ArticleFetcher(client, settings)
                fetcher.start_pass()
                for path, (expected, sentence) in shapes.items():
                    started = time.perf_counter()
                    got = await fetcher.fetch(server.url(path))
                    times[path].append(time.perf_counter() - started)
                    if got.status == "ok":
                        extracting.append(got.extract_seconds)
                    if got.status == expected and (sentence is None
                                                   or sentence in (got.text or "")):
                        right[path] += 1

        for _ in range(rounds):
            asyncio.run(one_round())
    print(f"loopback: {len(shapes)} shapes x {rounds} rounds; load {os.getloadavg()[0]:.2f}")
    print(f"{'page':26} {'expected':18} {'right':>6} {'median':>9}")
    for path, (expected, _s) in shapes.items():
        print(f"{path:26} {expected:18} {right[path]:>3}/{rounds} "
              f"{statistics.median(times[path]) * 1000:7.1f}ms")
    articles = [p for p, (e, _s) in shapes.items() if e == "ok"]
    print(f"right: {sum(right.values())}/{len(shapes) * rounds}; median per article page "
          f"(fetch and extract): "
          f"{statistics.median([t for p in articles for t in times[p]]) * 1000:.1f} ms, "
          f"of which extraction {statistics.median(extracting) * 1000:.1f} ms")
    return 0 if sum(right.values()) == len(shapes) * rounds else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--loopback", action="store_true",
                        help="the written shapes on a loopback server instead")
    parser.add_argument("--sample", type=int, help="a seeded sample of this many pages")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.loopback:
        return loopback()
    if not (CORPUS / "ground-truth.json").is_file():
        print(f"no article corpus at {CORPUS}", file=sys.stderr)
        return 1
    pages = load_pages(sample=args.sample, seed=args.seed)
    before = machine()
    figures = report(run(pages))
    result = {"pages": len(pages), "machine": before,
              "load_after": [round(x, 2) for x in os.getloadavg()], "extractors": figures}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    m = before
    print(f"{len(pages)} pages; Python {m['python']}, trafilatura {m['trafilatura']}, "
          f"{m['cpus']} CPUs, load {m['load']} -> {result['load_after']}")
    print(f"{'extractor':22} {'P':>6} {'R':>6} {'F1':>6}   {'raw P':>6} {'raw R':>6} "
          f"{'raw F1':>6}   {'median':>8} {'p95':>8}")
    for name, f in figures.items():
        print(f"{name:22} {f['precision']:6.3f} {f['recall']:6.3f} {f['f1']:6.3f}   "
              f"{f['raw_precision']:6.3f} {f['raw_recall']:6.3f} {f['raw_f1']:6.3f}   "
              f"{f['median_ms']:6.1f}ms {f['p95_ms']:6.1f}ms")
    print("mediamon statuses:", figures["mediamon"]["statuses"])
    f1 = float(figures["mediamon"]["f1"])  # type: ignore[arg-type]
    print(f"mediamon F1 {f1:.3f} {'>=' if f1 >= TARGET_F1 else '<'} target {TARGET_F1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
