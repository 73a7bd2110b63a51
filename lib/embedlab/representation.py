"""Chapter 1, "The representation problem": one-hot vectors, dense vectors, and how to compare them.

Cosine similarity and Euclidean distance are written out here (rather than imported from
scikit-learn, which the tests use as the oracle) because the chapter teaches them, and
because a zero vector or a dimension mismatch deserves a clear error, not a NaN.
"""

from __future__ import annotations

import hashlib

import numpy as np


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


def _as_2d(x, name, dtype=np.float64):
    array = np.asarray(x, dtype=dtype)
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be a vector or a matrix of row vectors, got shape {array.shape}")
    if array.shape[-1] == 0:
        raise ValueError(f"{name} has no dimensions")
    return array.reshape(1, -1) if array.ndim == 1 else array, array.ndim == 1


def _check_same_dimension(a, b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"dimension mismatch: a has {a.shape[1]} dimensions, b has {b.shape[1]}; "
            "vectors from different models cannot be compared"
        )


def _shape_result(result, a_is_vector, b_is_vector):
    if a_is_vector and b_is_vector:
        return result[0, 0]
    if a_is_vector:
        return result[0]
    if b_is_vector:
        return result[:, 0]
    return result


def normalize(x) -> np.ndarray:
    """Scale every row of ``x`` (or the vector ``x``) to length 1.

    A zero vector has no direction, so it raises ``ValueError`` instead of returning NaN.
    """
    # float32 stays float32: 400,000 GloVe vectors in float64 would double the memory.
    dtype = np.float32 if np.asarray(x).dtype == np.float32 else np.float64
    matrix, is_vector = _as_2d(x, "x", dtype)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    zero_rows = np.flatnonzero(norms[:, 0] == 0)
    if zero_rows.size:
        raise ValueError(
            f"zero vector at row {zero_rows[0]}: a vector of length 0 has no direction, "
            "so its cosine similarity is undefined"
        )
    unit = matrix / norms
    return unit[0] if is_vector else unit


def cosine_similarity(a, b):
    """Cosine of the angle between vectors: cos(a, b) = a·b / (‖a‖ ‖b‖), in [−1, 1].

    ``a`` and ``b`` may each be a vector (shape ``(d,)``) or a matrix of row vectors
    (``(n, d)``): vector·vector gives a float, vector·matrix a 1-D array, matrix·matrix
    the ``(n, m)`` matrix of all pairs. Only the direction counts: scaling a vector by
    any positive number leaves its cosine unchanged. Book: Chapter 1, "Cosine similarity".

    >>> float(cosine_similarity([1, 0], [1, 1]))  # 45 degrees
    0.7071067811865475
    """
    a2, a_is_vector = _as_2d(a, "a")
    b2, b_is_vector = _as_2d(b, "b")
    _check_same_dimension(a2, b2)
    similarity = normalize(a2) @ normalize(b2).T
    return _shape_result(np.clip(similarity, -1.0, 1.0), a_is_vector, b_is_vector)


def euclidean_distance(a, b):
    """Straight-line distance ‖a − b‖ = sqrt(Σ (a_i − b_i)²); shapes as in :func:`cosine_similarity`.

    Unlike cosine similarity it depends on the vectors' lengths. Book: Chapter 1.

    The differences are taken coordinate by coordinate. The shortcut
    ‖a‖² + ‖b‖² − 2 a·b (one matrix product) cancels catastrophically when a ≈ b: its
    rounding error is about ε·(‖a‖² + ‖b‖²), so the distance of a vector to itself comes
    out as 1e-8 or 0 depending on the processor's BLAS kernel. Subtracting first makes
    ‖a − a‖ exactly 0 and nearby distances accurate to a few ε, on every machine.

    >>> float(euclidean_distance([0, 0], [3, 4]))
    5.0
    """
    a2, a_is_vector = _as_2d(a, "a")
    b2, b_is_vector = _as_2d(b, "b")
    _check_same_dimension(a2, b2)
    distances = np.empty((a2.shape[0], b2.shape[0]))
    # Rows of a in blocks, so that the (rows × m × d) differences stay around 32 MB.
    rows_per_block = max(1, 4_000_000 // (b2.shape[0] * b2.shape[1]))
    for start in range(0, a2.shape[0], rows_per_block):
        block = a2[start : start + rows_per_block]
        differences = block[:, None, :] - b2[None, :, :]
        distances[start : start + len(block)] = np.sqrt(np.einsum("ijk,ijk->ij", differences, differences))
    return _shape_result(distances, a_is_vector, b_is_vector)


def nearest_neighbours(query, vectors, k: int = 10, exclude=(), normalized: bool = False):
    """Rows of ``vectors`` with the highest cosine similarity to ``query``.

    Returns ``(rows, similarities)``, most similar first, skipping the rows in
    ``exclude``. Pass ``normalized=True`` when the rows already have length 1 (saves a
    pass over the matrix). Book: Chapter 1, "Nearest neighbours".
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    matrix = np.asarray(vectors)
    query = np.asarray(query, dtype=np.float64)
    if query.ndim != 1:
        raise ValueError(f"query must be one vector, got shape {query.shape}")
    if query.shape[0] != matrix.shape[1]:
        raise ValueError(f"dimension mismatch: query has {query.shape[0]} dimensions, vectors have {matrix.shape[1]}")
    unit_rows = matrix if normalized else normalize(matrix)
    similarities = unit_rows @ normalize(query).astype(unit_rows.dtype)
    exclude = np.asarray(list(exclude), dtype=int)
    if exclude.size:
        similarities[exclude] = -np.inf
    k = min(k, matrix.shape[0] - exclude.size)
    top = np.argpartition(-similarities, k - 1)[:k]
    top = top[np.argsort(-similarities[top], kind="stable")]
    return top, similarities[top]


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
    ``cache=True`` keeps the result on disk (:func:`embedlab.data.cached_array`): UMAP
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

        from embedlab.data import cached_array

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


#: Bytes per number for the formats vectors are stored in.
BYTES_PER_NUMBER = {"float32": 4, "float16": 2, "int8": 1}


#: Bytes in the units storage is shown in (decimal, as disks are sold).
BYTES_PER_UNIT = {"MB": 10**6, "GB": 10**9}


def storage_table(n_vectors: int, dimensions=(50, 256, 768, 1536, 3072), unit: str = "GB"):
    """Storage of ``n_vectors`` embeddings for each number of dimensions and number format.

    A ``pandas.DataFrame`` indexed by dimensions, one column per format of
    :data:`BYTES_PER_NUMBER`, in ``unit`` ("MB" or "GB"). Book: Chapter 1, "Dimensionality".
    """
    import pandas as pd

    if unit not in BYTES_PER_UNIT:
        raise ValueError(f"unknown unit {unit!r}; choose one of {list(BYTES_PER_UNIT)}")
    table = {
        fmt: [storage_bytes(n_vectors, d, size) / BYTES_PER_UNIT[unit] for d in dimensions]
        for fmt, size in BYTES_PER_NUMBER.items()
    }
    return pd.DataFrame(table, index=pd.Index(list(dimensions), name="dimensions"))


def storage_bytes(n_vectors: int, dimensions: int, bytes_per_number: int = 4) -> int:
    """Bytes needed to store ``n_vectors`` embeddings: n × d × bytes per number (4 for float32).

    Book: Chapter 1, "Dimensionality".

    >>> storage_bytes(1_000_000, 768)  # 3.07 GB at float32
    3072000000
    """
    for name, value in (("n_vectors", n_vectors), ("dimensions", dimensions), ("bytes_per_number", bytes_per_number)):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    return int(n_vectors) * int(dimensions) * int(bytes_per_number)
