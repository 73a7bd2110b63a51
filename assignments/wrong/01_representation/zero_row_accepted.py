# replaces: nearest_neighbours
# The mistake: only the query is checked for length 0. A zero row divides 0 by 0: a nan
# similarity and a RuntimeWarning instead of the ValueError the task asks for.
import numpy as np


def nearest_neighbours(query, vectors, k=5, exclude=()):
    """The k rows of `vectors` most similar to `query` by cosine: (rows, similarities), best first."""
    query = np.asarray(query, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    query_norm = np.linalg.norm(query)
    if query_norm == 0:
        raise ValueError("zero vector: a vector of length 0 has no direction")
    similarities = vectors @ query / (np.linalg.norm(vectors, axis=1) * query_norm)
    excluded = sorted(set(exclude))
    similarities[excluded] = -np.inf
    rows = np.argsort(-similarities, kind="stable")[: min(k, len(vectors) - len(excluded))]
    return rows, similarities[rows]
