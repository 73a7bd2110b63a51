"""The trained cross-encoder re-ranker (embedlab.rag.cross_encoder) on a tiny corpus: the loss
falls, training is deterministic, the cached model loads and a damaged file is caught by its
checksum, and its scores agree with sentence-transformers' CrossEncoder reading the same weights
(an independent implementation of pair scoring)."""

import numpy as np
import pytest
from embedlab.rag import chunking, corpora, cross_encoder, dense

TINY = cross_encoder.CrossEncoderConfig(pairs=8, hard_negatives=1, batch_size=4, epochs=3, learning_rate=1e-4,
                                        max_length=64, seed=5)


@pytest.fixture(scope="module")
def chunks():
    documents = corpora.help_centre()[:4]
    return chunking.chunk_documents(documents, chunking.ChunkingConfig(max_tokens=40, overlap=4))


@pytest.fixture(scope="module")
def trained(chunks, tmp_path_factory):
    """One tiny re-ranker, cached in a folder of its own: (cache folder, re-ranker). Training is
    the slow part, so the tests share it; determinism is checked by training a second time."""
    folder = tmp_path_factory.mktemp("cross-encoder-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDLAB_CACHE", str(folder))
        yield folder, cross_encoder.trained_reranker(chunks, TINY, device="cpu")


def test_training_lowers_the_loss(trained):
    _, first = trained
    assert len(first.losses) == 6
    assert first.losses[-2:].mean() < first.losses[:2].mean()


def test_cached_reranker_loads_scores_like_sentence_transformers_and_detects_damage(chunks, trained, tmp_path, capsys):
    from sentence_transformers import CrossEncoder

    folder, first = trained
    loaded = cross_encoder.trained_reranker(chunks, TINY, device="cpu")
    assert loaded.checksum == first.checksum and loaded.seconds == first.seconds
    query, keys = "how do I reset a forgotten password", list(range(len(chunks)))
    scores = loaded.scores(query, keys)
    np.testing.assert_allclose(scores, first.scores(query, keys), atol=1e-5)
    # oracle: sentence-transformers' CrossEncoder on the same weights, reading the same (query, chunk) pairs
    saved = tmp_path / "model"
    loaded.model.save_pretrained(saved)
    loaded.tokenizer.save_pretrained(saved)
    oracle = CrossEncoder(str(saved), num_labels=1, max_length=TINY.max_length, device="cpu",
                          activation_fn=__import__("torch").nn.Identity())
    expected = oracle.predict([(query, dense.embedding_input(chunks[k])) for k in keys])
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    # re-ranking orders the first `top` keys by score and keeps the rest in place
    ranked, ranked_scores = loaded.rerank(query, keys, top=5)
    assert list(ranked[:5]) == sorted(keys[:5], key=lambda k: -scores[k]) and list(ranked[5:]) == keys[5:]
    assert np.isnan(ranked_scores[5:]).all()
    # a damaged file: the checksum catches it, and training again (deterministic) gives the same losses and weights
    (path,) = folder.glob("minilm-cross-encoder-*.npz")
    with np.load(path) as arrays:
        arrays = dict(arrays)
    name = next(n for n in arrays if n.startswith("weight:") and arrays[n].dtype == np.float32)
    arrays[name] = arrays[name] * 2
    np.savez(path, **arrays)
    capsys.readouterr()
    again = cross_encoder.trained_reranker(chunks, TINY, device="cpu")
    assert "checksum does not match" in capsys.readouterr().err
    np.testing.assert_allclose(again.losses, first.losses, rtol=1e-4)
    assert again.checksum == first.checksum
