"""``embedlab.rag`` ingest never loses data (issue 21): a re-ingest is all or nothing, a file that
cannot be stored is skipped and listed, a database holding anything embedlab did not make is
never changed, ``--mode replace`` and ``--mode add`` say what they did, and every mistake a user
can make gets one line. Each test runs on Milvus Lite and, where the store matters, on the exact
store (Milvus hidden); the oracle for "as before" is the database's own answers before the
failed run, and for ``--mode add`` a fresh ingest of the documents the database should hold."""

import contextlib
import sys

import pytest
from embedlab.rag import __main__ as cli
from embedlab.rag import dense, generation, pipeline, store
from embedlab.rag.milvus_store import MilvusStore
from test_rag import _hit

QUESTIONS = [("How long do refunds take?", "dense"), ("offline app", "bm25"), ("sync when I reconnect", "hybrid")]


@pytest.fixture(params=["milvus", "exact"])
def store_kind(request, monkeypatch):
    """Each test twice: with Milvus Lite, and with Milvus hidden (the exact store)."""
    if request.param == "exact":
        monkeypatch.setitem(sys.modules, "pymilvus", None)
        monkeypatch.setitem(sys.modules, "milvus_lite", None)
    store.milvus_lite_missing.cache_clear()
    yield request.param
    store.milvus_lite_missing.cache_clear()


def write_notes(folder, **texts):
    """A folder of notes: ``name="text"`` writes ``name.txt``; ``name=None`` deletes it."""
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        path = folder / f"{name}.txt"
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
    return folder


NOTES = {"refunds": "Refunds reach your card within ten working days.",
         "mobile": "The Fernwork mobile app works offline. Changes sync when you reconnect.",
         "export": "Export a project as CSV from the project menu."}


def answers(db):
    """What the database answers: for each question, each hit's key, chunk and score."""
    return [[(hit.key, hit.chunk, round(hit.score, 5)) for hit in pipeline.search(question, db, 3, method)]
            for question, method in QUESTIONS]


def test_a_failed_reingest_leaves_the_old_database_answering_as_before(tmp_path, store_kind, monkeypatch):
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    pipeline.ingest(folder, db, show_progress=False)
    before = answers(db)
    assert before[0][0][1].doc_id == "refunds.txt"

    # A re-ingest that fails half-way: half the chunks are written to the new collection, then the disk fills.
    kind = store.ExactStore if store_kind == "exact" else MilvusStore
    real_add = kind.add

    def half_then_fail(self, chunks, vectors, *args):
        real_add(self, chunks[: len(chunks) // 2], vectors[: len(vectors) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(kind, "add", half_then_fail)
    write_notes(folder, refunds="Refunds now take three days.", extra="A fourth note about invoices.")
    with pytest.raises(OSError, match="disk full"):
        pipeline.ingest(folder, db, show_progress=False)
    monkeypatch.setattr(kind, "add", real_add)
    assert answers(db) == before
    if store_kind == "milvus":  # the half-written collection is gone, the old one is the only one
        with MilvusStore.open(db) as opened:
            assert opened.client.list_collections() == [opened.current()]

    # A re-ingest with a file no database can store (a 70,000-character hex dump: one word that
    # MiniLM reads as one [UNK] token, so that one chunk holds it all): that file is skipped and
    # listed, the others are stored. (A base64 image is cut at its "+" and "/" into chunks that fit.)
    write_notes(folder, refunds=NOTES["refunds"], extra=None)
    text = "# Dump\n" + "0123456789abcdef" * 4375
    (folder / "dump.md").write_text(text + "\n")
    report = pipeline.ingest(folder, db, show_progress=False)
    assert report.skipped == [("dump.md", f"cannot be stored: its text is {len(text):,} bytes long (chunk 0), "
                                          f"more than the 65,535 a database stores")]
    assert (report.documents, report.changes["kept"]) == (3, (3, 3))
    assert answers(db) == before


def test_a_path_too_long_to_store_skips_that_file_only(tmp_path, store_kind):
    folder = write_notes(tmp_path / "notes", **NOTES)
    deep = folder
    for level in range(12):  # 12 folders of 200 characters: a path of 2,4xx bytes, over the 2,048 stored
        deep = deep / f"{level:02d}{'d' * 198}"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("Deep note about refunds.")
    report = pipeline.ingest(folder, tmp_path / "notes.db", show_progress=False)
    name = (deep / "deep.txt").relative_to(folder).as_posix()
    assert report.skipped == [(name, f"cannot be stored: its path is {len(name):,} bytes long (chunk 0), more than "
                                     f"the 2,048 a database stores")] and len(name) > 2048
    assert report.documents == 3


@contextlib.contextmanager
def raw_client(path):
    """pymilvus's own client on a Milvus Lite folder, as another program would use it; the folder is freed after."""
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import MilvusClient

    client = MilvusClient(str(path))
    try:
        yield client
    finally:
        client.close()
        server_manager_instance.release_server(str(path))


def foreign_database(path):
    """A Milvus Lite database made by someone else with pymilvus: a collection named ``chunks``, 3 rows."""
    from pymilvus import DataType

    with raw_client(path) as client:
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        client.create_collection("chunks", schema=schema, index_params=index)
        client.insert("chunks", [{"id": i, "vector": [i, 1.0]} for i in range(3)])


def rows_of(path):
    """The keys of every row of every collection in a Milvus Lite folder, read with pymilvus directly."""
    rows = {}
    with raw_client(path) as client:
        for name in client.list_collections():
            client.load_collection(name)
            rows[name] = sorted(row["id"] for row in client.query(name, filter="id >= 0", output_fields=["id"]))
    return rows


def test_a_database_embedlab_did_not_make_is_never_changed(tmp_path, monkeypatch, capsys):
    db = tmp_path / "theirs.db"
    foreign_database(db)
    before = rows_of(db)
    assert before == {"chunks": [0, 1, 2]}

    def must_not_embed(*args, **kwargs):
        raise AssertionError("embedded before checking --db")

    monkeypatch.setattr(pipeline, "embed_chunks", must_not_embed)
    folder = write_notes(tmp_path / "notes", **NOTES)
    assert cli.main(["ingest", str(folder), "--db", str(db), "--quiet"]) == 1
    assert capsys.readouterr().err == (f"error: {db} holds collections that embedlab.rag did not make (chunks); "
                                       f"it leaves them unchanged: choose another --db\n")
    for mode in ("replace", "add"):
        with pytest.raises(ValueError, match="did not make"):
            pipeline.ingest(folder, db, show_progress=False, mode=mode)
    assert cli.main(["search", "refunds", "--db", str(db)]) == 1
    assert capsys.readouterr().err == (f"error: {db} holds a collection 'chunks' that embedlab.rag did not make "
                                       f"(it lacks the property embedlab.made_by): embedlab.rag reads only its "
                                       f"own collections\n")
    assert rows_of(db) == before

    # Ours beside theirs: a database of ours to which someone added a collection is not written either.
    monkeypatch.undo()
    ours = tmp_path / "ours.db"
    pipeline.ingest(folder, ours, show_progress=False)
    with raw_client(ours) as client:
        client.create_collection("their_notes", dimension=2)
    with pytest.raises(ValueError, match=r"ours.db holds collections that embedlab.rag did not make \(their_notes\)"):
        pipeline.ingest(folder, ours, show_progress=False)
    assert pipeline.search("refunds", ours, 1)[0].chunk.doc_id == "refunds.txt"  # reading ours still works


def test_modes_add_and_replace_keep_unchanged_documents_and_count_every_change(tmp_path, store_kind, monkeypatch,
                                                                                capsys):
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    assert cli.main(["ingest", str(folder), "--db", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{db} now holds 3 documents (3 chunks); --mode replace (the default), ")
    assert out[1:] == ["added 3 documents (3 chunks), replaced 0 (0 chunks), kept 0 (0 chunks), removed 0 (0 chunks)"]

    embedded = []
    real_embed = dense.embed_chunks

    def counting_embed(chunks, *args, **kwargs):
        embedded.extend(chunk.doc_id for chunk in chunks)
        return real_embed(chunks, *args, **kwargs)

    monkeypatch.setattr(pipeline, "embed_chunks", counting_embed)
    write_notes(folder, mobile="The mobile app works offline now. It syncs on reconnect.", export=None,
                invoices="Invoices are emailed on the first of the month.")
    assert cli.main(["ingest", str(folder), "--db", str(db), "--quiet", "--mode", "add"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{db} now holds 4 documents (4 chunks); --mode add, ")
    assert out[1:] == ["added 1 document (1 chunk), replaced 1 (1 chunk), kept 2 (2 chunks), removed 0 (0 chunks)"]
    assert sorted(embedded) == ["invoices.txt", "mobile.txt"]  # the unchanged and absent ones keep their vectors

    # The oracle: a fresh ingest of the four documents the database should now hold.
    oracle_folder = write_notes(tmp_path / "oracle", **{**NOTES, "mobile": (folder / "mobile.txt").read_text(),
                                                        "invoices": (folder / "invoices.txt").read_text()})
    pipeline.ingest(oracle_folder, tmp_path / "oracle.db", show_progress=False)
    by_document = lambda db: sorted(((hit.chunk, round(hit.score, 5)) for hit in pipeline.search(  # noqa: E731
        "offline refunds export invoices", db, 4, "dense")), key=lambda pair: pair[0].chunk_id)
    assert by_document(db) == by_document(tmp_path / "oracle.db")

    embedded.clear()
    assert cli.main(["ingest", str(folder), "--db", str(db), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == ("added 0 documents (0 chunks), replaced 0 (0 chunks), "
                                                       "kept 3 (3 chunks), removed 1 (1 chunk)")
    assert embedded == [] and {hit.chunk.doc_id for hit in pipeline.search("export", db, 5, "dense")} == {
        "refunds.txt", "mobile.txt", "invoices.txt"}

    assert cli.main(["ingest", str(folder), "--db", str(db), "--mode", "add", "--max-tokens", "64"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {db} was built with ") and error.endswith(
        "--mode add needs the same model and chunking (--max-tokens 128 --overlap 16), or use --mode replace\n")


def test_ingest_help_says_replace_is_the_default_and_what_add_does(capsys):
    with pytest.raises(SystemExit):
        cli.main(["ingest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--mode {replace,add} replace (the default): the database ends up holding exactly the source's" in text
    assert "add: it also keeps the documents the source does not have" in text
    assert "http(s)://host:port" in text and "MILVUS_TOKEN" in text


def test_user_mistakes_in_search_and_answer_get_one_line(tmp_path, store_kind, capsys):
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    pipeline.ingest(folder, db, show_progress=False)
    capsys.readouterr()
    for where in ('title = "refunds"', 'title == "refunds" and', "chunk_index < "):
        assert cli.main(["search", "refunds", "--db", str(db), "--where", where]) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"error: cannot read the filter {where!r}") and error.count("\n") == 1, error
        assert error.endswith("; filters compare the fields id, doc_id, title, source, chunk_index, start, end, text "
                              "with ==, !=, <, <=, >, >=, in, like, joined by and, or, not\n"), error
    for command in ("search", "answer"):
        assert cli.main([command, "  ", "--db", str(db)]) == 1
        assert capsys.readouterr().err == "error: the question is empty: give the words to search for\n"
    assert cli.main(["search", "zebra", "--db", str(db), "--method", "bm25"]) == 0
    assert capsys.readouterr().out == "no results\n"
    assert cli.main(["answer", "zebra", "--db", str(db), "--method", "bm25"]) == 1
    assert capsys.readouterr().err == "error: there are no passages to answer from: the search found nothing\n"


def test_the_extractive_answer_reads_a_passage_whose_lines_begin_with_numbers_in_brackets():
    """The passage's own lines "[1] Smith 2020" and "[2] ..." are text, not the prompt's source headers
    (read as headers, source [1] was empty: ``max() arg is an empty sequence``)."""
    references = _hit(1, "refunds", "[1] Smith 2020, Refund policy.\n[2] Jones 2021.\nRefunds take ten working days.")
    prompt = generation.build_prompt("How long do refunds take?", [references, _hit(2, "mobile", "Offline.")])
    assert generation.extractive_generator(prompt) == "\u201cRefunds take ten working days.\u201d [1]"
    only_headers = _hit(1, "refs", "[1] ")
    assert generation.extractive_generator(generation.build_prompt("refs?", [only_headers])) == "\u201c[1]\u201d [1]"


def test_a_missing_folder_for_a_new_database_is_named(tmp_path, store_kind):
    folder = write_notes(tmp_path / "notes", **NOTES)
    with pytest.raises(FileNotFoundError, match=f"the folder {tmp_path / 'absent'} does not exist: create it"):
        pipeline.ingest(folder, tmp_path / "absent" / "notes.db", show_progress=False)
    assert not (tmp_path / "absent").exists()
    (tmp_path / "file.db").write_text("mine")
    with pytest.raises(ValueError, match="file.db exists and is not a"):
        pipeline.ingest(folder, tmp_path / "file.db", show_progress=False)
    assert (tmp_path / "file.db").read_text() == "mine"


def test_chunks_longer_than_the_encoder_reads_are_named(tmp_path, capsys):
    """--max-tokens past MiniLM's window is refused before anything is made; at the largest
    allowed (254) a chunk whose title takes the last tokens is named. The oracle counts with
    MiniLM's tokenizer as the encoder calls it ([CLS] and [SEP] included)."""
    from embedlab import encoders

    folder = write_notes(tmp_path / "notes", chinese="退款将在十个工作日内退回您的信用卡。" * 30, short=NOTES["refunds"],
                         **{"the refund policy for every card": " ".join(f"refund{i % 50} policy." for i in range(300))})
    assert cli.main(["ingest", str(folder), "--db", str(tmp_path / "wide.db"), "--quiet", "--max-tokens", "2000"]) == 1
    assert capsys.readouterr().err == ("error: --max-tokens is 2000, but MiniLM reads 256 tokens, [CLS] and [SEP] "
                                       "included: choose at most 254\n")
    assert not (tmp_path / "wide.db").exists()
    assert cli.main(["ingest", str(folder), "--db", str(tmp_path / "notes.db"), "--quiet", "--max-tokens", "254",
                     "--overlap", "0"]) == 0
    model = encoders.load_minilm()
    with pipeline.open_retriever(tmp_path / "notes.db") as retriever:
        too_long = [chunk.chunk_id for chunk in retriever.chunks
                    if len(model.tokenizer(dense.embedding_input(chunk))["input_ids"]) > model.max_seq_length]
    # Chunks of up to 254 tokens: the long title takes the last tokens of some; Chinese (252 + 1) fits.
    assert too_long and all(chunk_id.startswith("the refund policy") for chunk_id in too_long)
    assert capsys.readouterr().out.splitlines()[2] == (
        f"truncated: {len(too_long)} chunks are longer than the 256 tokens MiniLM reads, which embeds only their "
        f"beginning (e.g. {', '.join(too_long[:3])}): the title put before each chunk counts too; lower --max-tokens")
    report = pipeline.ingest(folder, tmp_path / "default.db", show_progress=False)  # 128 tokens: all fit
    assert report.truncated == []


def test_a_damaged_milvus_lite_folder_is_one_line(tmp_path, capsys):
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    pipeline.ingest(folder, db, show_progress=False)
    (schema,) = db.glob("collections/*/schema.json")
    schema.write_text("garbage{")
    assert cli.main(["search", "refunds", "--db", str(db)]) == 1
    assert capsys.readouterr().err == (f"error: Milvus: schema file '{schema}' is not valid JSON: Expecting value: "
                                       f"line 1 column 1 (char 0) (if the database is damaged, ingest again into a "
                                       f"new --db)\n")
