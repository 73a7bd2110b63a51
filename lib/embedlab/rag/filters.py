"""Milvus filter expressions (``title == "Anarchism" and chunk_index < 2``) read without Milvus, for
:class:`~embedlab.rag.store.ExactStore`, the store used where Milvus Lite cannot be imported.
Book: Chapter 6, "A vector database".

The grammar is the part of Milvus's that filters chunks by their fields::

    expression := term (("or" | "||") term)*
    term       := factor (("and" | "&&") factor)*
    factor     := ("not" | "!") factor | "(" expression ")" | FIELD test
    test       := ("==" | "!=" | "<" | "<=" | ">" | ">=") LITERAL
                | ["not"] "in" "[" LITERAL ("," LITERAL)* "]"
                | "like" STRING            (% any run of characters, _ any one character)

Keywords may be lower or upper case, as in Milvus; a LITERAL is a quoted string or a number.
Written here because Milvus parses its expressions inside its server: no library reads them
without it, and the chapter's filters need only this small part of the grammar.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import NoReturn

#: The fields a filter can test, and the type of their values.
FIELD_TYPES = {"id": int, "doc_id": str, "title": str, "source": str, "chunk_index": int, "start": int,
               "end": int, "text": str}

_TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)
                        |(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],])|(?P<word>[A-Za-z_]\w*))""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "like"}
_COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
                ">=": operator.ge}

Predicate = Callable[[dict], bool]

#: What every message about a filter ends with: what a filter may say.
_GRAMMAR_HINT = (f"filters compare the fields {', '.join(FIELD_TYPES)} with ==, !=, <, <=, >, >=, in, like, "
                 f"joined by and, or, not")


def parse_filter(where: str) -> Predicate:
    """A function that tells whether a row (a dict of :data:`FIELD_TYPES`' fields) matches the Milvus
    expression ``where``; a clear ``ValueError`` for anything outside the grammar above.

    >>> parse_filter('title in ["A", "B"] and not chunk_index > 1')({"title": "B", "chunk_index": 0})
    True
    """
    tokens = _tokenize(where)
    parser = _Parser(where, tokens)
    predicate = parser.expression()
    if parser.position != len(tokens):
        parser.fail(f"unexpected {tokens[parser.position][1]!r}")
    return predicate


def _tokenize(where: str) -> list[tuple[str, str]]:
    """(kind, text) pairs; keywords are words whose lower-case form is in _KEYWORDS."""
    tokens, position = [], 0
    while where[position:].strip():
        match = _TOKEN.match(where, position)
        if match is None:
            raise ValueError(f"cannot read the filter {where!r} at {where[position:].strip()[:20]!r}; {_GRAMMAR_HINT}")
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "word" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        tokens.append((kind, text))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, where: str, tokens: list[tuple[str, str]]):
        self.where, self.tokens, self.position = where, tokens, 0

    def fail(self, problem: str) -> NoReturn:
        raise ValueError(f"cannot read the filter {self.where!r}: {problem}; {_GRAMMAR_HINT}")

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "the end")

    def take(self, *texts: str) -> bool:
        """Consume the next token when its text is one of ``texts``."""
        if self.peek()[1] in texts:
            self.position += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            self.fail(f"expected {text!r}, found {self.peek()[1]!r}")

    def expression(self) -> Predicate:
        terms = [self.term()]
        while self.take("or", "||"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda row: any(term(row) for term in terms))

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.take("and", "&&"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda row: all(factor(row) for factor in factors))

    def factor(self) -> Predicate:
        if self.take("not", "!"):
            inner = self.factor()
            return lambda row: not inner(row)
        if self.take("("):
            inner = self.expression()
            self.expect(")")
            return inner
        kind, field = self.peek()
        if kind != "word" or field not in FIELD_TYPES:
            self.fail(f"{field!r} is not a field")
        self.position += 1
        return self.test(field)

    def test(self, field: str) -> Predicate:
        _, text = self.peek()
        if text in _COMPARISONS:
            self.position += 1
            compare, value = _COMPARISONS[text], self.literal(field)
            return lambda row: compare(row[field], value)
        negated = self.take("not")
        if self.take("in"):
            self.expect("[")
            values = {self.literal(field)}
            while self.take(","):
                values.add(self.literal(field))
            self.expect("]")
            return (lambda row: row[field] not in values) if negated else (lambda row: row[field] in values)
        if not negated and self.take("like"):
            pattern = self.literal(field)
            if FIELD_TYPES[field] is not str:
                self.fail(f"like needs a text field, and {field} is a number")
            regex = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern),
                               re.DOTALL)
            return lambda row: regex.fullmatch(row[field]) is not None
        self.fail(f"expected a comparison after {field}, found {text!r}")

    def literal(self, field: str):
        kind, text = self.peek()
        if kind not in ("string", "number"):
            self.fail(f"expected a quoted string or a number, found {text!r}")
        self.position += 1
        value = ast.literal_eval(text)
        if isinstance(value, str) != (FIELD_TYPES[field] is str):
            self.fail(f"{field} holds {'text' if FIELD_TYPES[field] is str else 'numbers'}, and {text} is not one")
        return value
