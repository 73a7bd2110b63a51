"""An on-disk cache for derived arrays that are slow to compute and exactly reproducible: each
result is saved under a name and a hash of everything it depends on, so that a later call with
the same inputs loads it instead of computing it again. Used by every chapter that embeds a
corpus or projects a map.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """Where derived data is cached: ``$EMBEDLAB_CACHE``, else ``~/.cache/embedlab`` (never in git)."""
    root = os.environ.get("EMBEDLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embedlab"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_array(name: str, key, compute) -> np.ndarray:
    """``compute()``, saved as ``.npy`` in :func:`cache_dir` under ``name`` and a hash of ``key``.

    ``key`` must hold everything the result depends on (inputs, parameters, library
    versions): a later call with an equal key loads the saved array instead of computing.
    For results that are slow to compute and exactly reproducible (seeded).
    """
    path = _cache_path(name, key, ".npy")
    if path.exists():
        return np.load(path)
    result = np.asarray(compute())
    _save_atomically(path, lambda tmp: np.save(tmp, result))
    return result


def _cache_path(name: str, key, suffix: str) -> Path:
    return cache_dir() / f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:20]}{suffix}"


def _save_atomically(path: Path, save) -> None:
    """``save(tmp)`` to a temporary file, then rename it to ``path``: a run stopped half-way
    never leaves a broken file."""
    tmp = path.with_suffix(".tmp" + path.suffix)
    save(tmp)
    tmp.replace(path)


def cached_arrays(name: str, key, compute) -> dict[str, np.ndarray]:
    """:func:`cached_array` for results made of several arrays: ``compute()`` returns a dict of
    arrays, saved together as one ``.npz`` file."""
    path = _cache_path(name, key, ".npz")
    if path.exists():
        with np.load(path) as saved:
            return {field: saved[field] for field in saved.files}
    result = {field: np.asarray(array) for field, array in compute().items()}
    _save_atomically(path, lambda tmp: np.savez(tmp, **result))
    return result
