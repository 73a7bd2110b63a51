"""two_stage.PrefixGraphIndex and two_stage.search_engines against exact NumPy search, a
hand-worked example and the mistake of trusting the prefix scores without rescoring."""

import faiss
import numpy as np
import pytest
from embedlab import matryoshka, metrics, search, two_stage


def matryoshka_like(n: int, dim: int = 48, seed: int = 0) -> np.ndarray:
    """Unit vectors whose variance falls with the coordinate (from 1 to 0.05), drawn around
    300 fixed centres: the first coordinates tell the centre, the rest the neighbours within
    it, as in a Matryoshka model's vectors."""
    rng = np.random.default_rng(seed)
    decay = np.geomspace(1, 0.05, dim)
    centres = np.random.default_rng(99).standard_normal((300, dim)) * decay
    vectors = centres[rng.integers(300, size=n)] + 0.6 * rng.standard_normal((n, dim)) * decay
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def rescored_exactly(index, vectors, queries, shortlist_size: int, k: int) -> bool:
    """Whether the k rows ``index`` returns are the k best of the graph's shortlist by the full
    inner product, and their scores those inner products (computed here with NumPy in float64)."""
    found, scores = index.search(queries, shortlist_size=shortlist_size, k=k)
    prefixes = np.ascontiguousarray(matryoshka.truncate(queries, index.shortlist_dim))
    shortlist = index.graph.search(prefixes, shortlist_size, params=faiss.SearchParametersHNSW(efSearch=shortlist_size))[1]
    for query, rows, row_found, row_scores in zip(queries, shortlist, found, scores):
        full = vectors[rows].astype(np.float64) @ query
        if not (np.allclose(row_scores, np.sort(full)[::-1][:k], rtol=1e-5)
                and np.allclose(vectors[row_found].astype(np.float64) @ query, row_scores, rtol=1e-5)
                and set(row_found) <= set(rows)):
            return False
    return True


def test_rescoring_is_exact_over_the_shortlist():
    vectors = matryoshka_like(1_500)
    queries = matryoshka_like(20, seed=1)
    index = two_stage.PrefixGraphIndex(vectors, shortlist_dim=12, graph_degree=16)
    assert rescored_exactly(index, vectors, queries, shortlist_size=60, k=5)


def test_the_check_rejects_rescoring_on_the_prefix():
    """The mistake of rescoring with the prefixes instead of the full vectors: the same graph
    over the same prefixes, but the vectors behind it have their last coordinates zeroed."""
    vectors = matryoshka_like(1_500)
    queries = matryoshka_like(20, seed=1)
    index = two_stage.PrefixGraphIndex(vectors, shortlist_dim=12, graph_degree=16)
    prefix_only = vectors.copy()
    prefix_only[:, 12:] = 0
    mistaken = two_stage.PrefixGraphIndex(prefix_only, shortlist_dim=12, graph=index.graph)
    assert not rescored_exactly(mistaken, vectors, queries, shortlist_size=60, k=5)


def test_a_graph_built_before_is_used_as_it_is():
    vectors = matryoshka_like(1_000)
    queries = matryoshka_like(10, seed=5)
    built = two_stage.PrefixGraphIndex(vectors, shortlist_dim=12, graph_degree=16)
    loaded = two_stage.PrefixGraphIndex(vectors, 12, graph=faiss.deserialize_index(faiss.serialize_index(built.graph)))
    np.testing.assert_array_equal(loaded.search(queries, 50, 5)[0], built.search(queries, 50, 5)[0])
    with pytest.raises(ValueError, match="prefixes"):
        two_stage.PrefixGraphIndex(vectors, 16, graph=built.graph)
    with pytest.raises(ValueError, match="prefixes"):
        two_stage.PrefixGraphIndex(vectors[:500], 12, graph=built.graph)


def test_with_everything_shortlisted_it_is_exact_search():
    vectors = matryoshka_like(200)
    queries = matryoshka_like(10, seed=2)
    index = two_stage.PrefixGraphIndex(vectors, shortlist_dim=8, graph_degree=8)
    found, scores = index.search(queries, shortlist_size=200, k=10, ef_search=400)
    exact, exact_scores = search.exact_search(queries, vectors, 10)
    np.testing.assert_array_equal(found, exact)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-5)


def test_rescoring_recovers_what_the_prefix_alone_misses():
    """Against exact full search: a 12-d prefix graph and a shortlist of 100 find nearly all of
    the top 10; the prefix graph's own top 10 (the mistake of skipping stage 2) far fewer."""
    vectors = matryoshka_like(3_000)
    queries = matryoshka_like(100, seed=3)
    exact = [set(row) for row in search.exact_search(queries, vectors, 10)[0]]
    index = two_stage.PrefixGraphIndex(vectors, shortlist_dim=12, graph_degree=16)
    rescored = metrics.recall_at_k(index.search(queries, 100, 10)[0], exact, 10)
    prefix_only = index.graph.search(np.ascontiguousarray(matryoshka.truncate(queries, 12)), 10)[1]
    assert rescored >= 0.9
    assert metrics.recall_at_k(prefix_only, exact, 10) < rescored - 0.2


def test_graph_memory_is_a_prefix_share_of_the_full_graph():
    vectors = matryoshka_like(2_000, dim=96)
    small = two_stage.PrefixGraphIndex(vectors, shortlist_dim=16, graph_degree=8)
    large = two_stage.PrefixGraphIndex(vectors, shortlist_dim=96, graph_degree=8)
    links = large.graph_bytes - 2_000 * 96 * 4  # what the graph adds to the vectors
    assert small.graph_bytes == pytest.approx(2_000 * 16 * 4 + links, rel=0.05)


def test_bad_input_is_refused():
    vectors = matryoshka_like(50)
    with pytest.raises(ValueError, match="graph_degree"):
        two_stage.PrefixGraphIndex(vectors, 8, graph_degree=1)
    index = two_stage.PrefixGraphIndex(vectors, 8, graph_degree=8)
    with pytest.raises(ValueError, match="shortlist_size"):
        index.search(vectors[:2], shortlist_size=5, k=10)
    with pytest.raises(ValueError, match="dimension mismatch"):
        index.search(vectors[:2, :8], shortlist_size=20, k=10)


def test_search_engines_table_and_faiss_settings_restored():
    vectors = matryoshka_like(2_000)
    queries = matryoshka_like(50, seed=4)
    threads, threshold = faiss.omp_get_max_threads(), faiss.cvar.distance_compute_blas_threshold
    table = two_stage.search_engines(queries, vectors, k=10, shortlist_dim=12, shortlist_size=100, prefix_ef=100,
                                     full_ef=64, graph_degree=16, batch_size=25, repeats=1)
    assert (faiss.omp_get_max_threads(), faiss.cvar.distance_compute_blas_threshold) == (threads, threshold)
    assert list(table.columns) == ["recall@10", "ms per query", "queries per second", "build s", "memory MB"]
    assert table["recall@10"].iloc[0] == 1.0 and table["recall@10"].iloc[1] > 0.99  # exact, FAISS flat
    assert table["recall@10"].iloc[3] >= 0.9
    assert table["memory MB"].iloc[0] == vectors.nbytes / 1e6
    np.testing.assert_allclose(table["queries per second"] * table["ms per query"], 1e3)


def test_the_shortlist_has_all_the_rows_asked_for():
    """FAISS shortlists int(k · k_factor) rows, k_factor a float32: with k_factor = s / k,
    11 · (13 / 11) rounds down to 12, and with 13 vectors one would never be scored. All must be."""
    vectors = matryoshka_like(13)
    queries = matryoshka_like(10, seed=6)
    index = two_stage.PrefixGraphIndex(vectors, shortlist_dim=8, graph_degree=4)
    np.testing.assert_array_equal(index.search(queries, shortlist_size=13, k=11, ef_search=50)[0],
                                  search.exact_search(queries, vectors, 11)[0])
