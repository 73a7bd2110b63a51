"""The pipeline end to end: one question through every stage (:func:`trace`), and the entry points
that share one database, :func:`ingest`, :func:`search` and :func:`answer`.
Book: Chapter 6, "The pipeline, step by step" and "Putting it together".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedlab import progress
from embedlab.encoders import MODEL_NAME, encode_with_tokens
from embedlab.rag.chunking import ChunkingConfig, chunk_documents
from embedlab.rag.corpora import Document, help_centre, wikipedia_documents
from embedlab.rag.dense import embed_chunks
from embedlab.rag.generation import Generator, build_prompt, citations, extractive_generator
from embedlab.rag.retrieval import Hit, Retriever, fuse
from embedlab.rag.store import create_store, open_store


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
    :func:`extractive_generator`). Book: Chapter 6, "The pipeline, step by step"."""
    query_vector, query_tokens = encode_with_tokens([question], retriever.model)

    def hits(keys, scores):
        return [Hit(rank, retriever.chunks[key], float(score), int(key))
                for rank, (key, score) in enumerate(zip(keys[:k], scores[:k]), start=1)]

    depth = max(100, rerank_top)
    dense = retriever.dense_ranking(question, depth, query_vector=query_vector)
    bm25 = retriever.bm25_ranking(question, depth)
    hybrid = fuse(bm25[0], dense[0])  # as Retriever.hybrid_ranking, from the two rankings above
    reranked = hits(*retriever.rerank(question, hybrid[0], rerank_top, query_tokens[0]))
    prompt = build_prompt(question, reranked)
    return Trace(question, len(retriever.chunks), query_vector[0], hits(*dense), hits(*bm25), hits(*hybrid),
                 reranked, prompt, (generator or extractive_generator)(prompt))


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
    disk, :func:`embed_chunks`) and write them to the database ``db_path`` (Milvus Lite, or the
    exact store where Milvus Lite cannot be imported: :func:`create_store`), replacing what an
    earlier ingestion wrote there. Book: Chapter 6, "Putting it together".
    """
    started = time.perf_counter()
    documents, skipped = read_source(source, show_progress)
    chunks = chunk_documents(documents, config, show_progress)
    if not chunks:
        raise ValueError(f"the documents of {source} hold no words to index")
    embeddings = embed_chunks(chunks, show_progress=show_progress)
    properties = {"model": MODEL_NAME, "max_tokens": config.max_tokens, "overlap": config.overlap,
                  "tokenizer": config.tokenizer}
    with create_store(db_path, embeddings.shape[1], properties) as store:
        for start in progress.bar(range(0, len(chunks), 2000), "writing", " batches", enabled=show_progress):
            store.add(chunks[start : start + 2000], embeddings[start : start + 2000])
    return IngestReport(Path(db_path), len(documents), len(chunks), time.perf_counter() - started, skipped)


def open_retriever(db_path) -> Retriever:
    """A :class:`Retriever` over the database :func:`ingest` wrote; close it with ``close()`` or ``with``."""
    store = open_store(db_path)
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
        return [self.hits[n - 1] for n in citations(self.text) if 1 <= n <= len(self.hits)]


def answer(question: str, db_path, generator: Generator | None = None, k: int = 5,
           method: str = "hybrid+rerank") -> Answer:
    """Retrieve ``k`` passages (:func:`search`), number them in a prompt (:func:`build_prompt`) and
    let ``generator`` answer (default :func:`extractive_generator`). Book: Chapter 6, "Generation with citations"."""
    hits = search(question, db_path, k, method)
    prompt = build_prompt(question, hits)
    return Answer(question, (generator or extractive_generator)(prompt), prompt, hits)
