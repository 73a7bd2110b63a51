"""Domain adaptation of MiniLM (embedlab.rag.adaptation) on a tiny corpus: pairs made as the
docstring says (oracle: the chunk texts and BM25 itself), the loss falls, training is
deterministic (two trainings in all, shared by the tests), the cached model saves and loads, and a
damaged cache file is detected by its checksum."""

import numpy as np
import pytest
from embedlab import cache, encoders
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


@pytest.fixture(scope="module")
def trained(chunks, tmp_path_factory):
    """One tiny adaptation, cached in a folder of its own: (cache folder, model). Training is the
    slow part, so the tests share it; determinism is checked by training a second time."""
    folder = tmp_path_factory.mktemp("adaptation-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDLAB_CACHE", str(folder))
        yield folder, adaptation.adapted_minilm(chunks, TINY, device="cpu")


def test_training_lowers_the_loss_and_leaves_the_base_model_alone(trained):
    _, first = trained
    assert first.seconds > 0 and len(first.losses) == TINY.epochs * 2
    assert first.losses[-2:].mean() < first.losses[:2].mean()
    # the base model is untouched (training works on a copy)
    from embedlab.encoders import load_minilm
    texts = ["how do I reset my password", "invoices for last year"]
    assert np.abs(load_minilm("cpu").encode(texts) - first.model.encode(texts)).max() > 1e-3


def test_the_cached_model_loads_and_a_damaged_file_is_trained_again_to_the_same_weights(chunks, trained, capsys):
    folder, first = trained
    files = list(folder.glob("minilm-adapted-*.npz"))
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
    # deterministic: training again gives the same losses and the same weights
    np.testing.assert_allclose(retrained.losses, first.losses, rtol=1e-4)
    assert retrained.checksum == first.checksum
    assert cache.checksum({"a": np.zeros(1)}) != first.checksum


def test_adapted_embeddings_are_cached_under_the_weights_not_the_base_model(chunks, trained):
    folder, adapted = trained
    vectors, tokens = dense.embed_chunks(chunks, adapted.model, with_tokens=True)
    assert len(list(folder.glob("minilm-tokens-*.npz"))) == 1
    expected = adapted.model.encode([dense.embedding_input(c) for c in chunks], normalize_embeddings=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-4)
    assert len(tokens) == len(chunks) and all(t.dtype == np.float16 for t in tokens)
    base = dense.embed_chunks(chunks)
    assert np.abs(base - vectors).max() > 1e-3
    # the checksum the adaptation reports is the one the embedding cache keys on
    assert adapted.checksum == encoders.weights_checksum(adapted.model)
