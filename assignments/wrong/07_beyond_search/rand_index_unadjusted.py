# replaces: adjusted_rand_index
# The mistake: the plain Rand index, the share of pairs on which the two groupings agree, with no
# adjustment for chance: random clusters score well above 0 (and it is 1 only for the same grouping,
# which the visible renamed-clusters test cannot tell apart).
from math import comb


def adjusted_rand_index(labels_true, labels_pred):
    """The adjusted Rand index of two groupings of the same items."""
    labels_true, labels_pred = list(labels_true), list(labels_pred)
    agree = 0
    for i in range(len(labels_true)):
        for j in range(i + 1, len(labels_true)):
            agree += (labels_true[i] == labels_true[j]) == (labels_pred[i] == labels_pred[j])
    return float(agree / comb(len(labels_true), 2))
