"""embedlab.representation against scikit-learn and hand-worked examples."""

import math

import numpy as np
import pytest
from embedlab import representation, similarity, storage
from embedlab.vectors import WordVectors
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.metrics.pairwise import cosine_similarity as sk_cosine
from sklearn.metrics.pairwise import euclidean_distances as sk_euclidean


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_one_hot_vectors_of_different_words_are_orthogonal():
    vocabulary = ["cat", "kitten", "car"]
    assert representation.one_hot("kitten", vocabulary).tolist() == [0, 1, 0]
    matrix = representation.one_hot_matrix(vocabulary)
    np.testing.assert_array_equal(similarity.cosine_similarity(matrix, matrix), np.eye(3))


def test_one_hot_of_unknown_word_is_a_key_error():
    with pytest.raises(KeyError, match="'dog' is not in the vocabulary"):
        representation.one_hot("dog", ["cat", "car"])


def test_cosine_similarity_matches_scikit_learn_for_every_shape(rng):
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(3, 8))
    expected = sk_cosine(a, b)
    np.testing.assert_allclose(similarity.cosine_similarity(a, b), expected, atol=1e-12)
    np.testing.assert_allclose(similarity.cosine_similarity(a[0], b), expected[0], atol=1e-12)
    np.testing.assert_allclose(similarity.cosine_similarity(a, b[1]), expected[:, 1], atol=1e-12)
    assert similarity.cosine_similarity(a[2], b[2]) == pytest.approx(expected[2, 2])
    assert np.ndim(similarity.cosine_similarity(a[2], b[2])) == 0


def test_cosine_similarity_hand_worked_example():
    """(1, 0) and (1, 1) are 45° apart: cos = 1 / sqrt(2)."""
    assert similarity.cosine_similarity([1, 0], [1, 1]) == pytest.approx(1 / np.sqrt(2))


def test_cosine_similarity_ignores_length_but_dot_and_distance_do_not():
    a = representation.vector_at_angle(0, 1.5)
    short, long = representation.vector_at_angle(60, 0.5), representation.vector_at_angle(60, 2.0)
    first, second = representation.compare_vectors(a, short), representation.compare_vectors(a, long)
    assert first["cos(a, b)"] == pytest.approx(0.5) and second["cos(a, b)"] == pytest.approx(0.5)
    assert second["a·b"] == pytest.approx(4 * first["a·b"])
    assert first["‖a − b‖"] != pytest.approx(second["‖a − b‖"])


def test_euclidean_distance_matches_scikit_learn(rng):
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(7, 6))
    np.testing.assert_allclose(similarity.euclidean_distance(a, b), sk_euclidean(a, b), atol=1e-10)
    assert similarity.euclidean_distance([0, 0], [3, 4]) == pytest.approx(5.0)


def test_euclidean_distance_of_a_vector_to_itself_is_exactly_zero_on_every_kernel(rng):
    """The expansion ‖a‖² + ‖b‖² − 2a·b left 1e-8 here for 36 of 200 vectors under
    OPENBLAS_CORETYPE=SkylakeX (0 under Haswell): the answer depended on the machine."""
    vectors = rng.normal(size=(200, 50))
    assert np.all(np.diag(similarity.euclidean_distance(vectors, vectors)) == 0.0)
    assert all(similarity.euclidean_distance(v, v) == 0.0 for v in vectors)


def test_euclidean_distance_between_nearly_equal_vectors_is_accurate(rng):
    """Oracle: Python's math.dist, which subtracts first and sums carefully. The expansion
    loses every digit here (its rounding error ~1e-15 is the size of the squared distance)."""
    a = rng.normal(size=(20, 50))
    b = a + rng.normal(scale=1e-7, size=a.shape)
    expected = np.array([[math.dist(x, y) for y in b] for x in a])
    np.testing.assert_allclose(similarity.euclidean_distance(a, b), expected, rtol=1e-12)


@pytest.mark.parametrize("function", [similarity.cosine_similarity, similarity.euclidean_distance])
def test_dimension_mismatch_is_a_clear_error(function):
    with pytest.raises(ValueError, match="dimension mismatch: a has 3 dimensions, b has 2"):
        function([1, 2, 3], [1, 2])


def test_zero_vector_is_a_clear_error_not_nan():
    with pytest.raises(ValueError, match="zero vector at row 1: a vector of length 0 has no direction"):
        similarity.cosine_similarity([1.0, 2.0], [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("function", [similarity.cosine_similarity, similarity.euclidean_distance])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_is_a_clear_error_not_a_similarity(function, bad):
    # without the check, cosine gives NaN (or a clipped 1.0 for infinity) and distance inf/NaN, silently
    with pytest.raises(ValueError, match="b holds NaN or infinite values \\(row 1 of 2\\)"):
        function([1.0, 2.0], [[1.0, 0.0], [bad, 0.0]])
    with pytest.raises(ValueError, match="a holds NaN or infinite values \\(row 0 of 1\\)"):
        function([bad, 2.0], [1.0, 0.0])


def test_nearest_neighbours_match_a_full_sort_by_scikit_learn_cosine(rng):
    vectors = rng.normal(size=(200, 16))
    query = rng.normal(size=16)
    rows, similarities = similarity.nearest_neighbours(query, vectors, k=7, exclude=[3])
    expected = sk_cosine(query[None], vectors)[0]
    expected[3] = -np.inf
    np.testing.assert_array_equal(rows, np.argsort(-expected)[:7])
    np.testing.assert_allclose(similarities, np.sort(expected)[::-1][:7], atol=1e-12)


def test_nearest_neighbours_rejects_bad_input():
    with pytest.raises(ValueError, match="dimension mismatch: query has 2 dimensions, vectors have 3"):
        similarity.nearest_neighbours([1, 0], np.ones((4, 3)))
    with pytest.raises(ValueError, match="k must be at least 1"):
        similarity.nearest_neighbours([1, 0], np.ones((4, 2)), k=0)


def test_pca_projection_matches_scikit_learn_up_to_sign(rng):
    vectors = rng.normal(size=(30, 10)).astype(np.float32)
    ours = representation.project_2d(vectors, "pca")
    theirs = PCA(n_components=2).fit_transform(vectors)
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=1e-4)


def _three_clusters(rng):
    centres = rng.normal(size=(3, 20)) * 5
    return np.vstack([c + rng.normal(size=(15, 20)) for c in centres]).astype(np.float32)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_neighbour_preserving_projections_keep_neighbours_and_are_seeded(method, rng):
    vectors = _three_clusters(rng)
    points = representation.project_2d(vectors, method, seed=3)
    assert points.shape == (45, 2)
    assert trustworthiness(vectors, points, n_neighbors=5, metric="cosine") > 0.9
    np.testing.assert_allclose(points, representation.project_2d(vectors, method, seed=3), atol=1e-5)


def test_projection_rejects_unknown_method_and_too_few_points():
    with pytest.raises(ValueError, match="unknown projection method 'mds'"):
        representation.project_2d(np.ones((5, 3)), "mds")
    with pytest.raises(ValueError, match="need at least 3 vectors"):
        representation.project_2d(np.ones((2, 3)), "pca")


def test_average_word_vector_forgets_word_order():
    wv = WordVectors(["dog", "bites", "man"], [[1, 0, 0], [0, 1, 0], [0, 0, 2]])
    np.testing.assert_allclose(representation.average_word_vector(wv, "Dog bites man."), [1 / 3, 1 / 3, 2 / 3])
    np.testing.assert_array_equal(
        representation.average_word_vector(wv, "dog bites man"), representation.average_word_vector(wv, "man bites dog")
    )
    with pytest.raises(ValueError, match="none of the words"):
        representation.average_word_vector(wv, "cats purr")
    with pytest.raises(KeyError, match="purr"):
        representation.average_word_vector(wv, "dog purr", skip_unknown=False)


def test_storage_is_vectors_times_dimensions_times_bytes():
    """1M × 768 float32 = 3,072,000,000 bytes; 5M × 1024 float16 = 10.24 GB."""
    assert storage.storage_bytes(1_000_000, 768) == 3_072_000_000
    assert storage.storage_bytes(5_000_000, 1024, "float16") == 10_240_000_000
    table = storage.storage_table(1_000_000, [50, 3072])
    assert table.loc[3072, "float32"] == pytest.approx(12.288)
    assert table.loc[50, "int8"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="need n_vectors >= 0 and dim >= 1"):
        storage.storage_bytes(10, -1)


def test_mean_length_by_frequency_hand_worked():
    """Lengths 1, 3 (first band) and 5, 5 (second band): means 2 and 5."""
    wv = WordVectors(list("abcd"), [[1, 0], [0, 3], [3, 4], [5, 0]])
    table = representation.mean_length_by_frequency(wv, rank_edges=(0, 2, 4))
    assert table["mean length"].tolist() == pytest.approx([2.0, 5.0])
    assert table["ranks"].tolist() == ["1–2", "3–4"]


def test_glove_length_falls_with_frequency(glove):
    """The claim Chapter 1 makes: the most frequent words have the longest vectors."""
    lengths = representation.mean_length_by_frequency(glove)["mean length"].to_numpy()
    assert lengths[0] > lengths[-1] + 0.5


def test_storage_table_units():
    table = storage.storage_table(10_000, [768], unit="MB")
    assert table.loc[768, "float32"] == pytest.approx(30.72)  # 10,000 × 768 × 4 B = 30.72 MB
    with pytest.raises(ValueError, match="unknown unit 'KB'"):
        storage.storage_table(10, [8], unit="KB")


def test_cached_projection_is_computed_once_per_input_and_parameters(tmp_path, monkeypatch, rng):
    import sklearn.manifold

    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    vectors = _three_clusters(rng)
    first = representation.project_2d(vectors, "tsne", seed=1, cache=True, perplexity=5)
    representation.project_2d(vectors, "tsne", seed=1, cache=True, perplexity=6)
    assert len(list(tmp_path.glob("projection-tsne-*.npz"))) == 2
    np.testing.assert_array_equal(first, representation.project_2d(vectors, "tsne", seed=1, perplexity=5))
    # With t-SNE gone, the same request can only have come from the cache.
    monkeypatch.setattr(sklearn.manifold, "TSNE", None)
    np.testing.assert_array_equal(representation.project_2d(vectors, "tsne", seed=1, cache=True, perplexity=5), first)
    with pytest.raises(TypeError):
        representation.project_2d(vectors + 1, "tsne", seed=1, cache=True, perplexity=5)


def test_neighbour_overlap_is_one_for_identical_models_and_counts_shared_neighbours():
    """Words a..e on a line: a's 2 neighbours are b, c. In the second model c and d swap
    places, so a's neighbours become b, d: overlap 1/2 for a."""
    line = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0, "e": 4.0}
    as_vectors = lambda positions: WordVectors(list(positions), [[1.0, p] for p in positions.values()])
    first = as_vectors(line)
    swapped = as_vectors({**line, "c": 3.0, "d": 2.0})
    assert representation.neighbour_overlap(first, first, ["a", "e"], k=2) == 1.0
    assert representation.neighbour_overlap(first, swapped, ["a"], k=2) == 0.5
    with pytest.raises(ValueError, match="none of the words is known to both models"):
        representation.neighbour_overlap(first, swapped, ["zebra"], k=2)


class _FirstWordsEncoder:
    """A stand-in sentence encoder that reads only its first ``limit`` words and sums fixed
    random vectors per word (so word order within the limit does not matter, truncation does)."""

    def __init__(self, limit, dim=16):
        self.limit, self.dim, self.table = limit, dim, {}
        self.rng = np.random.default_rng(3)

    def encode(self, texts):
        rows = []
        for text in texts:
            words = text.split()[: self.limit]
            for w in words:
                self.table.setdefault(w, self.rng.normal(size=self.dim))
            rows.append(np.sum([self.table[w] for w in words], axis=0))
        return np.array(rows)


def test_sentence_pair_similarities_match_numpy_by_hand():
    words = WordVectors(["dog", "bites", "man", "cat"], np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]]))
    encoder = _FirstWordsEncoder(limit=2)
    table = representation.sentence_pair_similarities(
        {"order": ("dog bites man", "man bites dog"), "other": ("dog man", "cat")}, words, encoder)
    assert table.loc["order", "averaged word vectors"] == pytest.approx(1.0)
    # by hand: mean(dog, man) = (.5, 0, .5), cat = (1, 1, 0): cos = .5 / (√.5 · √2) = 0.5
    assert table.loc["other", "averaged word vectors"] == pytest.approx(0.5)
    # the encoder reads "dog bites" and "man bites": different vectors, so not 1 (negative control)
    e = encoder.encode(["dog bites man", "man bites dog"])
    expected = e[0] @ e[1] / np.linalg.norm(e[0]) / np.linalg.norm(e[1])
    assert table.loc["order", "sentence encoder"] == pytest.approx(expected)
    assert table.loc["order", "sentence encoder"] < 0.999


def test_truncation_probe_shows_the_whole_text_embedded_as_its_opening():
    words = [f"w{i}" for i in range(40)]
    table = representation.truncation_probe(_FirstWordsEncoder(limit=10), "title", " ".join(words), n_words=10)
    cosine = dict(zip(table["text"], table["cosine to the whole article"]))
    assert cosine["the first 10 words"] == pytest.approx(1.0)   # the encoder saw exactly those words
    assert cosine["the last 10 words"] < 0.9                    # and never the last ones
    assert table["words"].tolist() == [1, 10, 10, 40]
    assert set(table["numbers in its embedding"]) == {16}
    with pytest.raises(ValueError, match="fewer than n_words=50"):
        representation.truncation_probe(_FirstWordsEncoder(limit=10), "t", " ".join(words), n_words=50)


def test_chance_neighbour_agreement_hand_worked_and_by_simulation(rng):
    # hand-worked: groups of 2 and 1 among 3 points: (2/3)·(1/2) + (1/3)·0 = 1/3
    assert representation.chance_neighbour_agreement(["a", "a", "b"]) == pytest.approx(1 / 3)
    # simulation: random points have no structure, so the mean agreement over many maps is chance;
    # small groups reject the plausible mistake Σ (n_g / n)², which lets a point be its own
    # neighbour (0.44 here instead of 34/90 = 0.378)
    groups = np.repeat(np.arange(3), [6, 2, 2])
    simulated = np.mean([representation.nearest_neighbour_agreement(rng.normal(size=(10, 2)), groups)
                         for _ in range(4000)])
    assert representation.chance_neighbour_agreement(groups) == pytest.approx(34 / 90)
    assert simulated == pytest.approx(34 / 90, abs=0.015)
    assert abs(simulated - np.sum((np.bincount(groups) / 10) ** 2)) > 0.04


def test_nearest_neighbour_agreement_hand_worked_and_against_scikit_learn(rng):
    # two tight groups far apart: every nearest neighbour is in its own group
    points = np.array([[0, 0], [0, 1], [10, 0], [10, 1]])
    assert representation.nearest_neighbour_agreement(points, ["a", "a", "b", "b"]) == 1.0
    # negative control: the same points with the groups crossed agree nowhere
    assert representation.nearest_neighbour_agreement(points, ["a", "b", "a", "b"]) == 0.0
    from sklearn.neighbors import NearestNeighbors
    random_points, groups = rng.normal(size=(40, 2)), np.repeat(np.arange(5), 8)
    nearest = NearestNeighbors(n_neighbors=2).fit(random_points).kneighbors(random_points)[1][:, 1]
    assert representation.nearest_neighbour_agreement(random_points, groups) == pytest.approx(
        np.mean(groups[nearest] == groups))


def test_topic_neighbourhoods_agree_with_gensim(glove):
    """Each added word is one of gensim's most_similar words to its topic (the mean of the topic's
    unit vectors), in gensim's order, and belongs to the topic gensim's n_similarity ranks first."""
    topics = {"royalty": ["king", "queen", "prince"], "animals": ["dog", "cat", "horse"], "food": ["bread", "cheese", "rice"]}
    words, groups = representation.topic_neighbourhoods(glove, topics, per_topic=6, restrict_vocab=10_000)
    assert words[:9] == [w for ws in topics.values() for w in ws] and groups[:9] == [t for t, ws in topics.items() for _ in ws]
    assert len(words) == len(set(words)) == 9 + 3 * 6
    keyed = glove.subset(glove.words[:10_000]).to_gensim()
    for topic, topic_words in topics.items():
        added = [w for w, g in zip(words[9:], groups[9:]) if g == topic]
        for word in added:
            assert word.isalpha()
            best = max(topics, key=lambda t: keyed.n_similarity([word], topics[t]))
            assert best == topic
        ranked = [w for w, _ in keyed.most_similar(positive=topic_words, topn=300)
                  if w.isalpha() and w not in words[:9]
                  and max(topics, key=lambda t: keyed.n_similarity([w], topics[t])) == topic]
        assert added == ranked[:6]


def test_topic_neighbourhoods_differ_from_a_plain_nearest_word_list(glove):
    """The negative control: without the one-topic-per-word rule a word near two topics (or one
    topic's own word) would be listed twice; here no word is."""
    topics = {"happiness": ["happy", "glad"], "sadness": ["sad", "unhappy"]}
    words, _ = representation.topic_neighbourhoods(glove, topics, per_topic=20, restrict_vocab=20_000)
    plain = [w for t in topics.values() for w, _ in glove.nearest(np.mean([glove[w] for w in t], axis=0), k=20)]
    assert len(plain) > len(set(plain))
    assert len(words) == len(set(words))


def test_topic_neighbourhoods_name_unknown_words():
    vectors = WordVectors(["a", "b", "c"], np.eye(3, dtype=np.float32))
    with pytest.raises(KeyError, match=r"topic words not in the vocabulary: \['zebra'\]"):
        representation.topic_neighbourhoods(vectors, {"t": ["a", "zebra"]})


def test_positive_cosine_share_counts_every_pair_once_like_scikit_learn(rng):
    vectors = WordVectors([f"w{i}" for i in range(40)], rng.normal(size=(40, 5)).astype(np.float32) + 0.3)
    everything = representation.positive_cosine_share(vectors, np.random.default_rng(0), restrict_vocab=40, sample=40)
    cosines = sk_cosine(vectors.vectors)
    expected = np.mean(cosines[np.triu_indices(40, k=1)] > 0)
    assert everything == pytest.approx(expected)
    # Negative control: counting the diagonal (cos(w, w) = 1) or both halves of the matrix gives another share.
    assert np.mean(cosines > 0) != pytest.approx(expected)


def test_positive_cosine_share_of_evenly_spread_directions_is_about_a_half(rng):
    vectors = WordVectors([f"w{i}" for i in range(2_000)], rng.normal(size=(2_000, 50)).astype(np.float32))
    share = representation.positive_cosine_share(vectors, np.random.default_rng(1), sample=1_000)
    assert abs(share - 0.5) < 0.01
    with pytest.raises(ValueError, match="sample must be between 2 and the 2000 words"):
        representation.positive_cosine_share(vectors, np.random.default_rng(1), sample=5_000)
