"""Embeddings beyond search: clustering, classification, anomaly detection and recommendation
(Chapter 7, "Beyond search").

One set of sentence vectors serves four jobs besides search. The estimators are scikit-learn's
(Pedregosa et al. 2011) (k-means, logistic regression, the adjusted Rand index, ROC AUC): they
are well kept and the chapter teaches what they measure, not how to fit them. Maximal marginal
relevance (:func:`mmr`) is written here, because the chapter teaches the algorithm itself and it
is ten lines of NumPy.

The data: passages of the Wikipedia sample's articles, each labelled with its article's topic
(``data/wikipedia_topics.csv``, :func:`embedlab.data.wikipedia_topics`), so that every measure
has an answer key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def topic_passages(articles, topics: dict, words_per_passage: int = 100, per_article: int = 8,
                   min_words: int = 40) -> pd.DataFrame:
    """Cut each labelled article into passages of ``words_per_passage`` words (its first
    ``per_article`` windows, back to back), each labelled with the article's topic.

    ``articles`` are :class:`embedlab.data.Article`; ``topics`` maps a title to its topic, and an
    article whose topic is ``"none"`` (disambiguation pages, lists) or that is missing is left out.
    A last window shorter than ``min_words`` is dropped unless it is the article's only one.
    Returns a DataFrame with columns ``title``, ``topic``, ``text``, in article order.
    Book: Chapter 7, "Passages with an answer key".
    """
    if words_per_passage < 1 or per_article < 1:
        raise ValueError(f"words_per_passage and per_article must be at least 1, got {words_per_passage} and {per_article}")
    rows = []
    for article in articles:
        topic = topics.get(article.title, "none")
        if topic == "none":
            continue
        words = article.text.split()
        windows = [words[start:start + words_per_passage]
                   for start in range(0, min(len(words), per_article * words_per_passage), words_per_passage)]
        if len(windows) > 1 and len(windows[-1]) < min_words:
            windows.pop()
        rows += [{"title": article.title, "topic": topic, "text": " ".join(window)} for window in windows]
    if not rows:
        raise ValueError("no passage has a topic: `topics` must map article titles to topics other than 'none'")
    return pd.DataFrame(rows)


def unit_rows(matrix) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), as float64."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def tfidf_vectors(texts):
    """TF-IDF vectors of ``texts`` (scikit-learn's ``TfidfVectorizer``: English stop words removed,
    sublinear term frequency, rows of unit length), a sparse (n, vocabulary) matrix. The vocabulary
    and the document frequencies come from ``texts`` themselves, with no labels.

    The weight of term t in document d is (1 + log tf(t, d)) · (1 + log((1 + n) / (1 + df(t))))
    (Spärck Jones 1972; Salton & Buckley 1988): the bag-of-words baseline every embedding
    must beat. Book: Chapter 7, the baselines."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(list(texts))


def linear_classifier(regularisation: float = 10.0):
    """Logistic regression on vectors (sentence embeddings, averaged word vectors or TF-IDF rows): p(class c | x) = softmax(W x + b)_c, fit by
    minimising the cross-entropy plus ||W||² / (2C) (scikit-learn's ``LogisticRegression``, C =
    ``regularisation``). Book: Chapter 7, "Classification"."""
    from sklearn.linear_model import LogisticRegression

    # Newton-CG: a few exact Newton steps; on thousands of TF-IDF columns scikit-learn's default
    # (L-BFGS) needs seconds per fit, Newton-CG a fraction of one, to the same optimum.
    return LogisticRegression(C=regularisation, solver="newton-cg", max_iter=1000)


def mean_cosines(vectors, topics, groups) -> dict[str, float]:
    """Mean cosine similarity between pairs of rows from different ``groups`` (articles), for pairs
    ``"same topic"`` and pairs ``"other topics"``: how much closer a representation puts two
    passages on one subject than two passages on different subjects. Book: Chapter 7, "Clustering"."""
    similarities = _cosine_matrix(vectors)
    topics, groups = np.asarray(topics), np.asarray(groups)
    other_group = groups[:, None] != groups[None, :]
    same_topic = topics[:, None] == topics[None, :]
    return {"same topic": float(similarities[other_group & same_topic].mean()),
            "other topics": float(similarities[other_group & ~same_topic].mean())}


@dataclass(frozen=True)
class Clustering:
    """k-means clusters of some vectors and how well they agree with known labels."""

    assignments: np.ndarray   # (n,) cluster of each row
    adjusted_rand_index: float


def cluster_agreement(vectors, labels, n_clusters: int, seed: int = 0, n_init: int = 4) -> Clustering:
    """k-means with ``n_clusters`` clusters (scikit-learn, k-means++ starts of Arthur & Vassilvitskii 2007,
    the best of ``n_init`` restarts) and the adjusted Rand index of its clusters against ``labels``.

    The Rand index is the share of pairs of items on which two partitions agree (both together or
    both apart); the adjusted Rand index (Hubert & Arabie 1985) subtracts what random
    partitions with the same cluster sizes would score and rescales:
    ARI = (RI − E[RI]) / (max RI − E[RI]), so 1 is perfect agreement, 0 is chance and it may be
    negative. Cluster numbers are arbitrary: only who is grouped with whom counts.
    Book: Chapter 7, "Clustering"."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    if not 2 <= n_clusters <= np.shape(vectors)[0]:
        raise ValueError(f"n_clusters must be between 2 and the number of rows ({np.shape(vectors)[0]}), got {n_clusters}")
    assignments = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(vectors)
    return Clustering(assignments, float(adjusted_rand_score(list(labels), assignments)))


def contingency(labels, assignments) -> pd.DataFrame:
    """How many items of each label (rows) each cluster (columns, numbered from 1) holds."""
    table = pd.crosstab(pd.Series(list(labels), name="topic"), pd.Series(np.asarray(assignments) + 1, name="cluster"))
    return table


def article_split(titles, topics, test_share: float = 1 / 3, seed: int = 0) -> np.ndarray:
    """A boolean mask of the test passages: ``test_share`` of each topic's articles (at least one),
    drawn at random, with all their passages. Splitting by article keeps a passage's neighbours
    from its own article out of the training set, which would make the test far too easy."""
    frame = pd.DataFrame({"title": list(titles), "topic": list(topics)})
    rng = np.random.default_rng(seed)
    test_titles = set()
    for _, group in frame.drop_duplicates("title").groupby("topic", sort=True):
        chosen = rng.permutation(group["title"].to_numpy())
        test_titles.update(chosen[:max(1, round(test_share * len(chosen)))])
    return frame["title"].isin(test_titles).to_numpy()


def learning_curve(make_model, train_vectors, train_labels, test_vectors, test_labels, sizes, repeats: int = 5,
                   seed: int = 0) -> pd.DataFrame:
    """Test accuracy of ``make_model()`` (e.g. :func:`linear_classifier`) trained on ``n`` labelled
    examples per class, for each ``n`` in ``sizes``, over ``repeats`` random draws of the examples.

    The vectors may be dense or sparse (TF-IDF) matrices. Returns one row per size: ``examples per
    class``, ``accuracy`` (mean over the draws), ``std`` (across draws), and per class the share
    of its test examples classified correctly (mean over the draws). Book: Chapter 7, "Classification"."""
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    classes = np.unique(train_labels)
    smallest = min(int((train_labels == c).sum()) for c in classes)
    if max(sizes) > smallest:
        raise ValueError(f"the smallest class has {smallest} training examples; sizes must not exceed it, got {max(sizes)}")
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        correct = []
        for _ in range(repeats):
            chosen = np.concatenate([rng.choice(np.flatnonzero(train_labels == c), size=size, replace=False) for c in classes])
            model = make_model().fit(train_vectors[chosen], train_labels[chosen])
            correct.append(model.predict(test_vectors) == test_labels)
        correct = np.array(correct)                      # (repeats, n_test)
        accuracies = correct.mean(axis=1)
        rows.append({"examples per class": int(size), "accuracy": float(accuracies.mean()), "std": float(accuracies.std()),
                     **{str(c): float(correct[:, test_labels == c].mean()) for c in classes}})
    return pd.DataFrame(rows)


def knn_distances(vectors, k: int = 5, groups=None) -> np.ndarray:
    """Each row's outlier score: its mean cosine distance 1 − cos to its ``k`` nearest other rows
    (Ramaswamy et al. 2000; Angiulli & Pizzuti 2002). A document far from every other document of a
    collection does not belong to it.

    With ``groups`` (e.g. each passage's article), rows of the same group are never neighbours: a
    passage would otherwise look typical merely because its own article's other passages are in
    the collection. ``vectors`` may be a dense or a sparse (TF-IDF) matrix; rows are normalised.
    Book: Chapter 7, "Anomaly detection"."""
    similarities = _cosine_matrix(vectors)
    n = similarities.shape[0]
    excluded = np.eye(n, dtype=bool)
    if groups is not None:
        groups = np.asarray(groups)
        excluded |= groups[:, None] == groups[None, :]
    available = (~excluded).sum(axis=1).min()
    if not 1 <= k <= available:
        raise ValueError(f"k must be between 1 and {available} (the fewest rows any row may be compared with), got {k}")
    similarities[excluded] = -np.inf
    nearest = -np.sort(-similarities, axis=1)[:, :k]
    return 1.0 - nearest.mean(axis=1)


def centroid_distances(vectors) -> np.ndarray:
    """Each row's outlier score: its cosine distance to the collection's centroid (the normalised
    mean of all rows). Cheaper than :func:`knn_distances` (one vector to compare with) but blind to
    a collection made of several separate groups. Book: Chapter 7, "Anomaly detection"."""
    rows = _unit(vectors)
    centroid = np.asarray(rows.mean(axis=0)).ravel()
    centroid /= max(np.linalg.norm(centroid), 1e-12)
    return 1.0 - np.asarray(rows @ centroid).ravel()


def _unit(vectors):
    from sklearn.preprocessing import normalize

    return normalize(vectors) if hasattr(vectors, "toarray") else unit_rows(vectors)


def _cosine_matrix(vectors) -> np.ndarray:
    rows = _unit(vectors)
    similarities = rows @ rows.T
    return similarities.toarray() if hasattr(similarities, "toarray") else np.asarray(similarities, dtype=np.float64)


def roc_auc(scores, is_anomaly) -> float:
    """ROC AUC of outlier ``scores`` (higher = more anomalous) against the truth: the probability that
    a random anomaly scores above a random normal document (Hanley & McNeil 1982) (scikit-learn's
    ``roc_auc_score``). 0.5 is chance, 1 a perfect ranking. Book: Chapter 7, "Anomaly detection"."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(is_anomaly, dtype=bool), np.asarray(scores, dtype=np.float64)))


def injected_collection(topics, collection_topic: str, share: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A collection for anomaly detection: every row whose topic is ``collection_topic``, plus
    ``share`` × that many rows of other topics (at least one), drawn at random. Returns (row
    indices, is_anomaly mask over them)."""
    topics = np.asarray(topics)
    members = np.flatnonzero(topics == collection_topic)
    others = np.flatnonzero(topics != collection_topic)
    if len(members) == 0:
        raise ValueError(f"no row has the topic {collection_topic!r}; topics are {sorted(set(topics.tolist()))}")
    injected = np.random.default_rng(seed).choice(others, size=max(1, round(share * len(members))), replace=False)
    rows = np.concatenate([members, np.sort(injected)])
    return rows, np.arange(len(rows)) >= len(members)


def anomaly_aucs(representations: dict, topics, groups, share: float = 0.1, draws: int = 3, k: int = 5) -> pd.DataFrame:
    """ROC AUC of finding injected off-topic rows, for every topic as the collection.

    For each topic, each of ``draws`` injected collections (:func:`injected_collection`) and each
    representation (``{name: matrix}``, rows aligned with ``topics``), both scores are measured:
    :func:`knn_distances` (neighbours from another ``group`` only) and :func:`centroid_distances`.
    Returns a DataFrame indexed by topic, one column per ``"<name>, k-NN"`` / ``"<name>, centroid"``,
    holding the mean AUC over the draws. Book: Chapter 7, "Anomaly detection"."""
    topics, groups = np.asarray(topics), np.asarray(groups)
    table = {}
    for topic in sorted(set(topics.tolist())):
        for draw in range(draws):
            rows, is_anomaly = injected_collection(topics, topic, share, seed=draw)
            for name, vectors in representations.items():
                table.setdefault((topic, f"{name}, k-NN"), []).append(
                    roc_auc(knn_distances(vectors[rows], k, groups[rows]), is_anomaly))
                table.setdefault((topic, f"{name}, centroid"), []).append(roc_auc(centroid_distances(vectors[rows]), is_anomaly))
    means = pd.Series({key: float(np.mean(values)) for key, values in table.items()})
    return means.unstack()[list(dict.fromkeys(column for _, column in table))]


def mmr(query, candidates, k: int, relevance_weight: float = 0.7) -> list[int]:
    """Maximal marginal relevance (Carbonell & Goldstein 1998): pick ``k`` candidates one at a time,
    each time the one maximising

        λ · cos(d, q) − (1 − λ) · max over already picked p of cos(d, p),

    λ = ``relevance_weight``. λ = 1 is plain ranking by similarity to the query; smaller λ trades
    relevance for novelty: a candidate close to something already picked is penalised. Returns
    the candidates' row indices in the order picked (ties go to the lower index).

    Written here rather than taken from a library because the chapter teaches it: it is a greedy
    loop over one similarity vector and one running maximum. Worked example (unit vectors at
    angles 0° for the query, 10°, 20° and 60° for a, b, c): with λ = 1 the order is a, b, c; with
    λ = 0.3, after a, b scores 0.3 cos 20° − 0.7 cos 10° = −0.407 and c scores 0.3 cos 60° −
    0.7 cos 50° = −0.300, so c comes second. Book: Chapter 7, "Recommendation".
    """
    if not 0 <= relevance_weight <= 1:
        raise ValueError(f"relevance_weight (λ) must be between 0 and 1, got {relevance_weight}")
    candidates = unit_rows(candidates)
    query = unit_rows(np.asarray(query, dtype=np.float64).reshape(1, -1))[0]
    if not 0 <= k <= len(candidates):
        raise ValueError(f"k must be between 0 and the number of candidates ({len(candidates)}), got {k}")
    relevance = candidates @ query                       # (n,) cos(d, q)
    redundancy = np.full(len(candidates), -np.inf)       # (n,) max cos(d, p) over picked p; none yet
    picked: list[int] = []
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(k):
        penalty = np.where(np.isinf(redundancy), 0.0, redundancy)   # the first pick is by relevance alone
        scores = np.where(available, relevance_weight * relevance - (1 - relevance_weight) * penalty, -np.inf)
        best = int(np.argmax(scores))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, candidates @ candidates[best])
    return picked


def recommendation_report(vectors, titles, topics, queries, relevance_weights, k: int = 10) -> pd.DataFrame:
    """"More like this" for each query row, by :func:`mmr` over every other row, at each λ.

    Per λ, means over the queries of: ``distinct articles`` among the k recommendations, share
    ``from the query's article``, share ``on the query's topic`` (the answer key's measure of
    relevance) and ``cosine to the query``. Book: Chapter 7, "Recommendation"."""
    vectors = unit_rows(vectors)
    titles, topics = np.asarray(titles), np.asarray(topics)
    rows = []
    for weight in relevance_weights:
        measures = []
        for query in queries:
            others = np.flatnonzero(np.arange(len(vectors)) != query)
            chosen = others[mmr(vectors[query], vectors[others], k, weight)]
            measures.append((len(set(titles[chosen])), np.mean(titles[chosen] == titles[query]),
                             np.mean(topics[chosen] == topics[query]), float(np.mean(vectors[chosen] @ vectors[query]))))
        distinct, same_article, on_topic, cosine = np.mean(measures, axis=0)
        rows.append({"λ": float(weight), "distinct articles": float(distinct), "from the query's article": float(same_article),
                     "on the query's topic": float(on_topic), "cosine to the query": float(cosine)})
    return pd.DataFrame(rows)
