"""The pipeline end to end: one question through every stage (:func:`trace`), and the entry points
that share one database, :func:`ingest`, :func:`search` and :func:`answer`.
Book: Chapter 6, "The pipeline, step by step" and "Putting it together".
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedlab import progress
from embedlab.encoders import MODEL_NAME, encode_with_tokens, encoder_key, load_minilm, minilm_window
from embedlab.rag.chunking import ChunkingConfig, chunk_documents, token_counts
from embedlab.rag.corpora import Document, help_centre, wikipedia_documents
from embedlab.rag.dense import embed_chunks, embedding_input
from embedlab.rag.generation import Generator, citations, extractive_generator, fit_prompt
from embedlab.rag.milvus_store import storage_problem
from embedlab.rag.retrieval import Hit, Retriever, fuse
from embedlab.rag.store import open_store, open_store_for_writing


@dataclass(frozen=True)
class Trace:
    """What each stage of retrieval-augmented generation produced for one question (:func:`trace`);
    ``left_out``: the re-ranked passages the prompt could not hold (:func:`~embedlab.rag.generation.fit_prompt`)."""

    question: str
    chunks: int
    query_vector: np.ndarray
    dense: list
    bm25: list
    hybrid: list
    reranked: list
    prompt: str
    answer: str
    left_out: list = field(default_factory=list)

    @property
    def query_norm(self) -> float:
        """The Euclidean length of the question's embedding: 1 for MiniLM's normalised output, so
        that its inner products with the chunks' unit vectors are cosines."""
        return float(np.linalg.norm(self.query_vector))


def trace(retriever: Retriever, question: str, generator: Generator | None = None, k: int = 3,
          rerank_top: int = 20) -> Trace:
    """Run one question through every stage (embed the query, dense and BM25 search, fuse, re-rank,
    build the prompt, generate) and keep each stage's real output: the ``k`` best :class:`Hit`
    objects of each ranking, the prompt and the answer of ``generator`` (default
    :func:`extractive_generator`). The prompt numbers as many of the re-ranked passages as the
    generator reads (:func:`fit_prompt`), as :func:`answer` does. Book: Chapter 6, "The pipeline,
    step by step"."""
    query_vector, query_tokens = encode_with_tokens([question], retriever.model)

    def hits(keys, scores):
        return [Hit(rank, retriever.chunks[key], float(score), int(key))
                for rank, (key, score) in enumerate(zip(keys[:k], scores[:k]), start=1)]

    depth = max(100, rerank_top)
    dense = retriever.dense_ranking(question, depth, query_vector=query_vector)
    bm25 = retriever.bm25_ranking(question, depth)
    hybrid = fuse(bm25[0], dense[0])  # as Retriever.hybrid_ranking, from the two rankings above
    reranked = hits(*retriever.rerank(question, hybrid[0], rerank_top, query_tokens[0]))
    generator = generator or extractive_generator
    prompt, used = fit_prompt(question, reranked, generator)  # as answer() does: only what the generator reads
    return Trace(question, len(retriever.chunks), query_vector[0], hits(*dense), hits(*bm25), hits(*hybrid),
                 reranked, prompt, generator(prompt), reranked[len(used):])


#: The sources :func:`ingest` knows by name; any other SOURCE is a folder.
NAMED_SOURCES = {"wikipedia-sample": wikipedia_documents, "help-centre": help_centre}


_TEXT_SUFFIXES = (".txt", ".md")

#: How :func:`ingest` treats the documents already in the database: ``"replace"`` (the default)
#: leaves exactly the source's documents; ``"add"`` also keeps those the source does not have.
MODES = ("replace", "add")


@dataclass(frozen=True)
class IngestReport:
    """What :func:`ingest` did. ``documents`` and ``chunks`` count what the database holds now;
    ``changes`` gives ``(documents, chunks)`` for each of ``"added"``, ``"replaced"``, ``"kept"``
    and ``"removed"``; ``skipped`` lists ``(path, reason)`` for each file that could not be used, and
    ``other_types`` counts the files of other types, by suffix, which were not read; ``truncated``
    names the chunks embedded in this run that are longer than the encoder reads."""

    db_path: str
    mode: str
    documents: int
    chunks: int
    seconds: float
    changes: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    other_types: dict = field(default_factory=dict)
    truncated: list = field(default_factory=list)


def too_long_for_the_encoder(chunks, model) -> list[str]:
    """The ids of the chunks whose :func:`~embedlab.rag.dense.embedding_input`, with [CLS] and [SEP],
    is longer than ``model.max_seq_length`` tokens (MiniLM: 256): the encoder embeds only their
    beginning. A chunk of at most ``max_tokens`` MiniLM tokens (128 by default) fits, unless the
    title put before it (:func:`~embedlab.rag.dense.embedding_input`) takes the window's last tokens.
    Book: Chapter 6, "Chunking"."""
    chunks = list(chunks)
    if not chunks:
        return []
    lengths = token_counts([embedding_input(chunk) for chunk in chunks], model.tokenizer)
    return [chunk.chunk_id for chunk, length in zip(chunks, lengths) if length + 2 > model.max_seq_length]


def read_source(source, show_progress: bool = False) -> tuple[list[Document], list[tuple[str, str]], dict]:
    """The documents of ``source``, the files skipped and the files of other types: a folder (its
    ``.txt`` and ``.md`` files, in sub-folders too, read as UTF-8 without a byte-order mark; title =
    file name without suffix, ``doc_id`` and ``source`` = path inside the folder),
    ``"wikipedia-sample"`` or ``"help-centre"``.

    A file that cannot be read, is not UTF-8 or is blank is skipped and listed with the reason;
    files of other types (``.rst``, ``.pdf``, ...) are counted by suffix; a folder with no
    ``.txt``/``.md`` file at all, or none readable, is an error.
    """
    if str(source) in NAMED_SOURCES:
        return NAMED_SOURCES[str(source)](), [], {}
    folder = Path(source)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist; SOURCE is a folder of .txt/.md files, "
                                f"'wikipedia-sample' or 'help-centre'")
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; SOURCE is a folder of .txt/.md files, "
                         f"'wikipedia-sample' or 'help-centre'")
    files = sorted(p for p in folder.rglob("*") if not p.is_dir())
    paths = [p for p in files if p.suffix.lower() in _TEXT_SUFFIXES]
    other_types = Counter(p.suffix.lower() or "(no suffix)" for p in files if p.suffix.lower() not in _TEXT_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no .txt or .md files")
    documents, skipped = [], []
    for path in progress.bar(paths, "reading", " files", enabled=show_progress):
        name = path.relative_to(folder).as_posix()
        try:
            text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
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
    return documents, skipped, dict(sorted(other_types.items()))


def _by_document(chunks) -> dict[str, list[int]]:
    """The positions of each document's chunks, documents in order of first appearance."""
    positions = {}
    for position, chunk in enumerate(chunks):
        positions.setdefault(chunk.doc_id, []).append(position)
    return positions


def encoder_name(model=None) -> str:
    """The name :func:`ingest` records for the encoder that made a database's vectors, and that
    :func:`open_retriever` checks: MiniLM's (:data:`~embedlab.encoders.MODEL_NAME`) for MiniLM
    itself (``model`` None or :func:`~embedlab.encoders.load_minilm`'s object), else MiniLM's
    name, "fine-tuned", and the SHA-256 of the weights (:func:`~embedlab.encoders.weights_checksum`):
    two models' vectors live in two different spaces, so a question must be embedded by the
    model that embedded the chunks."""
    key = encoder_key(model)  # ("weights-sha256", checksum, max_seq_length) for a fine-tuned model
    if key[0] != "weights-sha256":
        return MODEL_NAME
    return f"{MODEL_NAME} fine-tuned, weights sha256:{key[1]}"


def ingest(source, db_path, config: ChunkingConfig = ChunkingConfig(), show_progress: bool = True,
           mode: str = "replace", model=None) -> IngestReport:
    """Read ``source`` (:func:`read_source`), chunk it, embed the chunks with MiniLM (cached on
    disk, :func:`embed_chunks`) and write them to the database ``db_path``: a Milvus Lite folder, a
    Milvus server (``http(s)://host:port``), or the exact store where Milvus Lite cannot be
    imported (:func:`open_store_for_writing`). Book: Chapter 6, "Putting it together".

    All or nothing: the database is opened and checked first (a foreign or unreachable one stops
    the ingest before any embedding); everything is then read, chunked, checked and embedded, and
    written to a new collection that replaces the old one only once it is complete. A file with a
    chunk the database cannot store (:func:`~embedlab.rag.milvus_store.storage_problem`) is skipped
    and listed. A document whose chunks equal the stored ones (same text, same offsets, same
    chunking and model) is kept with its stored vectors, not embedded again; one whose chunks
    differ is replaced; a new one is added. ``mode="replace"`` (the default) removes the stored
    documents the source no longer has, ``mode="add"`` keeps them (and needs the chunking the
    database was built with). A chunk holds at most ``config.max_tokens`` MiniLM tokens, which
    may not pass the 254 of MiniLM's window (:func:`~embedlab.encoders.minilm_window`) left
    after [CLS] and [SEP].

    ``model`` embeds the chunks (default MiniLM; e.g. the adapted encoder of
    :func:`~embedlab.rag.adaptation.adapted_minilm`); the database records it (:func:`encoder_name`),
    and a change of model embeds every document again.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose 'replace' (the default) or 'add'")
    window = minilm_window()
    if config.max_tokens > window - 2:
        raise ValueError(f"--max-tokens is {config.max_tokens}, but MiniLM reads {window} tokens, [CLS] and [SEP] "
                         f"included: choose at most {window - 2}")
    started = time.perf_counter()
    properties = {"model": encoder_name(model), "max_tokens": str(config.max_tokens), "overlap": str(config.overlap),
                  "tokenizer": config.tokenizer}
    with open_store_for_writing(db_path) as store:
        stored = store.properties() if store.current() else None
        if mode == "add" and stored is not None and stored != properties:
            raise ValueError(f"{db_path} was built with {stored}; --mode add needs the same model and chunking "
                             f"(--max-tokens {stored.get('max_tokens')} --overlap {stored.get('overlap')}), "
                             f"or use --mode replace")
        documents, skipped, other_types = read_source(source, show_progress)
        chunks = chunk_documents(documents, config, show_progress)
        new = _by_document(chunks)
        for document in documents:
            problem = next(filter(None, (storage_problem(chunks[i]) for i in new.get(document.doc_id, []))), None)
            if problem:
                skipped.append((document.doc_id, f"cannot be stored: {problem}"))
                del new[document.doc_id]
        if not new:
            raise ValueError(f"the documents of {source} hold no words that can be stored: "
                             + "; ".join(f"{name} ({reason})" for name, reason in skipped))
        old_chunks = store.chunks() if stored is not None else []
        old_vectors = store.vectors() if stored is not None else None
        old = _by_document(old_chunks)
        plan, changes = [], {change: [0, 0] for change in ("added", "replaced", "kept", "removed")}
        for doc_id, positions in new.items():
            stored_positions = old.get(doc_id)
            unchanged = (stored == properties and stored_positions is not None
                         and [old_chunks[i] for i in stored_positions] == [chunks[i] for i in positions])
            change = "kept" if unchanged else "added" if stored_positions is None else "replaced"
            plan += ([(old_chunks[i], old_vectors[i]) for i in stored_positions] if unchanged
                     else [(chunks[i], None) for i in positions])
            changes[change][0] += 1
            changes[change][1] += len(positions)
        for doc_id, positions in old.items():
            if doc_id not in new:
                changes["kept" if mode == "add" else "removed"][0] += 1
                changes["kept" if mode == "add" else "removed"][1] += len(positions)
                plan += [(old_chunks[i], old_vectors[i]) for i in positions] if mode == "add" else []
        to_embed = [chunk for chunk, vector in plan if vector is None]
        truncated = too_long_for_the_encoder(to_embed, model or load_minilm()) if to_embed else []
        embedded = iter(embed_chunks(to_embed, model, show_progress=show_progress) if to_embed else [])
        final_chunks = [chunk for chunk, _ in plan]
        vectors = np.array([next(embedded) if vector is None else vector for _, vector in plan], dtype=np.float32)
        store.begin(vectors.shape[1], properties)
        for start in progress.bar(range(0, len(plan), 2000), "writing", " batches", enabled=show_progress):
            store.add(final_chunks[start : start + 2000], vectors[start : start + 2000])
        store.commit()
    return IngestReport(str(db_path), mode, len(_by_document(final_chunks)), len(final_chunks),
                        time.perf_counter() - started, {change: tuple(n) for change, n in changes.items()},
                        skipped, other_types, truncated)


#: How much of the hybrid order the re-ranking of :func:`search` keeps: MaxSim's order fused with
#: the hybrid order, this weight on the latter (:meth:`Retriever.rerank`). Chosen on the
#: development half of the deep questions (:mod:`~embedlab.rag.passage_questions`), where it
#: found more passages than MaxSim alone without losing an article.
SEARCH_HYBRID_WEIGHT = 0.5


def open_retriever(db_path, model=None, reranker_for=None, hybrid_weight: float = SEARCH_HYBRID_WEIGHT) -> Retriever:
    """A :class:`Retriever` over the database :func:`ingest` wrote, searching with ``model`` (default
    MiniLM), which must be the encoder the ingest recorded (:func:`encoder_name`), and re-ranking
    with MaxSim, or with ``reranker_for(chunks)``, a re-ranker (see :class:`Retriever`) made for
    the database's chunks, e.g. ``lambda chunks: remedies.reranker_by_name("cross-encoder", chunks)``;
    MaxSim's order is fused with the hybrid order with ``hybrid_weight`` (0: MaxSim alone).
    Close it with ``close()`` or ``with``."""
    store = open_store(db_path)
    stored, wanted = store.properties().get("model"), encoder_name(model)
    if stored != wanted:
        store.close()
        made_by = ("the base MiniLM (--model base)" if stored == MODEL_NAME else
                   f"{stored} (--model adapted, if that is its checksum)"
                   if str(stored).startswith(MODEL_NAME) else repr(stored))
        raise ValueError(f"{db_path} was ingested with {made_by}, not with {wanted}: search with the encoder the "
                         f"ingest used, or ingest again with this one")
    chunks = store.chunks()
    return Retriever(chunks, store, model, reranker=reranker_for(chunks) if reranker_for else None,
                     hybrid_weight=hybrid_weight)


def search(question: str, db_path, k: int = 5, method: str = "hybrid+rerank", where: str | None = None,
           model=None, reranker_for=None, hybrid_weight: float = SEARCH_HYBRID_WEIGHT) -> list[Hit]:
    """The ``k`` best chunks of the database for ``question`` (:meth:`Retriever.search`), the
    question embedded by ``model`` and re-ranked by MaxSim or ``reranker_for`` (:func:`open_retriever`).
    Book: Chapter 6, "Putting it together"."""
    with open_retriever(db_path, model, reranker_for, hybrid_weight) as retriever:
        return retriever.search(question, k, method, where)


@dataclass(frozen=True)
class Answer:
    """A generated answer, the prompt it answered and the passages the prompt numbered;
    ``left_out``: the passages found but left out of the prompt, which they would not fit
    (:func:`~embedlab.rag.generation.fit_prompt`)."""

    question: str
    text: str
    prompt: str
    hits: list
    left_out: list = field(default_factory=list)

    @property
    def cited(self) -> list[Hit]:
        """The passages the answer cites by number ([1], [2], …), in the order of their numbers."""
        return [self.hits[n - 1] for n in citations(self.text) if 1 <= n <= len(self.hits)]


def answer(question: str, db_path, generator: Generator | None = None, k: int = 5,
           method: str = "hybrid+rerank", model=None, reranker_for=None,
           hybrid_weight: float = SEARCH_HYBRID_WEIGHT) -> Answer:
    """Retrieve ``k`` passages (:func:`search`), number as many of them as the generator reads in a
    prompt (:func:`fit_prompt`) and let ``generator`` answer (default :func:`extractive_generator`).
    ``model``, ``reranker_for`` and ``hybrid_weight`` as in :func:`search`. Book: Chapter 6, "Generation with citations"."""
    generator = generator or extractive_generator
    found = search(question, db_path, k, method, model=model, reranker_for=reranker_for,
                   hybrid_weight=hybrid_weight)
    prompt, hits = fit_prompt(question, found, generator)
    return Answer(question, generator(prompt), prompt, hits, found[len(hits):])
