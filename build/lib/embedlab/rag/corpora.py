"""The documents and questions Chapter 6 searches: a small help centre, the Wikipedia sample
with 189 questions whose answers are known, and a set of words whose meaning depends on the
domain. Book: Chapter 6.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embedlab import data
from embedlab.text import sentence_ends, word_spans

HELP_CENTRE_DIR = data.DATA_DIR / "help_centre"


@dataclass(frozen=True)
class Document:
    """One document to search: ``doc_id`` is unique in its collection, ``source`` says where it
    came from (a file path, ``"wikipedia-sample"``, ``"help-centre"``)."""

    doc_id: str
    title: str
    text: str
    source: str = ""


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the Chapter 6 loaders read the repository's data/ folder")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def help_centre() -> list[Document]:
    """The 44 help-centre articles of Fernwork, a made-up team workspace product
    (``data/help_centre/documents.jsonl``; ids are slugs such as ``password-reset``).
    Book: Chapter 6, "A help centre search box"."""
    rows = _read_jsonl(HELP_CENTRE_DIR / "documents.jsonl")
    return [Document(row["id"], row["title"], row["text"], "help-centre") for row in rows]


def help_centre_queries() -> pd.DataFrame:
    """The 40 help-centre queries: columns ``query``, ``relevant`` (a set of document ids) and
    ``kind`` (``keyword``: the article's own terms; ``paraphrase``: the need in a user's words)."""
    table = pd.DataFrame(_read_jsonl(HELP_CENTRE_DIR / "queries.jsonl"))
    table["relevant"] = table["relevant"].map(set)
    return table


def wikipedia_documents(max_words: int | None = None) -> list[Document]:
    """The 106 articles of :func:`embedlab.data.wikipedia_sample` as documents (id = title).

    ``max_words=N`` keeps each article's beginning: up to the last sentence end within its first
    N words (the first N words when no sentence ends there). Every passage of
    :func:`wikipedia_questions` lies in the first 330 words of its article, so ``max_words=400``
    keeps every answer and a twelfth of the text (40,000 words), which the chapter can encode in
    its time budget.
    """
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be a positive number of words, got {max_words}")
    documents = [Document(a.title, a.title, a.text, "wikipedia-sample") for a in data.wikipedia_sample()]
    if max_words is None:
        return documents
    return [Document(d.doc_id, d.title, _first_words(d.text, max_words), d.source) for d in documents]


def _first_words(text: str, max_words: int) -> str:
    """``text`` up to the last sentence end within its first ``max_words`` words."""
    spans = word_spans(text)
    if len(spans) <= max_words:
        return text
    ends = np.flatnonzero(sentence_ends(text, spans)[:max_words])
    last = int(ends[-1]) if len(ends) else max_words - 1
    return text[: spans[last, 1]]


def wikipedia_questions() -> pd.DataFrame:
    """189 questions over the Wikipedia sample (``data/wikipedia_questions.jsonl``): columns ``id``,
    ``question``, ``relevant_titles`` (a set of article titles), ``first_title`` (the article that
    holds the passage), ``passage`` (a verbatim quote of that article that answers the question)
    and ``kind`` (102 ``keyword``, 87 ``paraphrase``).
    Book: Chapter 6, "Measuring a search engine"."""
    table = pd.DataFrame(_read_jsonl(data.DATA_DIR / "wikipedia_questions.jsonl"))
    table["first_title"] = table["relevant_titles"].str[0]
    table["relevant_titles"] = table["relevant_titles"].map(set)
    return table


def domain_mismatch() -> list[Document]:
    """40 one-sentence documents using *discharge* and *positive* in four domains (medicine, hr,
    physics, finance); ``source`` holds the domain. Book: Chapter 6, "When the domain does not match"."""
    rows = _read_jsonl(data.DATA_DIR / "domain_mismatch.jsonl")
    return [Document(row["id"], row["id"], row["text"], row["domain"]) for row in rows]


def domain_mismatch_queries() -> pd.DataFrame:
    """24 queries for :func:`domain_mismatch`: columns ``query``, ``domain`` and ``relevant`` (a set of ids)."""
    table = pd.DataFrame(_read_jsonl(data.DATA_DIR / "domain_mismatch_queries.jsonl"))
    table["relevant"] = table["relevant"].map(set)
    return table
