"""Chapter 5, "Matryoshka embeddings": one vector whose prefixes are also good embeddings, what
that saves in storage and search time, and how to train it (Kusupati et al. 2022, "Matryoshka
Representation Learning").

The pieces, in the order the chapter builds them:

1. truncation and the Matryoshka loss (:func:`truncate`, :func:`matryoshka_loss`), equal in
   value and gradient to sentence-transformers' ``MatryoshkaLoss`` around
   ``MultipleNegativesRankingLoss``;
2. storage arithmetic and quantisation (:func:`storage_bytes`, :func:`fit_int8`,
   :func:`binary_codes`, :func:`hamming_distances`);
3. search: exact, two-stage (a short prefix to shortlist, the full vector to rescore), synthetic
   vectors with a real spectrum to search at scale, and a latency measurement for the
   chapter's calculator (:func:`exact_search`, :func:`two_stage_search`,
   :class:`TwoStageIndex`, :func:`synthetic_index`, :func:`search_latency`);
4. a projection head on frozen all-MiniLM-L6-v2 embeddings, trained with or without the
   Matryoshka loss, and quality at every prefix (:class:`ProjectionHead`, :func:`train_head`,
   :func:`project`, :func:`prefix_report`, :func:`pca_embeddings`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from embedlab import contrastive, progress

# ----------------------------------------------------------------------------------------
# 1. Truncation and the Matryoshka loss


def _check_dim(dim, full_dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= full_dim:
        raise ValueError(f"dim must be an integer between 1 and the full dimension {full_dim}, got {dim!r}")
    return int(dim)


def truncate(embeddings, dim: int):
    """The first ``dim`` coordinates of each embedding, scaled back to length 1.

    For a row e of (n, D) embeddings, truncate(e, m) = e[:m] / ‖e[:m]‖: the (n, m) prefix a
    Matryoshka model is trained to make useful on its own (Kusupati et al. 2022). Numpy arrays
    give numpy arrays (float32 stays float32), torch tensors give differentiable tensors. A row
    whose prefix is all zeros has no direction and is refused. Book: Chapter 5, "How Matryoshka training works".

    >>> truncate(np.array([[3.0, 4.0, 12.0]]), 2).tolist()
    [[0.6, 0.8]]
    """
    is_tensor = isinstance(embeddings, torch.Tensor)
    matrix = embeddings if is_tensor else np.asarray(embeddings)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be a matrix of row vectors (n, d), got shape {tuple(matrix.shape)}")
    dim = _check_dim(dim, matrix.shape[1])
    prefix = matrix[:, :dim]  # (n, m)
    norms = prefix.norm(dim=1, keepdim=True) if is_tensor else np.linalg.norm(prefix, axis=1, keepdims=True)
    if bool((norms == 0).any()):
        row = int((norms == 0).nonzero()[0][0])
        raise ValueError(f"row {row} is zero in its first {dim} coordinates: it cannot be scaled to length 1")
    return prefix / norms


def matryoshka_loss(queries, keys, dims, weights=None, temperature: float = 0.05, hard_negatives=None) -> torch.Tensor:
    """The Matryoshka loss: InfoNCE at several prefix lengths at once, weighted and summed.

    With q_i, k_i the (B, D) query and key embeddings, m ∈ ``dims`` the prefix lengths and w_m
    their ``weights`` (1 each by default),

        L = Σ_m w_m · InfoNCE(normalize(q[:, :m]), normalize(k[:, :m])),

    each term being :func:`embedlab.contrastive.info_nce` with temperature τ: keys[i] is the
    positive of queries[i], the other keys its in-batch negatives, and ``hard_negatives`` (B, d)
    or (B, h, d) are truncated the same way and seen by every query. Because the first m
    coordinates must work alone, the model learns to put what matters most first
    (Kusupati et al. 2022, "Matryoshka Representation Learning"). This is sentence-transformers'
    ``MatryoshkaLoss(model, MultipleNegativesRankingLoss(model, scale=1/τ), dims, weights)``.
    Returns a differentiable scalar tensor. Book: Chapter 5, "How Matryoshka training works".
    """
    queries, keys = contrastive._as_matrix(queries, "queries"), contrastive._as_matrix(keys, "keys")
    dims = list(dims)
    weights = [1.0] * len(dims) if weights is None else list(weights)
    if not dims:
        raise ValueError("dims is empty: give at least one prefix length")
    if len(weights) != len(dims):
        raise ValueError(f"{len(weights)} weights for {len(dims)} dims: give one weight per prefix length")
    negatives = hard_negatives
    if negatives is not None and not isinstance(negatives, torch.Tensor):
        negatives = torch.as_tensor(np.asarray(negatives, dtype=np.float32))
    loss = 0.0
    for dim, weight in zip(dims, weights):
        dim = _check_dim(dim, queries.shape[1])
        # info_nce normalises rows itself, so the prefixes need no separate normalisation here.
        loss = loss + weight * contrastive.info_nce(queries[:, :dim], keys[:, :dim], temperature,
                                                    None if negatives is None else negatives[..., :dim])
    return loss


# ----------------------------------------------------------------------------------------
# 2. Storage and quantisation

#: Bytes per coordinate of each storage type; binary keeps one bit.
BYTES_PER_COORDINATE = {"float32": 4.0, "float16": 2.0, "int8": 1.0, "binary": 1 / 8}


def storage_bytes(n_vectors: int, dim: int, dtype: str = "float32") -> int:
    """Bytes to store ``n_vectors`` vectors of ``dim`` coordinates: n · d · bytes per coordinate.

    ``dtype`` is one of float32 (4 bytes), float16 (2), int8 (1) or binary (1 bit, each vector
    padded to whole bytes: n · ⌈d/8⌉). One million 1536-d float32 vectors take 6.144e9 bytes
    (6.1 GB); their 256-d prefixes take 1.024e9 (1.0 GB), 83% less. Book: Chapter 5,
    "What a dimension costs".

    >>> storage_bytes(1_000_000, 1536), storage_bytes(1_000_000, 256)
    (6144000000, 1024000000)
    """
    if dtype not in BYTES_PER_COORDINATE:
        raise ValueError(f"dtype must be one of {sorted(BYTES_PER_COORDINATE)}, got {dtype!r}")
    if n_vectors < 0 or dim < 1:
        raise ValueError(f"need n_vectors >= 0 and dim >= 1, got n_vectors={n_vectors}, dim={dim}")
    if dtype == "binary":
        return int(n_vectors) * -(-int(dim) // 8)
    return int(n_vectors * dim * BYTES_PER_COORDINATE[dtype])


@dataclass(frozen=True)
class Int8Quantizer:
    """Symmetric int8 quantisation with one scale per dimension: x_j ≈ s_j · c_j, c_j ∈ −127 … 127."""

    scale: np.ndarray  # (d,): s_j = max |x_j| over the calibration data / 127

    def quantize(self, embeddings) -> np.ndarray:
        """Codes c = clip(round(x / s), −127, 127), int8 (n, d); values beyond the calibration
        range are clipped."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != len(self.scale):
            raise ValueError(f"embeddings must have shape (n, {len(self.scale)}), got {embeddings.shape}")
        return np.clip(np.rint(embeddings / self.scale), -127, 127).astype(np.int8)

    def dequantize(self, codes) -> np.ndarray:
        """s · c, float32 (n, d): the vectors the codes stand for."""
        return np.asarray(codes, dtype=np.float32) * self.scale

    def scores(self, queries, codes) -> np.ndarray:
        """Dot products q · (s ⊙ c) of float queries (n_q, d) with the stored codes (n, d),
        computed as (q ⊙ s) · c so that the codes are never expanded: (n_q, n)."""
        queries = np.asarray(queries, dtype=np.float32)
        return (queries * self.scale) @ np.asarray(codes, dtype=np.float32).T


def fit_int8(calibration) -> Int8Quantizer:
    """An :class:`Int8Quantizer` whose scale per dimension covers the calibration data:
    s_j = max_i |x_ij| / 127 (a dimension that is 0 everywhere gets scale 1).
    Book: Chapter 5, "Beyond truncation: quantisation"."""
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 2 or len(calibration) == 0:
        raise ValueError(f"calibration must be a non-empty matrix of row vectors (n, d), got shape {calibration.shape}")
    largest = np.abs(calibration).max(axis=0)  # (d,)
    return Int8Quantizer(np.where(largest > 0, largest / 127, 1.0).astype(np.float32))


def binary_codes(embeddings) -> np.ndarray:
    """One bit per coordinate, 1 where it is positive, packed 8 to a byte: uint8 (n, ⌈d/8⌉).

    The sign vector b = sign(x) ∈ {−1, +1}^d keeps each coordinate's side of zero and nothing
    else, 32 times less than float32. Book: Chapter 5, "Beyond truncation: quantisation".

    >>> binary_codes(np.array([[0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -3.0, 1.0, 9.0]])).tolist()
    [[173, 128]]
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a matrix of row vectors (n, d), got shape {embeddings.shape}")
    return np.packbits(embeddings > 0, axis=1)


def hamming_distances(query_codes, codes) -> np.ndarray:
    """Number of differing bits between every query code and every stored code: (n_q, n).

    For sign vectors of d coordinates, the dot product is b_q · b = d − 2 · Hamming(b_q, b), so
    ranking by smallest Hamming distance is ranking by largest dot product of the signs.
    Book: Chapter 5, "Beyond truncation: quantisation".
    """
    query_codes, codes = np.asarray(query_codes, dtype=np.uint8), np.asarray(codes, dtype=np.uint8)
    if query_codes.ndim != 2 or codes.ndim != 2 or query_codes.shape[1] != codes.shape[1]:
        raise ValueError(f"codes must be packed bits of the same width, got {query_codes.shape} and {codes.shape}")
    return np.bitwise_count(query_codes[:, None, :] ^ codes[None, :, :]).sum(axis=2, dtype=np.int64)


# ----------------------------------------------------------------------------------------
# 3. Search


def _largest(scores: np.ndarray, k: int, group: int = 8) -> np.ndarray:
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


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of each row's k largest scores, best first (ties: lower index first)."""
    top = _largest(scores, k)  # (n_q, k), unordered
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def _as_float32_matrix(x, name: str) -> np.ndarray:
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
    queries, index = _as_float32_matrix(queries, "queries"), _as_float32_matrix(index, "index")
    if queries.shape[1] != index.shape[1]:
        raise ValueError(f"dimension mismatch: queries have {queries.shape[1]} dimensions, the index {index.shape[1]}")
    if not 1 <= k <= len(index):
        raise ValueError(f"k must be between 1 and the number of indexed vectors ({len(index)}), got {k}")
    return _top_k(queries @ index.T, k)  # scores (n_q, n)


def _by_row(rows: np.ndarray, n_rows: int, scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``scores`` and ``ids`` of ragged rows as padded matrices (n_rows, most entries in a
    row), filled with -inf and 0; ``rows`` must be sorted. Example: rows [0, 0, 2], scores
    [5, 6, 7], n_rows 3 -> [[5, 6], [-inf, -inf], [7, -inf]]."""
    counts = np.bincount(rows, minlength=n_rows)
    slots = rows, np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    padded_scores = np.full((n_rows, counts.max(initial=0)), -np.inf, dtype=scores.dtype)
    padded_ids = np.zeros((n_rows, counts.max(initial=0)), dtype=ids.dtype)
    padded_scores[slots], padded_ids[slots] = scores, ids
    return padded_scores, padded_ids


def _shortlist(prefix_queries: np.ndarray, prefix_index: np.ndarray, size: int, block_size: int,
               sample_size: int = 8192) -> np.ndarray:
    """Indices of each query's ``size`` largest prefix scores, unordered: (n_q, size), the same
    set as ``_largest(prefix_queries @ prefix_index.T, size)`` (up to ties at the last score).

    A selection over all n scores of a query costs about as much as computing them, so most
    scores are only compared with a bar. The first ``sample_size`` rows of the index are
    scored first. If they are a random sample of it, as in :class:`TwoStageIndex`, they hold
    on average μ = size · sample_size / n of a query's top ``size``, and the bar is their
    r-th best score with r = μ + 4√μ + 1 (at most ``size``): about twice ``size`` scores clear
    it. The rest of the index is scored ``block_size`` rows at a time, so each (n_q, block)
    score matrix is compared while it is still in the CPU cache, and only the scores that
    clear the bar are kept for the final selection. Fewer than ``size`` clear it only when
    the sample holds more than r of the query's top ``size``, a 4σ event for a random sample
    (and impossible when r = ``size``); such a query is searched again over all its scores.
    Far more than ``size`` clear it when many scores tie with the bar (a prefix of one or two
    coordinates) or the sample is not random; past 8 · ``size`` per query on average, every
    query is searched over all its scores. So the result never depends on the sample, only
    the time does.
    """
    n_queries, n = len(prefix_queries), len(prefix_index)
    first = min(max(sample_size, size), n)
    scores = prefix_queries @ prefix_index[:first].T  # (n_q, first): the sample
    if first == n:
        return _largest(scores, size)
    in_sample = size * first / n  # μ
    rank = min(size, int(np.ceil(in_sample + 4 * np.sqrt(in_sample))) + 1)
    bar = np.take_along_axis(scores, _largest(scores, rank), axis=1).min(axis=1, keepdims=True)  # (n_q, 1): r-th best
    blocks = itertools.chain([(0, scores)], ((start, prefix_queries @ prefix_index[start : start + block_size].T)
                                             for start in range(first, n, block_size)))  # scored one by one
    rows, ids, values = [], [], []  # of the scores that clear the bar
    n_kept = 0
    for start, scores in blocks:
        hits = np.flatnonzero(scores >= bar)
        n_kept += len(hits)
        if n_kept > 8 * size * n_queries:  # ties at the bar, or a sample that is not random
            return _largest(prefix_queries @ prefix_index.T, size)
        row, column = np.divmod(hits, scores.shape[1])
        rows.append(row)
        ids.append(start + column)
        values.append(scores.ravel()[hits])
    rows = np.concatenate(rows)
    by_query = np.argsort(rows, kind="stable")
    rows, ids, values = rows[by_query], np.concatenate(ids)[by_query], np.concatenate(values)[by_query]
    kept_scores, kept_ids = _by_row(rows, n_queries, values, ids)
    counts = np.bincount(rows, minlength=n_queries)
    shortlist = np.empty((n_queries, size), dtype=np.int64)
    enough = counts >= size
    if enough.any():
        best = _largest(kept_scores[enough], size)
        shortlist[enough] = np.take_along_axis(kept_ids[enough], best, axis=1)
    if not enough.all():  # the bar was above these queries' size-th score: select over all of theirs
        shortlist[~enough] = _largest(prefix_queries[~enough] @ prefix_index.T, size)
    return shortlist


class TwoStageIndex:
    """An index for Matryoshka two-stage search: the unit-length prefixes of ``shortlist_dim``
    coordinates, stored once as a contiguous (n, m) array, beside the full vectors (n, D).

    Search (:meth:`search`) is the "adaptive retrieval" of Kusupati et al. 2022:

    1. shortlist: the cosine of the query's and every vector's first m coordinates, q[:m] ·
       x[:m] / (‖q[:m]‖ ‖x[:m]‖), one (n_q, m) × (m, n) product, m/D of the full work, computed
       a block of the index at a time so the scores stay in cache; keep the ``shortlist_size``
       best of each query;
    2. rescore: the full inner products q · x of the shortlist only, (n_q, s) of them; return
       the ``k`` best as (indices, scores), both (n_q, k), best first.

    Why it is built this way, measured on 100,000 × 384 vectors (``bench/two_stage_search.py``,
    one thread, batches of 100, m = 64, s = 250, where exact search takes about 1.2 ms per
    query): the prefixes are copied once here, not sliced per query, and stored with the rows
    in a random order (``order``; results do not depend on it) so that the first rows are a
    random sample, whose scores set a bar that lets stage 1 compare most scores instead of
    selecting among them (see ``_shortlist``). Stage 1 takes about 0.27 ms per query, of
    which 0.20 is the prefix product itself. Each query's shortlist is then gathered with
    ``np.take``, in ascending row order, and rescored on its own, so its (s, D) rows stay in
    cache instead of a (n_q, s, D) copy going to memory: about 0.07 ms per query. Together,
    about 0.35 ms, against 0.47 for the previous version (one bar from the first block, and
    fancy indexing). ``index_full`` should hold unit-length vectors; with shortlist_size = n
    the search is exactly :func:`exact_search`. Book: Chapter 5, "Two-stage search".

    Rows 0 and 2 tie on the 2-d prefix; the full vectors decide:

    >>> index = TwoStageIndex(np.array([[1, 0, 0], [0, 0.6, 0.8], [0.6, 0, 0.8]]), shortlist_dim=2)
    >>> index.prefix[np.argsort(index.order)].tolist()  # the prefixes in the rows' own order
    [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    >>> index.search(np.array([0.6, 0, 0.8]), shortlist_size=2, k=1)[0].tolist()
    [[2]]
    """

    def __init__(self, index_full, shortlist_dim: int, truncated_index=None):
        self.full = np.ascontiguousarray(_as_float32_matrix(index_full, "index_full"))  # (n, D)
        n, full_dim = self.full.shape
        self.shortlist_dim = _check_dim(shortlist_dim, full_dim)
        if truncated_index is None:
            truncated_index = truncate(self.full, self.shortlist_dim)
        elif np.shape(truncated_index) != (n, self.shortlist_dim):
            raise ValueError(f"truncated_index must have shape {(n, self.shortlist_dim)}, "
                             f"got {np.shape(truncated_index)}")
        self.order = np.random.default_rng(0).permutation(n)  # row i of `prefix` is row order[i] of the index
        self.prefix = np.ascontiguousarray(np.asarray(truncated_index, dtype=np.float32)[self.order])  # (n, m)

    def search(self, queries, shortlist_size: int, k: int,
               block_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each query (n_q, D) after a shortlist of ``shortlist_size``:
        (indices, scores), both (n_q, k), best first. Stage 1 scores ``block_size`` rows of the
        index at a time, by default as many as make 2^19 scores (2 MB) with the n_q queries,
        the whole index for one query; it changes the speed, not the result."""
        queries = _as_float32_matrix(queries, "queries")
        if len(queries) == 0:
            raise ValueError("there are no queries to search for")
        if block_size is None:
            block_size = max(2**19 // len(queries), 1)
        n, full_dim = self.full.shape
        if queries.shape[1] != full_dim:
            raise ValueError(f"dimension mismatch: queries have {queries.shape[1]} dimensions, the index {full_dim}")
        if not 1 <= k <= shortlist_size <= n:
            raise ValueError(f"need 1 <= k <= shortlist_size <= number of indexed vectors ({n}), "
                             f"got k={k}, shortlist_size={shortlist_size}")
        if shortlist_size == n:  # everything is shortlisted: one product for the batch
            return exact_search(queries, self.full, k)
        positions = _shortlist(truncate(queries, self.shortlist_dim), self.prefix, shortlist_size, block_size)
        shortlist = np.sort(self.order[positions], axis=1)  # (n_q, s), ascending rows read memory in order
        full_scores = np.stack([np.take(self.full, rows, axis=0) @ query
                                for rows, query in zip(shortlist, queries)])  # (n_q, s)
        positions, scores = _top_k(full_scores, k)
        return np.take_along_axis(shortlist, positions, axis=1), scores


def two_stage_search(queries, index_full, shortlist_dim: int, shortlist_size: int, k: int,
                     truncated_index=None) -> tuple[np.ndarray, np.ndarray]:
    """Matryoshka search: shortlist with the first ``shortlist_dim`` coordinates, rescore with all.

    Stage 1 scores every indexed vector with the renormalised prefixes (cosine over m
    coordinates: m/D of the full work) and keeps the ``shortlist_size`` best; stage 2 computes
    the full-dimension inner products q · x of the shortlist only and returns its ``k`` best as
    (indices, scores), both (n_q, k), best first: the "adaptive retrieval" of Kusupati et al.
    2022, done by :class:`TwoStageIndex`. ``index_full`` (n, D) should hold unit-length vectors.
    ``truncated_index``, :func:`truncate` (index_full, shortlist_dim), is what a deployed index
    stores beside the full vectors; computed here when not given (build a
    :class:`TwoStageIndex` once to search it many times). With shortlist_size = n this is
    exactly :func:`exact_search`. Book: Chapter 5, "Two-stage search".
    """
    return TwoStageIndex(index_full, shortlist_dim, truncated_index).search(queries, shortlist_size, k)


def synthetic_index(real_embeddings, n: int, noise: float = 0.5, seed=0, covariance=None) -> np.ndarray:
    """``n`` SYNTHETIC unit vectors (n, D) with the spectrum of real embeddings, to time search
    at a scale the real data do not reach. Label every result on them as synthetic.

    Each vector is a row e of ``real_embeddings`` (n_real, D), picked at random, plus Gaussian
    noise with the real covariance, scaled to length 1: x = (e + α L z) / ‖e + α L z‖ with
    α = ``noise``, z ~ N(0, I) and L Lᵀ = Σ, the covariance of the real rows (or
    ``covariance``, e.g. that of queries and documents together). Because the noise has the
    real covariance, the vectors keep the real per-dimension variances (a Matryoshka model's
    are largest in the first coordinates) and the correlation between a prefix and the rest,
    which two-stage search relies on; isotropic vectors, or independent dimensions with the
    real variances, have prefixes that say nothing about the rest and prove nothing about it.
    ``seed`` is an int or a ``numpy.random.Generator``; the same int gives the same vectors.
    Book: Chapter 5, "Two-stage search".

    >>> synthetic_index(np.eye(3), 4, seed=0).shape
    (4, 3)
    """
    real = np.asarray(real_embeddings, dtype=np.float64)
    if real.ndim != 2 or len(real) < 2:
        raise ValueError(f"real_embeddings must be a matrix (n_real, d) with n_real >= 2, got shape {real.shape}")
    if n < 1 or noise < 0:
        raise ValueError(f"need n >= 1 and noise >= 0, got n={n}, noise={noise}")
    sigma = np.cov(real, rowvar=False) if covariance is None else np.asarray(covariance, dtype=np.float64)
    if sigma.shape != (real.shape[1], real.shape[1]):
        raise ValueError(f"covariance must have shape {(real.shape[1], real.shape[1])}, got {sigma.shape}")
    factor = np.linalg.cholesky(sigma + 1e-6 * np.eye(len(sigma))).astype(np.float32)  # jitter: Σ may be singular
    rng = np.random.default_rng(seed)
    centres = real.astype(np.float32)[rng.integers(len(real), size=n)]  # (n, D)
    vectors = centres + noise * (rng.standard_normal((n, real.shape[1]), dtype=np.float32) @ factor.T)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclass(frozen=True)
class Latency:
    """What :func:`search_latency` measured: milliseconds per query of brute-force search."""

    n_vectors: int
    dim: int
    batch_size: int
    ms_per_query: float

    @property
    def ns_per_coordinate(self) -> float:
        """ms_per_query / (n · d) in nanoseconds: the rate a linear extrapolation in n·d uses."""
        return self.ms_per_query * 1e6 / (self.n_vectors * self.dim)


def search_latency(n_vectors: int, dim: int, batch_size: int = 1, n_queries: int = 16, repeats: int = 3,
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


def two_stage_report(queries, index, dims, shortlists, k: int = 10, batch_size: int = 100,
                     repeats: int = 2) -> pd.DataFrame:
    """Two-stage search (:class:`TwoStageIndex`) against exact search on the same queries and
    index, one row per (prefix ``m``, shortlist ``s``): recall@k against the exact top k, the
    milliseconds per query in batches of ``batch_size`` and the speed-up over exact search
    (:func:`exact_search`), all on one thread so that both methods get the same CPU. Exact
    and two-stage passes alternate, ``repeats`` of each per row, so that load from other
    processes hits both alike; each keeps its best pass, and exact search its best over all
    rows. Book: Chapter 5, "Two-stage search"."""
    from threadpoolctl import threadpool_limits

    queries, index = _as_float32_matrix(queries, "queries"), _as_float32_matrix(index, "index")  # converted once, not per batch
    batches = [queries[i : i + batch_size] for i in range(0, len(queries), batch_size)]

    def ms_per_query(search):
        started = time.perf_counter()
        for batch in batches:
            search(batch)
        return (time.perf_counter() - started) * 1e3 / len(queries)

    rows, exact_ms = [], np.inf
    with threadpool_limits(limits=1):
        exact, _ = exact_search(queries, index, k)
        for m in dims:
            two_stage = TwoStageIndex(index, m)
            for size in shortlists:
                found, _ = two_stage.search(queries, size, k)
                ms = np.inf
                for _ in range(repeats):
                    exact_ms = min(exact_ms, ms_per_query(lambda batch: exact_search(batch, index, k)))
                    ms = min(ms, ms_per_query(lambda batch: two_stage.search(batch, size, k)))
                rows.append({"prefix m": m, "shortlist s": size,
                             f"recall@{k}": contrastive.recall_at_k(found, [set(row) for row in exact], k),
                             "ms per query": ms})
    report = pd.DataFrame(rows).set_index(["prefix m", "shortlist s"])
    report["exact ms per query"] = exact_ms
    report["speed-up"] = exact_ms / report["ms per query"]
    return report


# ----------------------------------------------------------------------------------------
# 4. A projection head trained with and without the Matryoshka loss


class ProjectionHead(torch.nn.Module):
    """A linear map f(e) = W e + b on frozen sentence embeddings (all-MiniLM-L6-v2 in the chapter).

    W starts as the identity and b at 0, so the untrained head *is* the frozen model: whatever
    it does better after training is learned. A linear map can rotate and rescale but add no
    information, so training with :func:`matryoshka_loss` can only reorder what MiniLM already
    knows, most useful directions first. Book: Chapter 5, "Train it".
    """

    def __init__(self, dim: int = 384):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}")
        self.linear = torch.nn.Linear(dim, dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim))
            self.linear.bias.zero_()

    @classmethod
    def from_pca(cls, fit_embeddings) -> "ProjectionHead":
        """A head that starts as PCA of ``fit_embeddings`` (n, d): W = the principal axes as rows,
        largest variance first, b = −W μ, so f(e) = W (e − μ) is :func:`pca_embeddings`.

        The honest head start for Matryoshka training: the first m outputs are already the m
        directions along which the embeddings vary most, and training only has to move what
        helps retrieval towards the front ("MRL training starting from PCA order"). Nothing is
        random (scikit-learn's full SVD). Book: Chapter 5, "Train it".
        """
        from sklearn.decomposition import PCA

        fit_embeddings = np.asarray(fit_embeddings, dtype=np.float32)
        if fit_embeddings.ndim != 2 or len(fit_embeddings) < fit_embeddings.shape[1]:
            raise ValueError(f"fit_embeddings must be a matrix (n, d) with n >= d, got shape {fit_embeddings.shape}")
        pca = PCA(svd_solver="full").fit(fit_embeddings)
        head = cls(fit_embeddings.shape[1])
        with torch.no_grad():
            weight = torch.from_numpy(pca.components_.astype(np.float32))  # (d, d), rows = axes
            head.linear.weight.copy_(weight)
            head.linear.bias.copy_(-weight @ torch.from_numpy(pca.mean_.astype(np.float32)))
        return head

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, d) → (B, d)."""
        return self.linear(embeddings)


@dataclass
class TrainedHead:
    """What :func:`train_head` returns: the trained head and its history."""

    head: ProjectionHead
    losses: list  # the loss of every batch, in order
    seconds: float


def train_head(query_embeddings, key_embeddings, dims=None, *, weights=None, epochs: int = 10,
               batch_size: int = 64, temperature: float = 0.05, learning_rate: float = 3e-4,
               seed: int = 0, init: str = "identity", progress_bar: bool = True) -> TrainedHead:
    """Train a :class:`ProjectionHead` on (query, key) embedding pairs with Adam.

    ``key_embeddings[i]`` is the positive of ``query_embeddings[i]`` (both (n, d), frozen model
    outputs); the same head maps both. ``dims=None`` trains with plain InfoNCE at full
    dimension (:func:`embedlab.contrastive.info_nce`); a list of prefix lengths trains with
    :func:`matryoshka_loss` over them (``weights`` as there). Each epoch shuffles the pairs
    (with ``seed``) into batches of ``batch_size``, leaving out the remainder, as
    :func:`embedlab.contrastive.train_encoder` does. ``init`` is where the head starts:
    ``"identity"`` (the frozen model itself) or ``"pca"`` (:meth:`ProjectionHead.from_pca`
    fitted on the training queries and keys together, so prefixes start in order of variance);
    neither involves randomness. Deterministic: PyTorch runs on one thread, so the same arguments give the same
    head, bit for bit. Book: Chapter 5, "Train it".
    """
    contrastive._check_temperature(temperature)
    queries = contrastive._as_matrix(query_embeddings, "query_embeddings").detach().float()
    keys = contrastive._as_matrix(key_embeddings, "key_embeddings").detach().float()
    if queries.shape != keys.shape:
        raise ValueError(f"query_embeddings {tuple(queries.shape)} and key_embeddings {tuple(keys.shape)} "
                         "must have the same shape (n, d): one key per query")
    if len(queries) < 2 or batch_size < 2:
        raise ValueError(f"need at least 2 pairs and batch_size >= 2, got {len(queries)} pairs, batch_size={batch_size}")
    if dims is not None:
        dims = [_check_dim(dim, queries.shape[1]) for dim in dims]
    if init == "identity":
        head = ProjectionHead(queries.shape[1])
    elif init == "pca":
        head = ProjectionHead.from_pca(torch.cat([queries, keys]).numpy())
    else:
        raise ValueError(f"init must be 'identity' or 'pca', got {init!r}")
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate)
    batches = list(contrastive._batches(len(queries), batch_size, epochs, np.random.default_rng(seed)))
    losses = []
    started = time.perf_counter()
    with contrastive._one_thread(), progress.bar(description="training the head", unit=" batches",
                                                 total=len(batches), enabled=progress_bar) as bar:
        for batch in batches:
            batch = torch.from_numpy(batch)
            q, k = head(queries[batch]), head(keys[batch])  # (B, d) each
            if dims is None:
                loss = contrastive.info_nce(q, k, temperature)
            else:
                loss = matryoshka_loss(q, k, dims, weights, temperature)
            contrastive._descend(optimizer, loss, losses, bar)
    return TrainedHead(head, losses, time.perf_counter() - started)


def project(head: ProjectionHead, embeddings) -> np.ndarray:
    """The head's outputs (n, d) for embeddings (n, d), float32 numpy, not normalised (truncate
    first, then normalise: :func:`truncate`). Book: Chapter 5, "Train it"."""
    with torch.no_grad(), contrastive._one_thread():
        return head(contrastive._as_matrix(embeddings, "embeddings").float()).numpy()


def pca_embeddings(fit_embeddings, *embeddings) -> list[np.ndarray]:
    """The baseline without training: PCA fitted on ``fit_embeddings``, then each array of
    ``embeddings`` expressed in its components, largest variance first (scikit-learn's ``PCA``).

    PCA components are nested, so the first m coordinates of the result are exactly PCA to m
    dimensions: :func:`prefix_report` on them compares PCA with Matryoshka prefixes. Nothing
    is random (a full SVD, as in :meth:`ProjectionHead.from_pca`). Book: Chapter 5, "Train it".
    """
    from sklearn.decomposition import PCA

    pca = PCA(svd_solver="full").fit(np.asarray(fit_embeddings, dtype=np.float32))
    return [pca.transform(np.asarray(e, dtype=np.float32)).astype(np.float32) for e in embeddings]


def quantisation_report(query_embeddings, doc_embeddings, relevant, dims,
                        value_types=("float32", "int8", "binary")) -> pd.DataFrame:
    """Truncation and quantisation together: for each prefix m in ``dims`` and each value type,
    the bytes one stored vector takes (:func:`storage_bytes`) and the MRR of ranking every
    document for every query. Documents are stored quantised, queries stay float: float32
    ranks by cosine of the truncated vectors; int8 by q · (s ⊙ c) with the scales fitted on the
    documents (:func:`fit_int8`); binary by Hamming distance between sign codes, fewest
    differing bits first (:func:`binary_codes`, :func:`hamming_distances`), ties by document
    order. Rows (dimensions, value type). Book: Chapter 5, "Beyond truncation: quantisation"."""
    rows = {}
    for dim in dims:
        queries, documents = truncate(query_embeddings, dim), truncate(doc_embeddings, dim)
        for value_type in value_types:
            if value_type == "float32":
                scores = queries @ documents.T
            elif value_type == "int8":
                quantizer = fit_int8(documents)
                scores = quantizer.scores(queries, quantizer.quantize(documents))
            elif value_type == "binary":
                scores = -hamming_distances(binary_codes(queries), binary_codes(documents))
            else:
                raise ValueError(f"unknown value type {value_type!r}; choose float32, int8 or binary")
            rankings = np.argsort(-scores, axis=1, kind="stable")
            rows[dim, value_type] = {"bytes per vector": storage_bytes(1, dim, value_type),
                                     "held-out MRR": contrastive.mrr(rankings, relevant)}
    return pd.DataFrame(rows).T.rename_axis(["dimensions", "value type"])


def prefix_report(query_embeddings, doc_embeddings, relevant, dims, k: int = 10) -> pd.DataFrame:
    """Retrieval quality of the first m coordinates for each m in ``dims``: one row per m with
    MRR and recall@``k``, ranking every document by cosine of the truncated vectors
    (:func:`truncate`, :func:`embedlab.contrastive.rank`). Book: Chapter 5, "Train it".
    """
    rows = []
    for dim in dims:
        rankings = contrastive.rank(truncate(query_embeddings, dim), truncate(doc_embeddings, dim))
        rows.append({"dim": dim, "MRR": contrastive.mrr(rankings, relevant),
                     f"recall@{k}": contrastive.recall_at_k(rankings, relevant, k)})
    return pd.DataFrame(rows).set_index("dim")
