"""Counts over time for ``mediamon stats``: kept items and stories per hour, day,
week or month, top outlets, top languages, and the terminal chart and image plot of them.

Without ``--by`` the period picks the bucket (``pick_bucket``): hours up to 3 days, days up
to 2 months, weeks up to 2 years, months beyond, so a chart has at most about a hundred rows.

``collect`` reads the database (read only) and returns a ``Stats``; ``chart`` turns a
``Stats`` into text (Unicode block bars that fit a given width); ``plot`` draws it with
matplotlib, an optional extra (``pip install 'mediamon[plot]'``), imported only when asked.

An item counts in the period of its ``published`` time (UTC). A story counts in the period
of its first mention, and only when one of its items is kept (and matched ``topic``, if
given). An item's outlet is its story's outlet (the site of its link, ``story_store``); items
without one (stories tables missing) fall back to the name of the feed they came through.
``countries`` and ``kinds`` count kept items by their outlet's entry in the source registry
(``core.sources``; ``unknown`` for outlets it does not list); ``outlets`` (``--country``,
``--kind``) limits every count to the items of those outlets.

This module writes nothing and does not decide what is kept.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mediamon.clock import utc_iso
from mediamon.errors import MediamonError
from mediamon.output import shorten, text_width
from mediamon.store.stats import Bucket

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.core.sources import SourceRegistry
    from mediamon.store.query import OutletScope
    from mediamon.store.sqlite import Store

By = Bucket  # the periods counts are grouped by (store.stats makes the buckets)
BUCKETS = ("hour", "day", "week", "month")
STATS_FORMATS = ("table", "json", "csv")
PLOT_FORMATS = ("png", "svg")  # --plot FILE.png or FILE.svg
MAX_PERIODS = 10_000
TOP = 10  # outlets and languages listed
SERIES = 8  # outlets drawn as their own series with --by-outlet; the rest are "other"
BLOCKS = " ▏▎▍▌▋▊▉█"
SPARKS = "▁▂▃▄▅▆▇█"


class PlotError(MediamonError):
    """``--plot`` cannot be drawn (matplotlib missing, or an unknown file type)."""


@dataclass(frozen=True)
class Stats:
    """What ``mediamon stats`` shows; every list is ordered as displayed."""

    since: str
    until: str
    by: str
    topic: str | None
    # the start of each period, oldest first, gaps included: 2025-07-03 (day, week: its
    # Monday, month: its first day) or 2025-07-03T14:00 (hour)
    periods: tuple[str, ...]
    items: tuple[int, ...]  # kept items per period
    stories: tuple[int, ...] | None  # new stories per period (None: no stories tables)
    outlets: tuple[tuple[str, int], ...]  # top outlets: (outlet, kept items)
    languages: tuple[tuple[str, int], ...]  # top languages: (code or "unknown", kept items)
    # --by-outlet: outlet -> kept items per period, for the top SERIES outlets (+ "other")
    by_outlet: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # kept items by their outlet's country and kind in the source registry, most first
    countries: tuple[tuple[str, int], ...] = ()
    kinds: tuple[tuple[str, int], ...] = ()

    @property
    def total_items(self) -> int:
        return sum(self.items)

    @property
    def total_stories(self) -> int | None:
        return None if self.stories is None else sum(self.stories)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timeline"] = [
            {"period": p, "items": n, **({} if self.stories is None
                                         else {"stories": self.stories[i]})}
            for i, (p, n) in enumerate(zip(self.periods, self.items, strict=True))]
        for key in ("periods", "items", "stories"):
            data.pop(key)
        data["outlets"] = [{"outlet": o, "items": n} for o, n in self.outlets]
        data["languages"] = [{"language": lang, "items": n} for lang, n in self.languages]
        data["countries"] = [{"country": c, "items": n} for c, n in self.countries]
        data["kinds"] = [{"kind": k, "items": n} for k, n in self.kinds]
        data["by_outlet"] = {o: list(v) for o, v in self.by_outlet.items()}
        data["total_items"] = self.total_items
        data["total_stories"] = self.total_stories
        return data


def pick_bucket(since: datetime, until: datetime) -> By:
    """The bucket for a period when none is asked for: hours up to 3 days, days up to 2
    months (62 days, as ``report``), weeks up to 2 years, months beyond."""
    span = until - since
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=62):
        return "day"
    return "week" if span <= timedelta(days=731) else "month"


def _period_start(when: datetime, by: str) -> datetime:
    when = when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if by == "hour":
        return when
    day = when.replace(hour=0)
    if by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if by == "month" else day


def _next_period(start: datetime, by: str) -> datetime:
    if by == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + {"hour": timedelta(hours=1), "week": timedelta(days=7)}.get(
        by, timedelta(days=1))


def _label(start: datetime, by: str) -> str:
    return start.strftime("%Y-%m-%dT%H:00") if by == "hour" else start.date().isoformat()


def _periods(since: datetime, until: datetime, by: str) -> list[str]:
    start, out = _period_start(since, by), cast("list[str]", [])
    while start < until:
        if len(out) == MAX_PERIODS:
            raise MediamonError(
                f"--by {by} from {since.date()} to {until.date()} is more than {MAX_PERIODS:,} "
                f"periods: choose a longer --by (or leave it out) or a shorter period")
        out.append(_label(start, by))
        start = _next_period(start, by)
    return out


def has_stories(store: Store) -> bool:
    """Whether the database has the stories tables."""
    return store.has_stories()


def collect(store: Store, *, now: datetime, since: datetime | None = None,
            until: datetime | None = None, by: By = "day", topic: str | None = None,
            by_outlet: bool = False, sources: SourceRegistry | None = None,
            outlets: OutletScope | None = None) -> Stats:
    """Count kept items (and stories) per period between ``since`` (default 30 days before
    ``now``) and ``until`` (default ``now``).

    Args:
        store: the database, read only.
        now: the current time (UTC); periods run up to it.
        by: ``hour``, ``day``, ``week`` (weeks start on Monday) or ``month``; ``pick_bucket``
            chooses one from the period.
        topic: only items that matched this topic (and stories with such an item).
        by_outlet: also count per period for each of the top outlets.
        sources: the source registry, for the counts by country and kind (none without).
        outlets: only the items of these outlets (``--country``/``--kind``).
    Returns:
        The counts, with empty periods as zeros.
    Raises:
        MediamonError: ``since`` is not before ``until``, or the period has more than
            ``MAX_PERIODS`` buckets of ``by``.
    """
    if by not in BUCKETS:
        raise MediamonError(f"--by: {by!r} is not one of {', '.join(BUCKETS)}")
    until = until or now
    since = since or now - timedelta(days=30)
    if since >= until:
        raise MediamonError("--since must be before --until")
    periods = _periods(since, until, by)
    index = {p: i for i, p in enumerate(periods)}
    stories = has_stories(store)

    def series(rows: list[tuple[str | None, int]]) -> list[int]:
        counts = [0] * len(periods)
        for period, n in rows:
            if period in index:
                counts[index[period]] += n
        return counts

    # Only a scope that is given is passed on: a store that filters no outlets (PostgreSQL's
    # own versions of these methods) still counts everything else.
    scope: dict[str, Any] = {} if outlets is None else {"outlets": outlets}
    items = series(store.kept_items_per_period(by, since=since, until=until, topic=topic,
                                               **scope))
    story_counts = None
    if stories:
        story_counts = series(store.new_stories_per_period(by, since=since, until=until,
                                                           topic=topic, **scope))
    every_outlet = store.top_outlets(since=since, until=until, topic=topic,
                                     with_stories=stories, limit=1_000_000, **scope)
    top_outlets = every_outlet[:TOP]
    languages = store.top_languages(since=since, until=until, topic=topic, limit=TOP, **scope)
    countries: dict[str, int] = {}
    kinds: dict[str, int] = {}
    if sources is not None:
        for outlet, n in every_outlet:
            who = sources.describe(outlet)
            countries[who["country"]] = countries.get(who["country"], 0) + n
            kinds[who["kind"]] = kinds.get(who["kind"], 0) + n
    split: dict[str, tuple[int, ...]] = {}
    if by_outlet:
        named = [o for o, _ in top_outlets[:SERIES]]
        per: dict[str, list[int]] = {o: [0] * len(periods) for o in named}
        for period, name, n in store.kept_items_per_period_and_outlet(
                by, since=since, until=until, topic=topic, with_stories=stories, **scope):
            key = str(name) if name in per else "other"
            per.setdefault(key, [0] * len(periods))
            if period in index:
                per[key][index[period]] += n
        split = {o: tuple(v) for o, v in per.items()}
    return Stats(since=utc_iso(since) or "", until=utc_iso(until) or "", by=by, topic=topic,
                 periods=tuple(periods), items=tuple(items),
                 stories=None if story_counts is None else tuple(story_counts),
                 outlets=tuple(top_outlets), languages=tuple(languages), by_outlet=split,
                 countries=_most_first(countries), kinds=_most_first(kinds))


def _most_first(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# -- text -------------------------------------------------------------------------------------


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of ``value`` out of ``top`` in at most ``width`` cells, in eighths."""
    if top <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (BLOCKS[part] if part else "")


def sparkline(values: tuple[int, ...] | list[int]) -> str:
    """One character per value, ``▁`` (zero) to ``█`` (the largest)."""
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[0] if v <= 0 else SPARKS[max(1, round(v / top * 7))] for v in values)


def _ranked(title: str, rows: tuple[tuple[str, int], ...], total: int, width: int) -> list[str]:
    if not rows:
        return [title, "  (none)"]
    label = min(28, max(text_width(name) for name, _ in rows), max(8, width - 24))
    room = max(5, min(60, width - label - 18))
    top = rows[0][1]
    lines = [title]
    for name, n in rows:
        share = f"{100 * n / total:4.0f}%" if total else ""
        lines.append(f"  {_pad(name, label)} {n:>6} {share} {bar(n, top, room)}")
    return lines


def _pad(name: str, cells: int) -> str:
    """``name`` shortened or padded to exactly ``cells`` terminal cells."""
    name = shorten(name, cells)
    return name + " " * (cells - text_width(name))


def _shown(period: str) -> str:
    return period.replace("T", " ")


def chart(stats: Stats, *, width: int = 80) -> str:
    """The terminal view: one bar per period (kept items, with the stories count), then the
    top outlets and languages, all within ``width`` columns."""
    lines = []
    scope = f"topic {stats.topic}, " if stats.topic else ""
    stories = "" if stats.total_stories is None else f", {stats.total_stories} stories"
    cut = 16 if stats.by == "hour" else 10  # hours show the time of day too
    lines.append(f"Kept items per {stats.by} ({scope}{_shown(stats.since[:cut])} to "
                 f"{_shown(stats.until[:cut])}): {stats.total_items} items{stories}")
    has_st = stats.stories is not None
    count_w = max(5, len(str(max(stats.items, default=0))))
    story_w = max(7, len(str(max(stats.stories or (0,), default=0)))) if has_st else 0
    suffix = (count_w + 1) + (story_w + 1 if has_st else 0)
    label_w = max((len(_shown(p)) for p in stats.periods), default=10)
    room = max(5, min(72, width - label_w - 1 - suffix - 1))
    top = max(stats.items, default=0)
    lines.append(f"{'period':<{label_w}} {'items':>{count_w}}"
                 + (f" {'stories':>{story_w}}" if has_st else ""))
    for i, period in enumerate(stats.periods):
        n = stats.items[i]
        line = f"{_shown(period):<{label_w}} {n:>{count_w}} " + (
            f"{stats.stories[i] if stats.stories else 0:>{story_w}} " if has_st else "")
        lines.append(line + bar(n, top, room))
    if stats.by_outlet:
        label = min(28, max(text_width(o) for o in stats.by_outlet), max(8, width - 18))
        spark_room = max(5, width - label - 10)
        count = len(stats.periods)
        shown = min(count, spark_room)
        # One character per period: when they do not all fit, the newest are shown and the
        # heading says which (the totals are of the whole period).
        scope = ("oldest left" if shown == count else
                 f"the last {shown} of {count} {stats.by}s, from "
                 f"{_shown(stats.periods[count - shown])}")
        lines += ["", f"Kept items per {stats.by} by outlet ({scope})"]
        for name, values in stats.by_outlet.items():
            lines.append(f"  {_pad(name, label)} {sum(values):>5} "
                         f"{sparkline(values[count - shown:])}")
    lines.append("")
    lines += _ranked("Top outlets", stats.outlets, stats.total_items, width)
    lines.append("")
    lines += _ranked("Top languages", stats.languages, stats.total_items, width)
    if stats.countries:
        lines.append("")
        lines += _ranked("By country (source registry)", stats.countries, stats.total_items,
                         width)
        lines.append("")
        lines += _ranked("By kind (source registry)", stats.kinds, stats.total_items, width)
    # A last resort for very narrow terminals: nothing wraps.
    return "\n".join(shorten(line, width).rstrip() for line in lines)


def to_csv(stats: Stats) -> str:
    """The timeline as CSV: ``period,items,stories``, or with --by-outlet
    ``period,outlet,items`` (one row per outlet and period)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if stats.by_outlet:
        writer.writerow(["period", "outlet", "items"])
        for name, values in stats.by_outlet.items():
            for period, n in zip(stats.periods, values, strict=True):
                writer.writerow([period, name, n])
    else:
        writer.writerow(["period", "items", *([] if stats.stories is None else ["stories"])])
        for i, period in enumerate(stats.periods):
            writer.writerow([period, stats.items[i],
                             *([] if stats.stories is None else [stats.stories[i]])])
    return buf.getvalue().rstrip("\n")


def render_stats(stats: Stats, fmt: str, *, width: int = 80) -> str:
    if fmt == "json":
        return json.dumps(stats.as_dict(), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(stats)
    return chart(stats, width=width)


# -- image ------------------------------------------------------------------------------------


def plot_format_error(path: str | Path) -> str | None:
    """Why ``path`` cannot be drawn to (its extension is not a supported format), or None."""
    kind = Path(path).suffix.lower().lstrip(".")
    if kind in PLOT_FORMATS:
        return None
    found = f"a .{kind} file" if kind else "a file name without an extension"
    return (f"{path}: cannot draw {found}; supported: "
            + ", ".join(f".{k}" for k in PLOT_FORMATS))


def check_plot(path: str | Path) -> None:
    """Fail before any work when ``plot`` could not draw to ``path``.

    Raises:
        PlotError: an unsupported file type, or matplotlib is not installed.
    """
    problem = plot_format_error(path)
    if problem:
        raise PlotError(f"--plot {problem}")
    try:
        found = importlib.util.find_spec("matplotlib")
    except ValueError:  # in sys.modules without a spec
        found = None
    if found is None:
        raise PlotError("--plot needs matplotlib: pip install 'mediamon[plot]'")


def plot(stats: Stats, path: str | Path) -> Path:
    """Draw the timeline (stacked per outlet with --by-outlet) to a PNG or SVG file.

    Raises:
        PlotError: matplotlib is not installed, or the file type is not one of
            ``PLOT_FORMATS`` (``check_plot`` says so before any work).
    """
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    problem = plot_format_error(path)
    if problem:
        raise PlotError(f"--plot {problem}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'mediamon[plot]'") from None
    x = [datetime.fromisoformat(p) for p in stats.periods]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=120)
    # matplotlib's unit converters plot datetimes; its type stubs list numbers only.
    x = cast(Any, x)
    try:
        step = {"hour": 0.85 / 24, "week": 6.0, "month": 27.0}.get(stats.by, 0.85)  # days
        if stats.by_outlet:
            bottom = [0] * len(x)
            for name, values in stats.by_outlet.items():
                ax.bar(x, values, width=step, bottom=bottom, label=name, align="edge")
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        else:
            ax.bar(x, stats.items, width=step, color="#2b6cb0", label="kept items",
                   align="edge")
        if stats.stories is not None:
            ax.plot([d + timedelta(days=step / 2) for d in x], stats.stories, color="#c05621",
                    marker="o", markersize=3, linewidth=1.5, label="new stories")
        title = f"Kept items per {stats.by}" + (f" - topic {stats.topic}" if stats.topic else "")
        ax.set_title(title, loc="left", fontsize=12)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#e2e8f0")
        ax.set_axisbelow(True)
        ax.legend(frameon=False, fontsize=8, loc="best")
        fig.autofmt_xdate()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=kind)
    finally:
        plt.close(fig)
    return path
