# replaces: rrf
# The mistake: ranks counted from 0, so the first place scores 1 / k instead of 1 / (k + 1) (and
# k = 0 divides by zero).


def reciprocal_rank_fusion(rankings, k=60):
    """Fuse ranked lists: each id scores the sum over rankings of 1 / (k + its rank), counting from 1."""
    scores = {}
    for ranking in rankings:
        for position, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + position)
    return sorted(scores.items(), key=lambda pair: -pair[1])
