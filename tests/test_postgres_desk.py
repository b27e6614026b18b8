"""The analyst's writes and the daemon's desk jobs on PostgreSQL: `label`, `labels`,
`rescore`, `relang`, `trends` and `vacuum` give on PostgreSQL what they give on SQLite for
the same content, and daemons sharing one PostgreSQL database run spikes, alerts and
retention on one of them (an advisory lock per job, store/postgres/locks.py).

The content: the fixture feeds polled once into a SQLite file (`run --once --keep-all`),
then, for each test, a copy of that file and the same file moved into a fresh PostgreSQL
database with `mediamon migrate`; each command runs on both and what it prints, and what
the database holds afterwards, are compared. Trends use synthetic items written through
each store's own feed-pass writer. The daemons are real `mediamon run` processes with a
webhook receiver on loopback. Without a PostgreSQL server every test skips, saying why.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")

from conftest import default_settings_text, wait_for  # noqa: E402
from feedserver import FeedServer, config_text, rss  # noqa: E402
from mediamon.config import load_config  # noqa: E402
from mediamon.core.spikes import SpikeSettings  # noqa: E402
from mediamon.desk import housekeeping  # noqa: E402
from mediamon.desk.jobs import job_store  # noqa: E402
from mediamon.desk.trends import DaemonJob, detect  # noqa: E402
from mediamon.store.postgres.locks import JobLocks  # noqa: E402
from mediamon.store.postgres.read import PostgresReader  # noqa: E402
from mediamon.store.sqlite import ScoredItem, Store  # noqa: E402
from mediamon.types import FetchResult, Item, Match, TopicHit, Validators  # noqa: E402
from test_alerts import Receiver  # noqa: E402
from test_backends import invoke, output, poll_fixture_feeds  # noqa: E402
from test_trends import NOW, Writer  # noqa: E402

# -- the same content on both backends --------------------------------------------------------


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The fixture feeds polled into a SQLite file: (its config, the file)."""
    yield poll_fixture_feeds(tmp_path_factory.mktemp("desk"), "polled.db")


@dataclass
class Pair:
    """One content in a SQLite file and in a PostgreSQL database."""

    config: Path
    sqlite: str
    pg: str

    @property
    def both(self) -> tuple[str, str]:
        return self.sqlite, self.pg

    def run(self, db: str, *args: str, config: Path | None = None) -> str:
        return output(config or self.config, db, *args)

    def rows(self, query: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """What ``query`` reads on PostgreSQL, and on SQLite."""
        with psycopg.connect(self.pg) as pg, sqlite3.connect(self.sqlite) as lite:
            return ([tuple(r) for r in pg.execute(query).fetchall()],
                    [tuple(r) for r in lite.execute(query).fetchall()])

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """Run one statement (``?`` placeholders) on both databases."""
        with sqlite3.connect(self.sqlite) as conn:
            conn.execute(statement, params)
        with psycopg.connect(self.pg) as pg:
            pg.execute(statement.replace("?", "%s"), params)


@pytest.fixture
def pair(polled: tuple[Path, Path], pg_url: str, tmp_path: Path) -> Pair:
    """A copy of the polled file, and the same moved into a fresh PostgreSQL database."""
    config, source = polled
    copy = tmp_path / "copy.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    result = invoke(config, str(copy), "migrate", str(copy), pg_url)
    assert result.exit_code == 0, result.output
    return Pair(config, str(copy), pg_url)


TOPICS = "SELECT item_id, topic, terms FROM item_topics ORDER BY item_id, topic"


def items(pair: Pair, db: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        pair.run(db, "items", "--all", "--json", "--limit", "1000"))
    return rows


def without(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in keys} for row in rows]


def ambiguous_prefix(ids: list[str]) -> str:
    """A prefix that starts two ids or more."""
    counts = Counter(i[:1] for i in ids)
    return next(p for p, n in counts.most_common() if n > 1)


# -- label, labels ----------------------------------------------------------------------------


def test_labels_are_recorded_the_same(pair: Pair, tmp_path: Path) -> None:
    """`label` (by id prefix, relevant or irrelevant, replaced, --remove) prints the same
    and `labels` then lists the same labels on both backends; an unknown or ambiguous id is
    the same one-line error (exit 1)."""
    ids = [r["id"] for r in items(pair, pair.sqlite)]
    assert len(ids) >= 6
    printed: dict[str, list[str]] = {}
    listed: dict[str, list[dict[str, Any]]] = {}
    for db in pair.both:
        printed[db] = [pair.run(db, *args) for args in (
            ["label", ids[0][:8], "relevant"], ["label", ids[1], "irrelevant"],
            ["label", ids[2][:10], "irrelevant"], ["label", ids[2][:10], "relevant"],
            ["label", ids[3], "relevant"], ["label", ids[3][:6], "--remove"])]
        rows = json.loads(pair.run(db, "labels", "--json"))
        assert all(row["labelled"] for row in rows)
        listed[db] = sorted(without(rows, "labelled"), key=lambda r: r["item_id"])
        for args, message in ((["label", "zzzz", "relevant"], "no item with id 'zzzz'"),
                              (["label", ambiguous_prefix(ids), "relevant"], "ambiguous"),
                              (["label", ids[4], "--remove"], "no label on an item")):
            result = invoke(pair.config, db, *args)
            assert result.exit_code == 1 and message in result.output, (db, result.output)
            assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert printed[pair.pg] == printed[pair.sqlite]
    assert listed[pair.pg] == listed[pair.sqlite]
    # `score` shapes its profile with the database's background and labels, on both.
    lines = tmp_path / "score.jsonl"
    lines.write_text("".join(json.dumps({"id": r["id"], "title": r["title"]}) + "\n"
                             for r in items(pair, pair.sqlite)[:5]), encoding="utf-8")
    scored = {db: pair.run(db, "score", str(lines)) for db in pair.both}
    assert scored[pair.pg] == scored[pair.sqlite] and scored[pair.pg].count("\n") == 5
    builtin = pair.run(pair.pg, "score", "--builtin", str(lines))
    assert builtin != scored[pair.pg]  # the labels and background moved the similarity
    assert {(r["item_id"], r["label"]) for r in listed[pair.pg]} == {
        (ids[0], "relevant"), (ids[1], "irrelevant"), (ids[2], "relevant")}
    table = pair.run(pair.pg, "labels")
    assert ids[0][:10] in table and "relevant" in table


# -- rescore ----------------------------------------------------------------------------------


def test_rescore_gives_the_same_verdicts(pair: Pair, tmp_path: Path) -> None:
    """`rescore` after labels that overrule the rule (a kept item labelled irrelevant, an
    unkept one relevant) prints the same counts and leaves the same items, scores, topics
    and explanations on both backends; so does `rescore --prune`, which deletes the items
    no longer kept."""
    rows = items(pair, pair.sqlite)
    kept = [r["id"] for r in rows if r["kept"]]
    unkept = [r["id"] for r in rows if not r["kept"]]
    assert kept and unkept
    printed: dict[str, list[str]] = {}
    for db in pair.both:
        pair.run(db, "label", kept[0], "irrelevant")
        pair.run(db, "label", unkept[0], "relevant")
        printed[db] = [pair.run(db, "rescore", "--batch", "3")]
    assert printed[pair.pg] == printed[pair.sqlite]
    assert "1 newly kept, 1 flagged not kept" in printed[pair.pg][0]
    after = items(pair, pair.pg)
    assert after == items(pair, pair.sqlite)
    by_id = {r["id"]: r for r in after}
    assert not by_id[kept[0]]["kept"] and by_id[unkept[0]]["kept"]
    # A topic added, then taken away again: its matches are stored, then deleted.
    wider = tmp_path / "wider.toml"
    wider.write_text(pair.config.read_text(encoding="utf-8") +
                     '\n[topics.moscow]\nquery = "moscow OR kremlin"\n', encoding="utf-8")
    for db in pair.both:
        pair.run(db, "rescore", config=wider)
    with_moscow = items(pair, pair.pg)
    assert with_moscow == items(pair, pair.sqlite)
    assert any("moscow" in r["topics"] for r in with_moscow)
    assert pair.rows(TOPICS)[0] == pair.rows(TOPICS)[1]
    assert any(row[1] == "moscow" for row in pair.rows(TOPICS)[0])
    for db in pair.both:
        pair.run(db, "rescore")
    assert items(pair, pair.pg) == items(pair, pair.sqlite) == after
    assert pair.rows(TOPICS)[0] == pair.rows(TOPICS)[1]
    assert not any(row[1] == "moscow" for row in pair.rows(TOPICS)[0])
    for db in pair.both:
        printed[db].append(pair.run(db, "rescore", "--prune", "--since", "2000-01-01"))
    assert printed[pair.pg] == printed[pair.sqlite]
    assert items(pair, pair.pg) == items(pair, pair.sqlite)
    assert kept[0] not in {r["id"] for r in items(pair, pair.pg)}
    assert pair.run(pair.pg, "stories", "--all", "--json") == \
        pair.run(pair.sqlite, "stories", "--all", "--json")


# -- relang -----------------------------------------------------------------------------------


def test_relang_changes_the_same_languages(pair: Pair) -> None:
    """`relang` puts back the language of items whose stored one was wrong, the same on
    both backends (what it prints, the items); PostgreSQL's search, whose text
    configuration follows the language, then finds the same items as SQLite's."""
    ids = [r["id"] for r in items(pair, pair.sqlite) if r["language"] == "en"][:3]
    assert len(ids) == 3
    for item_id in ids:
        pair.sql("UPDATE items SET language = 'ru' WHERE id = ?", (item_id,))
    printed = {db: pair.run(db, "relang", "--batch", "2") for db in pair.both}
    assert printed[pair.pg] == printed[pair.sqlite]
    assert "3 changed language: ru -> en 3" in printed[pair.pg]
    assert items(pair, pair.pg) == items(pair, pair.sqlite)
    assert {r["language"] for r in items(pair, pair.pg) if r["id"] in ids} == {"en"}
    again = {db: pair.run(db, "relang") for db in pair.both}
    assert again[pair.pg] == again[pair.sqlite] and "0 changed language" in again[pair.pg]

    def hits(db: str) -> set[str]:
        return {r["id"] for r in json.loads(pair.run(db, "search", "taliban", "--all",
                                                     "--json"))}

    assert hits(pair.pg) == hits(pair.sqlite) != set()


# -- vacuum -----------------------------------------------------------------------------------


def test_vacuum_applies_retention_the_same(pair: Pair, tmp_path: Path) -> None:
    """`vacuum` with [retention] deletes the same expired unkept items (not a labelled
    one) and fetch-log rows, and leaves the same items and stories, on both backends;
    --dry-run says the same and deletes nothing; on PostgreSQL it compacts with VACUUM
    (ANALYZE) and says so."""
    config = tmp_path / "retention.toml"
    config.write_text(pair.config.read_text(encoding="utf-8") +
                      '\n[retention]\nunkept_after = "30d"\nfetch_log_after = "30d"\n',
                      encoding="utf-8")
    rows = items(pair, pair.sqlite)
    unkept = [r["id"] for r in rows if not r["kept"]]
    assert len(unkept) >= 3
    pair.sql("UPDATE items SET first_seen = '2020-01-01T00:00:00+00:00' WHERE kept = 0")
    pair.sql("UPDATE fetch_log SET started = '2020-01-01T00:00:00+00:00' WHERE id = (id / 2) * 2")
    for db in pair.both:
        pair.run(db, "label", unkept[0], "irrelevant")
    dry = {db: pair.run(db, "vacuum", "--dry-run", config=config) for db in pair.both}
    assert dry[pair.pg] == dry[pair.sqlite]
    assert f"would delete: {len(unkept) - 1} not-kept item(s)" in dry[pair.pg]
    assert items(pair, pair.pg) == items(pair, pair.sqlite) == rows
    done = {db: pair.run(db, "vacuum", config=config).splitlines() for db in pair.both}
    assert done[pair.pg][0] == done[pair.sqlite][0]
    assert done[pair.pg][0].startswith(f"deleted: {len(unkept) - 1} not-kept item(s), "
                                       "0 kept item(s)")
    assert done[pair.pg][1].startswith(f"database {pair.pg}: ")
    assert "(VACUUM (ANALYZE): the space of deleted rows is reused" in done[pair.pg][1]
    assert "file + WAL" in done[pair.sqlite][1]
    left = items(pair, pair.pg)
    assert left == items(pair, pair.sqlite)
    assert {r["id"] for r in left} == {r["id"] for r in rows if r["kept"]} | {unkept[0]}
    assert pair.run(pair.pg, "stories", "--all", "--json") == \
        pair.run(pair.sqlite, "stories", "--all", "--json")
    with psycopg.connect(pair.pg) as pg, sqlite3.connect(pair.sqlite) as lite:
        counts = [c.execute("SELECT count(*) FROM fetch_log").fetchone()[0]
                  for c in (pg, lite)]
        assert counts[0] == counts[1] > 0
        orphans = "SELECT count(*) FROM story_items WHERE item_id NOT IN (SELECT id FROM items)"
        assert [c.execute(orphans).fetchone()[0] for c in (pg, lite)] == [0, 0]


# -- trends and spikes ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def trend_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty store on each backend, written through its own feed-pass writer."""
    if request.param == "postgres":
        store: Any = PostgresReader(request.getfixturevalue("pg_url"))
    else:
        store = Store(tmp_path / "trends.db")
    yield store
    store.close()


def surge(store: Any) -> Writer:
    """A week of two quiet topics (items on the hour exactly), then 18 items in three hours
    on one of them and a story carried by fourteen outlets."""
    w = Writer(store)
    w.steady(("relations",), days=8, every=2)
    w.steady(("trade",), days=8, every=3)
    for i in range(18):
        w.put(NOW - timedelta(minutes=10 * i + 5), ("relations",))
    title = "Taliban envoy presents credentials to Kremlin in Moscow ceremony"
    for i in range(14):
        w.put(NOW - timedelta(minutes=8 * i + 1), ("trade",), title=title,
              host=f"outlet{i}.example.com")
    return w


def test_trends_count_and_record_the_same(trend_store: Any, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    """Hourly counts (items exactly on the hour included: the hour arithmetic is SQLite's
    on both), the surges `detect` records and continues, `mediamon trends` and the
    daemon's spike job are the same on PostgreSQL as on SQLite."""
    surge(trend_store)
    lite = Store(tmp_path / "reference.db")
    surge(lite)
    try:
        for at in (NOW, NOW - timedelta(hours=6), NOW - timedelta(hours=30, minutes=30)):
            for hours in (24, 174):
                assert trend_store.topic_hourly_counts(now=at, hours=hours) == \
                    lite.topic_hourly_counts(now=at, hours=hours)
            assert trend_store.story_hourly_counts(now=at, hours=174, window=6,
                                                   min_count=2) == \
                lite.story_hourly_counts(now=at, hours=174, window=6, min_count=2)
        found = detect(trend_store, SpikeSettings(), now=NOW)
        assert found == detect(lite, SpikeSettings(), now=NOW)
        assert sorted((s["scope"], s["key"][:5], s["count"]) for s in found) == [
            ("story", found[-1]["key"][:5], 14), ("topic", "relat", 18), ("topic", "trade", 14)]
        assert not trend_store.record_spike(found[0])  # one surge, one row, whoever checks
        later = NOW + timedelta(hours=1)
        assert detect(trend_store, SpikeSettings(), now=later) == []
        assert detect(lite, SpikeSettings(), now=later) == []
        since = NOW - timedelta(days=1)
        assert trend_store.spikes_since(since) == lite.spikes_since(since)
        assert {s["last_unusual"] for s in trend_store.spikes_since(since)} == {
            later.isoformat()}
        assert trend_store.kept_mark() > 0
    finally:
        lite.close()
    if request.node.callspec.params["trend_store"] == "sqlite":
        return
    config = tmp_path / "trends.toml"
    config.write_text(default_settings_text(tmp_path / "unused.db"), encoding="utf-8")
    for args in (["--at", "2026-03-10T12:00", "--all"], ["--at", "2026-03-10T12:00",
                                                         "--scope", "story"]):
        assert output(config, trend_store.url, "trends", *args, "--json") == \
            output(config, str(tmp_path / "reference.db"), "trends", *args, "--json")


def test_the_spike_job_checks_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The daemon's spike job, on a config whose database is PostgreSQL, records the surges
    of items stored there (and checks again only once more items are stored)."""
    with PostgresReader(pg_url) as store:
        w = Writer(store)
        now = datetime.now(UTC).replace(microsecond=0)
        w.steady(("relations",), days=8, every=5, end=now - timedelta(hours=6))
        for i in range(16):
            w.put(now - timedelta(minutes=15 * i + 2), ("relations",))
    path = tmp_path / "spikes.toml"
    path.write_text(default_settings_text(tmp_path / "unused.db"), encoding="utf-8")
    config = load_config(path, db_override=pg_url)
    assert config.db_url == pg_url
    job = DaemonJob()
    found = asyncio.run(job.run(lambda: config, job_store))
    assert [(s["scope"], s["key"], s["count"]) for s in found] == [("topic", "relations", 16)]
    assert asyncio.run(job.run(lambda: config, job_store)) == []  # nothing new stored
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM spikes").fetchone()[0] == 1


def test_the_retention_job_deletes_on_postgresql(pair: Pair, tmp_path: Path) -> None:
    """The daemon's retention job, on a config whose database is PostgreSQL, deletes what
    `vacuum` deletes on the same content."""
    pair.sql("UPDATE items SET first_seen = '2020-01-01T00:00:00+00:00' WHERE kept = 0")
    path = tmp_path / "retention.toml"
    path.write_text(pair.config.read_text(encoding="utf-8") +
                    '\n[retention]\nunkept_after = "30d"\n', encoding="utf-8")
    config = load_config(path, db_override=pair.pg)
    assert config.db_url == pair.pg
    done = asyncio.run(housekeeping.daemon_job(lambda: config, job_store))
    with Store(pair.sqlite) as lite:
        expected = housekeeping.apply_retention(lite, config.retention,
                                                now=datetime.now(UTC))
    assert done == expected and done is not None and done["unkept_items"] > 0
    assert items(pair, pair.pg) == items(pair, pair.sqlite)


# -- one runner per desk job ------------------------------------------------------------------


def test_a_job_lock_is_held_by_one_process_until_it_lets_go(pg_url: str) -> None:
    """The first to ask holds a job (and keeps it on every later ask), the others are
    refused while it lives; once it lets go another takes it. Jobs are held apart."""
    first, second = JobLocks(pg_url), JobLocks(pg_url)
    try:
        assert first.hold("alerts") and first.hold("alerts")
        assert not second.hold("alerts")
        assert second.hold("spikes") and not first.hold("spikes")
        first.close()
        assert second.hold("alerts")
        assert second.held == {"alerts", "spikes"}
        second.release("spikes")  # nothing to do for it: another may take it at once
        assert second.held == {"alerts"}
        assert first.hold("spikes") and not second.hold("spikes")
    finally:
        first.close()
        second.close()


def test_a_job_lock_comes_back_after_the_server_drops_the_session(pg_url: str) -> None:
    """A holder whose session was ended by the server (a restart, a dropped connection)
    no longer claims the job: the next ask connects again and takes it if free."""
    locks = JobLocks(pg_url)
    try:
        assert locks.hold("retention")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'mediamon desk jobs'")
        assert locks.hold("retention") is False  # the session is gone: so is the lock
        assert locks.hold("retention") is True  # connected again, and free
    finally:
        locks.close()


# Real daemons, with the desk jobs every half second rather than every 30 s.
LAUNCH = ("import sys; import mediamon.desk.alerts as a, mediamon.desk.trends as t; "
          "a.DAEMON_SECONDS = t.DAEMON_SECONDS = 0.5; from mediamon.cli import cli; "
          "cli.main(args=sys.argv[1:], prog_name='mediamon')")


def start(config: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", LAUNCH, "--config", str(config),
                                 "--db", url, "run"], stdout=subprocess.DEVNULL, stderr=out)


def daemon_config(tmp_path: Path, server: FeedServer, count: int,
                  receiver: Receiver | None) -> Path:
    paths = []
    for n in range(count):
        server.add(f"/desk{n}.xml", rss(f"Desk {n}", [(f"d{n}-i{k}", "") for k in range(3)]))
        paths.append(f"/desk{n}.xml")
    text = config_text(str(tmp_path / "unused.db"), [server.url(p) for p in paths],
                       fetch="concurrency = 2\nworkers = 0", schedule='interval = "1h"')
    config = tmp_path / ("daemons.toml" if receiver else "no-alerts.toml")
    alerts = f'\n[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n' if receiver else ""
    config.write_text(text + alerts, encoding="utf-8")
    return config


def sent_ids(receiver: Receiver) -> Counter[str]:
    return Counter(i["id"] for body in receiver.bodies for i in body["json"]["items"])


def stored(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            return int(conn.execute("SELECT count(*) FROM items WHERE kept = 1").fetchone()[0])
    except psycopg.errors.UndefinedTable:
        return 0


def stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    return [proc.wait(timeout=30) for proc in procs]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.slow
def test_two_daemons_send_each_alert_once(pg_url: str, tmp_path: Path,
                                          receiver: Receiver) -> None:
    """Two `mediamon run` on one PostgreSQL database, an immediate webhook alert: every
    kept item reaches the receiver exactly once, and one daemon alone sends."""
    with FeedServer() as server:
        config = daemon_config(tmp_path, server, 12, receiver)
        assert invoke(config, pg_url, "alerts", "send").exit_code == 0  # registers it
        logs = [tmp_path / f"daemon{i}.log" for i in range(2)]
        procs = [start(config, pg_url, log) for log in logs]
        try:
            assert wait_for(lambda: stored(pg_url) == 36, timeout=60), \
                [log.read_text()[-2000:] for log in logs]
            assert wait_for(lambda: sum(sent_ids(receiver).values()) >= 36, timeout=30), \
                [log.read_text()[-2000:] for log in logs]
            wait_for(lambda: False, timeout=3)  # several more runs of the job: nothing new
        finally:
            codes = stop(procs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], [t[-2000:] for t in texts]
    sent = sent_ids(receiver)
    assert len(sent) == 36 and set(sent.values()) == {1}  # each item, once
    senders = [t.count("alert sent") for t in texts]
    assert sorted(senders)[0] == 0 and sorted(senders)[1] >= 1, senders  # one sender
    for job in ("alerts", "spikes"):  # each desk job taken by one daemon only
        assert [(f"desk job taken job={job}" in t) for t in texts].count(True) == 1, job
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), count(sent) FROM alert_sent").fetchone() == \
            (36, 36)


@pytest.mark.slow
def test_a_killed_senders_jobs_pass_to_the_other_daemon(pg_url: str, tmp_path: Path,
                                                       receiver: Receiver) -> None:
    """The daemon holding the desk jobs is killed with SIGKILL: its session ends, the
    other daemon takes the jobs over and sends what is stored afterwards; nothing is sent
    twice."""
    with FeedServer() as server:
        config = daemon_config(tmp_path, server, 4, receiver)
        assert invoke(config, pg_url, "alerts", "send").exit_code == 0
        first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
        first = start(config, pg_url, first_log)
        try:
            assert wait_for(lambda: "job=alerts" in first_log.read_text(), timeout=30), \
                first_log.read_text()[-2000:]
            second = start(config, pg_url, second_log)
            assert wait_for(lambda: sum(sent_ids(receiver).values()) >= 12, timeout=60), \
                (first_log.read_text()[-2000:], second_log.read_text()[-2000:])
            assert wait_for(lambda: "daemon started" in second_log.read_text(), timeout=30)
            wait_for(lambda: False, timeout=2)
            assert "job=alerts" not in second_log.read_text()  # the first one holds it
        finally:
            first.kill()  # SIGKILL: no cleanup of any kind
            first.wait(timeout=10)
        try:
            assert wait_for(lambda: "job=alerts" in second_log.read_text(), timeout=20), \
                second_log.read_text()[-2000:]
            # An item stored after the kill: the second daemon alone can send it.
            with PostgresReader(pg_url) as store:
                put(store, store.feeds()[0].url, "About the envoy's new posting")
            assert wait_for(lambda: sum(sent_ids(receiver).values()) >= 13, timeout=20), \
                second_log.read_text()[-2000:]
            wait_for(lambda: False, timeout=2)
        finally:
            assert stop([second]) == [0]
    sent = sent_ids(receiver)
    assert len(sent) == 13 and set(sent.values()) == {1}
    assert "alert sent" in second_log.read_text()


@pytest.mark.slow
def test_a_daemon_with_no_alerts_leaves_the_job_to_one_that_has_them(
        pg_url: str, tmp_path: Path, receiver: Receiver) -> None:
    """Daemons whose configs differ: the first started has no [[alerts]] and never takes
    the alerts job, so the second, started later with an alert, sends every item."""
    with FeedServer() as server:
        config = daemon_config(tmp_path, server, 4, receiver)
        bare = daemon_config(tmp_path, server, 4, None)
        assert invoke(config, pg_url, "alerts", "send").exit_code == 0
        logs = [tmp_path / "bare.log", tmp_path / "alerting.log"]
        procs = [start(bare, pg_url, logs[0])]
        try:
            assert wait_for(lambda: "desk job taken job=spikes" in logs[0].read_text(),
                            timeout=30), logs[0].read_text()[-2000:]
            procs.append(start(config, pg_url, logs[1]))
            assert wait_for(lambda: sum(sent_ids(receiver).values()) >= 12, timeout=60), \
                [log.read_text()[-2000:] for log in logs]
        finally:
            codes = stop(procs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], [t[-2000:] for t in texts]
    assert "job=alerts" not in texts[0] and "desk job taken job=alerts" in texts[1]
    assert set(sent_ids(receiver).values()) == {1}


def put(store: Any, feed: str, title: str) -> None:
    """One kept item on ``feed``, first seen now, through the store's feed-pass writer."""
    now = datetime.now(UTC)
    url = "https://example.org/after-the-kill"
    item = Item(id="a" * 16, feed_url=feed, guid=url, url=url, canonical_url=url,
                title=title, summary=title, content="", summary_html="", content_html="",
                authors=(), categories=(), published=now, updated=None, first_seen=now,
                language="en", content_hash="after")
    match = Match(kept=True, score=0.8, similarity=0.2, topics=(TopicHit("any", ("about",)),),
                  rule_matched=True)
    ok = FetchResult(feed, "ok", 200, feed, b"<rss/>", (), Validators(None, None))
    store.save_feed_pass(feed, ok, [ScoredItem(item, match)], now=now,
                         next_fetch=now + timedelta(hours=1))


def test_every_command_that_opens_the_database_runs_on_postgresql() -> None:
    """Every command that opens the database is one PostgreSQL runs, but `serve`
    (Datasette reads SQLite: it says how to copy a window into a file)."""
    from mediamon.cli.app import COMMANDS, POSTGRES_COMMANDS

    missing = [name for name in COMMANDS if name not in ("init", "paths", "serve")
               and not any(c == name or c.startswith(name + " ") for c in POSTGRES_COMMANDS)]
    assert missing == []
