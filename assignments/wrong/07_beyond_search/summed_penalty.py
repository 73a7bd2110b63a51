# replaces: mmr
# The mistake: penalising a candidate by the sum of its similarities to everything picked so far,
# not the largest one, so the penalty grows with every pick and crowds out relevance. With the
# visible example's two picks before the last, sum and maximum agree.
import numpy as np


def mmr(query, candidates, k, relevance_weight=0.7):
    """Pick k candidates by maximal marginal relevance; return their row indices in order."""
    candidates = np.asarray(candidates, dtype=float)
    candidates = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    query = np.asarray(query, dtype=float) / np.linalg.norm(query)
    relevance = candidates @ query
    picked = []
    for _ in range(k):
        best, best_score = None, -np.inf
        for i in range(len(candidates)):
            if i in picked:
                continue
            penalty = sum(candidates[i] @ candidates[p] for p in picked) if picked else 0.0
            score = relevance_weight * relevance[i] - (1 - relevance_weight) * penalty
            if score > best_score:
                best, best_score = i, score
        picked.append(int(best))
    return picked
