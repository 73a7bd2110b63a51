"""embedlab.contrastive against sentence-transformers, scikit-learn, scipy, torch autograd, finite
differences, an explicit BM25 and hand-worked examples."""

import doctest
import math
import warnings

import numpy as np
import pytest
import torch
from embedlab import bm25, contrastive, data, encoders, inverse_cloze, metrics, sentence_encoder, training
from embedlab.data import Article
from scipy import stats
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sklearn.metrics import ndcg_score
from sklearn.metrics.pairwise import cosine_similarity


def random_batch(batch_size=6, dim=8, hard=0, seed=0):
    """Queries, keys and (if ``hard``) hard negatives (B, hard, d), float64, requiring gradients."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(batch_size, dim), (batch_size, dim)] + ([(batch_size, hard, dim)] if hard else [])
    return [torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True) for shape in shapes]


def mnrl(temperature, symmetric=False):
    """sentence-transformers' loss with scale = 1/τ. Its model is only used to embed texts, which
    ``compute_loss_from_embeddings`` skips, so none is needed (and nothing is downloaded)."""
    if symmetric:
        return MultipleNegativesRankingLoss(None, scale=1 / temperature, directions=("query_to_doc", "doc_to_query"),
                                            partition_mode="per_direction")
    return MultipleNegativesRankingLoss(None, scale=1 / temperature)


def value_and_gradients(loss, tensors):
    return loss.item(), torch.autograd.grad(loss, tensors)


# ---------------------------------------------------------------------------------------------
# InfoNCE


@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_info_nce_equals_multiple_negatives_ranking_loss_in_value_and_gradient(temperature):
    queries, keys = random_batch()
    ours, our_gradients = value_and_gradients(contrastive.info_nce(queries, keys, temperature), [queries, keys])
    theirs, their_gradients = value_and_gradients(
        mnrl(temperature).compute_loss_from_embeddings([queries, keys], labels=None), [queries, keys])
    assert ours == pytest.approx(theirs, rel=1e-12)
    for mine, reference in zip(our_gradients, their_gradients):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hard", [1, 3])
def test_hard_negatives_are_sentence_transformers_extra_columns(hard):
    """(B, h, d) hard negatives are MNRL's columns negative_1 … negative_h, seen by every query."""
    queries, keys, negatives = random_batch(hard=hard)
    ours, our_gradients = value_and_gradients(
        contrastive.info_nce(queries, keys, 0.05, hard_negatives=negatives), [queries, keys, negatives])
    columns = [queries, keys] + [negatives[:, j] for j in range(hard)]
    theirs, their_gradients = value_and_gradients(
        mnrl(0.05).compute_loss_from_embeddings(columns, labels=None), [queries, keys, negatives])
    assert ours == pytest.approx(theirs, rel=1e-12)
    for mine, reference in zip(our_gradients, their_gradients):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
    if hard == 1:  # (B, d) means one hard negative per query
        two_dimensional = contrastive.info_nce(queries, keys, 0.05, hard_negatives=negatives[:, 0])
        assert two_dimensional.item() == pytest.approx(ours, rel=1e-12)


@pytest.mark.parametrize("hard", [0, 2])
def test_symmetric_info_nce_equals_symmetric_ranking_loss(hard):
    queries, keys, *negatives = random_batch(hard=hard)
    tensors = [queries, keys, *negatives]
    ours, our_gradients = value_and_gradients(
        contrastive.info_nce(queries, keys, 0.05, hard_negatives=negatives[0] if hard else None, symmetric=True),
        tensors)
    columns = [queries, keys] + ([negatives[0][:, j] for j in range(hard)] if hard else [])
    theirs, their_gradients = value_and_gradients(
        mnrl(0.05, symmetric=True).compute_loss_from_embeddings(columns, labels=None), tensors)
    assert ours == pytest.approx(theirs, rel=1e-12)
    for mine, reference in zip(our_gradients, their_gradients):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


def test_symmetric_info_nce_equals_the_deprecated_symmetric_class():
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesSymmetricRankingLoss

    queries, keys = random_batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        deprecated = MultipleNegativesSymmetricRankingLoss(None, scale=20.0)
    theirs = deprecated.compute_loss_from_embeddings([queries, keys], labels=None).item()
    assert contrastive.info_nce(queries, keys, 0.05, symmetric=True).item() == pytest.approx(theirs, rel=1e-12)


def test_a_different_temperature_or_a_missing_hard_negative_gives_a_different_loss():
    """Negative control: the comparisons above would catch a wrong temperature or dropped negatives."""
    queries, keys, negatives = random_batch(hard=1)
    reference = mnrl(0.05).compute_loss_from_embeddings([queries, keys, negatives[:, 0]], labels=None).item()
    assert contrastive.info_nce(queries, keys, 0.05, hard_negatives=negatives).item() == pytest.approx(reference)
    assert contrastive.info_nce(queries, keys, 0.07, hard_negatives=negatives).item() != pytest.approx(reference)
    assert contrastive.info_nce(queries, keys, 0.05).item() != pytest.approx(reference)
    symmetric = contrastive.info_nce(queries, keys, 0.05, hard_negatives=negatives, symmetric=True)
    assert symmetric.item() != pytest.approx(reference)


def test_info_nce_hand_worked_example():
    """Queries e1, e2, e3; keys (1, 0, 0), (0.6, 0.8, 0), (0, 0, 1), all unit vectors, so the
    similarity matrix is S = [[1, 0.6, 0], [0, 0.8, 0], [0, 0, 1]]. With τ = 0.5 the logits are 2S:

        L1 = −log(e² / (e² + e^1.2 + e⁰))  = log(1 + e^−0.8 + e^−2) = log(1.5846642) = 0.4603726
        L2 = −log(e^1.6 / (1 + e^1.6 + 1)) = log(1 + 2 e^−1.6)        = log(1.4037930) = 0.3391779
        L3 = −log(e² / (1 + 1 + e²))       = log(1 + 2 e^−2)          = log(1.2706706) = 0.2395448
        L = (L1 + L2 + L3) / 3 = 0.3463651

    Keys → queries uses the columns of S: k2 sees (0.6, 0.8, 0), so
    K2 = log(1 + e^−0.4 + e^−1.6) = 0.6271231, K1 = K3 = 0.2395448, mean 0.3687375, and the
    symmetric loss is (0.3463651 + 0.3687375) / 2 = 0.3575513.
    """
    queries = np.eye(3)
    keys = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]])
    assert contrastive.info_nce(queries, keys, temperature=0.5).item() == pytest.approx(0.3463651, abs=1e-6)
    assert contrastive.info_nce(queries, keys, temperature=0.5, symmetric=True).item() == pytest.approx(
        0.3575513, abs=1e-6)
    by_formula = np.mean([math.log(1 + math.exp(-0.8) + math.exp(-2)), math.log(1 + 2 * math.exp(-1.6)),
                          math.log(1 + 2 * math.exp(-2))])
    assert by_formula == pytest.approx(0.3463651, abs=1e-6)


def test_similarity_matrix_is_cosine_similarity_for_numpy_and_torch():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    expected = cosine_similarity(a, b)
    np.testing.assert_allclose(contrastive.similarity_matrix(a, b).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(contrastive.similarity_matrix(torch.tensor(a), torch.tensor(b)).numpy(), expected,
                               rtol=1e-12)
    assert contrastive.similarity_matrix(a[0], b).shape == (1, 3)


def test_bad_input_to_the_loss_is_refused_with_a_clear_message():
    queries, keys = random_batch(batch_size=3, dim=4)
    with pytest.raises(ValueError, match="empty batch"):
        contrastive.info_nce(torch.zeros(0, 4), torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"must have the same shape \(B, d\)"):
        contrastive.info_nce(queries, keys[:, :3])
    with pytest.raises(ValueError, match=r"must have the same shape \(B, d\)"):
        contrastive.info_nce(queries, keys[:2])
    for temperature in (0, -0.1):
        with pytest.raises(ValueError, match="temperature must be positive"):
            contrastive.info_nce(queries, keys, temperature=temperature)
    with pytest.raises(ValueError, match=r"hard_negatives must have shape \(B, d\) or \(B, h, d\)"):
        contrastive.info_nce(queries, keys, hard_negatives=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="dimension mismatch"):
        contrastive.similarity_matrix(np.ones((2, 3)), np.ones((2, 4)))


# ---------------------------------------------------------------------------------------------
# What each negative contributes


def loss_of_similarities(similarities, temperature):
    return -torch.log_softmax(similarities / temperature, dim=0)[0]


def test_similarity_gradients_equal_autograd_and_finite_differences():
    similarities = np.array([0.7, 0.65, 0.3, -0.1, 0.69])  # the positive first
    temperature = 0.05
    result = contrastive.similarity_gradients(similarities[0], similarities[1:], temperature)

    tensor = torch.tensor(similarities, requires_grad=True)
    loss = loss_of_similarities(tensor, temperature)
    (autograd,) = torch.autograd.grad(loss, tensor)
    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(result.gradients, autograd.numpy(), rtol=1e-10, atol=1e-14)

    step = 1e-6
    for i in range(len(similarities)):
        up, down = similarities.copy(), similarities.copy()
        up[i] += step
        down[i] -= step
        numeric = (contrastive.similarity_gradients(up[0], up[1:], temperature).loss
                   - contrastive.similarity_gradients(down[0], down[1:], temperature).loss) / (2 * step)
        assert result.gradients[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    assert result.positive_probability == pytest.approx(math.exp(-result.loss))


def test_easy_negatives_get_almost_no_gradient():
    """∂L/∂s_i = p_i / τ: at τ = 0.05 a negative 0.8 below the positive has p_i ≈ e^−16."""
    result = contrastive.similarity_gradients(0.8, [0.0, 0.75], temperature=0.05)
    easy, hard = result.gradients[1:]
    assert easy < 1e-5 and hard > 1
    assert result.gradients[1:].sum() == pytest.approx(-result.gradients[0])  # pushes sum to the pull


def test_gradient_table_of_embeddings():
    rng = np.random.default_rng(1)
    anchor, positive, negatives = rng.normal(size=8), rng.normal(size=8), rng.normal(size=(3, 8))
    table = contrastive.gradient_table(anchor, positive, negatives, labels=["a", "b", "c"], temperature=0.1)
    assert table["candidate"].tolist() == ["positive", "a", "b", "c"]
    expected_similarities = cosine_similarity(anchor[None], np.vstack([positive, negatives]))[0]
    np.testing.assert_allclose(table["similarity"], expected_similarities, rtol=1e-6)
    result = contrastive.similarity_gradients(expected_similarities[0], expected_similarities[1:], 0.1)
    np.testing.assert_allclose(table["probability"], result.probabilities, rtol=1e-5)
    np.testing.assert_allclose(table["gradient"], np.abs(result.gradients), rtol=1e-5)
    assert table["probability"].sum() == pytest.approx(1)
    with pytest.raises(ValueError, match="2 labels for 3 negatives"):
        contrastive.gradient_table(anchor, positive, negatives, labels=["a", "b"])


def test_contrastive_steps_pull_the_positive_and_push_hard_negatives_more_than_easy_ones():
    anchor = np.array([1.0, 0.0, 0.0])
    positive = np.array([0.6, 0.8, 0.0])
    negatives = np.array([[0.8, 0.0, 0.6], [-1.0, 0.0, 0.0]])  # a hard one (cos 0.8), an easy one (cos −1)
    before = negatives.copy()
    steps = contrastive.contrastive_steps(anchor, positive, negatives, steps=20, temperature=0.1, learning_rate=0.01)
    assert steps.similarities.shape == (21, 3) and steps.embeddings.shape == (21, 4, 3) and steps.losses.shape == (21,)
    np.testing.assert_allclose(steps.similarities[0], [0.6, 0.8, -1.0], atol=1e-12)
    assert np.all(np.diff(steps.losses) < 0)
    assert steps.similarities[-1, 0] > 0.6 and steps.similarities[-1, 1] < 0.8
    moved = np.linalg.norm(steps.embeddings[-1] - steps.embeddings[0], axis=1)  # anchor, positive, hard, easy
    assert moved[3] < 1e-6 < moved[2]
    np.testing.assert_array_equal(negatives, before)
    again = contrastive.contrastive_steps(anchor, positive, negatives, steps=20, temperature=0.1, learning_rate=0.01)
    np.testing.assert_array_equal(again.embeddings, steps.embeddings)


# ---------------------------------------------------------------------------------------------
# Negatives


def test_docstring_examples():
    assert doctest.testmod(contrastive).failed == 0


def test_in_batch_negatives_are_every_other_key():
    assert contrastive.in_batch_negatives(3).tolist() == [[1, 2], [0, 2], [0, 1]]
    with pytest.raises(ValueError, match="at least 2 pairs"):
        contrastive.in_batch_negatives(1)


def bm25_by_hand(query_tokens, document_tokens, k1=1.5, b=0.75):
    """Lucene's BM25, one document and one query word at a time."""
    n = len(document_tokens)
    average_length = sum(len(d) for d in document_tokens) / n
    scores = []
    for document in document_tokens:
        score = 0.0
        for token in query_tokens:
            df = sum(token in d for d in document_tokens)
            tf = document.count(token)
            if df and tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf / (tf + k1 * (1 - b + b * len(document) / average_length))
        scores.append(score)
    return scores


DOCUMENTS = [
    "The cat sat on the mat and the cat slept.",
    "Dogs chase cats across the garden.",
    "A bird sang in the garden at dawn.",
    "The stock market fell sharply on Monday.",
    "Cats and dogs are popular pets in many homes.",
    "The cat sat on the mat and the cat slept.",  # an exact duplicate of document 0
]


def test_bm25_scores_equal_the_formula_computed_by_hand():
    import bm25s

    queries = ["cat on the mat", "garden birds at dawn", "the and of"]
    scores = bm25.bm25_scores(queries, DOCUMENTS)
    document_tokens = bm25s.tokenize(DOCUMENTS, stopwords="en", return_ids=False, show_progress=False)
    for query, row in zip(queries, scores):
        query_tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        np.testing.assert_allclose(row, bm25_by_hand(query_tokens, document_tokens), rtol=1e-5, atol=1e-7)
    assert not scores[2].any()  # only stop words


def test_bm25_negatives_never_include_the_positive_or_a_document_scoring_within_the_margin():
    queries = ["cat on the mat", "dogs chase cats", "stock market"]
    positives = [0, 1, 3]
    scores = bm25.bm25_scores(queries, DOCUMENTS)
    negatives = contrastive.mine_bm25_negatives(queries, DOCUMENTS, positives, k=5, margin=0.05)
    assert 5 not in negatives[0]  # the duplicate of the positive scores the same: a false negative
    for row, positive, mined in zip(scores, positives, negatives):
        assert positive not in mined
        assert np.all(row[mined] < 0.95 * row[positive])
        assert list(mined) == sorted(mined, key=lambda d: -row[d])  # hardest first
        qualifying = np.flatnonzero(row < 0.95 * row[positive])
        assert set(mined) == set(qualifying[np.argsort(-row[qualifying], kind="stable")][:5])


def test_model_negatives_respect_the_margin():
    rng = np.random.default_rng(0)
    documents = rng.normal(size=(30, 16))
    queries = documents[:10] + 0.5 * rng.normal(size=(10, 16))
    positives = np.arange(10)
    scores = cosine_similarity(queries, documents)
    for margin in (0.0, 0.05, 0.3):
        negatives = contrastive.mine_model_negatives(queries, documents, positives, k=4, margin=margin)
        for i, mined in enumerate(negatives):
            threshold = scores[i, i] - margin * abs(scores[i, i])
            assert i not in mined and len(mined) <= 4
            assert np.all(scores[i, mined] < threshold - 1e-6)
            allowed = np.flatnonzero(scores[i] < threshold - 1e-6)
            assert set(mined) == set(allowed[np.argsort(-scores[i, allowed])][:4])
    near_copy = documents.copy()
    near_copy[10] = queries[0] * 1.001  # scores above the positive: never a negative
    assert 10 not in contrastive.mine_model_negatives(queries, near_copy, positives, k=29)[0]


def test_miners_refuse_bad_input():
    embeddings = np.eye(3)
    with pytest.raises(ValueError, match=r"one document index per query \(3\)"):
        contrastive.mine_model_negatives(embeddings, embeddings, [0, 1])
    with pytest.raises(IndexError, match="document indices in 0 … 2"):
        contrastive.mine_model_negatives(embeddings, embeddings, [0, 1, 3])
    with pytest.raises(ValueError, match="k must be at least 1"):
        contrastive.mine_model_negatives(embeddings, embeddings, [0, 1, 2], k=0)
    with pytest.raises(ValueError, match=r"margin must be in \[0, 1\)"):
        contrastive.mine_model_negatives(embeddings, embeddings, [0, 1, 2], margin=1.5)
    with pytest.raises(ValueError, match="dimension mismatch"):
        contrastive.mine_model_negatives(embeddings, np.eye(4)[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="no documents"):
        contrastive.mine_bm25_negatives(["a query"], [], [0])


# ---------------------------------------------------------------------------------------------
# The inverse cloze task


def toy_articles():
    sentences = [f"Sentence number {i} of the first article talks about first things." for i in range(12)]
    other = [f"Line {i} is about the second topic with several more words." for i in range(9)]
    return [Article("First", " ".join(sentences)), Article("Second", "Heading\n" + " ".join(other))]


def test_passages_are_whole_sentences_of_one_article():
    passages = inverse_cloze.split_passages(toy_articles(), passage_words=30)
    assert [p.passage_id for p in passages] == list(range(len(passages)))
    for passage in passages:
        assert len(passage.sentences) >= 2 and len(passage.text.split()) >= 30
        assert all(s in next(a.text for a in toy_articles() if a.title == passage.title) for s in passage.sentences)
    assert not any("Heading" in p.text for p in passages)  # too short to be a sentence
    assert len(inverse_cloze.split_passages(toy_articles(), 30, max_passages_per_article=1)) == 2


def test_inverse_cloze_pairs_take_the_query_out_of_its_passage():
    articles = toy_articles()
    passages = inverse_cloze.split_passages(articles, passage_words=30)
    removed = inverse_cloze.inverse_cloze_pairs(articles, passage_words=30, remove_probability=1.0, seed=3)
    kept = inverse_cloze.inverse_cloze_pairs(articles, passage_words=30, remove_probability=0.0, seed=3)
    for with_out, with_in, passage in zip(removed, kept, passages):
        assert with_out.query == with_in.query and with_out.query in passage.sentences
        assert with_out.query not in with_out.passage and with_out.sentence_removed
        assert with_in.passage == passage.text and not with_in.sentence_removed
        assert with_out.title == passage.title and with_out.passage_id == passage.passage_id
    assert inverse_cloze.inverse_cloze_pairs(articles, 30, seed=3) == inverse_cloze.inverse_cloze_pairs(articles, 30, seed=3)
    with pytest.raises(ValueError, match="remove_probability must be between 0 and 1"):
        inverse_cloze.inverse_cloze_pairs(articles, remove_probability=1.5)


def test_held_out_articles_share_nothing_with_training():
    articles = data.wikipedia_sample()
    train, heldout = inverse_cloze.split_articles(articles, heldout_fraction=0.2, seed=0)
    assert len(heldout) == 21 and len(train) + len(heldout) == len(articles)
    assert not {a.title for a in train} & {a.title for a in heldout}
    train_pairs = inverse_cloze.inverse_cloze_pairs(train, max_passages_per_article=3)
    test = inverse_cloze.ict_retrieval_set(heldout, max_passages_per_article=3)
    assert not {p.passage for p in train_pairs} & set(test.documents)
    assert test.relevant == [{i} for i in range(len(test.queries))]
    assert all(query not in document for query, document in zip(test.queries, test.documents))
    assert inverse_cloze.split_articles(articles, 0.2, seed=0) == (train, heldout)
    assert inverse_cloze.split_articles(articles, 0.2, seed=1) != (train, heldout)
    with pytest.raises(ValueError, match="heldout_fraction must be between 0 and 1"):
        inverse_cloze.split_articles(articles, heldout_fraction=1.0)


# ---------------------------------------------------------------------------------------------
# The small encoder


@pytest.fixture(scope="module")
def small_task(glove_small):
    """60 ICT pairs from six articles, and an encoder over their words."""
    articles = data.wikipedia_sample()[:6]
    pairs = inverse_cloze.inverse_cloze_pairs(articles, max_passages_per_article=10, seed=0)
    encoder = sentence_encoder.build_encoder(glove_small, [p.query for p in pairs] + [p.passage for p in pairs])
    return pairs, encoder


def test_the_untrained_encoder_is_the_mean_of_the_word_vectors(glove_small, small_task):
    pairs, encoder = small_task
    texts = [p.passage for p in pairs[:20]] + ["zzzq qqxj"]  # the last has no known word
    np.testing.assert_allclose(sentence_encoder.encode(encoder, texts), sentence_encoder.mean_word_vectors(glove_small, texts),
                               atol=1e-6)
    assert not sentence_encoder.encode(encoder, texts)[-1].any()


def test_training_lowers_the_loss_and_is_reproducible(small_task):
    pairs, encoder = small_task
    before = [p.detach().clone() for p in encoder.parameters()]
    first = sentence_encoder.train_encoder(encoder, pairs, epochs=4, batch_size=16, progress_bar=False, learning_rate=1e-3)
    second = sentence_encoder.train_encoder(encoder, pairs, epochs=4, batch_size=16, progress_bar=False, learning_rate=1e-3)
    assert len(first.losses) == 4 * (len(pairs) // 16)
    assert np.mean(first.losses[-3:]) < np.mean(first.losses[:3])
    assert first.losses == second.losses
    for a, b in zip(first.encoder.parameters(), second.encoder.parameters()):
        assert torch.equal(a, b)
    for original, now in zip(before, encoder.parameters()):  # the encoder passed in is not trained
        assert torch.equal(original, now)
    other_seed = sentence_encoder.train_encoder(encoder, pairs, epochs=4, batch_size=16, progress_bar=False, seed=1)
    assert other_seed.losses != first.losses


def test_training_with_hard_negatives(small_task):
    pairs, encoder = small_task
    negatives = contrastive.mine_bm25_negatives([p.query for p in pairs], [p.passage for p in pairs],
                                                np.arange(len(pairs)), k=3)
    trained = sentence_encoder.train_encoder(encoder, pairs, hard_negatives=negatives, epochs=2, batch_size=16,
                                        progress_bar=False)
    assert len(trained.losses) == 2 * (len(pairs) // 16) and np.isfinite(trained.losses).all()
    with pytest.raises(ValueError, match="give one per pair"):
        sentence_encoder.train_encoder(encoder, pairs, hard_negatives=negatives[:5], progress_bar=False)
    with pytest.raises(ValueError, match="too few for hard negatives"):
        sentence_encoder.train_encoder(encoder, pairs[:10], hard_negatives=negatives[:10], batch_size=16,
                                  progress_bar=False)
    with pytest.raises(ValueError, match="either hard_negatives or loss"):
        sentence_encoder.train_encoder(encoder, pairs, hard_negatives=negatives, loss=lambda q, k: (q * k).sum(),
                                       progress_bar=False)


def test_token_ids_are_padded_with_zeros_after_each_text():
    """By hand: three texts of 2, 0 and 1 known words; a batch of texts with no known word keeps
    one column, which the encoder reads as an empty text (its zero vector)."""
    batch = training.pad_token_ids([np.array([3, 1]), np.array([], dtype=np.int64), np.array([2])])
    assert batch.dtype == torch.int64 and batch.tolist() == [[3, 1], [0, 0], [2, 0]]
    assert training.pad_token_ids([np.array([], dtype=np.int64)] * 2).tolist() == [[0], [0]]


def test_hard_negatives_are_never_a_positive_of_the_batch():
    rng = np.random.default_rng(0)
    batch = np.array([0, 1, 2, 3])
    mined = [np.array([1, 5]), np.array([5, 6]), np.array([0, 3]), np.array([], dtype=int)]
    chosen = sentence_encoder._hard_negative_choice(batch, mined, n_documents=8, rng=rng)
    assert chosen[:2].tolist() == [5, 6]  # query 0 skips 1 (a positive of the batch)
    assert not set(chosen.tolist()) & set(batch.tolist()) and len(set(chosen.tolist())) == 4


# ---------------------------------------------------------------------------------------------
# Retrieval metrics


def test_metrics_hand_worked_example():
    """Query 0 ranks 3, 1, 2, 0 with {0, 1} relevant; query 1 ranks 0, 1, 2, 3 with {3} relevant.

    recall@2: query 0 finds 1 of its 2 (1/2), query 1 none: mean 1/4. precision@2: 1/2 and 0: 1/4.
    MRR: query 0's first hit is at position 2 (1/2), query 1's at 4 (1/4): mean 3/8.
    nDCG@4 of query 0: DCG = 1/log2(3) + 1/log2(5) = 0.6309298 + 0.4306766, IDCG = 1 + 0.6309298,
    so 1.0616064 / 1.6309298 = 0.6509209; of query 1: (1/log2(5)) / 1 = 0.4306766; mean 0.5407988.
    """
    rankings = [[3, 1, 2, 0], [0, 1, 2, 3]]
    relevant = [{0, 1}, {3}]
    assert metrics.recall_at_k(rankings, relevant, 2) == 0.25
    assert metrics.recall_at_k(rankings, relevant, 4) == 1.0
    assert metrics.precision_at_k(rankings, relevant, 2) == 0.25
    assert metrics.mrr(rankings, relevant) == 0.375
    assert metrics.ndcg_at_k(rankings, relevant, 4) == pytest.approx(0.5407988, abs=1e-7)
    report = metrics.retrieval_report(rankings, relevant, ks=(1, 2, 4))
    assert report == {"recall@1": 0.0, "recall@2": 0.25, "recall@4": 1.0, "MRR": 0.375,
                      "nDCG@4": pytest.approx(0.5407988, abs=1e-7)}


def full_rankings_and_scores(n_queries, n_documents, rng):
    """Random full rankings, and scores (n_documents − position) that order them the same way."""
    rankings = np.array([rng.permutation(n_documents) for _ in range(n_queries)])
    scores = np.zeros((n_queries, n_documents))
    np.put_along_axis(scores, rankings, np.arange(n_documents, 0, -1, dtype=float)[None, :], axis=1)
    return rankings, scores


@pytest.mark.parametrize("k", [1, 3, 10, 20])
def test_ndcg_equals_scikit_learn(k):
    rng = np.random.default_rng(k)
    rankings, scores = full_rankings_and_scores(30, 20, rng)
    binary = [set(rng.choice(20, size=rng.integers(1, 5), replace=False).tolist()) for _ in range(30)]
    y_true = np.zeros((30, 20))
    for row, relevant in enumerate(binary):
        y_true[row, list(relevant)] = 1
    assert metrics.ndcg_at_k(rankings, binary, k) == pytest.approx(ndcg_score(y_true, scores, k=k), rel=1e-12)

    graded = [{int(d): float(g) for d, g in zip(rng.choice(20, 4, replace=False), rng.integers(1, 4, 4))}
              for _ in range(30)]
    y_graded = np.zeros((30, 20))
    for row, gains in enumerate(graded):
        y_graded[row, list(gains)] = list(gains.values())
    assert metrics.ndcg_at_k(rankings, graded, k) == pytest.approx(ndcg_score(y_graded, scores, k=k), rel=1e-12)


def test_rank_orders_documents_by_cosine_similarity():
    rng = np.random.default_rng(0)
    queries, documents = rng.normal(size=(5, 8)), rng.normal(size=(40, 8))
    expected = np.argsort(-cosine_similarity(queries, documents), axis=1)
    full = contrastive.rank(queries, documents)
    np.testing.assert_array_equal(full, expected)
    np.testing.assert_array_equal(contrastive.rank(queries, documents, k=7), expected[:, :7])
    assert full.dtype.kind == "i"
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of documents \(40\)"):
        contrastive.rank(queries, documents, k=41)


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match="2 rankings but 1 sets"):
        metrics.mrr([[0], [1]], [{0}])
    with pytest.raises(ValueError, match="at least one relevant document"):
        metrics.recall_at_k([[0, 1]], [set()], 1)
    with pytest.raises(ValueError, match="no queries"):
        metrics.precision_at_k([], [], 1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        metrics.ndcg_at_k([[0, 1]], [{0}], 0)


# ---------------------------------------------------------------------------------------------
# Lee document similarity


def test_lee_data_is_gensims_test_data():
    from gensim.test.utils import datapath

    documents = data.lee_documents()
    assert len(documents) == 50 and documents[0].startswith("The national executive of the strife-torn Democrats")
    human = data.lee_similarities()
    assert human.shape == (50, 50)
    np.testing.assert_array_equal(human, human.T)
    np.testing.assert_array_equal(np.diag(human), 1.0)
    upper = np.triu_indices(50, k=1)
    np.testing.assert_array_equal(human[upper], np.loadtxt(datapath("similarities0-1.txt"))[upper])
    assert human[upper].min() >= 0.2


def test_lee_correlation_equals_scipy_on_the_upper_triangle():
    from gensim.test.utils import datapath

    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(50, 10))
    result = contrastive.lee_correlation(embeddings)
    human = np.loadtxt(datapath("similarities0-1.txt"))
    upper = np.triu_indices(50, k=1)
    cosines = cosine_similarity(embeddings)[upper]
    assert result.n_pairs == 1225
    assert result.pearson == pytest.approx(stats.pearsonr(cosines, human[upper])[0], abs=1e-6)
    assert result.spearman == pytest.approx(stats.spearmanr(cosines, human[upper])[0], abs=1e-6)
    with pytest.raises(ValueError, match="one embedding per rated document"):
        contrastive.lee_correlation(embeddings[:10])


def test_minilm_embeddings_are_computed_once_then_read_from_the_cache(monkeypatch, tmp_path):
    """A stand-in model (no weights are loaded): the second call must not encode anything."""
    calls = []

    class FakeModel:
        def encode(self, texts, **options):
            calls.append(list(texts))
            return np.arange(len(texts) * 3, dtype=np.float32).reshape(len(texts), 3)

    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(encoders, "load_minilm", lambda device=None: FakeModel())
    first = encoders.encode(["one text", "another"], cache=True)
    second = encoders.encode(["one text", "another"], cache=True)
    np.testing.assert_array_equal(first, second)
    assert calls == [["one text", "another"]]
    encoders.encode(["a third"], cache=True)
    assert len(calls) == 2


def test_contextual_word_vectors_tell_the_senses_of_bank_apart():
    """MiniLM's vector for "bank" depends on the sentence: the two river sentences agree with
    each other more than with the money sentences. A word vector would be identical in all four."""
    sentences = ["We sat on the bank of the river.", "The river bank was muddy after the flood.",
                 "She opened an account at the bank.", "The bank raised its interest rates."]
    vectors = encoders.contextual_word_vectors(encoders.load_minilm(), sentences, "bank")
    assert vectors.shape == (4, 384)
    cos = contrastive.similarity_matrix(vectors, vectors).numpy()
    assert cos[0, 1] > max(cos[0, 2], cos[0, 3], cos[1, 2], cos[1, 3])
    assert cos[2, 3] > max(cos[0, 2], cos[1, 3])
    with pytest.raises(ValueError, match="'bank' does not occur as a word in 'embankment'"):
        encoders.contextual_word_vectors(encoders.load_minilm(), ["embankment"], "bank")


def test_book_experiment_trains_and_tests_on_disjoint_articles():
    """The shared set-up is the three calls the chapters used to type, and no article is on both sides."""
    articles = data.wikipedia_sample()[:30]
    experiment = inverse_cloze.book_experiment(articles, passages_per_article=3, passage_words=40, seed=2)
    train, heldout = inverse_cloze.split_articles(articles, 0.2, seed=2)
    assert experiment.train_articles == train and experiment.heldout_articles == heldout
    assert experiment.pairs == inverse_cloze.inverse_cloze_pairs(train, 40, max_passages_per_article=3, seed=2)
    assert experiment.test == inverse_cloze.ict_retrieval_set(heldout, 40, max_passages_per_article=3, seed=2)
    assert not {p.title for p in experiment.pairs} & {a.title for a in heldout}
    assert len(experiment.test.queries) == len(experiment.test.documents) > 0


# ---------------------------------------------------------------------------------------------
# The push on one negative, the projected path and the noise of an MRR


def test_push_on_negative_is_the_softmax_probability_over_temperature_by_hand_and_by_autograd():
    """Hand-worked: s₊ = 0.8, s = 0.5, another negative at 0.1, τ = 0.1 give logits 8, 5, 1 and
    p = e^5 / (e^8 + e^5 + e^1) = 0.0473847..., so the push is p / τ = 0.473847...; autograd of
    −log softmax agrees at several s, and the ratio of pushes from s = 0 to s = s₊ = 0.8 at
    τ = 0.05 (another negative at 0) is (e^16 + 2) / (2 + e^−16) ≈ ½ e^16, not e^16."""
    assert contrastive.push_on_negative(0.8, 0.5, 0.1, [0.1]) == pytest.approx(
        10 * math.exp(5) / (math.exp(8) + math.exp(5) + math.exp(1)), rel=1e-12)
    s = torch.tensor([-0.3, 0.0, 0.4, 0.8, 0.95], dtype=torch.float64, requires_grad=True)
    for i in range(len(s)):
        logits = torch.stack([torch.tensor(0.8, dtype=torch.float64), s[i], torch.tensor(0.0, dtype=torch.float64)]) / 0.05
        (gradient,) = torch.autograd.grad(-torch.log_softmax(logits, 0)[0], s)
        assert contrastive.push_on_negative(0.8, s[i].item(), 0.05, [0.0]) == pytest.approx(gradient[i].item(), rel=1e-9)
    ratio = contrastive.push_on_negative(0.8, 0.8, 0.05, [0.0]) / contrastive.push_on_negative(0.8, 0.0, 0.05, [0.0])
    assert ratio == pytest.approx((math.exp(16) + 2) / (2 + math.exp(-16)), rel=1e-9)
    assert ratio < math.exp(16) / 1.9  # the negative control: e^(0.8/0.05) overstates it twofold
    assert contrastive.push_on_negative(0.8, [0.0, 0.5], 0.05, [0.0]).shape == (2,)
    with pytest.raises(ValueError):
        contrastive.push_on_negative(0.8, 0.5, 0.0)


def test_push_on_negative_equals_similarity_gradients_and_differs_with_the_temperature_multiplied():
    result = contrastive.similarity_gradients(0.6, [0.55, 0.2, -0.1], 0.05)
    assert contrastive.push_on_negative(0.6, 0.55, 0.05, [0.2, -0.1]) == pytest.approx(result.gradients[1], rel=1e-12)
    wrong = np.exp(np.array([0.6, 0.55, 0.2, -0.1]) * 0.05)  # τ multiplied instead of divided
    assert contrastive.push_on_negative(0.6, 0.55, 0.05, [0.2, -0.1]) != pytest.approx(wrong[1] / wrong.sum() / 0.05, rel=1e-3)


def test_project_steps_is_one_pca_of_all_steps_with_limits_around_every_point():
    rng = np.random.default_rng(0)
    path = contrastive.contrastive_steps(rng.normal(size=8), rng.normal(size=8), rng.normal(size=(3, 8)), steps=4,
                                         temperature=0.1, learning_rate=0.5)
    projected = contrastive.project_steps(path, margin=0.1)
    assert projected.points.shape == (5, 5, 2)
    flat = path.embeddings.reshape(-1, 8)
    centred = flat - flat.mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2]  # by hand: the two leading right singular vectors
    by_hand = (centred @ axes.T).reshape(5, 5, 2)
    assert np.allclose(np.abs(projected.points), np.abs(by_hand), atol=1e-5)  # PCA axes are defined up to sign
    for i in (0, 1):
        assert projected.limits[i] == pytest.approx((by_hand[..., i].min() - 0.1, by_hand[..., i].max() + 0.1), abs=1e-5) \
            or projected.limits[i] == pytest.approx((-by_hand[..., i].max() - 0.1, -by_hand[..., i].min() + 0.1), abs=1e-5)
    per_step = np.stack([np.abs((flat.reshape(5, 5, 8)[t] - flat.reshape(5, 5, 8)[t].mean(0)) @ axes.T) for t in range(5)])
    assert not np.allclose(np.abs(projected.points), per_step, atol=1e-3)  # not one PCA per step


def test_mrr_standard_error_is_the_standard_error_of_the_reciprocal_ranks():
    """Hand-worked: reciprocal ranks 1, 1/2, 1/4, 0 (the last query's document is never ranked):
    mean 0.4375, sample sd 0.4270, SE = sd / 2 = 0.21347...; scipy's sem agrees."""
    rankings = [[7, 1], [1, 7], [3, 4, 5, 7], [3, 4]]
    relevant = [{7}, {7}, {7}, {7}]
    assert metrics.mrr(rankings, relevant) == pytest.approx(0.4375)
    assert contrastive.mrr_standard_error(rankings, relevant) == pytest.approx(stats.sem([1, 0.5, 0.25, 0]), rel=1e-12)
    assert contrastive.mrr_standard_error(rankings, relevant) == pytest.approx(0.213478, abs=1e-6)
    assert contrastive.mrr_standard_error(rankings, relevant) != pytest.approx(np.std([1, 0.5, 0.25, 0]) / 2, rel=1e-3)  # ddof=0
    with pytest.raises(ValueError, match="at least 2 queries"):
        contrastive.mrr_standard_error([[1]], [{1}])


def test_paired_similarities_are_sklearns_row_by_row_cosines_not_the_whole_matrix():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    by_sklearn = np.diag(cosine_similarity(a, b))
    assert np.allclose(contrastive.paired_similarities(a, b), by_sklearn, atol=1e-6)
    assert not np.allclose(contrastive.paired_similarities(a, b), cosine_similarity(a, b).mean(axis=1), atol=1e-3)
    with pytest.raises(ValueError, match="same shape"):
        contrastive.paired_similarities(a, b[:4])
