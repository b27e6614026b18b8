"""Language detection: ``mediamon.core.language.detect`` on the labelled multilingual
texts, and its script fallback when py3langid is not installed."""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import DATA
from mediamon.cli import cli
from mediamon.core import langid_cache, language
from mediamon.core.language import backend, detect, detect_by_script

LABELLED = [DATA / "relevance" / n for n in ("dev.jsonl", "heldout.jsonl", "languages.jsonl")]
# The languages the choice of detector turned on (docs/languages.md).
FOCUS = ("ps", "fa", "uz", "tg", "kk", "ur", "pl")


def labelled() -> list[tuple[str, str, str]]:
    """(language, title + summary, title) of every labelled item."""
    rows = []
    for path in LABELLED:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                rows.append((item["language"], f"{item['title']}\n{item.get('summary') or ''}",
                             item["title"]))
    return rows


@pytest.fixture
def without_py3langid(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if py3langid were not installed (the ``languages`` extra left out)."""
    monkeypatch.setitem(sys.modules, "py3langid", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    language._model.cache_clear()
    language._detect.cache_clear()  # what the model detected is not what scripts tell
    yield
    language._model.cache_clear()
    language._detect.cache_clear()


needs_model = pytest.mark.skipif(backend() != "py3langid",
                                 reason="needs py3langid (the languages extra)")


@needs_model
def test_every_labelled_language_is_detected() -> None:
    """On the 403 labelled texts (23 languages), every language is detected right at least
    nine times in ten, the focus languages (Pashto, Dari/Persian, Uzbek, Tajik, Kazakh,
    Urdu, Polish) included, and 97 % of titles alone."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    titles_right = 0
    rows = labelled()
    for lang, text, title in rows:
        per[lang][1] += 1
        per[lang][0] += detect(text)[0] == lang
        titles_right += detect(title)[0] == lang
    assert set(FOCUS) <= set(per)
    low = {lang: f"{r}/{n}" for lang, (r, n) in per.items() if r < 0.9 * n}
    assert not low, low
    assert titles_right >= 0.97 * len(rows)


@needs_model
def test_chinese_is_chinese_not_wu() -> None:
    """py3langid's model alone calls short Mandarin headlines Wu Chinese; detect sums the
    Chinese varieties and says "zh"."""
    code, confidence = detect("俄罗斯正式承认阿富汗伊斯兰酋长国 "
                              "俄外交部副部长接受新任大使递交的国书。")
    assert code == "zh" and confidence > 0.9


@needs_model
def test_confidence_is_a_probability_and_grows_with_evidence() -> None:
    """The confidence is between 0 and 1, and a sentence is surer than two words."""
    short = detect("Putin Kabul")[1]
    long = detect("Rosja jako pierwsze państwo uznała rząd talibów w Afganistanie, "
                  "a ambasador złożył listy uwierzytelniające w Moskwie.")
    assert long[0] == "pl"
    assert 0.0 <= short < long[1] <= 1.0


@needs_model
def test_the_per_language_sums_are_the_ranked_lists() -> None:
    """The model's probabilities are summed per ISO code from its array, in C; the result,
    ties included (a text without a feature the model knows), is what summing py3langid's
    ranked list per code gives, on every labelled text and a few degenerate ones."""
    classify = language._model()
    assert classify is not None
    identifier = langid_cache.identifier(__import__("py3langid.langid", fromlist=["x"]))

    def by_rank(text: str) -> tuple[str | None, float]:
        totals: dict[str, float] = {}
        for label, prob in identifier.rank(text):
            code = language.MACRO.get(label, label)
            totals[code] = totals.get(code, 0.0) + float(prob)
        code, prob = max(totals.items(), key=lambda kv: kv[1])
        return (None, 0.0) if code in language.NO_LANGUAGE else (code, min(1.0, prob))

    texts = [text for _, text, _ in labelled()] + [
        "ŋ", "Ǆ ǅ", "x", "Москва", "塔", "ab ab ab", "ٹ", "Ⅻ ⅻ"]
    ties = 0
    for text in texts:
        sample = text[:language.MAX_CHARS]
        assert classify(sample) == pytest.approx(by_rank(sample), abs=1e-12), text
        ties += by_rank(sample)[1] < 0.05
    assert ties  # the degenerate texts tie, and are broken as the ranked list breaks them


@pytest.mark.parametrize("text", [None, "", "   ", "12:45 — 2025", "!!! ??? ...", "😀🎉"])
def test_no_letters_no_language(text: str | None) -> None:
    """A text without letters has no language: (None, 0.0), with or without the model."""
    assert detect(text) == (None, 0.0)
    assert detect_by_script(text or "") == (None, 0.0)


def test_a_long_text_is_read_from_its_start() -> None:
    """A very long text gives the language of its start (only MAX_CHARS are read)."""
    text = "Россия признала правительство талибов. " * 100 + "English words only. " * 5000
    assert detect(text)[0] == "ru"


# -- the fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("روسیې د طالبانو حکومت په رسمیت وپېژاند", "ps"),  # ې ښ ګ: Pashto
    ("روس نے طالبان حکومت کو تسلیم کر لیا ہے", "ur"),  # ے ں ٹ: Urdu
    ("روسیه حکومت طالبان را به رسمیت شناخت", "fa"),  # ی پ گ: Persian / Dari
    ("روسيا تعترف بحكومة طالبان", "ar"),
    ("Ресей Ауғанстандағы Талибан үкіметін мойындады", "kk"),
    ("Русия ҳукумати Толибонро ба расмият шинохт", "tg"),
    ("Росія визнала уряд талібів", "uk"),
    ("Россия признала правительство талибов", "ru"),
    ("俄罗斯承认塔利班政府", "zh"),
    ("ロシアがタリバン政権を承認", "ja"),
    ("러시아, 탈레반 정부 승인", "ko"),
    ("Η Ρωσία αναγνώρισε την κυβέρνηση των Ταλιμπάν", "el"),
    ("Russia recognises the Taliban government", None),  # Latin: not by letters
    ("Rosja uznała rząd talibów", None),
])
def test_without_py3langid_the_script_decides(without_py3langid: None, text: str,
                                              expected: str | None) -> None:
    """Without py3langid, detect falls back to the script and its telling letters, with a
    lower confidence; a Latin-script text stays unknown."""
    assert backend() == "script"
    code, confidence = detect(text)
    assert code == expected
    if expected is None:
        assert confidence == 0.0
    else:
        assert 0.5 <= confidence <= 0.9


def test_the_fallback_on_the_labelled_sets(without_py3langid: None) -> None:
    """The fallback never names a wrong language for the Arabic-script and Cyrillic focus
    languages it can tell: Pashto, Persian, Urdu and Kazakh texts all come out right."""
    for lang, text, _title in labelled():
        if lang in ("ps", "fa", "ur", "kk"):
            assert detect(text)[0] == lang, (lang, text)


# -- the model's copy in the user's cache (core.langid_cache) --------------------------------


def _packaged() -> Any:
    from py3langid import langid

    return langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)


def _from_cache() -> Any:
    from py3langid import langid

    return langid_cache.identifier(langid)


@needs_model
def test_the_cached_copy_ranks_every_language_as_the_packaged_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made on first use, then mapped: on every labelled text (23 languages) the copy gives
    the packaged model's ranking, every language and every probability."""
    monkeypatch.setenv(langid_cache.CACHE_ENV, str(tmp_path))
    made = _from_cache()
    copies = [p for p in tmp_path.iterdir()]
    assert len(copies) == 1 and (copies[0] / "complete").exists()  # no half-made copy left
    mapped = _from_cache()  # read from the copy, not made again
    assert [p for p in tmp_path.iterdir()] == copies
    assert isinstance(mapped.tk_nextmove, memoryview)
    packaged = _packaged()
    texts = [text for _lang, text, _title in labelled()]
    for text in texts:
        expected = packaged.rank(text)
        assert made.rank(text) == expected
        assert mapped.rank(text) == expected


@needs_model
@pytest.mark.parametrize("damage", ["unwritable", "truncated", "half-made"])
def test_a_cache_that_cannot_be_used_costs_only_the_slow_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """A cache directory that cannot be made (a file stands in its way), a copy whose
    array was cut short, or one interrupted before it was complete: the copy is made again
    (or, where it cannot be, the model read from the package), and detects as before."""
    root = tmp_path / "cache"
    if damage == "unwritable":
        root.write_text("not a directory")
    else:
        monkeypatch.setenv(langid_cache.CACHE_ENV, str(root))
        _from_cache()
        (copy,) = root.iterdir()
        if damage == "truncated":
            ptc = copy / "ptc.npy"
            ptc.write_bytes(ptc.read_bytes()[:1000])
        else:
            (copy / "complete").unlink()
    monkeypatch.setenv(langid_cache.CACHE_ENV, str(root))
    identifier = _from_cache()
    assert identifier.rank("Россия признала правительство талибов")[0][0] == "ru"
    if damage != "unwritable":  # made again in its place
        assert (copy / "complete").exists() and isinstance(identifier.tk_nextmove, memoryview)
    assert identifier.rank("Rosja uznała rząd talibów w Afganistanie")[0][0] == "pl"


@needs_model
def test_two_processes_making_the_copy_at_once_both_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two interpreters started together, both without a copy: both detect, and one
    complete copy is left, with no temporary directory beside it."""
    import subprocess

    env = {**os.environ, langid_cache.CACHE_ENV: str(tmp_path)}
    code = ("from mediamon.core.language import detect; "
            "print(detect('Россия признала правительство талибов')[0])")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["ru", "ru"]
    (copy,) = tmp_path.iterdir()
    assert (copy / "complete").exists()


def test_paths_shows_the_cache_directory(tmp_path: Path) -> None:
    """`mediamon paths` names where the model's copy goes, and MEDIAMON_CACHE_DIR moves it."""
    moved = tmp_path / "cache"
    result = CliRunner().invoke(cli, ["paths", "--json"], env={langid_cache.CACHE_ENV: str(moved)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["cache_dir"] == str(moved)
    result = CliRunner().invoke(cli, ["paths"], env={langid_cache.CACHE_ENV: None})
    assert result.exit_code == 0, result.output
    assert any(line.startswith("cache_dir") and line.rstrip().endswith("mediamon")
               for line in result.output.splitlines())
