"""``python -m embedlab.rag --db http://host:port`` against a real Milvus server: Milvus Lite's own
gRPC server (``milvus-lite server``), started on a free loopback port by a fixture and stopped
after the test. The same MilvusStore code serves a folder and a server; the oracle for the
server's answers is the same ingest into a Milvus Lite folder. Also: each way ``--db`` can be
wrong gets its own line, before any embedding."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from embedlab.rag import __main__ as cli
from embedlab.rag import pipeline
from test_rag import notes_folder

MILVUS_LITE = Path(sys.executable).parent / "milvus-lite"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    """``milvus-lite server`` on 127.0.0.1:port, once it accepts connections (at most 60 s)."""
    server = subprocess.Popen([str(MILVUS_LITE), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"milvus-lite server exited: {server.stderr.read()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    server.kill()
    pytest.fail("milvus-lite server did not listen within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture
def milvus_server(tmp_path):
    """The address of a Milvus Lite gRPC server, its data folder, and a function that stops it."""
    data_dir, port = tmp_path / "server.db", free_port()
    server = start_server(data_dir, port)
    yield f"http://127.0.0.1:{port}", data_dir, lambda: stop_server(server)
    if server.poll() is None:
        stop_server(server)


def run(*args, tmp_path, **env):
    return subprocess.Popen([sys.executable, "-m", "embedlab.rag", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, EMBEDLAB_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1", **env))


def test_ingest_two_searches_at_once_and_answer_against_a_milvus_server(tmp_path, milvus_server, capsys):
    url, data_dir, stop = milvus_server
    folder = notes_folder(tmp_path)
    assert cli.main(["ingest", str(folder), "--db", url, "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"{url} now holds 2 documents (2 chunks); --mode replace (the default)")
    question = ["How long do refunds take?", "-k", "2", "--json", "--db", url]
    searches = [run("search", *question, tmp_path=tmp_path, MILVUS_TOKEN="root:Milvus") for _ in range(2)]
    results = [search.communicate(timeout=300) for search in searches]
    assert [search.returncode for search in searches] == [0, 0], results
    first, second = ([json.loads(line) for line in out.splitlines()] for out, _ in results)
    assert first == second and first[0]["title"] == "refunds"
    assert cli.main(["answer", *question]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["answer"] == "\u201cRefunds reach your card within ten working days.\u201d [1]"

    # The oracle: the same ingest into a Milvus Lite folder answers the same.
    lite = tmp_path / "notes.db"
    pipeline.ingest(folder, lite, show_progress=False)
    assert [(h.chunk, round(h.score, 5)) for h in pipeline.search("refunds", lite, 2)] == [
        (h.chunk, round(h.score, 5)) for h in pipeline.search("refunds", url, 2)]

    # The server's data folder is a Milvus Lite folder: what the "in use" message advises works both ways.
    stop()
    assert cli.main(["search", *question[:-1], str(data_dir)]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == first


def test_each_wrong_db_gets_its_own_line_before_any_embedding(tmp_path, monkeypatch, capsys):
    def must_not_embed(*args, **kwargs):
        raise AssertionError("embedded before checking --db")

    monkeypatch.setattr(pipeline, "embed_chunks", must_not_embed)
    folder = notes_folder(tmp_path)
    closed = f"http://127.0.0.1:{free_port()}"
    for command in (["ingest", str(folder)], ["search", "refunds"]):
        assert cli.main([*command, "--db", closed, "--quiet"][: 4 if command[0] == "search" else 5]) == 1
        assert capsys.readouterr().err == (
            f"error: cannot reach the Milvus server at {closed} (Fail connecting to server on "
            f"{closed.removeprefix('http://')}, illegal connection params or server unavailable): is it running, "
            f"and is the address right? (a token goes in MILVUS_TOKEN)\n")
    assert cli.main(["ingest", str(folder), "--db", str(tmp_path / "absent" / "notes.db")]) == 1
    assert capsys.readouterr().err == (f"error: the folder {tmp_path / 'absent'} does not exist: create it, or "
                                       f"choose another --db path\n")
    (tmp_path / "notes.db").write_text("mine")
    assert cli.main(["ingest", str(folder), "--db", str(tmp_path / "notes.db")]) == 1
    assert capsys.readouterr().err == (f"error: {tmp_path / 'notes.db'} exists and is not a Milvus Lite database: "
                                       f"choose another --db path\n")
    assert (tmp_path / "notes.db").read_text() == "mine"
    assert cli.main(["ingest", str(folder), "--db", str(tmp_path / "mynotes")]) == 1
    assert capsys.readouterr().err == (f"error: --db {tmp_path / 'mynotes'}: a Milvus Lite database is a folder whose "
                                       f"name ends in .db (e.g. notes.db); a Milvus server is http(s)://host:port\n")

    monkeypatch.undo()
    db = tmp_path / "mine.db"
    pipeline.ingest(folder, db, show_progress=False)
    with pipeline.open_retriever(db):  # this process holds the folder: another one cannot open it
        held = run("search", "refunds", "--db", str(db), tmp_path=tmp_path)
        _, error = held.communicate(timeout=300)
    assert held.returncode == 1 and error == (
        f"error: {db} is in use by another process (Milvus Lite lets one process at a time open a database): "
        f"wait for it to finish, or serve the folder with 'milvus-lite server --data-dir {db}' and use "
        f"--db http://127.0.0.1:19530\n")


def test_a_second_ingest_leaves_an_unfinished_one_alone_on_a_server(tmp_path, milvus_server, monkeypatch, capsys):
    """Ingest A has begun writing its new collection (the store's own calls, from this test);
    ingest B, from the command line, stops with one line before embedding instead of dropping A's
    collection, and A then commits. An ingest killed half-way leaves its collection: the next one
    names it, and after the drop it advises, succeeds."""
    import re

    from embedlab.rag.milvus_store import MilvusStore
    from pymilvus import MilvusClient

    url, _, _ = milvus_server
    folder = notes_folder(tmp_path)
    assert cli.main(["ingest", str(folder), "--db", url, "--quiet"]) == 0
    properties = {"model": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": "128", "overlap": "16",
                  "tokenizer": "minilm"}
    writer = MilvusStore.open_for_writing(url)
    first_chunk, first_vector = writer.chunks()[:1], writer.vectors()[:1]
    writer.begin(first_vector.shape[1], properties)
    writer.add(first_chunk, first_vector)
    capsys.readouterr()

    def must_not_embed(*args, **kwargs):
        raise AssertionError("embedded although another ingest is unfinished")

    monkeypatch.setattr(pipeline, "embed_chunks", must_not_embed)
    assert cli.main(["ingest", str(folder), "--db", url, "--quiet"]) == 1
    message = (rf"error: {re.escape(url)}: another ingest began writing the collection {writer.pending} [\d,]+ s ago "
               rf"and has not finished: wait for it; if it was interrupted, drop that collection "
               rf"\(pymilvus\.MilvusClient\('{re.escape(url)}'\)\.drop_collection\('{writer.pending}'\)\) and ingest "
               rf"again\n")
    assert re.fullmatch(message, capsys.readouterr().err)
    writer.commit()  # A's collection survived B and becomes the database
    writer.close()
    with pipeline.open_retriever(url) as retriever:
        assert retriever.chunks == first_chunk

    killed = MilvusStore.open_for_writing(url)  # begins, then dies without cleaning up
    killed.begin(first_vector.shape[1], properties)
    left, killed.pending = killed.pending, None
    killed.close()
    assert cli.main(["ingest", str(folder), "--db", url, "--quiet"]) == 1
    assert f"drop_collection('{left}')" in capsys.readouterr().err
    MilvusClient(url).drop_collection(left)
    monkeypatch.undo()
    assert cli.main(["ingest", str(folder), "--db", url, "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"{url} now holds 2 documents (2 chunks)")
