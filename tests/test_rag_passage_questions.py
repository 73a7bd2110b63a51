"""The deep question set (embedlab.rag.passage_questions): every answer is where the file says,
deep in its article; the split follows its rule; passage-level scoring counts only a chunk
that holds the answer at its place. Oracles: the article text itself (str.count, slicing) and
hand-worked rankings."""

import hashlib

import pytest
from embedlab.rag import chunking, corpora, passage_questions
from embedlab.text import word_spans


@pytest.fixture(scope="module")
def questions():
    return passage_questions.passage_questions()


@pytest.fixture(scope="module")
def texts():
    return {document.doc_id: document.text for document in corpora.wikipedia_documents()}


def test_every_answer_is_in_its_article_exactly_where_claimed(questions, texts):
    assert len(questions) >= 100 and questions["id"].is_unique
    for q in questions.itertuples(index=False):
        text = texts[q.first_title]
        assert text[q.passage_start: q.passage_start + len(q.passage)] == q.passage, q.id
        assert text.count(q.passage) == 1, q.id  # the quote names one place
        assert text[q.answer_start: q.answer_start + len(q.answer)] == q.answer, q.id
        assert q.passage_start <= q.answer_start and q.answer_start + len(q.answer) <= q.passage_start + len(q.passage)


def test_answers_lie_past_the_first_400_words_where_the_old_questions_stop(questions, texts):
    for q in questions.itertuples(index=False):
        words_before = int((word_spans(texts[q.first_title])[:, 0] < q.passage_start).sum())
        assert words_before >= 400, (q.id, words_before)
    first_words = {document.doc_id: document.text for document in corpora.wikipedia_documents(400)}
    assert not any(q.passage in first_words[q.first_title] for q in questions.itertuples(index=False))


def test_the_split_follows_its_rule_and_halves_the_set(questions):
    assert dict(zip(questions["id"], questions["split"])) == passage_questions.split_of(questions["id"])
    dev, test = passage_questions.passage_questions("dev"), passage_questions.passage_questions("test")
    assert len(dev) == len(questions) // 2 and len(dev) + len(test) == len(questions)
    assert not set(dev["id"]) & set(test["id"])
    # the rule by hand: four ids ranked by their SHA-256
    ids = ["a", "b", "c", "d"]
    ranked = sorted(ids, key=lambda qid: hashlib.sha256(qid.encode()).hexdigest())
    assert passage_questions.split_of(ids) == {ranked[0]: "dev", ranked[1]: "dev", ranked[2]: "test", ranked[3]: "test"}
    with pytest.raises(ValueError, match="split must be one of"):
        passage_questions.passage_questions("train")


def test_a_chunk_holds_the_answer_only_at_its_place_and_whole():
    """Text "1642 ... 1642": the question's answer is the second 1642. A chunk holding the first
    one does not count (a plausible mistake: searching the chunk's text for the string); a chunk
    that cuts the answer in two does not count either."""
    text = "Born 1642 in a village. Later, in 1642, the word entered English."
    answer_start = text.index("1642", 10)
    q = type("Q", (), {"first_title": "T", "answer": "1642", "answer_start": answer_start})
    first = chunking.Chunk("T", "T", 0, 0, 23, text[:23])
    second = chunking.Chunk("T", "T", 1, 24, len(text), text[24:])
    cut = chunking.Chunk("T", "T", 2, 0, answer_start + 2, text[: answer_start + 2])
    other = chunking.Chunk("U", "U", 0, 24, len(text), text[24:])
    assert "1642" in first.text and not passage_questions.holds_answer(first, q)
    assert passage_questions.holds_answer(second, q)
    assert not passage_questions.holds_answer(cut, q) and not passage_questions.holds_answer(other, q)


def test_passage_report_by_hand():
    """Two questions over three chunks: the first finds its answer at rank 2, the second never
    (its article at rank 1). passage@1 = 0, passage@5 = 1/2, MRR = (1/2 + 0)/2, article@5 = 1,
    nDCG@10 = (1/log2(3) + 0)/2."""
    import math

    import pandas as pd

    chunks = [chunking.Chunk("A", "A", 0, 0, 10, "x" * 10), chunking.Chunk("A", "A", 1, 10, 20, "y" * 10),
              chunking.Chunk("B", "B", 0, 0, 10, "z" * 10)]
    table = pd.DataFrame({"question": ["q1", "q2"], "first_title": ["A", "B"], "relevant_titles": [{"A"}, {"B"}],
                          "answer": ["yy", "zz"], "answer_start": [12, 15]})
    rankings = {"q1": [0, 1, 2], "q2": [2, 0, 1]}
    report = passage_questions.passage_report(rankings.__getitem__, table, chunks)
    assert report["passage@5"] == 0.5 and report["article@5"] == 1.0
    assert report["MRR"] == pytest.approx(0.25)
    assert report["nDCG@10"] == pytest.approx(0.5 / math.log2(3))
    assert passage_questions.passage_report(rankings.__getitem__, table, chunks, k=1)["passage@1"] == 0.0
