# replaces: recall_at_k
# The mistake: counting the first k results that are relevant, not the relevant documents found:
# a document that appears twice in a ranking (two of its chunks) is counted twice.
import numpy as np


def recall_at_k(rankings, relevant, k):
    """Mean over queries of the share of relevant documents found in the first k results."""
    return float(np.mean([sum(doc in wanted for doc in list(ranking)[:k]) / len(wanted)
                          for ranking, wanted in zip(rankings, relevant)]))
