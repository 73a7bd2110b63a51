# replaces: info_nce
# The mistake: the temperature is checked but never used, so the softmax runs over raw cosines
# (τ = 1 whatever the caller asked for).
import numpy as np


def info_nce(queries, keys, temperature=0.05):
    """InfoNCE with in-batch negatives: mean over i of −log softmax_j(cos(q_i, k_j) / τ) at j = i."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    queries = np.asarray(queries, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    logits = q @ k.T
    logits = logits - logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_softmax)))
