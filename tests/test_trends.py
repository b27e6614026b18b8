"""Volume spikes end to end on a real SQLite file: counting (store/trends.py), surges
recorded once with a cool-down (desk/trends.py), the alert through a loopback webhook,
`mediamon trends` through CliRunner, [spikes] in the config and the daemon's check."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner, Result

from conftest import default_settings_text
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.core.spikes import SpikeSettings
from mediamon.desk.alerts import send_alerts
from mediamon.desk.trends import DaemonJob, detect, measure
from mediamon.errors import ConfigError
from mediamon.store.sqlite import ScoredItem, Store, migrations
from mediamon.types import FeedSource, FetchResult, Item, Match, TopicHit, Validators
from test_alerts import Receiver

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FEED = "https://feeds.example.org/world.xml"
WORDS = ("kabul moscow envoy trade talks embassy ministry delegation border grain "
         "pipeline summit visa railway bank energy wheat flights security forum").split()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Writer:
    """Stores synthetic kept items through the real feed-pass writer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.n = 0
        self.rng = random.Random(11)
        store.sync_config_feeds([FeedSource(FEED, "World")], now=NOW - timedelta(days=30))

    def put(self, at: datetime, topics: tuple[str, ...], *, title: str | None = None,
            host: str | None = None) -> None:
        self.n += 1
        n = self.n
        title = title or " ".join(self.rng.sample(WORDS, 6)) + f" {n}"
        url = f"https://{host or 'news.example.org'}/a/{n}"
        item = Item(id=f"{n:016x}", feed_url=FEED, guid=url, url=url, canonical_url=url,
                    title=title, summary=title, content="", summary_html="", content_html="",
                    authors=(), categories=(), published=at, updated=None, first_seen=at,
                    language="en", content_hash=f"h{n}")
        hits = tuple(TopicHit(t, (t,)) for t in topics)
        match = Match(kept=True, score=0.8, similarity=0.2, topics=hits, rule_matched=True)
        ok = FetchResult(FEED, "ok", 200, FEED, b"<rss/>", (), Validators(None, None))
        self.store.save_feed_pass(FEED, ok, [ScoredItem(item, match)], now=at, next_fetch=at)

    def steady(self, topics: tuple[str, ...], *, days: int, every: float,
               end: datetime = NOW - timedelta(hours=6)) -> None:
        """One item on ``topics`` every ``every`` hours for ``days`` days up to ``end``."""
        t = end - timedelta(days=days)
        while t < end:
            self.put(t, topics)
            t += timedelta(hours=every)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "m.db")
    yield s
    s.close()


def quiet_week(store: Store) -> Writer:
    """Eight days of two topics at one item every two hours each."""
    w = Writer(store)
    w.steady(("relations",), days=8, every=2)
    w.steady(("trade",), days=8, every=2)
    return w


def test_hourly_counts_put_each_item_in_its_hour(store: Store) -> None:
    """Counts per topic are per hour back from now, by the earlier of published and first
    seen, oldest hour first; older items and other topics stay out."""
    w = Writer(store)
    w.put(NOW - timedelta(minutes=10), ("relations",))
    w.put(NOW - timedelta(minutes=70), ("relations", "trade"))
    w.put(NOW - timedelta(hours=30), ("relations",))  # outside 24 h
    counts = store.topic_hourly_counts(now=NOW, hours=24)
    assert counts["relations"][-1] == 1 and counts["relations"][-2] == 1
    assert sum(counts["relations"]) == 2 and sum(counts["trade"]) == 1
    assert len(counts["trade"]) == 24


def test_a_surge_on_one_topic_fires_once_and_not_on_the_other(store: Store) -> None:
    """18 items in three hours on one topic: one spike for that topic, none for the
    topic that stayed quiet; checks during the surge continue it, not repeat it."""
    w = quiet_week(store)
    for i in range(18):
        w.put(NOW - timedelta(minutes=10 * i + 5), ("relations",))
    w.put(NOW - timedelta(hours=1), ("trade",))
    found = detect(store, SpikeSettings(), now=NOW)
    assert [(s["scope"], s["key"]) for s in found] == [("topic", "relations")]
    spike = found[0]
    assert spike["count"] == 18 and spike["expected"] < 4 and spike["score"] > 6
    for hours in (1, 2, 3):
        assert detect(store, SpikeSettings(), now=NOW + timedelta(hours=hours)) == []
    assert len(store.spikes_since(NOW - timedelta(days=1))) == 1


def test_a_quiet_history_does_not_fire(store: Store) -> None:
    """A week of steady volume, checked every hour of the last day, records nothing."""
    w = quiet_week(store)
    w.steady(("relations",), days=1, every=2, end=NOW)
    w.steady(("trade",), days=1, every=2, end=NOW)
    for hours in range(0, 24, 3):
        assert detect(store, SpikeSettings(), now=NOW - timedelta(hours=hours)) == []


def test_a_new_surge_after_the_cooldown_fires_again(store: Store) -> None:
    """The same topic surging again two days later (past the 24 h cool-down) is a new
    spike; one surge within the cool-down is not."""
    w = quiet_week(store)
    for i in range(18):
        w.put(NOW - timedelta(minutes=10 * i + 5), ("relations",))
    assert len(detect(store, SpikeSettings(), now=NOW)) == 1
    later = NOW + timedelta(hours=48)
    w.steady(("relations",), days=2, every=2, end=later - timedelta(hours=4))
    for i in range(20):
        w.put(later - timedelta(minutes=10 * i + 5), ("relations",))
    again = detect(store, SpikeSettings(), now=later)
    assert [(s["key"], s["count"]) for s in again] == [("relations", 20)]


def test_a_new_story_fires_only_with_many_items(store: Store) -> None:
    """A story's first three mentions do not fire; fourteen outlets carrying it within
    a few hours do, as a story spike with its title."""
    w = quiet_week(store)
    title = "Taliban envoy presents credentials to Kremlin in Moscow ceremony"
    for i in range(3):
        w.put(NOW - timedelta(minutes=30 * i + 5), ("relations",), title=title,
              host=f"outlet{i}.example.com")
    assert [s for s in detect(store, SpikeSettings(), now=NOW) if s["scope"] == "story"] == []
    later = NOW + timedelta(hours=2)
    for i in range(3, 17):
        w.put(later - timedelta(minutes=8 * i), ("relations",), title=title,
              host=f"outlet{i}.example.com")
    stories = [s for s in detect(store, SpikeSettings(), now=later) if s["scope"] == "story"]
    assert len(stories) == 1 and stories[0]["count"] == 17
    trends = {t.key: t for t in measure(store, SpikeSettings(), now=later)}
    assert trends[stories[0]["key"]].title == title


def test_a_young_database_does_not_call_its_first_day_a_surge(store: Store) -> None:
    """Items collected for five hours only: no week of quiet hours before them is
    assumed, so their volume is not a surge against an empty baseline."""
    w = Writer(store)
    for i in range(40):
        w.put(NOW - timedelta(minutes=7 * i), ("relations",))
    assert detect(store, SpikeSettings(), now=NOW) == []
    assert measure(store, SpikeSettings(), now=NOW)[0].assessment.baseline_hours == 0


def alerts_config(tmp_path: Path, db: Path, extra: str) -> Path:
    path = tmp_path / "mediamon.toml"
    path.write_text(default_settings_text(db) + "\n" + extra, encoding="utf-8")
    return path


def test_a_spike_alert_goes_out_once_through_the_webhook(tmp_path: Path, store: Store,
                                                         receiver: Receiver) -> None:
    """An alert with when = "spikes" posts the surge with its sentence once; the next
    run has nothing new to send."""
    config = load_config(alerts_config(tmp_path, store.path, f"""
[[alerts]]
name = "surges"
when = "spikes"
webhook = "{receiver.url}"
"""))
    send_alerts(config.alerts, store, now=NOW - timedelta(days=9))  # registers the alert
    w = Writer(store)
    w.steady(("relations",), days=8, every=5)  # 1.2 items expected in 6 hours
    for i in range(14):
        w.put(NOW - timedelta(minutes=20 * i + 5), ("relations",))
    assert len(detect(store, config.spikes, now=NOW)) == 1
    outcomes = send_alerts(config.alerts, store, now=NOW)
    assert [o.status for o in outcomes] == ["sent"]
    body = receiver.bodies[0]["json"]
    assert body["count"] == 1 and body["spikes"][0]["key"] == "relations"
    assert "unusual volume: 14 items in 6 h on topic relations, 1.2 expected (p < 1e-09)" \
        in body["text"]
    assert [o.status for o in send_alerts(config.alerts, store, now=NOW)] == ["nothing new"]
    assert len(receiver.bodies) == 1


def test_spike_config_is_read_and_checked(tmp_path: Path) -> None:
    """[spikes] takes durations in whole hours and numbers; mistakes name the key."""
    db = tmp_path / "m.db"
    config = load_config(alerts_config(tmp_path, db, """
[spikes]
window = "12h"
baseline = "14d"
threshold = 0.0001
min_count = 8
cooldown = "2d"
daily_cycle = false
"""))
    assert config.spikes == SpikeSettings(window=12, baseline=336, threshold=0.0001,
                                          min_count=8, cooldown=48, daily_cycle=False)
    for text, key in (('[spikes]\nwindow = "90m"', "spikes.window"),
                      ("[spikes]\nthreshold = 0", "spikes.threshold"),
                      ("[spikes]\nmin_ratio = 0.5", "spikes.min_ratio"),
                      ("[spikes]\nwindw = \"6h\"", "spikes.windw"),
                      ('[[alerts]]\nname = "a"\nwhen = "spikes"\nmin_score = 0.5\n'
                       'webhook = "http://127.0.0.1:9/"', "alerts[0].min_score")):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_config(alerts_config(tmp_path, db, text))


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", *args])


def test_trends_lists_rising_topics_and_stories(tmp_path: Path, store: Store) -> None:
    """`mediamon trends` lists the surging topic first with its count, expected count and
    score, as a table, JSON or CSV, on a real database file."""
    w = quiet_week(store)
    for i in range(18):
        w.put(NOW - timedelta(minutes=10 * i + 5), ("relations",))
    store.close()
    config = alerts_config(tmp_path, store.path, "")
    at = "2026-03-10T12:00"
    result = invoke(config, "trends", "--at", at, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["scope"] == "topic" and rows[0]["id"] == "relations"
    assert rows[0]["count"] == 18 and rows[0]["unusual"] is True and rows[0]["score"] > 6
    assert all(r["id"] != "trade" for r in rows)  # not rising
    assert any(r["id"] == "trade" for r in json.loads(
        invoke(config, "trends", "--at", at, "--all", "--json").output))
    table = invoke(config, "trends", "--at", at)
    assert table.exit_code == 0 and "relations" in table.output and "expected" in table.output
    parsed = list(csv.DictReader(io.StringIO(invoke(config, "trends", "--at", at,
                                                    "--format", "csv").output)))
    assert parsed[0]["id"] == "relations" and parsed[0]["count"] == "18"
    stories = json.loads(invoke(config, "trends", "--at", at, "--scope", "story",
                                "--json").output)
    assert all(r["scope"] == "story" and not r["unusual"] for r in stories)


def test_trends_refuses_bad_options_in_one_line(tmp_path: Path, store: Store) -> None:
    """A window that is not whole hours, or a time that is not one, is a usage error."""
    store.close()
    config = alerts_config(tmp_path, store.path, "")
    bad = invoke(config, "trends", "--window", "90m")
    assert bad.exit_code == 2 and "whole hours" in bad.output
    worse = invoke(config, "trends", "--at", "yesterday-ish")
    assert worse.exit_code in (1, 2) and "Traceback" not in worse.output


def test_the_daemon_check_runs_after_new_items_only(tmp_path: Path, store: Store) -> None:
    """The daemon's job records a surge once new items are stored, and does nothing more
    while nothing new arrives."""
    now = datetime.now(UTC).replace(microsecond=0)
    w = Writer(store)
    w.steady(("relations",), days=8, every=2, end=now - timedelta(hours=6))
    for i in range(16):
        w.put(now - timedelta(minutes=10 * i + 1), ("relations",))
    config = load_config(alerts_config(tmp_path, store.path, ""))
    job = DaemonJob()
    found = asyncio.run(job.run(lambda: config))
    assert [s["key"] for s in found] == ["relations"]
    assert asyncio.run(job.run(lambda: config)) == []  # nothing stored since
    assert len(store.spikes_since(now - timedelta(days=1))) == 1


def test_the_daemon_schedules_the_spike_check(tmp_path: Path, store: Store) -> None:
    """The daemon adds the spike check to its jobs beside the alerts."""
    from mediamon.schedule import Daemon

    config = load_config(alerts_config(tmp_path, store.path, ""))

    async def jobs() -> list[str]:
        daemon = Daemon(config, store)
        daemon._add_desk_jobs(datetime.now(UTC))
        return [job.id for job in daemon.scheduler.get_jobs()]

    assert "spikes" in asyncio.run(jobs())


def test_the_migration_keeps_alerts_sent_and_accepts_spikes(tmp_path: Path) -> None:
    """A database from before spikes keeps its alert_sent rows when the table is rebuilt
    to accept spikes."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m011_spikes")
    db.execute("PRAGMA user_version = 10")
    db.execute("INSERT INTO alert_sent VALUES ('a', 'webhook', 'item', 'x1', 't', NULL, "
               "'2026-01-01T00:00:00+00:00', NULL)")
    db.conn.commit()
    db.close()
    with Store(path) as store:
        assert store.unconfirmed_alert_claims("a") == 1
        assert store.claim_alert_entries("a", "webhook", [("spike", "s1", "t", None)],
                                         now=NOW) == [True]


def test_alerts_send_dry_run_shows_the_spike_sentence(tmp_path: Path, store: Store) -> None:
    """`alerts send --dry-run` prints the surge as the alert would say it, sending nothing."""
    config = alerts_config(tmp_path, store.path, """
[[alerts]]
name = "surges"
when = "spikes"
webhook = "http://127.0.0.1:9/never"
""")
    send_alerts(load_config(config).alerts, store, now=NOW - timedelta(days=9))
    w = Writer(store)
    w.steady(("relations",), days=8, every=5)
    for i in range(14):
        w.put(NOW - timedelta(minutes=20 * i + 5), ("relations",))
    detect(store, SpikeSettings(), now=NOW)
    store.close()
    result = invoke(config, "alerts", "send", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "surges (webhook): would send 1" in result.output
    assert "unusual volume: 14 items in 6 h on topic relations, 1.2 expected" in result.output
