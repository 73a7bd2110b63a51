"""Questions whose answers lie deep inside the Wikipedia sample's articles, and retrieval measured
at the level of the passage: does a retrieved chunk hold the answer, at the place the question
set says it is? Book: Chapter 6, "Adapting the encoder to the corpus".

The 189 questions of :func:`~embedlab.rag.corpora.wikipedia_questions` all answer from the first
330 words of an article, where the article's subject is named in nearly every sentence. These
162 were written (by reading the text, before any model was tuned) from sentences past each
article's first 400 words, and they describe instead of naming: a role or a deed instead of a
person, "the ringed planet" instead of Saturn. They are split once, by a rule that reads only
the question's id (:func:`split_of`), into a development half, on which every choice is made,
and a test half, which is only measured.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pandas as pd

from embedlab import data
from embedlab.metrics import mrr, ndcg_at_k, recall_at_k
from embedlab.rag.evaluation import document_ranking

PASSAGE_QUESTIONS_FILE = data.DATA_DIR / "passage_questions.jsonl"
SPLITS = ("dev", "test")


def split_of(question_ids) -> dict:
    """The split of each question id: the ids ranked by the SHA-256 of their text, the first half
    (rounded down) ``"dev"``, the rest ``"test"``. Reads nothing but the ids, so no measurement
    can have chosen it."""
    ids = list(question_ids)
    ranked = sorted(ids, key=lambda qid: hashlib.sha256(qid.encode()).hexdigest())
    return {qid: "dev" if position < len(ids) // 2 else "test" for position, qid in enumerate(ranked)}


def passage_questions(split: str | None = None) -> pd.DataFrame:
    """The 162 deep questions (``data/passage_questions.jsonl``): columns ``id``, ``question``,
    ``relevant_titles`` (a set holding the article's title), ``first_title`` (that title),
    ``passage`` (a verbatim quote of the article around the answer, at ``passage_start``),
    ``answer`` (a verbatim piece of the passage, at ``answer_start`` in the article), ``split``
    and ``kind`` (``"deep"``). ``split="dev"`` or ``"test"`` keeps one half. The columns of
    :func:`~embedlab.rag.corpora.wikipedia_questions` are all there, so
    :func:`~embedlab.rag.evaluation.evaluate_retrievers` reads this table too."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    if not PASSAGE_QUESTIONS_FILE.exists():
        raise FileNotFoundError(f"{PASSAGE_QUESTIONS_FILE} is missing: it comes with the repository's data/ folder")
    rows = [json.loads(line) for line in PASSAGE_QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    table = pd.DataFrame(rows)
    table["first_title"] = table["relevant_titles"].str[0]
    table["relevant_titles"] = table["relevant_titles"].map(set)
    table["kind"] = "deep"
    if split is not None:
        table = table[table["split"] == split].reset_index(drop=True)
    return table


def holds_answer(chunk, question) -> bool:
    """True when ``chunk`` comes from the question's article and its span holds the whole
    answer at ``answer_start``: the answer string found elsewhere (a date repeated in another
    paragraph) does not count, nor does half of it."""
    end = question.answer_start + len(question.answer)
    return chunk.doc_id == question.first_title and chunk.start <= question.answer_start and end <= chunk.end


def passage_report(rank, questions: pd.DataFrame, chunks, k: int = 5) -> dict:
    """How well ``rank`` (a function: question text -> chunk keys, best first) finds the answers
    of ``questions`` (:func:`passage_questions`) among ``chunks``.

    ``passage@k``: the share of questions for which one of the first k chunks holds the answer
    (:func:`holds_answer`); ``article@k``: the share whose article owns one of the first k chunks
    (article recall@k, the measure of :func:`~embedlab.rag.evaluation.evaluate_retrievers`);
    ``MRR`` and ``nDCG@10`` of the first chunk that holds the answer (one relevant chunk per
    question, :mod:`embedlab.metrics`); ``ms per query``, the median wall time of one call of
    ``rank``. Book: Chapter 6, "Adapting the encoder to the corpus".
    """
    labels, articles, seconds = [], [], []
    for question in questions.itertuples(index=False):
        started = time.perf_counter()
        keys = list(rank(question.question))
        seconds.append(time.perf_counter() - started)
        labels.append(["answer" if holds_answer(chunks[key], question) else int(key) for key in keys])
        articles.append(document_ranking(chunks, keys))
    found = [{"answer"}] * len(labels)
    return {f"passage@{k}": recall_at_k(labels, found, k),
            f"article@{k}": recall_at_k(articles, list(questions["relevant_titles"]), k),
            "MRR": mrr(labels, found), "nDCG@10": ndcg_at_k(labels, found, 10),
            "ms per query": 1000 * float(np.median(seconds))}
