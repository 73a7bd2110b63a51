"""What the book's PyTorch training loops share (Chapter 4's encoder, Chapter 5's heads and
encoder, Chapter 6's fine-tuned MiniLMs): inputs checked and converted at the door, padded
batches of token ids, shuffled batches, one thread, one gradient step, and a trained model kept
on disk.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import torch

from embedlab import cache


def as_matrix(x, name: str) -> torch.Tensor:
    """``x`` as a float tensor of row vectors (n, d); numpy arrays and lists are converted."""
    tensor = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))
    if not tensor.is_floating_point():
        tensor = tensor.float()
    if tensor.ndim == 1:
        tensor = tensor[None, :]
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be a vector or a matrix of row vectors (n, d), got shape {tuple(tensor.shape)}")
    return tensor


def check_temperature(temperature: float) -> None:
    """Refuse a temperature τ that is not positive: InfoNCE divides by it (sentence-transformers'
    scale = 1 / τ)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (scale = 1 / temperature), got {temperature}")


@contextmanager
def one_thread():
    """Run PyTorch on one thread inside the block, restoring the previous setting after it.

    The encoder's tensors are small (a batch is 64 × ~150 × 50 numbers): splitting each
    operation over threads costs more in synchronisation than it saves, and on a busy machine
    made a training step 30 times slower. One thread also makes the results the same on every
    machine, whatever its number of cores.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pad_token_ids(token_ids) -> torch.Tensor:
    """Texts as token-id arrays of different lengths, as one (B, L) int64 batch: 0 after each
    text's end, and L ≥ 1, so that a batch of texts with no known word still has a column."""
    longest = max(1, max((len(ids) for ids in token_ids), default=0))
    batch = np.zeros((len(token_ids), longest), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        batch[row, : len(ids)] = ids
    return torch.from_numpy(batch)  # (B, L)


def shuffled_batches(n_pairs: int, batch_size: int, epochs: int, rng: np.random.Generator):
    """The batches of every epoch: a fresh shuffle of 0 … n_pairs−1 each time, cut into batches
    of ``batch_size`` (or of all pairs, if fewer); the remainder is left out, so that every
    loss is over the same number of candidates."""
    batch_size = min(batch_size, n_pairs)
    for _ in range(epochs):
        order = rng.permutation(n_pairs)
        for start in range(0, n_pairs - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def gradient_step(optimizer, loss, losses: list, bar) -> None:
    """One gradient step on ``loss``; its value goes to ``losses`` and the progress ``bar``."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    bar.update(1)
    bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)


def state_arrays(module) -> dict:
    """A PyTorch module's state as ``{"weight:<name>": numpy array}`` (what the cache stores)."""
    return {f"weight:{name}": tensor.detach().cpu().numpy() for name, tensor in module.state_dict().items()}


def load_state_arrays(module, arrays: dict):
    """Load :func:`state_arrays` back into ``module`` (same architecture); returns it in eval mode."""
    state = {name.removeprefix("weight:"): torch.from_numpy(np.array(array)) for name, array in arrays.items()
             if name.startswith("weight:")}
    module.load_state_dict(state)
    return module.eval()


def cached_training(name: str, key, train) -> tuple[dict, np.ndarray, float]:
    """``train()``, which returns ``(trained module, losses)``, run once and kept on disk with
    :func:`embedlab.cache.cached_arrays` under ``key``: the weights (:func:`state_arrays`), the
    losses and the seconds it took, with a SHA-256 checksum (a damaged file is trained again).
    Returns the saved ``(weights, losses, seconds)``; :func:`load_state_arrays` puts the weights
    into a model."""
    def compute():
        started = time.perf_counter()
        module, losses = train()
        return {**state_arrays(module), "losses": np.asarray(losses), "seconds": np.array(time.perf_counter() - started)}

    saved = cache.cached_arrays(name, key, compute)
    weights = {field: array for field, array in saved.items() if field.startswith("weight:")}
    return weights, saved["losses"], float(saved["seconds"])
