"""Relevance outside the feed pass: score JSON Lines, evaluate on labelled items, rescore the
database after the config or seeds change, and keep the analyst's labels.

    score(records)      JSON Lines in -> id, score, similarity, kept, topics, explanation out
    evaluate(records)   labelled items (core / related / no) -> precision, core recall, F1,
                        per language, misses and false alarms with their explanation
    read_labelled(...)  a labelled set, its texts joined by id from a texts file when the
                        labels carry none (real news: the texts are not ours to store)
    evaluate_stream()   every item of an unlabelled stream scored: kept per 1,000 items, and
                        the kept items by their label (false alarms) or unlabelled
    rescore(store)      every stored item (or those since a date) scored again in batches;
                        labels override the rule; --prune deletes what is no longer kept
    add_label(store)    `mediamon label ID relevant|irrelevant`; remove_label, list_labels

The scorer comes from ``scorer_for``: the config's topics and seeds, the built-in background
plus the database's (when there is a database), and Rocchio feedback from the labels.

Reads and writes the database only through the ``Store`` it is given; no network.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from mediamon.core.normalise import html_to_text, plain_title
from mediamon.core.score import Scorer, score_with_article
from mediamon.errors import MediamonError
from mediamon.output import read_json_lines
from mediamon.store.labels import verdict_columns
from mediamon.types import Match

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store

LABELS = ("relevant", "irrelevant")
EVAL_LABELS = ("core", "related", "no")
POSITIVE = ("core", "related")
TEXT_FIELDS = ("title", "summary", "content")


class RelevanceError(MediamonError):
    """Bad input to score or eval (names the line), or an unknown item to label."""


# --------------------------------------------------------------------------------------
# The scorer, with what the database knows


# --------------------------------------------------------------------------------------
# JSON Lines


def read_jsonl(stream: IO[str], *, name: str = "-", labelled: bool = False
               ) -> Iterator[dict[str, Any]]:
    """Records of a JSON Lines stream; blank lines skipped; a bad line is a RelevanceError.

    Each record needs ``id`` and at least one of ``title``, ``summary``, ``content``;
    ``labelled`` also requires ``label`` in core / related / no.
    """
    for where, record in read_json_lines(stream, name=name, error=RelevanceError):
        if "id" not in record:
            raise RelevanceError(f"{where}: missing 'id'")
        if not any(isinstance(record.get(k), str) for k in ("title", "summary", "content")):
            raise RelevanceError(f"{where}: needs a 'title', 'summary' or 'content' string")
        if labelled and record.get("label") not in EVAL_LABELS:
            raise RelevanceError(
                f"{where}: 'label' must be one of {', '.join(EVAL_LABELS)}, "
                f"not {record.get('label')!r}")
        yield record


def record_text(record: Mapping[str, Any]) -> str:
    """Title, summary and content joined, as ``Item.text`` joins them, and cleaned as a feed
    pass cleans them (markup removed, entities decoded): real feed texts carry both."""
    parts = []
    for key in ("title", "summary", "content"):
        value = record.get(key)
        if isinstance(value, str) and value:
            parts.append(plain_title(value) if key == "title" else html_to_text(value))
    return "\n".join(p for p in parts if p)


def record_published(record: Mapping[str, Any]) -> datetime | None:
    """A record's ``published`` (see ``published_at``)."""
    return published_at(record.get("published"))


def published_at(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as an aware datetime (UTC when it names no zone), or
    None when there is none or it does not read as one: an undated item (every topic
    applies to it, whatever its date window)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def scored_record(record: Mapping[str, Any], match: Match) -> dict[str, Any]:
    """The output line of ``mediamon score`` for one input record."""
    return {
        "id": record["id"],
        "score": match.score,
        "similarity": match.similarity,
        "kept": match.kept,
        "topics": list(match.topic_names),
        "explanation": match.explanation(),
    }


def score(scorer: Scorer, records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Score each record (see ``read_jsonl``)."""
    for record in records:
        yield scored_record(record, scorer.score_text(record_text(record),
                                                      published=record_published(record)))


# --------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Counts:
    """Confusion counts of one slice of a labelled set."""

    items: int = 0
    core: int = 0
    related: int = 0
    kept: int = 0
    kept_positive: int = 0  # kept and labelled core or related
    kept_core: int = 0

    @property
    def precision(self) -> float | None:
        return self.kept_positive / self.kept if self.kept else None

    @property
    def recall(self) -> float | None:
        return self.kept_core / self.core if self.core else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, label: str, kept: bool) -> Counts:
        return Counts(
            self.items + 1,
            self.core + (label == "core"),
            self.related + (label == "related"),
            self.kept + kept,
            self.kept_positive + (kept and label in POSITIVE),
            self.kept_core + (kept and label == "core"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items, "core": self.core, "related": self.related,
            "no": self.items - self.core - self.related, "kept": self.kept,
            "kept_core_or_related": self.kept_positive, "kept_core": self.kept_core,
            "precision": _round(self.precision), "core_recall": _round(self.recall),
            "f1": _round(self.f1),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def average_precision(scores: Iterable[tuple[float, bool]]) -> float | None:
    """Average precision of a ranking by score (ties broken pessimistically)."""
    ranked = sorted(scores, key=lambda sp: (-sp[0], sp[1]))
    hits = 0
    total = 0.0
    for rank, (_, positive) in enumerate(ranked, 1):
        if positive:
            hits += 1
            total += hits / rank
    return total / hits if hits else None


@dataclass(frozen=True)
class Report:
    """The outcome of ``evaluate``."""

    overall: Counts
    languages: dict[str, Counts]
    average_precision: float | None  # of the score, core and related as positives
    misses: tuple[dict[str, Any], ...]  # core items not kept
    false_alarms: tuple[dict[str, Any], ...]  # kept items labelled no
    baseline_average_precision: float | None = None  # without the analyst's labels
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def miss_languages(self) -> dict[str, int]:
        """Missed core items per language, the most first."""
        counts = Counter(m["language"] for m in self.misses)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.info,
            "overall": self.overall.as_dict(),
            "languages": {k: v.as_dict() for k, v in sorted(self.languages.items())},
            "average_precision": _round(self.average_precision),
            "average_precision_without_labels": _round(self.baseline_average_precision),
            "misses": list(self.misses),
            "miss_languages": self.miss_languages,
            "false_alarms": list(self.false_alarms),
        }


def evaluate(scorer: Scorer, records: Iterable[Mapping[str, Any]], *,
             baseline: Scorer | None = None) -> Report:
    """Precision (kept items that are core or related), recall of core items and F1, overall
    and per language, and the errors with their explanation. ``baseline``: a scorer without
    the analyst's labels, to show what the labels changed in the ranking."""
    overall = Counts()
    languages: dict[str, Counts] = {}
    ranking: list[tuple[float, bool]] = []
    base_ranking: list[tuple[float, bool]] = []
    misses: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []
    for record in records:
        text = record_text(record)
        published = record_published(record)
        match = scorer.score_text(text, published=published)
        label = record["label"]
        language = primary_language(record.get("language"))
        overall = overall.add(label, match.kept)
        languages[language] = languages.get(language, Counts()).add(label, match.kept)
        ranking.append((match.score, label in POSITIVE))
        if baseline is not None:
            base_ranking.append((baseline.score_text(text, published=published).score,
                                 label in POSITIVE))
        if (label == "core" and not match.kept) or (label == "no" and match.kept):
            entry = {"id": record["id"], "language": language, "label": label,
                     "title": record.get("title") or text[:120],
                     "explanation": match.explanation()}
            (misses if label == "core" else alarms).append(entry)
    return Report(
        overall, languages, average_precision(ranking), tuple(misses), tuple(alarms),
        average_precision(base_ranking) if baseline is not None else None,
    )


# --------------------------------------------------------------------------------------
# Labels joined with texts, several sets side by side, and a whole unlabelled stream


def primary_language(value: Any) -> str:
    """The primary subtag of a language tag, lower case ("en-US" -> "en"); "?" if none."""
    if not isinstance(value, str):
        return "?"
    return value.strip().replace("_", "-").split("-", 1)[0].lower() or "?"


def has_text(record: Mapping[str, Any]) -> bool:
    return any(isinstance(record.get(k), str) for k in TEXT_FIELDS)


def _key(value: Any) -> str:
    """Ids compare as text: 7 in a labels file is "7" in a texts file."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def read_texts(lines: Iterable[str], *, name: str,
               into: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The texts of a JSON Lines file by id (``title``, ``summary``, ``content``,
    ``language``), added to ``into`` when given. An id seen before is a RelevanceError."""
    texts: dict[str, dict[str, Any]] = {} if into is None else into
    for where, record in read_json_lines(lines, name=name, error=RelevanceError):
        if "id" not in record:
            raise RelevanceError(f"{where}: missing 'id'")
        if not has_text(record):
            raise RelevanceError(f"{where}: needs a 'title', 'summary' or 'content' string")
        key = _key(record["id"])
        if key in texts:
            raise RelevanceError(f"{where}: id {record['id']!r} appears twice in the texts")
        texts[key] = {k: record[k] for k in (*TEXT_FIELDS, "language") if k in record}
    return texts


@dataclass(frozen=True)
class LabelledSet:
    """A labelled file, each record with its text (its own, or joined by id from the
    texts) and its primary ``language``. ``texts_missing`` says why there are no records
    when the file carries no texts and none of its ids is in the texts."""

    name: str
    records: tuple[dict[str, Any], ...]
    labels: dict[str, str]  # id -> core / related / no, for every line
    places: dict[str, str]  # id -> file:line
    texts_missing: str | None = None

    @property
    def label_counts(self) -> dict[str, int]:
        counts = Counter(self.labels.values())
        return {label: counts[label] for label in EVAL_LABELS}


def read_labelled(lines: Iterable[str], *, name: str,
                  texts: Mapping[str, Mapping[str, Any]] | None = None,
                  texts_name: str = "the texts") -> LabelledSet:
    """A labelled set. Lines without a title, summary or content take them (and their
    language) from ``texts`` by id; a file with no texts at all, none of whose ids is in
    ``texts``, is a set whose ``texts_missing`` says so. Otherwise a line whose id is not
    in the texts, a bad label or an id given twice is a RelevanceError naming file:line."""
    entries: list[tuple[str, dict[str, Any]]] = []
    labels: dict[str, str] = {}
    places: dict[str, str] = {}
    for where, record in read_json_lines(lines, name=name, error=RelevanceError):
        if "id" not in record:
            raise RelevanceError(f"{where}: missing 'id'")
        if record.get("label") not in EVAL_LABELS:
            raise RelevanceError(
                f"{where}: 'label' must be one of {', '.join(EVAL_LABELS)}, "
                f"not {record.get('label')!r}")
        key = _key(record["id"])
        if key in places:
            raise RelevanceError(f"{where}: id {record['id']!r} already labelled at "
                                 f"{places[key]}")
        labels[key], places[key] = record["label"], where
        entries.append((where, record))
    textless = [(where, r) for where, r in entries if not has_text(r)]
    if textless and len(textless) == len(entries) and not any(
            _key(r["id"]) in (texts or {}) for _, r in textless):
        why = ("no title, summary or content, and no --texts given" if texts is None
               else f"no title, summary or content, and none of its ids is in {texts_name}")
        return LabelledSet(name, (), labels, places, why)
    records = []
    for where, record in entries:
        if has_text(record):
            joined, language = dict(record), record.get("language")
        elif texts is None:
            raise RelevanceError(f"{where}: needs a 'title', 'summary' or 'content' string "
                                 "(or --texts FILE with its id)")
        elif (text := texts.get(_key(record["id"]))) is None:
            raise RelevanceError(f"{where}: id {record['id']!r} is not in {texts_name}")
        else:
            joined = {**record, **{k: text[k] for k in TEXT_FIELDS if k in text}}
            language = text.get("language") or record.get("language")
        joined["language"] = primary_language(language)
        records.append(joined)
    return LabelledSet(name, tuple(records), labels, places)


def all_labels(sets: Sequence[LabelledSet]) -> dict[str, str]:
    """Every set's labels by id (with or without texts); an id labelled differently in two
    sets is a RelevanceError naming both lines."""
    labels: dict[str, str] = {}
    places: dict[str, str] = {}
    for labelled in sets:
        for key, label in labelled.labels.items():
            if key in labels and labels[key] != label:
                raise RelevanceError(f"{labelled.places[key]}: id {key!r} is labelled {label}, "
                                     f"but {labels[key]} at {places[key]}")
            labels.setdefault(key, label)
            places.setdefault(key, labelled.places[key])
    return labels


def set_as_dict(labelled: LabelledSet, report: Report | None) -> dict[str, Any]:
    """One set of ``mediamon eval --json``: its file, its label counts, and its report (or
    why its texts are missing)."""
    head = {"file": labelled.name, "items": len(labelled.labels), **labelled.label_counts,
            "texts_missing": labelled.texts_missing}
    return head if report is None else {**head, **report.as_dict()}


@dataclass(frozen=True)
class StreamReport:
    """Every item of an unlabelled stream scored, and the kept ones by their label."""

    name: str
    items: int
    kept: tuple[dict[str, Any], ...]  # id, language, label (None: unlabelled), title, why
    seconds: float

    def _kept(self, label: str | None) -> tuple[dict[str, Any], ...]:
        return tuple(k for k in self.kept if k["label"] == label)

    @property
    def false_alarms(self) -> tuple[dict[str, Any], ...]:
        """Kept items labelled no."""
        return self._kept("no")

    @property
    def unlabelled(self) -> tuple[dict[str, Any], ...]:
        """Kept items that no set labels: to label before the false-alarm rate is trusted."""
        return self._kept(None)

    @property
    def kept_per_1000(self) -> float | None:
        return 1000 * len(self.kept) / self.items if self.items else None

    @property
    def false_alarms_per_2000(self) -> float | None:
        return 2000 * len(self.false_alarms) / self.items if self.items else None

    def as_dict(self) -> dict[str, Any]:
        by_label = Counter(k["label"] or "unlabelled" for k in self.kept)
        return {
            "file": self.name, "items": self.items, "kept": len(self.kept),
            "kept_per_1000": _round(self.kept_per_1000),
            "kept_by_label": {k: by_label[k] for k in (*EVAL_LABELS, "unlabelled")},
            "false_alarms_per_2000": _round(self.false_alarms_per_2000),
            "seconds": round(self.seconds, 3),
            "false_alarms": list(self.false_alarms),
            "unlabelled": list(self.unlabelled),
            "kept_items": list(self.kept),
        }


def evaluate_stream(scorer: Scorer, records: Iterable[Mapping[str, Any]],
                    labels: Mapping[str, str], *, name: str = "-") -> StreamReport:
    """Score every record of a stream (see ``read_jsonl``; it may be a lazy reader, whose
    reading is then timed too) and list the kept ones with their label from ``labels``
    (None when unlabelled) and their explanation. Only kept items are explained."""
    if scorer.explain_unkept:
        scorer = replace(scorer, explain_unkept=False)
    start = time.perf_counter()
    items = 0
    kept: list[dict[str, Any]] = []
    for record in records:
        items += 1
        text = record_text(record)
        match = scorer.score_text(text, published=record_published(record))
        if match.kept:
            kept.append({"id": record["id"], "language": primary_language(record.get("language")),
                         "label": labels.get(_key(record["id"])),
                         "title": record.get("title") or text[:120],
                         "explanation": match.explanation()})
    return StreamReport(name, items, tuple(kept), time.perf_counter() - start)


# --------------------------------------------------------------------------------------
# Rescore and labels


@dataclass
class RescoreResult:
    items: int = 0
    kept: int = 0
    newly_kept: int = 0
    newly_unkept: int = 0  # flagged not kept (or deleted with prune)
    pruned: int = 0
    labelled: int = 0

    def count(self, match: Match, *, was_kept: bool, label: str | None) -> None:
        """Count one rescored item in (``pruned`` is counted by the caller)."""
        self.items += 1
        self.kept += match.kept
        self.labelled += label is not None
        if match.kept and not was_kept:
            self.newly_kept += 1
        elif was_kept and not match.kept:
            self.newly_unkept += 1


def apply_label(match: Match, label: str | None) -> Match:
    """The analyst's label decides ``kept``; the explanation records it."""
    if label is None:
        return match
    return replace(match, kept=label == "relevant", label=label)


# Below this many items a rescore scores in this process: starting the worker pool (about a
# second for the fork server and the scorer) would cost more than the second core saves.
PARALLEL_MIN_ITEMS = 5_000

# (text, published, the fetched article's text or None) of one stored item.
_ScoreJob = tuple[str, str | None, str | None]

_RESCORE: dict[str, Scorer] = {}


def _init_rescore_worker(scorer: Scorer) -> None:
    _RESCORE["scorer"] = scorer


def _score_batch_in_worker(jobs: Sequence[_ScoreJob]) -> list[tuple[Match, str | None]]:
    return _score_batch(_RESCORE["scorer"], jobs)


def _score_batch(scorer: Scorer, jobs: Sequence[_ScoreJob]) -> list[tuple[Match, str | None]]:
    """Each item's match and, for one scored with its article, what matched (``on``)."""
    out: list[tuple[Match, str | None]] = []
    for text, published, article in jobs:
        when = published_at(published)
        if article is not None:
            out.append(score_with_article(scorer, text, article, published=when))
        else:
            out.append((scorer.score_text(text, published=when), None))
    return out


def rescore(
    store: Store,
    scorer: Scorer,
    *,
    since: datetime | None = None,
    prune: bool = False,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    workers: int = 0,
    parallel_min: int = PARALLEL_MIN_ITEMS,
    total: int | None = None,
) -> RescoreResult:
    """Score stored items again with ``scorer``, ``batch_size`` per transaction.

    Items that no longer pass are flagged not kept (``kept = 0``), or deleted with ``prune``;
    items that now pass become kept. A verdict equal to the stored one (the same columns and
    explanation, so the same topics and terms) is not written again. ``progress`` is called
    with each batch's size.

    With ``workers`` (and at least ``parallel_min`` items: ``total``, counted here if not
    given), batches are scored in that many worker processes while this one reads the next
    batches and writes the scored ones, in order: the same verdicts, written the same way.
    A worker that dies or hangs on a batch twice raises ``RelevanceError``; the batches
    written before it stay written.
    """
    result = RescoreResult()
    labels = store.labels_by_item()

    def batches() -> Iterator[tuple[list[Any], list[_ScoreJob]]]:
        last_rowid: int | str = 0  # the page's end: a rowid, or an id on PostgreSQL
        while True:
            rows = store.rescore_batch(since=since, after_rowid=last_rowid, limit=batch_size)
            if not rows:
                return
            last_rowid = rows[-1].rowid
            # articles: an item whose article was fetched is scored with it (store.articles)
            articles = store.article_texts([r.id for r in rows])
            jobs = [("\n".join(p for p in (row.title, row.summary, row.content) if p),
                     row.published, articles.get(row.id)) for row in rows]
            yield rows, jobs

    def write(rows: list[Any], jobs: list[_ScoreJob],
              scored: list[tuple[Match, str | None]]) -> None:
        # Scored first, then written in one short transaction (on PostgreSQL the rows it
        # changes stay locked for the writing alone, not the scoring).
        matched_on: list[tuple[str, str | None]] = []
        doomed: list[str] = []
        verdicts: list[tuple[str, Match]] = []
        for row, job, (found, on) in zip(rows, jobs, scored, strict=True):
            label = labels.get(row.id)
            match = apply_label(found, label)
            if job[2] is not None:  # scored with its article: say which text matched
                matched_on.append((row.id, on if label is None else None))
            result.count(match, was_kept=bool(row.kept), label=label)
            if prune and not match.kept:
                doomed.append(row.id)
                result.pruned += 1
                continue
            if verdict_columns(match) != row.verdict:  # an unchanged verdict is not rewritten
                verdicts.append((row.id, match))
        with store.transaction():
            for item_id, where in matched_on:
                store.set_matched_on(item_id, where)
            for item_id in doomed:
                store.prune_rescored(item_id)
            store.save_rescored_many(verdicts)
        if progress is not None:
            progress(len(rows))

    if workers > 0 and (store.rescore_count(since) if total is None else total) >= parallel_min:
        asyncio.run(_rescore_in_workers(batches(), scorer, workers, write))
    else:
        for rows, jobs in batches():
            write(rows, jobs, _score_batch(scorer, jobs))
    return result


async def _rescore_in_workers(
    batches: Iterator[tuple[list[Any], list[_ScoreJob]]], scorer: Scorer, workers: int,
    write: Callable[[list[Any], list[_ScoreJob], list[tuple[Match, str | None]]], None],
) -> None:
    """Score ``batches`` in a pool of ``workers`` processes, up to ``workers`` batches ahead
    of the one being written, and ``write`` each in order."""
    from mediamon.workers import WorkerError, WorkerPool, run_in_order

    pool = WorkerPool(workers, initializer=_init_rescore_worker, initargs=(scorer,),
                      name="scoring worker", doing="scoring a batch of stored items")
    pool.start()
    try:
        await run_in_order(pool, _score_batch_in_worker,
                           (((rows, jobs), jobs) for rows, jobs in batches),
                           lambda batch, scored: write(*batch, scored), ahead=workers,
                           what=lambda batch: f"rescore from {batch[0][0].id}")
    except WorkerError as exc:
        raise RelevanceError(f"rescore stopped: {exc}; the batches before it are saved, "
                             "run it again to finish") from None
    finally:
        pool.close()


def count_items(store: Store, since: datetime | None = None) -> int:
    return store.rescore_count(since)


def add_label(store: Store, item_id: str, label: str, *, now: datetime) -> dict[str, Any]:
    """Record the analyst's label for a stored item (an id prefix is enough).

    Returns the item's id and title. Raises RelevanceError for an unknown or ambiguous id.
    """
    if label not in LABELS:
        raise RelevanceError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
    rows = store.label_targets(item_id)
    if not rows:
        raise RelevanceError(f"no item with id {item_id!r}")
    if len(rows) > 1:
        raise RelevanceError(f"{item_id!r} is ambiguous: give more of the id")
    full_id, title, summary, content = rows[0]
    text = "\n".join(p for p in (title, summary, content) if p)
    store.set_label(full_id, label, labelled=now, text=text)
    return {"id": full_id, "title": title, "label": label}


def remove_label(store: Store, item_id: str) -> dict[str, Any]:
    """Forget the analyst's label of an item (an id prefix is enough; the item itself may be
    gone, pruned after the label). Returns the item's id, its former label and its title
    (None when the item is gone). Raises RelevanceError when no label matches, or several."""
    rows = store.label_matches(item_id)
    if not rows:
        raise RelevanceError(f"no label on an item with id {item_id!r} (see `mediamon labels`)")
    if len(rows) > 1:
        raise RelevanceError(f"{item_id!r} is ambiguous: give more of the id")
    full_id, label, title = rows[0]
    store.delete_label(full_id)
    return {"id": full_id, "label": label, "title": title}


def list_labels(store: Store) -> list[dict[str, Any]]:
    """Every label, the latest first, with its item's title (None when the item is gone)."""
    return store.label_rows()
