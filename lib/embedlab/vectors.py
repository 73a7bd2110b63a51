"""One small type for word vectors, shared by every chapter.

GloVe (Chapter 1), the Word2Vec trainer (Chapter 2) and the analogy code (Chapter 3)
all hand each other a :class:`WordVectors`: a list of words and an ``n × d`` float32
matrix whose row ``i`` is the vector of ``words[i]``.
"""

from __future__ import annotations

import difflib
from functools import cached_property

import numpy as np

from embedlab import similarity


class WordVectors:
    """Words and their vectors: ``vectors[i]`` is the embedding of ``words[i]``.

    Book: Chapter 1, "The embedding space".

    Example
    -------
    >>> wv = WordVectors(["cat", "dog"], [[1.0, 0.0], [0.6, 0.8]])
    >>> wv["dog"]
    array([0.6, 0.8], dtype=float32)
    >>> wv.nearest("cat", k=1)
    [('dog', 0.6)]
    """

    def __init__(self, words, vectors):
        # Row-major, as gensim stores vectors: a row's norm is then the same sum as gensim's, bit
        # for bit (numpy sums a strided row in another order), and a row is one run of memory.
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        words = list(words)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (words × dimensions), got shape {vectors.shape}")
        if len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors: they must match one to one")
        bad_rows = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        if bad_rows.size:
            raise ValueError(f"the vector of '{words[bad_rows[0]]}' holds NaN or infinite values "
                             f"({bad_rows.size} of {len(words)} vectors do): fix or drop those words")
        index = {word: i for i, word in enumerate(words)}
        if len(index) != len(words):
            seen, repeated = set(), []
            for word in words:
                if word in seen:
                    repeated.append(word)
                seen.add(word)
            raise ValueError(f"words must be unique; repeated: {repeated[:5]}")
        self.words = words
        self.vectors = vectors
        self._index = index

    def __repr__(self):
        return f"WordVectors({len(self)} words × {self.dim} dimensions)"

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self._index

    def __getitem__(self, word):
        return self.vectors[self.index(word)]

    @property
    def dim(self) -> int:
        """Number of dimensions of each vector."""
        return self.vectors.shape[1]

    def index(self, word: str) -> int:
        """Row of ``word`` in :attr:`vectors`; a ``KeyError`` naming close matches if absent."""
        try:
            return self._index[word]
        except KeyError:
            raise KeyError(self._unknown_word_message(word)) from None

    def _unknown_word_message(self, word) -> str:
        close = difflib.get_close_matches(str(word), self._candidates_for(str(word)), n=5, cutoff=0.7)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        return f"'{word}' is not in the vocabulary ({len(self)} words){hint}"

    def _candidates_for(self, word):
        # difflib over 400k words takes seconds; words that share the first letter are
        # where a typo's match almost always is.
        if len(self) <= 50_000 or not word:
            return self.words
        return [w for w in self.words if w[:1] == word[:1].lower() or w[:1] == word[:1]]

    @cached_property
    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to length 1 (cosine similarity is then a dot product)."""
        return similarity.normalize(self.vectors)

    @cached_property
    def norms(self) -> np.ndarray:
        """The length ‖v‖ of every row, float32: gensim's ``KeyedVectors.norms``, bit for bit."""
        return np.linalg.norm(self.vectors, axis=1)

    @cached_property
    def case_insensitive_rows(self) -> dict[str, int]:
        """Upper-cased word → row of its first, most frequent, spelling ("ATHENS" → the row of
        "athens"): how gensim matches the words of a benchmark file. See :func:`first_rows`."""
        return first_rows(word.upper() for word in self.words)

    @cached_property
    def first_spellings(self) -> np.ndarray:
        """For each row, the row of the first spelling of its word, whatever the case (the row of
        "athens" for "Athens"); a row that is the first spelling of its word holds its own row."""
        rows = self.case_insensitive_rows
        return np.array([rows[word.upper()] for word in self.words], dtype=np.int64)

    def nearest(self, query, k: int = 10, exclude=()) -> list[tuple[str, float]]:
        """The ``k`` words whose vectors have the highest cosine similarity to ``query``.

        ``query`` is a word (excluded from its own answer) or a vector. Words in
        ``exclude`` are skipped. Returns ``(word, cosine)`` pairs, most similar first.
        Book: Chapter 1, "Nearest neighbours".
        """
        exclude = set(exclude)
        if isinstance(query, str):
            exclude.add(query)
            query = self[query]
        excluded_rows = [self.index(w) for w in exclude]
        rows, scores = similarity.nearest_neighbours(
            query, self.unit_vectors, k=k, exclude=excluded_rows, normalized=True
        )
        return [(self.words[i], round(float(s), 6)) for i, s in zip(rows, scores)]

    def similarity(self, word_a: str, word_b: str) -> float:
        """Cosine similarity of two words' vectors."""
        return float(similarity.cosine_similarity(self[word_a], self[word_b]))

    def subset(self, words) -> WordVectors:
        """A new :class:`WordVectors` holding only ``words``, in that order."""
        words = list(words)
        return WordVectors(words, self.vectors[[self.index(w) for w in words]])

    def to_gensim(self):
        """The same vectors as a :class:`gensim.models.KeyedVectors` (used as a test oracle)."""
        from gensim.models import KeyedVectors

        kv = KeyedVectors(vector_size=self.dim)
        kv.add_vectors(self.words, self.vectors)
        return kv

    def save_word2vec_format(self, path, binary: bool = False) -> None:
        """Write the vectors in the word2vec C tool's format (text by default), via gensim."""
        self.to_gensim().save_word2vec_format(str(path), binary=binary)

    @classmethod
    def from_gensim(cls, keyed_vectors) -> WordVectors:
        """Wrap a :class:`gensim.models.KeyedVectors` (e.g. ``model.wv`` of a gensim Word2Vec)."""
        return cls(list(keyed_vectors.index_to_key), keyed_vectors.vectors)


def first_rows(keys) -> dict[str, int]:
    """Key → row of its first occurrence. With upper-cased words as keys, each word is found
    whatever its case, at its most frequent spelling: gensim matches benchmark words this way."""
    rows = {}
    for row, key in enumerate(keys):
        rows.setdefault(key, row)
    return rows


def restricted_size(word_vectors: WordVectors, restrict_vocab) -> int:
    """How many of the first words a benchmark may use: ``restrict_vocab`` (at most the vocabulary
    size), or all of them for ``None``; gensim's ``restrict_vocab``."""
    if restrict_vocab is None:
        return len(word_vectors)
    if restrict_vocab < 1:
        raise ValueError(f"restrict_vocab must be a positive number of words (or None for all), got {restrict_vocab}")
    return min(restrict_vocab, len(word_vectors))
