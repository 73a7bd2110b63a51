"""BM25, the book's one keyword search (Chapter 6 explains it; Chapter 4 mines hard negatives
with it), computed by ``bm25s``.
"""

from __future__ import annotations

import numpy as np

from embedlab.search import top_k

BM25_METHODS = ("lucene", "okapi")


class BM25Index:
    """BM25 over a list of texts (Robertson & Zaragoza 2009), computed by ``bm25s`` (Lù 2024).

    For a query q, text d of |d| tokens, average length avgdl and N texts, n(t) of which hold t:

        score(q, d) = Σ_{t ∈ q} idf(t) · tf(t, d) · c / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl))

    - ``method="lucene"`` (the default, Lucene's BM25Similarity): idf(t) = ln(1 + (N − n + 0.5) / (n + 0.5)),
      always positive, and c = 1.
    - ``method="okapi"``: idf(t) = ln((N − n + 0.5) / (n + 0.5)) and c = k1 + 1, the scores of
      ``rank_bm25.BM25Okapi``, except for a word in more than half the texts (negative idf):
      bm25s counts it 0, rank_bm25 replaces it by 0.25 × the mean idf. In bm25s this is
      ``BM25(method="atire", idf_method="robertson")``.

    Texts and queries are tokenized by bm25s: lower-cased words of two or more letters or
    digits, English stop words removed, no stemming. Book: Chapter 6, "Keyword search with BM25".
    """

    def __init__(self, texts, method: str = "lucene", k1: float = 1.5, b: float = 0.75):
        import bm25s

        texts = list(texts)
        if not texts:
            raise ValueError("there are no documents to index: BM25 needs at least one text")
        if method not in BM25_METHODS:
            raise ValueError(f"unknown BM25 method {method!r}; choose 'lucene' or 'okapi'")
        options = {"method": "atire", "idf_method": "robertson"} if method == "okapi" else {"method": "lucene"}
        self.method, self.n_texts = method, len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b, **options)
        self._bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """The BM25 tokens of ``text`` (bm25s's tokenizer, as used for the index)."""
        import bm25s

        return [token for token in bm25s.tokenize([text], stopwords="en", return_ids=False, show_progress=False)[0]
                if token]

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every text for ``query``: (n_texts,) float32, 0 for a text that shares no word."""
        ids = self._bm25.get_tokens_ids(self.tokenize(query))
        if not ids:
            return np.zeros(self.n_texts, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best texts for ``query``: (indices, scores), best first; ties keep the lower index."""
        return top_k(self.scores(query), k)


def bm25_scores(queries, documents) -> np.ndarray:
    """BM25 score of every document for every query: an (n_queries, n_documents) array.

    BM25 (Robertson & Zaragoza 2009) in Lucene's form, as ``bm25s`` computes it:

        score(q, d) = Σ_{t ∈ q} IDF(t) · tf(t, d) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl)),
        IDF(t) = log(1 + (N − df(t) + 0.5) / (df(t) + 0.5)),   k1 = 1.5, b = 0.75,

    with N documents, df(t) of them containing t, and |d| counted in tokens: a word counts more
    the rarer it is, and each repetition in d adds less. Tokens come from ``bm25s``'s tokenizer
    (lower-cased words of 2+ characters, English stop words removed, no stemming); a word
    repeated in the query counts once per occurrence, and a query with no indexed word scores 0
    everywhere. The index is :class:`BM25Index`, the book's one BM25 (Chapter 6
    explains it). Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    index = BM25Index(documents)
    scores = np.zeros((0, index.n_texts), dtype=np.float32)
    return np.vstack([scores, *(index.scores(query) for query in queries)])
