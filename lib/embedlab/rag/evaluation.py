"""Measuring retrieval on questions with known answers: articles and passages found by each
search method, latency, encoders compared, chunk sizes, and queries whose domain is ambiguous.
Book: Chapter 6, "Measuring a search engine" and the sections after it.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd

from embedlab import progress
from embedlab.bm25 import BM25Index
from embedlab.encoders import encode, encode_with_tokens, load_minilm, minilm_tokenizer
from embedlab.metrics import precision_at_k, recall_at_k, report_by_kind, rows_by_kind
from embedlab.rag.chunking import ChunkingConfig, chunk_documents
from embedlab.rag.dense import embed_chunks, embedding_input
from embedlab.rag.retrieval import SEARCH_METHODS, Retriever
from embedlab.search import exact_search, top_k


def document_ranking(chunks, keys) -> list[str]:
    """Chunk keys, best first, to document ids, best first: each document at the place of its best
    chunk ("max-passage" scoring, Dai & Callan 2019)."""
    return list(dict.fromkeys(chunks[key].doc_id for key in keys))


def _passage_labels(chunks, keys, doc_id: str, start: int, end: int, share: float = 0.5) -> list:
    """The keys, with every chunk that holds at least ``share`` of the passage text[start:end] of
    ``doc_id`` (half by default; 1: all of it) replaced by the label ``"passage"``."""
    labels = []
    for key in keys:
        chunk = chunks[key]
        shared = min(chunk.end, end) - max(chunk.start, start)
        labels.append("passage" if chunk.doc_id == doc_id and shared >= share * (end - start) else int(key))
    return labels


def evaluate_retrievers(retriever: Retriever, questions: pd.DataFrame, documents, methods=SEARCH_METHODS,
                        depth: int = 100, rerank_top: int = 20, show_progress: bool = False) -> pd.DataFrame:
    """Recall@1, recall@5, precision@5, MRR and nDCG@10 (:func:`report_by_kind`) and passage@5 of
    each method, over all questions and by ``kind``.

    ``questions`` is :func:`~embedlab.rag.corpora.wikipedia_questions` (or a table with its columns) and ``documents``
    the documents the retriever's chunks come from. A method's chunk ranking becomes a ranking
    of articles (:func:`document_ranking`), scored against ``relevant_titles`` with the metrics of
    :mod:`embedlab.contrastive`; ``passage@5`` is the share of questions for which one of the
    first five chunks holds the quoted passage, what a generator needs. Rows
    ``(method, kind)``, kind being ``all`` or a value of ``questions.kind``. Book: Chapter 6,
    "Measuring a search engine".
    """

    texts = {document.doc_id: document.text for document in documents}
    query_vectors, query_tokens = encode_with_tokens(questions["question"], retriever.model)
    rankings = {method: [] for method in methods}
    passages = {method: [] for method in methods}
    rows = list(questions.itertuples(index=False))
    for row, vector, tokens in zip(progress.bar(rows, "evaluating", " questions", enabled=show_progress), query_vectors,
                                   query_tokens):
        start = texts[row.first_title].find(row.passage)
        for method in methods:
            keys, _ = retriever.ranking(row.question, method, depth, rerank_top, query_vector=vector[None, :],
                                        query_tokens=tokens)
            rankings[method].append(document_ranking(retriever.chunks, keys))
            passages[method].append(_passage_labels(retriever.chunks, keys, row.first_title, start,
                                                    start + len(row.passage)))
    report = report_by_kind(rankings, questions["relevant_titles"], questions["kind"])
    report["passage@5"] = [recall_at_k([passages[method][i] for i in chosen], [{"passage"}] * len(chosen), 5)
                           for method in rankings for chosen in rows_by_kind(questions["kind"])]
    return report


def search_latency(retriever: Retriever, queries, methods=SEARCH_METHODS, rerank_top: int = 20,
                   repeats: int = 1) -> pd.Series:
    """Median milliseconds per query of each search method on ``retriever``, everything included
    (query encoding, BM25, search, fusion, MaxSim over the stored token vectors). With
    ``"rerank, encoding candidates"`` among ``methods``, also re-ranking when the candidates' token
    vectors are not stored and the encoder must read each candidate at query time (the cost a
    cross-encoder always pays). Book: Chapter 6, "Re-ranking"."""
    queries = list(queries)
    without_tokens = copy.copy(retriever)
    without_tokens.token_vectors = None
    times = {}
    for method in methods:
        searcher, name = (without_tokens, "hybrid+rerank") if method == "rerank, encoding candidates" else (retriever, method)
        samples = []
        for _ in range(repeats):
            for query in queries:
                started = time.perf_counter()
                searcher.ranking(query, name, rerank_top=rerank_top)
                samples.append(time.perf_counter() - started)
        times[method] = 1000 * float(np.median(samples))
    return pd.Series(times, name="ms per query")


def encoding_speed(encode_texts, texts, repeats: int = 2) -> float:
    """Texts per second that ``encode_texts(texts)`` encodes: the best of ``repeats`` timed runs
    (the first run of a model pays for warming up). Book: Chapter 6, "Choosing an embedding model"."""
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to time")
    best = min(_seconds(encode_texts, texts) for _ in range(repeats))
    return len(texts) / best


def _seconds(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def dense_report(chunks, chunk_vectors, query_vectors, questions: pd.DataFrame) -> dict:
    """Recall@5, MRR and nDCG@10 of dense retrieval by any encoder, over the articles of ``questions``
    (:func:`~embedlab.rag.corpora.wikipedia_questions`), with recall@5 also for paraphrased questions alone: how the
    chapter compares encoders on the same chunks. ``chunk_vectors`` and ``query_vectors`` are unit
    rows from the same encoder. Book: Chapter 6, "Choosing an embedding model"."""

    if len(chunk_vectors) != len(chunks) or len(query_vectors) != len(questions):
        raise ValueError(f"{len(chunk_vectors)} vectors for {len(chunks)} chunks and {len(query_vectors)} "
                         f"for {len(questions)} questions: one vector each")
    keys, _ = exact_search(query_vectors, chunk_vectors, min(100, len(chunks)))
    report = report_by_kind({"dense": [document_ranking(chunks, row) for row in keys]},
                            questions["relevant_titles"], questions["kind"])
    everything, paraphrases = report.loc[("dense", "all")], report.loc[("dense", "paraphrase")]
    return {"recall@5": everything["recall@5"], "recall@5 (paraphrase)": paraphrases["recall@5"],
            "MRR": everything["MRR"], "nDCG@10": everything["nDCG@10"]}


def chunk_size_sweep(documents, questions: pd.DataFrame, sizes=(64, 128, 256, 512, 1024), k: int = 5,
                     context_tokens: int = 512, model=None, show_progress: bool = False) -> pd.DataFrame:
    """Dense retrieval of the quoted passages of ``questions`` with chunks of each size in ``sizes``
    (MiniLM tokens, overlap 1/8 of the size), one row per size.

    Columns: ``chunks``; ``truncated`` (share of chunks longer than the 256 tokens MiniLM reads:
    the encoder never sees their end); ``passage@k`` (share of questions for which one of the
    first ``k`` chunks holds at least half of the passage); ``passage@budget`` (the same when the
    generator's context holds ``context_tokens`` tokens, that is the first
    max(1, context_tokens // size) chunks: small chunks pass more of them); ``article@k``; and
    ``tokens to passage``, the median over questions of the tokens a generator must read, best
    chunk first, until it has read the passage (infinite when it is not among the first 100).
    Embeddings are cached per chunking (:func:`embed_chunks`). Book: Chapter 6, "Chunk size".
    """

    model = model or load_minilm()
    texts = {document.doc_id: document.text for document in documents}
    starts = [texts[row.first_title].find(row.passage) for row in questions.itertuples(index=False)]
    query_vectors = encode(questions["question"], model)
    limit = model.max_seq_length
    tokenizer = minilm_tokenizer()
    rows = []
    for size in progress.bar(list(sizes), "chunk sizes", " sizes", enabled=show_progress):
        config = ChunkingConfig(max_tokens=size, overlap=size // 8)
        chunks = chunk_documents(documents, config)
        vectors = embed_chunks(chunks, model)
        lengths = [len(ids) for ids in tokenizer([embedding_input(c) for c in chunks], verbose=False)["input_ids"]]
        keys, _ = exact_search(query_vectors, vectors, min(100, len(chunks)))
        labels = [_passage_labels(chunks, row, q.first_title, start, start + len(q.passage))
                  for row, q, start in zip(keys, questions.itertuples(index=False), starts)]
        found = [{"passage"}] * len(labels)
        to_passage = [float(np.sum(np.array(lengths)[row[: labels_row.index("passage") + 1]]))
                      if "passage" in labels_row else np.inf for row, labels_row in zip(keys, labels)]
        rows.append({"max_tokens": size, "chunks": len(chunks), "truncated": float(np.mean(np.array(lengths) > limit)),
                     f"passage@{k}": recall_at_k(labels, found, k),
                     "passage@budget": recall_at_k(labels, found, max(1, context_tokens // size)),
                     f"article@{k}": recall_at_k([document_ranking(chunks, row) for row in keys],
                                                            list(questions["relevant_titles"]), k),
                     "tokens to passage": float(np.median(to_passage))})
    return pd.DataFrame(rows).set_index("max_tokens")


def chunk_overlap_sweep(documents, questions: pd.DataFrame,
                        settings=((128, 0), (128, 16), (128, 50), (256, 0), (256, 32), (256, 50)), k: int = 5,
                        model=None) -> pd.DataFrame:
    """Dense retrieval of the quoted passages of ``questions`` with chunks cut at each
    ``(max_tokens, overlap)`` of ``settings`` (MiniLM tokens): does overlap find more?

    One row per ``(max_tokens, overlap)``, columns: ``chunks``; ``chunks repeating text`` (the share
    of chunks that begin inside the chunk before them: :func:`~embedlab.rag.chunking.chunk_text`
    repeats text only after a window that had to cut a sentence); ``passage@k`` (one of the first
    ``k`` chunks holds at least half of the passage); ``whole passage@k`` (one of them holds all of
    it, which is what overlap is for: a passage cut at a chunk boundary is whole in neither chunk
    without it); ``article@k`` (recall@k of the article). An overlap of half the size or more is
    refused, as the chunker refuses it. Each distinct chunk text is encoded once for all settings
    (:func:`~embedlab.encoders.encode`, cached on disk under the texts and the model's version).
    Book: Chapter 6, "Chunk overlap".
    """
    model = model or load_minilm()
    texts = {document.doc_id: document.text for document in documents}
    starts = [texts[row.first_title].find(row.passage) for row in questions.itertuples(index=False)]
    settings = [(int(size), int(overlap)) for size, overlap in settings]
    for size, overlap in settings:
        if not 0 <= 2 * overlap < size:
            raise ValueError(f"an overlap of {overlap} tokens does not fit chunks of {size}: choose at least 0 and "
                             f"less than half the chunk size")
    query_vectors = encode(questions["question"], model)
    known, rows = {}, []
    # The overlap of chunk_size_sweep (1/8 of the size) first: its texts, encoded in the same order,
    # are then a cache hit when that sweep ran on the same documents.
    for size, overlap in sorted(settings, key=lambda setting: (setting[0], setting[1] != setting[0] // 8)):
        chunks = chunk_documents(documents, ChunkingConfig(size, overlap))
        inputs = [embedding_input(chunk) for chunk in chunks]
        # Most chunks are the same with and without overlap (only those after a cut sentence move):
        # each setting encodes only the texts no earlier setting had.
        missing = list(dict.fromkeys(text for text in inputs if text not in known))
        if missing:
            known.update(zip(missing, encode(missing, model, cache=True)))
        vectors = np.array([known[text] for text in inputs])
        keys, _ = exact_search(query_vectors, vectors, min(100, len(chunks)))
        found = [{"passage"}] * len(keys)
        repeating = sum(c.index > 0 and c.start < chunks[i - 1].end for i, c in enumerate(chunks))
        row = {"max_tokens": size, "overlap": overlap, "chunks": len(chunks), "chunks repeating text": repeating / len(chunks)}
        for name, share in ((f"passage@{k}", 0.5), (f"whole passage@{k}", 1.0)):
            labels = [_passage_labels(chunks, ranked, q.first_title, start, start + len(q.passage), share)
                      for ranked, q, start in zip(keys, questions.itertuples(index=False), starts)]
            row[name] = recall_at_k(labels, found, k)
        row[f"article@{k}"] = recall_at_k([document_ranking(chunks, ranked) for ranked in keys],
                                          list(questions["relevant_titles"]), k)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["max_tokens", "overlap"]).sort_index()


def reranking_report(retriever: Retriever, questions: pd.DataFrame, documents, candidates=(5, 20, 50, 100),
                     k: int = 5) -> pd.DataFrame:
    """Re-ranking in the terms production write-ups use: how much it raises precision@``k`` and how
    much latency it adds per query, for each number of hybrid candidates it re-ranks.

    Per question, the hybrid ranking (BM25 and dense, 100 deep each, fused) is taken as it is (row
    0, no re-ranking) and with its first ``candidates`` chunks re-ranked by MaxSim over the stored
    token vectors (:meth:`Retriever.rerank`), one row per number of candidates. Columns:
    ``precision@k (chunks)``, the share of the ``k`` chunks a generator would read that come from an
    article that answers the question (:func:`~embedlab.metrics.precision_at_k` over chunks), and its
    ``gain (%)`` over no re-ranking, 100 (after − before) / before; ``passage@k`` (one of those
    chunks holds at least half of the quoted passage); MRR and nDCG@10 of the articles, as in
    :func:`evaluate_retrievers`; and ``added ms per query``, the median time of the re-ranking step
    alone (the question's token vectors come from the same encoder pass as its vector).
    Book: Chapter 6, "Without re-ranking".
    """
    texts = {document.doc_id: document.text for document in documents}
    query_vectors, query_tokens = encode_with_tokens(questions["question"], retriever.model)
    rows = list(questions.itertuples(index=False))
    spans = [(texts[row.first_title].find(row.passage), len(row.passage)) for row in rows]
    hybrid = [retriever.hybrid_ranking(row.question, 100, query_vector=vector[None, :])[0]
              for row, vector in zip(rows, query_vectors)]
    relevant_chunks = [{key for key, chunk in enumerate(retriever.chunks) if chunk.doc_id in row.relevant_titles}
                       for row in rows]

    def scores(rankings) -> dict:
        passages = [_passage_labels(retriever.chunks, keys[:k], row.first_title, start, start + length)
                    for row, keys, (start, length) in zip(rows, rankings, spans)]
        articles = report_by_kind({"": [document_ranking(retriever.chunks, keys) for keys in rankings]},
                                  questions["relevant_titles"], ["all"] * len(rows)).iloc[0]
        return {f"precision@{k} (chunks)": precision_at_k(rankings, relevant_chunks, k),
                f"passage@{k}": recall_at_k(passages, [{"passage"}] * len(rows), k),
                "MRR": articles["MRR"], "nDCG@10": articles["nDCG@10"]}

    report = [{"candidates": 0, **scores(hybrid), "added ms per query": 0.0}]
    for top in candidates:
        reranked, seconds = [], []
        for row, keys, tokens in zip(rows, hybrid, query_tokens):
            started = time.perf_counter()
            reranked.append(retriever.rerank(row.question, keys, top, tokens)[0])
            seconds.append(time.perf_counter() - started)
        report.append({"candidates": top, **scores(reranked), "added ms per query": 1000 * float(np.median(seconds))})
    report = pd.DataFrame(report).set_index("candidates")
    before = report.loc[0, f"precision@{k} (chunks)"]
    report.insert(1, "gain (%)", 100 * (report[f"precision@{k} (chunks)"] - before) / before)
    return report


def domain_report(documents, queries: pd.DataFrame, k: int = 5, model=None) -> pd.DataFrame:
    """For each query of :func:`~embedlab.rag.corpora.domain_mismatch_queries`: the share of its ``k`` nearest documents
    (MiniLM, cosine) that come from the query's domain, searching everything (``all domains``),
    with the domain named in the query (``"query (domain)"``), and searching the query's domain
    alone (a metadata filter, as a vector database applies it). A word such as *discharge* means
    different things in medicine, HR, physics and finance; nothing in a bare query says which.
    Book: Chapter 6, "When the domain does not match"."""
    model = model or load_minilm()
    vectors = encode([document.text for document in documents], model)
    domains = np.array([document.source for document in documents])
    bare = encode(queries["query"], model)
    named = encode([f"{q} ({d})" for q, d in zip(queries["query"], queries["domain"])], model)
    rows = []
    for i, query in enumerate(queries.itertuples(index=False)):
        everything, _ = top_k(vectors @ bare[i], k)
        with_name, _ = top_k(vectors @ named[i], k)
        in_domain = np.flatnonzero(domains == query.domain)
        filtered = in_domain[top_k(vectors[in_domain] @ bare[i], k)[0]]
        relevant = query.relevant
        rows.append({"query": query.query, "domain": query.domain,
                     "all domains": float(np.mean(domains[everything] == query.domain)),
                     "query (domain)": float(np.mean(domains[with_name] == query.domain)),
                     "filtered": float(np.mean(domains[filtered] == query.domain)),
                     "top hit relevant (all domains)": documents[everything[0]].doc_id in relevant,
                     "top hit relevant (filtered)": documents[filtered[0]].doc_id in relevant})
    return pd.DataFrame(rows)


def domain_summary(report: pd.DataFrame) -> pd.DataFrame:
    """The shares of :func:`domain_report` averaged by query type: bare words (one word) and short
    phrases, each labelled with its number of queries, e.g. "bare word (8 queries)".
    Book: Chapter 6, "When the domain does not match"."""
    kinds = np.where(report["query"].str.split().str.len() == 1, "bare word", "short phrase")
    grouped = report.groupby(kinds)
    shares = grouped[["all domains", "query (domain)", "filtered"]].mean()
    shares.index = [f"{kind} ({count} queries)" for kind, count in grouped.size().items()]
    return shares


def shared_terms(query: str, text: str) -> list[str]:
    """The BM25 terms (lower-cased words, English stop words removed:
    :meth:`embedlab.bm25.BM25Index.tokenize`) that ``query`` and ``text`` have in common, each once,
    in the query's order: what a keyword search can match. Book: Chapter 6, "A help-centre search box".

    >>> shared_terms("How do I change my password?", "Password Reset Guide")
    ['password']
    """
    in_text = set(BM25Index.tokenize(text))
    return [term for term in dict.fromkeys(BM25Index.tokenize(query)) if term in in_text]


def question_set_statistics(questions: pd.DataFrame, documents) -> dict:
    """What the evaluation set holds, counted from the data: ``questions``, ``paraphrases`` and
    ``keyword`` questions; ``articles`` (how many of the ``documents`` answer at least one question)
    and ``documents``; ``shared terms (paraphrase)`` and ``shared terms (keyword)``, the mean number
    of distinct BM25 terms (lower-cased words, English stop words removed:
    :meth:`embedlab.bm25.BM25Index.tokenize`) that a question shares with its quoted passage; and
    ``last passage word``, the largest number of words (runs of non-space characters) from an
    article's start to the end of its passage. ``documents`` are whole articles (or their
    beginnings); a passage must lie in its article. Book: Chapter 6, "Indexing the Wikipedia sample".

    >>> import pandas as pd
    >>> from embedlab.rag.corpora import Document
    >>> table = pd.DataFrame({"question": ["Who founded the city?"], "passage": ["Rome was founded by Romulus."],
    ...                       "first_title": ["Rome"], "relevant_titles": [{"Rome"}], "kind": ["keyword"]})
    >>> stats = question_set_statistics(table, [Document("Rome", "Rome", "Rome was founded by Romulus. It grew.", "")])
    >>> stats["shared terms (keyword)"], stats["last passage word"]
    (1.0, 5)
    """
    texts = {document.doc_id: document.text for document in documents}
    shared, last_word = [], 0
    for row in questions.itertuples(index=False):
        text = texts[row.first_title]
        start = text.find(row.passage)
        if start < 0:
            raise ValueError(f"the passage of {row.question!r} is not in the article {row.first_title!r}")
        last_word = max(last_word, len(text[: start + len(row.passage)].split()))
        shared.append(len(shared_terms(row.question, row.passage)))
    shared = pd.Series(shared, index=questions.index)
    kinds = questions["kind"]
    return {"questions": len(questions), "paraphrases": int((kinds == "paraphrase").sum()),
            "keyword": int((kinds == "keyword").sum()), "documents": len(texts),
            "articles": len(set().union(*questions["relevant_titles"]) & set(texts)),
            "shared terms (paraphrase)": float(shared[kinds == "paraphrase"].mean()),
            "shared terms (keyword)": float(shared[kinds == "keyword"].mean()), "last passage word": last_word}


def corpus_trained_encoder(word_vectors, articles, extra_texts=(), passages_per_article: int = 12,
                           passage_words: int = 60, seed: int = 0):
    """Chapter 4's small sentence encoder, trained without labels on the corpus it will search:
    inverse-cloze pairs (a sentence and the passage it was taken from, Lee, Chang & Toutanova 2019)
    from every one of ``articles`` (:func:`embedlab.inverse_cloze.inverse_cloze_pairs`, with the
    arguments of :func:`embedlab.inverse_cloze.book_experiment`, but holding no article out: the
    index is the training text), then :func:`embedlab.sentence_encoder.train_encoder` with its
    in-batch InfoNCE loss. The vocabulary covers the pairs and ``extra_texts`` (the chunks and
    questions it will encode; word vectors are fixed, so this leaks no label). Returns the trained
    :class:`~embedlab.sentence_encoder.WordVectorEncoder`. Book: Chapter 6, "Choosing an embedding model".
    """
    from embedlab import inverse_cloze, sentence_encoder

    pairs = inverse_cloze.inverse_cloze_pairs(articles, passage_words, max_passages_per_article=passages_per_article,
                                              seed=seed)
    texts = [p.query for p in pairs] + [p.passage for p in pairs] + list(extra_texts)
    encoder = sentence_encoder.build_encoder(word_vectors, texts, seed=seed)
    return sentence_encoder.train_encoder(encoder, pairs, seed=seed, progress_bar=False).encoder


def compare_encoders(chunks, questions: pd.DataFrame, encoders: dict, chunk_vectors: dict | None = None,
                     speed_texts: int = 32) -> pd.DataFrame:
    """Dense retrieval on the same ``chunks`` and ``questions`` with each encoder of ``encoders``
    (name -> function from a list of texts to unit rows): one row per encoder with
    :func:`dense_report`'s recall@5, recall@5 (paraphrase), MRR and nDCG@10, and ``chunks per
    second``, :func:`encoding_speed` on the first ``speed_texts`` chunk inputs
    (:func:`embedding_input`). ``chunk_vectors`` maps a name to chunk embeddings already computed
    (the index's own), used instead of encoding the chunks again. Book: Chapter 6, "Choosing an
    embedding model".
    """
    chunk_vectors = chunk_vectors or {}
    chunk_texts = [embedding_input(chunk) for chunk in chunks]
    question_texts = list(questions["question"])
    rows = {}
    for name, encode_texts in encoders.items():
        vectors = chunk_vectors[name] if name in chunk_vectors else encode_texts(chunk_texts)
        rows[name] = {**dense_report(chunks, vectors, encode_texts(question_texts), questions),
                      "chunks per second": encoding_speed(encode_texts, chunk_texts[:speed_texts])}
    return pd.DataFrame(rows).T
