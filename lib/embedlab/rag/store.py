"""Where the chunks and their vectors live: Milvus (:mod:`~embedlab.rag.milvus_store`: Milvus Lite,
a vector database embedded in the process, or a Milvus server); where Milvus Lite cannot be
imported, an exact store with the same methods, saved as one NumPy file; and, for experiments,
exact in-memory vectors. :func:`open_store_for_writing` and :func:`open_store` choose.
Book: Chapter 6, "A vector database".
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from embedlab.rag.chunking import Chunk
from embedlab.rag.filters import parse_filter
from embedlab.rag.milvus_store import (MilvusStore, chunk_row, is_server, looks_like_milvus_lite, require_existing,
                                       storage_problem)
from embedlab.search import exact_search

__all__ = ["EXACT_FILE", "NO_FILTERS", "ExactStore", "ExactVectors", "MilvusStore", "milvus_lite_missing",
           "open_store", "open_store_for_writing"]


NO_FILTERS = ("filters (where=...) need a store that keeps the chunks (MilvusStore, ExactStore); "
              "ExactVectors searches every vector")


class ExactVectors:
    """Vectors held in memory and searched exactly (:func:`exact_search`): the NumPy stand-in for
    :class:`MilvusStore` behind :class:`~embedlab.rag.retrieval.Retriever`, for experiments that need no database."""

    def __init__(self, vectors):
        self.vectors = np.asarray(vectors, dtype=np.float32)

    def search(self, query_vectors, k: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        if where is not None:
            raise ValueError(NO_FILTERS)
        return exact_search(query_vectors, self.vectors, min(k, len(self.vectors)))


#: The file that holds an :class:`ExactStore`, inside the database folder.
EXACT_FILE = "embedlab-exact.npz"


class ExactStore:
    """:class:`MilvusStore`'s stand-in where Milvus Lite cannot be imported (:func:`open_store_for_writing`
    chooses): the same methods and the same answers. The chunks and vectors are held in memory and
    searched exactly by :func:`exact_search`, as Milvus's FLAT index searches, equal scores in key
    order; ``where`` is a Milvus expression (:func:`~embedlab.rag.filters.parse_filter`). What
    :meth:`add` receives after :meth:`begin` is kept aside; :meth:`commit` writes it to one file,
    ``embedlab-exact.npz`` in the folder ``path``, through a temporary file that replaces the old
    one only once it is complete. Book: Chapter 6, "A vector database".
    """

    def __init__(self, path, vectors, chunks, properties: dict):
        self.path, self._vectors = Path(path), np.asarray(vectors, dtype=np.float32)
        self._chunks, self._properties = list(chunks), dict(properties)
        self.pending = None

    @classmethod
    def open(cls, path) -> ExactStore:
        """The store written at ``path``; clear errors for a missing, foreign or broken one."""
        path = Path(path)
        require_existing(path)
        store = cls.open_for_writing(path)
        if store.count() == 0 or "model" not in store.properties():
            raise ValueError(f"{path} is empty or damaged (no chunks or no model recorded): run ingest again")
        return store

    @classmethod
    def open_for_writing(cls, path) -> ExactStore:
        """The store at ``path`` (empty where none exists yet), checked before anything is computed:
        a path that holds anything but an exact store is never written to."""
        path = Path(path)
        if path.exists() and not (path / EXACT_FILE).is_file():
            if looks_like_milvus_lite(path):
                raise ValueError(f"{path} is a Milvus Lite database, which needs pymilvus and milvus-lite: install "
                                 f"them, or choose another --db path")
            raise ValueError(f"{path} exists and is not an embedlab database (it should be a folder written by "
                             f"ingest): choose another --db path")
        if not path.exists():
            if not path.parent.is_dir():
                raise FileNotFoundError(f"the folder {path.parent} does not exist: create it, or choose another --db path")
            return cls(path, np.zeros((0, 0), dtype=np.float32), [], {})
        try:
            with np.load(path / EXACT_FILE) as saved:
                vectors, contents = saved["vectors"], json.loads(saved["contents"].tobytes())
            return cls(path, vectors, [Chunk(*fields) for fields in contents["chunks"]], contents["properties"])
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            raise ValueError(f"{path / EXACT_FILE} is damaged: delete it and run ingest again") from None

    @classmethod
    def create(cls, path, dimension: int, properties: dict) -> ExactStore:
        """:meth:`open_for_writing`, then :meth:`begin`."""
        store = cls.open_for_writing(path)
        store.begin(dimension, properties)
        return store

    def close(self) -> None:
        """Forget what was added but not committed; the file is as the last :meth:`commit` left it."""
        self.pending = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def begin(self, dimension: int, properties: dict) -> None:
        """Start a new store beside the current one: :meth:`add` fills it, :meth:`commit` saves it."""
        self.pending = (np.zeros((0, dimension), dtype=np.float32), [],
                        {key: str(value) for key, value in properties.items()})

    def add(self, chunks, vectors) -> None:
        """Append ``chunks`` with their ``vectors`` (n, d) to the new store, numbered after those added before."""
        if self.pending is None:
            raise ValueError("add writes to a new store: call begin first")
        chunks, vectors = list(chunks), np.asarray(vectors, dtype=np.float32)
        held, held_chunks, properties = self.pending
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors: one vector per chunk")
        if vectors.ndim != 2 or vectors.shape[1] != held.shape[1]:
            raise ValueError(f"vectors of shape {vectors.shape}: this store holds rows of {held.shape[1]} numbers")
        for chunk in chunks:
            problem = storage_problem(chunk)
            if problem:
                raise ValueError(f"chunk {chunk.chunk_id!r} cannot be stored: {problem}")
        self.pending = (np.concatenate([held, vectors]), held_chunks + chunks, properties)

    def commit(self) -> None:
        """Save the new store in place of the old, atomically: a failed save leaves the old file whole."""
        vectors, chunks, properties = self.pending
        self.path.mkdir(exist_ok=True)
        contents = json.dumps({"properties": properties, "chunks": [dataclasses.astuple(chunk) for chunk in chunks]},
                              ensure_ascii=False)
        partial = self.path / (EXACT_FILE + ".partial")
        try:
            with open(partial, "wb") as file:
                np.savez(file, vectors=vectors, contents=np.frombuffer(contents.encode("utf-8"), dtype=np.uint8))
            os.replace(partial, self.path / EXACT_FILE)
        finally:
            partial.unlink(missing_ok=True)
        self._vectors, self._chunks, self._properties, self.pending = vectors, chunks, properties, None

    def current(self) -> str | None:
        """The file searches read, or None before the first :meth:`commit`."""
        return EXACT_FILE if (self.path / EXACT_FILE).is_file() else None

    def count(self) -> int:
        return len(self._chunks)

    def properties(self) -> dict:
        """The properties given to :meth:`begin` (as strings)."""
        return dict(self._properties)

    def chunks(self) -> list[Chunk]:
        """Every stored chunk, in key order."""
        return list(self._chunks)

    def vectors(self) -> np.ndarray:
        """Every stored vector (n, d), in key order."""
        return self._vectors.copy()

    def keys_where(self, where: str) -> set:
        """The keys of the chunks that match the Milvus expression ``where``."""
        matches = parse_filter(where)
        return {key for key, chunk in enumerate(self._chunks) if matches(chunk_row(key, chunk, None))}

    def search(self, query_vectors, k: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`MilvusStore.search`: (keys, scores), each (n_queries, k), best first, padded with
        key −1 and score −inf."""
        query_vectors = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
        keys = np.full((len(query_vectors), k), -1, dtype=np.int64)
        scores = np.full((len(query_vectors), k), -np.inf, dtype=np.float32)
        allowed = np.arange(self.count()) if where is None else np.array(sorted(self.keys_where(where)),
                                                                          dtype=np.int64)
        if len(allowed):
            found, found_scores = exact_search(query_vectors, self._vectors[allowed], min(k, len(allowed)))
            keys[:, : found.shape[1]], scores[:, : found.shape[1]] = allowed[found], found_scores
        return keys, scores


@functools.cache
def milvus_lite_missing() -> str | None:
    """Why Milvus Lite cannot be used in this Python (the import error), or None when it can. The
    first time it is missing, one line on stderr says that :class:`ExactStore` is used instead."""
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as error:
        print(f"Milvus Lite cannot be imported ({error}): embedlab.rag uses its exact in-memory store instead, "
              f"saved in the database folder; search results are the same", file=sys.stderr)
        return str(error)
    return None


def _store_kind(address, exact_here: bool):
    if is_server(address):
        try:
            import pymilvus  # noqa: F401
        except ImportError:
            raise ImportError(f"--db {address} is a Milvus server, which needs the PyPI package pymilvus: "
                              f"pip install pymilvus") from None
        return MilvusStore
    return ExactStore if milvus_lite_missing() or exact_here else MilvusStore


def open_store_for_writing(address) -> MilvusStore | ExactStore:
    """The database ``address`` opened and checked for an ingest (:meth:`MilvusStore.open_for_writing`):
    a Milvus server (``http(s)://host:port``), a Milvus Lite folder, or an :class:`ExactStore` where
    Milvus Lite cannot be imported (:func:`milvus_lite_missing`) or one is already there.
    Book: Chapter 6, "A vector database"."""
    return _store_kind(address, (Path(address) / EXACT_FILE).is_file()).open_for_writing(address)


def open_store(address) -> MilvusStore | ExactStore:
    """The store :func:`open_store_for_writing` wrote at ``address``: an exact store wherever one is
    found (it needs only NumPy), otherwise Milvus. Book: Chapter 6, "A vector database"."""
    return _store_kind(address, (Path(address) / EXACT_FILE).is_file()).open(address)
