"""What storing embeddings costs: bytes per number for each storage type, and the bytes of a
collection (Chapter 1, "Dimensionality"; Chapter 5, "What a dimension costs").
"""

from __future__ import annotations

import pandas as pd

#: Bytes per stored number (one coordinate) of each storage type; binary keeps one bit.
BYTES_PER_NUMBER = {"float32": 4, "float16": 2, "int8": 1, "binary": 1 / 8}

#: Bytes in the units storage is shown in (decimal, as disks are sold).
BYTES_PER_UNIT = {"kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def readable_bytes(n_bytes: float) -> str:
    """``n_bytes`` in the largest decimal unit (:data:`BYTES_PER_UNIT`) that keeps the number at
    least 1, with three significant digits: what a calculator shows instead of "0.000 GB".

    >>> readable_bytes(960_000), readable_bytes(6_144_000_000), readable_bytes(512)
    ('960 kB', '6.14 GB', '512 bytes')
    """
    if n_bytes < 0:
        raise ValueError(f"n_bytes must be >= 0, got {n_bytes}")
    shown = f"{n_bytes:.0f} bytes"
    for unit, size in BYTES_PER_UNIT.items():
        number = float(f"{n_bytes / size:.3g}")  # rounded first: 999,500 bytes is 1.00 MB, not 1000 kB
        if number >= 1:
            shown = f"{number:#.3g}".rstrip(".") + f" {unit}"
    return shown


def storage_bytes(n_vectors: int, dim: int, dtype: str = "float32") -> int:
    """Bytes to store ``n_vectors`` vectors of ``dim`` coordinates: n · d · bytes per number.

    ``dtype`` is one of float32 (4 bytes), float16 (2), int8 (1) or binary (1 bit, each vector
    padded to whole bytes: n · ⌈d/8⌉). One million 1536-d float32 vectors take 6.144e9 bytes
    (6.1 GB); their 256-d prefixes take 1.024e9 (1.0 GB), 83% less. Book: Chapter 1,
    "Dimensionality"; Chapter 5, "What a dimension costs".

    >>> storage_bytes(1_000_000, 1536), storage_bytes(1_000_000, 256)
    (6144000000, 1024000000)
    >>> storage_bytes(1_000_000, 768, "float16")
    1536000000
    """
    if dtype not in BYTES_PER_NUMBER:
        raise ValueError(f"dtype must be one of {sorted(BYTES_PER_NUMBER)}, got {dtype!r}")
    if n_vectors < 0 or dim < 1:
        raise ValueError(f"need n_vectors >= 0 and dim >= 1, got n_vectors={n_vectors}, dim={dim}")
    if dtype == "binary":
        return int(n_vectors) * -(-int(dim) // 8)
    return int(n_vectors) * int(dim) * BYTES_PER_NUMBER[dtype]


def storage_table(n_vectors: int, dimensions=(50, 256, 768, 1536, 3072), unit: str = "GB",
                  dtypes=("float32", "float16", "int8")) -> pd.DataFrame:
    """Storage of ``n_vectors`` embeddings for each number of dimensions and storage type.

    A ``pandas.DataFrame`` indexed by dimensions, one column per type in ``dtypes`` (see
    :data:`BYTES_PER_NUMBER`), in ``unit`` ("MB" or "GB"). Book: Chapter 1, "Dimensionality".
    """
    if unit not in BYTES_PER_UNIT:
        raise ValueError(f"unknown unit {unit!r}; choose one of {list(BYTES_PER_UNIT)}")
    table = {dtype: [storage_bytes(n_vectors, d, dtype) / BYTES_PER_UNIT[unit] for d in dimensions] for dtype in dtypes}
    return pd.DataFrame(table, index=pd.Index(list(dimensions), name="dimensions"))
