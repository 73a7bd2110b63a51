"""Chapter 6 and ``python -m embedlab.rag`` where Milvus Lite cannot be imported: the exact store
(:class:`~embedlab.rag.store.ExactStore`) takes its place, says so in one line, and answers as
Milvus does. Milvus itself is the oracle: the same data go into both, and the keys that come out
must be equal. Milvus is hidden in process by ``None`` in ``sys.modules``, and in a subprocess by
a ``sitecustomize`` whose import hook refuses ``pymilvus`` and ``milvus_lite``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from embedlab.rag import __main__ as cli
from embedlab.rag import pipeline, store
from test_rag import notes_folder, synthetic_chunks

#: The line a reader sees once per process where Milvus Lite is missing (here: hidden by the hook below).
FALLBACK_LINE = ("Milvus Lite cannot be imported (No module named 'milvus_lite'): embedlab.rag uses its exact "
                 "in-memory store instead, saved in the database folder; search results are the same")

HIDE_MILVUS = '''import sys


class HideMilvus:
    """What a machine without Milvus Lite (e.g. Windows) shows: neither package can be imported."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("pymilvus", "milvus_lite"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideMilvus())
'''


@pytest.fixture
def without_milvus(monkeypatch):
    """Milvus hidden in this process; the remembered answer of milvus_lite_missing is forgotten before and after."""
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    monkeypatch.setitem(sys.modules, "milvus_lite", None)
    store.milvus_lite_missing.cache_clear()
    yield
    store.milvus_lite_missing.cache_clear()


# Every part of the filter grammar, each expression checked against Milvus's own reading of it.
FILTERS = [
    'title == "Title 3" and source == "folder1"',
    'doc_id == "doc2" and chunk_index < 2',
    'title in ["Title 1", "Title 5"] or chunk_index >= 40',
    'not (source == "folder0") && chunk_index != 3',
    "title NOT IN ['Title 0', 'Title 6'] AND start <= 0 || id > 290",
    'source == "folder1" or title == "Title 2" and chunk_index < 5',
    '(source == "folder1" or title == "Title 2") and chunk_index < 5',
    'text like "text 1_ é"',
    'text like "text 1% é"',
    '!(end > 8) or doc_id like "%5"',
]


def test_exact_store_filters_and_searches_as_milvus_does(tmp_path):
    chunks, vectors = synthetic_chunks()
    queries = vectors[:4] + 0.05
    with store.MilvusStore.create(tmp_path / "milvus.db", 16, {"model": "synthetic"}) as milvus:
        milvus.add(chunks, vectors)
        milvus.commit()
        expected_keys = [milvus.keys_where(where) for where in FILTERS]
        expected_hits = [milvus.search(queries, 12, where) for where in (None, FILTERS[1], FILTERS[5])]
    exact = store.ExactStore.create(tmp_path / "exact.db", 16, {"model": "synthetic"})
    for start in range(0, len(chunks), 128):
        exact.add(chunks[start:start + 128], vectors[start:start + 128])
    exact.commit()
    exact = store.ExactStore.open(tmp_path / "exact.db")  # read back from the file
    assert exact.chunks() == chunks and exact.properties() == {"model": "synthetic"}
    for where, keys in zip(FILTERS, expected_keys):
        assert exact.keys_where(where) == keys, where
    for where, (keys, scores) in zip((None, FILTERS[1], FILTERS[5]), expected_hits):
        found_keys, found_scores = exact.search(queries, 12, where)
        np.testing.assert_array_equal(found_keys, keys)  # FILTERS[1] matches 2 chunks: 10 keys of -1
        np.testing.assert_allclose(found_scores, scores, rtol=1e-5)
    # Negative controls: the expressions tell a wrong reading from the right one; precedence (and
    # binds tighter than or) and the two wildcards each change which chunks match.
    assert expected_keys[5] != expected_keys[6] and expected_keys[7] != expected_keys[8]
    assert (expected_hits[1][0] == -1).sum() == 40


def test_a_filter_outside_the_grammar_gets_one_clear_line(tmp_path):
    chunks, vectors = synthetic_chunks(3, 4)
    exact = store.ExactStore.create(tmp_path / "exact.db", 4, {"model": "x"})
    exact.add(chunks, vectors)
    exact.commit()
    with pytest.raises(ValueError, match=r"""cannot read the filter 'titel == "a"': 'titel' is not a field; """
                                         r"filters compare the fields id, doc_id, .* joined by and, or, not"):
        exact.search(vectors[:1], 2, 'titel == "a"')
    with pytest.raises(ValueError, match="chunk_index holds numbers, and \"2\" is not one"):
        exact.keys_where('chunk_index == "2"')
    with pytest.raises(ValueError, match=r"expected '\]', found 'the end'"):
        exact.keys_where('title in ["a"')


def test_exact_store_never_overwrites_what_it_did_not_write(tmp_path, monkeypatch):
    store.MilvusStore.create(tmp_path / "milvus.db", 4, {"model": "x"}).close()
    with pytest.raises(ValueError, match="milvus.db is a Milvus Lite database, which needs pymilvus and milvus-lite: install them, or choose"):
        store.ExactStore.create(tmp_path / "milvus.db", 4, {"model": "x"})
    with pytest.raises(ValueError, match="milvus.db is a Milvus Lite database, which needs pymilvus and milvus-lite"):
        store.ExactStore.open(tmp_path / "milvus.db")
    assert (tmp_path / "milvus.db" / "collections").is_dir()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt exists and is not an embedlab database .* choose another --db path"):
        store.ExactStore.create(tmp_path / "notes.txt", 4, {})
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="notes.txt exists and is not an embedlab database .it should be a folder written by"):
        store.ExactStore.open(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no database at .*create one with: python -m embedlab.rag ingest"):
        store.ExactStore.open(tmp_path / "missing.db")
    unnamed = store.ExactStore.create(tmp_path / "unnamed.db", 4, {})
    with pytest.raises(ValueError, match=r"vectors of shape \(1, 3\): this store holds rows of 4 numbers"):
        unnamed.add(synthetic_chunks(1, 3)[0], np.zeros((1, 3)))
    unnamed.add(*synthetic_chunks(2, 4))
    unnamed.commit()
    with pytest.raises(ValueError, match="unnamed.db is empty or damaged .no chunks or no model recorded"):
        store.ExactStore.open(tmp_path / "unnamed.db")

    chunks, vectors = synthetic_chunks(5, 4)
    path = tmp_path / "exact.db"
    written = store.ExactStore.create(path, 4, {"model": "x"})
    written.add(chunks, vectors)
    written.commit()
    saved = (path / store.EXACT_FILE).read_bytes()

    def interrupted(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", interrupted)
    interrupted_store = store.ExactStore.create(path, 4, {"model": "x"})
    interrupted_store.add(chunks[:2], vectors[:2])
    with pytest.raises(OSError, match="disk full"):
        interrupted_store.commit()
    assert (path / store.EXACT_FILE).read_bytes() == saved and os.listdir(path) == [store.EXACT_FILE]
    monkeypatch.undo()
    assert store.ExactStore.open(path).count() == 5  # the earlier index, whole
    (path / store.EXACT_FILE).write_bytes(saved[:100])
    with pytest.raises(ValueError, match="embedlab-exact.npz is damaged: delete it and run ingest again"):
        store.ExactStore.open(path)


def test_pipeline_without_milvus_answers_as_with_it_and_says_so_once(tmp_path, capsys, monkeypatch, without_milvus):
    folder = notes_folder(tmp_path)
    questions = [("How long do refunds take?", "hybrid+rerank", None), ("offline", "dense", 'source like "billing/%"'),
                 ("offline app", "hybrid", 'source like "billing/%"'), ("app", "bm25", None)]
    exact_db = tmp_path / "exact.db"
    pipeline.ingest(folder, exact_db, show_progress=False)
    without = [pipeline.search(question, exact_db, 2, method, where) for question, method, where in questions]
    answer = pipeline.answer("How long do refunds take?", exact_db, k=2)
    with pytest.raises(ImportError):
        import pymilvus  # noqa: F401  (negative control: Milvus really is hidden)
    assert cli.main(["search", "refunds", "--db", str(exact_db), "-k", "1"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        FALLBACK_LINE.replace("No module named 'milvus_lite'", "import of milvus_lite halted; None in sys.modules")]
    assert os.listdir(exact_db) == [store.EXACT_FILE]

    monkeypatch.delitem(sys.modules, "pymilvus")  # Milvus back: the oracle
    monkeypatch.delitem(sys.modules, "milvus_lite")
    store.milvus_lite_missing.cache_clear()
    milvus_db = tmp_path / "milvus.db"
    pipeline.ingest(folder, milvus_db, show_progress=False)
    with_milvus = [pipeline.search(question, milvus_db, 2, method, where) for question, method, where in questions]
    assert [[(h.key, h.chunk) for h in hits] for hits in without] == [[(h.key, h.chunk) for h in hits]
                                                                        for hits in with_milvus]
    np.testing.assert_allclose([h.score for hits in without for h in hits],
                               [h.score for hits in with_milvus for h in hits], rtol=1e-5)
    assert answer.text == pipeline.answer("How long do refunds take?", milvus_db, k=2).text
    assert capsys.readouterr().err == ""  # with Milvus there is no such line


def _run_without_milvus(*args, tmp_path):
    hook = tmp_path / "hide_milvus"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HIDE_MILVUS)
    env = dict(os.environ, EMBEDLAB_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_the_command_line_without_milvus_ingests_and_answers_as_with_it(tmp_path, capsys):
    for package in ("pymilvus", "milvus_lite"):  # negative control: the hook really hides both
        hidden = _run_without_milvus("-c", f"import {package}", tmp_path=tmp_path)
        assert hidden.returncode == 1 and f"ModuleNotFoundError: No module named '{package}'" in hidden.stderr
    folder, db = notes_folder(tmp_path), tmp_path / "notes.db"
    ingested = _run_without_milvus("-m", "embedlab.rag", "ingest", str(folder), "--db", str(db), "--quiet",
                                   tmp_path=tmp_path)
    assert ingested.returncode == 0 and ingested.stderr.splitlines() == [FALLBACK_LINE], ingested.stderr
    assert "now holds 2 documents (2 chunks); --mode replace (the default)" in ingested.stdout and os.listdir(db) == [store.EXACT_FILE]
    question = ["answer", "How long do refunds take?", "-k", "2", "--json"]
    answered = _run_without_milvus("-m", "embedlab.rag", *question, "--db", str(db), tmp_path=tmp_path)
    assert answered.returncode == 0 and answered.stderr.splitlines() == [FALLBACK_LINE], answered.stderr
    # The oracle: the same command with Milvus Lite, in this process.
    milvus_db = str(tmp_path / "milvus.db")
    assert cli.main(["ingest", str(folder), "--db", milvus_db, "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main([*question, "--db", milvus_db]) == 0
    assert json.loads(answered.stdout) == json.loads(capsys.readouterr().out)
