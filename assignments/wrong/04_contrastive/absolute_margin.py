# replaces: hard_negatives
# The mistake: the margin subtracted as it is, s_j < s+ − margin, not scaled by |s+|. With s+ = 1,
# the visible test's case, the two rules agree; with a small or negative s+ they keep other documents.
import numpy as np


def mine_hard_negatives(query_embeddings, doc_embeddings, positives, k=5, margin=0.05):
    """For each query, the k documents most similar to it among those scoring clearly below its positive."""
    queries = np.asarray(query_embeddings, dtype=np.float64)
    documents = np.asarray(doc_embeddings, dtype=np.float64)
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        documents / np.linalg.norm(documents, axis=1, keepdims=True)).T
    negatives = []
    for row, positive in zip(scores, positives):
        allowed = row < row[positive] - margin
        allowed[positive] = False
        candidates = np.flatnonzero(allowed)
        negatives.append(candidates[np.argsort(-row[candidates], kind="stable")][:k])
    return negatives
