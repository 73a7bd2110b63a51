"""embedlab.word2vec against gensim, finite differences and hand-worked examples."""

import numpy as np
import pytest
from embedlab import negative_sampling, text, word2vec, word2vec_kernel
from gensim.models import Word2Vec
from scipy.stats import chisquare


def test_tokenize_and_split_sentences():
    assert text.tokenize("The quick brown fox's 2 jumps!") == ["the", "quick", "brown", "fox's", "2", "jumps"]
    assert word2vec.sentences_of(["One two. Three!\nFour", "  "]) == [["one", "two"], ["three"], ["four"]]


def test_context_pairs_of_a_known_sentence():
    """Window 2 around 'brown' in 'the quick brown fox jumps': the, quick, fox, jumps."""
    sentence = "the quick brown fox jumps".split()
    pairs = word2vec.context_pairs(sentence, window=2)
    assert [c for w, c in pairs if w == "brown"] == ["the", "quick", "fox", "jumps"]
    assert [c for w, c in pairs if w == "the"] == ["quick", "brown"]
    assert len(pairs) == 14 == word2vec.count_context_pairs(5, 2)


def test_shrunk_windows_are_subsets_of_the_full_window():
    sentence = [f"w{i}" for i in range(50)]
    full = set(word2vec.context_pairs(sentence, window=5))
    shrunk = word2vec.context_pairs(sentence, window=5, rng=np.random.default_rng(0))
    assert set(shrunk) <= full
    # The window size is uniform on 1..5, so on average 3 of 5 words per side are kept.
    assert 0.5 < len(shrunk) / len(full) < 0.7


@pytest.mark.parametrize("n, window", [(0, 5), (1, 5), (3, 5), (11, 5), (1000, 5), (7, 1)])
def test_pair_count_formula_matches_enumeration(n, window):
    assert word2vec.count_context_pairs(n, window) == len(word2vec.context_pairs(range(n), window))


def test_cbow_examples_predict_each_centre_from_its_window():
    assert word2vec.cbow_examples(["a", "b", "c"], window=1) == [(["b"], "a"), (["a", "c"], "b"), (["b"], "c")]


def test_vocabulary_errors_are_clear():
    with pytest.raises(ValueError, match="the corpus is empty"):
        word2vec.build_vocabulary([])
    with pytest.raises(ValueError, match="min_count=5 leaves no vocabulary: the most frequent of the 3 distinct words occurs 2 times"):
        word2vec.build_vocabulary([["a", "b", "a", "c"]], min_count=5)
    with pytest.raises(ValueError, match="the corpus is empty"):
        word2vec.train([])
    with pytest.raises(TypeError, match="corpus item 0 is a str, not a sentence"):
        word2vec.train(["a sentence as a string"])


SENTENCES = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 20


@pytest.mark.parametrize("corpus, error, message", [
    ([["a", "b"], "a string"], TypeError, "corpus item 1 is a str, not a sentence"),  # trained on its characters before
    ([["a", 3]], TypeError, "corpus item 0 holds a int token"),
    ("just text", ValueError, "the corpus is empty or not a list"),
])
def test_a_corpus_train_cannot_use_is_one_clear_error(corpus, error, message):
    with pytest.raises(error, match=message):
        word2vec.train(corpus, min_count=1, progress_bar=False)


@pytest.mark.parametrize("setting, message", [
    ({"window": 0}, "window must be a whole number of at least 1, got 0"),  # a SystemError from numba before
    ({"dim": 0}, "dim must be a whole number of at least 1, got 0"),
    ({"epochs": 0}, "epochs must be a whole number of at least 1, got 0"),
    ({"negative": -1}, "negative must be a whole number of at least 1, got -1"),
    ({"dim": 2.5}, "dim must be a whole number"),
    ({"alpha": float("nan")}, "alpha must be a finite number, got nan"),
    ({"alpha": -0.025}, "learning rates must be >= 0"),
    ({"sample": -1e-3}, "sample must be >= 0"),
])
def test_a_setting_train_cannot_use_is_one_clear_error(setting, message):
    with pytest.raises(ValueError, match=message):
        word2vec.train(SENTENCES, min_count=1, progress_bar=False, **setting)


def test_the_smallest_valid_settings_train():
    # the other side of the boundaries above: window 1, one negative, one epoch, sample 0
    trained = word2vec.train(SENTENCES, min_count=1, dim=2, window=1, negative=1, epochs=1, sample=0,
                             progress_bar=False)
    assert trained.vectors.shape == (4, 2) and np.isfinite(trained.vectors).all()


def _gensim_vocabulary(sentences, sample, ns_exponent=0.75):
    model = Word2Vec(vector_size=8, min_count=1, sample=sample, ns_exponent=ns_exponent, seed=1, workers=1)
    model.build_vocab(sentences)
    return model


def _zipf_corpus(rng, n_words=60, n_tokens=20_000):
    probabilities = 1 / np.arange(1, n_words + 1)
    tokens = rng.choice(n_words, size=n_tokens, p=probabilities / probabilities.sum())
    return [[f"w{t}" for t in tokens[i : i + 20]] for i in range(0, n_tokens, 20)]


def test_subsampling_probabilities_match_gensim():
    sentences = _zipf_corpus(np.random.default_rng(0))
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    ours = word2vec.keep_probabilities(vocabulary.counts, sample=1e-2)
    model = _gensim_vocabulary(sentences, sample=1e-2)
    theirs = [model.wv.get_vecattr(w, "sample_int") / 2**32 for w in vocabulary.words]
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    assert ours[0] < 0.6 and ours[-1] == 1.0


def test_negative_sampling_distribution_matches_gensims_table():
    sentences = _zipf_corpus(np.random.default_rng(1))
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    model = _gensim_vocabulary(sentences, sample=0)
    sampler = negative_sampling.NegativeSampler.from_counts(vocabulary.counts, alpha=0.75)
    # gensim stores the cumulative distribution scaled to 2^31 − 1, in its own word order.
    gensim_order = [model.wv.key_to_index[w] for w in vocabulary.words]
    gensim_probabilities = np.diff(np.concatenate([[0], model.cum_table])) / model.cum_table[-1]
    np.testing.assert_allclose(sampler.probabilities, gensim_probabilities[gensim_order], atol=1e-7)


def test_alias_tables_hold_exactly_the_distribution():
    """Each bucket has mass 1/V, split between its word (keep) and its alias (1 − keep)."""
    probabilities = negative_sampling.negative_sampling_distribution(np.array([500, 200, 80, 40, 20, 10, 5, 1]))
    sampler = negative_sampling.NegativeSampler.from_counts(np.array([500, 200, 80, 40, 20, 10, 5, 1]))
    rebuilt = sampler.keep / 8 + np.bincount(sampler.alias, weights=(1 - sampler.keep) / 8, minlength=8)
    np.testing.assert_allclose(rebuilt, probabilities, atol=1e-12)


def test_negative_sampling_exponent_moves_mass_to_rare_words():
    counts = np.array([1000, 100, 10, 1])
    uniform, smoothed, unigram = (negative_sampling.negative_sampling_distribution(counts, a) for a in (0, 0.75, 1))
    np.testing.assert_allclose(uniform, 0.25)
    np.testing.assert_allclose(unigram, counts / counts.sum())
    assert unigram[0] > smoothed[0] and unigram[-1] < smoothed[-1]


def test_sampler_frequencies_fit_count_to_the_three_quarters():
    """Chi-square goodness of fit, fixed seed: the draws follow count^0.75 / Σ count^0.75."""
    counts = np.array([500, 200, 80, 40, 20, 10, 5, 1])
    expected = negative_sampling.negative_sampling_distribution(counts, 0.75) * 200_000
    draws = negative_sampling.NegativeSampler.from_counts(counts).draw(200_000, np.random.default_rng(3))
    assert chisquare(np.bincount(draws, minlength=8), expected).pvalue > 0.01
    # The compiled trainer draws with its own generator: same distribution.
    sampler = negative_sampling.NegativeSampler.from_counts(counts)
    state, compiled = np.uint64(12345), []
    for _ in range(200_000):
        word, state = word2vec_kernel._draw_negative(sampler.keep, sampler.alias, state)
        compiled.append(word)
    assert chisquare(np.bincount(compiled, minlength=8), expected).pvalue > 0.01


def test_sgns_loss_hand_worked():
    """v_c = u_o = (1, 0), one negative u_1 = (0, 1): L = log(1 + e^−1) + log(1 + e^0) = 0.31326 + 0.69315."""
    assert negative_sampling.sgns_loss([1, 0], [1, 0], [[0, 1]]) == pytest.approx(0.313262 + 0.693147, abs=1e-6)


def _finite_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def test_sgns_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    v_c, u_o, u_k = rng.normal(size=6), rng.normal(size=6), rng.normal(size=(5, 6))
    _, grad_c, grad_o, grad_k = negative_sampling.sgns_loss_and_gradients(v_c, u_o, u_k)
    np.testing.assert_allclose(grad_c, _finite_difference(lambda x: negative_sampling.sgns_loss(x, u_o, u_k), v_c), atol=1e-6)
    np.testing.assert_allclose(grad_o, _finite_difference(lambda x: negative_sampling.sgns_loss(v_c, x, u_k), u_o), atol=1e-6)
    np.testing.assert_allclose(grad_k, _finite_difference(lambda x: negative_sampling.sgns_loss(v_c, u_o, x), u_k), atol=1e-6)


def test_cbow_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    contexts, u_o, u_k = rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(3, 6))
    _, grad_contexts, grad_o, grad_k = negative_sampling.cbow_loss_and_gradients(contexts, u_o, u_k)

    def loss(c=contexts, o=u_o, k=u_k):
        return negative_sampling.cbow_loss_and_gradients(c, o, k)[0]

    np.testing.assert_allclose(grad_contexts, _finite_difference(lambda x: loss(c=x), contexts), atol=1e-6)
    np.testing.assert_allclose(grad_o, _finite_difference(lambda x: loss(o=x), u_o), atol=1e-6)
    np.testing.assert_allclose(grad_k, _finite_difference(lambda x: loss(k=x), u_k), atol=1e-6)


def test_compiled_trainer_loss_equals_the_reference_on_the_same_batch():
    """With a learning rate of 0 the compiled kernel only scores its examples. Replay its
    random choices (window sizes, negatives) in Python and score the same examples with the
    explicit reference loss: the sums agree up to the sigmoid table's resolution."""
    rng = np.random.default_rng(6)
    vocabulary_size, dim, window, negative, seed = 30, 8, 3, 4, 987
    w_in = rng.normal(scale=0.5, size=(vocabulary_size, dim)).astype(np.float32)
    w_out = rng.normal(scale=0.5, size=(vocabulary_size, dim)).astype(np.float32)
    tokens = rng.integers(0, vocabulary_size, size=40).astype(np.int32)
    sentence_ends = np.array([25, 40], dtype=np.int64)
    sampler = negative_sampling.NegativeSampler.from_counts(np.arange(1, vocabulary_size + 1))
    keep = np.ones(vocabulary_size)
    loss, examples, _ = word2vec_kernel._train_chunk(
        tokens, sentence_ends, 0, 2, w_in, w_out, sampler.keep, sampler.alias, keep, window, negative, True, 0.0, 0.0, seed,
        word2vec_kernel.SIGMOID_TABLE, word2vec_kernel.LOG_SIGMOID_TABLE)

    state, reference, count = np.uint64(seed), 0.0, 0
    for sentence in (tokens[:25], tokens[25:]):
        for _ in sentence:  # one draw per word for subsampling (all kept here)
            state = word2vec_kernel._next_random(state)
        for i, centre in enumerate(sentence):
            state = word2vec_kernel._next_random(state)
            reduced = window - int((state >> np.uint64(16)) % np.uint64(window))
            for j in range(max(0, i - reduced), min(len(sentence), i + reduced + 1)):
                if j == i:
                    continue
                negatives = []
                for _ in range(negative):
                    drawn, state = word2vec_kernel._draw_negative(sampler.keep, sampler.alias, state)
                    if drawn != centre:
                        negatives.append(w_out[drawn])
                reference += negative_sampling.sgns_loss(w_in[sentence[j]], w_out[centre], np.array(negatives).reshape(-1, dim))
                count += 1
    assert examples == count
    assert loss == pytest.approx(reference, rel=2e-3)


def _planted_corpus(rng, n_topics=15, n_sentences=3000):
    """Planted structure: topic i has two interchangeable words x_i and y_i, always used between
    the same topic words t_i_0 … t_i_3, and random fillers. x_i and y_i share all their
    contexts, so a trained model must put them close."""
    fillers = [f"filler{i}" for i in range(30)]
    sentences = []
    for _ in range(n_sentences):
        sentence = []
        for _ in range(3):
            topic = rng.integers(n_topics)
            word = f"{'xy'[rng.integers(2)]}{topic}"
            before, after = rng.choice(4, size=2, replace=False)
            sentence += [str(rng.choice(fillers)), f"t{topic}_{before}", word, f"t{topic}_{after}"]
        sentences.append(sentence)
    return sentences


def _partner_ranks(vectors):
    return [[w for w, _ in vectors.nearest(f"x{i}", k=len(vectors) - 1)].index(f"y{i}") for i in range(15)]


@pytest.mark.parametrize("sg", [True, False], ids=["skip-gram", "cbow"])
def test_training_puts_planted_partners_closer_than_random_words(sg):
    corpus = _planted_corpus(np.random.default_rng(7))
    options = dict(sg=sg, dim=20, window=2, negative=5, min_count=1, epochs=5, sample=0, seed=3, progress_bar=False)
    vectors = word2vec.train(corpus, **options)
    assert np.median(_partner_ranks(vectors)) == 0  # the partner is usually the nearest word
    assert vectors.history.loss[-1] < vectors.history.loss[0]
    # Negative control: with a learning rate of 0 the vectors stay random, and so do the ranks.
    untrained = word2vec.train(corpus, alpha=0.0, min_alpha=0.0, **options)
    assert np.median(_partner_ranks(untrained)) > 5


def test_one_worker_is_exactly_reproducible_and_the_seed_matters():
    corpus = _planted_corpus(np.random.default_rng(8), n_sentences=300)
    options = dict(dim=10, window=2, min_count=1, epochs=2, progress_bar=False)
    first = word2vec.train(corpus, seed=5, **options)
    np.testing.assert_array_equal(first.vectors, word2vec.train(corpus, seed=5, **options).vectors)
    assert not np.array_equal(first.vectors, word2vec.train(corpus, seed=6, **options).vectors)


def test_snapshots_record_the_chosen_words_during_training():
    corpus = _planted_corpus(np.random.default_rng(9), n_sentences=300)
    vectors = word2vec.train(corpus, dim=10, window=2, min_count=1, epochs=2, steps=4, snapshot_words=["x1", "y1"],
                             progress_bar=False)
    progress = [p for p, _, _ in vectors.history.snapshots]
    assert progress[0] == 0.0 and progress[-1] == 1.0 and len(progress) == len(vectors.history.loss) + 1
    np.testing.assert_array_equal(vectors.history.snapshots[-1][1][0], vectors["x1"])
    with pytest.raises(KeyError, match="snapshot word 'zebra' is not in the vocabulary"):
        word2vec.train(corpus, min_count=1, snapshot_words=["zebra"], progress_bar=False)


def test_context_positions_and_errors():
    assert word2vec.context_positions(9, centre=1, window=2) == [0, 2, 3]
    assert word2vec.context_positions(3, centre=2, window=5) == [0, 1]
    with pytest.raises(IndexError, match="centre 9 is outside a sentence of 9 words"):
        word2vec.context_positions(9, centre=9, window=2)


def test_snapshot_scores_are_sigmoids_of_input_output_dot_products():
    corpus = _planted_corpus(np.random.default_rng(10), n_sentences=200)
    words = ["x1", "t1_0", "filler3"]
    vectors = word2vec.train(corpus, dim=10, window=2, min_count=1, epochs=1, steps=3, snapshot_words=words,
                             progress_bar=False)
    scores = word2vec.snapshot_scores(vectors.history, words, [("x1", "t1_0"), ("filler3", "x1")])
    assert scores.shape == (len(vectors.history.snapshots), 2)
    last_in, last_out = vectors["x1"], vectors.output_vectors[vectors.index("t1_0")]
    assert scores[-1, 0] == pytest.approx(1 / (1 + np.exp(-last_in @ last_out)), rel=1e-5)
    assert scores[0, 0] == pytest.approx(0.5)  # output vectors start at zero
    with pytest.raises(KeyError, match="not among the snapshot words: \\['y1'\\]"):
        word2vec.snapshot_scores(vectors.history, words, [("x1", "y1")])


def test_cost_per_pair_counts_work_for_both_methods():
    table = negative_sampling.cost_per_pair([100, 1000], dim=10, negative=5, repeats=3)
    assert table["full softmax multiply-adds"].tolist() == [2 * 100 * 10, 2 * 1000 * 10]
    assert table["negative sampling multiply-adds"].tolist() == [2 * 6 * 10] * 2
    assert (table[["full softmax (s)", "negative sampling (s)"]] > 0).all().all()


def test_context_counts_of_a_word():
    sentences = [["the", "cat", "sat"], ["a", "cat", "ran", "off"]]
    assert word2vec.context_counts(sentences, "cat", window=1) == {"the": 1, "sat": 1, "a": 1, "ran": 1}
    with pytest.raises(KeyError, match="'dog' does not occur in the corpus"):
        word2vec.context_counts(sentences, "dog")


def test_probability_mass_by_rank_sums_to_one_and_moves_to_rare_words():
    counts = np.sort(np.random.default_rng(11).zipf(1.5, size=5000))[::-1]
    unigram = negative_sampling.probability_mass_by_rank(counts, 1.0)
    smoothed = negative_sampling.probability_mass_by_rank(counts, 0.75)
    assert unigram.sum() == pytest.approx(1) and smoothed.sum() == pytest.approx(1)
    assert unigram[0] == pytest.approx(counts[:10].sum() / counts.sum())
    assert smoothed[0] < unigram[0] and smoothed[-1] > unigram[-1]


def test_context_vectors_hold_the_context_counts():
    sentences = [["the", "cat", "sat"], ["a", "cat", "ran"], ["the", "dog", "ran"]]
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    matrix = word2vec.context_vectors(sentences, ["cat", "dog"], vocabulary, window=1)
    as_dict = lambda row: {w: matrix[row, i] for i, w in enumerate(vocabulary.words) if matrix[row, i]}
    assert as_dict(0) == {"the": 1, "sat": 1, "a": 1, "ran": 1}
    assert as_dict(1) == {"the": 1, "ran": 1}


def test_frequent_bigrams_skip_the_most_frequent_words():
    sentences = [["the", "civil", "war", "the", "end"]] * 3 + [["civil", "war", "ended"]] * 2 + [["the", "end"]]
    vocabulary = word2vec.build_vocabulary(sentences, min_count=1)
    assert word2vec.frequent_bigrams(sentences, vocabulary, 2, skip_most_frequent=0) == [("civil", "war"), ("the", "end")]
    assert word2vec.frequent_bigrams(sentences, vocabulary, 1, skip_most_frequent=1) == [("civil", "war")]


def test_compiled_update_equals_the_reference_sgd_step():
    """Two words, window 1, learning rate 0.5: the kernel makes two updates (b predicts a,
    then a predicts b). Replaying its negatives through the explicit reference step gives
    the same matrices, up to the sigmoid table's resolution."""
    rng = np.random.default_rng(12)
    # A large vocabulary, so that no negative is drawn twice in a step (the kernel would see
    # the first update before the second draw, the reference takes all gradients at once).
    vocabulary_size, dim, negative, seed, alpha = 1000, 6, 3, 4242, 0.5
    w_in = rng.normal(scale=0.5, size=(vocabulary_size, dim)).astype(np.float32)
    w_out = rng.normal(scale=0.5, size=(vocabulary_size, dim)).astype(np.float32)
    reference_in, reference_out = w_in.astype(np.float64), w_out.astype(np.float64)
    tokens = np.array([3, 7], dtype=np.int32)
    sampler = negative_sampling.NegativeSampler.from_counts(np.arange(1, vocabulary_size + 1))
    word2vec_kernel._train_chunk(tokens, np.array([2], dtype=np.int64), 0, 1, w_in, w_out, sampler.keep, sampler.alias,
                          np.ones(vocabulary_size), 1, negative, True, alpha, alpha, seed,
                          word2vec_kernel.SIGMOID_TABLE, word2vec_kernel.LOG_SIGMOID_TABLE)

    state = np.uint64(seed)
    for _ in tokens:
        state = word2vec_kernel._next_random(state)
    for centre, context in [(0, 1), (1, 0)]:
        state = word2vec_kernel._next_random(state)  # the window size draw (window 1: always 1)
        negatives = []
        for _ in range(negative):
            drawn, state = word2vec_kernel._draw_negative(sampler.keep, sampler.alias, state)
            if drawn != tokens[centre]:
                negatives.append(drawn)
        assert len(set(negatives)) == len(negatives) == negative
        negative_sampling.sgns_step(reference_in, reference_out, tokens[context], tokens[centre], negatives, alpha)
    np.testing.assert_allclose(w_in, reference_in, atol=2e-3)
    np.testing.assert_allclose(w_out, reference_out, atol=2e-3)
    # Negative control: the steps moved the vectors far more than that tolerance.
    before = np.random.default_rng(12).normal(scale=0.5, size=(vocabulary_size, dim)).astype(np.float32)
    assert np.abs(reference_in - before).max() > 0.05


def test_expected_pairs_with_shrunk_windows_are_the_average_of_many_draws():
    """Averaged over draws of context_pairs(..., rng), the pair count converges to the expectation.
    Hand-worked: n = 10, w = 2 gives 18 pairs with b = 1 and 34 with b = 2, 26 on average; a
    billion words at w = 5 give 2·10⁹·3 − (1·2 + 2·3 + 3·4 + 4·5 + 5·6)/5 = 6·10⁹ − 14."""
    assert word2vec.expected_context_pairs(10, 2) == 26.0
    assert word2vec.expected_context_pairs(10**9, 5) == 6 * 10**9 - 14
    rng = np.random.default_rng(0)
    sentence = list(range(30))
    draws = [len(word2vec.context_pairs(sentence, window=5, rng=rng)) for _ in range(3000)]
    assert np.mean(draws) == pytest.approx(word2vec.expected_context_pairs(30, 5), rel=0.01)
    # the negative control: the fixed window's count is far from what shrunk windows give
    assert abs(np.mean(draws) - word2vec.count_context_pairs(30, 5)) > 50
    with pytest.raises(ValueError, match="window must be at least 1, got 0"):
        word2vec.expected_context_pairs(10, 0)


def test_cost_exponents_are_the_slopes_of_the_log_log_lines():
    """Exact power laws give back their exponents: seconds = 3·10⁻⁹·V is slope 1, a constant slope 0;
    on noisy timings the slope is scipy's least-squares line through (log V, log seconds)."""
    import pandas as pd
    from scipy.stats import linregress

    sizes = np.array([1_000, 10_000, 100_000])
    exact = pd.DataFrame({"vocabulary size": sizes, "full softmax (s)": 3e-9 * sizes,
                          "negative sampling (s)": np.full(3, 2e-6)})
    assert negative_sampling.cost_exponents(exact) == pytest.approx({"full softmax": 1.0, "negative sampling": 0.0},
                                                                    abs=1e-12)
    rng = np.random.default_rng(0)
    sizes = np.array([1_000, 3_000, 10_000, 30_000, 100_000])
    noisy = pd.DataFrame({"vocabulary size": sizes, "full softmax (s)": 1e-8 * sizes**0.9 * rng.uniform(0.5, 2, 5),
                          "negative sampling (s)": 1e-5 * rng.uniform(0.5, 2, 5)})
    exponents = negative_sampling.cost_exponents(noisy)
    for method in ("full softmax", "negative sampling"):
        expected = linregress(np.log(sizes), np.log(noisy[f"{method} (s)"])).slope
        assert exponents[method] == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="two or more different vocabulary sizes"):
        negative_sampling.cost_exponents(exact.iloc[:1])


def test_docstring_examples_are_true():
    import doctest

    assert doctest.testmod(word2vec).failed == 0
