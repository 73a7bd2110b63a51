"""embedlab.pmi against double loops, dense NumPy formulas, numpy.linalg.svd, word2vec's own
context windows, hand-worked examples, and a trained SGNS model."""

import doctest

import numpy as np
import pytest
from embedlab import analogy, data, pmi, word2vec, word_similarity
from embedlab.vectors import WordVectors
from scipy import sparse


def random_corpus(rng, vocabulary_size=12, n_sentences=30):
    """Encoded sentences of 1 to 14 words, some shorter than the window."""
    return [rng.integers(0, vocabulary_size, size=rng.integers(1, 15)) for _ in range(n_sentences)]


def counts_by_double_loop(sentences, vocabulary_size, window, dynamic_window):
    """For every position i and every j ≠ i within the window, add one (or the dynamic weight)."""
    counts = np.zeros((vocabulary_size, vocabulary_size))
    for sentence in sentences:
        for i, word in enumerate(sentence):
            for j, context in enumerate(sentence):
                distance = abs(i - j)
                if 1 <= distance <= window:
                    counts[word, context] += (window - distance + 1) / window if dynamic_window else 1
    return counts


def pmi_dense(counts, shift, positive, alpha):
    """PMI_α(w, c) − log k for a dense matrix, every entry, in the textbook form:
    log( P(w, c) / (P(w) · P_α(c)) ) − log k, with −∞ where the count is 0. A context never
    seen has P_α(c) = 0 (not 0^0 = 1 when α = 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    joint = counts / counts.sum()
    word_probability = joint.sum(axis=1, keepdims=True)
    context_totals = counts.sum(axis=0)
    context_weight = np.where(context_totals > 0, context_totals**alpha, 0.0)
    context_probability = context_weight / context_weight.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.log(joint / (word_probability * context_probability)) - np.log(shift)
    result[counts == 0] = -np.inf
    return np.maximum(result, 0.0) if positive else result


# ---------------------------------------------------------------------------------------------
# Counting


@pytest.mark.parametrize("dynamic_window", [False, True])
@pytest.mark.parametrize("window", [1, 3, 20])
def test_counts_equal_a_double_loop(window, dynamic_window):
    sentences = random_corpus(np.random.default_rng(window))
    counts = pmi.cooccurrence_counts(sentences, 12, window, dynamic_window=dynamic_window)
    assert isinstance(counts, sparse.csr_matrix) and counts.shape == (12, 12)
    expected = counts_by_double_loop(sentences, 12, window, dynamic_window)
    np.testing.assert_allclose(counts.toarray(), expected, rtol=1e-12)
    np.testing.assert_array_equal(counts.toarray(), counts.toarray().T)


def test_counts_of_a_word_are_chapter_2s_context_counts():
    """Row w of the flat counts is word2vec.context_counts(sentences, w), found by another route."""
    sentences = word2vec.sentences_of(["The cat sat on the mat. The dog sat on the cat!", "A dog and a cat."])
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    counts = pmi.cooccurrence_counts(vocabulary.encode(sentences), len(vocabulary), window=2, dynamic_window=False)
    for word in ["the", "cat", "sat", "dog"]:
        row = counts[vocabulary.index[word]]
        ours = {vocabulary.words[c]: n for c, n in zip(row.indices, row.data)}
        assert ours == dict(word2vec.context_counts(sentences, word, window=2))


def test_dynamic_weights_are_word2vecs_average_over_shrunk_windows():
    """word2vec draws each centre's window from 1 … 5: averaged over many draws, the pairs that
    word2vec.context_pairs(..., rng) makes converge to the dynamic weights (5 − d + 1) / 5."""
    sentence = [f"w{i}" for i in range(8)]
    rng = np.random.default_rng(0)
    draws = 4000
    average = np.zeros((8, 8))
    for _ in range(draws):
        for centre, context in word2vec.context_pairs(sentence, window=5, rng=rng):
            average[int(centre[1:]), int(context[1:])] += 1 / draws
    expected = pmi.cooccurrence_counts([np.arange(8)], 8, window=5, dynamic_window=True).toarray()
    np.testing.assert_allclose(average, expected, atol=0.04)
    assert expected[0, 1] == 1.0 and expected[0, 5] == pytest.approx(0.2) and expected[0, 6] == 0


def test_windows_do_not_cross_sentences_and_skip_dropped_words():
    """'c' is never next to 'd' (another sentence); dropping the rare 'x' makes 'a' and 'b' neighbours."""
    sentences = [["a", "x", "b", "c"], ["d", "a"]]
    vocabulary = word2vec.Vocabulary(["a", "b", "c", "d"], np.array([2, 1, 1, 1]), {"a": 0, "b": 1, "c": 2, "d": 3})
    counts = pmi.cooccurrence_counts(vocabulary.encode(sentences), 4, window=1).toarray()
    assert counts[0, 1] == 1 and counts[2, 3] == 0 and counts[3, 0] == 1


@pytest.fixture(scope="module")
def wikipedia_sentences():
    return word2vec.sentences_of(data.wikipedia_sample())


def test_wikipedia_counts_add_up_to_chapter_2s_pair_count(wikipedia_sentences):
    """About 440,000 tokens in vocabulary, counted in one vectorised pass per window offset."""
    vocabulary = word2vec.build_vocabulary(wikipedia_sentences, min_count=5)
    encoded = vocabulary.encode(wikipedia_sentences)
    counts = pmi.cooccurrence_counts(encoded, len(vocabulary), window=5, dynamic_window=False)
    # Every token pairs with up to 5 words on each side: the total is the pair-count formula of Chapter 2.
    assert counts.sum() == sum(word2vec.count_context_pairs(len(s), 5) for s in encoded)


# ---------------------------------------------------------------------------------------------
# PMI


def test_pmi_hand_worked_example():
    """Words a, b and contexts x, y with counts [[6, 1], [2, 1]]: |D| = 10, #(a) = 7, #(b) = 3,
    #(x) = 8, #(y) = 2.

    Without smoothing (α = 1), PMI = log(#(w, c) · |D| / (#(w) · #(c))):
    (a, x) = log(60 / 56) = 0.068993, (a, y) = log(10 / 14) = −0.336472,
    (b, x) = log(20 / 24) = −0.182322, (b, y) = log(10 / 6) = 0.510826.

    With α = 0.5, P_α(x) = √8 / (√8 + √2) = 2/3 and P_α(y) = 1/3, and PMI = log(#(w, c) / (#(w) · P_α(c))):
    (a, x) = log(6 / (7 · 2/3)) = log(9/7) = 0.251314, (a, y) = log(1 / (7/3)) = log(3/7) = −0.847298,
    (b, x) = log(2 / 2) = 0, (b, y) = log(1 / 1) = 0. Smoothing made the rare context y less surprising.
    Shifting by k = 2 subtracts log 2 = 0.693147 everywhere; keeping the positive part leaves (a, x) alone.
    """
    counts = sparse.csr_matrix([[6.0, 1.0], [2.0, 1.0]])
    plain = pmi.pmi_matrix(counts, shift=1, positive=False, context_smoothing=1.0).toarray()
    np.testing.assert_allclose(plain, [[0.068993, -0.336472], [-0.182322, 0.510826]], atol=1e-6)
    smoothed = pmi.pmi_matrix(counts, shift=1, positive=False, context_smoothing=0.5).toarray()
    np.testing.assert_allclose(smoothed, [[0.251314, -0.847298], [0, 0]], atol=1e-6)
    shifted = pmi.pmi_matrix(counts, shift=2, positive=False, context_smoothing=0.5).toarray()
    np.testing.assert_allclose(shifted, smoothed - 0.693147, atol=1e-6)
    positive = pmi.pmi_matrix(counts, shift=1, positive=True, context_smoothing=0.5)
    assert positive.nnz == 1 and positive[0, 0] == pytest.approx(0.251314, abs=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 0.75, 0.0])
@pytest.mark.parametrize("shift", [1.0, 5.0])
def test_pmi_equals_the_dense_formula(shift, alpha):
    rng = np.random.default_rng(7)
    counts = rng.poisson(1.0, size=(15, 12)).astype(float)  # about a third unobserved
    counts[:, 3] = 0  # a context never seen
    dense = pmi_dense(counts, shift, positive=False, alpha=alpha)
    observed = counts > 0
    result = pmi.pmi_matrix(sparse.csr_matrix(counts), shift=shift, positive=False, context_smoothing=alpha)
    np.testing.assert_allclose(result.toarray()[observed], dense[observed], rtol=1e-12, atol=1e-12)
    stored = result.copy()
    stored.data[:] = 1
    assert np.array_equal(stored.toarray() == 1, observed)  # the observed pairs, and only those, are stored
    positive = pmi.pmi_matrix(sparse.csr_matrix(counts), shift=shift, positive=True, context_smoothing=alpha)
    expected = pmi_dense(counts, shift, positive=True, alpha=alpha)
    np.testing.assert_allclose(positive.toarray(), expected, rtol=1e-12, atol=1e-12)
    assert (positive.data > 0).all()  # no stored zeros


def test_a_larger_shift_subtracts_log_k_and_keeps_fewer_pairs():
    counts = pmi.cooccurrence_counts(random_corpus(np.random.default_rng(1), 30, 200), 30, window=3)
    one = pmi.pmi_matrix(counts, shift=1, positive=False)
    five = pmi.pmi_matrix(counts, shift=5, positive=False)
    np.testing.assert_allclose(five.data, one.data - np.log(5))
    kept = [pmi.pmi_matrix(counts, shift=k).nnz for k in (0.5, 1, 2, 5, 20)]
    assert kept == sorted(kept, reverse=True) and kept[0] > kept[-1]
    assert pmi.pmi_matrix(counts, shift=1).nnz == (one.data > 0).sum()


def test_pmi_leaves_its_input_alone():
    counts = sparse.csr_matrix(np.array([[2.0, 0.0], [1.0, 3.0]]))
    counts.data[1] = 0.0  # an explicitly stored zero, which pmi_matrix drops from its own copy
    before = counts.copy()
    pmi.pmi_matrix(counts)
    assert counts.nnz == before.nnz and np.array_equal(counts.data, before.data)


def test_pmi_errors_are_clear():
    counts = sparse.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="shift is the k of log k and must be positive, got 0"):
        pmi.pmi_matrix(counts, shift=0)
    with pytest.raises(ValueError, match="context_smoothing must be between 0 and 1, got 1.5"):
        pmi.pmi_matrix(counts, context_smoothing=1.5)
    with pytest.raises(ValueError, match="counts must not be negative, found -1.0"):
        pmi.pmi_matrix(-counts)
    with pytest.raises(ValueError, match="the count matrix is all zeros"):
        pmi.pmi_matrix(sparse.csr_matrix((3, 3)))


# ---------------------------------------------------------------------------------------------
# SVD


def small_matrix(seed=3, size=(40, 30)):
    rng = np.random.default_rng(seed)
    return sparse.random(*size, density=0.3, random_state=rng, format="csr")


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_svd_vectors_are_numpys_top_singular_vectors(p):
    matrix = small_matrix()
    u, sigma, _ = np.linalg.svd(matrix.toarray())
    vectors = pmi.svd_vectors(matrix, [f"w{i}" for i in range(40)], dim=6, eigenvalue_weight=p).vectors
    expected = u[:, :6] * sigma[:6] ** p
    signs = np.sign((vectors * expected).sum(axis=0))  # a singular vector is defined up to its sign
    np.testing.assert_allclose(vectors, expected * signs, atol=1e-5)


def test_with_p_1_word_similarities_are_the_rank_d_reconstructions():
    """W = U_d Σ_d gives W Wᵀ = M_d M_dᵀ, with M_d = U_d Σ_d V_dᵀ the best rank-d approximation of M."""
    matrix = small_matrix()
    u, sigma, vt = np.linalg.svd(matrix.toarray())
    reconstruction = u[:, :6] @ np.diag(sigma[:6]) @ vt[:6]
    w = pmi.svd_vectors(matrix, [f"w{i}" for i in range(40)], dim=6, eigenvalue_weight=1.0).vectors
    np.testing.assert_allclose(w @ w.T, reconstruction @ reconstruction.T, atol=1e-5)


def test_svd_vectors_are_deterministic_with_fixed_signs():
    matrix, words = small_matrix(), [f"w{i}" for i in range(40)]
    first = pmi.svd_vectors(matrix, words, dim=6, seed=0).vectors
    np.testing.assert_array_equal(first, pmi.svd_vectors(matrix, words, dim=6, seed=0).vectors)
    # Another starting vector, the same singular vectors: the sign rule makes them agree.
    np.testing.assert_allclose(first, pmi.svd_vectors(matrix, words, dim=6, seed=1).vectors, atol=1e-5)
    largest = np.abs(first).argmax(axis=0)
    assert (first[largest, np.arange(6)] > 0).all()


def test_words_with_an_all_zero_row_are_left_out():
    matrix = small_matrix().tolil()
    matrix[5, :] = 0
    vectors = pmi.svd_vectors(matrix.tocsr(), [f"w{i}" for i in range(40)], dim=6)
    assert len(vectors) == 39 and "w5" not in vectors and "w6" in vectors


def test_svd_errors_are_clear():
    words = [f"w{i}" for i in range(40)]
    with pytest.raises(ValueError, match=r"dims \[30\] must each be at least 1 and smaller than the vocabulary size: "
                                         "the matrix is 40 × 30"):
        pmi.svd_vectors(small_matrix(), words, dim=30)
    with pytest.raises(ValueError, match=r"dims \[0\] must each be at least 1"):
        pmi.svd_vectors(small_matrix(), words, dim=0)
    with pytest.raises(ValueError, match="39 words but the matrix has 40 rows"):
        pmi.svd_vectors(small_matrix(), words[:39], dim=5)


# ---------------------------------------------------------------------------------------------
# The pipeline on real text, and SGNS's implicit matrix


def test_pmi_vectors_beat_random_vectors_on_wikipedia(wikipedia_sentences):
    """Measured: WordSim-353 ρ = 0.41 and 9.3% of the analogies in vocabulary (19.6% of them)."""
    vectors = pmi.pmi_vectors(wikipedia_sentences)
    assert vectors.vocabulary.words == word2vec.build_vocabulary(wikipedia_sentences, 5).words
    assert vectors.dim == 100 and set(vectors.seconds) == {"vocabulary", "counts", "pmi", "svd"}
    random = WordVectors(vectors.words, np.random.default_rng(0).normal(size=vectors.vectors.shape))
    ours = word_similarity.evaluate_word_pairs(vectors, data.wordsim353_path()).spearman
    chance = word_similarity.evaluate_word_pairs(random, data.wordsim353_path()).spearman
    assert ours > 0.35 and abs(chance) < 0.15
    answers = analogy.evaluate_analogies(vectors, data.google_analogies_path(), restrict_vocab=30_000)
    assert answers.accuracy > 0.07 and answers.coverage > 0.15  # a random guess is right 1 time in 9,500


def markov_corpus(seed=0, n_words=30, n_sentences=2000, length=20):
    """Sentences from a random Markov chain over a few words: strong, varied word–context PMI."""
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.full(n_words, 0.3), size=n_words)
    sentences = []
    for _ in range(n_sentences):
        state, sentence = rng.integers(n_words), []
        for _ in range(length):
            sentence.append(f"w{state}")
            state = rng.choice(n_words, p=transitions[state])
        sentences.append(sentence)
    return sentences


def test_sgns_learns_the_shifted_pmi_matrix():
    """With as many dimensions as words, SGNS can reach its optimum w · c = PMI_0.75(w, c) − log k
    (Levy & Goldberg 2014), and it does: slope 1, offset −log 5 from the unshifted PMI."""
    sentences = markov_corpus()
    trained = word2vec.train(sentences, dim=30, window=2, negative=5, min_count=1, epochs=30, sample=0,
                             workers=1, seed=1, progress_bar=False)
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    counts = pmi.cooccurrence_counts(vocabulary.encode(sentences), len(vocabulary), window=2)
    pairs = pmi.sgns_pmi_agreement(trained, counts, vocabulary.words, shift=5, n_words=30)
    assert len(pairs) > 500 and (pairs["count"] >= 20).all()
    assert pairs["sgns"].corr(pairs["shifted_pmi"]) > 0.98
    slope, _ = np.polyfit(pairs["shifted_pmi"], pairs["sgns"], 1)
    assert 0.9 < slope < 1.1
    unshifted = pmi.sgns_pmi_agreement(trained, counts, vocabulary.words, shift=1, n_words=30)
    assert (unshifted["sgns"] - unshifted["shifted_pmi"]).mean() == pytest.approx(-np.log(5), abs=0.15)


def test_agreement_pairs_are_the_observed_pairs_of_frequent_words():
    sentences = markov_corpus(n_sentences=200)
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    counts = pmi.cooccurrence_counts(vocabulary.encode(sentences), len(vocabulary), window=2)
    trained = word2vec.train(sentences, dim=8, window=2, min_count=1, epochs=1, workers=1, progress_bar=False)
    pairs = pmi.sgns_pmi_agreement(trained, counts, vocabulary.words, n_words=10, min_pair_count=3)
    frequent = set(vocabulary.words[:10])
    assert set(pairs["word"]) <= frequent and set(pairs["context"]) <= frequent
    expected = sum(counts[i, j] >= 3 for i in range(10) for j in range(10))
    assert len(pairs) == expected
    first = pairs.iloc[0]
    w, c = trained[first["word"]], trained.output_vectors[trained.index(first["context"])]
    assert first["sgns"] == pytest.approx(float(w.astype(np.float64) @ c.astype(np.float64)))
    i, j = vocabulary.index[first["word"]], vocabulary.index[first["context"]]
    assert first["shifted_pmi"] == pytest.approx(pmi.pmi_matrix(counts, shift=5, positive=False)[i, j])


def test_errors_are_clear():
    with pytest.raises(ValueError, match="the corpus is empty"):
        pmi.cooccurrence_counts([], 10)
    with pytest.raises(ValueError, match="the corpus is empty"):
        pmi.cooccurrence_counts([np.array([], dtype=int)], 10)
    with pytest.raises(ValueError, match="the corpus is empty"):
        pmi.pmi_vectors([])
    with pytest.raises(TypeError, match="not strings"):
        pmi.pmi_vectors(["a sentence as a string"])
    with pytest.raises(ValueError, match="window must be at least 1, got 0"):
        pmi.cooccurrence_counts([np.array([0, 1])], 2, window=0)
    with pytest.raises(ValueError, match=r"word indices must lie in 0 … 1 \(vocabulary_size=2\), found 0 … 5"):
        pmi.cooccurrence_counts([np.array([0, 5])], 2)
    sentences = [["a", "b", "c", "a", "b"]] * 3
    with pytest.raises(ValueError, match=r"dims \[3\] must each be at least 1 and smaller than the vocabulary size"):
        pmi.pmi_vectors(sentences, dim=3, min_count=1)
    counts = pmi.cooccurrence_counts([np.array([0, 1, 2])], 3)
    with pytest.raises(ValueError, match=r"counts must be a square matrix with one row per word: \(3, 3\) for 2 words"):
        pmi.sgns_pmi_agreement(None, counts, ["a", "b"])


def test_docstring_examples_are_true():
    assert doctest.testmod(pmi).failed == 0


def test_svd_sweep_gives_each_dimension_what_svd_vectors_gives():
    """The rank-d truncation is a prefix of the rank-D one: one SVD serves every d ≤ D."""
    rng = np.random.default_rng(3)
    matrix = sparse.random(40, 40, density=0.3, random_state=rng, format="csr")
    words = [f"w{i}" for i in range(40)]
    sweep = pmi.svd_sweep(matrix, words, [3, 8, 5])
    assert list(sweep) == [3, 5, 8]
    for dim, vectors in sweep.items():
        alone = pmi.svd_vectors(matrix, words, dim=dim)
        assert vectors.words == alone.words
        np.testing.assert_allclose(np.abs(vectors.vectors), np.abs(alone.vectors), atol=1e-8)
    with pytest.raises(ValueError, match="smaller than the vocabulary size"):
        pmi.svd_sweep(matrix, words, [5, 40])


def test_svd_grid_is_numpys_svd_of_each_shifted_ppmi_matrix():
    """Each (k, d) entry has the Gram matrix W Wᵀ of numpy's rank-d SVD of the dense SPPMI_k
    formula (W = U_d Σ_d, free of the singular vectors' signs); different shifts differ."""
    sentences = markov_corpus(n_sentences=300)
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    counts = pmi.cooccurrence_counts(vocabulary.encode(sentences), len(vocabulary), window=2)
    words = vocabulary.words
    grid = pmi.svd_grid(counts, words, shifts=[1, 5], dims=[2, 4])
    assert list(grid) == [(1, 2), (1, 4), (5, 2), (5, 4)]
    for (k, d), vectors in grid.items():
        dense = pmi_dense(counts.toarray(), k, positive=True, alpha=0.75)
        kept = np.flatnonzero(dense.sum(axis=1) > 0)  # words with an all-zero row are left out
        u, sigma, _ = np.linalg.svd(dense[kept])
        w = u[:, :d] * sigma[:d]
        assert vectors.words == [words[i] for i in kept]
        np.testing.assert_allclose(vectors.vectors @ vectors.vectors.T, w @ w.T, atol=1e-5)  # float32 vectors
    assert not np.allclose(grid[1, 4].vectors[:5], grid[5, 4].vectors[:5])


def test_agreement_line_is_scipys_least_squares_line():
    """Points on y = x give slope 1, intercept 0, r = 1; noisy points give scipy's linregress."""
    import pandas as pd
    from scipy.stats import linregress

    on_the_diagonal = pd.DataFrame({"shifted_pmi": [-1.0, 0.5, 2.0], "sgns": [-1.0, 0.5, 2.0]})
    assert pmi.agreement_line(on_the_diagonal) == pytest.approx({"slope": 1.0, "intercept": 0.0, "r": 1.0})
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    noisy = pd.DataFrame({"shifted_pmi": x, "sgns": 0.6 * x - 1.2 + rng.normal(scale=0.5, size=200)})
    expected = linregress(noisy["shifted_pmi"], noisy["sgns"])
    assert pmi.agreement_line(noisy) == pytest.approx(
        {"slope": expected.slope, "intercept": expected.intercept, "r": expected.rvalue}, rel=1e-10)
    with pytest.raises(ValueError, match="two or more pairs with different PMI values"):
        pmi.agreement_line(on_the_diagonal.iloc[:1])
