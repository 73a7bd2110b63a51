"""The on-disk cache checks itself: damaged, foreign or other-recipe files are computed again with
one line saying so, and an unwritable cache folder costs the caching, never the result."""

import json
import zipfile

import numpy as np
import pytest

from embedlab import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_told_unwritable", set())
    return tmp_path / "cache"


class Counter:
    """``compute`` for the cache that counts its calls and returns a fixed array."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def only_file(folder):
    files = list(folder.glob("*.npz")) + list(folder.glob("*.json"))
    assert len(files) == 1, files
    return files[0]


def test_a_result_is_computed_once_then_loaded(folder, capsys):
    compute = Counter(np.arange(6.0).reshape(2, 3))
    first = cache.cached_array("numbers", ("inputs", 1), compute)
    second = cache.cached_array("numbers", ("inputs", 1), compute)
    assert compute.calls == 1 and np.array_equal(first, second) and second.dtype == np.float64
    cache.cached_array("numbers", ("inputs", 2), compute)  # another key: another file
    assert compute.calls == 2 and len(list(folder.glob("numbers-*.npz"))) == 2
    assert capsys.readouterr().err == ""


def test_a_truncated_file_is_computed_again_with_one_line(folder, capsys):
    compute = Counter(np.ones((50, 4)))
    cache.cached_array("numbers", "key", compute)
    path = only_file(folder)
    path.write_bytes(path.read_bytes()[:100])
    again = cache.cached_array("numbers", "key", compute)
    assert compute.calls == 2 and np.array_equal(again, np.ones((50, 4)))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "cannot be read" in lines[0], lines
    # the file was written again, whole: the third call loads it silently
    cache.cached_array("numbers", "key", compute)
    assert compute.calls == 2 and capsys.readouterr().err == ""


def test_a_file_whose_arrays_no_longer_match_their_checksum_is_not_used(folder, capsys):
    right = np.full((3, 3), 0.5)
    cache.cached_array("numbers", "key", Counter(right))
    path = only_file(folder)
    with np.load(path) as saved:
        fields = {field: saved[field] for field in saved.files}
    fields["array"] = fields["array"] * 3235.8  # same size, valid zip, wrong numbers (a cosine of 1617.9)
    np.savez(path, **fields)
    compute = Counter(right)
    assert np.array_equal(cache.cached_array("numbers", "key", compute), right)
    assert compute.calls == 1 and "is damaged" in capsys.readouterr().err


def test_a_foreign_file_or_another_recipe_is_computed_again(folder, capsys):
    cache.cached_array("numbers", "key", Counter(np.zeros(3)))
    path = only_file(folder)
    np.savez(path, array=np.full(3, 7.0))  # someone else's file under our name
    assert np.array_equal(cache.cached_array("numbers", "key", Counter(np.zeros(3))), np.zeros(3))
    assert "not an embedlab cache file" in capsys.readouterr().err
    # a file made by another recipe, renamed to this recipe's name
    cache.cached_array("numbers", "other key", Counter(np.full(3, 9.0)))
    other = next(p for p in folder.glob("*.npz") if p != path)
    other.replace(path)
    assert np.array_equal(cache.cached_array("numbers", "key", Counter(np.zeros(3))), np.zeros(3))
    assert "another recipe" in capsys.readouterr().err


def test_several_arrays_are_checked_together(folder):
    result = {"vectors": np.eye(2, dtype=np.float32), "counts": np.array([3, 4])}
    cache.cached_arrays("pair", "key", lambda: result)
    loaded = cache.cached_arrays("pair", "key", lambda: pytest.fail("should load"))
    assert loaded.keys() == result.keys() and loaded["vectors"].dtype == np.float32
    with pytest.raises(ValueError, match="must not start with '__'"):
        cache.cached_arrays("bad", "key", lambda: {"__recipe__": np.zeros(1)})


def test_an_unwritable_cache_computes_in_memory_and_says_how_to_fix_it_once(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EMBEDLAB_CACHE", str(blocker / "cache"))  # can't be created, even by root
    monkeypatch.setattr(cache, "_told_unwritable", set())
    compute = Counter(np.arange(3))
    assert np.array_equal(cache.cached_array("numbers", "key", compute), np.arange(3))
    assert np.array_equal(cache.cached_json("list", "key", lambda: [1, 2]), [1, 2])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "EMBEDLAB_CACHE" in lines[0] and str(blocker / "cache") in lines[0], lines
    assert blocker.read_text() == "not a folder"  # nothing of the user's touched


def test_json_results_are_checked_too(folder, capsys):
    value = [{"title": "Cat", "words": 3}]
    assert cache.cached_json("articles", "key", lambda: value) == value
    path = only_file(folder)
    assert cache.cached_json("articles", "key", lambda: pytest.fail("should load")) == value
    document = json.loads(path.read_text())
    document["value"][0]["words"] = 4  # edited by hand: the checksum no longer matches
    path.write_text(json.dumps(document))
    assert cache.cached_json("articles", "key", lambda: value) == value
    assert "is damaged" in capsys.readouterr().err
    path.write_text(path.read_text()[:20])  # truncated
    assert cache.cached_json("articles", "key", lambda: value) == value
    assert "cannot be read" in capsys.readouterr().err


def test_a_failed_save_leaves_the_old_file_and_no_temporary(folder):
    cache.cached_array("numbers", "key", Counter(np.zeros(2)))
    path = only_file(folder)
    before = path.read_bytes()

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.save_atomically(path, broken)
    assert path.read_bytes() == before and [p.name for p in folder.iterdir()] == [path.name]
    assert zipfile.is_zipfile(path)
