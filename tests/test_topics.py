"""Tests for the topic query language: parsing, errors, matching and topic sets."""

from __future__ import annotations

import pytest
import snowballstemmer
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

from mediamon.core.text import is_cjk, tokenize
from mediamon.core.text import words as folded_words
from mediamon.core.topics import (
    And,
    Near,
    Node,
    Not,
    Or,
    Pattern,
    Ref,
    Term,
    TopicError,
    TopicResult,
    TopicSet,
    _Eval,
    _Index,
    _scan_prefix,
    _stem,
    parse_query,
)
from mediamon.errors import QueryError
from mediamon.types import TopicHit


def matches(query: str, text: str) -> bool:
    """Whether a single query matches a text (through a one-topic set)."""
    return bool(TopicSet.compile({"t": query}).match_text(text).hits)


def terms(query: str, text: str) -> tuple[str, ...]:
    hits = TopicSet.compile({"t": query}).match_text(text).hits
    return hits[0].terms if hits else ()


def error(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    return info.value


# --------------------------------------------------------------------------------------
# Operators and precedence


def test_and_needs_both_terms() -> None:
    """AND matches only when both operands are present."""
    assert matches("Russia AND Taliban", "Russia hosts the Taliban")
    assert not matches("Russia AND Taliban", "Russia hosts a summit")


def test_or_needs_either_term() -> None:
    """OR matches when either operand is present."""
    assert matches("Russia OR Taliban", "the Taliban said")
    assert matches("Russia OR Taliban", "Russia said")
    assert not matches("Russia OR Taliban", "Kabul said")


def test_not_excludes() -> None:
    """`a NOT b` and `a AND NOT b` both match a without b and reject a with b."""
    for query in ("Russia NOT sport", "Russia AND NOT sport"):
        assert matches(query, "Russia and the Taliban")
        assert not matches(query, "Russia sport news")


def test_implicit_and_between_adjacent_terms() -> None:
    """Adjacent operands are ANDed."""
    assert parse_query("Russia Taliban") == parse_query("Russia AND Taliban")
    assert matches("Russia Taliban", "Taliban delegation in Russia")
    assert not matches("Russia Taliban", "Taliban delegation in Qatar")


def test_lowercase_operators_are_words() -> None:
    """Lowercase and/or/not/near are ordinary terms, not operators."""
    assert parse_query("Russia and Taliban") == parse_query("Russia AND and AND Taliban")
    assert matches("Russia and Taliban", "Russia and the Taliban")
    assert not matches("Russia and Taliban", "Russia, Taliban")
    assert matches("not", "this is not news")


def test_quoted_operator_is_a_word() -> None:
    """A quoted operator word is searched for as a word."""
    assert matches('"OR" Portland', "Portland, OR")
    assert not matches('"OR" Portland', "Portland, Maine")


def test_and_binds_tighter_than_or() -> None:
    """`a OR b c` means `a OR (b AND c)`."""
    assert parse_query("Moscow OR Russia Taliban") == parse_query("Moscow OR (Russia AND Taliban)")
    assert matches("Moscow OR Russia Taliban", "Moscow")
    assert not matches("Moscow OR Russia Taliban", "Russia")


def test_near_binds_tighter_than_and() -> None:
    """`a b NEAR/2 c` means `a AND (b NEAR/2 c)`."""
    assert parse_query("a b NEAR/2 c") == parse_query("a AND (b NEAR/2 c)")


def test_not_binds_to_one_operand() -> None:
    """NOT applies to the single operand after it, not to the rest of the AND."""
    node = parse_query("Russia NOT sport Taliban")
    assert node == And((_term("Russia"), Not(_term("sport")), _term("Taliban")))
    assert matches("Russia NOT sport Taliban", "Russia Taliban")


def test_parentheses_override_precedence() -> None:
    """Parentheses group as written."""
    assert matches("(Moscow OR Russia) Taliban", "Moscow Taliban")
    assert not matches("(Moscow OR Russia) Taliban", "Moscow")


def test_canonical_form_is_fully_parenthesised() -> None:
    """str() of a tree prints every AND, OR and NEAR in parentheses."""
    assert str(parse_query("a OR b c NEAR/3 d")) == "(a OR (b AND (c NEAR/3 d)))"
    assert str(parse_query('x NOT (y OR "z w")')) == '(x AND NOT (y OR "z w"))'


def test_and_or_are_flattened() -> None:
    """Nested ANDs (and ORs) of the same kind flatten into one node."""
    assert parse_query("a AND (b AND c)") == And((_term("a"), _term("b"), _term("c")))
    assert parse_query("(a OR b) OR c") == Or((_term("a"), _term("b"), _term("c")))


def _term(word: str) -> Term:
    return Term((Pattern(word.lower()),))


# --------------------------------------------------------------------------------------
# Phrases, multi-token terms, wildcards, stems


def test_phrase_needs_consecutive_tokens_in_order() -> None:
    """A quoted phrase matches its words consecutively and in order, across punctuation."""
    assert matches('"Islamic Emirate"', "the Islamic Emirate of Afghanistan")
    assert matches('"Islamic Emirate"', "ISLAMIC-EMIRATE")
    assert not matches('"Islamic Emirate"', "the Emirate is Islamic")
    assert not matches('"Islamic Emirate"', "Islamic State emirate")


def test_multi_token_term_is_a_phrase() -> None:
    """A bare term that tokenises into several tokens is matched as a phrase."""
    assert matches("al-Qaida", "links to Al Qaida")
    assert matches("al-Qaida", "AL-QAIDA")
    assert not matches("al-Qaida", "Qaida al")
    assert matches("U.S.", "the U.S. embassy")


def test_trailing_wildcard_is_a_token_prefix() -> None:
    """`recogni*` matches any token starting with recogni, not text inside a token."""
    for text in ("recognise", "Recognition", "RECOGNIZED"):
        assert matches("recogni*", text)
    assert not matches("recogni*", "unrecognised")
    assert not matches("recogni*", "recog")


def test_wildcard_inside_phrase() -> None:
    """A wildcard word inside a phrase matches as a prefix in its position."""
    assert matches('"recogni* Taliban"', "Moscow may recognise Taliban rule")
    assert not matches('"recogni* Taliban"', "Moscow may recognise the Taliban")


def test_wildcard_on_last_token_of_multi_token_term() -> None:
    """In `al-Qaid*` only the last token is a prefix."""
    assert matches("al-Qaid*", "al-Qaida's leaders")
    assert not matches("al-Qaid*", "alpha Qaida")


def test_stem_matches_russian_forms() -> None:
    """`талибы~` and `талиб~` match any word with the same Russian Snowball stem."""
    for query in ("талибы~", "талиб~"):
        for text in ("талибов", "талибами", "Талибы", "талибу"):
            assert matches(query, text), (query, text)
    assert not matches("талибы~", "талибан")


def test_stem_matches_english_forms() -> None:
    """Latin-script terms use the English stemmer."""
    assert matches("negotiation~", "negotiations")
    assert matches("sanction~", "sanctioned")
    assert not matches("sanction~", "sanctity")


def test_stem_on_other_scripts_is_exact() -> None:
    """Scripts without a stemmer (here Arabic) match exactly under `~`."""
    assert matches("طالبان~", "طالبان")
    assert not matches("طالبان~", "طالبانی")


# --------------------------------------------------------------------------------------
# NEAR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia may recognise the Taliban", True),
        ("the Taliban hope Russia will recognise them", True),
        ("Russia said on Monday after long talks that Taliban", False),
        ("Russia a b c d Taliban", True),  # 5 tokens apart
        ("Russia a b c d e Taliban", False),  # 6 tokens apart
    ],
)
def test_near_either_order_within_distance(text: str, expected: bool) -> None:
    """`a NEAR/5 b` matches a and b in either order at most 5 tokens apart."""
    assert matches("Russia NEAR/5 Taliban", text) is expected


def test_near_one_means_adjacent() -> None:
    """NEAR/1 matches adjacent tokens only, in either order."""
    assert matches("Russia NEAR/1 Taliban", "Taliban Russia")
    assert matches("Russia NEAR/1 Taliban", "Russia, Taliban")
    assert not matches("Russia NEAR/1 Taliban", "Russia and Taliban")


def test_near_needs_two_occurrences() -> None:
    """A token cannot be both operands of a NEAR."""
    assert not matches("Russia NEAR/3 Russia*", "Russia")
    assert matches("Russia NEAR/3 Russia*", "Russia and Russian")


def test_near_operands_can_be_groups_phrases_and_wildcards() -> None:
    """NEAR operands may be OR-groups of terms, phrases, wildcards and stems."""
    query = '(recogni* OR признан*) NEAR/4 (Taliban OR "Islamic Emirate" OR талибы~)'
    assert matches(query, "Islamic Emirate recognition is near")
    assert matches(query, "признание талибов Москвой")
    assert not matches(query, "recognition of Kabul and then the Taliban")


def test_near_measures_phrases_from_their_edges() -> None:
    """The distance to a phrase is counted from its nearest token."""
    query = 'recogni* NEAR/2 "Islamic Emirate"'
    assert matches(query, "the Islamic Emirate was recognised")
    assert not matches(query, "the Islamic Emirate was not recognised")


def test_near_chains() -> None:
    """`a NEAR/n b NEAR/m c` finds c near the span covering a and b."""
    query = "Russia NEAR/2 recogni* NEAR/3 Taliban"
    assert parse_query(query) == parse_query("(Russia NEAR/2 recogni*) NEAR/3 Taliban")
    assert matches(query, "Russia to recognise the new Taliban")
    assert not matches(query, "Russia to recognise, in time and maybe soon, Taliban")


# --------------------------------------------------------------------------------------
# Word boundaries and Unicode


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("Russia", "Prussia"),
        ("ISIS", "crisis"),
        ("Taliban", "Talibanisation"),
        ("Iran", "Iranian"),
        ("Россия", "Белоруссия"),
    ],
)
def test_terms_respect_word_boundaries(query: str, text: str) -> None:
    """A term never matches inside a longer word (Taliban does not match Talibanisation)."""
    assert not matches(query, text)


def test_wildcard_reaches_longer_words() -> None:
    """A wildcard is how to match longer words: Taliban* matches Talibanisation."""
    assert matches("Taliban*", "Talibanisation")


def test_punctuation_is_a_boundary() -> None:
    """Possessives and punctuation do not hide a word."""
    assert matches("Russia", "Russia's envoy")
    assert matches("Russia", "(Russia)")
    assert matches("ISIS", "ISIS-K claimed")


def test_matching_ignores_case_and_accents() -> None:
    """Case and accents are folded: é matches e, Ä matches a."""
    assert matches("Amérique", "AMERIQUE")
    assert matches("Amerique", "Amérique")
    assert matches("Medvedev", "Médvédev")
    assert matches("Straße", "STRASSE")


def test_cyrillic_wildcard() -> None:
    """`талиб*` matches талибы, талибов, талибами."""
    for text in ("талибы", "Талибов", "талибами"):
        assert matches("талиб*", text)


def test_russian_inflection_needs_wildcard_or_stem() -> None:
    """`Россия` does not match `России`; `Росси*` and `Россия~` do."""
    assert not matches("Россия", "визит в России")
    assert matches("Росси*", "визит в России")
    assert matches("Россия~", "визит в России")
    assert matches("Россия~", "с Россией")


def test_cyrillic_short_i_is_a_letter() -> None:
    """й is not folded to и, so the Russian stemmer sees real endings."""
    assert matches("новый~", "новая")
    assert not matches("мой", "мои")


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("کابل", "كابل"),  # Persian keheh vs Arabic kaf
        ("كابل", "کابل"),
        ("ایران", "ايران"),  # Farsi yeh vs Arabic yeh
        ("ايران", "ایران"),
        ("طالبان", "طالـبان"),  # tatweel
        ("طالبان", "طَالِبَان"),  # harakat
        ("امارت اسلامی", "امارت اسلامي افغانستان"),
    ],
)
def test_arabic_script_variants_are_folded(query: str, text: str) -> None:
    """Arabic and Persian letter variants, tatweel and harakat do not prevent a match."""
    assert matches(query, text)


def test_persian_zero_width_non_joiner() -> None:
    """A Persian word matches with or without its ZWNJ half-space."""
    with_zwnj = "می\u200cخواهند"
    assert matches(with_zwnj, "آنها میخواهند")
    assert matches("میخواهند", f"آنها {with_zwnj}")
    assert terms("میخواهند", f"آنها {with_zwnj}") == (with_zwnj,)


def test_chinese_term_matches_inside_a_sentence() -> None:
    """A Chinese term matches as a run of characters inside unspaced text."""
    assert matches("塔利班", "俄罗斯承认塔利班政权")
    assert not matches("塔利班", "俄罗斯承认塔利政权")
    assert not matches("塔利班", "班利塔")
    assert terms("塔利班", "俄罗斯承认塔利班政权") == ("塔利班",)


@pytest.mark.parametrize(("query", "text"), [
    ("会谈", "兩國會談"),  # a Simplified term, Traditional text
    ("會談", "两国会谈"),  # and the other way round
    ("俄罗斯 关系", "俄羅斯與塔利班的關係"),
    ("阿富汗问题磋商", "中俄塔利班都參加了阿富汗問題磋商"),
])
def test_traditional_and_simplified_chinese_match_each_other(query: str, text: str) -> None:
    """Traditional characters fold to Simplified (OpenCC's table), so one term serves both;
    the terms reported are the text's own."""
    assert matches(query, text)
    assert not matches("会谈", "两国会晤")


def test_traditional_terms_are_reported_as_written_in_the_text() -> None:
    assert terms("关系", "兩國關係") == ("關係",)


def test_urdu_text() -> None:
    """Urdu text in Arabic script matches Arabic- and Persian-spelled terms."""
    text = "روس نے طالبان حکومت کو تسلیم کر لیا"
    assert matches("طالبان AND روس", text)
    assert matches("حكومت", text)  # Arabic kaf in the query
    assert matches('"تسلیم کر"', text)


# --------------------------------------------------------------------------------------
# Topic sets: references, keep rule, reported terms


TOPICS = {
    "russia": "Russia OR Moscow OR Kremlin OR Росси* OR Россия~",
    "taliban": 'Taliban OR талиб* OR طالبان OR 塔利班 OR "Islamic Emirate"',
    "recognition": "(recogni* OR признан*) NEAR/5 (Taliban OR талиб*)",
}


def test_reference_uses_other_topic() -> None:
    """`@name` matches when the named topic matches."""
    topics = TopicSet.compile({**TOPICS, "both": "@russia AND @taliban"})
    assert topics.match_text("Moscow hosts Taliban").names == ("russia", "taliban", "both")
    assert topics.match_text("Moscow hosts Hamas").names == ("russia",)


def test_reference_inside_near_stands_where_its_words_are() -> None:
    """`@name` as a NEAR operand is positioned at the words that made that topic match."""
    topics = TopicSet.compile({**TOPICS, "pair": "@russia NEAR/3 @taliban"})
    assert "pair" in topics.match_text("Moscow hosts the Taliban").names
    assert "pair" in topics.match_text("Taliban envoy in Moscow").names
    far = "Moscow said on Monday that it would host a summit; separately, the Taliban"
    assert topics.match_text(far).names == ("russia", "taliban")
    hit = topics.match_text("Moscow hosts the Taliban").hits[-1]
    assert hit.topic == "pair" and set(hit.terms) == {"Moscow", "Taliban"}


def test_reference_inside_near_ignores_excluded_words() -> None:
    """Only the positive words of a referenced topic give it a position, never its NOTs."""
    topics = TopicSet.compile({
        "russia": "(Russia OR Moscow) NOT Prussia",
        "taliban": "Taliban",
        "pair": "@russia NEAR/2 @taliban",
    })
    assert "pair" in topics.match_text("Russia and Taliban").names
    assert "pair" not in topics.match_text("Russia and Prussia and Taliban").names
    assert "pair" not in topics.match_text("Moscow. A long way off, one day, the Taliban").names


def test_reference_inside_near_can_nest_and_group() -> None:
    """References mix with terms, OR-groups and chained NEARs as NEAR operands."""
    topics = TopicSet.compile({
        **TOPICS,
        "a": "(@russia OR Kabul) NEAR/4 recogni*",
        "b": "(@russia NEAR/3 @taliban) NEAR/6 envoy",
    })
    assert "a" in topics.match_text("Kabul seeks recognition").names
    assert "a" in topics.match_text("Kremlin may recognise").names
    assert "b" in topics.match_text("Moscow and Taliban name an envoy").names
    assert "b" not in topics.match_text("envoy " + "word " * 10 + "Moscow and Taliban").names


def test_except_drops_the_occurrences_another_term_overlaps() -> None:
    """`a EXCEPT b` keeps a's occurrences that no b covers; the item still matches by any
    other occurrence of a, and b alone never matches."""
    query = 'Russia EXCEPT ("Russia-led" OR "Russia-backed")'
    assert matches(query, "Russia hosts the talks")
    assert not matches(query, "A Russia-led bloc holds drills")
    assert matches(query, "A Russia-led bloc holds drills; Russia hosts the talks")
    assert matches(query, "Drills led by Russia")  # no "Russia-led" phrase covers it
    assert not matches("Russia EXCEPT Russia", "Russia")
    assert terms(query, "A Russia-led bloc; Russia hosts") == ("Russia",)


def test_except_as_a_near_operand_stands_where_its_survivors_are() -> None:
    """Through a topic, EXCEPT gives an actor sense: a NEAR on it ignores the excluded uses."""
    topics = TopicSet.compile({
        "russia": "Russia OR Russian",
        "actor": '@russia EXCEPT ("Russia-led" OR "Russian-made")',
        "pair": "@actor NEAR/4 Taliban",
    })
    assert "pair" in topics.match_text("Russia hosts the Taliban").names
    assert "pair" not in topics.match_text("Taliban fly Russian-made helicopters").names
    assert "pair" not in topics.match_text("Russia-led bloc warns the Taliban").names
    hit = topics.match_text("Russia-led bloc and Russia meet the Taliban").hits[-1]
    assert hit.topic == "pair" and hit.terms == ("Russia", "Taliban")


def test_except_can_itself_be_excepted() -> None:
    """An exclusion can carve out its own exceptions: ``a EXCEPT (b EXCEPT c)``."""
    query = 'Russia EXCEPT ("banned in Russia" EXCEPT "no longer banned")'
    assert not matches(query, "The group (banned in Russia) said")
    assert matches(query, "The group is no longer banned in Russia")


def test_except_partial_overlap_counts() -> None:
    """Any overlap drops an occurrence: a phrase that covers part of a phrase drops it."""
    query = '"Russian Federation" EXCEPT "Federation Council"'
    assert not matches(query, "the Russian Federation Council said")
    assert matches(query, "the Russian Federation said")


@pytest.mark.parametrize("query, column", [
    ("Russia EXCEPT (a AND b)", 15),
    ("(a AND b) EXCEPT Russia", 1),
    ("Russia EXCEPT NOT b", 15),
    ("EXCEPT Russia", 1),
    ("Russia EXCEPT", 8),
])
def test_except_needs_positional_operands(query: str, column: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert info.value.column == column, info.value


def test_except_parses_like_near() -> None:
    """EXCEPT binds like NEAR, left to right, tighter than AND and OR."""
    assert str(parse_query("a EXCEPT b c")) == "((a EXCEPT b) AND c)"
    assert str(parse_query("a NEAR/3 b EXCEPT c")) == "((a NEAR/3 b) EXCEPT c)"
    assert str(parse_query("a OR b EXCEPT c")) == "(a OR (b EXCEPT c))"


def test_reference_and_not_inside_near_are_still_errors() -> None:
    """AND and NOT still have no position, so they cannot be NEAR operands."""
    with pytest.raises(TopicError) as info:
        TopicSet.compile({**TOPICS, "x": "(recogni* AND признан*) NEAR/5 @taliban"})
    assert str(info.value) == (
        "topics.x.query: NEAR operand must be a term, phrase or OR-group of them at column 1"
    )


def test_positive_topics_follow_references_outside_not() -> None:
    """The topics the keep rule can only be helped by: named outside NOT, transitively."""
    topics = TopicSet.compile({
        "russia": "Russia", "taliban": "Taliban", "sport": "cricket", "digest": "briefing",
        "noise": "@sport OR @digest", "pair": "@russia NEAR/5 @taliban",
    }, "@pair NOT @noise")
    assert topics.positive_topics() == ("russia", "taliban", "pair")
    assert TopicSet.compile({"a": "x", "b": "y"}).positive_topics() == ("a", "b")


def test_positive_topics_leave_out_what_except_removes() -> None:
    """The right side of EXCEPT, like a NOT, can only stop a match: its topics are not
    positive, so words of them never raise the score of an item the rule does not keep."""
    topics = TopicSet.compile({
        "russia": "Russia", "modifier": '"Russia-led"', "taliban": "Taliban",
        "actor": "@russia EXCEPT @modifier", "pair": "@actor NEAR/3 @taliban",
    }, keep="@pair")
    assert topics.positive_topics() == ("russia", "taliban", "actor", "pair")


def test_hits_in_config_order() -> None:
    """Hits come in the order the topics were configured, not the order of the text."""
    topics = TopicSet.compile({"taliban": "Taliban", "russia": "Russia"})
    assert topics.names == ("taliban", "russia")
    assert topics.match_text("Russia and the Taliban").names == ("taliban", "russia")


def test_each_topic_evaluated_once_per_item() -> None:
    """A topic referenced by several others is evaluated once per item."""
    topics = TopicSet.compile(
        {"base": "Taliban", "a": "@base Russia", "b": "@base OR Kabul", "c": "@a OR @b"},
        keep="@base AND @c",
    )
    calls: list[str] = []
    inner = topics._evals["base"]

    class Counting(_Eval):
        def test(self, ix: _Index) -> bool:
            calls.append("base")
            return inner.test(ix)

        def collect(self, ix: _Index, out: list[tuple[int, int]]) -> None:
            inner.collect(ix, out)

    topics._evals["base"] = Counting()
    result = topics.match_text("Taliban in Russia")
    assert result.names == ("base", "a", "b", "c")
    assert result.keep
    assert calls == ["base"]


def test_keep_none_keeps_any_topic() -> None:
    """Without a keep rule an item is kept when any topic matches."""
    topics = TopicSet.compile({"russia": "Russia", "taliban": "Taliban"})
    assert topics.match_text("Taliban").keep
    assert not topics.match_text("Kabul").keep


def test_keep_rule_over_references_and_terms() -> None:
    """The keep rule combines topic references and plain terms."""
    topics = TopicSet.compile(
        {"russia": "Russia OR Moscow", "taliban": "Taliban"},
        keep="@russia AND (@taliban OR Afghanistan) NOT sport",
    )
    assert topics.match_text("Moscow talks on Afghanistan").keep
    assert topics.match_text("Russia and the Taliban").keep
    result = topics.match_text("Russia Taliban sport")
    assert result.names == ("russia", "taliban")
    assert not result.keep
    assert not topics.match_text("Russia alone").keep


def test_match_accepts_tokens() -> None:
    """match(tokens) and match_text(text) agree."""
    topics = TopicSet.compile({"russia": "Russia"})
    text = "Russia hosts talks"
    assert topics.match(tokenize(text)) == topics.match_text(text)
    assert topics.match_text(text) == TopicResult((TopicHit("russia", ("Russia",)),), True)


def test_terms_reported_as_written_in_text() -> None:
    """Matched terms are reported in the text's own spelling, in order of appearance."""
    topics = TopicSet.compile({"t": 'taliban OR russia* OR "islamic emirate" OR талиб*'})
    result = topics.match_text("RUSSIAN envoy meets the Islamic Emirate; Талибы и Taliban")
    assert result.hits == (TopicHit("t", ("RUSSIAN", "Islamic Emirate", "Талибы", "Taliban")),)


def test_terms_are_deduplicated_and_capped() -> None:
    """Each term is reported once (first spelling wins) and at most eight per topic."""
    assert terms("Taliban", "TALIBAN Taliban taliban") == ("TALIBAN",)
    words = [f"w{i}" for i in range(12)]
    assert terms(" OR ".join(words), " ".join(words)) == tuple(words[:8])


def test_terms_skip_exclusions_and_include_references() -> None:
    """Excluded terms are not reported; terms of referenced topics are."""
    topics = TopicSet.compile({"a": "Taliban", "b": "@a AND Russia NOT sport"})
    result = topics.match_text("Russia Taliban")
    assert result.hits[1] == TopicHit("b", ("Russia", "Taliban"))


def test_near_terms_reported() -> None:
    """A NEAR reports the occurrences that were near each other."""
    query = "recogni* NEAR/3 Taliban"
    assert terms(query, "Russia may Recognise the Taliban") == ("Recognise", "Taliban")


# --------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty query at column 1"),
        ("   ", "empty query at column 1"),
        ("Russia AND", "missing operand after AND at column 8"),
        ("OR Taliban", "missing operand before OR at column 1"),
        ("Russia OR OR Taliban", "missing operand after OR at column 8"),
        ("Russia NEAR/3", "missing operand after NEAR/3 at column 8"),
        ("NOT", "missing operand after NOT at column 1"),
        ("(AND Russia)", "missing operand before AND at column 2"),
        ("(Russia OR Moscow) AND Taliban)", "unbalanced parenthesis at column 31"),
        ("(Russia OR (Moscow AND Taliban)", "unbalanced parenthesis at column 1"),
        ("Russia AND (Moscow OR (Kremlin)", "unbalanced parenthesis at column 12"),
        ('Russia AND "Islamic Emirate', "unterminated quote at column 12"),
        ("Russia NEAR/x Taliban", "NEAR distance must be a whole number, optionally followed "
                                  "by s (NEAR/12s) at column 13"),
        ("Russia NEAR/0 Taliban", "NEAR distance must be at least 1 at column 13"),
        ("Russia NEAR Taliban", "NEAR needs a distance, e.g. NEAR/5 (or NEAR/s: in one "
                                "sentence) at column 8"),
        ("Russia NEAR/ Taliban", "NEAR needs a distance, e.g. NEAR/5 (or NEAR/s: in one "
                                 "sentence) at column 8"),
        ('Russia ""', "empty phrase at column 8"),
        ('Russia "  "', "empty phrase at column 8"),
        ("*ussia", "wildcard * allowed only at the end of a word at column 1"),
        ("Ru*sia", "wildcard * allowed only at the end of a word at column 3"),
        ('"Islamic *mirate"', "wildcard * allowed only at the end of a word at column 10"),
        ("Russia OR *", "wildcard * must follow a letter or digit at column 11"),
        ("al-*", "wildcard * must follow a letter or digit at column 4"),
        ("талиб~*", "stem marker ~ allowed only at the end of a word at column 6"),
        ("Russia OR ~", "stem marker ~ must follow a letter or digit at column 11"),
        ("Russia & Taliban", "term has no letters or digits at column 8"),
        ("NOT sport", "query matches only by exclusion at column 1"),
        ("Russia OR NOT sport", "query matches only by exclusion at column 11"),
        ("NOT sport AND NOT football", "query matches only by exclusion at column 1"),
        ("Russia AND ()", "empty parentheses at column 12"),
        ("NOT NOT Russia", "NOT cannot follow NOT at column 5"),
        (
            "(Russia Taliban) NEAR/3 Kabul",
            "NEAR operand must be a term, phrase or OR-group of them at column 1",
        ),
        (
            "Kabul NEAR/3 NOT Russia",
            "NEAR operand must be a term, phrase or OR-group of them at column 14",
        ),
        (
            "Kabul NEAR/3 (Russia OR (Moscow Kremlin))",
            "NEAR operand must be a term, phrase or OR-group of them at column 25",
        ),
        ("Russia OR @", "missing topic name after @ at column 11"),
        ("(" * 40 + "Russia" + ")" * 40, "parentheses nested too deeply at column 33"),
    ],
)
def test_error_reason_and_column(query: str, message: str) -> None:
    """Each malformed query raises QueryError with its reason and exact 1-based column."""
    assert str(error(query)) == message


def test_deep_nesting_is_a_query_error() -> None:
    """Absurdly deep queries raise QueryError, never RecursionError."""
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_query(" NEAR/1 ".join(["Russia"] * 200))
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_query("Russia AND NOT (Kabul AND NOT " * 40 + "Doha" + ")" * 40)


def test_error_carries_fields() -> None:
    """QueryError exposes the reason, column and query separately."""
    exc = error("Russia AND")
    assert (exc.reason, exc.column, exc.query) == ("missing operand after AND", 8, "Russia AND")


def test_topic_error_is_prefixed_with_key() -> None:
    """TopicSet.compile names the config key of the faulty query."""
    with pytest.raises(TopicError) as info:
        TopicSet.compile({"russia": "(Russia OR Moscow) AND Taliban)"})
    exc = info.value
    assert isinstance(exc, QueryError)
    assert str(exc) == "topics.russia.query: unbalanced parenthesis at column 31"
    assert (exc.key, exc.reason, exc.column) == (
        "topics.russia.query", "unbalanced parenthesis", 31)


def test_keep_error_is_prefixed_with_keep() -> None:
    """Errors in the keep rule start with `keep:`."""
    with pytest.raises(TopicError, match=r"^keep: missing operand after OR at column 9$"):
        TopicSet.compile({"russia": "Russia"}, keep="@russia OR")


def test_unknown_reference() -> None:
    """A reference to an undefined topic is an error at the `@`."""
    with pytest.raises(TopicError) as info:
        TopicSet.compile({"russia": "Russia", "both": "@russia AND @talibn"})
    assert str(info.value) == "topics.both.query: unknown topic reference @talibn at column 13"
    with pytest.raises(TopicError, match=r"^keep: unknown topic reference @x at column 1$"):
        TopicSet.compile({"russia": "Russia"}, keep="@x")


def test_reference_cycles() -> None:
    """Self references and longer cycles are errors naming the cycle."""
    with pytest.raises(TopicError) as info:
        TopicSet.compile({"a": "Russia OR @a"})
    assert str(info.value) == "topics.a.query: reference cycle @a -> @a at column 11"
    with pytest.raises(TopicError) as info:
        TopicSet.compile({"a": "@b", "b": "Kabul @c", "c": "@b OR Russia"})
    assert str(info.value) == "topics.b.query: reference cycle @b -> @c -> @b at column 7"


# --------------------------------------------------------------------------------------
# Properties

QUERY_PIECES = [
    "Russia", "талиб*", "Россия~", "طالبان", "塔利班", '"Islamic Emirate"', '"recogni* taliban"',
    "al-Qaida", "@russia", "AND", "OR", "NOT", "NEAR/3", "NEAR/x", "NEAR", "(", ")", '"', "*",
    "~", "@", "--", "and", "x*y", "",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.sampled_from(QUERY_PIECES)).map(" ".join)))
def test_parse_raises_only_query_errors(query: str) -> None:
    """Parsing arbitrary text either succeeds or raises QueryError with a column inside it."""
    try:
        parse_query(query)
    except QueryError as exc:
        assert 1 <= exc.column <= len(query) + 1
        assert exc.query == query


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1), st.data())
def test_single_word_from_text_matches_text(text: str, data: st.DataObject) -> None:
    """A query made of one word taken from a text always matches that text."""
    tokens = tokenize(text)
    assume(tokens.words)
    i = data.draw(st.integers(0, len(tokens.words) - 1))
    word = tokens.surface(i, i)
    query = f'"{word}"' if word in ("AND", "OR", "NOT", "NEAR") else word
    assert matches(query, text)


VOCABULARY = [
    "Russia", "Russian", "Prussia", "Taliban", "talibs", "Kabul", "recognise", "recognitions",
    "талибы", "талибов", "России", "Москва", "طالبان", "كابل", "塔", "利", "班", "crisis", "ISIS",
    "Amérique", "sport", "Islamic", "Emirate", "al", "Qaida", "the",
]  # fmt: skip
TERMS = [
    "Russia", "russia*", "Taliban", "talib*", "recognition~", "талиб*", "Россия~", "طالبان",
    "کابل", "塔利班", "ISIS", "amerique", "sports~",
]  # fmt: skip
words_text = st.lists(st.sampled_from(VOCABULARY), max_size=20)
dense_text = st.lists(st.sampled_from(VOCABULARY), min_size=10, max_size=40)


@settings(max_examples=200, deadline=None)
@given(dense_text, st.lists(st.sampled_from(TERMS), min_size=1, max_size=5), st.data())
def test_adding_a_word_never_unmatches_an_or_query(
    words: list[str], query_terms: list[str], data: st.DataObject
) -> None:
    """Monotonicity: inserting a word into a text never stops an OR-of-terms query matching."""
    query = " OR ".join(query_terms)
    assume(matches(query, " ".join(words)))
    extra = data.draw(st.sampled_from(VOCABULARY))
    at = data.draw(st.integers(0, len(words)))
    assert matches(query, " ".join([*words[:at], extra, *words[at:]]))


def queries(depth: int = 3) -> st.SearchStrategy[str]:
    """Query strings built from the grammar, with random nesting and spacing."""
    atoms = st.sampled_from([*TERMS, '"Islamic Emirate"', '"recogni* taliban"', "al-Qaida"])
    if depth == 0:
        return atoms
    sub = queries(depth - 1)
    return st.one_of(
        atoms,
        st.tuples(sub, st.sampled_from([" AND ", " OR ", " ", " NOT ", " AND NOT "]), sub).map(
            "".join
        ),
        st.tuples(sub, st.integers(1, 9), sub).map(lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"),
        sub.map(lambda q: f"({q})"),
    )


@settings(max_examples=300, deadline=None)
@given(queries())
def test_canonical_form_round_trips(query: str) -> None:
    """str(parse_query(q)) parses back to an equal tree and prints the same."""
    try:
        node = parse_query(query)
    except QueryError:
        assume(False)
        raise
    printed = str(node)
    assert parse_query(printed) == node
    assert str(parse_query(printed)) == printed


def reference_match(node: Node, words: tuple[str, ...]) -> bool:
    """A slow, obviously correct evaluator to compare the compiled matcher against."""
    if isinstance(node, Term | Near | Or):
        return bool(reference_spans(node, words))
    return reference_bool(node, words)


def reference_bool(node: Node, words: tuple[str, ...]) -> bool:
    if isinstance(node, And):
        return all(reference_match(child, words) for child in node.children)
    if isinstance(node, Not):
        return not reference_match(node.child, words)
    if isinstance(node, Or):
        return any(reference_match(child, words) for child in node.children)
    raise AssertionError(node)


def reference_spans(node: Node, words: tuple[str, ...]) -> list[tuple[int, int]]:
    if isinstance(node, Term):
        n = len(node.patterns)
        return [
            (i, i + n - 1)
            for i in range(len(words) - n + 1)
            if all(accepts(p, words[i + k]) for k, p in enumerate(node.patterns))
        ]
    if isinstance(node, Or):
        if not all(isinstance(c, Term | Near | Or) for c in node.children):
            return [(0, 0)] if reference_bool(node, words) else []
        return [s for child in node.children for s in reference_spans(child, words)]
    assert isinstance(node, Near)
    # Distances are in words; in a text with CJK characters (one token each) in half-words,
    # a CJK character counting one and any other token two (``_Index.reach``).
    cjk = any(len(word) == 1 and is_cjk(word) for word in words)
    weights = [1 if cjk and len(word) == 1 and is_cjk(word) else (2 if cjk else 1)
               for word in words]
    at = [sum(weights[: i + 1]) for i in range(len(words))]
    limit = node.distance * (2 if cjk else 1)
    return [
        (min(a[0], b[0]), max(a[1], b[1]))
        for a in reference_spans(node.left, words)
        for b in reference_spans(node.right, words)
        if 0 < at[b[0]] - at[a[1]] <= limit or 0 < at[a[0]] - at[b[1]] <= limit
    ]


def accepts(pattern: Pattern, word: str) -> bool:
    if pattern.kind == "exact":
        return word == pattern.word
    if pattern.kind == "prefix":
        return word.startswith(pattern.word)
    language = "russian" if "\u0400" <= pattern.word[0] <= "\u04ff" else "english"
    return str(snowballstemmer.stemmer(language).stemWord(word)) == pattern.word


@settings(max_examples=300, deadline=None)
@given(queries(2), dense_text)
@example(query="(sports~ NEAR/7 sports~)",  # CJK characters count half a word
         words=["Russia", "sport", *["Russia"] * 5, "塔", "塔", "sport"])
def test_compiled_matcher_agrees_with_reference(query: str, words: list[str]) -> None:
    """The optimised matcher gives the same answer as a brute-force evaluation of the tree."""
    try:
        node = parse_query(query)
    except QueryError:
        assume(False)
        raise
    text = " ".join(words)
    expected = reference_match(node, tokenize(text).words)
    event(f"matched={expected}")
    assert matches(query, text) is expected


@settings(max_examples=200, deadline=None)
@given(words_text, st.integers(1, 6))
def test_near_is_symmetric(words: list[str], distance: int) -> None:
    """`a NEAR/n b` and `b NEAR/n a` always agree."""
    text = " ".join(words)
    assert matches(f"talib* NEAR/{distance} Russia", text) is matches(
        f"Russia NEAR/{distance} talib*", text
    )


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzабвгдежзийклмнопрстуфхцчшщъыьэюя", min_size=1))
def test_stem_scan_prefix_holds(word: str) -> None:
    """Every word starts with the scan prefix of its own stem (what the stem lookup relies on)."""
    language = "russian" if "\u0400" <= word[0] <= "\u04ff" else "english"
    assert word.startswith(_scan_prefix(language, _stem(language, word)))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_text_words_agree_with_tokenize(text: str) -> None:
    """text.words() yields exactly the folded tokens tokenize() keeps, with no empty ones."""
    assert folded_words(text) == list(tokenize(text).words)
    assert "" not in folded_words(text)


def test_nodes_are_frozen_and_compare_by_meaning() -> None:
    """Nodes are immutable; equality ignores spelling and columns but not meaning."""
    node = parse_query("Russia")
    with pytest.raises(AttributeError):
        node.source = "x"  # type: ignore[misc]
    assert parse_query("Russia") == parse_query('"RUSSIA"')
    assert parse_query("Russia") != parse_query("Russia*")
    assert parse_query("@russia Taliban") == And((Ref("russia"), _term("Taliban")))
    assert parse_query("a NEAR/2 b") == Near(_term("a"), _term("b"), 2)


def test_or_of_many_phrases_finds_each_by_its_anchor_word() -> None:
    """An OR of phrases (CJK terms, multi-word names, wildcard-led phrases) finds every one."""
    query = ('"Moscow Format" OR "Islamic Emirate" OR 俄罗斯 OR 塔利班 OR "исламск* эмират*" '
             'OR "kabul etti*"')
    for text in ("the Moscow Format talks", "ISLAMIC EMIRATE", "俄罗斯承认", "阿富汗塔利班政权",
                 "Исламского Эмирата", "teklifi kabul etti"):
        assert matches(query, text), text
    for text in ("Moscow's format", "Emirate Islamic", "俄国", "塔利", "исламский мир",
                 "Kabul et al", "kabul edildi"):
        assert not matches(query, text), text
    assert terms(query, "俄罗斯与塔利班") == ("俄罗斯", "塔利班")


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_tokenises_like_the_general_pattern(text: str) -> None:
    """ASCII text gets exactly the tokens and spans of the full Unicode pattern."""
    from mediamon.core.text import _TOKEN_RE

    tokens = tokenize(text)
    expected = [m.span() for m in _TOKEN_RE.finditer(text)]
    assert list(tokens.spans) == expected
    assert list(tokens.words) == [text[a:b].lower() for a, b in expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("Russia and the Taliban sign a fuel deal", True),
    ("Russia sends envoys. The Taliban reject the plan", False),  # two sentences
    ("Russia sends envoys\nThe Taliban reject it. Then more", True),  # headline and lead
    ("Russia sends envoys\nOthers comment. The Taliban reject it", False),
    ("Russia sends envoys\nOthers comment\nThe Taliban reject it", False),  # 2nd break
    ("U.S. and Russia talk; Taliban wait", False),  # a semicolon ends it
    ("The U.S. and Russia met the Taliban", True),  # U.S. does not end a sentence
    ("Gen. Ivanov of Russia met the Taliban", True),  # nor does an abbreviation
    ("Russia lost 3.5 times more than the Taliban", True),  # nor a decimal point
    ("俄罗斯承认塔利班。美国反对", True),
    ("俄罗斯表示欢迎。塔利班反对", False),
    ("러시아 날씨는 춥다. 탈레반 반대", False),  # a full stop after one Hangul syllable
    # a list of hashtags is labels, not a sentence; a hashtag in prose is a word of it
    ("Commandos flee to Iran #ukraine #russia #taliban", False),
    ("#Russia welcomes #Taliban delegation", True),
])
def test_near_s_keeps_to_one_sentence(text: str, expected: bool) -> None:
    """NEAR/s: both sides in one sentence, however far apart in it; not across a full stop,
    a later line break or a semicolon, but across abbreviations; a headline and the
    sentence after it count as one; each tag of a hashtag list is a sentence of its own."""
    topics = TopicSet.compile(
        {"r": "(Russia OR 俄罗斯 OR 러시아) NEAR/s (Taliban OR 塔利班 OR 탈레반)"})
    assert bool(topics.match_text(text).hits) is expected


def test_near_with_distance_and_sentence() -> None:
    """NEAR/3s: at most 3 tokens apart and in one sentence; the query prints back as
    written."""
    topics = TopicSet.compile({"r": "Russia NEAR/3s Taliban"})
    assert topics.match_text("Russia and the Taliban").hits
    assert not topics.match_text("Russia and also the Taliban").hits
    assert not topics.match_text("Russia. Taliban").hits
    assert str(parse_query("a NEAR/3s b")) == "(a NEAR/3s b)"
    assert str(parse_query("a NEAR/s b")) == "(a NEAR/s b)"


# --------------------------------------------------------------------------------------
# Date windows (``since``)


def test_a_topic_with_a_date_window_matches_only_items_published_in_it() -> None:
    """Before its ``since`` day a topic does not match, and neither does ``@name`` in
    another topic or the keep rule; on the day, after it and for undated items it does."""
    from datetime import UTC, date, datetime

    topics = TopicSet.compile(
        {"kabul": "Kabul OR Afghanistan", "moscow": "Moscow",
         "ties": "@moscow NEAR/5 @kabul"},
        keep="@ties", since={"kabul": date(2021, 8, 15)})
    text = tokenize("Moscow and Kabul sign a trade deal")
    before = topics.match(text, published=datetime(2021, 8, 14, 23, 59, tzinfo=UTC))
    assert before.names == ("moscow",) and not before.keep
    for when in (date(2021, 8, 15), datetime(2024, 1, 1, tzinfo=UTC), None):
        after = topics.match(text, published=when)
        assert after.names == ("kabul", "moscow", "ties") and after.keep
    # the fast path (no terms) and explain agree with it
    fast = topics.match(text, terms=False, published=date(2020, 1, 1))
    assert not fast.keep and topics.explain(fast).names == ("moscow",)


def test_a_date_window_for_an_unknown_topic_is_refused() -> None:
    from datetime import date

    with pytest.raises(TopicError, match=r"topics\.nope\.since: no such topic"):
        TopicSet.compile({"a": "Kabul"}, since={"nope": date(2021, 8, 15)})


def test_near_counts_a_cjk_character_as_half_a_word() -> None:
    """Chinese, Japanese and Korean are one token per character; NEAR/n spans n words of
    them as of any other script, about 2n characters, and still n tokens elsewhere."""
    topics = TopicSet.compile({"t": "俄罗斯 NEAR/6 阿富汗", "e": "Russia NEAR/6 Kabul"})
    close = "俄罗斯" + "的外交官在" + "阿富汗"  # 5 characters between: 2.5 words
    far = "俄罗斯" + "外交部发言人今天在记者会上说" + "阿富汗"  # 14 characters: 7 words
    assert topics.match_text(close).names == ("t",)
    assert topics.match_text(far).names == ()
    # the same in a mixed text, and a Latin pair in it keeps counting tokens
    assert topics.match_text(f"Russia and five more words then Kabul {close}").names == (
        "t", "e")
    assert topics.match_text("Russia one two three four five six Kabul 俄罗斯").names == ()


def test_arabic_terms_match_with_the_article_and_clitics() -> None:
    """In a TopicSet an Arabic-script term also matches with the article and the one-letter
    conjunctions and prepositions written into the word; a short term does not, and the
    parsed query itself is unchanged (it prints and parses back as written)."""
    topics = TopicSet.compile({"envoy": "سفير", "near": "سفير NEAR/3 روسي*", "short": "من"})
    for text in ("السفير", "والسفير", "بالسفير", "للسفير", "وللسفير", "سفير"):
        assert topics.match_text(text).names == ("envoy",), text
    assert topics.match_text("الروسي قال السفير").names == ("envoy", "near")
    assert topics.match_text("السفيرة").names == ()  # another word: the ambassador (f.)
    assert topics.match_text("المن").names == ()  # three letters with the article: no
    assert str(parse_query("سفير")) == "سفير"
    assert TopicSet.compile({"t": "السفاره"}).match_text("والسفاره").names == ("t",)


def test_arabic_clitics_without_the_article_need_four_letters() -> None:
    """A one-letter clitic straight on a word ("with recognition", "to develop") matches a
    term of four letters or more; on a three-letter term it would spell other words."""
    topics = TopicSet.compile({"recognition": "اعتراف", "develop": "التطوير", "russ": "روس"})
    for text in ("باعتراف", "واعتراف", "لاعتراف", "وباعتراف", "فباعتراف", "والاعتراف",
                 "وبالاعتراف", "فللاعتراف"):  # conjunction, preposition, article, in order
        assert topics.match_text(text).names == ("recognition",), text
    assert topics.match_text("باواعتراف").names == ()  # not in another order
    assert topics.match_text("لتطوير").names == ("develop",)
    assert topics.match_text("بروس").names == ()  # "Bruce", not "with Russ"
    assert topics.match_text("روس").names == ("russ",)
