"""Relevance end to end: the labelled sets, `score`, `eval`, `label`, `rescore`, and the
background that grows with each feed pass."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import DATA, DEFAULT_CONFIG, default_settings_text
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.core.extract import Article
from mediamon.core.score import Scorer
from mediamon.core.topics import TopicSet
from mediamon.desk import relevance
from mediamon.desk.relevance import (
    RelevanceError,
    add_label,
    average_precision,
    evaluate,
    read_jsonl,
    rescore,
)
from mediamon.pipeline import scorer_for
from mediamon.store.sqlite import ScoredItem, Store
from mediamon.types import FeedSource, FetchResult, Item, Validators

RELEVANCE = DATA / "relevance"
DEV = RELEVANCE / "dev.jsonl"
HELDOUT = RELEVANCE / "heldout.jsonl"
CONFIG = load_config(DEFAULT_CONFIG)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEED = "https://example.org/feed.xml"


def records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(read_jsonl(f, name=path.name, labelled=True))


@pytest.fixture(scope="module")
def dev_report():
    scorer, _ = scorer_for(CONFIG, None)
    return evaluate(scorer, records(DEV))


# --------------------------------------------------------------------------------------
# The labelled sets and the default config


def test_labelled_sets_are_large_and_multilingual() -> None:
    """The dev set has 200+ items in 6+ languages with every label; held-out has 60+."""
    dev, held = records(DEV), records(HELDOUT)
    assert len(dev) >= 200 and len(held) >= 60
    for rows in (dev, held):
        assert len({r["language"] for r in rows}) >= 6
        assert set(Counter(r["label"] for r in rows)) == {"core", "related", "no"}
    assert not {r["id"] for r in dev} & {r["id"] for r in held}
    assert not {r["title"] for r in dev} & {r["title"] for r in held}


def test_default_config_f1_on_the_dev_set_stays_above_0_9(dev_report) -> None:
    """The default topics and keep rule reach F1 >= 0.9 on the labelled dev set."""
    assert dev_report.overall.f1 >= 0.9, dev_report.as_dict()["overall"]
    assert dev_report.overall.precision >= 0.9 and dev_report.overall.recall >= 0.9


def test_hard_negatives_are_rejected(dev_report) -> None:
    """Digests, sport, history, other recognitions and facial recognition are not kept."""
    scorer, _ = scorer_for(CONFIG, None)
    hard = [r for r in records(DEV) if r["kind"] in (
        "digest", "sport", "history", "facial-recognition", "other-recognition", "award", "ttp")]
    assert len(hard) >= 40
    kept = [r["id"] for r in hard if scorer.score_text(r["title"] + "\n" + r["summary"]).kept]
    assert kept == []


def test_hard_positives_without_russia_or_taliban_are_kept() -> None:
    """Items naming only Kabulov, the Kremlin, the Islamic Emirate or KazanForum are kept."""
    scorer, _ = scorer_for(CONFIG, None)
    for text in ("Kabulov: Moscow ready to develop ties with Kabul",
                 "Islamic Emirate delegation arrives at KazanForum",
                 "Kremlin: decision on the Islamic Emirate serves Russia's national interests",
                 "Муттаки обсудил с Лавровым поставки пшеницы"):
        assert scorer.score_text(text).kept, text


@pytest.mark.parametrize(("text", "kept"), [
    ("A Taliban fighter stands guard at the Russian embassy as Lavrov's envoy arrives", True),
    ("Zakharova at weekly briefing: Moscow ready to deepen ties with the Taliban", True),
    ("Four years since the takeover, Russia becomes first to recognise the Taliban", True),
    ("Timeline: Russia's path to recognising the Islamic Emirate", True),
    ("Lavrov and Muttaqi discussed trade, Palestine and Ukraine", True),
    ("Russia, once at war with the mujahideen in the Soviet war, now recognises the Taliban",
     True),
    ("US reconnaissance drones fly over Afghanistan, Taliban say", False),
    ("Pakistan cites legitimate security concerns about Afghanistan's Taliban rulers", False),
    ("طالبان از بازداشت‌شدگان اعتراف اجباری گرفتند", False),
    ("Russia recognised Abkhazia in 2008; the Taliban were then in the mountains", False),
    ("Rusya, Ukrayna'nın teklifini kabul etti ve anlaşma imzaladı", False),
])
def test_wordings_that_a_careless_rule_gets_wrong(text: str, kept: bool) -> None:
    """Taliban fighters are not sport, Zakharova's briefing is not a digest, an anniversary
    or a mention of the Soviet war is not history, and military reconnaissance, legitimate
    concerns, forced confessions and Turkish "kabul" are not recognition or Kabul."""
    scorer, _ = scorer_for(CONFIG, None)
    assert scorer.score_text(text).kept is kept


@pytest.mark.parametrize(("text", "kept"), [
    # Russia's stance, without the vocabulary of ties
    ("Moscow welcomes Taliban pledge to fight Islamic State", True),
    ("Kremlin in no hurry over the Taliban, but ready to work with Kabul's new rulers", True),
    ("Russia sees the Taliban takeover as a blow to Washington\nAnalysts say Moscow gains",
     True),
    # a headline and its lead are read as one: the lead names who the headline means
    ("Moscow lifts the ban\nThe Islamic Emirate welcomed the decision on Thursday.", True),
    # the languages of ordinary European outlets
    ("Zamach przed ambasadą Rosji w Kabulu. Zginęło dwóch dyplomatów", True),
    ("Talibowie podpisali z Moskwą umowę na dostawy paliwa i pszenicy", True),
    ("Attentato all'ambasciata russa a Kabul, uccisi due diplomatici", True),
    ("Rússia reconhece oficialmente o governo talibã", True),
    ("Rusland erkent de regering van de Taliban", True),
    # both countries named, about something else: not in one sentence, or no relation
    ("Senator attacks the president's record. Afghanistan, Russia and inflation top the list",
     False),
    ("Ukraine's general: Russia has lost more aircraft than the Soviets did in Afghanistan",
     False),
    # "recognise" in other senses near an Afghan word
    ("EU court: Afghan women must be recognised as refugees on grounds of gender", False),
    ("Afganistan: sąd talibów uznał, że oskarżeni są winni kradzieży", False),
    ("Afghan interpreter's degree recognised by German authorities", False),
])
def test_real_news_classes(text: str, kept: bool) -> None:
    """The classes of error seen on real news: stance without ties words, headline and
    lead read together, European languages, two countries in one text about something else,
    and other senses of recognising."""
    scorer, _ = scorer_for(CONFIG, None)
    assert scorer.score_text(text).kept is kept, scorer.score_text(text).explanation()


def test_every_kept_dev_item_says_why(dev_report) -> None:
    """Each kept item's explanation names topics with the words as they appeared."""
    scorer, _ = scorer_for(CONFIG, None)
    for r in records(DEV):
        text = r["title"] + "\n" + r["summary"]
        m = scorer.score_text(text)
        if m.kept:
            why = m.explanation()
            assert why["rule_matched"] and why["topics"]
            assert all(word in text for words in why["topics"].values() for word in words)


def test_average_precision() -> None:
    """AP is 1 for a perfect ranking and lower when a negative outranks a positive."""
    assert average_precision([(0.9, True), (0.5, False)]) == 1.0
    assert average_precision([(0.9, False), (0.5, True)]) == 0.5
    assert average_precision([(0.9, False)]) is None


# --------------------------------------------------------------------------------------
# score and eval


def invoke(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input,
                              catch_exceptions=False)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "mediamon.toml"
    path.write_text(default_settings_text(tmp_path / "mediamon.db"), encoding="utf-8")
    return path


def test_score_reads_and_writes_json_lines_without_a_database(config_path: Path) -> None:
    """`score -` reads JSON Lines on stdin and writes id, score, similarity, kept, topics,
    explanation per line, in order, creating no database."""
    lines = [
        {"id": "a", "title": "Russia recognises the Taliban government", "language": "en"},
        {"id": 7, "content": "Facial recognition cameras in Kabul, the Taliban say"},
    ]
    result = invoke(config_path, "score", "-",
                    input="\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["id"] for o in out] == ["a", 7]
    assert set(out[0]) == {"id", "score", "similarity", "kept", "topics", "explanation"}
    assert out[0]["kept"] and {"russia", "taliban", "recognition"} <= set(out[0]["topics"])
    assert not out[1]["kept"] and "other_recognition" in out[1]["topics"]
    assert 0 <= out[1]["score"] < out[0]["score"] <= 1
    assert not (config_path.parent / "mediamon.db").exists()


def test_score_reports_the_bad_line(config_path: Path) -> None:
    """A malformed input line is a one-line error naming the line."""
    result = CliRunner().invoke(cli, ["--config", str(config_path), "score"],
                                input='{"id": 1, "title": "x"}\n{"title": "no id"}\n')
    assert result.exit_code == 1
    assert "<stdin>:2: missing 'id'" in result.output
    with pytest.raises(RelevanceError, match=r"x\.jsonl:1: 'label' must be one of"):
        list(read_jsonl(iter(['{"id": 1, "title": "t", "label": "yes"}']), name="x.jsonl",
                        labelled=True))


def test_eval_prints_metrics_per_language_and_errors(config_path: Path, tmp_path: Path) -> None:
    """`eval` prints overall and per-language precision, recall, F1 and lists the errors."""
    path = tmp_path / "small.jsonl"
    rows = [
        {"id": "1", "title": "Russia recognises the Taliban government", "language": "en",
         "label": "core"},
        {"id": "2", "title": "Лавров встретился с Муттаки", "language": "ru", "label": "core"},
        {"id": "3", "title": "Taliban close schools", "language": "en", "label": "core"},
        {"id": "4", "title": "Kabulov meets Taliban envoy in Moscow over football",
         "language": "en", "label": "no"},
        {"id": "5", "title": "Moscow talks with the Taliban on wheat", "language": "en",
         "label": "no"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    text = invoke(config_path, "eval", str(path)).output
    assert "overall" in text and "ru" in text and "core recall" in text
    assert "misses (core, not kept): 1" in text and "Taliban close schools" in text
    assert "false alarms (kept, labelled no): 1" in text
    data = json.loads(invoke(config_path, "eval", "--json", str(path)).output)
    assert data["overall"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert data["overall"]["core_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert data["languages"]["ru"]["f1"] == 1.0
    assert [m["id"] for m in data["misses"]] == ["3"]
    assert data["false_alarms"][0]["explanation"]["topics"]["relations"]


# --------------------------------------------------------------------------------------
# The database: background, labels, rescore


def make_item(n: int, title: str, summary: str = "") -> Item:
    return Item(
        id=f"{n:016x}", feed_url=FEED, guid=str(n), url=f"https://example.org/{n}",
        canonical_url=f"https://example.org/{n}", title=title, summary=summary, content="",
        summary_html=summary, content_html="", authors=(), categories=(),
        published=NOW - timedelta(hours=n), updated=None, first_seen=NOW, language="en",
        content_hash=f"h{n}-{title}",
    )


def ingest(store: Store, items: list[Item], *, keep_all: bool = True) -> None:
    scorer, _ = scorer_for(CONFIG, store)
    fetch = FetchResult(FEED, "ok", 200, FEED, b"<rss/>", (), Validators())
    store.save_feed_pass(FEED, fetch, [ScoredItem(i, scorer.score_item(i)) for i in items],
                         now=NOW, next_fetch=NOW, keep_all=keep_all)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "mediamon.db")
    s.sync_config_feeds([FeedSource(FEED, "Example")], now=NOW)
    yield s
    s.close()


ITEMS = [
    (1, "Russia recognises the Taliban government", "Kabulov hands over credentials."),
    (2, "Lavrov meets Muttaqi in Moscow", "Talks on wheat and oil."),
    (3, "Taliban ban women from parks", "The order came from Kandahar."),
    (4, "Heatwave grips Europe", "Temperatures pass 40C."),
]


def test_feed_pass_grows_the_background_once_per_new_item(store: Store) -> None:
    """Each new item's terms are counted once, in the feed pass; re-seen items are not."""
    items = [make_item(n, t, s) for n, t, s in ITEMS]
    ingest(store, items)
    bg = store.background()
    assert bg.documents == 4
    assert bg.df["taliban"] == 2 and bg.df["heatwav"] == 1
    ingest(store, items)
    assert store.background().documents == 4
    assert scorer_for(CONFIG, store)[1].stored_documents == 4


def test_a_failed_feed_pass_leaves_the_background_alone(store: Store) -> None:
    """The background is written in the feed pass's transaction: a rollback undoes it."""
    scorer = scorer_for(CONFIG, store)[0]
    good = ScoredItem(make_item(1, *ITEMS[0][1:]), scorer.score_item(make_item(1, *ITEMS[0][1:])))
    fetch = FetchResult(FEED, "ok", 200, FEED, b"<rss/>", (), Validators())
    with pytest.raises(Exception, match="feed not in the database"):
        store.save_feed_pass("https://unknown.example/feed", fetch, [good], now=NOW,
                             next_fetch=NOW)
    assert store.background().documents == 0


def test_label_and_rescore_flag_without_deleting_then_prune(store: Store, tmp_path: Path
                                                            ) -> None:
    """Labels override the rule on rescore; unkept items are flagged, deleted only with
    --prune; labels survive pruning and move the profile."""
    ingest(store, [make_item(n, t, s) for n, t, s in ITEMS])
    store.close()
    config = tmp_path / "mediamon.toml"
    config.write_text(default_settings_text(tmp_path / "mediamon.db"), encoding="utf-8")
    ids = {n: f"{n:016x}" for n, *_ in ITEMS}
    out = invoke(config, "label", ids[2], "irrelevant").output
    assert "labelled irrelevant" in out and "Lavrov meets Muttaqi" in out
    assert invoke(config, "label", ids[3], "relevant").exit_code == 0
    bad = CliRunner().invoke(cli, ["--config", str(config), "label", "ffff", "relevant"])
    assert bad.exit_code == 1 and "no item with id 'ffff'" in bad.output

    result = invoke(config, "rescore")
    assert result.exit_code == 0, result.output
    assert "4 items rescored with 2 analyst labels" in result.output
    with Store(tmp_path / "mediamon.db") as s:
        kept = dict(s.db.execute("SELECT id, kept FROM items").fetchall())
        assert kept == {ids[1]: 1, ids[2]: 0, ids[3]: 1, ids[4]: 0}
        why = json.loads(s.db.execute("SELECT explanation FROM items WHERE id = ?",
                                      [ids[3]]).fetchone()[0])
        assert why["label"] == "relevant" and not why["rule_matched"]
    shown = invoke(config, "show", ids[2]).output
    assert "labelled irrelevant by the analyst" in shown

    assert "2 deleted" in invoke(config, "rescore", "--prune").output
    with Store(tmp_path / "mediamon.db") as s:
        assert s.db.execute("SELECT count(*) FROM items").fetchone()[0] == 2
        assert s.db.execute("SELECT count(*) FROM labels").fetchone()[0] == 2
        scorer, info = scorer_for(CONFIG, s)
        base, _ = scorer_for(CONFIG, s, feedback=False)
    assert info.labels == 2 and scorer.profile != base.profile


@pytest.mark.parametrize("prune", [False, True])
def test_rescore_in_worker_processes_writes_what_one_process_writes(
        store: Store, tmp_path: Path, prune: bool) -> None:
    """Batches scored in two worker processes, while this one reads ahead and writes, give
    the rows and counts that scoring here gives: verdicts, scores, explanations, labels,
    articles' matched text, pruning."""
    items = [make_item(n, f"{ITEMS[n % 4][1]} ({n})", ITEMS[n % 4][2]) for n in range(1, 241)]
    ingest(store, items)
    store.save_article(items[3].id, Article("https://example.org/4", "ok",
                                            text="Russia and the Taliban sign a fuel deal."),
                       now=NOW)
    store.save_article(items[6].id, Article("https://example.org/7", "ok",
                                            text="A heatwave closes schools in Kabul."),
                       now=NOW)
    add_label(store, items[0].id, "irrelevant", now=NOW)  # kept by the rule: flips
    add_label(store, items[2].id, "relevant", now=NOW)
    scorer, _ = scorer_for(CONFIG, store)
    store.close()
    copy = tmp_path / "copy.db"
    with sqlite3.connect(tmp_path / "mediamon.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)
    seen = {}
    for path, workers in ((tmp_path / "mediamon.db", 0), (copy, 2)):
        with Store(path) as s:
            counted = rescore(s, scorer, batch_size=16, prune=prune, workers=workers,
                              parallel_min=0)
            seen[workers] = (
                counted,
                s.db.execute("SELECT id, kept, score, explanation FROM items "
                             "ORDER BY id").fetchall(),
                s.db.execute("SELECT item_id, matched_on FROM articles "
                             "ORDER BY item_id").fetchall(),
            )
    assert seen[0] == seen[2]
    counted = seen[0][0]
    assert counted.items == 240 and counted.labelled == 2 and counted.newly_unkept >= 1
    assert counted.pruned == (240 - counted.kept if prune else 0)
    assert [row for row in seen[0][2] if row[1] is not None]  # an article's text matched


def test_rescore_writes_only_the_verdicts_that_changed(store: Store) -> None:
    """A rescore with the scorer that stored the verdicts rewrites no item row; one whose
    verdicts differ rewrites those items alone, and ends where writing every verdict ends
    (rows, topic rows, counts)."""
    items = [make_item(n, f"{ITEMS[n % 4][1]} ({n})", ITEMS[n % 4][2]) for n in range(1, 41)]
    ingest(store, items)
    scorer, _ = scorer_for(CONFIG, store)  # its background has the items: other similarities
    rescore(store, scorer, batch_size=16)
    writes: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: writes.append(sql) if sql.startswith(("UPDATE items", "DELETE FROM "
                                                          "item_topics")) else None)
    assert rescore(store, scorer, batch_size=16).items == 40
    assert writes == []
    # Without the "Kabulov hands over credentials" items' topic, their verdicts change.
    other = Scorer(TopicSet.compile({**CONFIG.topics, "russia": "Lavrov OR Moscow"},
                                    CONFIG.keep.rule), scorer.profile, CONFIG.keep.mode)

    def state() -> list[list[tuple]]:
        return [store.db.execute(sql).fetchall() for sql in (
            "SELECT id, kept, score, similarity, topics, explanation FROM items ORDER BY id",
            "SELECT item_id, topic, terms FROM item_topics ORDER BY 1, 2")]

    before = state()
    counted = rescore(store, other, batch_size=16)
    changed = {sql.split("'")[-2] for sql in writes if sql.startswith("UPDATE items")}
    assert changed and len(changed) < 40
    after = state()
    assert {row[0] for row in before[0]} ^ {row[0] for row in after[0]} == set()
    assert {row[0] for row in set(before[0]) ^ set(after[0])} == changed
    # the same end as writing every verdict
    monkey = pytest.MonkeyPatch()
    monkey.setattr(relevance, "verdict_columns", lambda match: ("always", "different"))
    try:
        back = rescore(store, scorer, batch_size=16)
        again = rescore(store, other, batch_size=16)
    finally:
        monkey.undo()
    assert back.items == 40 and state() == after
    assert (again.kept, again.newly_kept, again.newly_unkept) == \
        (counted.kept, counted.newly_kept, counted.newly_unkept)


def test_rescore_since_only_touches_recent_items(store: Store, tmp_path: Path) -> None:
    """`rescore --since` leaves older items as they were."""
    ingest(store, [make_item(n, t, s) for n, t, s in ITEMS])
    store.db.execute("UPDATE items SET score = -1")
    store.db.conn.commit()
    store.close()
    config = tmp_path / "mediamon.toml"
    config.write_text(default_settings_text(tmp_path / "mediamon.db"), encoding="utf-8")
    since = (NOW - timedelta(hours=2, minutes=30)).isoformat()
    assert "2 items rescored" in invoke(config, "rescore", "--since", since).output
    with Store(tmp_path / "mediamon.db") as s:
        scores = dict(s.db.execute("SELECT id, score FROM items").fetchall())
    assert scores[f"{1:016x}"] > 0 and scores[f"{3:016x}"] == -1


def test_eval_shows_the_effect_of_labels(store: Store, tmp_path: Path) -> None:
    """With labels in the database, eval reports the ranking with and without them."""
    ingest(store, [make_item(n, t, s) for n, t, s in ITEMS])
    store.close()
    config = tmp_path / "mediamon.toml"
    config.write_text(default_settings_text(tmp_path / "mediamon.db"), encoding="utf-8")
    invoke(config, "label", f"{1:016x}", "relevant")
    out = invoke(config, "eval", str(HELDOUT)).output
    assert "analyst labels: 1" in out and "without the 1 analyst labels" in out
    assert "analyst labels: 0" in invoke(config, "eval", "--builtin", str(HELDOUT)).output


KABUL_DEAL = "Russia signs a deal to invest in Afghanistan's railways, Kabul says"


def test_score_eval_and_rescore_judge_an_item_by_its_publication_date(
        store: Store, tmp_path: Path, config_path: Path) -> None:
    """A topic's date window (the default config's Afghanistan-as-a-party, since the
    Taliban took Kabul) applies to ``score`` and ``eval`` records through their
    ``published`` and to stored items on ``rescore`` through theirs."""
    lines = [{"id": "old", "title": KABUL_DEAL, "published": "2017-10-31", "label": "no"},
             {"id": "new", "title": KABUL_DEAL, "published": "2023-10-31T08:00:00Z",
              "label": "core"},
             {"id": "undated", "title": KABUL_DEAL, "label": "core"},
             {"id": "garbled", "title": KABUL_DEAL, "published": "last year", "label": "core"}]
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    scored = [json.loads(line) for line in
              invoke(config_path, "score", "--builtin", str(source)).output.splitlines()]
    assert {s["id"]: s["kept"] for s in scored} == {
        "old": False, "new": True, "undated": True, "garbled": True}
    report = json.loads(invoke(config_path, "eval", "--builtin", "--json", str(source)).output)
    overall = report["sets"][0]["overall"]
    assert overall["kept"] == 3 and overall["precision"] == 1.0

    old = replace(make_item(1, KABUL_DEAL), published=datetime(2017, 10, 31, tzinfo=UTC))
    ingest(store, [old, make_item(2, KABUL_DEAL)])
    store.db.execute("UPDATE items SET kept = 1 - kept")  # both wrong before the rescore
    store.db.conn.commit()
    store.close()
    assert invoke(config_path, "rescore").exit_code == 0
    with Store(tmp_path / "mediamon.db") as s:
        kept = dict(s.db.execute("SELECT id, kept FROM items").fetchall())
    assert kept == {f"{1:016x}": 0, f"{2:016x}": 1}


# Written for these tests (one per language the default config covers beyond the labelled
# sets' languages): a recognition or a deal (kept), and news that names both countries
# without a relation between them (not kept).
COVERED_LANGUAGES = {
    "ja": ("ロシア、タリバン政権を正式に承認",
           "タリバンは女子教育を禁止した。ロシアの天気は寒い。"),
    "ko": ("러시아, 탈레반 정부 공식 승인",
           "탈레반, 여성 교육 금지. 러시아 날씨는 춥다."),
    "hi": ("रूस ने तालिबान सरकार को मान्यता दी",
           "तालिबान ने लड़कियों की शिक्षा पर रोक लगाई। रूस में बर्फबारी हुई।"),
    "bn": ("রাশিয়া তালেবান সরকারকে স্বীকৃতি দিল",
           "তালেবান মেয়েদের শিক্ষা বন্ধ করল। রাশিয়ায় তুষারপাত হয়েছে।"),
    "bg": ("Русия и талибаните подписаха споразумение за доставки на гориво",
           "Талибаните забраниха образованието на момичетата. В Русия вали сняг."),
    "id": ("Rusia dan Taliban menandatangani perjanjian pasokan gandum dan minyak",
           "Taliban melarang anak perempuan bersekolah. Salju turun di Rusia."),
    "el": ("Η Ρωσία αναγνώρισε την κυβέρνηση των Ταλιμπάν",
           "Οι Ταλιμπάν απαγόρευσαν την εκπαίδευση των κοριτσιών. Χιονίζει στη Ρωσία."),
    "ky": ("Орусия Талибан өкмөтүн расмий тааныды",
           "Талибан кыздардын билим алуусуна тыюу салды. Орусияда кар жаады."),
}


def assert_verdict(text: str, kept: bool, *, published: datetime) -> None:
    """The default config keeps ``text`` (published then) or not, as ``kept`` says; on a
    wrong verdict the explanation says which topics matched."""
    result = Scorer(CONFIG.topic_set, None).score_text(text, published=published)
    assert result.kept is kept, result.explanation()


@pytest.mark.parametrize("language", sorted(COVERED_LANGUAGES))
def test_the_default_config_reads_the_languages_of_asian_and_balkan_outlets(language: str
                                                                              ) -> None:
    """Japanese, Korean, Hindi, Bengali, Bulgarian, Indonesian, Greek and Kyrgyz reports of
    a recognition or a deal are kept; both countries in unrelated sentences are not."""
    scorer = Scorer(CONFIG.topic_set, None)
    kept, other = COVERED_LANGUAGES[language]
    assert scorer.score_text(kept).kept, scorer.score_text(kept).explanation()
    assert not scorer.score_text(other).kept


@pytest.mark.parametrize("text", [
    # the legal notice's "terrorist" and "banned" are a formula, not words of relations
    "Refugee flows from Afghanistan to Russia are unlikely after the Taliban (a terrorist "
    "organisation banned in Russia) took Kabul, the IOM mission in Moscow said",
    # "its allies" are the other side's: not a relation between Russia and Kabul
    "Moscow: Washington will abandon its allies in Kyiv as in Kabul",
    # "US-backed" qualifies a government: not Russia's stance
    "Afghans who fled the Taliban and the fall of the US-backed government now hide from "
    "the Russian army in Ukraine",
])
def test_formulas_and_other_sides_words_do_not_make_a_relation(text: str) -> None:
    scorer = Scorer(CONFIG.topic_set, None)
    assert not scorer.score_text(
        text, published=datetime(2022, 3, 1, tzinfo=UTC)).kept


def test_the_legal_notice_does_not_hide_a_real_relation() -> None:
    scorer = Scorer(CONFIG.topic_set, None)
    assert scorer.score_text(
        "A Taliban delegation (the movement is banned in Russia) visited Moscow for talks "
        "on wheat and fuel supplies").kept


@pytest.mark.parametrize("text", [
    # Russia's envoy at the UN speaking on Afghanistan under Taliban rule
    "Vassily Nebenzia urges the Taliban to form an inclusive government",
    # taking part (or not) in the other side's ceremonies
    "Russia will not attend the inauguration of the Taliban government, Peskov says",
    # the other side's statement on Russia
    "The Taliban issue a statement on Russia's war in Ukraine",
    # delisting, in Japanese and Korean
    "ロシア最高裁、タリバンのテロ指定解除",
    "러시아 정부, 탈레반을 테러 조직 명단에서 제외",
])
def test_envoys_ceremonies_statements_and_delisting_make_a_relation(text: str) -> None:
    assert_verdict(text, True, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize("text", [
    # Belarus in Dutch is "White Russia"
    "Duizenden migranten uit Afghanistan proberen via Wit-Rusland de grens met Polen over "
    "te steken, met steun van Minsk",
    # a Russia-led bloc (Japanese) on border security: not relations with Kabul
    "ロシア主導の集団安全保障条約機構の首脳会議、アフガン国境の防衛強化で一致",
    # recognising Crimea is another recognition
    "Бывший президент Афганистана объяснил, почему Кабул признал Крым частью России",
])
def test_belarus_russia_led_blocs_and_crimea_are_not_relations(text: str) -> None:
    scorer = Scorer(CONFIG.topic_set, None)
    assert not scorer.score_text(
        text, published=datetime(2022, 6, 1, tzinfo=UTC)).kept, text


def test_acknowledging_a_fact_other_states_officials_and_security_forces_are_not_relations(
) -> None:
    scorer = Scorer(CONFIG.topic_set, None)
    day = datetime(2022, 6, 1, tzinfo=UTC)
    for text in (
        # "recognise" a fact is acknowledging, and the US authorities are not Kabul's
        "Moscow says the US authorities recognise the failure of their strategy in "
        "Afghanistan",
        # security forces arresting someone in Russia are not a relation with the Taliban
        "Russian security forces detain a blogger for praising the Taliban",
    ):
        assert not scorer.score_text(text, published=day).kept, text
    # a state's government qualified as someone else's never stands for Afghanistan's, but
    # Afghanistan's own still does
    assert scorer.score_text("Russia recognises the Afghan government in Kabul",
                             published=day).kept


def test_unfreezing_afghanistans_assets_is_a_relation() -> None:
    scorer = Scorer(CONFIG.topic_set, None)
    assert scorer.score_text("Putin says Afghanistan's assets abroad should be unfrozen",
                             published=datetime(2021, 10, 21, tzinfo=UTC)).kept


@pytest.mark.parametrize(("text", "kept"), [
    # Azerbaijani: the Islamic Emirate and Afghanistan's own spelling
    ("Rusiya Əfqanıstan İslam Əmirliyini tanıyan ilk ölkə oldu", True),
    # Arabic: the adjective with its article, a request for help
    ("السلطات الأفغانية تطلب مساعدة روسيا بعد الزلزال", True),
    # Ukrainian and Persian: trade in flour
    ("Афганістан став найбільшим імпортером російського борошна", True),
    ("افغانستان بزرگترین خریدار آرد روسیه شد", True),
    # Afghanistan on a border, in Persian: a place, not a party
    ("روسیه در مرز تاجیکستان و افغانستان پاسگاه می‌سازد و سفیر روسیه بازدید کرد", False),
])
def test_trade_aid_and_borders_in_more_languages(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the legal notice in its other wording ("recognised as terrorist in Russia") is a
    # formula: its "recognised" is not a recognition, its "Russia" not an actor
    ("Женщинам запретили работать в НКО, распорядился «Талибан» (движение признано "
     "террористическим в России)", False),
    # ... and with the place between its words ("recognised in Russia as terrorist")
    ("Женщинам запретили учиться в вузах: так решило движение «Талибан» (признано в России "
     "террористическим и запрещено)", False),
    # Russia's parliament is Russia acting, in the name of either chamber
    ("Госдума одобрила закон, который позволит снять запрет с «Талибана»", True),
    ("The Duma passed the bill that lets courts lift the ban on the Taliban", True),
    # Afghanistan as a subject of a meeting ("the Afghan issue") is not a party to it
    ("Секретари советов безопасности России и Киргизии на встрече по афганской "
     "проблематике обсудили наркотрафик", False),
    # the Taliban as what a Russian base guards against is not a relation
    ("Россия готовила базу в Таджикистане к защите от Талибана, но перебросила её бойцов",
     False),
    # ... but a Russian official's words on the Taliban are Russia's stance, whatever verb
    ("The Taliban should widen their government to other ethnic groups — Kabulov", True),
    # French "de reconnaissance" is military unless the Taliban are what is recognised
    ("Le Kremlin évoque les perspectives de reconnaissance des talibans", True),
    ("Un avion de reconnaissance russe survole une base talibane", False),
    # Bulgarian trade words
    ("Афганистан увеличи вноса на руско брашно", True),
])
def test_who_speaks_what_is_guarded_against_and_what_a_formula_says(text: str,
                                                                    kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # what the Taliban refuse to recognise (a border, a state) is not their recognition
    ("The Taliban will not recognise the Durand Line and pull down the border fence", False),
    ("Taliban spokesman says the movement does not recognize Israel", False),
    # ... which still counts when they are what is recognised
    ("Moscow becomes the first to recognise the Taliban government", True),
    # Arabic: a court lifting the ban, a minister meeting an adviser
    ("المحكمة العليا في روسيا ترفع الحظر عن حركة طالبان", True),
    ("وزير خارجية طالبان يلتقي مبعوث الرئيس الروسي في موسكو", True),
    # the speaker named in the sentence after his words (Russian news style) ...
    ("Талибы пока не сформировали инклюзивное правительство, но сроков им не ставят. "
     "Об этом сообщил спецпредставитель президента РФ по Афганистану Замир Кабулов.", True),
    # ... which reaches only what comes before it, close by
    ("Об этом сообщил Замир Кабулов на брифинге о ситуации в регионе.", False),
    # a Security Council is an institution, not the word "security" of relations
    ("Secretary of Russia's Security Council says Afghan militants may pose as refugees, "
     "as the Taliban took power", False),
    # "US-backed" describes a government; it is not anyone's support
    ("Afghan refugees who fled the Taliban and the fall of the U.S.-backed government now "
     "hide from the Russian army in Ukraine", False),
])
def test_objects_of_recognising_arabic_verbs_speakers_and_institutions(text: str,
                                                                       kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Azerbaijani: a delegation, an ambassador, the list of banned organisations
    ("Taliban nümayəndə heyəti Moskvada danışıqlar aparıb", True),
    ("Rusiya Talibanı qadağan olunmuş təşkilatlar siyahısından çıxarır", True),
    # Pashto: the blacklist
    ("روسیه طالبان له تور نوملړ څخه لرې کوي", True),
    # Moscow easing tensions between a neighbour and the Taliban is its stance
    ("Russia moves to ease tensions between Tajikistan and the Taliban", True),
    # ... but mediating elsewhere, with Afghanistan only named, is not
    ("Russia offers to mediate between Armenia and Azerbaijan; Afghanistan was not discussed",
     False),
])
def test_azerbaijani_and_pashto_words_and_mediation(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Armenian: the two countries, the Taliban, trade and recognition
    ("Ռուսաստանի և Աֆղանստանի միջև առևտուրն աճել է", True),
    ("Մոսկվան պաշտոնապես ճանաչել է Թալիբանի կառավարությունը", True),
    # ... and Armenian news naming Russia alone is not kept
    ("Ռուսաստանը և Հայաստանը քննարկել են գազի գինը", False),
    # "the ban" in Portuguese, Spanish and Italian, as in "Russia lifts the ban on the Taliban"
    ("A Rússia suspendeu a proibição do movimento Talibã", True),
    ("Rusia levanta la prohibición de los talibanes", True),
    ("La Russia revoca il divieto sui talebani", True),
    # Dari: a minister taking part in a meeting in Russia
    ("وزیر طالبان برای اشتراک در نشستی به روسیه رفت", True),
    # farming and agriculture between a Russian region and the Taliban
    ("Татарстан позвал талибов работать фермерами", True),
    ("Russia and the Taliban discuss agricultural cooperation", True),
    # ... while an offer of tours to Afghanistan by Russian companies is still not a relation
    ("Russian companies offer tours to Afghanistan under Taliban rule", False),
])
def test_armenian_romance_ban_dari_meeting_and_farming_words(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Serbian, Croatian and Bosnian (both scripts): an ambassador, cooperation, an agreement
    ("Руски амбасадор хвали талибане после првих дана у Кабулу", True),
    ("Rusija i talibani potpisali sporazum o saradnji", True),
    ("Ruski veleposlanik sastao se s talibanskim ministrom u Kabulu", True),
    ("Русија и Авганистан под талибанима разговарају о трговини пшеницом", True),
    # ... and Serbian news of Russia alone is not kept
    ("Руски амбасадор у Београду говорио о гасу", False),
    # a military or defence attaché posted by one side to the other
    ("اتشه نظامی طالبان در مسکو معرفی شد", True),
    ("Taliban appoint a military attaché to their embassy in Moscow", True),
    ("Талибы назначили военного атташе в Москве", True),
    # "security" in the name of a force or an agency is not a relation between the two
    ("Rosja rekrutuje byłych żołnierzy Afgańskich Narodowych Sił Obrony i Bezpieczeństwa, "
     "którzy uciekli przed talibami", False),
    ("Rosja: Rada Bezpieczeństwa ONZ o talibach w Afganistanie", False),
    ("Российская служба безопасности задержала в Москве вербовщиков, прибывших из "
     "Афганистана", False),
    # ... while security talks between the two still are
    ("Rosja i talibowie rozmawiają o bezpieczeństwie na granicy", True),
])
def test_south_slavic_words_attaches_and_security_in_names(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Baltic, Finnish, Norwegian and Danish, Vietnamese and Georgian outlets: recognition,
    # talks, trade and delegations between the two; and each language's news of Russia
    # with a neighbour, which stays out
    ("Rusija pripažino Talibano vyriausybę Afganistane", True),
    ("Rusija ir talibai aptarė prekybą ir bendradarbiavimą", True),
    ("Rusija ir Lietuva derybose dėl dujų tranzito", False),
    ("Krievija atzina talibu valdību Afganistānā", True),
    ("Krievijas delegācija tikšanās laikā ar talibiem Kabulā", True),
    ("Krievija un Latvija: sarunas par robežu", False),
    ("Venemaa tunnustas Talibani valitsust Afganistanis", True),
    ("Venemaa ja Talibani esindajad kohtumisel Moskvas", True),
    ("Venemaa ja Soome kaubandus vähenes", False),
    ("Venäjä tunnusti Talebanin hallituksen Afganistanissa", True),
    ("Venäjä ja Taleban neuvottelivat kaupasta Moskovassa", True),
    ("Venäjä ja Suomi neuvottelivat rajasta", False),
    ("Russland anerkjenner Taliban-regjeringen i Afghanistan", True),
    ("Rusland anerkender Taliban-regeringen i Afghanistan", True),
    ("Russland og Norge: møte om fiskeri", False),
    ("Nga công nhận chính quyền Taliban ở Afghanistan", True),
    ("Nga và Taliban hội đàm về hợp tác thương mại", True),
    ("Nga và Ấn Độ hợp tác thương mại", False),
    ("რუსეთმა თალიბანის მთავრობა აღიარა", True),
    ("რუსეთისა და ავღანეთის დელეგაციების შეხვედრა მოსკოვში", True),
    ("რუსეთი და საქართველო: მოლაპარაკებები", False),
])
def test_baltic_nordic_vietnamese_and_georgian_words(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 7, 4, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Russia's envoy speaking on Afghanistan under Taliban rule is Russia's stance ...
    ("Statement by Vassily Nebenzia at the Security Council meeting on Afghanistan", True),
    # ... but not when what he speaks of is a threat from Afghanistan
    ("Shoigu: drug flows from Afghanistan threaten Central Asia", False),
    # Chechnya's leader speaks for Russia's ties with the Taliban too
    ("Кадыров назвал талибов партнёрами", True),
    # asking Russia for assistance, inviting to a conference (Korean), trade (Hausa)
    ("The Taliban seek Russian assistance against drug smuggling", True),
    ("러시아, 탈레반 대표단을 모스크바 회의에 초청", True),
    ("Taliban sun kulla yarjejeniyar kasuwanci da Rasha", True),
    # labour migration between the two is a relation
    ("Афганистан предложил России трудовых мигрантов для строек", True),
    # the Taliban recognising Crimea as Russian is a relation, not another recognition
    ("Новое правительство Афганистана готово признать Крым российским", True),
    # "the situation in Afghanistan" discussed by Russia and a third state: a topic, not a
    # party
    ("Putin and the Uzbek president discuss the situation in Afghanistan by phone", False),
    # the Taliban's battlefield gains are not Russia's
    ("Moscow watches as the Taliban make lightning gains in the north", False),
])
def test_voices_topics_and_more_relation_words(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Afghanistan as where people leave from is a place, not a party to a relation
    ("Russia's defence ministry flies citizens evacuated from Afghanistan to Moscow and "
     "delivers them home", False),
    ("Беженцы из Афганистана в России получают отказы в убежище, помощь им оказывают "
     "волонтёры", False),
    # Serbian spells Afghanistan with a "v"; grain for Afghanistan is trade
    ("Путин одобрио контингент жита за Авганистан", True),
])
def test_leaving_afghanistan_and_serbian_spelling(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2023, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # "diploma" is a qualification; "diplomatic" recognition is the real thing
    ("Moscow edges toward full diplomatic recognition of the Taliban government", True),
    ("Россия и Китай движутся к дипломатическому признанию правительства талибов", True),
    ("Russland nähert sich der diplomatischen Anerkennung der Taliban-Regierung", True),
    ("A Russian court recognised the Afghan student's diploma from Kabul University", False),
    # Russia's intelligence and security chiefs speak for its Afghan policy
    ("Naryshkin sets out Moscow's view on the Taliban's Afghanistan", True),
    ("Нарышкин обозначил позицию России по Афганистану", True),
    # ... but a danger located in Afghanistan is not a relation, whatever its word
    ("Шойгу сообщил о тысячах боевиков в Афганистане", False),
    # the envoy's title still names no relation by itself
    ("Спецпредставитель президента России по Афганистану выступил на конференции в Женеве "
     "о правах женщин", False),
    # a Taliban minister's trip to Russia is a visit
    ("Министр талибов отправился в Россию на форум", True),
    ("Делегация талибов прилетела в Россию", True),
    # Arabic: Russia will help / cooperate with the Taliban
    ("روسيا ستساعد طالبان في مواجهة تنظيم الدولة", True),
    ("روسيا تعلن التعاون مع طالبان", True),
])
def test_diplomatic_recognition_security_chiefs_trips_and_arabic_help(text: str,
                                                                    kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # A prefix reaches only the word it stands for: "invest*" is not "investigation",
    # "import*" not "important", "газ*" not "газета" (a newspaper), "помощ*" not
    # "помощник" (an aide), "guard*" not "the Guardian", "drug*" not Polish "drugi"
    ("Russian investigators charge a man who says he fought for the Taliban", False),
    ("It is important for Russia, says an analyst, that the Taliban fail", False),
    ("«Российская газета»: талибы закрыли школы для девочек", False),
    ("Помощник Путина рассказал о погоде, талибы закрыли школы", False),
    ("Russia reacts to Taliban ban on women, reactor talks elsewhere", True),
    # ... and the words themselves still count
    ("Russian companies to invest in Taliban-run Afghanistan's mines", True),
    ("Russia imports Afghan fruit after deal with the Taliban", True),
    ("Россия начнёт поставки газа талибам", True),
    ("Россия направит помощь талибам", True),
])
def test_a_prefix_reaches_only_its_own_words(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Arabic writes the article and clitics into the word: "the Russian ambassador"
    ("تصريحات السفير الروسي عن طالبان", True),
    ("وللسفير الروسي رأي في طالبان", True),
    # banking and payment channels between the two are relations
    ("Moscow wants Afghan banks reconnected to SWIFT", True),
    ("Russia and Afghanistan link their banks through a new payment system", True),
    # a meeting or a phone call, in Spanish and Portuguese
    ("Rusia y los talibanes celebran un encuentro en Moscú", True),
    ("Rússia e talibãs mantêm encontro em Moscou", True),
    # Russia's view of Kabul's government, in words of emphasis
    ("Russia stresses an inclusive government in Afghanistan is needed", True),
    # Afghans as people, in other languages: a nationality, not a party
    ("Gli afgani in Russia cercano lavoro nei cantieri su invito di parenti", False),
    ("Los afganos que llegan a Rusia piden asilo con una invitación", False),
    ("Afghanen in Russland: Einladung zur Arbeit", False),
    # the events in Afghanistan as the backdrop of talks with a third state
    ("Lavrov spoke about talks with Washington against the backdrop of events in "
     "Afghanistan", False),
])
def test_arabic_clitics_banking_calls_and_afghans_abroad(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2023, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # a Russian region and the agency that clears Afghan goods are the Russian side of trade
    ("Россельхознадзор проверил в Астрахани импортные сухофрукты из Афганистана", True),
    ("Bashkortostan delegation signs trade memorandum in Kabul", True),
    # dialogue with the Taliban is a relation
    ("Russian diplomat at the UN calls for patient dialogue with the Taliban", True),
    ("Россия выступает за диалог с талибами", True),
    # waiting to see what the Taliban's government does is a stance
    ("Кремль понаблюдает за действиями нового правительства талибов", True),
    # Russia as one side of its war with Ukraine, which the Taliban comment on
    ("Taliban call on Russia and Ukraine to settle their conflict peacefully", False),
    ("Талибы призвали Россию и Украину к переговорам", False),
    # Afghanistan as the subject of talks with a third state, in another word order
    ("Putin and Modi discuss trade and the Afghanistan situation", False),
])
def test_regions_dialogue_waiting_and_the_war_with_ukraine(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2023, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # a Russian official on threats from Afghanistan, in Tajik and Uzbek: a threat, not a
    # relation
    ("Патрушев таҳдидҳои аз Афғонистон бархостаро муҳим хонд", False),
    ("Patrushev Afg'onistondan kelayotgan tahdidlar haqida gapirdi", False),
    # relations with the Taliban, in Ukrainian
    ("Москва налагоджує відносини з Талібаном", True),
    # evacuation from Kabul: a place people leave
    ("Российские борты совершили рейсы, эвакуировав граждан СНГ из Кабула", False),
])
def test_central_asian_threats_ukrainian_relations_and_evacuations(text: str,
                                                                   kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 11, 10, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Afghanistan as where threats are, a war was fought or militants come from: a place
    ("Russian and Central Asian defence ministers meet in Moscow to discuss IS activity on "
     "the territory of Afghanistan", False),
    ("Министры обороны России и Центральной Азии обсудили на встрече активность ИГИЛ на "
     "территории Афганистана", False),
    ("Washington plans to use Afghan militants against the region, Russia's defence minister "
     "tells a meeting", False),
    ("Kabulov: the West's experts will long discuss how the US lost the war in Afghanistan",
     False),
    # ... while the two as parties to a deal still are a relation
    ("Russia and Afghanistan sign a trade deal in Kabul", True),
])
def test_afghanistan_as_the_place_of_threats_and_wars(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2023, 6, 24, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Arabic clitics straight on a word without the article: "with the recognition of",
    # "to develop"; the Emirate's name with the country inside it
    ("الهند ترحب باعتراف موسكو بإمارة أفغانستان الإسلامية", True),
    ("موسكو مستعدة لتطوير التجارة مع طالبان", True),
    # Russia's regions and cities are Russia
    ("Делегация Свердловской области обсудила в Кабуле поставки древесины в Афганистан", True),
    ("هیات تجاری داغستان روسیه با مقامات طالبان در کابل دیدار کرد", True),
    ("Chechnya's trade delegation holds talks with Taliban ministers in Kabul", True),
    # stance words in Arabic, Persian, Turkish, Romanian, Portuguese and Ukrainian
    ("روسيا ترحب بقرار طالبان", True),
    ("روسیه از تصمیم طالبان استقبال کرد", True),
    ("Rusya, Taliban yönetimine destek verdi", True),
    ("Rusia sprijină guvernul talibanilor", True),
    ("Rusia găzduiește o reuniune cu delegația talibanilor", True),
    ("Moscou saúda a decisão do Talibã", True),
    ("Москва вітає рішення Талібану", True),
    # the Pakistani Taliban in Arabic, French and Spanish: another group
    ("روسيا تدين هجوم طالبان باكستان في بيشاور", False),
    ("La Russie condamne l'attentat des talibans pakistanais à Peshawar", False),
    ("Rusia condena el ataque de los talibanes paquistaníes", False),
])
def test_arabic_clitics_russian_regions_and_stance_in_more_languages(text: str,
                                                                      kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 9, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # dpa's ROUNDUP is the latest version of one story, not a digest...
    ("ROUNDUP: Russland und Taliban unterzeichnen Vertrag über Weizen. KABUL (dpa-AFX) - "
     "Russland liefert den Taliban Weizen", True),
    # ... while a news round-up still is one
    ("News roundup: Russia and the Taliban sign a wheat deal; floods in Spain", False),
    # a chargé d'affaires, in Arabic, Spanish and Russian
    ("روسيا تقبل القائم بالأعمال الذي عينته طالبان", True),
    ("Rusia acepta al encargado de negocios de los talibanes", True),
    ("Москва приняла временного поверенного в делах от талибов", True),
])
def test_agency_roundups_and_charges_d_affaires(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 9, 28, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the legal notice in another word order, or with "banned as": not Russia as an actor
    ("Представитель «Талибана» (террористическая организация в России запрещена) объявил "
     "состав нового правительства Афганистана", False),
    ("The Taliban (banned as a terrorist organisation in Russia) named a new governor of "
     "Herat", False),
    # Sputnik's notice, "under UN sanctions for terrorism", is not a word of relations...
    ("Russian official says the flow of opium from Afghanistan grew under the Taliban "
     "(under UN sanctions for terrorism)", False),
    # ... while communication with the Taliban is one
    ("Russia favours communication with the Taliban (under UN sanctions for terrorism), "
     "Putin says", True),
    # exports and shipments in Arabic, talks in Czech, a banned list and a proposal in
    # Indonesian, infrastructure in Korean
    ("أفغانستان ترسل أول شحنة من العنب إلى روسيا", True),
    ("Moskva hostí rozhovory s Tálibánem o Afghánistánu", True),
    ("Rusia hapus Taliban dari daftar organisasi terlarang", True),
    ("Taliban ajukan proposal kerja tambang kepada Rusia", True),
    ("러시아, 탈레반과 아프간 인프라 건설 논의", True),
    # Russia's other senior voices: what they say of the Taliban is Russia's stance
    ("Medvedev: the Taliban cut opium output more in a year than NATO did in twenty", True),
])
def test_legal_notices_exports_and_more_voices_of_russia(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 11, 20, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the Afghan situation as the subject of others' talks, in Chinese, Japanese and Korean
    ("俄罗斯与塔吉克斯坦总统讨论双边关系和阿富汗局势", False),
    ("ロシア外相、アフガン情勢をタジク外相と協議", False),
    ("러시아-타지키스탄 정상, 아프간 정세 논의", False),
    # the Taliban as an adjective in Hindi, and praise as a stance
    ("पुतिन ने अफगानिस्तान की तालिबानी सरकार की सराहना की", True),
    # a live news page is a digest
    ("4th July live news: Russia recognises the Taliban, floods in Bihar", False),
])
def test_the_afghan_situation_in_asian_languages_hindi_praise_and_live_pages(
        text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 12, 5, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # military drills with Central Asian states, in Indonesian and Spanish: security, even
    # beside the Taliban
    ("Taliban makin kuat, Rusia gelar latihan militer dengan Tajikistan", False),
    ("Los talibanes avanzan, Rusia termina ejercicios militares con Tayikistán", False),
    # a Japanese agency's dateline names Moscow, not Russia acting
    ("【モスクワ=共同】ウズベキスタンとタジキスタンの首脳がアフガニスタン情勢を協議した", False),
    # supplied: the past of the Russian word for deliveries
    ("Афганистан поставил в Россию первую партию гранатов", True),
])
def test_drills_in_more_languages_datelines_and_deliveries(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 11, 4, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # "влад*" (Serbian and Ukrainian for government) caught the name Vladimir: Putin's first
    # name beside "Afghanistan" made Afghanistan's rulers
    ("Путин одобрил решение Байдена вывести войска из Афганистана\nПрезидент Владимир Путин "
     "считает, что Байден поступил правильно", False),
    # a Russian agency's dateline in Chinese is the source, not Russia acting
    ("塔利班称坎大哈机场恢复国际航班 俄罗斯卫星通讯社喀布尔10月7日电", False),
])
def test_vladimir_is_no_government_and_agency_datelines_in_chinese(text: str,
                                                                   kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 10, 21, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Afghanistan and Pakistan as the two sides of a border conflict: Russia's call for calm
    # or its welcome of their ceasefire is about their dispute, not a relation with Kabul
    ("Moscow urges Afghanistan and Pakistan to end the border clashes", False),
    ("Россия приветствует перемирие между Пакистаном и Афганистаном", False),
    ("Zakharova salue le cessez-le-feu entre l'Afghanistan et le Pakistan", False),
    ("La Russia invita Pakistan e Afghanistan a fermare gli scontri", False),
    ("Rusia pide a Afganistán y Pakistán poner fin a los enfrentamientos", False),
    ("موسكو تدعو باكستان وأفغانستان إلى وقف التصعيد", False),
    ("روس کا پاکستان اور افغانستان کے درمیان جنگ بندی کا خیرمقدم", False),
    ("Pakistan's prime minister to visit Russia amid war tension with Afghanistan", False),
    # ... while talks with the Taliban about that conflict, or Russia's own dealings with
    # Kabul beside it, are still Russia and the Taliban
    ("Lavrov and Taliban foreign minister Muttaqi discuss the clashes with Pakistan", True),
    ("Russia and Afghanistan sign a wheat deal as tension with Pakistan grows", True),
])
def test_afghanistan_and_a_neighbour_as_two_sides_of_a_conflict(text: str,
                                                                 kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 10, 20, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Russia's stance in languages that had relation words but no stance words: welcoming,
    # supporting, advocating (Czech, Serbian in both scripts, Slovene, Hungarian, Dutch,
    # Swedish)
    ("Moskva vítá prohlášení Tálibánu o připravenosti k dialogu", True),
    ("Moskva pozdravlja izjavu talibana o spremnosti za dijalog", True),
    ("Русија подржава дијалог са талибанима", True),
    ("Москва се залаже за покретање дијалога са талибанима", True),
    ("Rusija podpira pogovore s talibani", True),
    ("Oroszország üdvözli a tálibok nyilatkozatát", True),
    ("Rusland verwelkomt de toezeggingen van de taliban", True),
    ("Ryssland välkomnar talibanernas löften", True),
    # ... and a warning about threats from Afghanistan is still no relation
    ("Moskva varuje před hrozbou teroristů z Afghánistánu", False),
    ("Москва упозорава на претњу тероризма из Авганистана", False),
])
def test_stance_in_central_european_balkan_and_nordic_languages(text: str,
                                                                kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 8, 20, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # humanitarian help in Russian, as it was in English
    ("Россия продолжит оказывать гуманитарное содействие афганскому народу", True),
    ("Russia warns of humanitarian catastrophe in Afghanistan", True),
    ("Россия предупредила о гуманитарной катастрофе в Афганистане", True),
    # someone "with ties to the Kremlin" is described, not Russia acting or relating
    ("A Russian mercenary group with close ties to the Kremlin recruits soldiers who fled "
     "after the Taliban takeover", False),
    ("Hackers with ties to Moscow target Afghan refugees after the Taliban takeover", False),
    # former Afghan officials are the fallen republic's people, not Afghanistan's rulers
    ("Russia hosts talks with former Afghan officials", False),
    ("Moscow hosts a meeting of former Afghan lawmakers", False),
])
def test_humanitarian_help_kremlin_links_and_former_afghan_officials(text: str,
                                                                     kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 11, 3, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the Taliban's takeover as a date: beside threats it is no relation ...
    ("Islamic State fighters in Afghanistan tripled since the Taliban came to power, says "
     "Russia's Kabulov", False),
    ("After the Taliban takeover, Russia reinforces its base in Tajikistan to counter "
     "terrorism", False),
    ("Кабулов: после прихода талибов к власти число боевиков ИГ выросло втрое", False),
    # ... while Russia's dealings since then still are
    ("Russia has kept its embassy in Kabul open since the Taliban takeover", True),
    ("После прихода талибов к власти Россия сохранила посольство в Кабуле", True),
    ("Since the Taliban came to power, Moscow has hosted their delegations at every forum",
     True),
    # Afghanistan as a comparison, a region, the place of weapons or of threats
    ("Russia faces an Afghanistan-style defeat in Ukraine, former diplomats tell a "
     "conference", False),
    ("Lavrov says the West presses Afghanistan's neighbours to take in refugees", False),
    ("Shoigu says US troops left behind a large number of weapons in Afghanistan", False),
    ("Pakistani and Russian envoys discuss terrorist groups based in Afghanistan", False),
    ("سفیر روسیه: با توجه به وضعیت کنونی افغانستان، تاجیکستان پاسگاه منطقه است", False),
    # leaving Afghanistan, in Russian ("выход") and Tajik
    ("Трамп: выход США из Афганистана подтолкнул Путина, и Россия приняла решение о "
     "вторжении", False),
    ("Патрушев: хориҷ шудани нерӯҳои ИМА аз Афғонистон ба омодагии Киев рабт дошт", False),
    # a Russia-led bloc in Turkish, Russia and Ukraine as a pair in French
    ("Rusya liderliğindeki Kolektif Güvenlik Anlaşması Örgütü Afganistan için toplandı", False),
    ("Les talibans appellent la Russie et l'Ukraine au dialogue", False),
    # Turkmen, Kabul in Uzbek Cyrillic, culture and fairs
    ("Russiýa Owganystan bilen söwda gatnaşyklaryny giňeldýär", True),
    ("Россия Кобулда элчихонасини қайта очди", True),
    ("Russian cultural centre in Kabul opens a stand at the book fair", True),
])
def test_takeover_dates_comparisons_neighbours_and_central_asian_words(text: str,
                                                                       kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 7, 28, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # "the fate of Afghanistan" as a comparison for Ukraine
    ("Ukraine is doomed to the fate of Afghanistan, Lavrov tells a news conference", False),
    ("Украину ждёт судьба Афганистана, заявил Лавров на пресс-конференции", False),
    # the CSTO's "treaty" and a Russia-led bloc in German; the takeover as a date in German
    ("Tadschikistan: Das von Russland angeführte Bündnis der Organisation des Vertrags über "
     "kollektive Sicherheit übt nach der Machtübernahme der Taliban", False),
    # hope as a stance in German; goods sent ("направил") and fruit as trade
    ("In Moskau hofft man, den Sieg der Taliban gegen die USA ausnutzen zu können", True),
    ("Афганистан направил в Россию первую партию яблок", True),
    ("Afghanistan sends its first apples to Russia", True),
])
def test_the_fate_of_afghanistan_the_csto_in_german_hope_and_fruit(text: str,
                                                                   kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 1, 18, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the takeover as a date beside threats, and Afghanistan's neighbours, in Turkish, Urdu,
    # Hindi and Indonesian (their threat words too)
    ("Kabulov: Taliban'ın iktidara gelmesinden bu yana Afganistan'daki IŞİD teröristlerinin "
     "sayısı üç katına çıktı", False),
    ("کابلوف: طالبان کے اقتدار میں آنے کے بعد افغانستان میں داعش کے دہشت گردوں کی تعداد تین "
     "گنا ہوگئی", False),
    ("लावरोव: तालिबान के सत्ता में आने के बाद अफगानिस्तान में आतंकवादियों की संख्या तीन गुना "
     "हुई", False),
    ("Kabulov: sejak Taliban berkuasa, jumlah teroris ISIS di Afghanistan naik tiga kali lipat",
     False),
    ("Lavrov: Batı, Afganistan'ın komşularına mülteci kabul etmeleri için baskı yapıyor", False),
    ("Lavrov: Barat menekan negara tetangga Afghanistan untuk menerima pengungsi", False),
    # ... and Russia's dealings since the takeover are still relations
    ("Rusya, Taliban'ın iktidara gelmesinden bu yana Kabil'deki büyükelçiliğini açık tuttu",
     True),
])
def test_takeover_dates_and_neighbours_in_turkish_urdu_hindi_and_indonesian(
        text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 7, 28, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Russian "в связи с" ("because of") is no tie; "связи" as ties still is
    ("В связи с приходом талибов к власти Россия ужесточила правила въезда для мигрантов",
     False),
    ("Россия и талибы развивают связи в сфере торговли", True),
    # the Taliban attacking a neighbour are the danger the neighbour asks Russia to meet
    ("Tajikistan asks Moscow for troops after Taliban attacks on its border posts", False),
    ("Le Tadjikistan sollicite l'aide militaire de la Russie après des attaques des talibans",
     False),
    ("Putin criticises Pakistan and says the Taliban are fighting against terrorism", True),
    # "the Afghan topic" or "agenda" is a subject of talks, not a party to them
    ("Лукашенко обсудил с Путиным по телефону афганскую тематику", False),
    ("Putin and Tokayev discuss the Afghan agenda by phone", False),
    ("Путин обсудил с Рахмоном афганскую повестку", False),
    # Taliban rule as a reality to be taken into account is a stance
    ("Kremlin: the Taliban's control of Afghanistan is a reality that must be taken into "
     "account", True),
    ("Москва будет учитывать реалии, сложившиеся после прихода талибов", True),
    ("Russia must reckon with the reality of climate change, Putin says", False),
])
def test_because_of_attacks_on_neighbours_the_afghan_topic_and_reality(text: str,
                                                                      kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 8, 20, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the legal notice in Tajik; the Russia-Ukraine pair in Urdu; the Security Council in
    # Pashto word order; the West's war "in Afghanistan" in Persian; "what happened in
    # Afghanistan" as a comparison (Arabic); the Afghan border in Urdu; fighting in Bulgarian
    ("Толибон (як созмони террористии мамнуъ дар Федератсияи Русия) дар Афғонистон қонуни "
     "нав қабул кард", False),
    ("روس اور یوکرین کی جنگ پر طالبان کا موقف سامنے آ گیا", False),
    ("د روسیې د ملي امنیت شورا منشي وايي طالبان د امریکا جوړ کړي دي", False),
    ("نماینده روسیه: آمریکا در افغانستان با شکست کامل روبرو شد", False),
    ("باتروشيف: ما حدث في أفغانستان قد يحدث مع أنصار أمريكا في أوكرانيا", False),
    ("Russia's envoy: what happened in Afghanistan awaits Kyiv too", False),
    ("ماریا زاخارووا نے پاک افغان سرحد پر تناؤ کے خاتمے کا خیر مقدم کیا", False),
    ("Русия призова Афганистан и Пакистан да прекратят сраженията и да решат спора по "
     "дипломатически път", False),
    # Russia's officials named in Arabic; a fait accompli as a stance; Urdu investment words
    ("بيسكوف: وصول طالبان إلى السلطة في أفغانستان أمر واقع", True),
    ("روس نے افغانستان میں ریلوے منصوبوں میں سرمایہ کاری میں دلچسپی ظاہر کی", True),
    ("Русия и Афганистан подписаха споразумение за търговия", True),
])
def test_the_regions_languages_notices_pairs_borders_and_voices(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 11, 3, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Russia evacuating its citizens from Afghanistan, and flights, are dealings with it;
    # the Americans' evacuation is someone else's
    ("Russian planes land at Kabul airport to evacuate Russians after the Taliban takeover",
     True),
    ("Путин поручил направить самолёты в Афганистан для эвакуации россиян", True),
    ("الدفاع الروسية: وصول طائرة ثالثة بعد إجلاء رعايا من أفغانستان", True),
    ("Trump says Putin grew bolder after the botched evacuation of US troops from Afghanistan",
     False),
    ("Zdaniem Trumpa ewakuacja wojsk USA z Afganistanu ośmieliła Putina", False),
])
def test_evacuations_from_afghanistan(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 8, 25, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # a spokeswoman's "news briefing" is no digest
    ("Zakharova told a news briefing that recognising the Taliban government is premature",
     True),
    # Afghanistan as a comparison in Spanish and Italian; places near it
    ("Lavrov: el apoyo de Washington a Kiev acabará como en Afganistán", False),
    ("Lavrov: il sostegno americano a Kiev potrebbe finire, è già successo con l'Afghanistan",
     False),
    ("Putin objected to a plan to reposition withdrawn Afghanistan forces in Central Asian "
     "countries near Afghanistan", False),
    # St Petersburg in Italian; lifting the terrorist designation in Korean; Swedish aid;
    # Hungarian "views"; a former Soviet republic is no history piece
    ("Talebani ospiti d'onore al forum economico di San Pietroburgo", True),
    ("러시아 대법원, 탈레반 테러단체 지정 해제 결정", True),
    ("Ryssland skickar humanitärt bistånd till Afghanistan efter jordbävningen", True),
    ("Hogyan tekint a tálib hatalomátvételre Oroszország", True),
    ("Putin will seine Beziehungen zu den Taliban verbessern, sagt er in der "
     "Ex-Sowjetrepublik Tadschikistan", True),
    # the Taliban's advance is the danger others guard against
    ("Angesichts des Vormarsches der Taliban wollen Russland und Tadschikistan ihre "
     "militärische Zusammenarbeit ausbauen", False),
    ("Russia and Tajikistan expand military cooperation amid the Taliban advance", False),
])
def test_briefings_comparisons_european_words_and_the_taliban_advance(text: str,
                                                                      kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 6, 28, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the words of relations and stance of English and Russian, carried to Arabic (with
    # the article's forms), Persian, Urdu and Hindi: calls, memoranda, energy, agreement,
    # talks, flights
    ("روسيا تدعو طالبان إلى تشكيل حكومة شاملة", True),
    ("روسيا وطالبان توقعان مذكرة تفاهم في مجال الطاقة", True),
    ("روسیه خواستار تشکیل دولت فراگیر از سوی طالبان شد", True),
    ("روسیه و طالبان به توافق رسیدند", True),
    ("روس اور طالبان کے درمیان بات چیت کا نیا دور", True),
    ("रूस और तालिबान के बीच बातचीत का नया दौर", True),
    ("रूस और तालिबान के बीच उड़ानें फिर शुरू होंगी", True),
    # ... still within one sentence
    ("أكدت طالبان أنها لن تسمح باستخدام أراضيها ضد أي دولة. وفي موسكو، أعلن الكرملين عن "
     "مناورات جديدة.", False),
    ("तालिबान ने महिलाओं पर नए प्रतिबंध लगाए। रूस में नए प्रतिबंधों पर बहस जारी है।", False),
])
def test_relation_and_stance_words_in_arabic_persian_urdu_and_hindi(text: str,
                                                                   kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 5, 15, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Russia's foreign ministry, spokespeople and diplomats by office, not by name: what
    # they say of the Taliban in the same sentence is Russia's stance
    ("Taliban are bringing order back quickly, says Russia's foreign ministry", True),
    ("Kremlin spokesman: the Taliban deserve a chance to show they can govern", True),
    ("МИД России: талибы контролируют ситуацию в Кабуле", True),
    ("روسی دفتر خارجہ کے ترجمان نے کہا کہ طالبان کابل میں حالات پر قابو پا چکے ہیں", True),
    # ... but a time "under the Taliban" is no actor beside it
    ("Drug flows have grown under the Taliban, Russia's foreign ministry says", False),
    ("МИД России: при талибах вырос поток наркотиков в Центральную Азию", False),
    # a help of Russia's to the Taliban; tourism between the two
    ("Russia says it will help the Taliban fight the Islamic State", True),
    ("La Russie aidera les talibans à lutter contre l'État islamique", True),
    ("Россия поможет талибам бороться с наркотиками", True),
    ("Few Russian tourists want to visit Afghanistan, tour operators say", True),
    # ... not help to someone else, nor others' flight from Afghanistan
    ("The pullout will help Washington compete with Beijing and Moscow, a Taliban "
     "commander says", False),
    ("Russian senator mocks the flight of Americans from Afghanistan", False),
    # Afghanistan as a region where dangers gather, or as a comparison in Chinese
    ("Шойгу: боевики на севере Афганистана угрожают странам Центральной Азии", False),
    ("Shoigu says militants gathering in northern Afghanistan threaten Central Asia", False),
    ("俄外长称西方想让乌克兰成为第二个阿富汗", False),
    # the West's withdrawal from Afghanistan, in Chinese, is no Afghan actor
    ("俄外长：美军从阿富汗撤军后，俄罗斯将加强中亚盟国的安全", False),
    # the legal notice's "recognised as terrorist" is no recognition
    ("The Taliban (recognised as a terrorist group and banned in Russia) say they hold "
     "every district of the province", False),
    # the notice in the instrumental case ("with the movement banned in Russia") is still
    # the notice; the ban's end is not
    ("Узбекистан расширяет контакты с запрещенным в России движением «Талибан»", False),
    ("Россия перестанет считать запрещенным движение «Талибан»", True),
    # Kabul and "the Afghan one" as comparisons, in Russian
    ("Патрушев: Киев ждет ситуация, похожая на афганскую, США бросят своих сторонников, "
     "как и в Кабуле", False),
])
def test_voices_by_office_help_tourism_regions_and_a_second_afghanistan(text: str,
                                                                        kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 9, 10, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # a law that legalises the Taliban (takes them off the banned list) is a step of
    # recognition, in any language
    ("Russia's parliament passes a law that could legalise the Taliban", True),
    ("Parlamento russo aprova lei que permite legalizar o movimento talibã", True),
    ("Госдума приняла закон, который позволит легализовать «Талибан» в России", True),
    # the legal notice with the place before the ban, or in Portuguese, French, German, is
    # no recognition
    ("Движение «Талибан» (организация признана террористической на территории РФ и "
     "запрещена) объявило о запрете для женщин", False),
    ("O movimento talibã (organização reconhecida como terrorista na Rússia) anunciou um "
     "decreto sobre as mulheres", False),
    ("Les talibans (reconnus comme terroristes en Russie) ont annoncé un décret", False),
    ("Los talibanes (reconocidos como terroristas en Rusia) prohíben a las mujeres estudiar",
     False),
    # ... while the end of that designation still is a step
    ("Верховный суд России отменил признание «Талибана» террористической организацией", True),
    # ties as the word "ties" in French, Spanish, Portuguese, Italian and Polish: kept by
    # them, not by the notice's words beside them
    ("Sergueï Choïgou à Kaboul pour renouer des liens avec les talibans, considérés comme "
     "une « organisation terroriste » interdite en Russie", True),
    ("Mosca rafforza i legami con i talebani", True),
    ("Rosja zacieśnia więzi z talibami", True),
    ("Rusia estrecha lazos con los talibanes", True),
])
def test_a_law_that_legalises_and_the_notice_in_more_words(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 12, 17, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # negotiations in French, Spanish, Italian, Turkish and Bosnian/Croatian/Serbian
    ("La Russie et les talibans ouvrent des négociations sur le gaz", True),
    ("Mosca e i talebani negoziano sulle forniture", True),
    ("Rusya ile Taliban arasında müzakereler başladı", True),
    ("Rusija i talibani: pregovori u Moskvi", True),
    # the lifting of the ban, in Japanese and Chinese
    ("ロシア下院、タリバンの禁止令解除を可能にする法律を採択", True),
    ("俄罗斯议会通过法律，为塔利班解除禁令铺路", True),
])
def test_negotiations_in_more_languages_and_the_ban_lifted_in_japanese(text: str,
                                                                       kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2024, 12, 18, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # Russia, the Taliban, Afghanistan and recognition in Kannada, Telugu, Tamil, Malayalam,
    # Marathi and Gujarati (words take suffixes there: "ರಷ್ಯಾದ", "रशियाने")
    ("ರಷ್ಯಾ ತಾಲಿಬಾನ್ ಆಡಳಿತವನ್ನು ಅಧಿಕೃತವಾಗಿ ಗುರುತಿಸಿದೆ", True),
    ("తాలిబన్ ప్రభుత్వాన్ని గుర్తించిన మొదటి దేశంగా రష్యా", True),
    ("தலிபான் அரசை அங்கீகரித்த முதல் நாடு ரஷ்யா", True),
    ("താലിബാൻ സർക്കാരിനെ അംഗീകരിച്ച ആദ്യ രാജ്യമായി റഷ്യ", True),
    ("रशियाने तालिबान सरकारला मान्यता दिली", True),
    ("રશિયાએ તાલિબાન સરકારને માન્યતા આપી", True),
    # "identified" (the same verb in Kannada) by the police, in Russia: no recognition
    ("ರಷ್ಯಾದಲ್ಲಿ ಭಯೋತ್ಪಾದಕ ದಾಳಿ: ಪೊಲೀಸರು ಶಂಕಿತರನ್ನು ಗುರುತಿಸಿದ್ದಾರೆ", False),
])
def test_recognition_in_the_languages_of_south_and_west_india(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2025, 7, 4, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # a Russian region trading with or visiting Afghanistan is Russia as a party, as
    # Tatarstan and Bashkortostan were
    ("Ставропольские сушеные бобовые овощи впервые экспортировали в Афганистан", True),
    ("Делегация Белгородской области посетила Кабул", True),
    ("Kemerovo coal exporters sign a supply deal with Afghanistan", True),
    # ... not a place where Afghans live
    ("Afghan migrants protest in Perm over work permits", False),
])
def test_every_region_of_russia_is_russia(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2022, 12, 4, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kept"), [
    # the Taliban as a likeness someone draws ("Russia is not the Taliban", "like the
    # Taliban") is no party to a relation with Russia
    ("РФ — это не «Талибан»: Зеленский уверен, что Украину невозможно захватить за неделю",
     False),
    ("Россия ведет себя как талибы, заявил Зеленский", False),
    ("Zelensky: Russia is not the Taliban, Ukraine will not fall in a week, he said", False),
    # ... while Russia not recognising them, or ready for contacts with them, is Russia's
    # stance
    ("Россия не признает Талибан, заявил Лавров", True),
    ("Лавров: Россия готова к контактам с талибами, как и с другими афганскими силами", True),
])
def test_the_taliban_as_a_comparison(text: str, kept: bool) -> None:
    assert_verdict(text, kept, published=datetime(2021, 9, 13, tzinfo=UTC))
