"""`mediamon score`, `eval`, `label`, `labels`, `rescore`: judging relevance."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mediamon.cli.app import (
    TEXT_FORMATS,
    Context,
    chosen_format,
    cli,
    domain_errors,
    output_options,
    pass_ctx,
    plain_text,
)
from mediamon.clock import parse_when, utcnow
from mediamon.output import render
from mediamon.pipeline import scorer_for
from mediamon.workers import worker_count

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store



def _relevance_store(ctx: Context, builtin: bool) -> Store | None:
    """The database for its background and labels, if it exists and is wanted (a
    PostgreSQL ``database.url`` always exists: it is opened, and must be reachable)."""
    if builtin or (ctx.config.db_url is None and not ctx.config.db_path.exists()):
        return None
    return ctx.store(readonly=True)


BUILTIN_OPTION = click.option(
    "--builtin", is_flag=True,
    help="Ignore the database: the built-in background only and no analyst labels "
         "(reproducible numbers).")


@cli.command(name="score")
@click.argument("source", metavar="[FILE|-]", type=click.File("r", encoding="utf-8"),
                default="-", required=False)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Where to write the scored lines (default: stdout).")
@BUILTIN_OPTION
@pass_ctx
@domain_errors
def score_cmd(ctx: Context, source: Any, output: Any, builtin: bool) -> None:
    """Score JSON Lines items with the configured topics, keep rule and profile.

    \b
    Input, one JSON object per line (FILE, or stdin when FILE is - or absent):
      {"id": ..., "title": ..., "summary" or "content": ..., "url", "published", "language"}
    Output, one line per item, in order:
      {"id", "score", "similarity", "kept", "topics", "explanation"}

    No database is needed. If the configured database exists, its background document
    frequencies and the analyst's labels shape the profile (--builtin ignores it).
    """
    from mediamon.desk.relevance import read_jsonl, score

    scorer, _ = scorer_for(ctx.config, _relevance_store(ctx, builtin))
    for line in score(scorer, read_jsonl(source, name=source.name)):
        output.write(json.dumps(line, ensure_ascii=False) + "\n")


@cli.command(name="eval")
@click.argument("labelled", metavar="[LABELLED.jsonl]...", nargs=-1,
                type=click.File("r", encoding="utf-8"))
@click.option("--texts", "texts_files", metavar="FILE", multiple=True,
              type=click.File("r", encoding="utf-8"),
              help="JSON Lines with the texts (id, title, summary, language) of labels that "
                   "carry none, joined by id. Repeatable.")
@click.option("--stream", "stream_file", metavar="FILE", type=click.File("r", encoding="utf-8"),
              help="Score every item of this unlabelled JSON Lines stream: kept per 1,000 "
                   "items, and the kept items the labels call no (false alarms) or that no "
                   "label covers.")
@output_options(TEXT_FORMATS, default="text", help="json: the whole report.")
@click.option("--errors", "max_errors", default=30, show_default=True,
              type=click.IntRange(0, 100_000),
              help="Misses, false alarms and unlabelled kept items to list.")
@BUILTIN_OPTION
@pass_ctx
@domain_errors
def eval_cmd(ctx: Context, labelled: tuple[Any, ...], texts_files: tuple[Any, ...],
             stream_file: Any, fmt: str, as_json: bool, max_errors: int,
             builtin: bool) -> None:
    """Measure relevance on labelled items: precision, core recall and F1, several sets
    side by side, and the false alarms on a whole stream.

    \b
    LABELLED.jsonl: lines as for `mediamon score`, each with "label": core, related or no
    (and "language" for the per-language table). Labels without a title or summary take
    them, and the language, from --texts by id (real news, whose texts are not ours to
    keep); a file none of whose ids is in the texts is reported as texts not available.
      precision    kept items labelled core or related / kept items
      core recall  core items kept / core items
      F1           harmonic mean of the two
      AP           average precision of the ranking by score
    Misses (core, not kept), their languages, and false alarms (kept, labelled no) are
    listed with their explanation. --stream FILE scores every item of FILE and sorts
    the kept ones by the labels of every set: core, related, no (false alarms, also given
    per 2,000 items) or unlabelled (listed, to be labelled). With analyst labels in the
    database, the average precision is shown with and without them.
      mediamon eval --builtin dev.jsonl real-labels.jsonl --texts news.jsonl --stream news.jsonl
    """
    from mediamon.desk.relevance import (
        all_labels,
        evaluate,
        evaluate_stream,
        read_jsonl,
        read_labelled,
        read_texts,
        set_as_dict,
    )

    if not labelled and stream_file is None:
        raise click.UsageError("give a labelled file, --stream FILE, or both")
    as_json = chosen_format(fmt, as_json) == "json"
    texts: dict[str, dict[str, Any]] | None = None
    for f in texts_files:
        texts = read_texts(f, name=f.name, into=texts)
    texts_name = ", ".join(f.name for f in texts_files) or "the texts"
    sets = [read_labelled(f, name=f.name, texts=texts, texts_name=texts_name)
            for f in labelled]
    store = _relevance_store(ctx, builtin)
    scorer, info = scorer_for(ctx.config, store)
    baseline = scorer_for(ctx.config, store, feedback=False)[0] if info.labels else None
    reports = [None if s.texts_missing else evaluate(scorer, s.records, baseline=baseline)
               for s in sets]
    stream = None
    if stream_file is not None:
        stream = evaluate_stream(scorer, read_jsonl(stream_file, name=stream_file.name),
                                 all_labels(sets), name=stream_file.name)
    if as_json:
        per_set = [set_as_dict(s, r) for s, r in zip(sets, reports, strict=True)]
        data = {"config": str(ctx.config.path),
                "background_documents": info.builtin_documents + info.stored_documents,
                "labels": info.labels,
                **(per_set[0] if len(per_set) == 1 else {}),  # one set: as before
                "sets": per_set, "stream": stream.as_dict() if stream else None}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(format_eval(sets, reports, stream, info, max_errors))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _short_names(names: list[str]) -> list[str]:
    """File names without their folders, unless two would then look the same."""
    short = [Path(n).name for n in names]
    return short if len(set(short)) == len(short) else names


def format_eval(sets: list[Any], reports: list[Any], stream: Any, info: Any,
                max_errors: int) -> str:
    """The text form of ``mediamon eval``: the sets side by side, the stream, then each
    set's languages, misses and false alarms."""
    out = [f"background: {info.builtin_documents} built-in + {info.stored_documents} database "
           f"documents; analyst labels: {info.labels}"]
    names = _short_names([s.name for s in sets])
    if sets:
        rows = []
        for name, s, r in zip(names, sets, reports, strict=True):
            c = r.overall if r else None
            rows.append({"set": name, "items": len(s.labels), **s.label_counts,
                         "kept": c.kept if c else "-",
                         "precision": _pct(c.precision if c else None),
                         "core recall": _pct(c.recall if c else None),
                         "F1": _pct(c.f1 if c else None),
                         "AP": _pct(r.average_precision if r else None)})
        out += ["", render(rows, "table", columns=list(rows[0]))]
        out += [f"  {name}: texts not available ({s.texts_missing})"
                for name, s in zip(names, sets, strict=True) if s.texts_missing]
    if stream is not None:
        out += ["", *format_stream(stream, max_errors)]
    for name, r in zip(names, reports, strict=True):
        if r is not None:
            out += ["", *format_set(name, r, info, max_errors)]
    return "\n".join(out)


def format_stream(stream: Any, max_errors: int) -> list[str]:
    n = len(stream.kept)
    per_1000 = "-" if stream.kept_per_1000 is None else f"{stream.kept_per_1000:.2f}"
    per_2000 = "-" if stream.false_alarms_per_2000 is None \
        else f"{stream.false_alarms_per_2000:.2f}"
    by_label = Counter(k["label"] for k in stream.kept)
    out = [f"stream {_short_names([stream.name])[0]}: {stream.items:,} items scored in "
           f"{stream.seconds:.1f} s; {n} kept ({per_1000} per 1,000 items): "
           f"{by_label['core']} core, {by_label['related']} related, "
           f"{by_label['no']} labelled no, {by_label[None]} unlabelled",
           f"false alarms (kept, labelled no): {by_label['no']} ({per_2000} per 2,000 items)"]
    out += _error_lines(stream.false_alarms, max_errors)
    out.append(f"unlabelled kept items (label them before trusting the false-alarm rate): "
               f"{by_label[None]}")
    out += _error_lines(stream.unlabelled, max_errors)
    return out


def format_set(name: str, report: Any, info: Any, max_errors: int) -> list[str]:
    """One set: per language, the ranking, misses, their languages and false alarms."""
    o = report.overall
    out = [f"== {name}: {o.items} items ({o.core} core, {o.related} related, "
           f"{o.items - o.core - o.related} no)"]
    rows = [{"language": "overall", **_metric_row(o)}]
    rows += [{"language": lang, **_metric_row(c)} for lang, c in
             sorted(report.languages.items(), key=lambda kv: (-kv[1].items, kv[0]))]
    out.append(render(rows, "table", columns=list(rows[0])))
    line = (f"ranking by score: average precision {_pct(report.average_precision)} "
            "(core and related as relevant)")
    if report.baseline_average_precision is not None:
        line += (f"; without the {info.labels} analyst labels: "
                 f"{_pct(report.baseline_average_precision)}")
    out.append(line)
    out.append(f"misses (core, not kept): {len(report.misses)}")
    out += _error_lines(report.misses, max_errors)
    if report.misses:
        out.append("languages of the misses: " + ", ".join(
            f"{lang} {n}" for lang, n in report.miss_languages.items()))
    out.append(f"false alarms (kept, labelled no): {len(report.false_alarms)}")
    out += _error_lines(report.false_alarms, max_errors)
    return out


def _error_lines(errors: Any, max_errors: int) -> list[str]:
    """Each item: id, language and title, then its score and the words of each topic."""
    out = []
    for e in errors[:max_errors]:
        why = e["explanation"]
        topics = "; ".join(f"{t} {', '.join(repr(w) for w in ws[:4])}"
                           for t, ws in why["topics"].items()) or "no topic"
        out.append(f"  {e['id']} [{e['language']}] {e['title'][:90]}")
        out.append(f"      score {why['score']:.3f}  similarity {why['similarity']:.3f}  "
                   f"topics: {topics}")
    if len(errors) > max_errors:
        out.append(f"  ... {len(errors) - max_errors} more (--errors N, or --json)")
    return out


def _metric_row(c: Any) -> dict[str, Any]:
    return {"items": c.items, "core": c.core, "kept": c.kept, "precision": _pct(c.precision),
            "core recall": _pct(c.recall), "F1": _pct(c.f1)}


@cli.command()
@click.argument("item_id", callback=plain_text)
@click.argument("label", type=click.Choice(["relevant", "irrelevant"]), required=False)
@click.option("--remove", is_flag=True, help="Forget the item's label instead.")
@pass_ctx
@domain_errors
def label(ctx: Context, item_id: str, label: str | None, remove: bool) -> None:
    """Record your judgement of a stored item: relevant or irrelevant (ID may be a prefix).

    \b
    The label is kept in the database. `mediamon rescore` then keeps (relevant) or drops
    (irrelevant) the item whatever the rule says, and moves the reference profile toward
    the relevant items and away from the irrelevant ones (Rocchio feedback); `mediamon
    eval` shows the effect on the ranking. `mediamon labels` lists the labels.
      mediamon label 47d5 relevant
      mediamon label 47d5 --remove       forget it (the rule decides again)
    """
    from mediamon.desk.relevance import add_label, remove_label

    if remove and label:
        raise click.UsageError(f"give {label} or --remove, not both")
    if not remove and not label:
        raise click.UsageError("give the label (relevant or irrelevant), or --remove")
    if remove:
        done = remove_label(ctx.store(), item_id)
        click.echo(f"{done['id']} is no longer labelled {done['label']}"
                   + (f": {done['title']}" if done["title"] is not None else ""))
    else:
        done = add_label(ctx.store(), item_id, label or "", now=utcnow())
        click.echo(f"{done['id']} labelled {done['label']}: {done['title']}")
    click.echo("run `mediamon rescore` to apply it")


@cli.command(name="labels")
@output_options()
@pass_ctx
@domain_errors
def labels_cmd(ctx: Context, fmt: str, as_json: bool) -> None:
    """The analyst's labels (`mediamon label`), the latest first.

    `kept` is whether the item is kept now: a label takes effect at the next `mediamon
    rescore`. An item deleted after it was labelled (`rescore --prune`) keeps its label,
    with no title.
    """
    from mediamon.desk.relevance import list_labels

    rows = list_labels(ctx.store(readonly=True))
    fmt = chosen_format(fmt, as_json)
    for row in rows:
        row["kept"] = None if row["kept"] is None else bool(row["kept"])
        if fmt == "table":
            row["item_id"] = row["item_id"][:10]
            row["labelled"] = row["labelled"][:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=["item_id", "label", "labelled", "kept", "title"],
                      squeeze="title"))


@cli.command(name="rescore")
@click.option("--since", help="Only items published after: 2d, 12h, or a date (2026-11-01).")
@click.option("--prune", is_flag=True,
              help="Delete items that are no longer kept (default: flag them not kept).")
@click.option("--batch", "batch_size", default=500, show_default=True,
              type=click.IntRange(1, 100_000), help="Items per transaction.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Processes that score while this one reads and writes (default: "
                   "fetch.workers, one per CPU; 0: score here). Used from 5,000 items.")
@pass_ctx
@domain_errors
def rescore_cmd(ctx: Context, since: str | None, prune: bool, batch_size: int,
                workers: int | None) -> None:
    """Apply the current topics, keep rule, profile and labels to stored items.

    Run it after editing the topics or the seeds, or after `mediamon label`. Items that no
    longer pass are flagged not kept (hidden from `items`, shown with `items --all`); they
    are deleted only with --prune. Items the analyst labelled keep their label's verdict.
    """
    from mediamon.desk.relevance import count_items, rescore

    store = ctx.store()
    scorer, info = scorer_for(ctx.config, store)
    when = parse_when(since, now=utcnow()) if since else None
    total = count_items(store, when)
    with click.progressbar(length=total, label=f"rescoring {total} items",
                           file=sys.stderr) as bar:
        result = rescore(store, scorer, since=when, prune=prune, batch_size=batch_size,
                         progress=bar.update, total=total,
                         workers=worker_count(ctx.config.fetch.workers if workers is None
                                              else workers))
    tail = (f"{result.pruned} deleted" if prune else
            f"{result.newly_unkept} flagged not kept (--prune deletes them)")
    click.echo(f"{result.items} items rescored with {info.labels} analyst labels: "
               f"{result.kept} kept, {result.newly_kept} newly kept, {tail}")
