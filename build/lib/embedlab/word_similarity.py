"""Word-similarity benchmarks: do a model's cosines rank word pairs as people do? WordSim-353
(Finkelstein et al. 2002) rates relatedness, SimLex-999 (Hill et al. 2015) similarity proper.
Chapter 3 measures GloVe and the book's own Word2Vec on both, as gensim's
``evaluate_word_pairs`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from embedlab.vectors import WordVectors, first_rows, restricted_size


@dataclass(frozen=True)
class WordPairResults:
    """How well cosine similarity follows human similarity scores (:func:`evaluate_word_pairs`)."""

    pearson: float  # linear correlation of the model's cosines with the human scores
    spearman: float  # correlation of their ranks: the number papers report
    oov_ratio: float  # fraction of pairs skipped for a word outside the vocabulary (gensim reports percent)
    pairs: pd.DataFrame  # the pairs scored: word1, word2, human, model


def evaluate_word_pairs(word_vectors: WordVectors, path, restrict_vocab: int | None = 300_000) -> WordPairResults:
    """Correlate cos(word1, word2) with human similarity scores, as gensim's ``evaluate_word_pairs``.

    ``path`` holds tab-separated lines "word1, word2, score" (``#`` starts a comment), like
    WordSim-353, which scores relatedness (cup–coffee is high), and SimLex-999, which scores
    similarity only (cup–coffee is low). Pairs with a word outside the first ``restrict_vocab``
    words are skipped; words match case-insensitively, as in :func:`embedlab.analogy.evaluate_analogies`.
    Spearman's ρ is Pearson's r of the ranks: only the order of the similarities counts.
    Book: Chapter 3, "Analogies are a sanity check, not an evaluation".
    """
    from scipy import stats

    path = Path(path)
    rows = first_rows(word.upper() for word in word_vectors.words[: restricted_size(word_vectors, restrict_vocab)])
    scored, n_pairs = [], 0
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            word1, word2, score = line.split("\t")
            human = float(score)
        except ValueError:
            raise ValueError(
                f"{path}, line {line_number}: expected 'word1<TAB>word2<TAB>score', got {line!r}"
            ) from None
        n_pairs += 1
        if word1.upper() in rows and word2.upper() in rows:
            scored.append((word1, word2, human, rows[word1.upper()], rows[word2.upper()]))
    if not scored:
        raise ValueError(f"no pair of {path} has both words in the vocabulary")
    pairs = pd.DataFrame(scored, columns=["word1", "word2", "human", "row1", "row2"])
    unit = word_vectors.unit_vectors
    pairs["model"] = (unit[pairs["row1"].to_numpy()] * unit[pairs["row2"].to_numpy()]).sum(axis=1)  # cosines
    return WordPairResults(
        pearson=float(stats.pearsonr(pairs["human"], pairs["model"])[0]),
        spearman=float(stats.spearmanr(pairs["human"], pairs["model"])[0]),
        oov_ratio=1 - len(scored) / n_pairs,
        pairs=pairs.drop(columns=["row1", "row2"]),
    )
