"""Chapter 3, "Vector arithmetic": analogies, the two standard benchmarks, and a bias direction.

"man is to king as woman is to queen": in a good embedding space the offset king − man points
the same way as queen − woman, so king − man + woman lands near queen (Mikolov et al. 2013).
This module solves such analogies (3CosAdd and 3CosMul, Levy & Goldberg 2014), scores word
vectors on the Google analogy questions and on human similarity judgements (WordSim-353,
SimLex-999), and finds and removes a gender direction (Bolukbasi et al. 2016).

Both benchmarks give exactly the answers of gensim 4.4's ``KeyedVectors.evaluate_word_analogies``
and ``evaluate_word_pairs`` (the tests compare every question), but the analogy questions are
answered from the cosines of their input words with the vocabulary, one float32 matrix product
for all of them, rather than one pass over the vocabulary per question.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from embedlab import word_similarity
from embedlab.similarity import normalize
from embedlab.vectors import WordVectors, restricted_size

#: The ε of 3CosMul, "to prevent division by zero" (Levy & Goldberg 2014). gensim's
#: ``most_similar_cosmul`` uses 1e-6 instead.
COSMUL_EPSILON = 0.001


METHODS = ("3cosadd", "3cosmul")

#: Threads answering analogy questions: one per core, up to 8 (each holds its own tile of scores).
THREADS = min(8, os.cpu_count() or 1)
#: Vocabulary words per tile, and cosines per tile (2 MB): see :func:`tile_width`.
TILE_WORDS, TILE_COSINES = 512, 2**19
# gensim asks most_similar for the 5 best words and keeps the first that is not an input word.
_GENSIM_CANDIDATES = 5


# ---------------------------------------------------------------------------------------------
# Solving one analogy


def analogy_scores(word_vectors: WordVectors, a: str, b: str, c: str, method: str = "3cosadd") -> np.ndarray:
    """How well every word of the vocabulary answers "a is to b as c is to ?" (higher is better).

    With x̂ the vector of x scaled to length 1 and cos(d, x) = d̂ · x̂:

    - ``"3cosadd"``: cos(d, b̂ − â + ĉ). It ranks the words as cos(d, b) − cos(d, a) + cos(d, c)
      does, the 3CosAdd objective of Levy & Goldberg (2014); it is the score gensim's
      ``most_similar(positive=[b, c], negative=[a])`` returns.
    - ``"3cosmul"``: cos′(d, b) · cos′(d, c) / (cos′(d, a) + ε), with cos′ = (1 + cos) / 2 shifted
      into [0, 1] and ε = :data:`COSMUL_EPSILON` (Levy & Goldberg 2014). A product cannot be
      won by one large similarity alone, as a sum can.

    Returns one float32 score per word, in vocabulary order. Book: Chapter 3, "Solving analogies".
    """
    if method not in METHODS:
        raise ValueError(f"unknown analogy method {method!r}; choose '3cosadd' or '3cosmul'")
    unit = word_vectors.unit_vectors
    rows = np.array([[word_vectors.index(a), word_vectors.index(b), word_vectors.index(c)]])
    if method == "3cosadd":
        return unit @ _offset_queries(unit, rows)[0]
    cos_a, cos_b, cos_c = ((1 + unit @ unit[row]) / 2 for row in rows[0])
    return cos_b * cos_c / (cos_a + COSMUL_EPSILON)


def solve(word_vectors: WordVectors, a: str, b: str, c: str, topn: int = 1, method: str = "3cosadd",
          exclude_inputs: bool = True) -> list[tuple[str, float]]:
    """Answer "a is to b as c is to ?": the ``topn`` best words d and their scores, best first.

    3CosAdd picks d* = argmax_d cos(d, b̂ − â + ĉ); 3CosMul picks
    d* = argmax_d cos′(d, b) · cos′(d, c) / (cos′(d, a) + ε); :func:`analogy_scores` gives the
    details. The three input words are not answers unless ``exclude_inputs=False``, and then
    the answer is often c itself (sometimes b): when a and b are similar words the offset
    b̂ − â is short, and the query b̂ − â + ĉ stays close to ĉ. Published analogy scores all
    leave the inputs out. Book: Chapter 3, "Solving analogies".

    >>> toy = WordVectors(["man", "woman", "king", "queen"], [[1, 0, 0], [0, 1, 0], [0.6, 0, 0.8], [0, 0.6, 0.8]])
    >>> solve(toy, "man", "king", "woman")
    [('queen', 0.924241)]
    """
    if topn < 1:
        raise ValueError(f"topn must be at least 1, got {topn}")
    scores = analogy_scores(word_vectors, a, b, c, method)
    candidates = len(scores)
    if exclude_inputs:
        inputs = {word_vectors.index(word) for word in (a, b, c)}
        scores[list(inputs)] = -np.inf
        candidates -= len(inputs)
    topn = min(topn, candidates)
    best = np.argpartition(-scores, topn - 1)[:topn]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(word_vectors.words[row], round(float(scores[row]), 6)) for row in best]


@dataclass(frozen=True)
class Walkthrough:
    """The steps of one analogy "a is to b as c is to ?", for a picture (:func:`walkthrough`)."""

    a: str
    b: str
    c: str
    answer: str  # the best word other than a, b and c (3CosAdd)
    similarity: float  # cos(answer, b̂ − â + ĉ)
    points: dict  # 2-D points of a, b, c, "b − a + c" and the answer, from a PCA of those five vectors


def walkthrough(word_vectors: WordVectors, a: str, b: str, c: str) -> Walkthrough:
    """Solve "a is to b as c is to ?" with 3CosAdd and place its steps in a plane.

    The five unit vectors â, b̂, ĉ, b̂ − â + ĉ and the answer's are projected onto their two
    principal axes. A PCA projection is affine, P(x) = (x − μ) V, and the coefficients of
    b̂ − â + ĉ sum to 1, so P(b̂ − â + ĉ) = P(b̂) − P(â) + P(ĉ): the four points a, b, c and
    "b − a + c" form an exact parallelogram in the picture, whatever was lost in projection.
    Book: Chapter 3, "An analogy, step by step".
    """
    (answer, similarity), = solve(word_vectors, a, b, c)
    unit = word_vectors.unit_vectors
    inputs = unit[[word_vectors.index(w) for w in (a, b, c)]].astype(np.float64)
    result = inputs[1] - inputs[0] + inputs[2]
    stacked = np.vstack([inputs, result, unit[word_vectors.index(answer)]])
    centred = stacked - stacked.mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2]  # (2, d): the two principal axes
    flat = centred @ axes.T
    flat *= np.where(flat[1] - flat[0] >= 0, 1, -1)  # b to the right of a, and above it: one orientation
    labels = (a, b, c, f"{b} − {a} + {c}", answer)
    return Walkthrough(a, b, c, answer, similarity, dict(zip(labels, flat)))


def _offset_queries(unit: np.ndarray, question_rows: np.ndarray) -> np.ndarray:
    """b̂ − â + ĉ scaled to length 1, for each row (a, b, c, ...) of ``question_rows``; ``unit`` holds the
    unit vectors. Summed in float32 as (b̂ + ĉ) − â, then scaled in float64: the order of gensim's
    ``most_similar``, so that from the same unit vectors it builds the same query."""
    a, b, c = (unit[question_rows[:, i]] for i in range(3))
    total = (b + c - a).astype(np.float64)
    return (total * (1 / np.linalg.norm(total, axis=1, keepdims=True))).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The Google analogy benchmark


class Question(NamedTuple):
    """One analogy question: ``a`` is to ``b`` as ``c`` is to ``expected``."""

    a: str
    b: str
    c: str
    expected: str


@dataclass(frozen=True)
class SectionResult:
    """The questions of one section answered right and wrong; a question with a word outside the
    vocabulary is in neither list."""

    name: str
    correct: list[Question]
    incorrect: list[Question]

    @property
    def accuracy(self) -> float:
        """Correct answers / questions answered (0.0 when none was answered, as in gensim)."""
        answered = len(self.correct) + len(self.incorrect)
        return len(self.correct) / answered if answered else 0.0

    @property
    def is_syntactic(self) -> bool:
        """Sections named ``gram…`` test grammar (plurals, tenses, ...); the others test meaning."""
        return self.name.startswith("gram")


def _merge(name: str, sections) -> SectionResult:
    sections = list(sections)
    return SectionResult(
        name,
        list(itertools.chain.from_iterable(s.correct for s in sections)),
        list(itertools.chain.from_iterable(s.incorrect for s in sections)),
    )


@dataclass(frozen=True)
class AnalogyResults:
    """What :func:`evaluate_analogies` found: one :class:`SectionResult` per section of the file."""

    sections: list[SectionResult]
    n_questions: int  # in the file, answered or not

    @property
    def total(self) -> SectionResult:
        """All sections together, named "Total accuracy" (the last section gensim returns)."""
        return _merge("Total accuracy", self.sections)

    @property
    def semantic(self) -> SectionResult:
        """The sections about meaning (capitals, currencies, family, ...) together."""
        return _merge("Semantic", (s for s in self.sections if not s.is_syntactic))

    @property
    def syntactic(self) -> SectionResult:
        """The ``gram…`` sections (plurals, tenses, comparatives, ...) together."""
        return _merge("Syntactic", (s for s in self.sections if s.is_syntactic))

    @property
    def accuracy(self) -> float:
        """Correct answers / questions answered, over all sections."""
        return self.total.accuracy

    @property
    def correct(self) -> list[Question]:
        """Every correctly answered question, in file order."""
        return self.total.correct

    @property
    def coverage(self) -> float:
        """Questions answered (all four words in the vocabulary) / questions in the file."""
        total = self.total
        return (len(total.correct) + len(total.incorrect)) / self.n_questions if self.n_questions else 0.0

    def table(self) -> pd.DataFrame:
        """One row per section, then Semantic, Syntactic and Total: correct, answered, accuracy."""
        rows = [*self.sections, self.semantic, self.syntactic, self.total]
        return pd.DataFrame(
            [(s.name, len(s.correct), len(s.correct) + len(s.incorrect), s.accuracy) for s in rows],
            columns=["section", "correct", "answered", "accuracy"],
        ).set_index("section")


def read_analogies(path) -> list[tuple[str, list[Question]]]:
    """The sections of an analogy file in Google's ``questions-words.txt`` format, in file order.

    A line ``: name`` starts a section; every other non-blank line is one question of four words,
    "a b c expected". Anything else is a ``ValueError`` naming the file and line (gensim would
    skip the line and report a score on fewer questions). Book: Chapter 3, "The analogy benchmark".
    """
    path = Path(path)
    sections = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(":"):
            name = line[1:].strip()
            if not name:
                raise ValueError(f"{path}, line {line_number}: a section header needs a name, as in ': family'")
            sections.append((name, []))
        elif line.strip():
            words = line.split()
            if len(words) != 4:
                raise ValueError(
                    f"{path}, line {line_number}: expected 4 words 'a b c expected' or a ': section' header, "
                    f"got {line.strip()!r}"
                )
            if not sections:
                raise ValueError(f"{path}, line {line_number}: a question before the first ': section' header")
            sections[-1][1].append(Question(*words))
    return sections


def _questions(word_vectors: WordVectors, path, restrict_vocab):
    """The file's sections and questions, with the rows of each question's words among the first
    ``restrict_vocab`` words (-1 for a word outside them), and each row's first spelling's row."""
    vocabulary_size = restricted_size(word_vectors, restrict_vocab)
    sections = read_analogies(path)
    rows = word_vectors.case_insensitive_rows  # a word's first spelling comes before its others
    first_row = word_vectors.first_spellings[:vocabulary_size]
    questions = [(i, question) for i, (_, qs) in enumerate(sections) for question in qs]
    rows_of_words = [[rows.get(word.upper(), vocabulary_size) for word in q] for _, q in questions]
    question_rows = np.array(rows_of_words, dtype=np.int64).reshape(-1, 4)  # (questions, 4)
    question_rows[question_rows >= vocabulary_size] = -1  # -1: not in the vocabulary searched
    return vocabulary_size, sections, questions, question_rows, first_row


def evaluate_analogies(word_vectors: WordVectors, path, restrict_vocab: int | None = 30_000,
                       method: str = "3cosadd", exclude_inputs: bool = True) -> AnalogyResults:
    """Answer every question of an analogy file and count the right answers, by section.

    Only the first ``restrict_vocab`` words (the most frequent, in GloVe and word2vec files)
    take part: a question with a word outside them is skipped (see ``coverage``), and answers are
    searched among them. Words are matched case-insensitively ("Athens" is "athens"), the most
    frequent spelling winning. A question counts as correct when the best word other than a, b
    and c is the expected one: d* = argmax_{d ∉ {a, b, c}} cos(d, b̂ − â + ĉ). That is the
    ``compute-accuracy`` tool of word2vec and gensim's ``evaluate_word_analogies``, whose answers
    these are, question for question (with the default method and exclusion).

    A zero vector has no direction: it is refused with a ``ValueError`` naming its row.
    ``method="3cosmul"`` scores with 3CosMul instead (:func:`analogy_scores`), and
    ``exclude_inputs=False`` lets a, b and c be answers (which are then wrong); neither has a
    gensim counterpart. Book: Chapter 3, "The analogy benchmark".
    """
    if method not in METHODS:
        raise ValueError(f"unknown analogy method {method!r}; choose '3cosadd' or '3cosmul'")
    vocabulary_size, sections, questions, question_rows, first_row = _questions(word_vectors, path, restrict_vocab)
    answerable = np.flatnonzero((question_rows >= 0).all(axis=1))
    if method == "3cosadd" and exclude_inputs:
        answers = _answer(word_vectors, vocabulary_size, question_rows[answerable], first_row)
    else:
        answers = _best_rows(word_vectors.vectors[:vocabulary_size], question_rows[answerable], first_row, method,
                             exclude_inputs)
    results = [SectionResult(name, [], []) for name, _ in sections]
    for i, answer in zip(answerable.tolist(), answers.tolist()):
        section, question = questions[i]
        is_right = answer >= 0 and first_row[answer] == question_rows[i, 3]
        (results[section].correct if is_right else results[section].incorrect).append(question)
    return AnalogyResults(results, len(questions))


def benchmark_table(models: dict, questions, word_pair_sets: dict, method: str = "3cosadd",
                    restrict_vocab: int | None = 30_000) -> pd.DataFrame:
    """Every benchmark of Chapter 3 for several models, each evaluated once: one row per model.

    ``models`` maps a name to :class:`~embedlab.vectors.WordVectors`; ``word_pair_sets`` maps a
    column name to a file of human similarity scores. Columns: the accuracy of each section of
    the analogy file ``questions`` (:func:`evaluate_analogies` with ``method`` and
    ``restrict_vocab``), "semantic", "syntactic" and "all" (correct / answered), "answered"
    (the coverage: answered / questions in the file), then Spearman's ρ between the model's
    cosines and the human scores of each word-pair file
    (:func:`embedlab.word_similarity.evaluate_word_pairs`). Book: Chapter 3, "The analogy
    benchmark" and "Analogies are a sanity check, not an evaluation".
    """
    rows = {}
    for name, word_vectors in models.items():
        results = evaluate_analogies(word_vectors, questions, restrict_vocab, method)
        row = {section.name: section.accuracy for section in results.sections}
        row.update(semantic=results.semantic.accuracy, syntactic=results.syntactic.accuracy, all=results.accuracy,
                   answered=results.coverage)
        row.update({column: word_similarity.evaluate_word_pairs(word_vectors, path).spearman
                    for column, path in word_pair_sets.items()})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def input_answers(word_vectors: WordVectors, path, restrict_vocab: int | None = 30_000,
                  method: str = "3cosadd") -> pd.Series:
    """Which word wins when the inputs are not excluded: the share of answered questions whose
    best-scoring word is a, b, c or another word (right or wrong).

    When a and b are close the offset b̂ − â is short, so b̂ − â + ĉ stays near ĉ: c itself then
    scores highest. That is why every published analogy score leaves the inputs out.
    Book: Chapter 3, "Solving analogies".
    """
    vocabulary_size, _, _, question_rows, first_row = _questions(word_vectors, path, restrict_vocab)
    question_rows = question_rows[(question_rows >= 0).all(axis=1)]
    answers = first_row[_best_rows(word_vectors.vectors[:vocabulary_size], question_rows, first_row, method,
                                   exclude_inputs=False)]
    winners = np.select([answers == question_rows[:, i] for i in range(3)], ["a", "b", "c"], default="another word")
    return pd.Series(winners).value_counts(normalize=True).reindex(["a", "b", "c", "another word"], fill_value=0.0)


def _best_rows(vectors: np.ndarray, question_rows: np.ndarray, first_row: np.ndarray, method: str,
               exclude_inputs: bool, batch_size: int = 512) -> np.ndarray:
    """The best-scoring row for each question (a, b, c, ...) by ``method``, in plain batched
    NumPy: a matrix product per batch (three for 3CosMul), then an argmax. With
    ``exclude_inputs``, no spelling of a, b or c is an answer (``first_row`` as in
    :func:`_answer`)."""
    unit = normalize(np.ascontiguousarray(vectors, dtype=np.float32))
    answers = np.empty(len(question_rows), dtype=np.int64)
    for start in range(0, len(question_rows), batch_size):
        rows = question_rows[start:start + batch_size]
        if method == "3cosadd":
            scores = _offset_queries(unit, rows) @ unit.T  # (batch, words)
        else:  # cos′ = (1 + cos) / 2, computed in place: three (batch, words) arrays, no temporaries
            cos_a, cos_b, cos_c = (unit[rows[:, i]] @ unit.T for i in range(3))
            for cos in (cos_a, cos_b, cos_c):
                cos += 1
                cos *= 0.5
            cos_a += COSMUL_EPSILON
            scores = np.multiply(cos_b, cos_c, out=cos_b)
            scores /= cos_a
        if exclude_inputs:
            scores[np.arange(len(rows))[:, None], rows[:, :3]] = -np.inf
        best = scores.argmax(axis=1)
        if exclude_inputs:  # another spelling of an input ("Athens" for "athens") is no answer either
            for i in np.flatnonzero((first_row[best][:, None] == rows[:, :3]).any(axis=1)):
                scores[i, np.isin(first_row, rows[i, :3])] = -np.inf
                best[i] = scores[i].argmax()
        answers[start:start + batch_size] = best
    return answers


def _answer(word_vectors: WordVectors, vocabulary_size: int, question_rows: np.ndarray,
            first_row: np.ndarray) -> np.ndarray:
    """The row of the answer to each question (a, b, c, expected): the best-scoring row among the first
    ``vocabulary_size`` rows other than a, b and c (-1 if there is none). ``first_row[row]`` is the row of
    each row's first spelling; question rows are first spellings.

    cos(v, b̂ − â + ĉ) = (v̂·b̂ − v̂·â + v̂·ĉ) / ‖b̂ − â + ĉ‖, and the length is the question's own: each
    question ranks the words by 3CosAdd as Levy & Goldberg (2014) write it. The Google file's 19,544
    questions use under a thousand input words, so one float32 product of those words with the
    vocabulary gives every score in two additions (:func:`_fold_tile`), computed a tile of
    :func:`tile_width` words at a time while it is in the core's cache, one share of the tiles per
    thread. Our scores are rounded unlike gensim's; where the best two are closer than that could
    matter (or the best is another spelling of an input), the question is answered again as gensim does.
    """
    unit = word_vectors.unit_vectors[:vocabulary_size]  # (words, d), row-major
    n_words, dimensions = unit.shape
    inputs = np.ascontiguousarray(question_rows[:, :3])
    words, slots = np.unique(inputs, return_inverse=True)  # the input words; a, b, c's rows among them
    words, slots = np.ascontiguousarray(unit[words]), slots.reshape(-1, 3)
    tile_words = tile_width(len(words))
    tiles = range(0, n_words, tile_words)

    def best_two(share):
        best, runner_up = np.full((2, len(inputs)), -np.inf, dtype=np.float32)
        best_row = np.zeros(len(inputs), dtype=np.int64)
        buffer = np.empty((len(words), tile_words), dtype=np.float32)
        for start in share:
            tile = unit[start:start + tile_words]
            cosines = buffer[:, : len(tile)]
            np.matmul(words, tile.T, out=cosines)  # (input words, tile words)
            _fold_tile(cosines, start, slots, inputs, best, runner_up, best_row)
        return best, runner_up, best_row

    # Each thread multiplies its tiles on one core (BLAS held to one thread); the shares are
    # consecutive, so ties keep the first row, as a single pass would.
    shares = [tiles[len(tiles) * i // THREADS: len(tiles) * (i + 1) // THREADS] for i in range(THREADS)]
    with threadpool_limits(1), ThreadPoolExecutor(THREADS) as pool:
        (best, runner_up, answers), *others = pool.map(best_two, shares)
    for other_best, other_runner_up, other_row in others:
        wins = other_best > best
        runner_up = np.where(wins, np.maximum(best, other_runner_up), np.maximum(runner_up, other_best))
        answers, best = np.where(wins, other_row, answers), np.maximum(best, other_best)

    # Each float32 dot product of unit vectors is off by at most d·u (u = 2⁻²⁴, any order of sums:
    # Higham 2002, section 3.1), our two additions by 5u, gensim's score times ‖q‖ by (d + 4)‖q‖u
    # + 6u (q rounded to float32). Words further apart than twice that (with a margin) rank alike.
    query_lengths = np.linalg.norm(unit[inputs[:, 1]] + unit[inputs[:, 2]] - unit[inputs[:, 0]], axis=1)
    closer_than = 2 * 2.0**-24 * (3 * dimensions + 16 + (dimensions + 8) * query_lengths)
    near_tie = ~(best - runner_up >= closer_than)  # -inf - -inf is NaN: no word was left to choose
    is_input = (first_row[answers][:, None] == inputs).any(axis=1)  # another spelling of a, b or c
    again = np.flatnonzero(near_tie | is_input)
    vectors, norms = word_vectors.vectors[:vocabulary_size], word_vectors.norms[:vocabulary_size]
    for i, query in zip(again, _offset_queries(unit, question_rows[again])):
        answers[i] = _answer_like_gensim(vectors, norms, query, question_rows[i], first_row)
    return answers


def tile_width(n_input_words: int) -> int:
    """Vocabulary words per tile of :func:`evaluate_analogies`: :data:`TILE_WORDS`, fewer (not under
    16) where the tile's cosines with ``n_input_words`` input words would pass :data:`TILE_COSINES`."""
    return min(TILE_WORDS, max(16, TILE_COSINES // max(1, n_input_words)))


@numba.njit(nogil=True, cache=True)
def _fold_tile(cosines, start, slots, inputs, best, runner_up, best_row):
    """Fold one tile into each question's best two answers. ``cosines[k, j]`` is the cosine of
    input word k with row ``start + j``; question i has its a, b, c at ``slots[i]`` among the
    input words and at rows ``inputs[i]``. Row r scores
    (cos(r, b) + cos(r, c)) − cos(r, a), in gensim's order. ``best[i]``: the largest score so far
    of a row other than a, b, c; ``best_row[i]``, the first row holding it; ``runner_up[i]``, the
    largest of the others (a tie counts: then runner_up = best). One pass asks whether any score
    beats the runner-up (SIMD lanes); only then, or if an input lies in the tile, is it re-read.
    """
    n_words = cosines.shape[1]
    for i in range(len(slots)):
        cos_a, cos_b, cos_c = cosines[slots[i, 0]], cosines[slots[i, 1]], cosines[slots[i, 2]]
        row_a, row_b, row_c = inputs[i, 0] - start, inputs[i, 1] - start, inputs[i, 2] - start
        if not (0 <= row_a < n_words or 0 <= row_b < n_words or 0 <= row_c < n_words):
            threshold, beaten = runner_up[i], False
            for j in range(n_words):
                beaten |= (cos_b[j] + cos_c[j]) - cos_a[j] > threshold
            if not beaten:
                continue
        for j in range(n_words):
            if j == row_a or j == row_b or j == row_c:
                continue
            score = (cos_b[j] + cos_c[j]) - cos_a[j]
            if score > best[i]:
                runner_up[i], best[i], best_row[i] = best[i], score, start + j
            elif score > runner_up[i]:
                runner_up[i] = score


def _answer_like_gensim(vectors, norms, query, question_rows, first_row) -> int:
    """One question answered the way gensim 4.4 does it, step for step (used for near-ties).

    ``KeyedVectors.most_similar`` scores every word as (v · q) / ‖v‖ in float32, takes the
    5 best after dropping the rows of a, b and c, and ``evaluate_word_analogies`` answers with
    the first whose upper-cased spelling is none of a, b, c (the last one if all are).
    """
    scores = vectors @ query / norms
    inputs = set(question_rows[:3].tolist())
    wanted = _GENSIM_CANDIDATES + 3  # gensim asks for topn rows plus one per input word
    if wanted >= len(scores):
        ranked = np.argsort(-scores)[:wanted]
    else:  # gensim.matutils.argsort, whose tie-breaking we keep
        ranked = np.argpartition(-scores, wanted)[:wanted]
        ranked = ranked.take(np.argsort(-scores.take(ranked)))
    candidates = [row for row in ranked.tolist() if row not in inputs][:_GENSIM_CANDIDATES]
    for row in candidates:
        if first_row[row] not in inputs:
            return row
    return candidates[-1] if candidates else -1  # -1: no answer at all (a vocabulary of a, b, c only)
