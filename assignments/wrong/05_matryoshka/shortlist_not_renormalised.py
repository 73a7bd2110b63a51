# replaces: two_stage_search
# The mistake: no renormalisation after truncation. The shortlist ranks raw prefix inner
# products, so documents whose first coordinates happen to be long crowd out the right ones.
import numpy as np


def two_stage_search(queries, index, shortlist_dim, shortlist_size, k):
    """Shortlist with the renormalised first `shortlist_dim` coordinates, rescore the shortlist with all of them."""
    queries = np.asarray(queries, dtype=np.float64)
    index = np.asarray(index, dtype=np.float64)
    short_scores = queries[:, :shortlist_dim] @ index[:, :shortlist_dim].T
    shortlist = np.argsort(-short_scores, axis=1, kind="stable")[:, :shortlist_size]
    full_scores = np.einsum("qd,qsd->qs", queries, index[shortlist])
    order = np.lexsort((shortlist, -full_scores), axis=1)[:, :k]
    return np.take_along_axis(shortlist, order, axis=1), np.take_along_axis(full_scores, order, axis=1)
