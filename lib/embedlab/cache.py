"""An on-disk cache for derived arrays that are slow to compute and exactly reproducible: each
result is saved under a name and a hash of everything it depends on, so that a later call with
the same inputs loads it instead of computing it again. Used by every chapter that embeds a
corpus or projects a map.

The cache checks itself. Each file carries the recipe that made it (the SHA-256 of the key's
``repr``, whose first 20 hex digits also name the file) and a SHA-256 checksum of its arrays; a file that cannot be read, was made by another recipe or no longer
matches its checksum is computed again, with one line on stderr saying so. When the cache
folder cannot be written, results are computed in memory and one line says how to choose
another folder (``EMBEDLAB_CACHE``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

_RECIPE = "__recipe__"
_CHECKSUM = "__sha256__"
_told_unwritable: set[str] = set()


def cache_root() -> Path:
    """The cache folder's path, created or not: ``$EMBEDLAB_CACHE``, else ``~/.cache/embedlab``."""
    root = os.environ.get("EMBEDLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embedlab"
    return Path(root)


def cache_dir() -> Path:
    """Where derived data is cached: ``$EMBEDLAB_CACHE``, else ``~/.cache/embedlab`` (never in git).
    Created when missing; raises ``OSError`` when it cannot be."""
    path = cache_root()
    path.mkdir(parents=True, exist_ok=True)
    return path


def tell(message: str) -> None:
    """One line on stderr, prefixed ``embedlab cache:``: what the cache did instead of its usual."""
    print(f"embedlab cache: {message}", file=sys.stderr)


def tell_unwritable(error: OSError) -> None:
    """Say once per folder that the cache cannot be written and how to choose another one."""
    folder = str(cache_root())
    if folder not in _told_unwritable:
        _told_unwritable.add(folder)
        tell(f"cannot write to {folder} ({error.strerror or error}): results are computed but not kept; "
             "set EMBEDLAB_CACHE to a writable folder to keep them")


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def cached_array(name: str, key, compute) -> np.ndarray:
    """``compute()``, saved in :func:`cache_dir` under ``name`` and a hash of ``key``.

    ``key`` must hold everything the result depends on (inputs, parameters, library
    versions): a later call with an equal key loads the saved array instead of computing.
    For results that are slow to compute and exactly reproducible (seeded).
    """
    return cached_arrays(name, key, lambda: {"array": compute()})["array"]


def cached_arrays(name: str, key, compute) -> dict[str, np.ndarray]:
    """:func:`cached_array` for results made of several arrays: ``compute()`` returns a dict of
    arrays, saved together as one ``.npz`` file with the recipe and the checksum."""
    recipe = _recipe(key)
    path = cache_root() / f"{name}-{recipe[:20]}.npz"
    if path.exists():
        saved, problem = _load_checked(path, recipe)
        if saved is not None:
            return saved
        tell(f"{path} {problem}: computing it again")
    result = {field: np.asarray(array) for field, array in compute().items()}
    if any(field.startswith("__") for field in result):
        raise ValueError(f"cached array names must not start with '__': {sorted(result)}")
    recipe_bytes = np.frombuffer(recipe.encode("ascii"), dtype=np.uint8)
    try:
        cache_dir()
        save_atomically(path, lambda tmp: np.savez(tmp, **result, **{
            _RECIPE: recipe_bytes, _CHECKSUM: np.frombuffer(checksum(result).encode(), dtype=np.uint8)}))
    except OSError as error:
        tell_unwritable(error)
    return result


def _recipe(key) -> str:
    """The SHA-256 of ``repr(key)``: a cache file's recipe, in 64 hex digits."""
    return hashlib.sha256(repr(key).encode()).hexdigest()


def _load_checked(path: Path, recipe: str) -> tuple[dict | None, str]:
    """The arrays saved at ``path`` if it is a readable cache file of ``recipe`` whose arrays
    match their checksum; else ``(None, what is wrong)``."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {field: saved[field] for field in saved.files}
    except Exception as error:  # a truncated or foreign file raises zipfile, OSError, ValueError, EOFError
        return None, f"cannot be read ({type(error).__name__}: {error})"
    stored_recipe, stored_checksum = arrays.pop(_RECIPE, None), arrays.pop(_CHECKSUM, None)
    if stored_recipe is None or stored_checksum is None:
        return None, "is not an embedlab cache file (no recipe or checksum)"
    if stored_recipe.tobytes().decode("ascii", "replace") != recipe:
        return None, "was made by another recipe"
    if stored_checksum.tobytes().decode("ascii", "replace") != checksum(arrays):
        return None, "is damaged (its checksum does not match)"
    return arrays, ""


def cached_json(name: str, key, compute):
    """:func:`cached_arrays` for a JSON-serialisable result (a list of dicts, say), saved as
    ``.json`` with its recipe and checksum."""
    recipe = _recipe(key)
    path = cache_root() / f"{name}-{recipe[:20]}.json"
    if path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            body = json.dumps(saved["value"], sort_keys=True, ensure_ascii=False)
            if saved["recipe"] != recipe:
                problem = "was made by another recipe"
            elif saved["sha256"] != hashlib.sha256(body.encode()).hexdigest():
                problem = "is damaged (its checksum does not match)"
            else:
                return saved["value"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            problem = f"cannot be read ({type(error).__name__}: {error})"
        tell(f"{path} {problem}: computing it again")
    value = compute()
    body = json.dumps(value, sort_keys=True, ensure_ascii=False)
    document = {"recipe": recipe, "sha256": hashlib.sha256(body.encode()).hexdigest(), "value": value}
    try:
        cache_dir()
        save_atomically(path, lambda tmp: tmp.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8"))
    except OSError as error:
        tell_unwritable(error)
    return value


def save_atomically(path: Path, save) -> None:
    """``save(tmp)`` to a temporary file beside ``path``, then rename it to ``path``: a run stopped
    half-way never leaves a broken file, and a failed save leaves what was there."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        save(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
