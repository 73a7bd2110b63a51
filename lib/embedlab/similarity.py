"""Comparing vectors: unit length, cosine similarity, Euclidean distance and nearest neighbours
(Chapter 1 explains them; every later chapter uses them).

They are written out here (rather than imported from scikit-learn, which the tests use as the
oracle) because the book teaches them, and because a zero vector or a dimension mismatch
deserves a clear error, not a NaN.
"""

from __future__ import annotations

import numpy as np


def _as_2d(x, name, dtype=np.float64):
    array = np.asarray(x, dtype=dtype)
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be a vector or a matrix of row vectors, got shape {array.shape}")
    if array.shape[-1] == 0:
        raise ValueError(f"{name} has no dimensions")
    matrix = array.reshape(1, -1) if array.ndim == 1 else array
    check_finite(matrix, name)
    return matrix, array.ndim == 1


def check_finite(matrix, name: str) -> None:
    """Raise ``ValueError`` naming the first row of ``matrix`` (2-D) that holds a NaN or an infinity:
    no similarity or distance is defined for it, and a NaN would otherwise flow silently into every
    ranking."""
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad_rows.size:
        raise ValueError(f"{name} holds NaN or infinite values (row {bad_rows[0]} of {matrix.shape[0]}): "
                         "similarities are undefined for them; fix or drop those vectors")


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
