"""The compiled inner loop of :func:`embedlab.word2vec.train`: skip-gram and CBOW with negative
sampling over chunks of a corpus, the loop of the C tool (Mikolov et al. 2013) compiled by numba.

Training is a long sequence of tiny updates (1 + k dot products of d numbers per pair, each
changing the vectors the next pair reads): NumPy or PyTorch would pay their per-call overhead
for each nanosecond-sized step, or change the algorithm by batching. numba compiles the loop to
machine code and releases the GIL, so threads run it in parallel. Book: Chapter 2, "Training on
real text".
"""

from __future__ import annotations

import numba
import numpy as np

# σ from a table, as in the C tool: scores beyond ±MAX_SCORE count as saturated (no update).
# Entry i holds σ at the centre of its bin, so that reading it is unbiased.
MAX_SCORE = 6.0


SIGMOID_TABLE_SIZE = 1000


SIGMOID_TABLE = 1.0 / (1.0 + np.exp(-((np.arange(SIGMOID_TABLE_SIZE) + 0.5) / SIGMOID_TABLE_SIZE * 2 - 1) * MAX_SCORE))


LOG_SIGMOID_TABLE = np.log(SIGMOID_TABLE)


@numba.njit(inline="always")
def _next_random(state):
    # The C tool's linear congruential generator: fast, and each thread keeps its own state.
    return (state * np.uint64(25214903917) + np.uint64(11)) & np.uint64(0xFFFFFFFFFFFF)


@numba.njit(inline="always")
def _uniform(state):
    return (state >> np.uint64(16)) / 4294967296.0


@numba.njit(inline="always")
def _draw_negative(keep, alias, state):
    """One negative by the alias method; returns (word index, new generator state)."""
    state = _next_random(state)
    # The generator's high 32 bits, scaled to 0 … V−1 (its low bits are not random enough).
    bucket = np.int64(((state >> np.uint64(16)) * np.uint64(len(keep))) >> np.uint64(32))
    state = _next_random(state)
    word = bucket if _uniform(state) < keep[bucket] else np.int64(alias[bucket])
    return word, state


@numba.njit(inline="always")
def _update(hidden, w_out, target, label, alpha, neu1e, dim, sigmoid_table, log_sigmoid_table):
    """One logistic-regression step: push σ(hidden · w_out[target]) towards ``label``.

    Updates the output vector at once and accumulates the input's update in ``neu1e``
    (applied by the caller after all 1 + k targets). Returns the loss term."""
    # float32 throughout the loops over dimensions, so that they compile to SIMD instructions.
    score = np.float32(0.0)
    for d in range(dim):
        score += hidden[d] * w_out[target, d]
    if score >= MAX_SCORE or score <= -MAX_SCORE:
        # Saturated: σ is (nearly) 0 or 1 and the step is skipped, as in gensim. The loss,
        # −log σ(±score) = log(1 + e^(∓score)), is computed exactly in this rare branch.
        margin = float(score) if label == 1.0 else -float(score)
        return np.log1p(np.exp(-abs(margin))) + max(-margin, 0.0)
    slot = int((score + MAX_SCORE) * (SIGMOID_TABLE_SIZE / MAX_SCORE / 2))
    g = np.float32((label - sigmoid_table[slot]) * alpha)
    loss = -log_sigmoid_table[slot] if label == 1.0 else -log_sigmoid_table[SIGMOID_TABLE_SIZE - 1 - slot]
    for d in range(dim):
        neu1e[d] += g * w_out[target, d]
        w_out[target, d] += g * hidden[d]
    return loss


@numba.njit(nogil=True, fastmath=True, cache=True)
def _train_chunk(tokens, sentence_ends, start, stop, w_in, w_out, negative_keep, negative_alias, keep, window,
                 negative, sg,
                 alpha_start, alpha_stop, seed, sigmoid_table, log_sigmoid_table):
    """Train on sentences ``start`` … ``stop − 1``; returns (loss sum, examples, words seen)."""
    dim = w_in.shape[1]
    state = np.uint64(seed)
    neu1e = np.zeros(dim, dtype=np.float32)
    hidden = np.zeros(dim, dtype=np.float32)
    sentence = np.empty(10_000, dtype=np.int32)
    loss_sum, examples, words_seen = 0.0, 0, 0
    first = sentence_ends[start - 1] if start > 0 else 0
    total_words = sentence_ends[stop - 1] - first
    for s in range(start, stop):
        begin = sentence_ends[s - 1] if s > 0 else 0
        end = sentence_ends[s]
        alpha = alpha_start + (alpha_stop - alpha_start) * (begin - first) / max(total_words, 1)
        # Subsample frequent words first; the window then spans the words that remain.
        n = 0
        for i in range(begin, min(end, begin + 10_000)):
            state = _next_random(state)
            if keep[tokens[i]] >= 1.0 or keep[tokens[i]] > _uniform(state):
                sentence[n] = tokens[i]
                n += 1
        words_seen += end - begin
        for i in range(n):
            state = _next_random(state)
            # Window size uniform in 1 … window, from the generator's high bits (an LCG's low
            # bits repeat with short periods).
            reduced = window - int((state >> np.uint64(16)) % np.uint64(window))
            lo, hi = max(0, i - reduced), min(n, i + reduced + 1)
            if sg:
                for j in range(lo, hi):
                    if j == i:
                        continue
                    context = sentence[j]
                    neu1e[:] = 0.0
                    # As in the C tool and gensim, the window word's input vector predicts the
                    # centre (the same pairs, seen from the other side); it is only read here,
                    # its update waits in neu1e until all 1 + k targets are done.
                    loss_sum += _update(w_in[context], w_out, sentence[i], 1.0, alpha, neu1e, dim,
                                        sigmoid_table, log_sigmoid_table)
                    for _ in range(negative):
                        target, state = _draw_negative(negative_keep, negative_alias, state)
                        if target == sentence[i]:
                            continue
                        loss_sum += _update(w_in[context], w_out, target, 0.0, alpha, neu1e, dim,
                                            sigmoid_table, log_sigmoid_table)
                    for d in range(dim):
                        w_in[context, d] += neu1e[d]
                    examples += 1
            else:
                count = hi - lo - 1
                if count == 0:
                    continue
                hidden[:] = 0.0
                for j in range(lo, hi):
                    if j != i:
                        for d in range(dim):
                            hidden[d] += w_in[sentence[j], d]
                inverse = np.float32(1.0 / count)
                for d in range(dim):
                    hidden[d] *= inverse
                neu1e[:] = 0.0
                loss_sum += _update(hidden, w_out, sentence[i], 1.0, alpha, neu1e, dim,
                                    sigmoid_table, log_sigmoid_table)
                for _ in range(negative):
                    target, state = _draw_negative(negative_keep, negative_alias, state)
                    if target == sentence[i]:
                        continue
                    loss_sum += _update(hidden, w_out, target, 0.0, alpha, neu1e, dim,
                                        sigmoid_table, log_sigmoid_table)
                for j in range(lo, hi):
                    if j != i:
                        for d in range(dim):
                            w_in[sentence[j], d] += neu1e[d]
                examples += 1
    return loss_sum, examples, words_seen


@numba.njit(nogil=True, parallel=True, cache=True)
def train_chunks(tokens, sentence_ends, chunk_bounds, w_in, w_out, negative_keep, negative_alias, keep, window,
                  negative, sg,
                  alphas, seeds, sigmoid_table, log_sigmoid_table):
    """Train on several chunks in parallel threads that share w_in and w_out (Hogwild)."""
    n = len(chunk_bounds) - 1
    losses = np.zeros(n)
    examples = np.zeros(n, dtype=np.int64)
    words = np.zeros(n, dtype=np.int64)
    for c in numba.prange(n):
        losses[c], examples[c], words[c] = _train_chunk(
            tokens, sentence_ends, chunk_bounds[c], chunk_bounds[c + 1], w_in, w_out, negative_keep, negative_alias,
            keep, window, negative, sg, alphas[c], alphas[c + 1], seeds[c], sigmoid_table, log_sigmoid_table)
    return losses.sum(), examples.sum(), words.sum()
