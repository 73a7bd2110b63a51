"""Search over chunks: BM25, dense, hybrid by reciprocal rank fusion, and re-ranking by late
interaction (MaxSim) over MiniLM's token vectors, put together in :class:`Retriever`.
Book: Chapter 6, "Hybrid search" and "Re-ranking".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedlab.bm25 import BM25Index
from embedlab.encoders import encode, encode_with_tokens, load_minilm, token_vectors
from embedlab.rag.chunking import Chunk, ChunkingConfig, chunk_documents
from embedlab.rag.dense import embed_chunks, embedding_input
from embedlab.rag.store import NO_FILTERS, ExactVectors
from embedlab.search import rerank_head, top_k


def reciprocal_rank_fusion(rankings, k: int = 60, weights=None) -> list[tuple]:
    """Fuse ranked lists by reciprocal rank fusion (Cormack, Clarke & Büttcher 2009):

        RRF(d) = Σ_r w_r / (k + rank_r(d)),

    rank_r(d) counting from 1 in ranking r, a list that lacks d adding nothing, w_r the weight
    of ranking r (``weights``; default 1 each, the paper's fusion). Only ranks are
    used, so BM25 scores (unbounded) and cosines (at most 1) need no common scale; k = 60 is the
    paper's, and damps the weight of the very first places. Returns ``(item, score)`` pairs, best
    first; ties keep the order in which the items first appear (the first ranking's order first).
    Book: Chapter 6, "Hybrid search".

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    rankings = list(rankings)
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings: give one weight per ranking")
    scores = {}
    for ranking, weight in zip(rankings, weights):
        for position, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + position)
    return sorted(scores.items(), key=lambda pair: -pair[1])  # sorted is stable: first seen first on ties


def maxsim(query_tokens: np.ndarray, text_tokens) -> np.ndarray:
    """MaxSim of one query's token vectors (m, d) against each text's (n_i, d): Σ_i max_j q̂_i · d̂_j
    (see :func:`maxsim_scores`), 0 for a text without tokens; float16 token vectors are read as
    float32. All texts' tokens are stacked into one (Σ n_i, d) matrix, so that one matrix product
    scores every candidate (a hundred small products cost far more in BLAS calls than in arithmetic)."""
    query_tokens = np.asarray(query_tokens, dtype=np.float32)
    text_tokens = list(text_tokens)
    lengths = np.array([len(tokens) for tokens in text_tokens], dtype=np.int64)
    scores = np.zeros(len(text_tokens), dtype=np.float32)
    if not lengths.any():
        return scores
    stacked = np.concatenate([tokens for tokens in text_tokens if len(tokens)]).astype(np.float32)
    similarities = query_tokens @ stacked.T  # (m, Σ n_i)
    starts = np.concatenate([[0], np.cumsum(lengths[lengths > 0])[:-1]])
    scores[lengths > 0] = np.maximum.reduceat(similarities, starts, axis=1).sum(axis=0)
    return scores


def maxsim_scores(query: str, texts, model=None) -> np.ndarray:
    """Late-interaction relevance of each text to ``query``, ColBERT's MaxSim (Khattab & Zaharia 2020):

        S(q, d) = Σ_{i ∈ q} max_{j ∈ d} q̂_i · d̂_j,

    each query token matched with its most similar token of the text, over MiniLM's token
    vectors (:func:`token_vectors`). A single-vector model squeezes a text into one point; here
    every query word must find its own match, which rewards a passage that answers the whole
    question. MiniLM was not trained for this (ColBERT's encoders are), so the chapter measures
    it rather than trusting it. Book: Chapter 6, "Re-ranking".
    """
    texts = list(texts)
    if not texts:
        return np.zeros(0, dtype=np.float32)
    query_tokens, *text_tokens = token_vectors([query, *texts], model)
    return maxsim(query_tokens, text_tokens)


@dataclass(frozen=True)
class Hit:
    """One search result: ``key`` is the chunk's position in the retriever's list, ``score`` the
    score of the last stage that ranked it (BM25, cosine, RRF or MaxSim)."""

    rank: int
    chunk: Chunk
    score: float
    key: int

    def as_dict(self) -> dict:
        return {"rank": self.rank, "title": self.chunk.title, "score": round(self.score, 6), "text": self.chunk.text,
                "doc_id": self.chunk.doc_id, "source": self.chunk.source, "start": self.chunk.start,
                "end": self.chunk.end}


def document_hits(chunks, keys, scores) -> list[Hit]:
    """A chunk ranking (``keys`` into ``chunks``, with their ``scores``, best first) as a ranking of
    documents: one :class:`Hit` per document, its best chunk with that chunk's score, ranked from 1
    in the order of the documents' best chunks ("max-passage" scoring, Dai & Callan 2019). What a
    search box shows: each article once, with the passage that put it there.
    Book: Chapter 6, "A help-centre search box".
    """
    hits, seen = [], set()
    for key, score in zip(keys, scores):
        chunk = chunks[int(key)]
        if chunk.doc_id not in seen:
            seen.add(chunk.doc_id)
            hits.append(Hit(len(hits) + 1, chunk, float(score), int(key)))
    return hits


SEARCH_METHODS = ("bm25", "dense", "hybrid", "hybrid+rerank")


class Retriever:
    """BM25, dense, hybrid and re-ranked search over one list of chunks. Book: Chapter 6.

    ``vectors`` holds the chunks' embeddings, row i for ``chunks[i]``: an :class:`ExactVectors`
    (in memory) or a store that can filter and be closed (:class:`MilvusStore`, :class:`ExactStore`,
    from :func:`open_store`). BM25 indexes the same text the encoder read
    (:func:`embedding_input`: title, then chunk) when the retriever is made (bm25s indexes the
    Wikipedia sample's chunks in about a second), so the database stays the one place the chunks live.
    ``token_vectors`` (optional, one array per chunk) are the chunks' stored token vectors for
    re-ranking; without them, re-ranking encodes each candidate anew. ``reranker`` (optional)
    replaces MaxSim as the re-ranker: any object whose ``rerank(query, keys, top)`` returns
    (keys, scores) as :meth:`rerank` does, such as the trained
    :class:`~embedlab.rag.cross_encoder.CrossEncoderReranker`, or follows it when its
    ``after_maxsim`` is true. ``hybrid_weight`` > 0 keeps some
    of the first stage's judgement in the re-ranking (:meth:`rerank`).
    """

    def __init__(self, chunks, vectors, model=None, token_vectors=None, reranker=None, hybrid_weight: float = 0.0):
        self.chunks = list(chunks)
        if not self.chunks:
            raise ValueError("there are no chunks to search")
        if token_vectors is not None and len(token_vectors) != len(self.chunks):
            raise ValueError(f"{len(token_vectors)} token-vector arrays for {len(self.chunks)} chunks")
        self.vectors, self._model, self.token_vectors, self.reranker = vectors, model, token_vectors, reranker
        if hybrid_weight < 0:
            raise ValueError(f"hybrid_weight must be at least 0, got {hybrid_weight}")
        self.hybrid_weight = hybrid_weight
        self.bm25 = BM25Index([embedding_input(chunk) for chunk in self.chunks])

    @classmethod
    def from_documents(cls, documents, config: ChunkingConfig = ChunkingConfig(), model=None,
                       show_progress: bool = False, with_tokens: bool = True) -> Retriever:
        """Chunk ``documents``, embed the chunks (cached, :func:`embed_chunks`) and keep them in memory,
        with their token vectors for re-ranking unless ``with_tokens=False``."""
        chunks = chunk_documents(documents, config, show_progress)
        if not chunks:
            raise ValueError("the documents hold no words to index")
        if with_tokens:
            embeddings, tokens = embed_chunks(chunks, model, show_progress=show_progress, with_tokens=True)
            return cls(chunks, ExactVectors(embeddings), model, tokens)
        return cls(chunks, ExactVectors(embed_chunks(chunks, model, show_progress=show_progress)), model)

    @property
    def model(self):
        return self._model or load_minilm()

    def close(self) -> None:
        """Close the database, when the vectors are in one."""
        if hasattr(self.vectors, "close"):
            self.vectors.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _allowed(self, where: str | None) -> set | None:
        """The keys of the chunks that match the filter ``where`` (None: no filter)."""
        if where is None:
            return None
        if not hasattr(self.vectors, "keys_where"):
            raise ValueError(NO_FILTERS)
        return self.vectors.keys_where(where)

    def bm25_ranking(self, query: str, depth: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``depth`` best chunks for ``query`` by BM25: (keys, scores)."""
        scores = self.bm25.scores(query)
        allowed = self._allowed(where)
        if allowed is not None:
            mask = np.full(len(scores), -np.inf, dtype=np.float32)
            mask[list(allowed)] = 0
            scores = scores + mask
        keys, scores = top_k(scores, depth)
        keep = scores > 0  # a chunk that shares no word with the query (or is filtered out) is no match
        return keys[keep], scores[keep]

    def dense_ranking(self, query: str, depth: int, where: str | None = None,
                      query_vector=None) -> tuple[np.ndarray, np.ndarray]:
        """The ``depth`` nearest chunks to the query's embedding: (keys, cosines)."""
        vector = encode([query], self.model) if query_vector is None else query_vector
        keys, scores = self.vectors.search(vector, depth, where)
        keep = keys[0] >= 0
        return keys[0][keep], scores[0][keep]

    def hybrid_ranking(self, query: str, depth: int, where: str | None = None, query_vector=None,
                       rrf_k: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """BM25's and the dense ``depth`` best, fused by :func:`reciprocal_rank_fusion`: (keys, RRF scores)."""
        return fuse(self.bm25_ranking(query, depth, where)[0], self.dense_ranking(query, depth, where, query_vector)[0],
                      rrf_k)

    def rerank(self, query: str, keys, top: int, query_tokens=None) -> tuple[np.ndarray, np.ndarray]:
        """Order the first ``top`` of ``keys`` by MaxSim (:func:`maxsim_scores`), or by the
        retriever's ``reranker`` when it has one; those after keep their order (and a NaN score).
        Returns (keys, scores). Stored token vectors are used when the retriever has them, and
        ``query_tokens`` when given.

        With ``hybrid_weight`` w > 0, the candidates are ordered by the reciprocal rank fusion
        (:func:`reciprocal_rank_fusion`, k = 60) of MaxSim's order and their order in ``keys``,
        1/(60 + rank_MaxSim) + w/(60 + rank_first_stage), and scored by it: MaxSim alone throws
        away what BM25 and the dense search agreed on. A ``reranker`` whose ``after_maxsim`` is true
        (:class:`~embedlab.rag.query_likelihood.QueryLikelihoodReranker`) is a third stage instead: it
        re-orders MaxSim's order. Book: Chapter 6, "Finding the passage"."""
        if self.reranker is not None and not getattr(self.reranker, "after_maxsim", False):
            return self.reranker.rerank(query, keys, top)
        keys, scores = self._maxsim_rerank(query, keys, top, query_tokens)
        return (keys, scores) if self.reranker is None else self.reranker.rerank(query, keys, top)

    def _maxsim_rerank(self, query: str, keys, top: int, query_tokens=None) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, dtype=np.int64)
        head = keys[:top]
        if self.token_vectors is None:
            scores = maxsim_scores(query, [embedding_input(self.chunks[key]) for key in head], self.model)
        else:
            query_tokens = token_vectors([query], self.model)[0] if query_tokens is None else query_tokens
            scores = maxsim(query_tokens, [self.token_vectors[key] for key in head])
        reranked = rerank_head(keys, scores)
        if self.hybrid_weight == 0:
            return reranked
        return fuse_head(keys, reranked[0][: len(head)], self.hybrid_weight)

    def ranking(self, query: str, method: str = "hybrid+rerank", depth: int = 100, rerank_top: int = 20,
                where: str | None = None, query_vector=None, query_tokens=None) -> tuple[np.ndarray, np.ndarray]:
        """Chunk keys and scores, best first, by one of :data:`SEARCH_METHODS`; ``depth`` chunks are
        taken from each first-stage ranking and the ``rerank_top`` best hybrid ones are re-ranked."""
        if method not in SEARCH_METHODS:
            raise ValueError(f"unknown search method {method!r}; choose one of {', '.join(SEARCH_METHODS)}")
        if method == "bm25":
            return self.bm25_ranking(query, depth, where)
        if method == "dense":
            return self.dense_ranking(query, depth, where, query_vector)
        if method == "hybrid+rerank" and query_vector is None and query_tokens is None:
            query_vector, (query_tokens,) = encode_with_tokens([query], self.model)  # one encoder pass for both
        keys, scores = self.hybrid_ranking(query, depth, where, query_vector)
        return self.rerank(query, keys, rerank_top, query_tokens) if method == "hybrid+rerank" else (keys, scores)

    def search(self, query: str, k: int = 5, method: str = "hybrid+rerank", where: str | None = None,
               rerank_top: int = 20) -> list[Hit]:
        """The ``k`` best chunks for ``query`` as :class:`Hit` objects (none when no chunk matches: a
        BM25 search for words no chunk holds); an empty query is an error. Book: Chapter 6, "Putting it together"."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if not query.strip():
            raise ValueError("the question is empty: give the words to search for")
        keys, scores = self.ranking(query, method, max(k, rerank_top, 100), max(k, rerank_top), where)
        return [Hit(rank, self.chunks[key], float(score), int(key))
                for rank, (key, score) in enumerate(zip(keys[:k], scores[:k]), start=1)]


def index_storage(retriever: Retriever) -> dict:
    """Bytes the in-memory index of ``retriever`` takes: ``vectors``, its single vectors (n_chunks x
    384 float32 for MiniLM), and ``token vectors``, the stored token vectors re-ranking reads (one
    row of 384 float16 per token of each chunk; 0 when none are stored). Their ratio is what late
    interaction costs in storage (ColBERT, Khattab & Zaharia 2020): about tokens per chunk / 2.
    Book: Chapter 6, "Indexing the Wikipedia sample"."""
    vectors = getattr(retriever.vectors, "vectors", None)
    if vectors is None:
        raise ValueError("the retriever's vectors live in a database; index_storage measures an in-memory index")
    tokens = retriever.token_vectors or []
    return {"vectors": int(vectors.nbytes), "token vectors": int(sum(t.nbytes for t in tokens))}


def fuse_head(keys, reranked_head, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """A re-ranker's order of the first ``len(reranked_head)`` of ``keys`` fused with their order in
    ``keys`` by :func:`reciprocal_rank_fusion` (k = 60), ``weight`` on the latter:
    1/(60 + rank_re-ranker) + weight/(60 + rank_before), so that a re-ranker keeps some of the
    judgement of the ranking it re-orders. Returns (keys, scores): the head by that score (a tie
    goes to the re-ranker's order), then the keys after the head in their order with NaN scores,
    as :func:`~embedlab.search.rerank_head` returns them. Book: Chapter 6, "Finding the passage"."""
    keys = np.asarray(keys, dtype=np.int64)
    head = keys[: len(reranked_head)]
    if set(map(int, reranked_head)) != set(map(int, head)):
        raise ValueError("the re-ranked head must hold the same keys as the head of the ranking it re-orders")
    fused = reciprocal_rank_fusion([list(map(int, reranked_head)), list(map(int, head))], weights=(1.0, weight))
    return rerank_head(np.concatenate([np.array([key for key, _ in fused], dtype=np.int64), keys[len(head):]]),
                       [score for _, score in fused])


def fuse(bm25_keys, dense_keys, rrf_k: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two rankings of chunk keys fused by :func:`reciprocal_rank_fusion`: (keys, RRF scores)."""
    fused = reciprocal_rank_fusion([list(bm25_keys), list(dense_keys)], k=rrf_k)
    return np.array([key for key, _ in fused], dtype=np.int64), np.array([s for _, s in fused], dtype=np.float32)
