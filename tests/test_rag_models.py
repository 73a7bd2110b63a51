"""Searching with another encoder or re-ranker than the defaults (issue 23): the embedding cache
keys on the weights, so a fine-tuned model never gets MiniLM's cached vectors; the ingest records
the encoder, a search with another one is refused with one line, and the CLI's ``--model`` and
``--reranker`` reach the pipeline. The "fine-tuned" model is MiniLM with one layer's weights
moved by seeded noise (no training needed to have other weights); the oracles are the model's
own ``encode`` and the re-ranker's own scores."""

import copy
import json

import numpy as np
import pytest
import torch
from embedlab import encoders
from embedlab.rag import __main__ as cli
from embedlab.rag import pipeline, remedies
from embedlab.rag.cross_encoder import CrossEncoderReranker, minilm_cross_encoder
from test_rag_ingest import NOTES, write_notes

TEXTS = ["Refunds reach your card within ten working days.", "The mobile app works offline."]


@pytest.fixture(scope="module")
def other_model():
    """MiniLM with its first layer's query weights moved: other weights, other vectors."""
    model = copy.deepcopy(encoders.load_minilm("cpu"))
    weight = model[0].auto_model.encoder.layer[0].attention.self.query.weight
    with torch.no_grad():
        weight.add_(0.05 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    return model


def test_a_fine_tuned_model_never_reads_minilms_cached_vectors(other_model, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    base = encoders.encode(TEXTS, cache=True)
    same_base = encoders.encode(TEXTS, encoders.load_minilm("cpu"), cache=True)
    assert len(list(tmp_path.glob("minilm-*.npz"))) == 1  # MiniLM, passed or not, is one cache entry
    np.testing.assert_allclose(same_base, base, atol=1e-6)
    other = encoders.encode(TEXTS, other_model, cache=True)
    # the oracle: the model's own encoder; MiniLM's cached vectors (the mistake) differ from it
    expected = other_model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(other, expected, atol=1e-5)
    assert np.abs(other - base).max() > 1e-3
    assert len(list(tmp_path.glob("minilm-*.npz"))) == 2
    _, tokens = encoders.encode_with_tokens(TEXTS, other_model, cache=True)
    np.testing.assert_allclose(tokens[0].astype(np.float32), encoders.token_vectors(TEXTS, other_model)[0], atol=2e-3)
    # changing the weights again (more training) changes the key as well
    changed = copy.deepcopy(other_model)
    with torch.no_grad():
        changed[0].auto_model.embeddings.word_embeddings.weight.mul_(1.5)
    assert encoders.encoder_key(changed) != encoders.encoder_key(other_model)
    assert encoders.encoder_key(other_model)[1] == encoders.weights_checksum(copy.deepcopy(other_model))


def test_the_ingest_records_its_encoder_and_a_search_with_another_is_refused(other_model, tmp_path, capsys):
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    pipeline.ingest(folder, db, show_progress=False, model=other_model)
    question = "How long do refunds take?"
    hits = pipeline.search(question, db, 3, "dense", model=other_model)
    # the oracle: cosines of the model's own vectors of the question and of what the encoder read
    vectors = other_model.encode([question] + [f"{h.chunk.title}\n{h.chunk.text}" for h in hits],
                                 normalize_embeddings=True)
    np.testing.assert_allclose([h.score for h in hits], vectors[1:] @ vectors[0], atol=1e-4)
    with pytest.raises(ValueError, match="was ingested with .*fine-tuned.*not with sentence-transformers/all-MiniLM"):
        pipeline.search(question, db, 3)
    assert cli.main(["search", question, "--db", str(db)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "--model adapted" in error, error
    # re-ingesting with MiniLM embeds every document again (another model, another space)
    report = pipeline.ingest(folder, db, show_progress=False)
    assert report.changes["replaced"] == (3, 3) and report.changes["kept"] == (0, 0)
    assert pipeline.search(question, db, 1)[0].chunk.doc_id == "refunds.txt"
    with pytest.raises(ValueError, match=r"ingested with the base MiniLM \(--model base\)"):
        pipeline.search(question, db, 1, model=other_model)


def test_the_cli_options_reach_the_pipeline(other_model, tmp_path, monkeypatch, capsys):
    reranker_model, tokenizer = minilm_cross_encoder(seed=1)  # an untrained head: scores unlike MaxSim's
    made_for = []

    def reranker_by_name(name, chunks):
        made_for.append((name, len(chunks)))
        return CrossEncoderReranker(reranker_model.eval(), tokenizer, chunks, "-", np.zeros(0), 0.0)

    monkeypatch.setattr(cli, "encoder_by_name", lambda name, show_progress=False: {"adapted": other_model}.get(name))
    monkeypatch.setattr(cli, "reranker_by_name", reranker_by_name)
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    assert cli.main(["ingest", str(folder), "--db", str(db), "--model", "adapted", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["search", "offline app", "--db", str(db), "--model", "adapted", "--reranker", "cross-encoder",
                     "-k", "3", "--json"]) == 0
    printed = capsys.readouterr().out
    assert made_for == [("cross-encoder", 3)]
    expected = pipeline.search("offline app", db, 3, model=other_model,
                               reranker_for=lambda chunks: reranker_by_name("cross-encoder", chunks))
    # the oracle: the re-ranker's own scores of the three chunks, best first
    oracle = CrossEncoderReranker(reranker_model, tokenizer, [h.chunk for h in expected], "-", np.zeros(0), 0.0)
    scores = oracle.scores("offline app", [0, 1, 2])
    np.testing.assert_allclose([h.score for h in expected], scores, atol=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
    assert [json.loads(line)["doc_id"] for line in printed.splitlines()] == [h.chunk.doc_id for h in expected]
    assert cli.main(["answer", "offline app", "--db", str(db), "--model", "base"]) == 1
    assert "ingested with" in capsys.readouterr().err
    # --reranker maxsim+hybrid (the default) and maxsim: the fused order's RRF scores, or MaxSim's own
    for option, weight in (([], pipeline.SEARCH_HYBRID_WEIGHT), (["--reranker", "maxsim"], 0.0)):
        assert cli.main(["search", "offline app", "--db", str(db), "--model", "adapted", "--json", *option]) == 0
        printed = [json.loads(line)["score"] for line in capsys.readouterr().out.splitlines()]
        hits = pipeline.search("offline app", db, 5, model=other_model, hybrid_weight=weight)
        np.testing.assert_allclose(printed, [h.score for h in hits], atol=1e-5)
    assert max(printed) > 1  # MaxSim sums over query tokens; a fused RRF score is below 1


def test_unknown_encoder_and_reranker_names_are_one_line():
    with pytest.raises(ValueError, match="unknown encoder 'big'; choose one of base, adapted"):
        remedies.encoder_by_name("big")
    with pytest.raises(ValueError, match=r"unknown re-ranker 'colbert'; choose one of maxsim\+hybrid, maxsim, query-likelihood, cross-en"):
        remedies.reranker_by_name("colbert", [])
    assert remedies.encoder_by_name("base") is None and remedies.reranker_by_name("maxsim", []) is None


def test_rerank_head_orders_the_scored_keys_and_keeps_the_rest_unscored():
    from embedlab.search import rerank_head

    keys, scores = rerank_head([7, 3, 9, 4, 1], [0.2, 0.9, 0.2])  # a tie: 7 stays before 9
    assert list(keys) == [3, 7, 9, 4, 1]
    np.testing.assert_array_equal(scores[:3], np.float32([0.9, 0.2, 0.2]))
    assert np.isnan(scores[3:]).all() and keys.dtype == np.int64 and scores.dtype == np.float32
    keys, scores = rerank_head([5, 6], [])  # nothing scored: the order stands
    assert list(keys) == [5, 6] and np.isnan(scores).all()


def test_maxsim_fused_with_the_first_stage_order_matches_a_hand_worked_example():
    from embedlab.rag import chunking, corpora, retrieval, store

    chunks = chunking.chunk_documents(corpora.help_centre()[:3], chunking.ChunkingConfig())[:3]
    tokens = [np.array([[0.5, 0.866]]), np.array([[0.2, 0.98]]), np.array([[0.9, 0.436]])]  # MaxSim: .5, .2, .9
    query_tokens = np.array([[1.0, 0.0]])
    vectors = store.ExactVectors(np.eye(3, dtype=np.float32))

    def reranked(weight):
        retriever = retrieval.Retriever(chunks, vectors, token_vectors=tokens, hybrid_weight=weight)
        keys, scores = retriever.rerank("q", [0, 1, 2], 3, query_tokens)
        return list(keys), scores

    assert reranked(0.0)[0] == [2, 0, 1]  # MaxSim alone
    # by hand, MaxSim ranks (2, 0, 1) fused with the first stage's (0, 1, 2), k = 60:
    # w = 0.5: chunk 2: 1/61 + .5/63 = .024330, chunk 0: 1/62 + .5/61 = .024326, chunk 1: 1/63 + .5/62 = .023938
    keys, scores = reranked(0.5)
    assert keys == [2, 0, 1]
    np.testing.assert_allclose(scores, [1 / 61 + 0.5 / 63, 1 / 62 + 0.5 / 61, 1 / 63 + 0.5 / 62], rtol=1e-6)
    # w = 1: chunk 0: 1/62 + 1/61 = .032522 passes chunk 2: 1/61 + 1/63 = .032266
    assert reranked(1.0)[0] == [0, 2, 1]
    # the keys after the re-ranked ones keep their place, unscored, fused or not
    for weight in (0.0, 0.5):
        retriever = retrieval.Retriever(chunks, vectors, token_vectors=tokens, hybrid_weight=weight)
        keys, scores = retriever.rerank("q", [1, 2, 0], 2, query_tokens)  # MaxSim .2, .9: 2 first
        assert list(keys) == [2, 1, 0] and np.isnan(scores[2])
    with pytest.raises(ValueError, match="hybrid_weight must be at least 0"):
        retrieval.Retriever(chunks, vectors, hybrid_weight=-1)
    with pytest.raises(ValueError, match="2 weights for 1 rankings"):
        retrieval.reciprocal_rank_fusion([["a"]], weights=(1, 2))


def test_the_chapters_small_deep_index_is_chosen_by_the_titles_hash_alone():
    import hashlib

    from embedlab.rag import passage_questions

    test_half = passage_questions.passage_questions("test")
    by_hash = sorted(set(test_half["first_title"]), key=lambda title: hashlib.sha256(title.encode()).hexdigest())
    assert remedies.articles_of("test", 3) == by_hash[:3]
    documents, questions = remedies.deep_subset("test", 3)
    assert sorted(d.title for d in documents) == sorted(by_hash[:3])
    assert len(questions) == test_half["first_title"].isin(by_hash[:3]).sum() and set(questions["split"]) == {"test"}
    assert all(len(d.text.split()) > 400 for d in documents)  # whole articles, not their first 400 words
