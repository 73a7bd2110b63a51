# replaces: info_nce
# The mistake: dot products instead of cosines, so a longer query sharpens its own softmax. The
# visible tests use vectors of length 1 (or keys all alike) and cannot tell.
import numpy as np


def info_nce(queries, keys, temperature=0.05):
    """InfoNCE with in-batch negatives: mean over i of −log softmax_j(cos(q_i, k_j) / τ) at j = i."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = np.asarray(queries, dtype=np.float64) @ np.asarray(keys, dtype=np.float64).T / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_softmax)))
