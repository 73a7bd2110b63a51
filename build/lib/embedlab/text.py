"""Text into the units the book's models read: lower-cased word tokens, the character spans of
words, and sentences. Word2Vec (Chapter 2) trains on the tokens, the inverse cloze task
(Chapter 4) and the chunker (Chapter 6) cut at the sentence ends.
"""

from __future__ import annotations

import re

import numpy as np

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers of ``text``; punctuation is dropped.

    >>> tokenize("The quick brown fox's 2 jumps!")
    ['the', 'quick', 'brown', "fox's", '2', 'jumps']
    """
    return _TOKEN.findall(text.lower())


_WORD = re.compile(r"\S+")


def word_spans(text: str) -> np.ndarray:
    """(start, end) character offsets of each whitespace-separated word of ``text``: (n_words, 2)."""
    return np.array([m.span() for m in _WORD.finditer(text)], dtype=np.int64).reshape(-1, 2)


# A word ends a sentence when it ends in ., !, ? or … (closing quotes and brackets may follow) and
# the next word starts with a capital, a digit, a quote or a bracket (so "e.g. the" does not end
# one), or when a line break follows it.
_SENTENCE_FINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
_SENTENCE_INITIAL = re.compile(r"^[\"'“‘(\[]*[A-Z0-9À-Ý]")


def sentence_ends(text: str, spans: np.ndarray) -> np.ndarray:
    """``ends[i]`` is True when word i of ``spans`` (:func:`word_spans`) ends a sentence: it ends in
    ., !, ? or … (closing quotes and brackets may follow) and the next word starts with a capital,
    a digit, an opening quote or a bracket, or a line break follows it. The last word always ends
    one. Book: Chapter 6, "Chunking"."""
    words = [text[start:end] for start, end in spans]
    ends = np.zeros(len(words), dtype=bool)
    for i, word in enumerate(words[:-1]):
        gap = text[spans[i, 1] : spans[i + 1, 0]]
        ends[i] = "\n" in gap or (bool(_SENTENCE_FINAL.search(word)) and bool(_SENTENCE_INITIAL.match(words[i + 1])))
    if len(words):
        ends[-1] = True
    return ends


def sentences(text: str) -> list[str]:
    """``text`` cut at the sentence ends of :func:`sentence_ends`, each sentence as it stands in the text.

    >>> sentences('He said "Go." Then e.g. this. 2 more')
    ['He said "Go."', 'Then e.g. this.', '2 more']
    """
    spans = word_spans(text)
    ends = np.flatnonzero(sentence_ends(text, spans))
    firsts = np.concatenate([[0], ends[:-1] + 1])
    return [text[spans[first, 0] : spans[last, 1]] for first, last in zip(firsts, ends)]
