"""Chapter 7's library, ``embedlab.beyond_search``, against independent oracles: hand-worked
examples (MMR, the adjusted Rand index, ROC AUC), scikit-learn's nearest neighbours and
scipy's Mann-Whitney U, and explicit loops written from the formulas. Each oracle is shown to
reject a plausible mistake."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats
from sklearn.metrics import rand_score
from sklearn.neighbors import NearestNeighbors

from embedlab import beyond_search, data
from embedlab.data import Article

# The worked example of beyond_search.mmr's docstring and Chapter 7: unit vectors at 0° (the
# query), 10° (a), 20° (b) and 60° (c).
ANGLES = np.radians([0, 10, 20, 60])
UNIT = np.column_stack([np.cos(ANGLES), np.sin(ANGLES)])
QUERY, CANDIDATES = UNIT[0], UNIT[1:]


def explicit_mmr(query, candidates, k, weight, redundancy=max):
    """MMR written from Carbonell & Goldstein's formula with Python loops: at each step the
    unpicked candidate with the largest λ·cos(d, q) − (1 − λ)·redundancy of cos(d, p) over picked p."""
    unit = [np.asarray(c, float) / np.linalg.norm(c) for c in candidates]
    q = np.asarray(query, float) / np.linalg.norm(query)
    picked = []
    while len(picked) < k:
        best, best_score = None, -np.inf
        for i, d in enumerate(unit):
            if i in picked:
                continue
            penalty = redundancy([float(d @ unit[p]) for p in picked]) if picked else 0.0
            score = weight * float(d @ q) - (1 - weight) * penalty
            if score > best_score:
                best, best_score = i, score
        picked.append(best)
    return picked


def test_mmr_follows_the_hand_worked_example():
    """λ = 1 ranks a, b, c by cosine; at λ = 0.3, after a, b scores 0.3 cos 20° − 0.7 cos 10° = −0.407
    and c 0.3 cos 60° − 0.7 cos 50° = −0.300, so c comes second."""
    assert beyond_search.mmr(QUERY, CANDIDATES, k=3, relevance_weight=1.0) == [0, 1, 2]
    assert beyond_search.mmr(QUERY, CANDIDATES, k=3, relevance_weight=0.3) == [0, 2, 1]
    assert 0.3 * np.cos(np.radians(60)) - 0.7 * np.cos(np.radians(50)) > 0.3 * np.cos(np.radians(20)) - 0.7 * np.cos(np.radians(10))
    # At λ = 0.6 b's relevance still wins: 0.6 cos 20° − 0.4 cos 10° = 0.170 > 0.6 cos 60° − 0.4 cos 50° = 0.043.
    assert beyond_search.mmr(QUERY, CANDIDATES, k=3, relevance_weight=0.6) == [0, 1, 2]


def test_the_worked_example_rejects_swapping_the_weights():
    """The mistake λ ↔ 1 − λ (weighting novelty by λ) gives another order at λ = 0.3."""
    swapped = explicit_mmr(QUERY, CANDIDATES, 3, 0.7)
    assert swapped != beyond_search.mmr(QUERY, CANDIDATES, k=3, relevance_weight=0.3)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 0.7, 0.9, 1.0])
def test_mmr_equals_the_formula_on_random_vectors(weight):
    rng = np.random.default_rng(7)
    candidates, query = rng.normal(size=(60, 12)), rng.normal(size=12)
    assert beyond_search.mmr(query, candidates, k=15, relevance_weight=weight) == explicit_mmr(query, candidates, 15, weight)


def test_the_formula_oracle_rejects_a_summed_penalty():
    """The plausible mistake of penalising the sum (or mean) of similarities to the picked ones, not the
    maximum, picks differently on the same data: the oracle would catch it."""
    rng = np.random.default_rng(7)
    candidates, query = rng.normal(size=(60, 12)), rng.normal(size=12)
    right = beyond_search.mmr(query, candidates, k=15, relevance_weight=0.5)
    assert explicit_mmr(query, candidates, 15, 0.5, redundancy=sum) != right
    assert explicit_mmr(query, candidates, 15, 0.5, redundancy=np.mean) != right


def test_mmr_with_weight_one_is_plain_ranking():
    rng = np.random.default_rng(3)
    candidates, query = rng.normal(size=(40, 8)), rng.normal(size=8)
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    assert beyond_search.mmr(query, candidates, k=10, relevance_weight=1.0) == list(np.argsort(-(unit @ query))[:10])


def test_mmr_rejects_bad_arguments_in_one_line():
    with pytest.raises(ValueError, match="relevance_weight .* between 0 and 1, got 1.5"):
        beyond_search.mmr(QUERY, CANDIDATES, k=2, relevance_weight=1.5)
    with pytest.raises(ValueError, match="k must be between 0 and the number of candidates \\(3\\), got 4"):
        beyond_search.mmr(QUERY, CANDIDATES, k=4)


def test_adjusted_rand_index_of_the_hand_worked_example():
    """Topics [a a a b b b], clusters [0 0 1 1 2 2]: contingency [[2, 1, 0], [0, 1, 2]]. Pairs together in
    both: 2; together by topic: 6; by cluster: 3; all pairs 15. Expected index 6·3/15 = 1.2, maximum
    (6 + 3)/2 = 4.5, so ARI = (2 − 1.2)/(4.5 − 1.2) = 0.2424. The unadjusted Rand index differs."""
    labels, clusters = ["a", "a", "a", "b", "b", "b"], [0, 0, 1, 1, 2, 2]
    # Three tight pairs of points, so k-means with k = 3 finds exactly these clusters.
    vectors = np.array([[0.0, 0], [0.1, 0], [5, 0], [5.1, 0], [10, 0], [10.1, 0]])
    clustering = beyond_search.cluster_agreement(vectors, labels, n_clusters=3)
    assert len(set(zip(clustering.assignments, clusters))) == 3   # the same partition, whatever the numbers
    assert clustering.adjusted_rand_index == pytest.approx(0.8 / 3.3)
    assert rand_score(labels, clusters) != pytest.approx(0.8 / 3.3)   # the mistake a student makes


def test_cluster_agreement_finds_separate_groups_and_ignores_cluster_numbers():
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:3] * 10
    labels = np.repeat(["x", "y", "z"], 20)
    points = np.repeat(centres, 20, axis=0) + rng.normal(scale=0.1, size=(60, 4))
    result = beyond_search.cluster_agreement(points, labels, n_clusters=3, seed=0)
    assert result.adjusted_rand_index == pytest.approx(1.0)
    table = beyond_search.contingency(labels, result.assignments)
    assert sorted(table.to_numpy().max(axis=1)) == [20, 20, 20]                  # each label in one cluster
    wrong_k = beyond_search.cluster_agreement(points, labels, n_clusters=2, seed=0)
    assert wrong_k.adjusted_rand_index < 0.8                                       # two clusters must merge two groups
    with pytest.raises(ValueError, match="n_clusters must be between 2 and the number of rows \\(60\\), got 1"):
        beyond_search.cluster_agreement(points, labels, n_clusters=1)


def test_knn_distances_equal_scikit_learns_nearest_neighbours():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 6))
    distances, _ = NearestNeighbors(n_neighbors=4, metric="cosine").fit(vectors).kneighbors(vectors)
    expected = distances[:, 1:].mean(axis=1)            # the first neighbour of each row is itself
    assert np.allclose(beyond_search.knn_distances(vectors, k=3), expected, atol=1e-9)
    counting_itself = distances[:, :3].mean(axis=1)     # the mistake: a row as its own neighbour
    assert not np.allclose(counting_itself, expected, atol=1e-3)


def test_knn_distances_skip_rows_of_the_same_group():
    """Explicit loop: each row's k nearest among rows of other groups only."""
    rng = np.random.default_rng(2)
    vectors, groups = rng.normal(size=(30, 5)), rng.integers(0, 6, size=30)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = [np.mean(np.sort([1 - unit[i] @ unit[j] for j in range(30) if groups[j] != groups[i]])[:3]) for i in range(30)]
    assert np.allclose(beyond_search.knn_distances(vectors, k=3, groups=groups), expected)
    assert not np.allclose(beyond_search.knn_distances(vectors, k=3), expected)   # groups ignored: siblings count
    with pytest.raises(ValueError, match="k must be between 1 and"):
        beyond_search.knn_distances(vectors, k=30, groups=groups)


def test_scores_are_the_same_for_sparse_and_dense_matrices():
    rng = np.random.default_rng(4)
    dense = np.abs(rng.normal(size=(20, 9))) * (rng.random((20, 9)) < 0.5)
    dense[:, 0] += 0.1                                   # no empty row
    assert np.allclose(beyond_search.knn_distances(sparse.csr_matrix(dense), k=2), beyond_search.knn_distances(dense, k=2))
    assert np.allclose(beyond_search.centroid_distances(sparse.csr_matrix(dense)), beyond_search.centroid_distances(dense))


def test_centroid_distance_by_hand():
    """Rows (1, 0), (0, 1), (1, 1)/√2: the mean is ((1 + 1/√2)/3, (1 + 1/√2)/3), pointing at 45°, so the
    distances are 1 − cos 45°, 1 − cos 45° and 0."""
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert np.allclose(beyond_search.centroid_distances(vectors), [1 - np.sqrt(0.5), 1 - np.sqrt(0.5), 0.0])


def test_roc_auc_is_the_share_of_pairs_ordered_right():
    """Hand-worked: injected 0.35 beats the members 0.2 and 0.3, not 0.4; injected 0.9 beats all three: 5/6.
    Oracle on random scores: Mann-Whitney U / (n₁ n₀). Similarities instead of distances give 1 − AUC."""
    assert beyond_search.roc_auc([0.2, 0.35, 0.4, 0.9, 0.3], [False, True, False, True, False]) == pytest.approx(5 / 6)
    assert beyond_search.roc_auc([-0.2, -0.35, -0.4, -0.9, -0.3], [False, True, False, True, False]) == pytest.approx(1 / 6)
    rng = np.random.default_rng(5)
    scores, truth = rng.normal(size=80), rng.random(80) < 0.2
    u = stats.mannwhitneyu(scores[truth], scores[~truth]).statistic
    assert beyond_search.roc_auc(scores, truth) == pytest.approx(u / (truth.sum() * (~truth).sum()))


def test_injected_collection_holds_the_topic_and_a_share_of_others():
    topics = np.array(["a"] * 40 + ["b"] * 30 + ["c"] * 30)
    rows, is_anomaly = beyond_search.injected_collection(topics, "a", share=0.1, seed=0)
    assert (topics[rows[~is_anomaly]] == "a").all() and (~is_anomaly).sum() == 40
    assert is_anomaly.sum() == 4 and (topics[rows[is_anomaly]] != "a").all()
    with pytest.raises(ValueError, match="no row has the topic 'd'"):
        beyond_search.injected_collection(topics, "d")


def test_anomaly_aucs_find_a_planted_outlier_group():
    """Two tight groups in opposite directions: the other group's rows are far from every collection, so
    every score ranks them first (AUC 1)."""
    rng = np.random.default_rng(6)
    vectors = np.vstack([np.array([1.0, 0, 0]) + rng.normal(scale=0.05, size=(30, 3)),
                         np.array([0, 1.0, 0]) + rng.normal(scale=0.05, size=(30, 3))])
    topics, groups = np.repeat(["p", "q"], 30), np.arange(60) // 2
    table = beyond_search.anomaly_aucs({"toy": vectors}, topics, groups, share=0.1, draws=2, k=3)
    assert list(table.columns) == ["toy, k-NN", "toy, centroid"] and list(table.index) == ["p", "q"]
    assert np.allclose(table.to_numpy(), 1.0)


def test_mean_cosines_by_hand():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    topics, groups = ["s", "s", "t", "t"], [1, 1, 2, 3]
    # Pairs across groups: (0,2) 0 other, (0,3) cos45 other, (1,2) 0 other, (1,3) cos45 other, (2,3) cos45 same.
    assert beyond_search.mean_cosines(vectors, topics, groups) == pytest.approx(
        {"same topic": np.sqrt(0.5), "other topics": np.sqrt(0.5) / 2})


def test_learning_curve_on_separable_data_and_its_size_limit():
    rng = np.random.default_rng(8)
    train = np.vstack([rng.normal(loc=-3, size=(10, 2)), rng.normal(loc=3, size=(10, 2))])
    test = np.vstack([rng.normal(loc=-3, size=(20, 2)), rng.normal(loc=3, size=(20, 2))])
    train_labels, test_labels = np.repeat(["neg", "pos"], 10), np.repeat(["neg", "pos"], 20)
    curve = beyond_search.learning_curve(beyond_search.linear_classifier, train, train_labels, test, test_labels, [1, 5], repeats=3)
    assert list(curve.columns) == ["examples per class", "accuracy", "std", "neg", "pos"]
    assert np.allclose(curve["accuracy"], 1.0) and np.allclose(curve[["neg", "pos"]], 1.0)
    shuffled = beyond_search.learning_curve(beyond_search.linear_classifier, train, train_labels, test,
                                            rng.permutation(test_labels), [5], repeats=3)
    assert shuffled["accuracy"].iloc[0] < 0.8                 # labels that mean nothing are not learned
    with pytest.raises(ValueError, match="the smallest class has 10 training examples"):
        beyond_search.learning_curve(beyond_search.linear_classifier, train, train_labels, test, test_labels, [11])


def test_topic_passages_cut_label_and_leave_out():
    articles = [Article("Long", " ".join(f"w{i}" for i in range(250))), Article("Short", "just a few words"),
                Article("Skipped", "a disambiguation page"), Article("Unlisted", "no topic at all")]
    table = beyond_search.topic_passages(articles, {"Long": "x", "Short": "y", "Skipped": "none"},
                                         words_per_passage=100, per_article=8, min_words=60)
    assert list(table["title"]) == ["Long", "Long", "Short"]   # the last 50-word window of Long is dropped
    assert table["text"].iloc[1].split()[0] == "w100" and len(table["text"].iloc[1].split()) == 100
    assert list(table["topic"]) == ["x", "x", "y"]
    capped = beyond_search.topic_passages(articles, {"Long": "x"}, words_per_passage=100, per_article=1)
    assert len(capped) == 1
    with pytest.raises(ValueError, match="no passage has a topic"):
        beyond_search.topic_passages(articles, {"Skipped": "none"})


def test_article_split_keeps_articles_whole_and_every_topic_tested():
    titles = [f"t{i // 3}" for i in range(60)]                 # 20 articles of 3 passages
    topics = ["a" if i < 30 else "b" for i in range(60)]
    is_test = beyond_search.article_split(titles, topics, test_share=1 / 3, seed=0)
    frame = pd.DataFrame({"title": titles, "topic": topics, "test": is_test})
    assert frame.groupby("title")["test"].nunique().max() == 1         # no article on both sides
    assert frame[frame.test].groupby("topic")["title"].nunique().to_dict() == {"a": 3, "b": 3}


def test_every_article_of_the_sample_has_a_topic():
    titles = [article.title for article in data.wikipedia_sample()]
    topics = data.wikipedia_topics()
    assert sorted(topics) == sorted(titles)
    assert set(topics.values()) == {"places", "physical sciences", "life sciences", "arts", "society",
                                    "language, maths and computing", "none"}
