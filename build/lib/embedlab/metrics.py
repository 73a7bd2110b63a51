"""How well a ranking finds what it should: recall@k, precision@k, MRR and nDCG@k, averaged over
queries, and the tables the chapters print from them (Chapter 4 introduces them; Chapters 5
and 6 measure with them).

A ranking is a list of document ids, best first; ``relevant`` holds, per query, the set of
relevant ids (or, for nDCG, a dict of graded gains).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _check_rankings(rankings, relevant) -> list:
    rankings, relevant = list(rankings), list(relevant)
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings but {len(relevant)} sets of relevant documents: one each per query")
    if not rankings:
        raise ValueError("no queries to evaluate")
    if any(len(r) == 0 for r in relevant):
        raise ValueError("every query needs at least one relevant document (a query with none has no recall)")
    return list(zip(rankings, relevant))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def recall_at_k(rankings, relevant, k: int) -> float:
    """Mean over queries of |relevant ∩ top k| / |relevant|: the share of what should be found
    that is found in the first k results. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> recall_at_k([[3, 1, 2]], [{1, 5}], k=2)
    0.5
    """
    _check_k(k)
    return float(np.mean([len(set(list(r)[:k]) & set(rel)) / len(rel) for r, rel in _check_rankings(rankings, relevant)]))


def precision_at_k(rankings, relevant, k: int) -> float:
    """Mean over queries of |relevant ∩ top k| / k: the share of the first k results that are
    relevant. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> precision_at_k([[3, 1, 2]], [{1, 5}], k=2)
    0.5
    """
    _check_k(k)
    return float(np.mean([len(set(list(r)[:k]) & set(rel)) / k for r, rel in _check_rankings(rankings, relevant)]))


def mrr(rankings, relevant) -> float:
    """Mean reciprocal rank: the mean over queries of 1 / (position of the first relevant
    document), counting from 1, and 0 when none is ranked. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> mrr([[3, 1, 2], [5, 4]], [{1}, {7}])
    0.25
    """
    reciprocal_ranks = []
    for ranking, rel in _check_rankings(rankings, relevant):
        position = next((i for i, doc in enumerate(ranking, start=1) if doc in rel), None)
        reciprocal_ranks.append(0.0 if position is None else 1 / position)
    return float(np.mean(reciprocal_ranks))


def ndcg_at_k(rankings, relevant, k: int) -> float:
    """Normalised discounted cumulative gain at k, averaged over queries (Järvelin & Kekäläinen 2002).

    DCG@k = Σ_{i=1..k} gain(doc_i) / log₂(i + 1), and nDCG@k = DCG@k / IDCG@k, IDCG being the
    DCG of the best possible order. ``relevant[q]`` is a set (every relevant document has gain
    1) or a dict {document: gain} for graded relevance. Linear gains, as scikit-learn's
    ``ndcg_score``. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    _check_k(k)
    discounts = 1 / np.log2(np.arange(2, k + 2))  # (k,): 1/log₂(i + 1) for i = 1 … k
    values = []
    for ranking, rel in _check_rankings(rankings, relevant):
        gains = rel if isinstance(rel, dict) else dict.fromkeys(rel, 1.0)
        ranked = [gains.get(doc, 0.0) for doc in list(ranking)[:k]]
        ideal = sorted(gains.values(), reverse=True)[:k]
        values.append(np.dot(ranked, discounts[: len(ranked)]) / np.dot(ideal, discounts[: len(ideal)]))
    return float(np.mean(values))


def retrieval_report(rankings, relevant, ks=(1, 5, 10)) -> dict:
    """Recall@k for each k in ``ks``, MRR and nDCG@max(ks), as a dict ready for
    ``pandas.DataFrame([report], index=[name])``. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    report = {f"recall@{k}": recall_at_k(rankings, relevant, k) for k in ks}
    report["MRR"] = mrr(rankings, relevant)
    report[f"nDCG@{max(ks)}"] = ndcg_at_k(rankings, relevant, max(ks))
    return report


def rows_by_kind(kinds) -> list[list[int]]:
    """The positions of all queries, then of each kind's, in sorted order of kinds."""
    kinds = list(kinds)
    return [list(range(len(kinds)))] + [[i for i, k in enumerate(kinds) if k == kind] for kind in sorted(set(kinds))]


def report_by_kind(rankings: dict, relevant, kinds) -> pd.DataFrame:
    """Recall@1, recall@5, precision@5, MRR and nDCG@10 of each
    method's rankings, ``{method: [ranking of query i, ...]}``, against ``relevant`` (a set per
    query), over all queries and for each value of ``kinds`` (one per query). Rows
    ``(method, kind)``, kind being ``all`` or a kind. Book: Chapter 6, "A help-centre search box"."""
    relevant, kinds = list(relevant), list(kinds)
    names = ["all", *sorted(set(kinds))]
    report = []
    for method, ranked in rankings.items():
        for kind, chosen in zip(names, rows_by_kind(kinds)):
            picked, wanted = [ranked[i] for i in chosen], [relevant[i] for i in chosen]
            report.append({"method": method, "kind": kind, "questions": len(chosen),
                           "recall@1": recall_at_k(picked, wanted, 1),
                           "recall@5": recall_at_k(picked, wanted, 5),
                           "precision@5": precision_at_k(picked, wanted, 5),
                           "MRR": mrr(picked, wanted), "nDCG@10": ndcg_at_k(picked, wanted, 10)})
    return pd.DataFrame(report).set_index(["method", "kind"])
