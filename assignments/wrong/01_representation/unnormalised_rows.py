# replaces: nearest_neighbours
# The mistake: ranking rows by the dot product with the (normalised) query, forgetting to scale
# the rows themselves to length 1, so long vectors win whatever their direction.
import numpy as np


def nearest_neighbours(query, vectors, k=5, exclude=()):
    """The k rows of `vectors` most similar to `query` by cosine: (rows, similarities), best first."""
    query = np.asarray(query, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    query_norm = np.linalg.norm(query)
    if query_norm == 0:
        raise ValueError("zero vector: a vector of length 0 has no direction")
    similarities = vectors @ (query / query_norm)
    excluded = sorted(set(exclude))
    similarities[excluded] = -np.inf
    rows = np.argsort(-similarities, kind="stable")[: min(k, len(vectors) - len(excluded))]
    return rows, similarities[rows]
