"""Chapter 1, "The representation problem": one-hot vectors, dense vectors, maps of an
embedding space, and embeddings as lossy projections.

How vectors are compared (cosine similarity, distance, nearest neighbours) is in
:mod:`embedlab.similarity`, and what they cost to store in :mod:`embedlab.storage`: every
later chapter uses both.
"""

from __future__ import annotations

import hashlib

import numpy as np

from embedlab.cache import cached_array
from embedlab.similarity import cosine_similarity, euclidean_distance


def one_hot(word: str, vocabulary) -> np.ndarray:
    """The one-hot vector of ``word``: 1 at its position in ``vocabulary``, 0 elsewhere.

    Any two different words are orthogonal, so their cosine similarity is exactly 0:
    one-hot vectors say nothing about meaning. Book: Chapter 1, "One-hot vs dense".

    >>> one_hot("dog", ["cat", "dog", "car"])
    array([0., 1., 0.], dtype=float32)
    """
    vocabulary = list(vocabulary)
    if word not in vocabulary:
        raise KeyError(f"'{word}' is not in the vocabulary {vocabulary[:10]}{' ...' if len(vocabulary) > 10 else ''}")
    vector = np.zeros(len(vocabulary), dtype=np.float32)
    vector[vocabulary.index(word)] = 1.0
    return vector


def one_hot_matrix(vocabulary) -> np.ndarray:
    """All one-hot vectors of a vocabulary, one per row: the ``V × V`` identity matrix."""
    return np.eye(len(list(vocabulary)), dtype=np.float32)


def neighbour_overlap(vectors_a, vectors_b, words, k: int = 10) -> float:
    """Mean share of the k nearest neighbours two models agree on, over ``words``.

    Neighbours are searched in the words both models know, so that a difference of
    vocabulary is not counted as disagreement. 1 means the same k neighbours for every word.
    Used to compare a model with a reference (e.g. a small corpus's skip-gram with GloVe).
    Book: Chapter 2, "Skip-gram vs CBOW".
    """
    shared = [w for w in vectors_a.words if w in vectors_b]
    a, b = vectors_a.subset(shared), vectors_b.subset(shared)
    words = [w for w in words if w in a]
    if not words:
        raise ValueError("none of the words is known to both models")
    overlaps = [
        len({n for n, _ in a.nearest(w, k=k)} & {n for n, _ in b.nearest(w, k=k)}) / k for w in words
    ]
    return float(np.mean(overlaps))


def project_2d(vectors, method: str = "pca", seed: int = 0, cache: bool = False, **options) -> np.ndarray:
    """Map vectors to 2-D points for a picture: ``"pca"``, ``"tsne"`` or ``"umap"``.

    - PCA (a linear projection onto the two directions of largest variance) keeps global
      geometry but squashes clusters together.
    - t-SNE (van der Maaten & Hinton 2008) and UMAP (McInnes et al. 2018) keep each
      point's near neighbours near, at the cost of distances between clusters, which
      mean little in their maps.

    ``options`` go to the scikit-learn / umap-learn estimator (e.g. ``perplexity``,
    ``n_neighbors``). Cosine is the metric for t-SNE and UMAP, as for the embeddings.
    ``cache=True`` keeps the result on disk (:func:`embedlab.cache.cached_array`): UMAP
    compiles its code on first use, which costs about 20 s in every new Python process.
    Book: Chapter 1, "The embedding space".
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] < 3:
        raise ValueError(f"need at least 3 vectors (rows) to project, got shape {matrix.shape}")
    if method not in ("pca", "tsne", "umap"):
        raise ValueError(f"unknown projection method {method!r}; choose 'pca', 'tsne' or 'umap'")
    if cache:
        from importlib.metadata import version

        key = (hashlib.sha256(matrix.tobytes()).hexdigest(), matrix.shape, method, seed, sorted(options.items()),
               version("scikit-learn"), version("umap-learn"))
        return cached_array(f"projection-{method}", key, lambda: project_2d(matrix, method, seed, **options))
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed, **options).fit_transform(matrix)
    if method == "tsne":
        from sklearn.manifold import TSNE

        options.setdefault("perplexity", min(30.0, (matrix.shape[0] - 1) / 3))
        return TSNE(n_components=2, metric="cosine", init="pca", random_state=seed, **options).fit_transform(matrix)
    if method == "umap":
        import umap

        options.setdefault("n_neighbors", min(15, matrix.shape[0] - 1))
        # n_jobs=1: a fixed random_state makes umap-learn single-threaded anyway; saying so
        # silences its warning.
        return umap.UMAP(n_components=2, metric="cosine", random_state=seed, n_jobs=1, **options).fit_transform(matrix)


def topic_neighbourhoods(word_vectors, topics: dict, per_topic: int = 16, restrict_vocab: int = 30_000):
    """The words of a map: each topic's own words, then the ``per_topic`` words nearest to the
    topic, so that a reader can find more words than the ones chosen by hand.

    A topic's centre is the mean of its words' unit vectors. Each of the ``restrict_vocab``
    most frequent words (alphabetic, not already a topic word) belongs to the topic whose centre
    it has the highest cosine with, and each topic takes the ``per_topic`` words of its own
    with the highest cosine. Returns ``(words, groups)``, two lists of the same length: every
    topic's words in the order given, then the added words, topic by topic, nearest first.
    Book: Chapter 1, "The embedding space".
    """
    topics = {topic: list(words) for topic, words in topics.items()}
    chosen = [w for words in topics.values() for w in words]
    unknown = [w for w in chosen if w not in word_vectors]
    if unknown:
        raise KeyError(f"topic words not in the vocabulary: {unknown}")
    size = min(restrict_vocab, len(word_vectors))
    candidates = word_vectors.unit_vectors[:size]
    centres = np.array([word_vectors.subset(words).unit_vectors.mean(axis=0) for words in topics.values()])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cosines = candidates @ centres.T                                   # (size, topics)
    nearest_topic = cosines.argmax(axis=1)
    eligible = np.array([w.isalpha() and w not in set(chosen) for w in word_vectors.words[:size]])
    added_words, added_groups = [], []
    for t, topic in enumerate(topics):
        rows = np.flatnonzero(eligible & (nearest_topic == t))
        best = rows[np.argsort(-cosines[rows, t], kind="stable")[:per_topic]]
        added_words += [word_vectors.words[i] for i in best]
        added_groups += [topic] * len(best)
    groups = [topic for topic, words in topics.items() for _ in words]
    return chosen + added_words, groups + added_groups


def average_word_vector(word_vectors, text: str, skip_unknown: bool = True) -> np.ndarray:
    """The mean of the vectors of the words in ``text`` (lower-cased, split on spaces).

    The simplest sentence embedding, and a clear case of a lossy projection: word order
    is gone, so "dog bites man" and "man bites dog" get the very same vector.
    Book: Chapter 1, "A lossy projection, not compression".
    """
    tokens = [t.strip(".,;:!?\"'()") for t in text.lower().split()]
    known = [t for t in tokens if t in word_vectors]
    if not skip_unknown and len(known) < len(tokens):
        unknown = [t for t in tokens if t not in word_vectors]
        raise KeyError(f"words not in the vocabulary: {unknown}")
    if not known:
        raise ValueError(f"none of the words of {text!r} is in the vocabulary")
    return np.mean([word_vectors[t] for t in known], axis=0)


def vector_at_angle(degrees: float, length: float = 1.0) -> np.ndarray:
    """The 2-D vector of the given length at ``degrees`` from the x-axis: length·(cos θ, sin θ)."""
    theta = np.deg2rad(degrees)
    return length * np.array([np.cos(theta), np.sin(theta)])


def compare_vectors(a, b) -> dict:
    """Dot product, both norms, cosine similarity and Euclidean distance of two vectors.

    Shows why cosine ignores magnitude: a·b and ‖a − b‖ change when b is scaled, cos(a, b)
    does not. Book: Chapter 1, "Cosine similarity, visually".
    """
    cosine = float(cosine_similarity(a, b))  # first: it rejects mismatched or zero vectors
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return {
        "a·b": float(a @ b),
        "‖a‖": float(np.linalg.norm(a)),
        "‖b‖": float(np.linalg.norm(b)),
        "cos(a, b)": cosine,
        "‖a − b‖": float(euclidean_distance(a, b)),
    }


def mean_length_by_frequency(word_vectors, rank_edges=(0, 100, 1_000, 10_000, 100_000, 400_000)):
    """Mean vector length ‖v‖ of the words in each band of frequency ranks.

    Assumes the words are ordered from most to least frequent, as GloVe's are. In GloVe the
    most frequent words have the longest vectors: length says more about how often a word is
    seen than about what it means, one reason to compare directions (cosine) rather than dot
    products. Returns a ``pandas.DataFrame`` with one row per band. Book: Chapter 1.
    """
    import pandas as pd

    edges = [min(e, len(word_vectors)) for e in rank_edges]
    if sorted(set(edges)) != edges or len(edges) < 2:
        raise ValueError(f"rank_edges must increase and fit the {len(word_vectors)} words, got {list(rank_edges)}")
    lengths = np.linalg.norm(word_vectors.vectors, axis=1)
    return pd.DataFrame(
        {
            "ranks": [f"{_short(lo + 1)}–{_short(hi)}" for lo, hi in zip(edges, edges[1:])],
            "mean length": [float(lengths[lo:hi].mean()) for lo, hi in zip(edges, edges[1:])],
        }
    )


def _short(number: int) -> str:
    return f"{number // 1000}k" if number >= 1000 and number % 1000 == 0 else f"{number:,}"


def sentence_pair_similarities(pairs, word_vectors, encoder):
    """Cosine similarity of each sentence pair under two embeddings: the average of its word
    vectors (:func:`average_word_vector`) and a sentence ``encoder`` (anything with
    ``encode(list_of_texts) -> array``).

    ``pairs`` maps a name to ``(first, second)``. For the average, cos(mean(w₁…wₙ), mean(w'₁…w'ₘ))
    is exactly 1 for two texts with the same words in any order, since the mean forgets order;
    a transformer encoder reads order and can tell them apart. Returns a ``pandas.DataFrame``,
    one row per pair, columns ``first``, ``second``, ``averaged word vectors`` and
    ``sentence encoder``. Book: Chapter 1, "A lossy semantic projection, not compression".
    """
    import pandas as pd

    rows = {}
    for name, (first, second) in pairs.items():
        encoded = encoder.encode([first, second])
        rows[name] = {
            "first": first,
            "second": second,
            "averaged word vectors": float(cosine_similarity(average_word_vector(word_vectors, first),
                                                             average_word_vector(word_vectors, second))),
            "sentence encoder": float(cosine_similarity(encoded[0], encoded[1])),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def truncation_probe(encoder, title: str, text: str, n_words: int = 150):
    """How much of a long text reaches its embedding: the title, the first and the last
    ``n_words`` words and the whole text, each encoded, and each one's cosine with the whole.

    An encoder that reads at most its first N word pieces (all-MiniLM-L6-v2: 256) embeds a long
    text as its opening: the whole text's vector is then close to the first words' and far
    from the last words'. Every embedding has the same number of numbers, whatever the
    length. Returns a ``pandas.DataFrame`` with columns ``text``, ``words``, ``numbers in its
    embedding`` and ``cosine to the whole article``. Book: Chapter 1, "A lossy semantic
    projection, not compression".
    """
    import pandas as pd

    words = text.split()
    if len(words) < n_words:
        raise ValueError(f"the text has {len(words)} words, fewer than n_words={n_words}")
    texts = {"the title": title, f"the first {n_words} words": " ".join(words[:n_words]),
             f"the last {n_words} words": " ".join(words[-n_words:]), "the whole article": text}
    vectors = np.asarray(encoder.encode(list(texts.values())))
    return pd.DataFrame({
        "text": list(texts),
        "words": [len(t.split()) for t in texts.values()],
        "numbers in its embedding": [v.size for v in vectors],
        "cosine to the whole article": np.asarray(cosine_similarity(vectors, vectors[-1]), dtype=np.float64),
    })


def positive_cosine_share(word_vectors, rng: np.random.Generator, restrict_vocab: int = 30_000,
                          sample: int = 3_000) -> float:
    """Share of positive cosine similarities among the pairs of ``sample`` different words drawn
    (with ``rng``) from the ``restrict_vocab`` most frequent: an estimate of how often two
    words of the space point less than 90° apart. Every pair of the sample counts once
    (``sample · (sample − 1) / 2`` pairs). A space whose directions were spread evenly would
    give about 0.5. Book: Chapter 3, "The analogy benchmark" (why 3CosMul fails on GloVe-50d).
    """
    size = min(restrict_vocab, len(word_vectors))
    if not 2 <= sample <= size:
        raise ValueError(f"sample must be between 2 and the {size} words considered, got {sample}")
    rows = rng.choice(size, size=sample, replace=False)
    unit = word_vectors.unit_vectors[rows]
    upper = np.triu_indices(sample, k=1)
    return float(np.mean((unit @ unit.T)[upper] > 0))


def chance_neighbour_agreement(groups) -> float:
    """The :func:`nearest_neighbour_agreement` expected of a map with no structure, where each
    point's nearest neighbour is any other point with equal probability:

        Σ_g (n_g / n) · (n_g − 1) / (n − 1),

    with n_g points in group g of n: a point of group g finds one of the n_g − 1 others of its
    group among the n − 1 candidates. Book: Chapter 1, "The embedding space".

    >>> round(chance_neighbour_agreement([topic for topic in "abcde" for _ in range(8)]), 4)   # 7/39
    0.1795
    """
    _, sizes = np.unique(np.asarray(groups), return_counts=True)
    n = sizes.sum()
    if n < 2:
        raise ValueError(f"need at least two points, got {n}")
    return float(np.sum(sizes * (sizes - 1)) / (n * (n - 1)))


def nearest_neighbour_agreement(points, groups) -> float:
    """Share of points whose nearest other point (Euclidean) belongs to the same group.

    A number for "the topics come out as groups" on a 2-D map (:func:`project_2d`): 1 when every
    point's closest neighbour shares its group; about :func:`chance_neighbour_agreement` for a map
    with no structure. Book: Chapter 1, "The embedding space".
    """
    points = np.asarray(points, dtype=np.float64)
    groups = np.asarray(groups)
    if points.ndim != 2 or len(points) != len(groups) or len(points) < 2:
        raise ValueError(f"need one group per point and at least two points, got {points.shape} and {len(groups)} groups")
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return float(np.mean(groups[distances.argmin(axis=1)] == groups))
