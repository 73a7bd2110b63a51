"""Dense retrieval: what the encoder reads for each chunk, and the chunks' embeddings (and token
vectors, for re-ranking), cached on disk. Book: Chapter 6, "Dense retrieval".
"""

from __future__ import annotations

from embedlab.encoders import encode, encode_with_tokens
from embedlab.rag.chunking import Chunk


def embedding_input(chunk: Chunk) -> str:
    """What the encoder reads for a chunk: its document's title, then its text. A chunk from the
    middle of an article rarely names its subject; the title puts it back (a "contextual chunk
    header"). Book: Chapter 6, "Dense retrieval"."""
    return f"{chunk.title}\n{chunk.text}"


def embed_chunks(chunks, model=None, show_progress: bool = False, with_tokens: bool = False):
    """Embeddings (n_chunks, 384) of :func:`embedding_input` of each chunk by all-MiniLM-L6-v2,
    cached on disk (:func:`embedlab.encoders.encode` with ``cache=True``): running the same
    ingestion again loads the array instead of encoding the corpus, and any change of the texts
    (their chunking included) or of the weights encodes anew. ``model`` is the loaded MiniLM, or
    None to load it only when something must be encoded.

    ``with_tokens=True`` returns ``(embeddings, token_vectors)``, both from one pass and cached
    together (:func:`embedlab.encoders.encode_with_tokens`), the token vectors as float16: what a
    late-interaction re-ranker reads, so that re-ranking costs no encoder pass over the
    candidates. Book: Chapter 6, "Dense retrieval".
    """
    texts = [embedding_input(chunk) for chunk in chunks]
    if with_tokens:
        return encode_with_tokens(texts, model, cache=True, show_progress=show_progress)
    return encode(texts, model, cache=True, show_progress=show_progress)
