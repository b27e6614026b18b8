"""The HTML digest of ``mediamon report``: one self-contained file for a period.

``collect_report`` reads the database (read only): the timeline (``stats.collect``), the
top stories by reach with every kept source and why each matched (topics, the words that
matched them, score), and a per-outlet table.

Who tells the story (the source registry, ``core.sources``): each story shows who carried it
first (its earliest mention's outlet, with the outlet's name, country and kind) and how its
kept items split between the sides (``SIDES``: Russian, Afghan, regional, Western, other
outlets, and ``unknown`` for outlets the registry does not list); the outlet table names
each outlet's country and kind, and ``coverage`` totals the period's kept items per side.
With ``outlets`` (``--country``/``--kind``) only the stories and outlets of those outlets
are listed; a listed story's split still counts all its sources, the question being how
each side tells it. ``render_html`` turns that into one HTML page
with inline CSS and an inline SVG chart: no scripts, no fonts, images or styles from
elsewhere, and a Content-Security-Policy that forbids loading any.

Item text comes from feeds and is hostile until proven otherwise: every string is
HTML-escaped (titles and summaries are shown as plain text, never as HTML), and only
``http``/``https`` links become links.

This module writes nothing to the database and decides nothing about relevance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from mediamon import __version__
from mediamon.clock import utc_iso
from mediamon.core.sources import SIDES, UNKNOWN, SourceRegistry
from mediamon.core.urls import safe_url
from mediamon.desk.stats import By, Stats, collect, has_stories

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.query import OutletScope
    from mediamon.store.sqlite import Store

TOP_STORIES = 15
SOURCES_SHOWN = 8


@dataclass(frozen=True)
class Report:
    """What the digest shows."""

    generated: str
    since: str
    until: str
    stats: Stats
    stories: tuple[dict[str, Any], ...]  # top stories, each with "sources" and "why"
    outlets: tuple[dict[str, Any], ...]  # per-outlet rows
    # kept items per side (SIDES, then "unknown"), from the outlet rows
    coverage: tuple[tuple[str, int], ...] = ()


SIDE_LABELS = {"russian": "Russian", "afghan": "Afghan", "regional": "regional",
               "western": "Western", "other": "other", UNKNOWN: "unknown"}


def _split(rows: list[dict[str, Any]], sources: SourceRegistry,
           count: str | None = None) -> list[tuple[str, int]]:
    """Per side, in SIDES order then unknown: the rows' ``count`` (or one per row)."""
    totals = dict.fromkeys((*SIDES, UNKNOWN), 0)
    for row in rows:
        totals[sources.describe(row["outlet"])["side"]] += row[count] if count else 1
    return list(totals.items())


def collect_report(store: Store, *, now: datetime, since: datetime,
                   until: datetime | None = None, topic: str | None = None,
                   top: int = TOP_STORIES, sources: SourceRegistry | None = None,
                   outlets: OutletScope | None = None) -> Report:
    """Gather the digest for items published between ``since`` and ``until`` (default now).

    Args:
        store: the database, read only.
        now: the current time (UTC).
        topic: only items that matched this topic.
        top: how many stories to show.
        sources: the source registry (default: an empty one: every outlet unknown).
        outlets: only the stories and outlets of these (``--country``/``--kind``).
    """
    until = until or now
    sources = sources if sources is not None else SourceRegistry()
    scope: dict[str, Any] = {} if outlets is None else {"outlets": outlets}
    by: By = "week" if until - since > timedelta(days=62) else "day"
    stats = collect(store, now=now, since=since, until=until, by=by, topic=topic,
                    sources=sources, outlets=outlets)
    lo, hi = utc_iso(since), utc_iso(until)
    with_stories = has_stories(store)
    stories: list[dict[str, Any]] = []
    if with_stories:
        stories.extend(store.top_stories(since=since, until=until, topic=topic, limit=top,
                                         **scope))
        for story in stories:
            story["sources"] = store.story_sources(story["id"], since=since, until=until,
                                                   topic=topic)
            story["first"] = sources.describe(story["first_outlet"])
            story["split"] = _split(story["sources"], sources)
            why: dict[str, list[str]] = {}
            for source in story["sources"]:
                source["matches"] = json.loads(source["matches"] or "{}")
                for name, terms in source["matches"].items():
                    seen = why.setdefault(name, [])
                    seen.extend(t for t in terms if t not in seen)
            story["why"] = dict(sorted(why.items()))
    rows: list[dict[str, Any]] = [dict(row) for row in store.outlet_summary(
        since=since, until=until, topic=topic, with_stories=with_stories)
        if outlets is None or outlets.matches(str(row["outlet"]))]
    for row in rows:
        row.update({f"source_{k}": v for k, v in sources.describe(row["outlet"]).items()})
    return Report(generated=utc_iso(now) or "", since=lo or "", until=hi or "", stats=stats,
                  stories=tuple(stories), outlets=tuple(rows),
                  coverage=tuple(_split(rows, sources, "items")))


# -- HTML -------------------------------------------------------------------------------------


def e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def _link(url: str | None, text: str) -> str:
    href = safe_url(url)
    if href is None:
        return e(text)
    return f'<a href="{e(href)}" rel="noopener noreferrer nofollow">{e(text)}</a>'


def timeline_svg(stats: Stats, *, width: int = 960, height: int = 220) -> str:
    """The timeline as an inline SVG: a bar per period for kept items, a line for stories."""
    left, right, top_pad, bottom = 40, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    n = max(1, len(stats.periods))
    peak = max([*stats.items, *(stats.stories or ()), 1])
    step = _nice_step(peak)
    ymax = step * -(-peak // step)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.72)
    y = lambda v: top_pad + plot_h - v / ymax * plot_h  # noqa: E731
    parts = [f'<svg class="timeline" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Kept items per {e(stats.by)}" xmlns="http://www.w3.org/2000/svg">']
    for tick in range(0, ymax + 1, step):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" class="axis" '
                     f'text-anchor="end">{tick}</text>')
    label_every = max(1, round(n / 10))
    for i, period in enumerate(stats.periods):
        x = left + i * slot + (slot - bar_w) / 2
        v = stats.items[i]
        stories = "" if stats.stories is None else f", {stats.stories[i]} new stories"
        if v:
            parts.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" '
                         f'height="{plot_h + top_pad - y(v):.1f}" rx="2" class="bar">'
                         f'<title>{e(period)}: {v} kept items{stories}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{height - 12}" '
                         f'class="axis" text-anchor="middle">{e(period[5:])}</text>')
    if stats.stories is not None:
        points = " ".join(f"{left + (i + 0.5) * slot:.1f},{y(v):.1f}"
                          for i, v in enumerate(stats.stories))
        parts.append(f'<polyline points="{points}" class="line"/>')
        for i, v in enumerate(stats.stories):
            if v:
                parts.append(f'<circle cx="{left + (i + 0.5) * slot:.1f}" cy="{y(v):.1f}" '
                             f'r="3" class="dot"/>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" '
                 f'y2="{top_pad + plot_h}" class="base"/></svg>')
    return "".join(parts)


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if peak / step <= 5:
            return step
    return 10 ** len(str(peak // 5))


CSS = """
:root { --ink: #1a202c; --muted: #5a6473; --line: #e3e7ee; --accent: #2b5fa8;
        --accent2: #c0572a; --bg: #f6f7f9; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans",
             "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 28px 48px; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 14px; margin-bottom: 22px; }
.kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px;
          color: var(--muted); font-weight: 600; }
h1 { font: 700 30px/1.2 Georgia, "DejaVu Serif", "Times New Roman", serif; margin: 4px 0 6px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .08em; color: var(--muted);
     margin: 34px 0 12px; }
.meta { color: var(--muted); font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 12px 16px; }
.card b { display: block; font-size: 26px; line-height: 1.2; }
.card span { color: var(--muted); font-size: 13px; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
         padding: 14px 16px; }
.timeline { width: 100%; height: auto; display: block; }
.timeline .grid { stroke: var(--line); } .timeline .base { stroke: #9aa3b0; }
.timeline .axis { fill: var(--muted); font-size: 11px; }
.timeline .bar { fill: var(--accent); } .timeline .bar:hover { fill: #1d4580; }
.timeline .line { fill: none; stroke: var(--accent2); stroke-width: 2; }
.timeline .dot { fill: var(--accent2); }
.legend { font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
            margin: 0 5px 0 14px; vertical-align: -1px; }
ol.stories { list-style: none; padding: 0; margin: 0; counter-reset: s; }
ol.stories > li { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
                  padding: 14px 18px 12px 56px; margin-bottom: 12px; position: relative; }
ol.stories > li::before { counter-increment: s; content: counter(s); position: absolute;
                          left: 18px; top: 14px; font: 700 20px/1 Georgia, serif;
                          color: var(--accent); }
.story h3 { margin: 0 0 4px; font: 700 18px/1.3 Georgia, "DejaVu Serif", serif; }
.story h3 a { color: var(--ink); text-decoration: none; }
.story h3 a:hover { text-decoration: underline; }
.facts { font-size: 13px; color: var(--muted); }
.facts b { color: var(--ink); font-weight: 600; }
.pill { display: inline-block; background: #eef3fb; color: #23487f; border-radius: 999px;
        padding: 1px 9px; font-size: 12px; margin: 2px 4px 2px 0; }
.pill em { font-style: normal; color: var(--muted); }
.why { margin: 8px 0 6px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line);
     padding: 6px 8px; white-space: nowrap; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.sources td { padding: 4px 8px; } .sources { margin-top: 4px; }
.sources a { color: var(--accent); text-decoration: none; }
.sources a:hover { text-decoration: underline; }
.more { color: var(--muted); font-size: 12px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@media (max-width: 720px) { .cards { grid-template-columns: repeat(2, 1fr); } }
@media print { body { background: #fff; } .card, .panel, ol.stories > li { break-inside: avoid; } }
"""


def _story_html(story: dict[str, Any]) -> str:
    sources = story["sources"]
    first = sources[0] if sources else {}
    why = "".join(
        f'<span class="pill">{e(name)}'
        + (f' <em>{e(", ".join(terms[:4]))}{"…" if len(terms) > 4 else ""}</em>' if terms else "")
        + "</span>" for name, terms in story["why"].items())
    rows = []
    for s in sources[:SOURCES_SHOWN]:
        topics = ", ".join(s["matches"])
        rows.append(
            f"<tr><td>{e(_when(s['published']))}</td><td>{e(s['outlet'] or s['feed_name'])}</td>"
            f"<td>{_link(s['url'], s['title'] or '(no title)')}</td>"
            f"<td>{e(s['language'] or '')}</td><td>{e(topics)}</td>"
            f'<td class="n">{s["score"]:.2f}</td></tr>')
    more = len(sources) - SOURCES_SHOWN
    who = story.get("first") or {}
    carrier = e(story["first_outlet"] or "?")
    if who and who.get("country") != UNKNOWN:
        carrier = (f'{e(who["name"])}</b> ({carrier}, {e(who["country"])}, '
                   f'{e(who["kind"])})<b>')
    split = " · ".join(f"{e(SIDE_LABELS[side])} <b>{n}</b>"
                       for side, n in story.get("split", ()) if n)
    return (
        f'<li class="story"><h3>{_link(first.get("url"), story["title"])}</h3>'
        f'<div class="facts">reach <b>{story["reach"]}</b> outlet(s) · '
        f'<b>{story["kept_items"]}</b> kept item(s) · first '
        f'<b>{carrier}</b> at {e(_when(story["first_published"]))} UTC'
        f' · best score <b>{story["best_score"]:.2f}</b></div>'
        + (f'<div class="facts split">coverage: {split}</div>' if split else "")
        + f'<div class="why">{why}</div>'
        f'<table class="sources"><thead><tr><th>published (UTC)</th><th>outlet</th>'
        f'<th>headline</th><th>lang</th><th>matched topics</th><th class="n">score</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + (f'<div class="more">and {more} more source(s)</div>' if more > 0 else "")
        + "</li>")


def render_html(report: Report, *, title: str = "Media monitoring digest") -> str:
    """The report as one self-contained HTML document."""
    st = report.stats
    period = f"{report.since[:10]} to {report.until[:10]}"
    cards = [(st.total_items, "kept items"),
             (st.total_stories if st.total_stories is not None else "–", "new stories"),
             (len(report.outlets), "outlets"),
             (len({lang for o in report.outlets for lang in (o["languages"] or "").split(",")
                   if lang and lang != "?"}), "languages")]
    legend = ('<div class="legend"><i style="background:#2b5fa8"></i>kept items per '
              f'{e(st.by)}' + ("" if st.stories is None else
                               '<i style="background:#c0572a"></i>new stories') + "</div>")
    outlet_rows = "".join(
        f"<tr><td>{e(o['outlet'])}</td>"
        f"<td>{e(o.get('source_country', UNKNOWN))}</td><td>{e(o.get('source_kind', UNKNOWN))}"
        f"</td><td class='n'>{o['items']}</td>"
        f"<td class='n'>{o['stories']}</td><td class='n'>{e(o['first_reports'] or 0)}</td>"
        f"<td class='n'>{o['mean_score']:.2f}</td>"
        f"<td>{e(', '.join(sorted(set((o['languages'] or '').split(',')) - {''})))}"
        f"</td><td>{e(_when(o['latest']))}</td></tr>" for o in report.outlets)
    total = sum(n for _, n in report.coverage)
    coverage = "".join(
        f"<tr><td>{e(SIDE_LABELS[side])}</td><td class='n'>{n}</td>"
        f"<td class='n'>{100 * n / total:.0f}%</td></tr>"
        for side, n in report.coverage if n) or '<tr><td colspan="3">No kept items.</td></tr>'
    stories = ("".join(_story_html(s) for s in report.stories)
               or '<p class="meta">No kept stories in this period.</p>')
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    scope = f" · topic <b>{e(st.topic)}</b>" if st.topic else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{e(title)}: {e(period)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<div class="kicker">mediamon digest</div>
<h1>{e(title)}</h1>
<div class="meta">Items published {e(period)} (UTC){scope} ·
generated {e(_when(report.generated))} UTC</div>
</header>
<section class="cards">
{"".join(f'<div class="card"><b>{e(v)}</b><span>{e(k)}</span></div>' for v, k in cards)}
</section>
<h2>Timeline</h2>
<div class="panel">{timeline_svg(st)}{legend}</div>
<h2>Top stories by reach</h2>
<ol class="stories">{stories}</ol>
<h2>Outlets</h2>
<div class="panel"><table>
<thead><tr><th>outlet</th><th>country</th><th>kind</th><th class="n">kept items</th>
<th class="n">stories</th>
<th class="n">first to report</th><th class="n">mean score</th><th>languages</th>
<th>latest (UTC)</th></tr></thead>
<tbody>{outlet_rows or '<tr><td colspan="9">No kept items in this period.</td></tr>'}</tbody>
</table></div>
<h2>Coverage by side</h2>
<div class="panel"><table class="coverage">
<thead><tr><th>outlets</th><th class="n">kept items</th><th class="n">share</th></tr></thead>
<tbody>{coverage}</tbody></table>
<div class="legend">Sides by the outlet's country in the source registry: Russian; Afghan;
regional (Pakistan, Iran, India, China, Central Asia, Turkey...); Western (Europe, North
America, Japan, South Korea, Australia...); other; unknown (an outlet the registry does not
list).</div></div>
<footer>Reach is the number of distinct outlets that carried a story. Matched topics and
words come from the configured topic queries; the score combines the keep rule and the
similarity to the reference articles. Generated by mediamon {e(__version__)}.</footer>
</main>
</body>
</html>
"""
