"""Milvus (Wang et al. 2021) as the store of the chunks and their vectors: Milvus Lite, a vector
database embedded in the process and saved to a local folder, or a Milvus server, through the
same client code; and what every store shares (the fields' limits, the rows).
Book: Chapter 6, "A vector database".
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import numpy as np

from embedlab.rag.chunking import Chunk
from embedlab.rag.filters import parse_filter

#: The name searches read: an alias of the collection the last complete ingest wrote.
ALIAS = "chunks"

#: The property every collection this library creates carries; a database that holds a
#: collection without it was written by someone else, and is never changed.
MARK = ("embedlab.made_by", "embedlab.rag")

#: The longest value, in UTF-8 bytes, of each text field; 65,535 is Milvus's largest VARCHAR.
VARCHAR_LIMITS = {"doc_id": 2048, "title": 2048, "source": 2048, "text": 65_535}

_FIELDS = ("doc_id", "title", "source", "chunk_index", "start", "end", "text")


def is_server(address) -> bool:
    """Whether ``--db`` names a Milvus server (``http://host:port`` or ``https://…``) rather than a folder."""
    return str(address).startswith(("http://", "https://"))


def storage_problem(chunk: Chunk) -> str | None:
    """Why ``chunk`` cannot be stored (a field longer than :data:`VARCHAR_LIMITS` allows), or None.
    Both stores refuse the same chunks, so that a database answers the same in either."""
    row = chunk_row(0, chunk, None)
    for name, limit in VARCHAR_LIMITS.items():
        size = len(row[name].encode("utf-8"))
        if size > limit:
            what = "path" if name in ("doc_id", "source") else name
            return f"its {what} is {size:,} bytes long (chunk {chunk.index}), more than the {limit:,} a database stores"
    return None


class MilvusStore:
    """Chunks and their vectors in Milvus (Wang et al. 2021), a vector database, through ``pymilvus``.

    ``MilvusStore.open("rag.db")`` runs Milvus Lite (pure Python since version 3) inside this
    process: the database is the folder ``rag.db``, nothing is downloaded, and Milvus Lite answers
    the client from a thread, over gRPC on 127.0.0.1 only. ``MilvusStore.open("http://host:19530")``
    talks to a Milvus server (standalone or cluster) with the same code; the token, when the server
    asks for one, is read from the environment variable ``MILVUS_TOKEN`` (``user:password`` or an
    API key). Only the line that makes the client differs (:func:`_connect`)::

        MilvusClient("rag.db")                                      # Milvus Lite, a local folder
        MilvusClient(uri="http://localhost:19530", token="root:Milvus")  # a Milvus server

    Each ingest writes a new collection ``chunks_<time>``: an INT64 primary key (the chunk's
    position), the vector, and the chunk's ``doc_id``, ``title``, ``source``, ``chunk_index``,
    ``start``, ``end`` and ``text`` (filterable, e.g. ``title == "Anarchism"``). Searches read the
    alias ``chunks``, which :meth:`commit` moves to the new collection only once it is complete,
    then drops the old one: an ingest that fails half-way leaves the database as it was. On a
    server, where several processes may write, an ingest that finds another one's unfinished
    collection stops with one line (:meth:`_refuse_unfinished`) instead of dropping it; a Milvus
    Lite folder has one writer at a time, so what it finds there was left by an interrupted
    ingest, and is dropped. Every
    collection carries the property :data:`MARK`; :meth:`open_for_writing` refuses a database with
    any other collection. The index is FLAT (exact inner product): the answers equal
    :func:`~embedlab.search.exact_search`'s; on a server with millions of vectors one would build HNSW instead. The
    model and chunking are stored as collection properties, so that a search encodes queries with
    the model that encoded the chunks. Milvus Lite lets one process at a time open a folder:
    :meth:`close` (or ``with``) frees it; a server takes any number. Book: Chapter 6, "A vector database".
    """

    def __init__(self, client, address: str):
        self.client, self.address = client, address
        self.pending, self._pending_count = None, 0

    # -- opening

    @classmethod
    def open(cls, address) -> MilvusStore:
        """The store :func:`~embedlab.rag.pipeline.ingest` wrote at ``address`` (a folder or a server);
        clear errors for a missing, foreign, empty or broken one."""
        if not is_server(address):
            require_existing(Path(address))
            if not looks_like_milvus_lite(Path(address)):
                raise ValueError(f"{address} is not a Milvus Lite database (it should be a folder written by ingest)")
        store = cls(_connect(address), str(address))
        try:
            if not store.client.has_collection(ALIAS):
                raise ValueError(f"{address} holds no '{ALIAS}' collection: it was not written by "
                                 f"embedlab.rag ingest; run ingest first")
            if MARK[0] not in store.client.describe_collection(ALIAS).get("properties", {}):
                raise ValueError(f"{address} holds a collection '{ALIAS}' that embedlab.rag did not make "
                                 f"(it lacks the property {MARK[0]}): embedlab.rag reads only its own collections")
            store.client.load_collection(ALIAS)
            if store.count() == 0 or "model" not in store.properties():
                raise ValueError(f"{address} is empty or damaged (no chunks or no model recorded): run ingest again")
        except Exception:
            store.close()
            raise
        return store

    @classmethod
    def open_for_writing(cls, address) -> MilvusStore:
        """The database at ``address``, made if it is a new folder, checked before anything is
        computed: every collection in it must carry :data:`MARK`, else nothing is changed."""
        if not is_server(address):
            path = Path(address)
            if path.exists() and not looks_like_milvus_lite(path):
                raise ValueError(f"{path} exists and is not a Milvus Lite database: choose another --db path")
            if not path.parent.is_dir():
                raise FileNotFoundError(f"the folder {path.parent} does not exist: create it, or choose another --db path")
        store = cls(_connect(address), str(address))
        foreign = [name for name in store.client.list_collections()
                   if store.client.describe_collection(name).get("properties", {}).get(MARK[0]) != MARK[1]]
        if foreign:
            store.close()
            raise ValueError(f"{address} holds collections that embedlab.rag did not make ({', '.join(foreign)}); "
                             f"it leaves them unchanged: choose another --db")
        if is_server(address):
            try:
                store._refuse_unfinished()  # before the ingest embeds anything
            except ValueError:
                store.close()
                raise
        if store.current() is not None:
            store.client.load_collection(ALIAS)  # an ingest reads what it keeps from the current collection
        return store

    @classmethod
    def create(cls, address, dimension: int, properties: dict) -> MilvusStore:
        """:meth:`open_for_writing`, then :meth:`begin`: a new collection to :meth:`add` to."""
        store = cls.open_for_writing(address)
        store.begin(dimension, properties)
        return store

    def close(self) -> None:
        """Drop a collection :meth:`begin` made that was never committed, disconnect, and for Milvus
        Lite stop this process's server for the folder, which frees it for other processes
        (pymilvus's ``close`` alone leaves the server, and its lock, running)."""
        if self.pending is not None:
            from pymilvus.exceptions import MilvusException

            pending, self.pending = self.pending, None
            # If the server is gone, the error that stopped the ingest is the one to see; the next
            # begin drops what is left.
            with contextlib.suppress(MilvusException):
                self.client.drop_collection(pending)
        self.client.close()
        if not is_server(self.address):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.address)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing: begin, add, commit

    def current(self) -> str | None:
        """The collection searches read now (the alias's target), or None in a new database."""
        aliases = self.client.list_aliases().get("aliases", [])
        return self.client.describe_alias(ALIAS)["collection_name"] if ALIAS in aliases else None

    def _unfinished(self) -> list[str]:
        """The collections of ours that searches do not read: ingests begun and not committed."""
        current = self.current()
        return [name for name in self.client.list_collections() if name != current]

    def _refuse_unfinished(self) -> None:
        """On a server: a ValueError naming another ingest's unfinished collection, if there is one."""
        unfinished = self._unfinished()
        if unfinished:
            name = unfinished[0]
            begun = re.fullmatch(rf"{ALIAS}_(\d+)", name)
            age = f" {(time.time_ns() - int(begun[1])) / 1e9:,.0f} s ago" if begun else ""
            raise ValueError(f"{self.address}: another ingest began writing the collection {name}{age} and has "
                             f"not finished: wait for it; if it was interrupted, drop that collection "
                             f"(pymilvus.MilvusClient('{self.address}').drop_collection('{name}')) and ingest again")

    def begin(self, dimension: int, properties: dict) -> None:
        """Make a new, empty collection beside the current one. On a server, another ingest's
        unfinished collection is an error (:meth:`_refuse_unfinished`); in a Milvus Lite folder,
        which one process at a time opens, it was left by an interrupted ingest and is dropped."""
        from pymilvus import DataType

        if is_server(self.address):
            self._refuse_unfinished()
        for name in self._unfinished():
            self.client.drop_collection(name)
        self.pending, self._pending_count = f"{ALIAS}_{time.time_ns()}", 0
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        for name in _FIELDS:
            if name in VARCHAR_LIMITS:
                schema.add_field(name, DataType.VARCHAR, max_length=VARCHAR_LIMITS[name])
            else:
                schema.add_field(name, DataType.INT64)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.pending, schema=schema, index_params=index,
                                      properties={MARK[0]: MARK[1], **{f"embedlab.{k}": str(v)
                                                                       for k, v in properties.items()}})

    def add(self, chunks, vectors, batch_size: int = 2000) -> None:
        """Insert ``chunks`` with their ``vectors`` (n, d) into the collection :meth:`begin` made,
        numbered after those added before; searches see them after :meth:`commit`."""
        if self.pending is None:
            raise ValueError("add writes to a new collection: call begin first")
        chunks, vectors = list(chunks), np.asarray(vectors, dtype=np.float32)
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors: one vector per chunk")
        for chunk in chunks:
            problem = storage_problem(chunk)
            if problem:
                raise ValueError(f"chunk {chunk.chunk_id!r} cannot be stored: {problem}")
        for offset in range(0, len(chunks), batch_size):
            rows = [chunk_row(self._pending_count + offset + i, chunk, vector) for i, (chunk, vector)
                    in enumerate(zip(chunks[offset:offset + batch_size], vectors[offset:offset + batch_size]))]
            self.client.insert(self.pending, rows)
        self._pending_count += len(chunks)

    def commit(self) -> None:
        """Point the alias ``chunks`` at the new collection, now complete, and drop the old one."""
        old = self.current()
        self.client.load_collection(self.pending)
        if old is None:
            self.client.create_alias(self.pending, ALIAS)
        else:
            self.client.alter_alias(self.pending, ALIAS)
            self.client.drop_collection(old)
        self.pending = None
        self.client.load_collection(ALIAS)

    # -- reading the current collection

    def count(self) -> int:
        return int(self.client.get_collection_stats(ALIAS)["row_count"])

    def properties(self) -> dict:
        """The ``embedlab.*`` properties given to :meth:`begin`, without the prefix (as strings)."""
        stored = self.client.describe_collection(ALIAS).get("properties", {})
        return {k.removeprefix("embedlab."): v for k, v in stored.items()
                if k.startswith("embedlab.") and k != MARK[0]}

    def _rows(self, fields, batch_size: int) -> list[dict]:
        """Every stored row's ``fields``, in key order; read in ranges of keys, as a Milvus server
        limits one query to 16,384 rows."""
        found = []
        for low in range(0, self.count(), batch_size):
            rows = self.client.query(ALIAS, filter=f"id >= {low} and id < {low + batch_size}",
                                     output_fields=["id", *fields], limit=batch_size)
            found.extend(sorted(rows, key=lambda row: row["id"]))
        return found

    def chunks(self, batch_size: int = 5000) -> list[Chunk]:
        """Every stored chunk, in key order."""
        return [row_chunk(row) for row in self._rows(_FIELDS, batch_size)]

    def vectors(self, batch_size: int = 5000) -> np.ndarray:
        """Every stored vector (n, d), in key order: what an ingest with ``--mode add`` keeps."""
        rows = self._rows(["vector"], batch_size)
        return np.array([row["vector"] for row in rows], dtype=np.float32).reshape(len(rows), -1)

    def keys_where(self, where: str, batch_size: int = 5000) -> set:
        """The keys of the chunks that match the Milvus expression ``where`` (read in ranges of keys)."""
        keys = set()
        for low in range(0, self.count(), batch_size):
            rows = _filtered(where, self.client.query, ALIAS, filter=f"({where}) and id >= {low} and id < "
                             f"{low + batch_size}", output_fields=["id"], limit=batch_size)
            keys.update(row["id"] for row in rows)
        return keys

    def search(self, query_vectors, k: int, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest chunks of each query vector: (keys, scores), each (n_queries, k), best first.

        ``where`` is a Milvus boolean expression over the stored fields, applied before the
        search (e.g. ``'title in ["Anarchism", "Autism"]'``, ``'source like "notes/%"'``). With
        fewer matching chunks than ``k``, rows are padded with key −1 and score −inf.
        """
        query_vectors = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
        results = _filtered(where, self.client.search, ALIAS, query_vectors, limit=k, filter=where or "",
                            output_fields=["id"])
        keys = np.full((len(query_vectors), k), -1, dtype=np.int64)
        scores = np.full((len(query_vectors), k), -np.inf, dtype=np.float32)
        for row, hits in enumerate(results):
            # Milvus returns hits best first; equal scores are put in key order, as exact_search does.
            hits = sorted(hits, key=lambda hit: (-hit["distance"], hit["id"]))
            keys[row, : len(hits)] = [hit["id"] for hit in hits]
            scores[row, : len(hits)] = [hit["distance"] for hit in hits]
        return keys, scores


def _filtered(where, call, *args, **kwargs):
    """``call(*args, **kwargs)``, a query or search with the filter ``where``; an expression Milvus
    refuses becomes one line: the grammar's own message when it is outside
    :func:`~embedlab.rag.filters.parse_filter`'s grammar, else Milvus's."""
    from pymilvus.exceptions import MilvusException

    try:
        return call(*args, **kwargs)
    except MilvusException as error:
        if not where:
            raise
        parse_filter(where)
        raise ValueError(f"Milvus cannot run the filter {where!r}: {error.message}") from None


def looks_like_milvus_lite(path: Path) -> bool:
    """Whether ``path`` is a folder Milvus Lite wrote (it holds ``collections/``)."""
    return path.is_dir() and (path / "collections").is_dir()


def require_existing(path: Path) -> None:
    """A ``FileNotFoundError`` that says how to make the database, when ``path`` does not exist."""
    if not path.exists():
        raise FileNotFoundError(
            f"no database at {path}; create one with: python -m embedlab.rag ingest SOURCE --db {path}")


def _connect(address):
    """A ``MilvusClient`` for a Milvus Lite folder or a server; each way of failing gets its own line."""
    import logging

    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    # pymilvus and Milvus Lite log each failed call with its traceback; the errors raised here and
    # in _filtered say what happened and what to do, in one line.
    for name in ("milvus_lite", "pymilvus.decorators"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if not is_server(address) and not str(address).endswith(".db"):
        raise ValueError(f"--db {address}: a Milvus Lite database is a folder whose name ends in .db (e.g. notes.db); "
                         f"a Milvus server is http(s)://host:port")
    try:
        if is_server(address):
            return MilvusClient(uri=str(address), token=os.environ.get("MILVUS_TOKEN", ""))
        return MilvusClient(str(address))
    except MilvusException as error:
        if is_server(address):
            raise ConnectionError(f"cannot reach the Milvus server at {address} ({error.message}): is it running, "
                                  f"and is the address right? (a token goes in MILVUS_TOKEN)") from None
        if _locked(Path(address)):
            raise ValueError(f"{address} is in use by another process (Milvus Lite lets one process at a time open "
                             f"a database): wait for it to finish, or serve the folder with "
                             f"'milvus-lite server --data-dir {address}' and use --db http://127.0.0.1:19530") from None
        raise ValueError(f"cannot open the database {address}: {error.message}") from None


def _locked(path: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on the folder ``path`` (``LOCK``, an advisory flock)."""
    import fcntl

    try:
        with open(path / "LOCK", "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def chunk_row(key: int, chunk: Chunk, vector) -> dict:
    """The stored row of ``chunk``: its fields as the schema names them (:data:`~embedlab.rag.filters.FIELD_TYPES`)."""
    return {"id": key, "vector": vector, "doc_id": chunk.doc_id, "title": chunk.title, "source": chunk.source,
            "chunk_index": chunk.index, "start": chunk.start, "end": chunk.end, "text": chunk.text}


def row_chunk(row: dict) -> Chunk:
    """The :class:`~embedlab.rag.chunking.Chunk` a stored row holds (:func:`chunk_row` read back)."""
    return Chunk(row["doc_id"], row["title"], row["chunk_index"], row["start"], row["end"], row["text"], row["source"])
