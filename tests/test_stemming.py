"""snowballstemmer hands its work to PyStemmer (the Snowball project's C stemmers) when
it is installed, and PyStemmer is a dependency: the stems must be the ones the pure
Python stemmers give, for every language mediamon stems, or a database's story terms, the
profile and the search terms would depend on how mediamon was installed."""

from __future__ import annotations

import importlib
import json

import pytest
import snowballstemmer

from conftest import DATA
from mediamon.core.searchterms import STEMMERS
from mediamon.core.text import tokenize

WORDS_RU = ("талибов талибы признание признали переговоры посольства Москвы российская "
            "делегация встретился сотрудничества поставки пшеницы").split()


def words() -> list[str]:
    found: set[str] = set(WORDS_RU)
    for name in ("dev.jsonl", "heldout.jsonl", "languages.jsonl"):
        for line in (DATA / "relevance" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            found.update(tokenize(f"{row.get('title', '')} {row.get('summary', '')}").words)
    return sorted(found)


def pure_stemmer(language: str) -> object:
    """snowballstemmer's own Python class for ``language`` (english_stemmer.EnglishStemmer)."""
    module = importlib.import_module(f"snowballstemmer.{language}_stemmer")
    return getattr(module, f"{language.title()}Stemmer")()


def test_pystemmer_is_what_snowballstemmer_uses() -> None:
    import Stemmer  # PyStemmer

    assert isinstance(snowballstemmer.stemmer("english"), Stemmer.Stemmer)


@pytest.mark.parametrize("language", sorted(set(STEMMERS.values()) | {"english", "russian"}))
def test_the_c_stemmers_give_the_pure_python_stems(language: str) -> None:
    try:
        pure = pure_stemmer(language)
    except (ImportError, AttributeError):
        pytest.skip(f"snowballstemmer has no pure {language} stemmer")
    fast = snowballstemmer.stemmer(language)
    vocabulary = words()
    assert len(vocabulary) > 2_000
    assert fast.stemWords(vocabulary) == [pure.stemWord(w) for w in vocabulary]
