"""The remedies of issue 23 put together and measured on the deep questions: the base or the
adapted encoder (:mod:`~embedlab.rag.adaptation`), re-ranked by MaxSim or by the trained
cross-encoder (:mod:`~embedlab.rag.cross_encoder`), over the whole Wikipedia sample.
Book: Chapter 6, "Adapting the encoder to the corpus".
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib

import numpy as np

from embedlab.encoders import encode
from embedlab.rag.adaptation import AdaptationConfig, adapted_minilm
from embedlab.rag.chunking import ChunkingConfig, chunk_documents
from embedlab.rag.corpora import wikipedia_documents
from embedlab.rag.dense import embed_chunks, embedding_input
from embedlab.rag.cross_encoder import CrossEncoderConfig, trained_reranker
from embedlab.rag.generation import smollm2_generator
from embedlab.rag.passage_questions import passage_questions, passage_report
from embedlab.rag.pipeline import SEARCH_HYBRID_WEIGHT
from embedlab.rag.query_likelihood import QueryLikelihoodReranker
from embedlab.rag.retrieval import Retriever
from embedlab.rag.store import ExactVectors
from embedlab.search import rerank_head
from embedlab.training import one_thread

MODELS = ("base", "adapted")
RERANKERS = ("none", "maxsim", "maxsim+hybrid", "query-likelihood", "cross-encoder", "adapted-encoder")
#: The re-rankers a database search can use (``python -m embedlab.rag search --reranker``).
#: ``maxsim+hybrid`` (the default) fuses MaxSim's order with the hybrid order
#: (:data:`~embedlab.rag.pipeline.SEARCH_HYBRID_WEIGHT`); ``maxsim`` is MaxSim alone;
#: ``query-likelihood`` re-orders the default's order by SmolLM2's likelihood of the question
#: (:class:`~embedlab.rag.query_likelihood.QueryLikelihoodReranker`), seconds per question on a CPU.
SEARCH_RERANKERS = ("maxsim+hybrid", "maxsim", "query-likelihood", "cross-encoder")


def sample_chunks() -> list:
    """The Wikipedia sample's chunks (default chunking): the corpus both trained remedies learn from."""
    return chunk_documents(wikipedia_documents(), ChunkingConfig())


def encoder_by_name(name: str = "base", show_progress: bool = False):
    """The encoder called ``name`` (:data:`MODELS`): None for the base MiniLM (what
    :func:`~embedlab.rag.pipeline.ingest` takes as its default), or the MiniLM adapted to the
    Wikipedia sample (:func:`adapted_minilm`: loaded from the cache, trained first if it is not
    there, minutes on a CPU)."""
    if name not in MODELS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(MODELS)}")
    if name == "base":
        return None
    return adapted_minilm(sample_chunks(), AdaptationConfig(), show_progress=show_progress).model


def reranker_by_name(name: str, chunks, show_progress: bool = False):
    """The re-ranker called ``name`` (:data:`SEARCH_RERANKERS`) for a retriever over ``chunks``:
    None for MaxSim, alone or fused with the hybrid order (the :class:`Retriever`'s own), SmolLM2's
    query likelihood after MaxSim (:class:`QueryLikelihoodReranker`), or the cross-encoder trained
    on the Wikipedia sample (:func:`trained_reranker`, loaded from the cache or trained first)
    reading ``chunks``."""
    if name not in SEARCH_RERANKERS:
        raise ValueError(f"unknown re-ranker {name!r}; choose one of {', '.join(SEARCH_RERANKERS)}")
    if name in ("maxsim", "maxsim+hybrid"):
        return None
    if name == "query-likelihood":
        return QueryLikelihoodReranker(smollm2_generator(), list(chunks))
    trained = trained_reranker(sample_chunks(), CrossEncoderConfig(), show_progress=show_progress)
    return dataclasses.replace(trained, chunks=list(chunks))


class EncoderRescorer:
    """Re-score candidates by the cosine of an encoder's embeddings (the adapted MiniLM), each
    chunk encoded the first time it is a candidate and kept: how the adapted encoder is measured
    without re-encoding the whole corpus. ``rerank`` has the signature of
    :meth:`~embedlab.rag.cross_encoder.CrossEncoderReranker.rerank`."""

    def __init__(self, model, chunks):
        self.model, self.chunks, self.vectors = model, list(chunks), {}

    def rerank(self, query: str, keys, top: int) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, dtype=np.int64)
        head = keys[:top]
        missing = [int(k) for k in head if int(k) not in self.vectors]
        with one_thread():
            if missing:
                self.vectors.update(zip(missing, encode([embedding_input(self.chunks[k]) for k in missing], self.model)))
            query_vector = encode([query], self.model)[0]
        return rerank_head(keys, [self.vectors[int(k)] @ query_vector for k in head])


def wikipedia_retriever(model: str = "base", show_progress: bool = False) -> Retriever:
    """A :class:`Retriever` over the whole Wikipedia sample (5,889 chunks) with the base MiniLM
    (its embeddings cached by :func:`~embedlab.rag.dense.embed_chunks`) or the adapted one
    (trained or loaded by :func:`adapted_minilm`, embeddings by :func:`~embedlab.rag.dense.embed_chunks`, cached under its weights)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if model == "base":
        return Retriever.from_documents(wikipedia_documents(), show_progress=show_progress)
    chunks = sample_chunks()
    adapted = adapted_minilm(chunks, AdaptationConfig(), show_progress=show_progress)
    vectors, tokens = embed_chunks(chunks, adapted.model, show_progress=show_progress, with_tokens=True)
    return Retriever(chunks, ExactVectors(vectors), adapted.model, tokens)


def ranker(retriever: Retriever, reranker: str = "maxsim", rerank_top: int = 20, second_stage=None):
    """A function question -> chunk keys, best first: hybrid search (BM25 and dense fused), its
    first ``rerank_top`` re-ranked by ``reranker``: ``none``, ``maxsim``, ``maxsim+hybrid``
    (MaxSim fused with the hybrid order, the search's default), or ``query-likelihood``,
    ``cross-encoder`` and ``adapted-encoder``, which need ``second_stage``, a
    :class:`~embedlab.rag.query_likelihood.QueryLikelihoodReranker` (which re-orders the
    default's order), :class:`~embedlab.rag.cross_encoder.CrossEncoderReranker` or :class:`EncoderRescorer`."""
    if reranker not in RERANKERS:
        raise ValueError(f"unknown re-ranker {reranker!r}; choose one of {', '.join(RERANKERS)}")
    if reranker in ("query-likelihood", "cross-encoder", "adapted-encoder") and second_stage is None:
        raise ValueError(f"the {reranker} re-ranker needs its model: pass second_stage")
    if reranker == "none":
        return lambda question: retriever.ranking(question, "hybrid")[0]
    if reranker in ("maxsim", "maxsim+hybrid", "query-likelihood"):
        variant = copy.copy(retriever)  # the same index, another re-ranking
        variant.hybrid_weight = 0.0 if reranker == "maxsim" else SEARCH_HYBRID_WEIGHT
        variant.reranker = second_stage if reranker == "query-likelihood" else None
        return lambda question: variant.ranking(question, "hybrid+rerank", rerank_top=rerank_top)[0]
    return lambda question: second_stage.rerank(question, retriever.ranking(question, "hybrid")[0], rerank_top)[0]


def deep_report(retriever: Retriever, questions, reranker: str = "maxsim", rerank_top: int = 20,
                show_progress: bool = False) -> dict:
    """:func:`~embedlab.rag.passage_questions.passage_report` of dense search alone and of
    hybrid search re-ranked by ``reranker`` on ``retriever``: ``{"dense": {...}, "<reranker>": {...}}``.
    The cross-encoder and the adapted encoder are trained on the retriever's chunks, or loaded
    from the cache."""
    second_stage = None
    if reranker == "query-likelihood":
        second_stage = QueryLikelihoodReranker(smollm2_generator(), retriever.chunks)
    elif reranker == "cross-encoder":
        second_stage = trained_reranker(retriever.chunks, CrossEncoderConfig(), show_progress=show_progress)
    elif reranker == "adapted-encoder":
        adapted = adapted_minilm(retriever.chunks, AdaptationConfig(), show_progress=show_progress)
        second_stage = EncoderRescorer(adapted.model, retriever.chunks)
    return {"dense": passage_report(lambda q: retriever.ranking(q, "dense")[0], questions, retriever.chunks),
            f"hybrid+{reranker}": passage_report(ranker(retriever, reranker, rerank_top, second_stage), questions,
                                                 retriever.chunks)}


#: The cheap remedies Chapter 6 measures, each a re-ranking setting of the same hybrid search:
#: ``(rerank_top, hybrid_weight)`` of :meth:`Retriever.rerank`, or None for no re-ranking. The
#: fused setting (MaxSim's order fused with the hybrid order, weight 0.5) was the best on the
#: development half and is :func:`~embedlab.rag.pipeline.search`'s default; the others are
#: MaxSim alone, the book's re-ranker, over 20 (the ``Retriever``'s default), 50 and 100 candidates.
CHEAP_REMEDIES = {"hybrid": None, "+ MaxSim, top 20": (20, 0.0), "+ MaxSim, top 50": (50, 0.0),
                  "+ MaxSim, top 100": (100, 0.0), "+ MaxSim fused with hybrid, top 20 (default)": (20, 0.5)}


def articles_of(split: str, n_articles: int) -> list[str]:
    """The titles of ``n_articles`` articles that questions of ``split`` ask about, the first by the
    SHA-256 of their title: a rule that reads only titles, so no measurement chose them. How
    Chapter 6 keeps a whole-article index inside its time budget."""
    titles = sorted(set(passage_questions(split)["first_title"]), key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    return titles[:n_articles]


def deep_subset(split: str, n_articles: int) -> tuple[list, object]:
    """(documents, questions): the whole text of the :func:`articles_of` ``split`` and the
    questions of ``split`` about them (:func:`~embedlab.rag.passage_questions.passage_questions`).
    Book: Chapter 6, "Finding the passage"."""
    titles = set(articles_of(split, n_articles))
    questions = passage_questions(split)
    return ([document for document in wikipedia_documents() if document.title in titles],
            questions[questions["first_title"].isin(titles)].reset_index(drop=True))


def cheap_remedy_report(retriever: Retriever, questions, settings=None) -> dict:
    """:func:`~embedlab.rag.passage_questions.passage_report` of each re-ranking setting
    (``settings``, default :data:`CHEAP_REMEDIES`) of hybrid search on ``retriever``, and of dense
    search alone: ``{name: report}``. Book: Chapter 6, "Finding the passage"."""
    reports = {"dense": passage_report(lambda q: retriever.ranking(q, "dense")[0], questions, retriever.chunks)}
    for name, setting in (settings or CHEAP_REMEDIES).items():
        if setting is None:
            rank = lambda q: retriever.ranking(q, "hybrid")[0]
        else:
            variant = copy.copy(retriever)  # the same index, another re-ranking
            variant.hybrid_weight = setting[1]
            rank = lambda q, variant=variant, top=setting[0]: variant.ranking(
                q, "hybrid+rerank", max(100, top), top)[0]
        reports[name] = passage_report(rank, questions, retriever.chunks)
    return reports
