"""Chapter 2, "Negative sampling": instead of a softmax over the whole vocabulary, Word2Vec tells
each real (word, context) pair apart from k words drawn at random (Mikolov et al. 2013b). Here
are the distribution the k words are drawn from, a sampler that draws them in O(1), the loss
and its gradients written out, and what full softmax would cost instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np


def negative_sampling_distribution(counts, alpha: float = 0.75) -> np.ndarray:
    """P(w) = count(w)^α / Σ_v count(v)^α, the distribution negatives are drawn from.

    α = 1 is the unigram distribution (frequent words dominate), α = 0 the uniform one;
    Mikolov et al. (2013b) found α = 0.75 best: it moves probability mass from frequent to
    rare words. Book: Chapter 2, "How negatives are sampled".
    """
    weights = np.asarray(counts, dtype=np.float64) ** alpha
    return weights / weights.sum()


def probability_mass_by_rank(counts, alpha: float, rank_edges=(0, 10, 100, 1000, None)) -> np.ndarray:
    """Share of negative samples that falls on each band of frequency ranks, for exponent α.

    ``counts`` must be sorted from most to least frequent (as :class:`embedlab.word2vec.Vocabulary` keeps
    them); ``None`` as the last edge means "to the end". Book: Chapter 2.
    """
    probabilities = negative_sampling_distribution(counts, alpha)
    edges = [len(probabilities) if e is None else min(e, len(probabilities)) for e in rank_edges]
    return np.array([probabilities[lo:hi].sum() for lo, hi in zip(edges, edges[1:])])


@dataclass(frozen=True)
class NegativeSampler:
    """Draws word indices from :func:`negative_sampling_distribution` in O(1) each.

    Walker's alias method (Vose's construction): the V words are spread over V equal
    buckets, each holding at most two words: its own with probability ``keep[k]``, else
    ``alias[k]``. A draw picks a bucket uniformly, then one of its two words, so it costs
    the same whatever the vocabulary size. (The C tool fills a table of 10^8 slots instead;
    gensim binary-searches the cumulative distribution, O(log V).)
    """

    probabilities: np.ndarray
    keep: np.ndarray
    alias: np.ndarray

    @classmethod
    def from_counts(cls, counts, alpha: float = 0.75) -> NegativeSampler:
        probabilities = negative_sampling_distribution(counts, alpha)
        keep, alias = _alias_tables(probabilities)
        return cls(probabilities, keep, alias)

    def draw(self, size, rng: np.random.Generator) -> np.ndarray:
        buckets = rng.integers(0, len(self.keep), size=size)
        return np.where(rng.random(size) < self.keep[buckets], buckets, self.alias[buckets]).astype(np.int32)


@numba.njit(cache=True)
def _alias_tables(probabilities):
    n = len(probabilities)
    scaled = probabilities * n  # bucket k overflows (> 1) or has room (< 1)
    keep = np.ones(n)
    alias = np.arange(n).astype(np.int32)
    small = [k for k in range(n) if scaled[k] < 1.0]
    large = [k for k in range(n) if scaled[k] >= 1.0]
    while small and large:
        s, l = small.pop(), large.pop()
        keep[s], alias[s] = scaled[s], l  # fill bucket s's room with word l
        scaled[l] -= 1.0 - scaled[s]
        (small if scaled[l] < 1.0 else large).append(l)
    return keep, alias


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)), computed without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def sgns_loss(center, context, negatives) -> float:
    """Skip-gram negative-sampling loss for one (centre, context) pair and k negatives:

        L = −log σ(u_o · v_c) − Σ_k log σ(−u_k · v_c)

    with v_c the centre word's input vector, u_o the context word's output vector and u_k
    the output vectors of the sampled negatives. Training maximises the objective
    log σ(u_o·v_c) + Σ log σ(−u_k·v_c) = −L (Mikolov et al. 2013b, eq. 4).
    Book: Chapter 2, "The loss".
    """
    return sgns_loss_and_gradients(center, context, negatives)[0]


def sgns_loss_and_gradients(center, context, negatives):
    """:func:`sgns_loss` and its gradients with respect to v_c, u_o and each u_k.

    With s_o = σ(u_o·v_c) and s_k = σ(u_k·v_c):

        ∂L/∂v_c = (s_o − 1) u_o + Σ_k s_k u_k
        ∂L/∂u_o = (s_o − 1) v_c
        ∂L/∂u_k = s_k v_c

    Returns ``(loss, grad_center, grad_context, grad_negatives)``.
    """
    v_c = np.asarray(center, dtype=np.float64)
    u_o = np.asarray(context, dtype=np.float64)
    u_k = np.atleast_2d(np.asarray(negatives, dtype=np.float64))  # (k, d)
    if not (v_c.shape == u_o.shape == u_k.shape[1:]):
        raise ValueError(f"dimension mismatch: centre {v_c.shape}, context {u_o.shape}, negatives {u_k.shape}")
    positive_score = u_o @ v_c
    negative_scores = u_k @ v_c  # (k,)
    loss = np.logaddexp(0.0, -positive_score) + np.logaddexp(0.0, negative_scores).sum()
    s_o, s_k = sigmoid(positive_score), sigmoid(negative_scores)
    grad_center = (s_o - 1) * u_o + s_k @ u_k
    grad_context = (s_o - 1) * v_c
    grad_negatives = s_k[:, None] * v_c[None, :]
    return float(loss), grad_center, grad_context, grad_negatives


def sgns_step(w_in, w_out, input_word: int, output_word: int, negatives, alpha: float) -> float:
    """One explicit SGD step of skip-gram with negative sampling, in place; returns the loss.

    The reference the compiled trainer is tested against: v = w_in[input_word] scores the
    real output word and the ``negatives``, and every vector moves against its gradient,
    v ← v − α ∂L/∂v (gradients from :func:`sgns_loss_and_gradients`, all taken before any
    vector changes). Book: Chapter 2, "The loss".
    """
    negatives = np.asarray(negatives, dtype=int)
    loss, grad_input, grad_output, grad_negatives = sgns_loss_and_gradients(
        w_in[input_word], w_out[output_word], w_out[negatives].reshape(len(negatives), w_out.shape[1]))
    w_in[input_word] -= alpha * grad_input
    w_out[output_word] -= alpha * grad_output
    np.subtract.at(w_out, negatives, alpha * grad_negatives)
    return loss


def cbow_loss_and_gradients(contexts, center, negatives):
    """CBOW negative-sampling loss: predict the centre from the mean of its context vectors.

    With h = (1/C) Σ_j v_j the mean input vector of the C context words, u_o the centre's
    output vector and u_k the negatives' output vectors:

        L = −log σ(u_o · h) − Σ_k log σ(−u_k · h),   ∂L/∂v_j = (1/C) ∂L/∂h.

    Returns ``(loss, grad_contexts (C, d), grad_center, grad_negatives)``. (The C tool and
    gensim apply ∂L/∂h to every context vector without the 1/C.) Book: Chapter 2.
    """
    v = np.atleast_2d(np.asarray(contexts, dtype=np.float64))  # (C, d)
    loss, grad_h, grad_center, grad_negatives = sgns_loss_and_gradients(v.mean(axis=0), center, negatives)
    grad_contexts = np.repeat(grad_h[None, :] / len(v), len(v), axis=0)
    return loss, grad_contexts, grad_center, grad_negatives


def cost_per_pair(vocabulary_sizes, dim: int = 100, negative: int = 5, repeats: int = 200, seed: int = 0):
    """Measured seconds for one training update: full softmax vs negative sampling.

    Full softmax scores the centre against all V output vectors and updates all of them:
    O(V·d). Negative sampling touches 1 + k of them: O(k·d), whatever V is. Both are timed
    in NumPy on random matrices, ``repeats`` updates each, for every V in
    ``vocabulary_sizes``; the seconds are the median update's. Returns a ``pandas.DataFrame``
    (seconds, and multiply-adds).
    Book: Chapter 2, "Why full softmax does not scale".
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for size in vocabulary_sizes:
        w_out = rng.normal(scale=0.1, size=(size, dim)).astype(np.float32)
        hidden = rng.normal(scale=0.1, size=dim).astype(np.float32)
        targets = rng.integers(0, size, size=(repeats, negative + 1))
        softmax_times, sampling_times = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            scores = w_out @ hidden  # (V,)
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            probabilities[0] -= 1.0  # gradient of cross-entropy with the true word at row 0
            w_out -= 0.01 * np.outer(probabilities, hidden)
            softmax_times.append(time.perf_counter() - started)
        for rows_touched in targets:
            started = time.perf_counter()
            scores = w_out[rows_touched] @ hidden  # (1 + k,)
            gradient = sigmoid(scores) - np.r_[1.0, np.zeros(negative)]
            w_out[rows_touched] -= 0.01 * np.outer(gradient, hidden).astype(np.float32)
            sampling_times.append(time.perf_counter() - started)
        # The median, not the mean: one update slowed by another process must not move the result.
        softmax_seconds, sampling_seconds = float(np.median(softmax_times)), float(np.median(sampling_times))
        rows.append((size, softmax_seconds, sampling_seconds, 2 * size * dim, 2 * (negative + 1) * dim))
    return pd.DataFrame(rows, columns=["vocabulary size", "full softmax (s)", "negative sampling (s)",
                                       "full softmax multiply-adds", "negative sampling multiply-adds"])


def cost_exponents(costs) -> dict[str, float]:
    """How fast each update's cost grows with V: the exponent a of seconds ∝ V^a.

    ``costs`` is :func:`cost_per_pair`'s table. For each method, a is the least-squares slope of
    y = log(seconds) on x = log(V), the slope of its line on a log–log plot:

        a = Σ_i (x_i − x̄)(y_i − ȳ) / Σ_i (x_i − x̄)².

    The work predicts a = 1 for the full softmax (O(V·d)) and a = 0 for negative sampling
    (O(k·d)). Measured, the softmax's a is below 1: at small V a fixed cost per update (NumPy's
    overhead for each call) dominates the V·d multiply-adds. Returns ``{"full softmax": a,
    "negative sampling": a}``. Book: Chapter 2, "Why full softmax does not scale".
    """
    x = np.log(np.asarray(costs["vocabulary size"], dtype=np.float64))
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("need costs measured at two or more different vocabulary sizes to fit a slope")
    exponents = {}
    for method in ("full softmax", "negative sampling"):
        y = np.log(np.asarray(costs[f"{method} (s)"], dtype=np.float64))
        exponents[method] = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    return exponents
