"""Chapter 5, "Two-stage search": a short Matryoshka prefix shortlists candidates, the full vector
rescores them (the adaptive retrieval of Kusupati et al. 2022), exact in the limit and measured
against exact search on synthetic vectors that keep a real model's spectrum.
"""

from __future__ import annotations

import itertools
import time

import faiss
import numpy as np
import pandas as pd

from embedlab.matryoshka import check_prefix_dim, truncate
from embedlab.metrics import recall_at_k
from embedlab.search import as_float32_matrix, exact_search, largest, top_k


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
    set as ``largest(prefix_queries @ prefix_index.T, size)`` (up to ties at the last score).

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
        return largest(scores, size)
    in_sample = size * first / n  # μ
    rank = min(size, int(np.ceil(in_sample + 4 * np.sqrt(in_sample))) + 1)
    bar = np.take_along_axis(scores, largest(scores, rank), axis=1).min(axis=1, keepdims=True)  # (n_q, 1): r-th best
    blocks = itertools.chain([(0, scores)], ((start, prefix_queries @ prefix_index[start : start + block_size].T)
                                             for start in range(first, n, block_size)))  # scored one by one
    rows, ids, values = [], [], []  # of the scores that clear the bar
    n_kept = 0
    for start, scores in blocks:
        hits = np.flatnonzero(scores >= bar)
        n_kept += len(hits)
        if n_kept > 8 * size * n_queries:  # ties at the bar, or a sample that is not random
            return largest(prefix_queries @ prefix_index.T, size)
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
        best = largest(kept_scores[enough], size)
        shortlist[enough] = np.take_along_axis(kept_ids[enough], best, axis=1)
    if not enough.all():  # the bar was above these queries' size-th score: select over all of theirs
        shortlist[~enough] = largest(prefix_queries[~enough] @ prefix_index.T, size)
    return shortlist


def _checked_queries(queries, n: int, full_dim: int, shortlist_size: int, k: int) -> np.ndarray:
    """The queries as a float32 matrix, after the checks both two-stage indexes make on an index
    of n vectors of ``full_dim`` dimensions: at least one query, the index's dimension, and
    1 <= k <= shortlist_size <= n."""
    queries = as_float32_matrix(queries, "queries")
    if len(queries) == 0:
        raise ValueError("there are no queries to search for")
    if queries.shape[1] != full_dim:
        raise ValueError(f"dimension mismatch: queries have {queries.shape[1]} dimensions, the index {full_dim}")
    if not 1 <= k <= shortlist_size <= n:
        raise ValueError(f"need 1 <= k <= shortlist_size <= number of indexed vectors ({n}), "
                         f"got k={k}, shortlist_size={shortlist_size}")
    return queries


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
        self.full = np.ascontiguousarray(as_float32_matrix(index_full, "index_full"))  # (n, D)
        n, full_dim = self.full.shape
        self.shortlist_dim = check_prefix_dim(shortlist_dim, full_dim)
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
        queries = _checked_queries(queries, *self.full.shape, shortlist_size, k)
        n = len(self.full)
        if block_size is None:
            block_size = max(2**19 // len(queries), 1)
        if shortlist_size == n:  # everything is shortlisted: one product for the batch
            return exact_search(queries, self.full, k)
        positions = _shortlist(truncate(queries, self.shortlist_dim), self.prefix, shortlist_size, block_size)
        shortlist = np.sort(self.order[positions], axis=1)  # (n_q, s), ascending rows read memory in order
        full_scores = np.stack([np.take(self.full, rows, axis=0) @ query
                                for rows, query in zip(shortlist, queries)])  # (n_q, s)
        positions, scores = top_k(full_scores, k)
        return np.take_along_axis(shortlist, positions, axis=1), scores


class PrefixGraphIndex:
    """Adaptive retrieval with a graph index: approximate search over the Matryoshka prefixes,
    exact rescoring with the full vectors (Kusupati et al. 2022, "adaptive retrieval").

    Stage 1 is an HNSW graph (Malkov & Yashunin 2020), FAISS's ``IndexHNSWFlat`` with inner
    product, over the unit-length prefixes x[:m] / ‖x[:m]‖: it returns an approximate
    shortlist of the ``shortlist_size`` best prefix cosines, walking the graph with a queue
    of ``ef_search`` candidates (at least the shortlist size). Stage 2 computes the exact full
    inner products q · x of the shortlist and keeps the ``k`` best. FAISS is used for the graph
    because the book does not teach HNSW and FAISS's is the reference implementation; the
    graph holds m of the D coordinates, so it needs about m/D of the memory of a graph over
    the full vectors, while the full vectors are read only for s rows per query (a deployment
    can leave them on disk, memory-mapped; here FAISS keeps a copy in memory).
    ``graph_degree`` is HNSW's M (links per node) and ``ef_construction`` the queue size
    while building; FAISS builds with as many threads as OpenMP allows (one thread builds
    the same graph every time). ``graph``, when given, is such a graph already built over
    these vectors' prefixes (say, loaded from disk); ``graph_degree`` and
    ``ef_construction`` are then not used.

    Both stages run inside FAISS, one call per batch: the query's prefix is cut and scaled to
    length 1 by FAISS's ``RemapDimensionsTransform`` and ``NormalizationTransform``, and the
    shortlist is rescored by ``IndexRefine`` over an exact ``IndexFlatIP`` of the full
    vectors (its ``k_factor`` is s / k), so no Python runs per query. Book: Chapter 5,
    "Two-stage search with a graph index".

    >>> index = PrefixGraphIndex(np.array([[1, 0, 0], [0, 0.6, 0.8], [0.6, 0, 0.8]]), shortlist_dim=2)
    >>> index.search(np.array([0.6, 0, 0.8]), shortlist_size=2, k=1)[0].tolist()
    [[2]]
    """

    def __init__(self, index_full, shortlist_dim: int, graph_degree: int = 32, ef_construction: int = 40,
                 graph=None):
        full = np.ascontiguousarray(as_float32_matrix(index_full, "index_full"))  # (n, D)
        self.n, self.full_dim = full.shape
        self.shortlist_dim = check_prefix_dim(shortlist_dim, self.full_dim)
        if graph is None:
            if graph_degree < 2 or ef_construction < 1:
                raise ValueError(f"need graph_degree >= 2 and ef_construction >= 1, got {graph_degree}, {ef_construction}")
            graph = faiss.IndexHNSWFlat(self.shortlist_dim, graph_degree, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = ef_construction
            graph.add(np.ascontiguousarray(truncate(full, self.shortlist_dim)))
        elif (graph.d, graph.ntotal, graph.metric_type) != (self.shortlist_dim, self.n, faiss.METRIC_INNER_PRODUCT):
            raise ValueError(f"graph must be an inner-product index of the {self.n:,} vectors' {self.shortlist_dim}-d "
                             f"prefixes, got {graph.ntotal:,} vectors of {graph.d} dimensions")
        self.graph = graph
        # The pieces are kept as attributes: FAISS's wrappers do not own the indexes they wrap.
        self._prefix = faiss.RemapDimensionsTransform(self.full_dim, self.shortlist_dim, False)  # q[:m]
        self._unit = faiss.NormalizationTransform(self.shortlist_dim, 2.0)  # q[:m] / ‖q[:m]‖
        self._stage_1 = faiss.IndexPreTransform(self._unit, self.graph)
        self._stage_1.prepend_transform(self._prefix)
        self._full = faiss.IndexFlatIP(self.full_dim)
        self._full.add(full)
        self._two_stage = faiss.IndexRefine(self._stage_1, self._full)

    @property
    def graph_bytes(self) -> int:
        """Bytes of the prefix graph (the prefixes and the links), as FAISS serialises it."""
        return faiss.serialize_index(self.graph).nbytes

    def search(self, queries, shortlist_size: int, k: int, ef_search: int | None = None):
        """The ``k`` best rows for each query (n_q, D) among an approximate shortlist of
        ``shortlist_size`` by prefix cosine: (indices, scores), both (n_q, k), best first; the
        scores are the exact full inner products. ``ef_search`` (default and minimum: the
        shortlist size) trades time for a shortlist closer to the exact one. Where the graph
        returns fewer than k rows, the rest are -1 with score -inf."""
        queries = _checked_queries(queries, self.n, self.full_dim, shortlist_size, k)
        graph_parameters = faiss.SearchParametersHNSW(efSearch=max(ef_search or shortlist_size, shortlist_size))
        parameters = faiss.IndexRefineSearchParameters(
            k_factor=(shortlist_size + 0.5) / k,  # FAISS shortlists int(k · k_factor) rows, in float32: s
            base_index_params=faiss.SearchParametersPreTransform(index_params=graph_parameters))
        scores, indices = self._two_stage.search(queries, k, params=parameters)
        scores[indices < 0] = -np.inf  # FAISS fills missing rows with -FLT_MAX
        return indices, scores


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

    queries, index = as_float32_matrix(queries, "queries"), as_float32_matrix(index, "index")  # converted once, not per batch
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
                    ms = min(ms, ms_per_query(lambda batch, engine=two_stage, size=size: engine.search(batch, size, k)))
                rows.append({"prefix m": m, "shortlist s": size,
                             f"recall@{k}": recall_at_k(found, [set(row) for row in exact], k),
                             "ms per query": ms})
    report = pd.DataFrame(rows).set_index(["prefix m", "shortlist s"])
    report["exact ms per query"] = exact_ms
    report["speed-up"] = exact_ms / report["ms per query"]
    return report


def speedup_by_batch_size(queries, index, dim: int, shortlist_size: int, batch_sizes, k: int = 10,
                          repeats: int = 2) -> pd.DataFrame:
    """How the speed-up of two-stage search over exact search depends on the batch size: one
    :func:`two_stage_report` row (prefix ``dim``, shortlist ``shortlist_size``) per batch size,
    indexed by ``batch size``, with recall@k, the milliseconds per query of both and the
    speed-up.

    A batch of queries turns exact search into one matrix product, which reuses every indexed
    vector across the batch and runs near the processor's peak; one query at a time, it reads
    the whole index per query and waits on memory. The prefix product reads m/D of it, so its
    advantage is largest for small batches. Recall does not depend on the batch size.
    Book: Chapter 5, "Two-stage search".
    """
    batch_sizes = list(batch_sizes)
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch_sizes must be positive integers, got {batch_sizes}")
    rows = [two_stage_report(queries, index, [dim], [shortlist_size], k, batch_size=size, repeats=repeats)
            .reset_index(drop=True).assign(**{"batch size": size}) for size in batch_sizes]
    return pd.concat(rows).set_index("batch size")


#: FAISS's flat search switches to a BLAS matrix product when (queries × dimensions) reaches
#: ``faiss.cvar.distance_compute_blas_threshold``; faiss-cpu 1.15 ships 128,000 (tuned for many
#: threads, facebookresearch/faiss#5022), so one thread searching batches of 100 384-d queries
#: takes the slow path. 800 is the crossover FAISS's maintainers measured on one thread
#: (facebookresearch/faiss#5109): BLAS from 3 queries of 384-d up, not for one query.
FAISS_BLAS_THRESHOLD_ONE_THREAD = 800


def one_thread_faiss():
    """FAISS configured as its maintainers recommend for one thread: one OpenMP thread and
    the BLAS threshold :data:`FAISS_BLAS_THRESHOLD_ONE_THREAD`. Returns a function that
    restores the previous settings."""
    threads, threshold = faiss.omp_get_max_threads(), faiss.cvar.distance_compute_blas_threshold
    faiss.omp_set_num_threads(1)
    faiss.cvar.distance_compute_blas_threshold = FAISS_BLAS_THRESHOLD_ONE_THREAD

    def restore():
        faiss.omp_set_num_threads(threads)
        faiss.cvar.distance_compute_blas_threshold = threshold

    return restore


def search_engines(queries, index, k: int = 10, shortlist_dim: int = 64, shortlist_size: int = 200,
                   prefix_ef: int = 200, full_ef: int = 128, graph_degree: int = 32, ef_construction: int = 40,
                   batch_size: int = 100, repeats: int = 3) -> pd.DataFrame:
    """Four ways to find the ``k`` best rows of ``index`` (n, D) for each query, on one thread,
    one row each: exact search in NumPy (:func:`exact_search`), FAISS's exact ``IndexFlatIP``,
    FAISS's HNSW graph (``IndexHNSWFlat``, inner product) over the full vectors, and a graph
    over the ``shortlist_dim``-d prefixes with exact rescoring of ``shortlist_size`` rows
    (:class:`PrefixGraphIndex`). Both graphs have ``graph_degree`` links per node and are built
    with ``ef_construction``; they search with ``full_ef`` and ``prefix_ef`` candidates.

    Columns: recall@k against exact search, milliseconds per query and queries per second
    (batches of ``batch_size``, the best of ``repeats`` passes, the engines alternating so that
    load from other processes hits all alike), build seconds, and the megabytes each keeps in
    memory to search (FAISS's serialised index; for the prefix graph the graph alone: its
    rescoring reads ``shortlist_size`` full vectors per query, which may stay on disk).
    FAISS runs as :func:`one_thread_faiss` sets it. Book: Chapter 5, "Two-stage search with a
    graph index".
    """
    from threadpoolctl import threadpool_limits

    queries, index = as_float32_matrix(queries, "queries"), np.ascontiguousarray(as_float32_matrix(index, "index"))
    restore = one_thread_faiss()
    try:
        with threadpool_limits(limits=1):
            engines, build_s, megabytes = {}, {}, {}

            def built(name, build):
                started = time.perf_counter()
                engine = build()
                build_s[name] = time.perf_counter() - started
                return engine

            full_dim = index.shape[1]
            engines[f"exact, NumPy ({full_dim}-d)"] = lambda q: exact_search(q, index, k)
            build_s[f"exact, NumPy ({full_dim}-d)"], megabytes[f"exact, NumPy ({full_dim}-d)"] = 0.0, index.nbytes / 1e6

            def flat_index():
                flat = faiss.IndexFlatIP(full_dim)
                flat.add(index)
                return flat

            flat = built("FAISS flat (exact)", flat_index)
            engines["FAISS flat (exact)"] = lambda q: flat.search(q, k)[::-1]

            def graph_index():
                graph = faiss.IndexHNSWFlat(full_dim, graph_degree, faiss.METRIC_INNER_PRODUCT)
                graph.hnsw.efConstruction = ef_construction
                graph.add(index)
                graph.hnsw.efSearch = full_ef
                return graph

            name = f"FAISS HNSW, {full_dim}-d (ef {full_ef})"
            graph = built(name, graph_index)
            engines[name] = lambda q: graph.search(q, k)[::-1]
            prefix_name = f"HNSW, {shortlist_dim}-d prefix (ef {max(prefix_ef, shortlist_size)}) + rescoring {shortlist_size}"
            prefix = built(prefix_name, lambda: PrefixGraphIndex(index, shortlist_dim, graph_degree, ef_construction))
            engines[prefix_name] = lambda q: prefix.search(q, shortlist_size, k, prefix_ef)
            megabytes["FAISS flat (exact)"] = faiss.serialize_index(flat).nbytes / 1e6
            megabytes[name] = faiss.serialize_index(graph).nbytes / 1e6
            megabytes[prefix_name] = prefix.graph_bytes / 1e6

            batches = [queries[i : i + batch_size] for i in range(0, len(queries), batch_size)]
            exact = np.vstack([exact_search(batch, index, k)[0] for batch in batches])
            relevant = [set(row) for row in exact]
            ms = dict.fromkeys(engines, np.inf)
            recall = {}
            for name, engine in engines.items():
                recall[name] = recall_at_k(np.vstack([engine(batch)[0] for batch in batches]), relevant, k)
            for _ in range(repeats):
                for name, engine in engines.items():
                    started = time.perf_counter()
                    for batch in batches:
                        engine(batch)
                    ms[name] = min(ms[name], (time.perf_counter() - started) * 1e3 / len(queries))
    finally:
        restore()
    table = pd.DataFrame({f"recall@{k}": recall, "ms per query": ms, "build s": build_s, "memory MB": megabytes})
    table.insert(2, "queries per second", 1e3 / table["ms per query"])
    return table
