"""Where the chunks and their vectors live: Milvus Lite, a vector database embedded in the
process (the same client code talks to a Milvus server); where Milvus Lite cannot be imported,
an exact store with the same methods, saved as one NumPy file; and, for experiments, exact
in-memory vectors. :func:`create_store` and :func:`open_store` choose. Book: Chapter 6, "A vector database".
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
from embedlab.search import exact_search

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
        """The store :func:`~embedlab.rag.pipeline.ingest` wrote at ``path``; clear errors for a missing or broken one."""
        path = Path(path)
        _require_existing(path)
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


def _require_existing(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(
            f"no database at {path}; create one with: python -m embedlab.rag ingest SOURCE --db {path}")


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
    """:class:`MilvusStore`'s stand-in where Milvus Lite cannot be imported (:func:`create_store`
    chooses): the same methods and the same answers. The chunks and vectors are held in memory and
    searched exactly by :func:`exact_search`, as Milvus's FLAT index searches, equal scores in key
    order; ``where`` is a Milvus expression (:func:`~embedlab.rag.filters.parse_filter`). Each
    :meth:`add` writes the whole store to one file, ``embedlab-exact.npz`` in the folder ``path``,
    through a temporary file that replaces the old one only once it is complete.
    Book: Chapter 6, "A vector database".
    """

    def __init__(self, path, vectors, chunks, properties: dict):
        self.path, self.vectors = Path(path), np.asarray(vectors, dtype=np.float32)
        self._chunks, self._properties = list(chunks), dict(properties)

    @classmethod
    def create(cls, path, dimension: int, properties: dict) -> ExactStore:
        """A new, empty store at ``path`` (a folder); an earlier exact store there is replaced at the
        first :meth:`add`, and a path that holds anything else is never overwritten."""
        path = Path(path)
        if path.exists() and not (path / EXACT_FILE).is_file():
            kind = ("a Milvus Lite database, which needs pymilvus and milvus-lite" if _looks_like_milvus_lite(path)
                    else "not an embedlab database")
            raise ValueError(f"{path} exists and is {kind}: choose another --db path")
        return cls(path, np.zeros((0, dimension), dtype=np.float32), [],
                   {key: str(value) for key, value in properties.items()})

    @classmethod
    def open(cls, path) -> ExactStore:
        """The store written at ``path``; clear errors for a missing, foreign or broken one."""
        path = Path(path)
        _require_existing(path)
        if not (path / EXACT_FILE).is_file():
            if _looks_like_milvus_lite(path):
                raise ValueError(f"{path} is a Milvus Lite database, which needs pymilvus and milvus-lite: install "
                                 f"them, or ingest again into another --db path")
            raise ValueError(f"{path} is not an embedlab database (it should be a folder written by ingest)")
        try:
            with np.load(path / EXACT_FILE) as saved:
                vectors, contents = saved["vectors"], json.loads(saved["contents"].tobytes())
            store = cls(path, vectors, [Chunk(*fields) for fields in contents["chunks"]], contents["properties"])
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            raise ValueError(f"{path / EXACT_FILE} is damaged: run ingest again") from None
        if store.count() == 0 or "model" not in store.properties():
            raise ValueError(f"{path} is empty or damaged (no chunks or no model recorded): run ingest again")
        return store

    def close(self) -> None:
        """Nothing to free: every :meth:`add` has already written the file."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, chunks, vectors) -> None:
        """Append ``chunks`` with their ``vectors`` (n, d), numbered after those already stored, and save."""
        chunks, vectors = list(chunks), np.asarray(vectors, dtype=np.float32)
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors: one vector per chunk")
        if vectors.ndim != 2 or vectors.shape[1] != self.vectors.shape[1]:
            raise ValueError(f"vectors of shape {vectors.shape}: this store holds rows of "
                             f"{self.vectors.shape[1]} numbers")
        self.vectors = np.concatenate([self.vectors, vectors])
        self._chunks.extend(chunks)
        self.path.mkdir(parents=True, exist_ok=True)
        contents = json.dumps({"properties": self._properties,
                               "chunks": [dataclasses.astuple(chunk) for chunk in self._chunks]}, ensure_ascii=False)
        partial = self.path / (EXACT_FILE + ".partial")
        try:
            with open(partial, "wb") as file:
                np.savez(file, vectors=self.vectors, contents=np.frombuffer(contents.encode("utf-8"), dtype=np.uint8))
            os.replace(partial, self.path / EXACT_FILE)
        finally:
            partial.unlink(missing_ok=True)

    def count(self) -> int:
        return len(self._chunks)

    def properties(self) -> dict:
        """The properties given to :meth:`create` (as strings)."""
        return dict(self._properties)

    def chunks(self) -> list[Chunk]:
        """Every stored chunk, in key order."""
        return list(self._chunks)

    def keys_where(self, where: str) -> set:
        """The keys of the chunks that match the Milvus expression ``where``."""
        matches = parse_filter(where)
        return {key for key, chunk in enumerate(self._chunks) if matches(_row(key, chunk, None))}

    def search(self, query_vectors, k: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`MilvusStore.search`: (keys, scores), each (n_queries, k), best first, padded with
        key −1 and score −inf."""
        query_vectors = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
        keys = np.full((len(query_vectors), k), -1, dtype=np.int64)
        scores = np.full((len(query_vectors), k), -np.inf, dtype=np.float32)
        allowed = np.arange(self.count()) if where is None else np.array(sorted(self.keys_where(where)),
                                                                          dtype=np.int64)
        if len(allowed):
            found, found_scores = exact_search(query_vectors, self.vectors[allowed], min(k, len(allowed)))
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


def create_store(path, dimension: int, properties: dict) -> MilvusStore | ExactStore:
    """A new, empty store at ``path``: a :class:`MilvusStore`, or an :class:`ExactStore` where
    Milvus Lite cannot be imported (:func:`milvus_lite_missing`). Book: Chapter 6, "A vector database"."""
    kind = ExactStore if milvus_lite_missing() else MilvusStore
    return kind.create(path, dimension, properties)


def open_store(path) -> MilvusStore | ExactStore:
    """The store :func:`create_store` wrote at ``path``: an exact store wherever one is found (it
    needs only NumPy), otherwise a Milvus Lite database. Book: Chapter 6, "A vector database"."""
    if milvus_lite_missing() or (Path(path) / EXACT_FILE).is_file():
        return ExactStore.open(path)
    return MilvusStore.open(path)
