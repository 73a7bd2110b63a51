"""embedlab.matryoshka against sentence-transformers' MatryoshkaLoss, scikit-learn's PCA, brute-force
search, explicit bit counting and the storage figures the chapter quotes."""

import doctest
import types

import numpy as np
import pandas as pd
import pytest
import torch
from embedlab import (
    contrastive,
    matryoshka,
    metrics,
    quantisation,
    search,
    sentence_encoder,
    storage,
    training,
    two_stage,
)
from sentence_transformers.base.losses.merged_forward import column_merging_disabled
from sentence_transformers.sentence_transformer.losses import (
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
)
from sklearn.decomposition import PCA


def random_batch(batch_size=6, dim=16, hard=0, seed=0):
    """Queries, keys and (if ``hard``) hard negatives (B, hard, d), float64, requiring gradients."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(batch_size, dim), (batch_size, dim)] + ([(batch_size, hard, dim)] if hard else [])
    return [torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True) for shape in shapes]


class PrecomputedEmbeddings(torch.nn.Module):
    """A stand-in for a SentenceTransformer whose "features" already are the embeddings, so that
    MatryoshkaLoss runs its real code path (it decorates the model's forward) with no model to
    download."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, features):
        return {"sentence_embedding": features["sentence_embedding"]}

    def get_embedding_dimension(self):
        return self.dim


def sentence_transformers_matryoshka(columns, dims, weights, temperature):
    model = PrecomputedEmbeddings(columns[0].shape[1])
    loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model, scale=1 / temperature), dims, weights)
    with column_merging_disabled():  # one forward per column, as the decorator expects
        return loss([{"sentence_embedding": column} for column in columns], labels=None)


def value_and_gradients(loss, tensors):
    return loss.item(), torch.autograd.grad(loss, tensors)


# ---------------------------------------------------------------------------------------------
# Truncation and the loss


def test_truncate_keeps_the_prefix_at_unit_length_for_numpy_and_torch():
    embeddings = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32)
    expected = embeddings[:, :4] / np.linalg.norm(embeddings[:, :4], axis=1, keepdims=True)
    result = matryoshka.truncate(embeddings, 4)
    assert result.dtype == np.float32 and result.shape == (5, 4)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    tensor = torch.from_numpy(embeddings).requires_grad_(True)
    truncated = matryoshka.truncate(tensor, 4)
    torch.testing.assert_close(truncated, torch.from_numpy(expected))
    truncated.sum().backward()  # differentiable
    assert tensor.grad[:, 4:].abs().sum() == 0 and tensor.grad[:, :4].abs().sum() > 0
    np.testing.assert_allclose(matryoshka.truncate(embeddings, 12), embeddings / np.linalg.norm(embeddings, axis=1,
                                                                                               keepdims=True), rtol=1e-6)


def test_truncate_refuses_impossible_dims_and_zero_prefixes():
    embeddings = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    for dim in [0, 4, 2.5, True]:
        with pytest.raises(ValueError, match="dim must be an integer between 1 and the full dimension 3"):
            matryoshka.truncate(embeddings, dim)
    with pytest.raises(ValueError, match="row 1 is zero in its first 2 coordinates"):
        matryoshka.truncate(embeddings, 2)
    with pytest.raises(ValueError, match="row 1 is zero in its first 2 coordinates"):
        matryoshka.truncate(torch.tensor(embeddings), 2)
    with pytest.raises(ValueError, match="matrix of row vectors"):
        matryoshka.truncate(np.ones(3), 2)


@pytest.mark.parametrize("dims, weights, temperature", [
    ([16, 8, 4, 2], None, 0.05),
    ([4, 16, 8], [1.0, 0.5, 2.0], 0.1),  # unsorted: sentence-transformers sorts, the sum does not care
])
def test_matryoshka_loss_equals_sentence_transformers_in_value_and_gradient(dims, weights, temperature):
    queries, keys = random_batch()
    ours, our_gradients = value_and_gradients(
        matryoshka.matryoshka_loss(queries, keys, dims, weights, temperature), [queries, keys])
    theirs, their_gradients = value_and_gradients(
        sentence_transformers_matryoshka([queries, keys], dims, weights, temperature), [queries, keys])
    assert ours == pytest.approx(theirs, rel=1e-12)
    for mine, reference in zip(our_gradients, their_gradients):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


def test_matryoshka_loss_with_hard_negatives_equals_sentence_transformers():
    queries, keys, negatives = random_batch(hard=2)
    dims, weights = [16, 8, 3], [1.0, 1.0, 0.5]
    ours, our_gradients = value_and_gradients(
        matryoshka.matryoshka_loss(queries, keys, dims, weights, hard_negatives=negatives), [queries, keys, negatives])
    columns = [queries, keys, negatives[:, 0], negatives[:, 1]]
    theirs, their_gradients = value_and_gradients(
        sentence_transformers_matryoshka(columns, dims, weights, 0.05), [queries, keys, negatives])
    assert ours == pytest.approx(theirs, rel=1e-12)
    for mine, reference in zip(our_gradients, their_gradients):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


def test_matryoshka_loss_is_a_weighted_sum_of_info_nce_and_differs_when_it_should():
    """Negative controls: other weights, and InfoNCE of the prefixes without the Matryoshka sum,
    give different numbers; one dimension equal to the full one is plain InfoNCE."""
    queries, keys = random_batch()
    loss = matryoshka.matryoshka_loss(queries, keys, [16, 4], [1.0, 1.0]).item()
    reference = sentence_transformers_matryoshka([queries, keys], [16, 4], [1.0, 1.0], 0.05).item()
    other_weights = sentence_transformers_matryoshka([queries, keys], [16, 4], [1.0, 2.0], 0.05).item()
    assert loss == pytest.approx(reference, rel=1e-12)
    assert abs(other_weights - reference) > 1e-3
    assert abs(contrastive.info_nce(queries, keys).item() - reference) > 1e-3
    expected = contrastive.info_nce(queries, keys).item() + contrastive.info_nce(queries[:, :4], keys[:, :4]).item()
    assert loss == pytest.approx(expected, rel=1e-12)
    assert matryoshka.matryoshka_loss(queries, keys, [16]).item() == pytest.approx(
        contrastive.info_nce(queries, keys).item(), rel=1e-12)


def test_matryoshka_loss_refuses_bad_dims_and_weights():
    queries, keys = random_batch()
    with pytest.raises(ValueError, match="dims is empty"):
        matryoshka.matryoshka_loss(queries, keys, [])
    with pytest.raises(ValueError, match="2 weights for 3 dims"):
        matryoshka.matryoshka_loss(queries, keys, [16, 8, 4], [1.0, 1.0])
    with pytest.raises(ValueError, match="between 1 and the full dimension 16, got 32"):
        matryoshka.matryoshka_loss(queries, keys, [32, 16])
    with pytest.raises(ValueError, match="temperature must be positive"):
        matryoshka.matryoshka_loss(queries, keys, [16], temperature=0)


# ---------------------------------------------------------------------------------------------
# Storage and quantisation


@pytest.mark.parametrize("n_bytes, shown", [
    (0, "0 bytes"), (512, "512 bytes"), (1_000, "1.00 kB"), (10_000 * 64 // 8, "80.0 kB"),  # binary, 10k × 64-d
    (999_500, "1.00 MB"), (6_144_000_000, "6.14 GB"), (4 * 100_000_000 * 1536, "614 GB"), (1.2288e13, "12.3 TB")])
def test_readable_bytes_scales_its_unit(n_bytes, shown):
    # the calculator's old "0.000 GB" for 10,000 binary 64-d vectors is the mistake this rules out
    assert storage.readable_bytes(n_bytes) == shown


def test_storage_of_the_articles_example():
    """1M × 1536 float32 = 6.144e9 bytes (6.1 GB); 256-d prefixes = 1.024e9 (1.0 GB), 83% saved."""
    full = storage.storage_bytes(1_000_000, 1536, "float32")
    short = storage.storage_bytes(1_000_000, 256, "float32")
    assert (full, short) == (6_144_000_000, 1_024_000_000)
    assert round(full / 1e9, 1) == 6.1 and round(short / 1e9, 1) == 1.0
    assert round(100 * (1 - short / full)) == 83
    assert [storage.storage_bytes(10, 384, t) for t in ["float32", "float16", "int8", "binary"]] == [
        15360, 7680, 3840, 480]
    assert storage.storage_bytes(10, 9, "binary") == 20  # 9 bits take 2 bytes per vector
    with pytest.raises(ValueError, match="dtype must be one of"):
        storage.storage_bytes(10, 384, "float64")
    with pytest.raises(ValueError, match="need n_vectors >= 0 and dim >= 1"):
        storage.storage_bytes(10, 0)


def test_int8_codes_are_within_half_a_step_and_score_as_their_dequantized_vectors():
    rng = np.random.default_rng(0)
    scales = np.linspace(0.1, 2.0, 24, dtype=np.float32)  # dimensions of very different spread
    calibration = rng.standard_normal((500, 24)).astype(np.float32) * scales
    quantizer = quantisation.fit_int8(calibration)
    np.testing.assert_allclose(quantizer.scale, np.abs(calibration).max(axis=0) / 127, rtol=1e-6)
    codes = quantizer.quantize(calibration)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 127
    assert np.all(np.abs(quantizer.dequantize(codes) - calibration) <= quantizer.scale / 2 + 1e-6)
    queries = rng.standard_normal((3, 24)).astype(np.float32)
    np.testing.assert_allclose(quantizer.scores(queries, codes), queries @ quantizer.dequantize(codes).T,
                               rtol=1e-4, atol=1e-4)
    assert quantizer.quantize(calibration * 10).max() == 127  # out of range is clipped
    with pytest.raises(ValueError, match=r"embeddings must have shape \(n, 24\)"):
        quantizer.quantize(calibration[:, :5])
    with pytest.raises(ValueError, match="calibration must be a non-empty matrix"):
        quantisation.fit_int8(np.zeros((0, 24)))


def test_binary_codes_and_hamming_distance_against_explicit_signs():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((7, 21))
    codes = quantisation.binary_codes(vectors)
    assert codes.shape == (7, 3) and codes.dtype == np.uint8  # 21 bits in 3 bytes
    signs = np.where(vectors > 0, 1, -1)
    distances = quantisation.hamming_distances(codes[:2], codes)
    explicit = (signs[:2, None, :] != signs[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(distances, explicit)
    np.testing.assert_array_equal(21 - 2 * distances, signs[:2] @ signs.T)  # b_q · b = d − 2 H
    with pytest.raises(ValueError, match="packed bits of the same width"):
        quantisation.hamming_distances(codes[:, :2], codes)


# ---------------------------------------------------------------------------------------------
# Search


def unit_vectors(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    spectrum = 1 / np.sqrt(np.arange(1, dim + 1))  # most variance first, as a Matryoshka model has
    vectors = (rng.standard_normal((n, dim)) * spectrum).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_exact_search_equals_a_full_sort():
    index = unit_vectors(300, 16)
    queries = unit_vectors(5, 16, seed=1)
    indices, scores = search.exact_search(queries, index, 7)
    np.testing.assert_array_equal(indices, np.argsort(-(queries @ index.T), axis=1, kind="stable")[:, :7])
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ index.T, indices, axis=1))


def test_two_stage_search_with_the_whole_index_shortlisted_is_exact_search():
    index = unit_vectors(400, 32)
    queries = unit_vectors(6, 32, seed=1)
    exact = search.exact_search(queries, index, 10)
    found = two_stage.two_stage_search(queries, index, shortlist_dim=4, shortlist_size=400, k=10)
    np.testing.assert_array_equal(found[0], exact[0])
    np.testing.assert_allclose(found[1], exact[1], rtol=1e-6)
    precomputed = two_stage.two_stage_search(queries, index, 4, 400, 10, truncated_index=matryoshka.truncate(index, 4))
    np.testing.assert_array_equal(precomputed[0], exact[0])


def test_two_stage_search_finds_the_exact_neighbours_from_a_short_shortlist():
    index = unit_vectors(2000, 64)
    queries = index[:20] + 0.05 * unit_vectors(20, 64, seed=2)  # near a stored vector, as real queries are
    exact, _ = search.exact_search(queries, index, 10)
    found, _ = two_stage.two_stage_search(queries, index, shortlist_dim=16, shortlist_size=200, k=10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall >= 0.9
    np.testing.assert_array_equal(found[:, 0], exact[:, 0])


@pytest.mark.parametrize("n, k", [(1000, 10), (1003, 7), (50, 5)])  # whole groups, a remainder, too short to group
def test_largest_finds_the_same_set_as_argpartition(n, k):
    scores = np.random.default_rng(n).standard_normal((4, n)).astype(np.float32)
    found = np.sort(search.largest(scores, k), axis=1)
    np.testing.assert_array_equal(found, np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1))
    scores[:, -1] = 100.0  # the best entry in the columns that fill no whole group
    assert (search.largest(scores, k) == n - 1).any(axis=1).all()


def test_two_stage_index_equals_the_one_shot_search_for_any_block_size():
    """The block-by-block shortlist (with its bar and merges) finds the same set as one
    selection over all prefix scores; the block size changes the speed only."""
    index = unit_vectors(3000, 48)
    queries = unit_vectors(7, 48, seed=3)
    prefix_scores = matryoshka.truncate(queries, 12) @ matryoshka.truncate(index, 12).T
    expected = np.sort(np.argpartition(-prefix_scores, 149, axis=1)[:, :150], axis=1)
    search_index = two_stage.TwoStageIndex(index, 12)
    assert search_index.prefix.flags.c_contiguous and search_index.prefix.shape == (3000, 12)
    assert sorted(search_index.order) == list(range(3000)) and (search_index.order != np.arange(3000)).any()
    np.testing.assert_array_equal(search_index.prefix, matryoshka.truncate(index, 12)[search_index.order])
    for block_size, sample_size in [(100, 500), (1, 2900), (512, 8192), (1000, 150), (5000, 1000)]:  # blocks:
        # smaller than the shortlist, one row, with a remainder, one block; samples: a sixth, all but 100 rows,
        # the whole index, the shortlist's size
        found = two_stage._shortlist(matryoshka.truncate(queries, 12), search_index.prefix, 150, block_size,
                                      sample_size)
        np.testing.assert_array_equal(np.sort(search_index.order[found], axis=1), expected)
    full_scores = np.take_along_axis(queries @ index.T, expected, axis=1)
    order = np.argsort(-full_scores, axis=1, kind="stable")[:, :10]
    indices, scores = search_index.search(queries, 150, 10, block_size=512)
    np.testing.assert_array_equal(indices, np.take_along_axis(expected, order, axis=1))
    np.testing.assert_allclose(scores, np.take_along_axis(full_scores, order, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(two_stage.two_stage_search(queries, index, 12, 150, 10)[0], indices)


def test_shortlist_is_exact_when_the_sample_sets_the_bar_too_high(monkeypatch):
    """The first rows hold the best prefix scores of every query (an index sorted by score, not
    shuffled), so the sample's bar is above the 150th best score and fewer than 150 clear it;
    the shortlist must then fall back on a selection over all scores, and still be exact."""
    index = unit_vectors(3000, 48)
    queries = unit_vectors(3, 48, seed=4)
    prefix_queries, prefix_index = matryoshka.truncate(queries, 12), matryoshka.truncate(index, 12)
    by_score = np.argsort(-(prefix_queries[0] @ prefix_index.T))  # best first, for query 0
    sorted_index = prefix_index[by_score]
    prefix_scores = prefix_queries @ sorted_index.T
    expected = np.sort(np.argpartition(-prefix_scores, 149, axis=1)[:, :150], axis=1)
    bar_rank = int(np.ceil(150 * 500 / 3000 + 4 * np.sqrt(150 * 500 / 3000))) + 1  # the sample's r-th best
    assert (prefix_scores[0] >= np.sort(prefix_scores[0, :500])[-bar_rank]).sum() < 150  # query 0 falls back
    widths = []
    largest = search.largest
    monkeypatch.setattr(two_stage, "largest", lambda scores, k: widths.append(scores.shape) or largest(scores, k))
    found = two_stage._shortlist(prefix_queries, sorted_index, 150, block_size=256, sample_size=500)
    assert widths[-1] == (1, 3000)  # query 0, and only it, searched again over all its scores
    np.testing.assert_array_equal(np.sort(found, axis=1), expected)


def test_a_shuffled_index_needs_no_second_selection(monkeypatch):
    """On an index in random order the sample's bar leaves every query at least ``size``
    scores (no query is searched again), and keeps about twice ``size``, not the whole row."""
    index = two_stage.TwoStageIndex(unit_vectors(40_000, 48), 16)
    queries = matryoshka.truncate(unit_vectors(50, 48, seed=6), 16)
    widths = []
    largest = search.largest
    monkeypatch.setattr(two_stage, "largest", lambda scores, k: widths.append(scores.shape[1]) or largest(scores, k))
    found = two_stage._shortlist(queries, index.prefix, 200, block_size=4096, sample_size=4096)
    assert widths[0] == 4096 and max(widths[1:]) < 4 * 200  # the bar from the sample, then the kept scores
    np.testing.assert_array_equal(np.sort(found, axis=1),
                                  np.sort(np.argpartition(-(queries @ index.prefix.T), 199, axis=1)[:, :200], axis=1))


def test_the_shortlist_stays_exact_when_most_scores_tie(monkeypatch):
    """A one-coordinate prefix scores every vector ±1: almost every score ties with the bar, so
    the shortlist gives up on the bar and selects over all scores; the set is still a top 100."""
    index = unit_vectors(5000, 8)
    queries = unit_vectors(4, 8, seed=7)
    prefix_queries, prefix_index = matryoshka.truncate(queries, 1), matryoshka.truncate(index, 1)
    widths = []
    largest = search.largest
    monkeypatch.setattr(two_stage, "largest", lambda scores, k: widths.append(scores.shape) or largest(scores, k))
    found = two_stage._shortlist(prefix_queries, prefix_index, 100, block_size=500, sample_size=1000)
    assert widths[-1] == (4, 5000)  # the bar was given up: one selection over every score
    scores = prefix_queries @ prefix_index.T
    best = np.sort(scores, axis=1)[:, -100:]  # the 100 best scores, ties included
    np.testing.assert_array_equal(np.sort(np.take_along_axis(scores, found, axis=1), axis=1), best)


def prefix_energy(vectors):
    """Share of the total variance in the first m coordinates, for every m: (D,)."""
    variance = vectors.var(axis=0)
    return np.cumsum(variance) / variance.sum()


def test_synthetic_index_keeps_the_real_spectrum_and_is_reproducible():
    rng = np.random.default_rng(5)
    mixing = np.linalg.qr(rng.standard_normal((32, 32)))[0] * 0.3 + np.eye(32)  # correlated dimensions
    real = unit_vectors(400, 32) @ mixing.T
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    synthetic = two_stage.synthetic_index(real, 20_000, noise=0.5, seed=0)
    assert synthetic.shape == (20_000, 32) and synthetic.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(synthetic, axis=1), 1, rtol=1e-5)
    real_share = real.var(axis=0) / real.var(axis=0).sum()
    np.testing.assert_allclose(synthetic.var(axis=0) / synthetic.var(axis=0).sum(), real_share, rtol=0.15)
    np.testing.assert_allclose(prefix_energy(synthetic), prefix_energy(real), atol=0.02)
    isotropic = unit_vectors(20_000, 32, seed=9) * np.sqrt(np.arange(1, 33))  # negative control: a flat spectrum
    isotropic /= np.linalg.norm(isotropic, axis=1, keepdims=True)
    assert np.abs(prefix_energy(isotropic) - prefix_energy(real)).max() > 0.1
    # the dimensions keep their correlations, which independent dimensions with the same variances lose
    np.testing.assert_allclose(np.corrcoef(synthetic.T), np.corrcoef(real.T), atol=0.05)
    independent = np.random.default_rng(3).standard_normal((20_000, 32)) * real.std(axis=0)
    assert np.abs(np.corrcoef(independent.T) - np.corrcoef(real.T)).max() > 0.1
    np.testing.assert_array_equal(two_stage.synthetic_index(real, 100, seed=0),
                                  two_stage.synthetic_index(real, 100, seed=np.random.default_rng(0)))
    other_seed = two_stage.synthetic_index(real, 100, seed=1)
    assert not np.array_equal(other_seed, two_stage.synthetic_index(real, 100, seed=0))
    with pytest.raises(ValueError, match=r"real_embeddings must be a matrix \(n_real, d\) with n_real >= 2"):
        two_stage.synthetic_index(real[:1], 10)
    with pytest.raises(ValueError, match="need n >= 1 and noise >= 0"):
        two_stage.synthetic_index(real, 10, noise=-1)
    with pytest.raises(ValueError, match=r"covariance must have shape \(32, 32\)"):
        two_stage.synthetic_index(real, 10, covariance=np.eye(3))


def test_search_refuses_bad_input():
    index = unit_vectors(50, 8)
    with pytest.raises(ValueError, match=r"need 1 <= k <= shortlist_size <= number of indexed vectors \(50\)"):
        two_stage.two_stage_search(index[:2], index, 4, 5, 10)
    with pytest.raises(ValueError, match="dimension mismatch"):
        two_stage.two_stage_search(index[:2, :4], index, 4, 20, 10)
    with pytest.raises(ValueError, match=r"truncated_index must have shape \(50, 4\)"):
        two_stage.two_stage_search(index[:2], index, 4, 20, 10, truncated_index=index[:, :3])
    with pytest.raises(ValueError, match="k must be between 1 and the number of indexed vectors"):
        search.exact_search(index[:2], index, 51)


def test_search_latency_is_measured_and_gives_a_rate_for_linear_extrapolation():
    latency = search.exact_search_latency(2000, 32, batch_size=4, n_queries=8, repeats=2)
    assert (latency.n_vectors, latency.dim, latency.batch_size) == (2000, 32, 4)
    assert latency.ms_per_query > 0
    # 0.5 ms per query over 1,000 × 100 coordinates is 500,000 ns / 100,000 = 5 ns per coordinate
    assert search.Latency(1000, 100, 1, 0.5).ns_per_coordinate == pytest.approx(5.0)
    with pytest.raises(ValueError, match="1 <= batch_size <= n_queries"):
        search.exact_search_latency(2000, 32, batch_size=10, n_queries=4)


# ---------------------------------------------------------------------------------------------
# The projection head


def paired_embeddings(n=96, dim=16, seed=0):
    """Keys that are their queries plus noise, both (n, d)."""
    rng = np.random.default_rng(seed)
    queries = rng.standard_normal((n, dim)).astype(np.float32)
    return queries, queries + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)


def test_the_untrained_head_is_the_identity():
    queries, _ = paired_embeddings()
    np.testing.assert_array_equal(matryoshka.apply_head(matryoshka.ProjectionHead(16), queries), queries)


def test_training_the_head_lowers_the_loss_and_is_reproducible():
    queries, keys = paired_embeddings()
    first = matryoshka.train_head(queries, keys, dims=[16, 8, 4], epochs=15, batch_size=32, progress_bar=False)
    again = matryoshka.train_head(queries, keys, dims=[16, 8, 4], epochs=15, batch_size=32, progress_bar=False)
    assert len(first.losses) == 15 * 3
    assert np.mean(first.losses[-3:]) < np.mean(first.losses[:3])
    assert first.losses == again.losses
    for mine, other in zip(first.head.parameters(), again.head.parameters()):
        assert torch.equal(mine, other)
    plain = matryoshka.train_head(queries, keys, epochs=1, batch_size=32, progress_bar=False)
    first_batch = next(training.shuffled_batches(96, 32, 1, np.random.default_rng(0)))  # the same shuffle
    # dims=None: plain InfoNCE, and the untrained head is the identity, so the first loss is that of the inputs
    assert plain.losses[0] == pytest.approx(
        contrastive.info_nce(queries[first_batch], keys[first_batch]).item(), rel=1e-6)


def test_a_pca_head_is_pca_and_pca_init_training_starts_there():
    queries, keys = paired_embeddings()
    head = matryoshka.ProjectionHead.from_pca(np.vstack([queries, keys]))
    reference, = matryoshka.pca_embeddings(np.vstack([queries, keys]), queries)
    np.testing.assert_allclose(np.abs(matryoshka.apply_head(head, queries)), np.abs(reference), rtol=1e-4, atol=1e-4)
    outputs = matryoshka.apply_head(head, np.vstack([queries, keys]))
    variances = outputs.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-5) and np.abs(outputs.mean(axis=0)).max() < 1e-4  # variance order, centred
    first = matryoshka.train_head(queries, keys, dims=[16, 4], epochs=1, batch_size=32, init="pca", progress_bar=False)
    again = matryoshka.train_head(queries, keys, dims=[16, 4], epochs=1, batch_size=32, init="pca", progress_bar=False)
    assert first.losses == again.losses
    batch = next(training.shuffled_batches(96, 32, 1, np.random.default_rng(0)))
    start = torch.from_numpy(matryoshka.apply_head(head, np.vstack([queries[batch], keys[batch]])))
    assert first.losses[0] == pytest.approx(matryoshka.matryoshka_loss(start[:32], start[32:], [16, 4]).item(), rel=1e-5)
    identity = matryoshka.train_head(queries, keys, dims=[16, 4], epochs=1, batch_size=32, progress_bar=False)
    assert abs(identity.losses[0] - first.losses[0]) > 1e-3  # negative control: another start
    with pytest.raises(ValueError, match="init must be 'identity' or 'pca', got 'random'"):
        matryoshka.train_head(queries, keys, init="random", progress_bar=False)
    with pytest.raises(ValueError, match=r"fit_embeddings must be a matrix \(n, d\) with n >= d"):
        matryoshka.ProjectionHead.from_pca(queries[:5])


def test_train_head_refuses_bad_input():
    queries, keys = paired_embeddings()
    with pytest.raises(ValueError, match="must have the same shape"):
        matryoshka.train_head(queries, keys[:10], progress_bar=False)
    with pytest.raises(ValueError, match="need at least 2 pairs and batch_size >= 2"):
        matryoshka.train_head(queries, keys, batch_size=1, progress_bar=False)
    with pytest.raises(ValueError, match="between 1 and the full dimension 16, got 20"):
        matryoshka.train_head(queries, keys, dims=[20], progress_bar=False)


def test_prefix_report_at_full_dimension_is_the_retrieval_report():
    queries, documents = paired_embeddings(n=60)
    relevant = [{i} for i in range(60)]
    report = matryoshka.prefix_report(queries, documents, relevant, [4, 16])
    full = metrics.retrieval_report(contrastive.rank(queries, documents), relevant)
    assert report.loc[16, "MRR"] == pytest.approx(full["MRR"])
    assert report.loc[16, "recall@10"] == pytest.approx(full["recall@10"])
    assert report.loc[4, "MRR"] < report.loc[16, "MRR"]


def test_pca_prefixes_are_pca_to_that_dimension():
    queries, documents = paired_embeddings(n=80)
    transformed, = matryoshka.pca_embeddings(documents, queries)
    for dim in [3, 8]:
        reference = PCA(n_components=dim, random_state=0).fit(documents).transform(queries)
        np.testing.assert_allclose(np.abs(transformed[:, :dim]), np.abs(reference), rtol=1e-3, atol=1e-4)


def test_docstring_examples():
    assert doctest.testmod(matryoshka).failed == 0


def test_quantisation_report_ranks_as_numpy_by_hand():
    rng = np.random.default_rng(3)
    documents = rng.standard_normal((30, 16)).astype(np.float32)
    queries = documents[:6] + 0.8 * rng.standard_normal((6, 16)).astype(np.float32)
    relevant = [{i} for i in range(6)]
    report = quantisation.quantisation_report(queries, documents, relevant, dims=[4, 16])

    def mrr(scores):  # first relevant position by hand: 1 + the documents scored strictly higher, or tied and earlier
        return np.mean([1 / (1 + np.sum(row > row[i]) + np.sum(row[:i] == row[i])) for i, row in enumerate(scores)])

    for m in (4, 16):
        q = queries[:, :m] / np.linalg.norm(queries[:, :m], axis=1, keepdims=True)
        d = documents[:, :m] / np.linalg.norm(documents[:, :m], axis=1, keepdims=True)
        scale = np.abs(d).max(axis=0) / 127
        by_type = {"float32": q @ d.T, "int8": q @ (scale * np.round(d / scale)).T,
                   "binary": -((q[:, None, :] > 0) != (d[None, :, :] > 0)).sum(axis=2)}  # minus differing signs
        for value_type, scores in by_type.items():
            assert report.loc[(m, value_type), "held-out MRR"] == pytest.approx(mrr(scores), abs=1e-9), (m, value_type)
        assert list(report.loc[m, "bytes per vector"]) == [4 * m, m, -(-m // 8)]  # bits packed in whole bytes
    with pytest.raises(ValueError, match="unknown value type"):
        quantisation.quantisation_report(queries, documents, relevant, dims=[4], value_types=["float16"])


def test_two_stage_report_measures_recall_against_exact_search():
    rng = np.random.default_rng(0)
    index = matryoshka.truncate(rng.normal(size=(500, 32)) * np.linspace(3, 0.1, 32), 32)
    queries = matryoshka.truncate(index[:20] + 0.05 * rng.normal(size=(20, 32)), 32)
    report = two_stage.two_stage_report(queries, index, dims=[8], shortlists=[10, 500], k=5, batch_size=10, repeats=1)
    assert list(report.index) == [(8, 10), (8, 500)]
    assert report.loc[(8, 500), "recall@5"] == 1.0  # a shortlist of the whole index is exact search
    exact = np.argsort(-(queries @ index.T), axis=1)[:, :5]  # by hand in numpy: exact, then two-stage
    prefix = lambda x: x[:, :8] / np.linalg.norm(x[:, :8], axis=1, keepdims=True)
    shortlist = np.argsort(-(prefix(queries) @ prefix(index).T), axis=1)[:, :10]
    rescored = np.take_along_axis(queries @ index.T, shortlist, axis=1)
    found = np.take_along_axis(shortlist, np.argsort(-rescored, axis=1)[:, :5], axis=1)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, exact)])
    assert recall < 1 and report.loc[(8, 10), "recall@5"] == pytest.approx(recall)
    assert (report["ms per query"] > 0).all()


def test_two_stage_report_alternates_the_methods_and_keeps_each_best_pass(monkeypatch):
    """A fake clock: passes take, in the order they run, exact 6, two-stage 3, exact 4, two-stage 5 (row 1),
    then exact 8, two-stage 2, exact 5, two-stage 1 (row 2) milliseconds for all 20 queries."""
    durations = iter([6, 3, 4, 5, 8, 2, 5, 1])
    clock = {"now": 0.0, "started": False}

    def perf_counter():  # every pass reads the clock twice: at its start and at its end
        if clock["started"]:
            clock["now"] += next(durations) / 1e3
        clock["started"] = not clock["started"]
        return clock["now"]

    monkeypatch.setattr(two_stage, "time", types.SimpleNamespace(perf_counter=perf_counter))
    rng = np.random.default_rng(0)
    index = matryoshka.truncate(rng.normal(size=(500, 32)) * np.linspace(3, 0.1, 32), 32)
    queries = matryoshka.truncate(index[:20] + 0.05 * rng.normal(size=(20, 32)), 32)
    report = two_stage.two_stage_report(queries, index, dims=[8], shortlists=[10, 50], k=5, batch_size=10, repeats=2)
    assert list(report["ms per query"]) == pytest.approx([3 / 20, 1 / 20])  # each row's best two-stage pass
    assert list(report["exact ms per query"]) == pytest.approx([4 / 20, 4 / 20])  # exact's best over all rows
    assert list(report["speed-up"]) == pytest.approx([4 / 3, 4.0])


def test_index_cost_is_exact_storage_and_time_linear_in_n_times_d():
    """Hand-worked: 2 ms per query measured on 20,000 vectors of 384 dimensions is 2e6 / 7.68e6
    ns per coordinate; 10,000 × 384 takes 1 ms (measured range), 1,000,000 × 768 takes
    2 · 50 · 2 = 200 ms (extrapolated). Storage: 4 n d bytes in float32, 2 in float16, 1 in int8,
    d / 8 in binary."""
    latency = search.Latency(20_000, 384, 1, 2.0)
    small = matryoshka.index_cost(10_000, 384, latency)
    assert small.ms_per_query == pytest.approx(1.0) and not small.extrapolated
    assert small.bytes_by_type == {"float32": 4 * 10_000 * 384, "float16": 2 * 10_000 * 384, "int8": 10_000 * 384,
                                   "binary": 10_000 * 384 // 8}
    large = matryoshka.index_cost(1_000_000, 768, latency)
    assert large.ms_per_query == pytest.approx(200.0) and large.extrapolated
    assert large.ms_per_query != pytest.approx(2.0 * 1_000_000 / 20_000)  # the mistake: scaling by n alone, forgetting d
    with pytest.raises(ValueError, match="n_vectors >= 1"):
        matryoshka.index_cost(0, 384, latency)


def test_leads_up_to_stops_at_the_first_prefix_without_a_clear_lead():
    import pandas as pd

    better = pd.Series([0.34, 0.41, 0.46, 0.46, 0.49], index=[8, 16, 32, 48, 64])
    worse = pd.Series([0.13, 0.24, 0.45, 0.34, 0.48], index=[8, 16, 32, 48, 64])
    assert matryoshka.leads_up_to(better, worse, 0.03) == 16  # at 32 the lead is 0.01; the later lead at 48 does not count
    assert matryoshka.leads_up_to(better, worse, 0.5) == 0
    assert matryoshka.leads_up_to(better, better - 0.1, 0.05) == 64
    with pytest.raises(ValueError, match="same prefix lengths"):
        matryoshka.leads_up_to(better, worse.iloc[:3], 0.03)


def test_speedup_by_batch_size_is_one_two_stage_report_row_per_batch_size():
    rng = np.random.default_rng(0)
    index = matryoshka.truncate(rng.normal(size=(500, 32)) * np.linspace(3, 0.1, 32), 32)
    queries = matryoshka.truncate(index[:20] + 0.05 * rng.normal(size=(20, 32)), 32)
    report = two_stage.speedup_by_batch_size(queries, index, 8, 10, batch_sizes=[1, 5, 20], k=5, repeats=1)
    assert list(report.index) == [1, 5, 20]
    alone = two_stage.two_stage_report(queries, index, dims=[8], shortlists=[10], k=5, batch_size=5, repeats=1)
    assert (report["recall@5"] == alone["recall@5"].iloc[0]).all()  # recall does not depend on the batch size
    assert report["speed-up"].to_numpy() == pytest.approx((report["exact ms per query"] / report["ms per query"]).to_numpy())
    with pytest.raises(ValueError, match="positive integers"):
        two_stage.speedup_by_batch_size(queries, index, 8, 10, batch_sizes=[0])


# ---------------------------------------------------------------------------------------------
# The loss against finite differences, and Chapter 4's whole encoder trained with it


def test_matryoshka_loss_gradient_matches_finite_differences():
    queries, keys = random_batch(batch_size=4, dim=6)
    assert torch.autograd.gradcheck(lambda q, k: matryoshka.matryoshka_loss(q, k, [2, 4, 6], [1.0, 0.5, 2.0]),
                                    (queries, keys), eps=1e-6, atol=1e-6)


def test_matryoshka_loss_renormalises_each_prefix():
    """The plausible mistake: normalise the full vectors once and slice, so that a prefix keeps
    only part of its length and its cosines shrink. It gives another loss."""
    queries, keys = random_batch()
    temperature = 0.05

    def slice_of_normalised(m):
        q, k = torch.nn.functional.normalize(queries, dim=1)[:, :m], torch.nn.functional.normalize(keys, dim=1)[:, :m]
        return torch.nn.functional.cross_entropy(q @ k.T / temperature, torch.arange(len(q)))

    wrong = (slice_of_normalised(4) + slice_of_normalised(16)).item()
    by_hand = sum(contrastive.info_nce(matryoshka.truncate(queries, m), matryoshka.truncate(keys, m), temperature)
                  for m in [4, 16]).item()
    loss = matryoshka.matryoshka_loss(queries, keys, [4, 16], temperature=temperature).item()
    assert loss == pytest.approx(by_hand, rel=1e-12)
    assert abs(loss - wrong) > 0.1


def tiny_encoder_and_pairs(n_pairs=24, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(40)]  # letters only, as tokenize splits them
    encoder = sentence_encoder.WordVectorEncoder(words, rng.standard_normal((40, 8)), hidden=6, seed=seed)
    topics = rng.integers(0, 40, size=(n_pairs, 3))
    pairs = [(" ".join(words[t] for t in topic), " ".join(words[t] for t in np.r_[topic, rng.integers(0, 40, 3)]))
             for topic in topics]
    return encoder, pairs


def test_training_without_dims_is_chapter_4s_training_and_dims_change_it():
    encoder, pairs = tiny_encoder_and_pairs()
    settings = dict(epochs=3, batch_size=8, learning_rate=1e-2, seed=1, progress_bar=False)
    chapter_4 = sentence_encoder.train_encoder(encoder, pairs, **settings)
    plain = matryoshka.train_encoder(encoder, pairs, **settings)
    nested = matryoshka.train_encoder(encoder, pairs, [2, 4, 8], **settings)
    assert plain.losses == pytest.approx(chapter_4.losses, rel=1e-6)
    for name, weight in chapter_4.encoder.state_dict().items():
        torch.testing.assert_close(plain.encoder.state_dict()[name], weight)
    assert nested.losses[0] > plain.losses[0]  # a sum of three InfoNCE terms
    assert not torch.allclose(nested.encoder.projection.weight, plain.encoder.projection.weight, atol=1e-4)
    assert torch.equal(encoder.projection.weight[:, :8], torch.eye(8))  # the encoder passed in stays untrained


def test_paired_mrr_difference_by_hand():
    """Reciprocal ranks a = (1, 1/2, 1/3), b = (1/2, 1/2, 1): differences (1/2, 0, −2/3), mean
    −1/18, SE = sd / √3; the unpaired mistake (the two MRRs' own SEs) gives another number."""
    relevant = [{0}, {0}, {0}]
    a = [[0, 1, 2], [1, 0, 2], [1, 2, 0]]
    b = [[1, 0, 2], [1, 0, 2], [0, 1, 2]]
    difference, error = matryoshka.paired_mrr_difference(a, b, relevant)
    differences = np.array([1 / 2, 0, -2 / 3])
    assert difference == pytest.approx(-1 / 18)
    assert error == pytest.approx(differences.std(ddof=1) / np.sqrt(3))
    unpaired = np.hypot(contrastive.mrr_standard_error(a, relevant), contrastive.mrr_standard_error(b, relevant))
    assert abs(error - unpaired) > 0.01
    with pytest.raises(ValueError, match="same queries"):
        matryoshka.paired_mrr_difference(a, b[:2], relevant)


def test_paired_prefix_gaps_by_hand():
    """Model b's query leans to its answer only in the third coordinate: on the first 2 its
    answer ranks second (reciprocal rank 1/2), on all 3 first; model a ranks it first on both.
    So a − b is 1/2 at m = 2 and 0 at m = 3, with no spread over the two identical queries.
    Comparing full vectors at every m (a forgotten truncation) would give 0 at m = 2."""
    documents_a = np.array([[1.0, 0, 0], [0, 1, 0]])
    documents_b = np.array([[0.3, 0, 0.95], [0, 1, 0]])
    encoded = {"a": (np.array([[1.0, 0, 0]] * 2), documents_a), "b": (np.array([[0, 0.5, 0.866]] * 2), documents_b)}
    gaps = matryoshka.paired_prefix_gaps(encoded, [{0}, {0}], [2, 3], {"a − b": ("a", "b"), "b − a": ("b", "a")})
    assert list(gaps.columns) == ["a − b", "a − b (SE)", "b − a", "b − a (SE)"]
    assert gaps["a − b"].tolist() == pytest.approx([0.5, 0.0])
    assert gaps["b − a"].tolist() == pytest.approx([-0.5, 0.0])
    assert gaps["a − b (SE)"].tolist() == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError, match="no embeddings for"):
        matryoshka.paired_prefix_gaps(encoded, [{0}, {0}], [2], {"a − c": ("a", "c")})


def test_trained_encoder_is_cached_under_a_recipe_of_every_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    encoder, pairs = tiny_encoder_and_pairs()
    settings = dict(epochs=2, batch_size=8, learning_rate=1e-2, seed=0, progress_bar=False, cache_on_disk=True)
    first = matryoshka.train_encoder(encoder, pairs, [2, 8], **settings)
    assert len(list(tmp_path.glob("matryoshka-encoder-*.npz"))) == 1
    calls = []
    monkeypatch.setattr(matryoshka, "_train", lambda *a, **k: calls.append(k) or pytest.fail("trained again"))
    again = matryoshka.train_encoder(encoder, pairs, [2, 8], **settings)
    assert again.losses == first.losses and again.seconds == first.seconds
    for name, weight in first.encoder.state_dict().items():
        assert torch.equal(again.encoder.state_dict()[name], weight)
    monkeypatch.undo()
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    for changed in [dict(settings, learning_rate=2e-2), dict(settings, seed=1), dict(settings, epochs=3)]:
        matryoshka.train_encoder(encoder, pairs, [2, 8], **changed)
    matryoshka.train_encoder(encoder, pairs, [4, 8], **settings)
    matryoshka.train_encoder(encoder, pairs, [2, 8], weights=[2.0, 1.0], **settings)
    matryoshka.train_encoder(encoder, pairs[:-1], [2, 8], **settings)
    assert len(list(tmp_path.glob("matryoshka-encoder-*.npz"))) == 7


def test_train_encoder_refuses_bad_input():
    encoder, pairs = tiny_encoder_and_pairs()
    with pytest.raises(ValueError, match="between 1 and the full dimension 8"):
        matryoshka.train_encoder(encoder, pairs, [4, 16], progress_bar=False)
    with pytest.raises(ValueError, match="one weight per prefix length"):
        matryoshka.train_encoder(encoder, pairs, [2, 4], weights=[1.0], progress_bar=False)
    with pytest.raises(ValueError, match="weights need dims"):
        matryoshka.train_encoder(encoder, pairs, weights=[1.0], progress_bar=False)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        matryoshka.train_encoder(encoder, pairs[:1], progress_bar=False)


def test_savings_and_quality_kept_by_hand():
    """Hand-worked: 256 of 1536 dimensions is 1/6 of the bytes (83% saved); time measured 0.5
    against 3 ms is 83% saved too. Quality kept divides by the longest prefix's, not the best."""
    latency = search.Latency(1000, 1536, 1, 3.0)
    short, full = matryoshka.index_cost(1000, 256, latency), matryoshka.index_cost(1000, 1536, latency)
    assert short.saved_against(full) == pytest.approx({"storage": 5 / 6, "search time": 5 / 6})
    assert full.saved_against(full) == {"storage": 0.0, "search time": 0.0}
    kept = matryoshka.quality_kept(pd.Series([0.1, 0.5, 0.4], index=[8, 16, 32]))
    assert kept.tolist() == pytest.approx([0.25, 1.25, 1.0])
    with pytest.raises(ValueError, match="must be positive"):
        matryoshka.quality_kept(pd.Series([0.1, 0.0], index=[8, 16]))
