"""embedlab.momentum_contrast (MoCo, He et al. 2020) against NumPy written out from the paper's
equations, a hand-worked example, and the bookkeeping of a queue followed step by step."""

import numpy as np
import pytest
import torch
from embedlab import contrastive, momentum_contrast
from embedlab.sentence_encoder import WordVectorEncoder


def numpy_moco_loss(q, k, queue, temperature):
    """He et al.'s eq. 1 with cosine similarities, written out for each query and averaged."""
    unit = lambda m: m / np.linalg.norm(m, axis=-1, keepdims=True)  # noqa: E731
    q, k, queue = unit(q), unit(k), unit(queue)
    losses = []
    for i in range(len(q)):
        logits = np.concatenate([[q[i] @ k[i]], queue @ q[i]]) / temperature
        losses.append(-(logits[0] - np.log(np.sum(np.exp(logits)))))
    return float(np.mean(losses))


def test_moco_loss_is_equation_one_of_the_paper():
    rng = np.random.default_rng(0)
    q, k, queue = rng.normal(size=(4, 6)), rng.normal(size=(4, 6)), rng.normal(size=(10, 6))
    loss = momentum_contrast.moco_loss(torch.tensor(q), torch.tensor(k), torch.tensor(queue), temperature=0.1)
    assert loss.item() == pytest.approx(numpy_moco_loss(q, k, queue, 0.1), rel=1e-6)
    # Negative control: InfoNCE with in-batch negatives is another loss on the same vectors.
    in_batch = contrastive.info_nce(torch.tensor(q), torch.tensor(k), temperature=0.1).item()
    assert abs(in_batch - loss.item()) > 0.01


def test_moco_loss_hand_worked():
    """q equal to its key (cosine 1) and K = 3 orthogonal queued keys (cosine 0), τ = 0.5:
    L = −log(e² / (e² + 3)) = log(1 + 3e⁻²) = 0.3407."""
    q = torch.tensor([[1.0, 0, 0, 0]])
    queue = torch.tensor([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    assert momentum_contrast.moco_loss(q, q.clone(), queue, 0.5).item() == pytest.approx(np.log(1 + 3 * np.exp(-2)), abs=1e-6)
    assert momentum_contrast.moco_loss(q, q.clone(), queue[:0], 0.5).item() == pytest.approx(0.0, abs=1e-7)


def test_keys_take_no_gradient_and_shapes_are_checked():
    q = torch.randn(3, 4, requires_grad=True)
    k = torch.randn(3, 4, requires_grad=True)
    momentum_contrast.moco_loss(q, k, torch.randn(5, 4), 0.1).backward()
    assert q.grad is not None and k.grad is None
    with pytest.raises(ValueError, match="must have the same shape"):
        momentum_contrast.moco_loss(torch.randn(3, 4), torch.randn(2, 4), torch.randn(5, 4))
    with pytest.raises(ValueError, match="temperature must be positive"):
        momentum_contrast.moco_loss(q, k, torch.randn(5, 4), 0.0)


def test_momentum_update_moves_each_key_weight_a_share_one_minus_m_towards_the_query_weight():
    key, query = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in key.parameters()]
    momentum_contrast.momentum_update(key, query, momentum=0.9)
    for after, old, target in zip(key.parameters(), before, query.parameters()):
        torch.testing.assert_close(after, 0.9 * old + 0.1 * target.detach())
    momentum_contrast.momentum_update(key, query, momentum=0.0)  # m = 0: a copy
    for after, target in zip(key.parameters(), query.parameters()):
        torch.testing.assert_close(after, target.detach())


def test_the_queue_is_first_in_first_out():
    queue = momentum_contrast.KeyQueue(size=4, dim=2)
    for step in range(3):
        queue.push(torch.full((2, 2), float(step)), step, [2 * step, 2 * step + 1])
    assert len(queue) == 4
    assert queue.keys[:, 0].tolist() == [1.0, 1.0, 2.0, 2.0]  # the first batch has left
    assert queue.steps.tolist() == [1, 1, 2, 2] and queue.passages.tolist() == [2, 3, 4, 5]
    with pytest.raises(ValueError, match="at least one key"):
        momentum_contrast.KeyQueue(size=0, dim=2)


@pytest.fixture(scope="module")
def toy_run():
    rng = np.random.default_rng(0)
    words = [f"word{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(60)]  # tokens the tokenizer keeps
    encoder = WordVectorEncoder(words, rng.normal(size=(60, 8)), hidden=4, seed=0)
    pairs = [(" ".join(rng.choice(words[:30], 4)), " ".join(rng.choice(words, 6))) for _ in range(40)]
    run = momentum_contrast.train_with_queue(encoder, pairs, queue_size=24, momentum=0.9, epochs=3, batch_size=8,
                                             temperature=0.1, learning_rate=1e-2, seed=0, progress_bar=False)
    return encoder, pairs, run


def test_the_queue_fills_batch_by_batch_and_its_oldest_key_ages_to_its_length(toy_run):
    _, _, run = toy_run
    assert len(run.losses) == 3 * 5
    assert run.negatives_per_query[:5] == [0, 8, 16, 24, 24]
    assert run.oldest_negative_age[:5] == [0, 1, 2, 3, 3]
    assert run.losses[0] == pytest.approx(0.0, abs=1e-7)  # no negative yet
    # 24 keys of 40 pairs: at an epoch's start the queue holds the end of the last epoch, so some
    # queries meet an older key of their own passage; within the first epoch none can.
    assert sum(run.own_positive_queued[:5]) == 0 < sum(run.own_positive_queued[5:])
    assert sorted(set(run.final_key_age.tolist())) == [1, 2, 3]
    assert ((run.final_key_drift > 0.5) & (run.final_key_drift < 1 + 1e-6)).all()


def test_training_with_a_queue_is_deterministic_and_leaves_the_encoder_untouched(toy_run):
    encoder, pairs, run = toy_run
    again = momentum_contrast.train_with_queue(encoder, pairs, queue_size=24, momentum=0.9, epochs=3, batch_size=8,
                                               temperature=0.1, learning_rate=1e-2, seed=0, progress_bar=False)
    assert again.losses == run.losses
    assert torch.equal(encoder.attention, torch.zeros_like(encoder.attention))  # the original is not trained
    assert not torch.equal(run.encoder.attention, encoder.attention)


def test_bad_arguments_are_clear_errors(toy_run):
    encoder, pairs, _ = toy_run
    with pytest.raises(ValueError, match="momentum must be in"):
        momentum_contrast.train_with_queue(encoder, pairs, momentum=1.0, progress_bar=False)
    with pytest.raises(ValueError, match="need at least 2 pairs"):
        momentum_contrast.train_with_queue(encoder, pairs[:1], progress_bar=False)


def test_the_run_summaries_are_shares_of_all_queries_and_the_stalest_keys():
    """Hand-worked: 3 steps of 4 queries, 0 + 2 + 3 of them met their own passage: 5 of 12; the
    keys aged 3 steps have cosines 0.8 and 0.9: mean 0.85 (not the mean of every key, 0.9)."""
    run = momentum_contrast.QueueRun(encoder=None, losses=[1.0, 1.0, 1.0], negatives_per_query=[0, 4, 8],
                                     oldest_negative_age=[0, 1, 2], own_positive_queued=[0, 2, 3],
                                     final_key_drift=np.array([0.8, 0.9, 1.0, 1.0]),
                                     final_key_age=np.array([3, 3, 2, 1]), seconds=0.0, batch_size=4)
    assert run.own_positive_share == pytest.approx(5 / 12)
    assert run.oldest_key_drift == pytest.approx(0.85)


def test_a_trained_run_counts_its_batch_size(toy_run):
    _, _, run = toy_run
    assert run.batch_size == 8
    assert run.own_positive_share == pytest.approx(sum(run.own_positive_queued) / (15 * 8))
