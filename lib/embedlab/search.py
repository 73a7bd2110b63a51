"""Exact nearest-neighbour search by inner product, and the top-k selection under it: the
reference every faster search in the book (two-stage search, a vector database) is tested
against. Chapter 5 explains it; Chapter 6 uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def largest(scores: np.ndarray, k: int, group: int = 8) -> np.ndarray:
    """Indices of each row's k largest scores, unordered: (n_q, k), the same set as
    ``np.argpartition(-scores, k - 1, axis=1)[:, :k]`` (up to ties at the k-th score).

    ``argpartition`` over a long row costs about as much as a short matrix product, so long
    rows are first cut into groups of ``group`` entries (group j: columns j, j + g, j + 2g, …),
    and only the k groups with the largest maxima are searched: a top-k entry outside them
    would be beaten by k group maxima. That leaves group · k candidates (plus the n mod group
    last columns) for the final ``argpartition``.
    """
    n_rows, n = scores.shape
    n_groups = n // group
    if n_groups < 4 * k:
        return np.argpartition(-scores, k - 1, axis=1)[:, :k]
    maxima = scores[:, : group * n_groups].reshape(n_rows, group, n_groups).max(axis=1)  # (n_q, g)
    groups = np.argpartition(-maxima, k - 1, axis=1)[:, :k]  # (n_q, k)
    candidates = (groups[:, None, :] + n_groups * np.arange(group)[:, None]).reshape(n_rows, group * k)
    rest = np.arange(group * n_groups, n)  # the columns that fill no whole group
    candidates = np.hstack([candidates, np.broadcast_to(rest, (n_rows, len(rest)))])  # (n_q, c)
    best = np.argpartition(-np.take_along_axis(scores, candidates, axis=1), k - 1, axis=1)[:, :k]
    return np.take_along_axis(candidates, best, axis=1)


def top_k(scores, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` largest scores of each row of ``scores`` (n_q, n), best
    first, ties broken by the lower index: two (n_q, k) arrays. A 1-D row of scores gives two
    1-D arrays. A row of fewer than ``k`` scores gives all of them.

    >>> top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3)
    (array([1, 3, 2]), array([0.9, 0.9, 0.5]))
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    scores = np.asarray(scores)
    if scores.ndim == 1:
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64), scores
        indices, values = top_k(scores[None, :], k)
        return indices[0], values[0]
    k = min(k, scores.shape[1])
    top = largest(scores, k)  # (n_q, k), unordered
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def rerank_head(keys, head_scores) -> tuple[np.ndarray, np.ndarray]:
    """A ranking whose first ``len(head_scores)`` keys a re-ranker has scored: (keys, scores),
    those keys ordered by their scores, highest first (a tie keeps the earlier key), and the keys
    after them in their order, with NaN scores (they were not re-scored). What every re-ranker of
    Chapter 6 returns."""
    keys = np.asarray(keys, dtype=np.int64)
    head_scores = np.asarray(head_scores, dtype=np.float32)
    head, tail = keys[: len(head_scores)], keys[len(head_scores):]
    order = np.lexsort((np.arange(len(head)), -head_scores))
    return (np.concatenate([head[order], tail]),
            np.concatenate([head_scores[order], np.full(len(tail), np.nan, dtype=np.float32)]))


def as_float32_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{name} must be a vector or a matrix of row vectors (n, d), got shape {x.shape}")
    return x


def exact_search(queries, index, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force maximum inner product search: the ``k`` rows of ``index`` (n, d) with the
    largest q · x for each query (n_q, d), as (indices, scores), both (n_q, k), best first.
    With unit-length vectors this is cosine similarity. Book: Chapter 5, "Two-stage search".
    """
    queries, index = as_float32_matrix(queries, "queries"), as_float32_matrix(index, "index")
    if queries.shape[1] != index.shape[1]:
        raise ValueError(f"dimension mismatch: queries have {queries.shape[1]} dimensions, the index {index.shape[1]}")
    if not 1 <= k <= len(index):
        raise ValueError(f"k must be between 1 and the number of indexed vectors ({len(index)}), got {k}")
    return top_k(queries @ index.T, k)  # scores (n_q, n)


@dataclass(frozen=True)
class Latency:
    """What :func:`exact_search_latency` measured: milliseconds per query of brute-force search."""

    n_vectors: int
    dim: int
    batch_size: int
    ms_per_query: float

    @property
    def ns_per_coordinate(self) -> float:
        """ms_per_query / (n · d) in nanoseconds: the rate a linear extrapolation in n·d uses."""
        return self.ms_per_query * 1e6 / (self.n_vectors * self.dim)


def exact_search_latency(n_vectors: int, dim: int, batch_size: int = 1, n_queries: int = 16, repeats: int = 3,
                   seed: int = 0) -> Latency:
    """Measure exact search (:func:`exact_search`, k = 10) over ``n_vectors`` random unit
    vectors of ``dim`` coordinates on this machine.

    Queries come ``batch_size`` at a time; the best of ``repeats`` runs over ``n_queries``
    queries is kept (the least disturbed by other processes). The vectors must fit in memory
    (n · d · 4 bytes); for larger collections the caller may extrapolate with
    :attr:`Latency.ns_per_coordinate`, linearly in n·d, and must say that it is an
    extrapolation. Book: Chapter 5, "What a dimension costs".
    """
    if n_vectors < 10 or dim < 1 or batch_size < 1 or n_queries < batch_size or repeats < 1:
        raise ValueError(f"need n_vectors >= 10, dim >= 1, 1 <= batch_size <= n_queries and repeats >= 1, got "
                         f"n_vectors={n_vectors}, dim={dim}, batch_size={batch_size}, n_queries={n_queries}, "
                         f"repeats={repeats}")
    rng = np.random.default_rng(seed)
    index = rng.standard_normal((n_vectors, dim), dtype=np.float32)
    index /= np.linalg.norm(index, axis=1, keepdims=True)
    queries = index[rng.choice(n_vectors, n_queries)]
    batches = [queries[i : i + batch_size] for i in range(0, n_queries - batch_size + 1, batch_size)]
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            exact_search(batch, index, 10)
        best = min(best, time.perf_counter() - started)
    return Latency(n_vectors, dim, batch_size, best * 1e3 / (len(batches) * batch_size))
