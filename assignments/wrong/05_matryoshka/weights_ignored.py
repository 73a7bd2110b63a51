# replaces: matryoshka_loss
# The mistake: the weights are checked but never used: every prefix length counts once.
import numpy as np


def matryoshka_loss(queries, keys, dims, weights=None, temperature=0.05):
    """InfoNCE at every prefix length in `dims`, weighted and summed."""
    queries = np.asarray(queries, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    weights = [1.0] * len(dims) if weights is None else list(weights)
    if len(weights) != len(dims):
        raise ValueError(f"{len(weights)} weights for {len(dims)} dims")
    return float(sum(info_nce(truncate(queries, dim), truncate(keys, dim), temperature)  # noqa: F821 (the notebook's)
                     for dim in dims))
