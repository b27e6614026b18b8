"""Topic queries: a small boolean query language, compiled once, matched against many items.

An analyst describes each topic as a query (in the style of Meltwater or Talkwalker)::

    Taliban OR "Islamic Emirate" OR талиб* OR طالبان OR 塔利班
    (Russia OR Moscow OR Kremlin) recogni* NEAR/5 (Taliban OR "Islamic Emirate")
    @russia AND @taliban NOT (sport OR football)

Terms and text are folded and tokenised by ``mediamon.core.text``, so matching ignores case,
accents and Arabic-script letter variants, and respects word boundaries: ``Russia`` does not
match ``Prussia``, ``ISIS`` does not match ``crisis``, ``Taliban`` does not match
``Talibanisation`` (write ``Taliban*`` for that). In a ``TopicSet`` a term in Arabic script
also matches with the article and the one-letter clitics written into the word
(``سفير`` matches ``السفير``, ``والسفير``, ``للسفير``, ``بسفير``: ``with_clitics``).

Syntax
------
``word``
    One term. A term that tokenises into several tokens (``al-Qaida``, ``U.S.``, Chinese
    ``塔利班``, one token per character) is matched as a phrase. A term with no letters or
    digits is an error.
``"exact phrase"``
    Consecutive tokens. Quotes are also how to search for the words ``AND``, ``OR``, ``NOT``.
``recogni*``
    Trailing wildcard: any token starting with ``recogni``. Also inside phrases
    (``"recogni* taliban"``). Only at the end of a word.
``талибы~``
    Any token with the same Snowball stem (Russian stemmer for Cyrillic, English for Latin;
    other scripts match exactly). ``талибы~`` matches талибов, талибами, талибы.
``a AND b``, ``a b``
    Both (adjacent operands are ANDed).
``a OR b``
    Either.
``a NOT b``, ``a AND NOT b``
    ``a`` without ``b``. A query that can match only by exclusion (``NOT sport``,
    ``a OR NOT b``) is an error.
``a NEAR/n b``
    ``a`` and ``b`` in either order, at most ``n`` tokens apart (``NEAR/1``: adjacent,
    ``NEAR/5``: up to four tokens between), two distinct occurrences. Operands are terms,
    phrases, wildcards, stems, ``@name``, NEARs or parenthesised OR-groups of those; not
    AND or NOT.
``a NEAR/s b``, ``a NEAR/12s b``
    ``a`` and ``b`` in one sentence (anywhere in it, or also at most 12 tokens apart): the
    relation an analyst means, not two names in neighbouring sentences or in a title and
    a summary about other things. Sentences end at a line break (between title and
    summary), ! ? ; | and a full stop that is not an abbreviation's (``text.sentence_ids``).
``a EXCEPT b``
    The occurrences of ``a`` that no occurrence of ``b`` overlaps: ``Russia EXCEPT
    "Russia-led"`` matches "Russia" in "Russia hosts the talks" but not in "a Russia-led
    bloc" (an item with both still matches, by the first). Positional, like NEAR: its
    operands are terms, phrases, ``@name``, NEARs or OR-groups of those, and as a NEAR
    operand it stands where the surviving occurrences of ``a`` are. This is how a topic
    tells a sense apart: a country as an actor, not as a modifier or a place.
``@name``
    The result of another topic (only inside a ``TopicSet``; unknown names and cycles are
    errors). Each topic is evaluated at most once per item however often it is referenced.
    As a NEAR operand, ``@name`` stands where the words that made that topic match are
    (the words ``TopicSet.match`` reports for it, uncapped), so ``@russia NEAR/10 @taliban``
    reads as the analyst means it: a Russian and a Taliban name close together.
``( ... )``
    Grouping.

Operators are uppercase only: ``and``, ``or``, ``not``, ``near`` are ordinary words.
Precedence, tightest first: ``NOT`` (applies to the one operand after it), ``NEAR`` and
``EXCEPT`` (left to right), ``AND`` (explicit or implicit), ``OR``. So ``a OR b c NEAR/3 d`` is
``a OR (b AND (c NEAR/3 d))``. Grammar::

    query     := or_expr
    or_expr   := and_expr ("OR" and_expr)*
    and_expr  := near_expr (["AND"] near_expr)*
    near_expr := unary (("NEAR/" (n | "s" | n "s") | "EXCEPT") unary)*
                                                      n >= 1, left-associative
    unary     := ["NOT"] primary
    primary   := term | phrase | "@" name | "(" or_expr ")"

Malformed queries raise ``QueryError`` with a reason and the 1-based column of the culprit,
e.g. ``unbalanced parenthesis at column 31``; ``TopicSet.compile`` prefixes the config key
(``topics.russia.query: ...``).

``TopicSet.match`` reports, for each topic that matched (in config order), up to eight of
the terms that made it match, spelled as in the text (``TALIBAN``, ``Islamic Emirate``),
and whether the keep rule matched. ``TopicSet.could_keep`` answers a cheaper question first,
from an item's distinct words alone: can the keep rule match at all? It relaxes the rule
(NEAR and phrases become "all these words somewhere", NOT and EXCEPT's right side are left
out), so a "no" is exact, and most feed items get one (see ``core.score.Scorer.rejects``).

This module parses, compiles and matches. It does no I/O, no ranking or scoring, no fuzzy or
regular-expression matching, no leading or inner wildcards and no field-specific search.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from itertools import accumulate
from typing import Literal, TypeAlias

import snowballstemmer

from mediamon.core.text import Tokens, is_cjk, sentence_ids, tokenize
from mediamon.errors import QueryError
from mediamon.types import TopicHit

__all__ = [
    "And",
    "Except",
    "Near",
    "Node",
    "Not",
    "Or",
    "Pattern",
    "Ref",
    "Term",
    "TopicError",
    "TopicResult",
    "TopicSet",
    "parse_query",
    "refs",
]

MAX_TERMS = 8  # matched terms reported per topic
MAX_DEPTH = 64  # nesting limit of a query tree (parentheses, NOT, chained NEAR)

Kind: TypeAlias = Literal["exact", "prefix", "stem"]
Span: TypeAlias = tuple[int, int]  # first and last token index, inclusive


class TopicError(QueryError):
    """A topic query or the keep rule is wrong; the message starts with its config key."""

    def __init__(self, key: str, reason: str, column: int = 0, query: str = "") -> None:
        super().__init__(reason, column, query)
        self.key = key
        self.args = (f"{key}: {self.args[0]}",)


# --------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class Pattern:
    """What one token of a term must be: equal to, start with, or stem to ``word``."""

    word: str  # folded; the stem for kind "stem"
    kind: Kind = "exact"

    def __str__(self) -> str:
        return self.word + {"exact": "", "prefix": "*", "stem": "~"}[self.kind]


@dataclass(frozen=True)
class Term:
    """A word, wildcard, stem or phrase: one or more consecutive token patterns."""

    patterns: tuple[Pattern, ...]
    source: str = field(default="", compare=False)  # as written, quotes included
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        if self.source:
            return self.source
        return '"' + " ".join(str(p) for p in self.patterns) + '"'


@dataclass(frozen=True)
class Ref:
    """``@name``: the result of another topic."""

    name: str
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return "@" + self.name


@dataclass(frozen=True)
class Not:
    """``NOT child``; only meaningful inside an AND."""

    child: Node
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True)
class And:
    """All children match."""

    children: tuple[Node, ...]
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return "(" + " AND ".join(str(c) for c in self.children) + ")"


@dataclass(frozen=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return "(" + " OR ".join(str(c) for c in self.children) + ")"


@dataclass(frozen=True)
class Near:
    """``left`` and ``right`` at most ``distance`` tokens apart, in either order; with
    ``sentence``, also in one sentence (``distance`` 0: anywhere in it)."""

    left: Node
    right: Node
    distance: int
    column: int = field(default=0, compare=False)
    sentence: bool = False

    def __str__(self) -> str:
        n = (str(self.distance) if self.distance else "") + ("s" if self.sentence else "")
        return f"({self.left} NEAR/{n} {self.right})"


@dataclass(frozen=True)
class Except:
    """The occurrences of ``left`` that no occurrence of ``right`` overlaps."""

    left: Node
    right: Node
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"({self.left} EXCEPT {self.right})"


Node: TypeAlias = Term | Ref | Not | And | Or | Near | Except


# --------------------------------------------------------------------------------------
# Stemming


_STEMMERS = {language: snowballstemmer.stemmer(language) for language in ("russian", "english")}


def _stem_language(word: str) -> str | None:
    """The Snowball stemmer for the script of ``word``: Cyrillic, Latin, or none."""
    ch = word[0]
    if "\u0400" <= ch <= "\u04ff":
        return "russian"
    if ch.isalpha() and (ch.isascii() or "\u00c0" <= ch <= "\u024f"):
        return "english"
    return None


@lru_cache(maxsize=131072)
def _stem(language: str, word: str) -> str:
    return str(_STEMMERS[language].stemWord(word))


def _scan_prefix(language: str, stem: str) -> str:
    """A prefix every word with this stem starts with.

    The Russian stemmer only removes endings, so that is the stem itself. The English one
    may rewrite the last two letters of what it keeps (``dying`` -> ``die``, ``skies`` ->
    ``sky``, ``happy`` -> ``happi``).
    """
    return stem if language == "russian" else stem[: max(1, len(stem) - 2)]


# --------------------------------------------------------------------------------------
# Lexer


LexKind: TypeAlias = Literal[
    "word", "phrase", "ref", "and", "or", "not", "near", "except", "(", ")", "end"
]
_OPERATORS: dict[str, LexKind] = {"AND": "and", "OR": "or", "NOT": "not", "EXCEPT": "except"}
_DELIMITERS = frozenset('()"')


@dataclass(frozen=True)
class _Lexeme:
    kind: LexKind
    text: str  # as written; the inside of a phrase; the name of a ref
    column: int  # 1-based
    distance: int = 0  # NEAR only (0 with ``sentence``: anywhere in the sentence)
    sentence: bool = False  # NEAR/s, NEAR/ns: in one sentence


def _lex(query: str) -> list[_Lexeme]:
    out: list[_Lexeme] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Lexeme("(" if ch == "(" else ")", ch, i + 1))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unterminated quote", i + 1, query)
            out.append(_Lexeme("phrase", query[i + 1 : end], i + 1))
            i = end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _DELIMITERS:
                j += 1
            out.append(_bare(query, query[i:j], i + 1))
            i = j
    out.append(_Lexeme("end", "", n + 1))
    return out


def _bare(query: str, text: str, column: int) -> _Lexeme:
    """Classify a run of non-space characters: operator, NEAR/n, @ref or word."""
    if text in _OPERATORS:
        return _Lexeme(_OPERATORS[text], text, column)
    if text == "NEAR" or text.startswith("NEAR/"):
        digits = text[5:]
        sentence = digits.endswith("s")
        if sentence:
            digits = digits[:-1]
            if not digits:
                return _Lexeme("near", text, column, 0, sentence=True)
        if not digits:
            raise QueryError("NEAR needs a distance, e.g. NEAR/5 (or NEAR/s: in one "
                             "sentence)", column, query)
        if not (digits.isascii() and digits.isdigit()):
            raise QueryError("NEAR distance must be a whole number, optionally followed by "
                             "s (NEAR/12s)", column + 5, query)
        if int(digits) < 1:
            raise QueryError("NEAR distance must be at least 1", column + 5, query)
        return _Lexeme("near", text, column, int(digits), sentence=sentence)
    if text.startswith("@"):
        if len(text) == 1:
            raise QueryError("missing topic name after @", column, query)
        return _Lexeme("ref", text[1:], column)
    return _Lexeme("word", text, column)


def _check_parentheses(query: str, lexemes: Sequence[_Lexeme]) -> None:
    """Point at a stray ``)`` or at the ``(`` left open; refuse absurd nesting."""
    open_columns: list[int] = []
    for lx in lexemes:
        if lx.kind == "(":
            open_columns.append(lx.column)
            if len(open_columns) > MAX_DEPTH // 2:
                raise QueryError("parentheses nested too deeply", lx.column, query)
        elif lx.kind == ")":
            if not open_columns:
                raise QueryError("unbalanced parenthesis", lx.column, query)
            open_columns.pop()
    if open_columns:
        raise QueryError("unbalanced parenthesis", open_columns[-1], query)


# --------------------------------------------------------------------------------------
# Terms


_SUFFIXES: dict[str, tuple[Kind, str]] = {
    "*": ("prefix", "wildcard *"),
    "~": ("stem", "stem marker ~"),
}


def _make_term(query: str, lx: _Lexeme) -> Term:
    """Fold and tokenise a word or phrase; turn trailing ``*``/``~`` into token patterns."""
    quoted = lx.kind == "phrase"
    body_column = lx.column + 1 if quoted else lx.column
    patterns: list[Pattern] = []
    for start, piece in _pieces(lx.text):
        patterns.extend(_piece_patterns(query, piece, body_column + start))
    if not patterns:
        reason = "empty phrase" if quoted else "term has no letters or digits"
        raise QueryError(reason, lx.column, query)
    source = f'"{lx.text}"' if quoted else lx.text
    return Term(tuple(patterns), source, lx.column)


# Arabic writes the article and the one-letter conjunctions and prepositions as part of the
# word: السفير is "the ambassador", والسفير "and the ambassador", للسفير "for the ambassador",
# and without the article باعتراف "with the recognition of", لتطوير "to develop". In a
# TopicSet a term in Arabic script matches those forms too (``with_clitics``), so a topic
# need not list each (folded letters: ك is ک). Terms of fewer than three letters do not,
# since a clitic and a short word can spell another word; a clitic straight on the word
# (no article between) needs four, for the same reason (بروس is "Bruce", not "with Russ").
# The clitics stack in one order: a conjunction (wa-, fa-), then a preposition (bi-, li-, ka-),
# then the article; li- and al- write لل.
_ARTICLE = "ال"
_CONJUNCTIONS = ("", "و", "ف")
_BEFORE_ARTICLE = tuple(c + p + _ARTICLE for c in _CONJUNCTIONS for p in ("", "ب", "ک")) + \
    tuple(c + "لل" for c in _CONJUNCTIONS)
_BEFORE_WORD = tuple(c + p for c in _CONJUNCTIONS for p in ("", "ب", "ل", "ک") if c + p)
_MIN_CLITIC_WORD = 3
_MIN_BARE_CLITIC_WORD = 4


def with_clitics(node: Node) -> Node:
    """``node`` with each Arabic-script term ORed with its clitic forms (``_clitic_forms``)."""
    if isinstance(node, Term):
        forms = _clitic_forms(node)
        return Or((node, *forms), node.column) if forms else node
    if isinstance(node, Or):  # the forms join the OR itself, grouped with its other words
        children: list[Node] = []
        for child in node.children:
            if isinstance(child, Term):
                children += (child, *_clitic_forms(child))
            else:
                children.append(with_clitics(child))
        return replace(node, children=tuple(children))
    if isinstance(node, And):
        return replace(node, children=tuple(with_clitics(c) for c in node.children))
    if isinstance(node, Not):
        return replace(node, child=with_clitics(node.child))
    if isinstance(node, Near | Except):
        return replace(node, left=with_clitics(node.left), right=with_clitics(node.right))
    return node


def _clitic_forms(term: Term) -> tuple[Term, ...]:
    """The forms of ``term`` with Arabic clitics before its first word (none for a term
    that does not start with an Arabic-script word of three letters or more)."""
    first = term.patterns[0]
    word = first.word
    if len(word) < _MIN_CLITIC_WORD or first.kind == "stem" or \
            not all("\u0600" <= ch <= "\u06ff" for ch in word):
        return ()
    bare = word[len(_ARTICLE):] if word.startswith(_ARTICLE) else word
    if len(bare) < _MIN_CLITIC_WORD:
        return ()
    forms = [prefix + bare for prefix in _BEFORE_ARTICLE]
    if len(bare) >= _MIN_BARE_CLITIC_WORD:
        forms += [c + bare for c in _BEFORE_WORD]
    return tuple(
        Term((Pattern(form, first.kind), *term.patterns[1:]), term.source, term.column)
        for form in dict.fromkeys(forms) if form != word)


def _pieces(text: str) -> Iterator[tuple[int, str]]:
    """Whitespace-separated pieces of ``text`` with their offsets."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        yield i, text[i:j]
        i = j


def _piece_patterns(query: str, piece: str, column: int) -> list[Pattern]:
    """Patterns for one whitespace-free piece such as ``al-Qaida``, ``recogni*``, ``талибы~``."""
    for k, ch in enumerate(piece[:-1]):
        if ch in _SUFFIXES:
            what = _SUFFIXES[ch][1]
            raise QueryError(f"{what} allowed only at the end of a word", column + k, query)
    kind: Kind = "exact"
    if piece[-1] in _SUFFIXES:
        kind, what = _SUFFIXES[piece[-1]]
        piece = piece[:-1]
        tokens = tokenize(piece)
        if not tokens.words or tokens.spans[-1][1] != len(tokens.text):
            raise QueryError(f"{what} must follow a letter or digit", column + len(piece), query)
    else:
        tokens = tokenize(piece)
    if kind == "prefix":
        last = len(tokens.words) - 1
        return [Pattern(w, "prefix" if i == last else "exact") for i, w in enumerate(tokens.words)]
    if kind == "stem":
        return [_stem_pattern(w) for w in tokens.words]
    return [Pattern(w) for w in tokens.words]


def _stem_pattern(word: str) -> Pattern:
    language = _stem_language(word)
    if language is None:
        return Pattern(word)
    return Pattern(_stem(language, word) or word, "stem")


# --------------------------------------------------------------------------------------
# Parser


class _Parser:
    """Recursive descent over the lexemes; see the grammar in the module docstring."""

    def __init__(self, query: str, lexemes: list[_Lexeme]) -> None:
        self.query = query
        self.lexemes = lexemes
        self.pos = 0

    @property
    def peek(self) -> _Lexeme:
        return self.lexemes[self.pos]

    def advance(self) -> _Lexeme:
        lx = self.lexemes[self.pos]
        self.pos += 1
        return lx

    def error(self, reason: str, column: int) -> QueryError:
        return QueryError(reason, column, self.query)

    def parse(self) -> Node:
        node = self.or_expr()
        assert self.peek.kind == "end", self.peek  # parentheses were checked beforehand
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek.kind == "or":
            self.advance()
            items.append(self.and_expr())
        return _flatten(Or, items)

    def and_expr(self) -> Node:
        items = [self.near_expr()]
        while True:
            if self.peek.kind == "and":
                self.advance()
            elif self.peek.kind not in ("word", "phrase", "ref", "(", "not"):
                break
            items.append(self.near_expr())
        return _flatten(And, items)

    def near_expr(self) -> Node:
        left = self.unary()
        while self.peek.kind in ("near", "except"):
            op = self.advance()
            right = self.unary()
            for operand in (left, right):
                bad = _non_positional(operand)
                if bad is not None:
                    raise self.error(
                        f"{op.kind.upper()} operand must be a term, phrase or OR-group of "
                        "them", bad
                    )
            if op.kind == "except":
                left = Except(left, right, left.column)
            else:
                left = Near(left, right, op.distance, left.column, op.sentence)
        return left

    def unary(self) -> Node:
        if self.peek.kind != "not":
            return self.primary()
        op = self.advance()
        if self.peek.kind == "not":
            raise self.error("NOT cannot follow NOT", self.peek.column)
        return Not(self.primary(), op.column)

    def primary(self) -> Node:
        lx = self.peek
        if lx.kind in ("word", "phrase"):
            self.advance()
            return _make_term(self.query, lx)
        if lx.kind == "ref":
            self.advance()
            return Ref(lx.text, lx.column)
        if lx.kind == "(":
            self.advance()
            if self.peek.kind == ")":
                raise self.error("empty parentheses", lx.column)
            node = self.or_expr()
            self.advance()  # the matching ")"
            return replace(node, column=lx.column)
        raise self.missing_operand(lx)

    def missing_operand(self, lx: _Lexeme) -> QueryError:
        before = self.lexemes[self.pos - 1] if self.pos else None
        if before is not None and before.kind in ("and", "or", "not", "near", "except"):
            return self.error(f"missing operand after {before.text}", before.column)
        return self.error(f"missing operand before {lx.text}", lx.column)


def _flatten(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    children: list[Node] = []
    for item in items:
        children.extend(item.children if isinstance(item, kind) else (item,))
    return kind(tuple(children), items[0].column)


def _non_positional(node: Node) -> int | None:
    """Column of the part of a NEAR operand that has no position in the text, if any.

    A reference has the positions of the words that made its topic match."""
    if isinstance(node, Term | Near | Ref | Except):
        return None
    if isinstance(node, Or):
        for child in node.children:
            bad = _non_positional(child)
            if bad is not None:
                return bad
        return None
    return node.column


def _exclusion_column(node: Node) -> int | None:
    """Column of a NOT that lets ``node`` match with no positive term present, if any."""
    if isinstance(node, Not):
        return node.column
    if isinstance(node, And):
        found = [_exclusion_column(child) for child in node.children]
        return None if None in found else found[0]
    if isinstance(node, Or):
        for child in node.children:
            column = _exclusion_column(child)
            if column is not None:
                return column
    return None


def _too_deep(node: Node) -> int | None:
    """Column of a node nested deeper than MAX_DEPTH, if any (iterative: no recursion)."""
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            return current.column
        stack.extend((child, depth + 1) for child in _children(current))
    return None


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    if isinstance(node, Near | Except):
        return (node.left, node.right)
    return ()


def refs(node: Node) -> Iterator[Ref]:
    """Every ``@name`` reference in ``node``, in query order."""
    if isinstance(node, Ref):
        yield node
    for child in _children(node):
        yield from refs(child)


def parse_query(query: str) -> Node:
    """Parse a topic query into a tree; raise ``QueryError`` with the reason and column."""
    lexemes = _lex(query)
    if len(lexemes) == 1:
        raise QueryError("empty query", 1, query)
    _check_parentheses(query, lexemes)
    node = _Parser(query, lexemes).parse()
    column = _too_deep(node)
    if column is not None:
        raise QueryError("query nested too deeply", column, query)
    column = _exclusion_column(node)
    if column is not None:
        raise QueryError("query matches only by exclusion", column, query)
    return node


# --------------------------------------------------------------------------------------
# Matching


_NO_POSITIONS: list[int] = []
_NO_SPANS: list[Span] = []
_NO_PHRASES: list[_Phrase] = []
_HEAD = 3  # letters of a probe's prefix used to file it


class _Probe:
    """A compiled wildcard or stem pattern: the prefix it needs and the words it accepts."""

    __slots__ = ("key", "language", "scan", "word")

    def __init__(self, pattern: Pattern) -> None:
        self.word = pattern.word
        self.key = f"{pattern.kind}:{pattern.word}"
        self.language = _stem_language(pattern.word) if pattern.kind == "stem" else None
        self.scan = (pattern.word if self.language is None
                     else _scan_prefix(self.language, self.word))

    def accepts(self, word: str) -> bool:
        if not word.startswith(self.scan):
            return False
        return self.language is None or _stem(self.language, word) == self.word


class _ProbeTable:
    """Every wildcard and stem probe of a topic set, filed under the first letters it needs.

    One pass over an item's distinct words finds every probe that matches, for all topics
    at once: a dictionary lookup per word rather than a search per probe.
    """

    __slots__ = ("by_head", "probes")

    def __init__(self) -> None:
        self.probes: dict[str, _Probe] = {}
        self.by_head: dict[int, dict[str, list[_Probe]]] = {}  # head length -> head -> probes

    def add(self, pattern: Pattern) -> _Probe:
        """The probe for ``pattern``, shared with any identical pattern already added."""
        probe = _Probe(pattern)
        if probe.key in self.probes:
            return self.probes[probe.key]
        self.probes[probe.key] = probe
        head = probe.scan[:_HEAD]
        self.by_head.setdefault(len(head), {}).setdefault(head, []).append(probe)
        return probe

    def scan(self, present: set[str]) -> dict[str, list[str]]:
        """Probe key -> the distinct words it accepts, for the probes that accept any."""
        hits: dict[str, list[str]] = {}
        for length, heads in self.by_head.items():
            for word in [word for word in present if word[:length] in heads]:
                for probe in heads[word[:length]]:
                    if probe.accepts(word):
                        hits.setdefault(probe.key, []).append(word)
        return hits


class _Index:
    """One item's tokens, indexed once and shared by every topic.

    ``present`` (the distinct words) answers most questions; word -> positions and the
    wildcard/stem hits are built only when a phrase, NEAR or probe first needs them.
    """

    __slots__ = (
        "_positions", "_probed", "_reach", "_sentences", "_spans", "_tested", "node_spans",
        "node_tests", "present", "probes", "tokens", "topics")

    def __init__(self, tokens: Tokens, topics: Mapping[str, _Eval], probes: _ProbeTable,
                 off: Iterable[str] = ()) -> None:
        self.tokens = tokens
        self.present = set(tokens.words)
        self.topics = topics
        self.probes = probes
        self._positions: dict[str, list[int]] | None = None
        self._probed: dict[str, list[str]] | None = None
        self._sentences: list[int] | None = None
        self._reach: list[int] | None = None
        # topic name -> matched; a topic whose date window excludes the item never does
        self._tested: dict[str, bool] = dict.fromkeys(off, False)
        self._spans: dict[str, list[Span]] = {}  # topic name -> where its words are
        # A NEAR or EXCEPT node's verdict and spans, kept for the item: the same node is
        # tested by its topic, by topics that refer to it and again for the explanation.
        self.node_tests: dict[_Eval, bool] = {}
        self.node_spans: dict[_Eval, list[Span]] = {}

    def positions(self) -> dict[str, list[int]]:
        """Word -> its token positions, in order."""
        positions = self._positions
        if positions is None:
            positions = self._positions = {}
            for i, word in enumerate(self.tokens.words):
                seen = positions.get(word)
                if seen is None:
                    positions[word] = [i]
                else:
                    seen.append(i)
        return positions

    def sentences(self) -> list[int]:
        """The sentence of each token (``text.sentence_ids``), for NEAR/s."""
        if self._sentences is None:
            self._sentences = sentence_ids(self.tokens)
        return self._sentences

    def reach(self) -> list[int] | None:
        """Where each token is in half-words, for NEAR distances in texts with CJK tokens;
        None when the text has none (then a token is a word). Chinese, Japanese and Korean
        are one token per character, and a word there is about two characters: counted one
        for one, ``NEAR/12`` would span five or six words of Chinese where it spans twelve of
        English. So a CJK token counts half a word, any other token a whole one."""
        if self._reach is None:
            words = self.tokens.words
            if all(word.isascii() for word in words) or \
                    not any(len(word) == 1 and is_cjk(word) for word in words):
                self._reach = []
            else:
                at, reach = 0, []
                for word in words:
                    at += 1 if len(word) == 1 and is_cjk(word) else 2
                    reach.append(at)
                self._reach = reach
        return self._reach or None

    def probed(self) -> dict[str, list[str]]:
        """Probe key -> accepted words, for every wildcard and stem that matches."""
        probed = self._probed
        if probed is None:
            probed = self._probed = self.probes.scan(self.present)
        return probed

    def where(self, probe: _Probe) -> list[int]:
        """Sorted positions of the tokens a wildcard or stem probe accepts."""
        words = self.probed().get(probe.key)
        if not words:
            return _NO_POSITIONS
        positions = self.positions()
        if len(words) == 1:
            return positions[words[0]]
        return sorted(p for word in words for p in positions[word])

    def topic(self, name: str) -> bool:
        """Whether topic ``name`` matches, evaluated at most once per item."""
        found = self._tested.get(name)
        if found is None:
            found = self._tested[name] = self.topics[name].test(self)
        return found

    def topic_spans(self, name: str) -> list[Span]:
        """Where the words that made topic ``name`` match are (empty if it did not)."""
        spans = self._spans.get(name)
        if spans is None:
            out: list[Span] = []
            if self.topic(name):
                self.topics[name].collect(self, out)
            spans = self._spans[name] = sorted(set(out))
        return spans


class _Eval:
    """A compiled query node."""

    __slots__ = ()

    def test(self, ix: _Index) -> bool:
        raise NotImplementedError

    def spans(self, ix: _Index) -> list[Span]:
        """Where it matches, for NEAR (only positional nodes implement this)."""
        raise NotImplementedError

    def collect(self, ix: _Index, out: list[Span]) -> None:
        """Add the spans of the positive terms that made it match (called only if it did)."""
        out.extend(self.spans(ix))


class _Words(_Eval):
    """An OR of exact words: one set operation."""

    __slots__ = ("words",)

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(words)

    def test(self, ix: _Index) -> bool:
        return not ix.present.isdisjoint(self.words)

    def spans(self, ix: _Index) -> list[Span]:
        positions = ix.positions()
        return [(p, p) for w in self.words & ix.present for p in positions[w]]


class _Word(_Words):
    """One exact word."""

    __slots__ = ("word",)

    def __init__(self, word: str) -> None:
        super().__init__((word,))
        self.word = word

    def test(self, ix: _Index) -> bool:
        return self.word in ix.present


class _Scans(_Eval):
    """An OR of wildcard and stem tokens: one lookup in the item's probe hits."""

    __slots__ = ("keys", "probes")

    def __init__(self, probes: Iterable[_Probe]) -> None:
        self.probes = {probe.key: probe for probe in probes}
        self.keys = frozenset(self.probes)

    def test(self, ix: _Index) -> bool:
        # A set's isdisjoint walks its argument: here the few probes that hit this text,
        # not the hundreds of wildcards of a large OR (dict_keys.isdisjoint(dict) walks the
        # dict it is given).
        return not self.keys.isdisjoint(ix.probed())

    def spans(self, ix: _Index) -> list[Span]:
        found = ix.probed().keys() & self.probes.keys()
        return [(p, p) for key in found for p in ix.where(self.probes[key])]


class _Phrase(_Eval):
    """Consecutive tokens: candidates from the first pattern, the rest checked in place."""

    __slots__ = ("exact", "first", "rest")

    def __init__(self, patterns: Sequence[Pattern], table: _ProbeTable) -> None:
        first = patterns[0]
        self.first: _Probe | str = first.word if first.kind == "exact" else table.add(first)
        self.rest = tuple(p.word if p.kind == "exact" else _Probe(p) for p in patterns[1:])
        self.exact = frozenset(p.word for p in patterns if p.kind == "exact")

    def test(self, ix: _Index) -> bool:
        return bool(self.spans(ix))

    def spans(self, ix: _Index) -> list[Span]:
        if not self.exact <= ix.present:
            return _NO_SPANS
        first = self.first
        if isinstance(first, str):
            starts = ix.positions().get(first, _NO_POSITIONS)
        else:
            starts = ix.where(first)
        words, size = ix.tokens.words, len(self.rest)
        return [
            (start, start + size)
            for start in starts
            if start + size < len(words)
            and all(
                words[start + k] == p if isinstance(p, str) else p.accepts(words[start + k])
                for k, p in enumerate(self.rest, 1)
            )
        ]


class _Phrases(_Eval):
    """An OR of phrases, filed under one exact word each: only the phrases whose word is in
    the text are looked at. The word is the one fewest phrases of the OR share (then the
    longest): a hundred phrases around "Afghanistan" ("near Afghanistan", "envoy to
    Afghanistan"...) are filed under their other words, not all under the one word every
    text on the story has. A phrase of wildcards only is always looked at.
    """

    __slots__ = ("anchors", "by_anchor", "loose", "phrases")

    def __init__(self, phrases: Sequence[_Phrase]) -> None:
        self.phrases = tuple(phrases)
        by_anchor: dict[str, list[_Phrase]] = {}
        loose: list[_Phrase] = []
        shared = Counter(word for phrase in phrases for word in phrase.exact)
        for phrase in phrases:
            if phrase.exact:
                anchor = min(phrase.exact, key=lambda word: (shared[word], -len(word), word))
                by_anchor.setdefault(anchor, []).append(phrase)
            else:
                loose.append(phrase)
        self.by_anchor = {anchor: tuple(group) for anchor, group in by_anchor.items()}
        self.anchors = frozenset(self.by_anchor)
        self.loose = tuple(loose)

    def _candidates(self, ix: _Index) -> list[_Phrase]:
        present = ix.present
        if not self.loose and present.isdisjoint(self.anchors):
            return _NO_PHRASES
        found = [p for a in self.anchors & present for p in self.by_anchor[a]]
        if self.loose:
            probed = ix.probed()
            found += [p for p in self.loose if isinstance(p.first, str) or p.first.key in probed]
        return found

    def test(self, ix: _Index) -> bool:
        for phrase in self._candidates(ix):  # noqa: SIM110  (a loop is faster, see _And)
            if phrase.spans(ix):
                return True
        return False

    def spans(self, ix: _Index) -> list[Span]:
        return [span for phrase in self._candidates(ix) for span in phrase.spans(ix)]


class _And(_Eval):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[_Eval]) -> None:
        self.children = tuple(children)

    def test(self, ix: _Index) -> bool:
        # Plain loops rather than all()/any() over a generator: this runs for every topic
        # of every item, and the generator costs more than the tests themselves.
        for child in self.children:  # noqa: SIM110
            if not child.test(ix):
                return False
        return True

    def collect(self, ix: _Index, out: list[Span]) -> None:
        for child in self.children:
            child.collect(ix, out)


class _Or(_Eval):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[_Eval]) -> None:
        self.children = tuple(children)

    def test(self, ix: _Index) -> bool:
        for child in self.children:  # noqa: SIM110  (a loop is faster, see _And)
            if child.test(ix):
                return True
        return False

    def spans(self, ix: _Index) -> list[Span]:
        return [span for child in self.children for span in child.spans(ix)]

    def collect(self, ix: _Index, out: list[Span]) -> None:
        for child in self.children:
            if child.test(ix):
                child.collect(ix, out)


class _Not(_Eval):
    __slots__ = ("child",)

    def __init__(self, child: _Eval) -> None:
        self.child = child

    def test(self, ix: _Index) -> bool:
        return not self.child.test(ix)

    def collect(self, ix: _Index, out: list[Span]) -> None:
        return None


class _Near(_Eval):
    __slots__ = ("distance", "left", "right", "sentence")

    def __init__(self, left: _Eval, right: _Eval, distance: int,
                 sentence: bool = False) -> None:
        self.left, self.right, self.distance = left, right, distance
        self.sentence = sentence

    def test(self, ix: _Index) -> bool:
        found = ix.node_tests.get(self)
        if found is None:
            found = ix.node_tests[self] = (
                self.left.test(ix) and self.right.test(ix) and bool(self.spans(ix)))
        return found

    def spans(self, ix: _Index) -> list[Span]:
        spans = ix.node_spans.get(self)
        if spans is None:
            spans = ix.node_spans[self] = [
                (min(a[0], b[0]), max(a[1], b[1])) for a, b in self._pairs(ix)]
        return spans

    def collect(self, ix: _Index, out: list[Span]) -> None:
        for a, b in self._pairs(ix):
            out.append(a)
            out.append(b)

    def _pairs(self, ix: _Index) -> Iterator[tuple[Span, Span]]:
        """Non-overlapping (left, right) occurrences at most ``distance`` tokens apart.

        Binary search over the right-hand spans, so long texts with many occurrences of
        both sides cost n log n rather than n * m.
        """
        lefts = self.left.spans(ix)
        after = sorted(self.right.spans(ix))  # by start
        if not lefts or not after:
            return
        before = sorted(after, key=lambda span: span[1])  # by end
        starts = [span[0] for span in after]
        ends = [span[1] for span in before]
        n = self.distance or len(ix.tokens.words)
        sentence = ix.sentences() if self.sentence else None
        reach = ix.reach() if self.distance else None
        if reach is not None:  # CJK: distances in half-words (``_Index.reach``)
            yield from self._reach_pairs(lefts, after, before, 2 * n, reach, sentence)
            return
        for a in lefts:
            # right after left: a.end < b.start <= a.end + n
            for b in after[bisect_right(starts, a[1]) : bisect_right(starts, a[1] + n)]:
                if sentence is None or sentence[a[0]] == sentence[b[1]]:
                    yield a, b
            # right before left: a.start - n <= b.end < a.start
            for b in before[bisect_left(ends, a[0] - n) : bisect_left(ends, a[0])]:
                if sentence is None or sentence[b[0]] == sentence[a[1]]:
                    yield a, b


    @staticmethod
    def _reach_pairs(lefts: list[Span], after: list[Span], before: list[Span], n: int,
                     reach: list[int], sentence: list[int] | None
                     ) -> Iterator[tuple[Span, Span]]:
        """``_pairs`` with distances measured on ``reach`` (strictly increasing, so the
        spans' order by position is their order by reach)."""
        starts = [reach[span[0]] for span in after]
        ends = [reach[span[1]] for span in before]
        for a in lefts:
            end, start = reach[a[1]], reach[a[0]]
            for b in after[bisect_right(starts, end) : bisect_right(starts, end + n)]:
                if sentence is None or sentence[a[0]] == sentence[b[1]]:
                    yield a, b
            for b in before[bisect_left(ends, start - n) : bisect_left(ends, start)]:
                if sentence is None or sentence[b[0]] == sentence[a[1]]:
                    yield a, b


class _Except(_Eval):
    """``left EXCEPT right``: left's spans that overlap none of right's."""

    __slots__ = ("left", "right")

    def __init__(self, left: _Eval, right: _Eval) -> None:
        self.left, self.right = left, right

    def test(self, ix: _Index) -> bool:
        found = ix.node_tests.get(self)
        if found is None:
            found = ix.node_tests[self] = self.left.test(ix) and bool(self.spans(ix))
        return found

    def spans(self, ix: _Index) -> list[Span]:
        kept = ix.node_spans.get(self)
        if kept is None:
            kept = ix.node_spans[self] = self._spans(ix)
        return kept

    def _spans(self, ix: _Index) -> list[Span]:
        lefts = self.left.spans(ix)
        if not lefts or not self.right.test(ix):
            return lefts
        blocked = sorted(self.right.spans(ix))
        starts = [span[0] for span in blocked]
        reach = list(accumulate((span[1] for span in blocked), max))  # furthest end so far
        kept = []
        for a in lefts:
            # a blocked span overlaps ``a`` if it starts at or before a's end and ends at or
            # after a's start; among those starting by a's end, the furthest end decides.
            k = bisect_right(starts, a[1])
            if k == 0 or reach[k - 1] < a[0]:
                kept.append(a)
        return kept


class _Ref(_Eval):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def test(self, ix: _Index) -> bool:
        return ix.topic(self.name)

    def spans(self, ix: _Index) -> list[Span]:
        return ix.topic_spans(self.name)

    def collect(self, ix: _Index, out: list[Span]) -> None:
        out.extend(ix.topic_spans(self.name))


def _compile(node: Node, table: _ProbeTable) -> _Eval:
    """Turn a syntax tree into evaluators, registering wildcards and stems in ``table``."""
    if isinstance(node, Term):
        return _compile_or([node], table)
    if isinstance(node, Ref):
        return _Ref(node.name)
    if isinstance(node, Not):
        return _Not(_compile(node.child, table))
    if isinstance(node, Near):
        return _Near(_compile(node.left, table), _compile(node.right, table), node.distance,
                     node.sentence)
    if isinstance(node, Except):
        return _Except(_compile(node.left, table), _compile(node.right, table))
    if isinstance(node, And):
        # Exclusions last: an absent positive term ends the test soonest.
        ordered = sorted(node.children, key=lambda child: isinstance(child, Not))
        return _And([_compile(child, table) for child in ordered])
    return _compile_or(node.children, table)


def _compile_or(children: Sequence[Node], table: _ProbeTable) -> _Eval:
    """An OR, cheapest first: its exact words, wildcards/stems and phrases each become one
    grouped test, then the other children in query order."""
    words: list[str] = []
    probes: list[_Probe] = []
    phrases: list[_Phrase] = []
    others: list[_Eval] = []
    for child in children:
        if not isinstance(child, Term):
            others.append(_compile(child, table))
        elif len(child.patterns) > 1:
            phrases.append(_Phrase(child.patterns, table))
        elif child.patterns[0].kind == "exact":
            words.append(child.patterns[0].word)
        else:
            probes.append(table.add(child.patterns[0]))
    grouped: list[_Eval] = []
    if words:
        grouped.append(_Word(words[0]) if len(set(words)) == 1 else _Words(words))
    if probes:
        grouped.append(_Scans(probes))
    if phrases:
        grouped.append(phrases[0] if len(phrases) == 1 else _Phrases(phrases))
    evals = grouped + others
    return evals[0] if len(evals) == 1 else _Or(evals)


# --------------------------------------------------------------------------------------
# The prefilter: what the keep rule needs of an item's words


Present: TypeAlias = set[str]

# Distinct words whose atoms an ``_Atoms`` remembers before it starts afresh: the words of a
# stream repeat (a few tens of thousands make up most of any day's news), and the memory
# stays a few megabytes per process.
REMEMBERED_WORDS = 50_000

# What one word satisfies: the numbers of its atoms, and the longer terms to check when it is
# there (what each needs, its own number).
_WordAtoms: TypeAlias = tuple[tuple[int, ...], tuple[tuple[frozenset[int], int], ...]]
_NO_ATOMS: _WordAtoms = ((), ())  # most words: one shared entry


class _Atoms:
    """Every word, wildcard and stem the prefilter looks for, each numbered, and each longer
    term (several words) numbered too, found when all of its words are.

    What one word satisfies (its numbers, and the longer terms it may complete) is worked out
    the first time the word is met and remembered (up to ``REMEMBERED_WORDS``): an item
    then costs a dictionary lookup per distinct word and a few set operations in C, however
    many terms the topics have. Plain objects, so that a TopicSet still pickles (the memory
    of words is left out)."""

    __slots__ = ("anchors", "by_head", "exact", "longer", "probes", "size", "table", "words")

    def __init__(self, table: _ProbeTable) -> None:
        self.size = 0
        self.table = table  # the matcher's probes, shared
        self.exact: dict[str, int] = {}  # word -> number
        self.probes: dict[str, tuple[_Probe, int]] = {}  # probe key -> probe, number
        # head length -> head -> (probe, number) of the probes filed under it (``_HEAD``)
        self.by_head: dict[int, dict[str, list[tuple[_Probe, int]]]] = {}
        self.longer: dict[frozenset[int], int] = {}  # what a longer term needs -> its number
        # a word's or probe's number -> the longer terms it is part of: (needed, number)
        self.anchors: dict[int, list[tuple[frozenset[int], int]]] = {}
        self.words: dict[str, _WordAtoms] = {}  # the memory: word -> what it satisfies

    def __getstate__(self) -> dict[str, object]:
        state = {name: getattr(self, name) for name in self.__slots__}
        state["words"] = {}
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _number(self) -> int:
        self.size += 1
        return self.size - 1

    def pattern(self, pattern: Pattern) -> int:
        """The number of one word, wildcard or stem."""
        if pattern.kind == "exact":
            if pattern.word not in self.exact:
                self.exact[pattern.word] = self._number()
            return self.exact[pattern.word]
        probe = self.table.add(pattern)
        if probe.key not in self.probes:
            self.probes[probe.key] = (probe, self._number())
            head = probe.scan[:_HEAD]
            self.by_head.setdefault(len(head), {}).setdefault(head, []).append(
                self.probes[probe.key])
        return self.probes[probe.key][1]

    def term(self, term: Term) -> int:
        """The number of a term: its word's, or for a longer term one of its own."""
        if len(term.patterns) == 1:
            return self.pattern(term.patterns[0])
        numbers = [self.pattern(p) for p in term.patterns]
        needed = frozenset(numbers)
        if needed not in self.longer:
            self.longer[needed] = self._number()
            # Checked when one of its words is met: the longest exact word, likely the rarest.
            exact = [(len(p.word), n) for p, n in zip(term.patterns, numbers, strict=True)
                     if p.kind == "exact"]
            anchor = max(exact)[1] if exact else numbers[0]
            self.anchors.setdefault(anchor, []).append((needed, self.longer[needed]))
        return self.longer[needed]

    def _learn(self, word: str) -> _WordAtoms:
        numbers = [self.exact[word]] if word in self.exact else []
        for length, heads in self.by_head.items():
            numbers += [n for probe, n in heads.get(word[:length], ()) if probe.accepts(word)]
        anchored = [term for n in numbers for term in self.anchors.get(n, ())]
        entry = (tuple(numbers), tuple(anchored)) if numbers else _NO_ATOMS
        if len(self.words) >= REMEMBERED_WORDS:
            self.words.clear()
        self.words[word] = entry
        return entry

    def of(self, present: Present) -> set[int]:
        """The numbers the words satisfy, longer terms included."""
        known = self.words
        found: set[int] = set()
        pending: list[tuple[frozenset[int], int]] = []
        for word in present:
            entry = known.get(word)
            if entry is None:
                entry = self._learn(word)
            if entry[0]:
                found.update(entry[0])
                if entry[1]:
                    pending += entry[1]
        for needed, number in pending:
            if needed <= found:
                found.add(number)
        return found


class _Need:
    """A test on the atoms of an item's distinct words (``_Atoms.of``; see ``_need``)."""

    __slots__ = ()

    def test(self, found: set[int]) -> bool:
        raise NotImplementedError


class _NeedTerms(_Need):
    """An OR of terms: the number of one of them (a word, a wildcard or stem accepting one
    of the item's words, or a longer term all of whose words are there)."""

    __slots__ = ("numbers",)

    def __init__(self, numbers: Iterable[int]) -> None:
        self.numbers = frozenset(numbers)

    def test(self, found: set[int]) -> bool:
        return not self.numbers.isdisjoint(found)


class _NeedAny(_Need):
    __slots__ = ("needs",)

    def __init__(self, needs: Sequence[_Need]) -> None:
        self.needs = tuple(needs)

    def test(self, found: set[int]) -> bool:
        for need in self.needs:  # noqa: SIM110  (a loop is faster, see _And)
            if need.test(found):
                return True
        return False


class _NeedAll(_Need):
    __slots__ = ("needs",)

    def __init__(self, needs: Sequence[_Need]) -> None:
        self.needs = tuple(needs)

    def test(self, found: set[int]) -> bool:
        for need in self.needs:  # noqa: SIM110  (a loop is faster, see _And)
            if not need.test(found):
                return False
        return True


def _need(node: Node, nodes: Mapping[str, Node], memo: dict[str, _Need | None],
          atoms: _Atoms) -> _Need | None:
    """A test on an item's distinct words that every text ``node`` matches passes (a
    necessary condition, far cheaper than matching), or None when there is none to make.
    Its terms are registered in ``atoms``, which tells an item's words apart for it.

    A term needs each of its words and of its wildcards/stems somewhere in the text; an OR,
    one of its children's needs; an AND and a NEAR, all of them (positions and distances
    are left out: that is what makes it a relaxation); EXCEPT, its left side's; a NOT
    needs nothing; ``@name``, that topic's.
    """
    if isinstance(node, Term):
        return _NeedTerms([atoms.term(node)])
    if isinstance(node, Ref):
        if node.name not in memo:
            memo[node.name] = None  # a cycle (TopicSet.compile refuses them) needs nothing
            memo[node.name] = _need(nodes[node.name], nodes, memo, atoms)
        return memo[node.name]
    if isinstance(node, Not):
        return None
    if isinstance(node, Except):
        return _need(node.left, nodes, memo, atoms)
    if isinstance(node, Or):
        needs = [_need(child, nodes, memo, atoms) for child in node.children]
        if any(need is None for need in needs):
            return None  # one child can match needing nothing: so can the OR
        # The OR's terms, wherever they stand among its children, are one test.
        numbers = [n for need in needs if isinstance(need, _NeedTerms) for n in need.numbers]
        ors = [need for need in needs if need is not None and not isinstance(need, _NeedTerms)]
        if numbers:
            ors.insert(0, _NeedTerms(numbers))
        return ors[0] if len(ors) == 1 else _NeedAny(ors)
    # And, Near: every child matches.
    alls = [need for child in _children(node)
            if (need := _need(child, nodes, memo, atoms)) is not None]
    if not alls:
        return None
    return alls[0] if len(alls) == 1 else _NeedAll(alls)


# --------------------------------------------------------------------------------------
# Topic sets


@dataclass(frozen=True)
class TopicResult:
    """Which topics matched one item, with their terms, and whether the keep rule did."""

    hits: tuple[TopicHit, ...]
    keep: bool
    # The item's index, kept by ``match(..., terms=False)`` so ``TopicSet.explain`` can add
    # the terms later without matching again.
    _index: _Index | None = field(default=None, compare=False, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(hit.topic for hit in self.hits)


class TopicSet:
    """Named topic queries and a keep rule, compiled once; match many items against them."""

    def __init__(self, nodes: Mapping[str, Node], keep: Node | None = None,
                 since: Mapping[str, date] | None = None,
                 sources: Mapping[str, str] | None = None) -> None:
        """Compile parsed queries. Use ``compile``: this trusts that every ``@name`` resolves
        and that references do not cycle. ``sources``: the query text each node was parsed
        from (``compile`` gives them), so that a pickled copy can leave the nodes out."""
        self.names: tuple[str, ...] = tuple(nodes)
        # topic -> the first publication day it applies to (``compile``'s ``since``)
        self.since: Mapping[str, date] = dict(since or {})
        self._nodes: dict[str, Node] | None = dict(nodes)
        self._sources = None if sources is None else dict(sources)
        self.keep_rule: Node | None = keep
        self._probes = _ProbeTable()
        self._evals = {name: _compile(node, self._probes) for name, node in nodes.items()}
        self._keep = None if keep is None else _compile(keep, self._probes)
        self._positive = self._find_positive()
        # The prefilter (``could_keep``): what the keep rule (or, without one, any topic)
        # needs of an item's words.
        rule = keep if keep is not None else Or(tuple(Ref(name) for name in self.names))
        self._atoms = _Atoms(self._probes)
        self._keep_need = _need(rule, self.nodes, {}, self._atoms) if self.names or keep \
            else None

    @property
    def nodes(self) -> Mapping[str, Node]:
        """The parsed query of each topic (parsed again from its text in a pickled copy)."""
        if self._nodes is None:
            assert self._sources is not None
            self._nodes = {name: with_clitics(parse_query(query))
                           for name, query in self._sources.items()}
        return self._nodes

    def __getstate__(self) -> dict[str, object]:
        # The syntax trees are half of a pickled topic set and most of its unpickling time
        # (a parse worker receives the scorer when it starts); matching needs only the
        # compiled evaluators, so a copy that can parse its queries again leaves them out.
        state = dict(self.__dict__)
        if self._sources is not None:
            state["_nodes"] = None
        return state

    def with_keep(self, keep: Node) -> TopicSet:
        """The same topics with another keep rule."""
        return TopicSet(self.nodes, keep, self.since, self._sources)

    def could_keep(self, present: set[str]) -> bool:
        """False when the keep rule cannot match a text with these distinct folded words
        (``text.tokenize``'s words, as a set); True when it might. A cheap, exact prefilter
        (the relaxation in ``_need``): most feed items lack some word the rule needs, and
        need neither tokens with spans nor any query evaluated to be dropped."""
        need = self._keep_need
        return need is None or need.test(self._atoms.of(present))

    @classmethod
    def compile(cls, topics: Mapping[str, str], keep: str | None = None,
                since: Mapping[str, date] | None = None) -> TopicSet:
        """Parse and check every query; raise ``TopicError`` naming the config key at fault.

        ``keep`` is a query over ``@topic`` references and terms; None keeps an item when
        any topic matches. ``since`` gives topics a date window: topic -> the first day of
        publication it applies to. Before it the topic does not match (nor does ``@name``
        anywhere): the words mean something else then. "Afghanistan" as a party to
        relations with Russia stands for the Taliban's government only since they took
        Kabul; before, it was the Republic's. Items without a date are always in.
        """
        nodes = {name: _parse_keyed(_key(name), query) for name, query in topics.items()}
        for name, node in nodes.items():
            _check_refs(_key(name), topics[name], node, nodes)
        _check_cycles(topics, nodes)
        keep_node = None
        if keep is not None:
            keep_node = _parse_keyed("keep", keep)
            _check_refs("keep", keep, keep_node, nodes)
        unknown = sorted(set(since or ()) - set(nodes))
        if unknown:
            raise TopicError(f"topics.{unknown[0]}.since", "no such topic")
        nodes = {name: with_clitics(node) for name, node in nodes.items()}
        return cls(nodes, keep_node if keep_node is None else with_clitics(keep_node), since,
                   topics)

    def positive_topics(self) -> tuple[str, ...]:
        """Topics that can only help the keep rule match: those it names outside any NOT
        and outside the right side of any EXCEPT (which, like NOT, can only stop a match),
        directly or through other topics (all topics when there is no keep rule), in
        config order. The score counts these when the rule fails (README, "Score")."""
        return self._positive

    def _find_positive(self) -> tuple[str, ...]:
        if self.keep_rule is None:
            return self.names
        found: set[str] = set()
        stack: list[Node] = [self.keep_rule]
        while stack:
            node = stack.pop()
            if isinstance(node, Not):
                continue
            if isinstance(node, Except):
                stack.append(node.left)
                continue
            if isinstance(node, Ref):
                if node.name not in found:
                    found.add(node.name)
                    stack.append(self.nodes[node.name])
                continue
            stack.extend(_children(node))
        return tuple(name for name in self.names if name in found)

    def match(self, tokens: Tokens, *, terms: bool = True, published: date | None = None,
              off: Iterable[str] | None = None) -> TopicResult:
        """Evaluate every topic (each at most once) and the keep rule against one text,
        published on ``published`` (a date or datetime; None: undated, every topic applies).
        ``off``: the topics that date leaves out (``off(published)``), if known already.

        ``terms=False`` is the fast path for items that are mostly dropped unexplained (a
        feed pass without keep_all): it tests only the positive topics (``positive_topics``)
        and the keep rule, and leaves the hits' terms empty; ``explain`` then completes the
        result (every topic, with terms) for the items worth it.
        """
        ix = _Index(tokens, self._evals, self._probes,
                    self.off(published) if off is None else off)
        names = [name for name in (self.names if terms else self._positive) if ix.topic(name)]
        keep = bool(names) if self._keep is None else self._keep.test(ix)
        if not terms:
            return TopicResult(tuple(TopicHit(name, ()) for name in names), keep, ix)
        return TopicResult(tuple(TopicHit(name, self._terms(ix, name)) for name in names), keep)

    def off(self, published: date | None) -> list[str]:
        """The topics whose date window (``since``) leaves out an item of that date."""
        if published is None or not self.since:
            return []
        day = published.date() if isinstance(published, datetime) else published
        return [name for name, first in self.since.items() if day < first]

    def explain(self, result: TopicResult) -> TopicResult:
        """A ``match(..., terms=False)`` result completed: every topic, with its terms."""
        ix = result._index
        if ix is None:
            return result
        hits = tuple(
            TopicHit(name, self._terms(ix, name)) for name in self.names if ix.topic(name))
        return TopicResult(hits, result.keep)

    def match_text(self, text: str) -> TopicResult:
        """``match`` for a plain string."""
        return self.match(tokenize(text))

    def _terms(self, ix: _Index, name: str) -> tuple[str, ...]:
        """The text's own spelling of the terms that matched, first occurrence first."""
        terms: dict[str, str] = {}
        for start, end in ix.topic_spans(name):  # sorted, each once; shared with @name
            surface = ix.tokens.surface(start, end)
            terms.setdefault(" ".join(ix.tokens.words[start : end + 1]), surface)
            if len(terms) >= MAX_TERMS:
                break
        return tuple(terms.values())


def _key(name: str) -> str:
    return f"topics.{name}.query"


def _parse_keyed(key: str, query: str) -> Node:
    try:
        return parse_query(query)
    except QueryError as exc:
        raise TopicError(key, exc.reason, exc.column, query) from None


def _check_refs(key: str, query: str, node: Node, nodes: Mapping[str, Node]) -> None:
    for ref in refs(node):
        if ref.name not in nodes:
            raise TopicError(key, f"unknown topic reference @{ref.name}", ref.column, query)


def _check_cycles(topics: Mapping[str, str], nodes: Mapping[str, Node]) -> None:
    """Refuse topics that refer to themselves, directly or through others."""
    cycle = _find_cycle(nodes)
    if cycle is None:
        return
    name, step = cycle[0], cycle[1]
    column = next(ref.column for ref in refs(nodes[name]) if ref.name == step)
    chain = " -> ".join("@" + part for part in cycle)
    raise TopicError(_key(name), f"reference cycle {chain}", column, topics[name])


def _find_cycle(nodes: Mapping[str, Node]) -> list[str] | None:
    """The first reference cycle a depth-first walk in config order meets, e.g. [a, b, a]."""
    finished: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        path.append(name)
        for ref in refs(nodes[name]):
            if ref.name in path:
                return [*path[path.index(ref.name) :], ref.name]
            if ref.name not in finished:
                found = visit(ref.name)
                if found is not None:
                    return found
        path.pop()
        finished.add(name)
        return None

    for name in nodes:
        if name not in finished:
            found = visit(name)
            if found is not None:
                return found
    return None
