# replaces: truncate
# The mistake: the prefix is cut but not scaled back to length 1, so a truncated embedding is
# shorter than 1 and its inner products are no cosines.
import numpy as np


def truncate(embeddings, dim):
    """The first `dim` coordinates of each row, scaled back to length 1."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if not 1 <= dim <= embeddings.shape[1]:
        raise ValueError(f"dim must be between 1 and {embeddings.shape[1]}, got {dim}")
    prefix = embeddings[:, :dim]
    if np.any(np.linalg.norm(prefix, axis=1) == 0):
        raise ValueError("a row is zero in its first coordinates: it cannot be scaled to length 1")
    return prefix
