"""Chapter 5, "Beyond truncation: quantisation": storing each coordinate in fewer bits (int8
with one scale per dimension, or one sign bit), and what that costs in retrieval quality at
every Matryoshka prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from embedlab.matryoshka import truncate
from embedlab.metrics import mrr
from embedlab.storage import storage_bytes


@dataclass(frozen=True)
class Int8Quantizer:
    """Symmetric int8 quantisation with one scale per dimension: x_j ≈ s_j · c_j, c_j ∈ −127 … 127."""

    scale: np.ndarray  # (d,): s_j = max |x_j| over the calibration data / 127

    def quantize(self, embeddings) -> np.ndarray:
        """Codes c = clip(round(x / s), −127, 127), int8 (n, d); values beyond the calibration
        range are clipped."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != len(self.scale):
            raise ValueError(f"embeddings must have shape (n, {len(self.scale)}), got {embeddings.shape}")
        return np.clip(np.rint(embeddings / self.scale), -127, 127).astype(np.int8)

    def dequantize(self, codes) -> np.ndarray:
        """s · c, float32 (n, d): the vectors the codes stand for."""
        return np.asarray(codes, dtype=np.float32) * self.scale

    def scores(self, queries, codes) -> np.ndarray:
        """Dot products q · (s ⊙ c) of float queries (n_q, d) with the stored codes (n, d),
        computed as (q ⊙ s) · c so that the codes are never expanded: (n_q, n)."""
        queries = np.asarray(queries, dtype=np.float32)
        return (queries * self.scale) @ np.asarray(codes, dtype=np.float32).T


def fit_int8(calibration) -> Int8Quantizer:
    """An :class:`Int8Quantizer` whose scale per dimension covers the calibration data:
    s_j = max_i |x_ij| / 127 (a dimension that is 0 everywhere gets scale 1).
    Book: Chapter 5, "Beyond truncation: quantisation"."""
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 2 or len(calibration) == 0:
        raise ValueError(f"calibration must be a non-empty matrix of row vectors (n, d), got shape {calibration.shape}")
    largest = np.abs(calibration).max(axis=0)  # (d,)
    return Int8Quantizer(np.where(largest > 0, largest / 127, 1.0).astype(np.float32))


def binary_codes(embeddings) -> np.ndarray:
    """One bit per coordinate, 1 where it is positive, packed 8 to a byte: uint8 (n, ⌈d/8⌉).

    The sign vector b = sign(x) ∈ {−1, +1}^d keeps each coordinate's side of zero and nothing
    else, 32 times less than float32. Book: Chapter 5, "Beyond truncation: quantisation".

    >>> binary_codes(np.array([[0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -3.0, 1.0, 9.0]])).tolist()
    [[173, 128]]
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a matrix of row vectors (n, d), got shape {embeddings.shape}")
    return np.packbits(embeddings > 0, axis=1)


def hamming_distances(query_codes, codes) -> np.ndarray:
    """Number of differing bits between every query code and every stored code: (n_q, n).

    For sign vectors of d coordinates, the dot product is b_q · b = d − 2 · Hamming(b_q, b), so
    ranking by smallest Hamming distance is ranking by largest dot product of the signs.
    Book: Chapter 5, "Beyond truncation: quantisation".
    """
    query_codes, codes = np.asarray(query_codes, dtype=np.uint8), np.asarray(codes, dtype=np.uint8)
    if query_codes.ndim != 2 or codes.ndim != 2 or query_codes.shape[1] != codes.shape[1]:
        raise ValueError(f"codes must be packed bits of the same width, got {query_codes.shape} and {codes.shape}")
    return np.bitwise_count(query_codes[:, None, :] ^ codes[None, :, :]).sum(axis=2, dtype=np.int64)


def quantisation_report(query_embeddings, doc_embeddings, relevant, dims,
                        value_types=("float32", "int8", "binary")) -> pd.DataFrame:
    """Truncation and quantisation together: for each prefix m in ``dims`` and each value type,
    the bytes one stored vector takes (:func:`storage_bytes`) and the MRR of ranking every
    document for every query. Documents are stored quantised, queries stay float: float32
    ranks by cosine of the truncated vectors; int8 by q · (s ⊙ c) with the scales fitted on the
    documents (:func:`fit_int8`); binary by Hamming distance between sign codes, fewest
    differing bits first (:func:`binary_codes`, :func:`hamming_distances`), ties by document
    order. Rows (dimensions, value type). Book: Chapter 5, "Beyond truncation: quantisation"."""
    rows = {}
    for dim in dims:
        queries, documents = truncate(query_embeddings, dim), truncate(doc_embeddings, dim)
        for value_type in value_types:
            if value_type == "float32":
                scores = queries @ documents.T
            elif value_type == "int8":
                quantizer = fit_int8(documents)
                scores = quantizer.scores(queries, quantizer.quantize(documents))
            elif value_type == "binary":
                scores = -hamming_distances(binary_codes(queries), binary_codes(documents))
            else:
                raise ValueError(f"unknown value type {value_type!r}; choose float32, int8 or binary")
            rankings = np.argsort(-scores, axis=1, kind="stable")
            rows[dim, value_type] = {"bytes per vector": storage_bytes(1, dim, value_type),
                                     "held-out MRR": mrr(rankings, relevant)}
    return pd.DataFrame(rows).T.rename_axis(["dimensions", "value type"])
