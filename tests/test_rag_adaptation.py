"""Domain adaptation of MiniLM (embedlab.rag.adaptation) on a tiny corpus: pairs made as the
docstring says (oracle: the chunk texts and BM25 itself), the loss falls, training is
deterministic, the cached model saves and loads, and a damaged cache file is detected by its
checksum."""

import numpy as np
import pytest
from embedlab import cache
from embedlab.bm25 import BM25Index
from embedlab.rag import adaptation, chunking, corpora, dense

TINY = adaptation.AdaptationConfig(pairs=16, hard_negatives=1, batch_size=8, epochs=3, learning_rate=1e-4,
                                   max_seq_length=48, seed=3)


@pytest.fixture(scope="module")
def chunks():
    documents = corpora.help_centre()[:4]
    return chunking.chunk_documents(documents, chunking.ChunkingConfig(max_tokens=40, overlap=4))


def test_pairs_come_from_their_chunk_with_same_article_negatives_ranked_by_bm25(chunks):
    pairs = adaptation.corpus_pairs(chunks, 12, hard_negatives=2, seed=1)
    index = BM25Index([dense.embedding_input(c) for c in chunks])
    for pair in pairs:
        positive = chunks[pair.positive]
        assert pair.query in positive.text and len(pair.query.split()) >= 8
        assert pair.positive_text.startswith(positive.title + "\n")
        assert len(pair.negatives) == 2 and pair.positive not in pair.negatives
        assert all(chunks[k].doc_id == positive.doc_id and pair.query not in chunks[k].text for k in pair.negatives)
        # no other chunk of the article that lacks the sentence scores above the mined ones
        others = [k for k, c in enumerate(chunks) if c.doc_id == positive.doc_id and k != pair.positive
                  and pair.query not in c.text and k not in pair.negatives]
        scores = index.scores(pair.query)
        assert all(scores[k] <= min(scores[n] for n in pair.negatives) + 1e-6 for k in others)
    assert adaptation.corpus_pairs(chunks, 12, hard_negatives=2, seed=1) == pairs
    assert adaptation.corpus_pairs(chunks, 12, hard_negatives=2, seed=2) != pairs
    with pytest.raises(ValueError, match="ask for fewer"):
        adaptation.corpus_pairs(chunks, 10_000)


def test_training_lowers_the_loss_and_is_deterministic(chunks):
    model, losses = adaptation.train_encoder(chunks, TINY, device="cpu")
    steps_per_epoch = len(losses) // TINY.epochs
    assert len(losses) == TINY.epochs * 2
    assert losses[-steps_per_epoch:].mean() < losses[:steps_per_epoch].mean()
    again, losses_again = adaptation.train_encoder(chunks, TINY, device="cpu")
    np.testing.assert_allclose(losses_again, losses, rtol=1e-4)
    texts = ["how do I reset my password", "invoices for last year"]
    np.testing.assert_allclose(again.encode(texts), model.encode(texts), atol=1e-4)
    # the base model is untouched (training works on a copy)
    from embedlab.encoders import load_minilm
    base = load_minilm("cpu").encode(texts)
    assert np.abs(base - model.encode(texts)).max() > 1e-3


def test_the_cached_model_loads_and_a_damaged_file_is_trained_again(chunks, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    first = adaptation.adapted_minilm(chunks, TINY, device="cpu")
    assert first.seconds > 0 and len(first.losses) == 6
    files = list(tmp_path.glob("minilm-adapted-*.npz"))
    assert len(files) == 1
    loaded = adaptation.adapted_minilm(chunks, TINY, device="cpu")
    assert loaded.checksum == first.checksum and loaded.seconds == first.seconds
    texts = [dense.embedding_input(c) for c in chunks[:3]]
    np.testing.assert_allclose(loaded.model.encode(texts), first.model.encode(texts), atol=1e-6)
    # flip one weight in the saved file: the checksum catches it and the model is trained again
    with np.load(files[0]) as saved:
        arrays = dict(saved)
    name = next(n for n in arrays if n.startswith("weight:") and arrays[n].dtype == np.float32)
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] += 1.0
    np.savez(files[0], **arrays)
    capsys.readouterr()
    retrained = adaptation.adapted_minilm(chunks, TINY, device="cpu")
    assert "checksum does not match" in capsys.readouterr().err
    assert retrained.checksum == first.checksum  # deterministic: the same weights again
    # another config is another recipe, so another file
    assert cache.checksum({"a": np.zeros(1)}) != first.checksum


def test_adapted_embeddings_are_cached_under_the_weights_not_the_base_model(chunks, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    adapted = adaptation.adapted_minilm(chunks, TINY, device="cpu")
    vectors, tokens = adaptation.embed_with(adapted, chunks)
    assert len(list(tmp_path.glob("minilm-adapted-tokens-*.npz"))) == 1
    expected = adapted.model.encode([dense.embedding_input(c) for c in chunks], normalize_embeddings=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-4)
    assert len(tokens) == len(chunks) and all(t.dtype == np.float16 for t in tokens)
    base = dense.embed_chunks(chunks)
    assert np.abs(base - vectors).max() > 1e-3
