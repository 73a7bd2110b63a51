"""Chapter 2, "Word2Vec": skip-gram and CBOW with negative sampling (Mikolov et al. 2013a, 2013b).

The pieces, in the order the chapter builds them:

1. text → sentences of tokens (:func:`tokenize`, :func:`sentences_of`);
2. a vocabulary of words seen at least ``min_count`` times (:func:`build_vocabulary`);
3. subsampling of frequent words (:func:`keep_probabilities`);
4. context windows and training examples (:func:`context_pairs`, :func:`cbow_examples`);
5. the negative-sampling distribution P(w) ∝ count(w)^α and a fast sampler
   (:func:`negative_sampling_distribution`, :class:`NegativeSampler`);
6. the losses and their gradients, written out explicitly in NumPy
   (:func:`sgns_loss_and_gradients`, :func:`cbow_loss_and_gradients`): the reference the
   tests check by finite differences;
7. :func:`train`: the same updates compiled with numba, several threads updating the shared
   matrices without locks ("Hogwild", as the original C tool and gensim do).

We write the trainer ourselves, rather than calling gensim, because the book teaches it; gensim
is the oracle the tests and ``bench/word2vec_vs_gensim.py`` compare it with.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

import numba
import numpy as np

from embedlab import progress
from embedlab.vectors import WordVectors

# ----------------------------------------------------------------------------------------
# 1. Text to sentences of tokens

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers of ``text``; punctuation is dropped.

    >>> tokenize("The quick brown fox's 2 jumps!")
    ['the', 'quick', 'brown', "fox's", '2', 'jumps']
    """
    return _TOKEN.findall(text.lower())


def sentences_of(articles) -> list[list[str]]:
    """Split articles (objects with a ``text``) or strings into sentences of tokens.

    Context windows never cross a sentence boundary.
    """
    sentences = []
    for article in articles:
        text = article if isinstance(article, str) else article.text
        for sentence in _SENTENCE_END.split(text):
            tokens = tokenize(sentence)
            if tokens:
                sentences.append(tokens)
    return sentences


# ----------------------------------------------------------------------------------------
# 2. Vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Words seen at least ``min_count`` times, most frequent first, with their counts."""

    words: list[str]
    counts: np.ndarray
    index: dict = field(repr=False)

    def __len__(self):
        return len(self.words)

    @property
    def total(self) -> int:
        """Number of tokens of the corpus that are in the vocabulary."""
        return int(self.counts.sum())

    def encode(self, sentences) -> list[np.ndarray]:
        """Sentences as arrays of word indices; words outside the vocabulary are dropped."""
        encoded = []
        for sentence in sentences:
            ids = np.fromiter((self.index[t] for t in sentence if t in self.index), dtype=np.int32)
            if ids.size:
                encoded.append(ids)
        return encoded


def build_vocabulary(sentences, min_count: int = 5) -> Vocabulary:
    """Count the words of ``sentences`` and keep those seen at least ``min_count`` times.

    Sorted by count, most frequent first (ties in order of first appearance), as gensim does.
    Book: Chapter 2, "Training on real text".
    """
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    counts: dict[str, int] = {}
    for sentence in sentences:
        for token in sentence:
            counts[token] = counts.get(token, 0) + 1
    if not counts:
        raise ValueError("the corpus is empty: there are no words to build a vocabulary from")
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    if not kept:
        most = max(counts.values())
        raise ValueError(
            f"min_count={min_count} leaves no vocabulary: the most frequent of the {len(counts)} "
            f"distinct words occurs {most} times"
        )
    kept.sort(key=lambda wc: -wc[1])  # stable: ties keep first-appearance order
    words = [w for w, _ in kept]
    return Vocabulary(words, np.array([c for _, c in kept], dtype=np.int64), {w: i for i, w in enumerate(words)})


# ----------------------------------------------------------------------------------------
# 3. Subsampling of frequent words


def keep_probabilities(counts, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word when subsampling frequent words.

    With z(w) = count(w) / total, the word2vec C tool (and gensim) keep an occurrence with

        P_keep(w) = (sqrt(z(w) / s) + 1) · s / z(w),   capped at 1,

    a smoothed form of the paper's P_discard(w) = 1 − sqrt(s / z(w)) (Mikolov et al.
    2013b, eq. 5). Words rarer than about 2.6·s are always kept; "the" loses most of its
    occurrences, which speeds training and improves the vectors of rarer words.
    ``sample=0`` turns subsampling off. Book: Chapter 2, "How negatives are sampled".
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    z = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(z / sample) + 1) * sample / z)


# ----------------------------------------------------------------------------------------
# 4. Context windows


def _window_sizes(n: int, window: int, rng) -> np.ndarray:
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if rng is None:
        return np.full(n, window)
    # The C tool draws b uniformly from 0 … window−1 and uses window − b: near words are
    # used more often than far ones, a cheap way to weight context by distance.
    return window - rng.integers(0, window, size=n)


def context_positions(n_tokens: int, centre: int, window: int) -> list[int]:
    """Positions within ``window`` of ``centre`` in a sentence of ``n_tokens`` words.

    >>> context_positions(9, centre=1, window=2)
    [0, 2, 3]
    """
    if not 0 <= centre < n_tokens:
        raise IndexError(f"centre {centre} is outside a sentence of {n_tokens} words")
    return [j for j in range(max(0, centre - window), min(n_tokens, centre + window + 1)) if j != centre]


def context_pairs(tokens, window: int, rng: np.random.Generator | None = None) -> list[tuple]:
    """Skip-gram training pairs (centre, context): every word within ``window`` positions.

    With ``rng``, each centre's window is shrunk to a random size in 1 … window, as in the
    C tool. Book: Chapter 2, "The sliding context window".

    >>> context_pairs(["the", "quick", "brown", "fox"], window=1)
    [('the', 'quick'), ('quick', 'the'), ('quick', 'brown'), ('brown', 'quick'), ('brown', 'fox'), ('fox', 'brown')]
    """
    tokens = list(tokens)
    sizes = _window_sizes(len(tokens), window, rng)
    return [(centre, tokens[j]) for i, centre in enumerate(tokens) for j in context_positions(len(tokens), i, sizes[i])]


def cbow_examples(tokens, window: int, rng: np.random.Generator | None = None) -> list[tuple]:
    """CBOW training examples (context words, centre): predict the centre from its window.

    >>> cbow_examples(["the", "quick", "brown"], window=1)
    [(['quick'], 'the'), (['the', 'brown'], 'quick'), (['quick'], 'brown')]
    """
    tokens = list(tokens)
    sizes = _window_sizes(len(tokens), window, rng)
    return [([tokens[j] for j in context_positions(len(tokens), i, sizes[i])], centre) for i, centre in enumerate(tokens)]


def context_counts(sentences, word: str, window: int = 5) -> Counter:
    """How often each word occurs within ``window`` positions of ``word`` in ``sentences``.

    The distributional hypothesis in numbers (Harris 1954): words with similar meanings
    have similar context counts. Book: Chapter 2, "You shall know a word by the company it keeps".
    """
    counts = Counter()
    for sentence in sentences:
        for i, token in enumerate(sentence):
            if token == word:
                counts.update(sentence[j] for j in context_positions(len(sentence), i, window))
    if not counts:
        raise KeyError(f"'{word}' does not occur in the corpus")
    return counts


def context_vectors(sentences, words, vocabulary: Vocabulary, window: int = 5) -> np.ndarray:
    """Each word's context counts as a vector over ``vocabulary``: a (len(words), V) matrix.

    Row i counts how often each vocabulary word occurs within ``window`` of ``words[i]``:
    a sparse, V-dimensional representation built by counting alone. Word2Vec learns a dense,
    d-dimensional summary of the same information. Book: Chapter 2.
    """
    matrix = np.zeros((len(words), len(vocabulary)))
    for row, word in enumerate(words):
        for context, count in context_counts(sentences, word, window).items():
            if context in vocabulary.index:
                matrix[row, vocabulary.index[context]] = count
    return matrix


def count_context_pairs(n_tokens: int, window: int) -> int:
    """Number of skip-gram pairs a sentence of ``n_tokens`` words yields with a fixed window.

    Each word pairs with up to ``window`` words on each side, fewer near the ends:
    Σ_i min(i, w) + min(n − 1 − i, w) = 2wn − w(w + 1) when n > 2w. For a corpus of a billion
    words at w = 5 that is about 10 billion pairs. Book: Chapter 2, "The sliding context window".
    """
    if n_tokens < 0 or window < 0:
        raise ValueError("n_tokens and window must not be negative")
    w = min(window, max(n_tokens - 1, 0))
    # Count pairs to the right of each position, then double: the relation is symmetric.
    right = w * n_tokens - w * (w + 1) // 2
    return 2 * right


# ----------------------------------------------------------------------------------------
# 5. Negative sampling


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

    ``counts`` must be sorted from most to least frequent (as :class:`Vocabulary` keeps
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


# ----------------------------------------------------------------------------------------
# 6. The losses, explicitly


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


# ----------------------------------------------------------------------------------------
# 7. The fast trainer

# σ from a table, as in the C tool: scores beyond ±MAX_SCORE count as saturated (no update).
# Entry i holds σ at the centre of its bin, so that reading it is unbiased.
MAX_SCORE = 6.0
_SIGMOID_TABLE_SIZE = 1000
_SIGMOID_TABLE = 1.0 / (1.0 + np.exp(-((np.arange(_SIGMOID_TABLE_SIZE) + 0.5) / _SIGMOID_TABLE_SIZE * 2 - 1) * MAX_SCORE))
_LOG_SIGMOID_TABLE = np.log(_SIGMOID_TABLE)


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
    slot = int((score + MAX_SCORE) * (_SIGMOID_TABLE_SIZE / MAX_SCORE / 2))
    g = np.float32((label - sigmoid_table[slot]) * alpha)
    loss = -log_sigmoid_table[slot] if label == 1.0 else -log_sigmoid_table[_SIGMOID_TABLE_SIZE - 1 - slot]
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
def _train_chunks(tokens, sentence_ends, chunk_bounds, w_in, w_out, negative_keep, negative_alias, keep, window,
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


@dataclass
class TrainingHistory:
    """What happened during :func:`train`: loss per step, progress, speed, snapshots."""

    progress: list = field(default_factory=list)  # fraction of training done after each step
    loss: list = field(default_factory=list)  # mean loss per training example in each step
    words_per_second: float = 0.0
    seconds: float = 0.0
    snapshots: list = field(default_factory=list)  # (progress, input rows, output rows) of snapshot_words


class TrainedWordVectors(WordVectors):
    """:class:`WordVectors` (the input vectors, one per vocabulary word) plus what training made:
    ``vocabulary``, ``output_vectors`` and ``history``."""

    def __init__(self, vocabulary, input_vectors, output_vectors, history):
        super().__init__(vocabulary.words, input_vectors)
        self.vocabulary = vocabulary
        self.output_vectors = output_vectors
        self.history = history


def train(corpus, *, sg: bool = True, dim: int = 100, window: int = 5, negative: int = 5, min_count: int = 5,
          epochs: int = 5, alpha: float = 0.025, min_alpha: float = 0.0001, sample: float = 1e-3,
          ns_exponent: float = 0.75, workers: int = 1, seed: int = 1, steps: int = 50,
          snapshot_words=(), progress_bar: bool = True) -> TrainedWordVectors:
    """Train Word2Vec with negative sampling: skip-gram (``sg=True``) or CBOW.

    ``corpus`` is a list of sentences (lists of tokens), e.g. from :func:`sentences_of`.
    The defaults are gensim's, and so are two details where gensim and the C tool differ:
    input vectors start uniform in ±1/dim (outputs at zero), and a saturated score
    (|u·v| ≥ 6) makes no update. The learning rate falls linearly from ``alpha`` to
    ``min_alpha``. Training runs in ``steps`` steps (one progress-bar tick each); after each,
    the mean loss is recorded, and the rows of ``snapshot_words`` are copied into
    ``history.snapshots``.

    ``workers`` threads update the shared matrices without locks, like the C tool and gensim:
    with ``workers=1`` a run is exactly reproducible from ``seed``; with more threads it is
    faster but the order of updates, and so the last digits, vary from run to run.

    Why numba: training is a long sequence of tiny updates (1 + k dot products of d numbers
    per pair, each changing the vectors the next pair reads). NumPy or PyTorch would pay
    their per-call overhead, microseconds, for each of these nanosecond-sized steps, or
    change the algorithm by batching; numba compiles the same loop the C tool runs to
    machine code and releases the GIL, so threads run it in parallel.
    Returns :class:`TrainedWordVectors`: nearest neighbours, ``to_gensim()`` and
    ``save_word2vec_format()`` come from :class:`~embedlab.vectors.WordVectors`.
    Book: Chapter 2, "Training on real text".
    """
    if not corpus:
        raise ValueError("the corpus is empty: give a list of sentences, each a list of tokens")
    if isinstance(corpus[0], str):
        raise TypeError("corpus must be a list of sentences (lists of tokens), not of strings; use sentences_of()")
    vocabulary = build_vocabulary(corpus, min_count)
    for word in snapshot_words:
        if word not in vocabulary.index:
            raise KeyError(f"snapshot word '{word}' is not in the vocabulary (min_count={min_count})")
    sentences = vocabulary.encode(corpus)
    tokens = np.concatenate(sentences)
    sentence_ends = np.cumsum([len(s) for s in sentences]).astype(np.int64)

    rng = np.random.default_rng(seed)
    # Input vectors uniform in ±1/dim (gensim's choice; the C tool uses ±0.5/dim), outputs zero.
    w_in = ((rng.random((len(vocabulary), dim), dtype=np.float32) * 2 - 1) / dim).astype(np.float32)
    w_out = np.zeros((len(vocabulary), dim), dtype=np.float32)
    sampler = NegativeSampler.from_counts(vocabulary.counts, ns_exponent)
    keep = keep_probabilities(vocabulary.counts, sample)

    # Chunks of about 10,000 words: the unit of work of one thread, as gensim's jobs.
    chunk_starts = np.searchsorted(sentence_ends, np.arange(0, len(tokens), 10_000), side="right")
    chunk_bounds = np.unique(np.append(chunk_starts, len(sentences))).astype(np.int64)
    n_chunks = len(chunk_bounds) - 1
    total_chunks = n_chunks * epochs
    alphas = alpha - (alpha - min_alpha) * np.arange(total_chunks + 1) / total_chunks
    seeds = rng.integers(1, 2**47, size=total_chunks, dtype=np.uint64)
    snapshot_rows = [vocabulary.index[w] for w in snapshot_words]

    history = TrainingHistory()
    numba.set_num_threads(max(1, min(workers, numba.config.NUMBA_NUM_THREADS)))
    step_edges = np.unique(np.linspace(0, total_chunks, min(steps, total_chunks) + 1).round().astype(int))
    # Compile the kernels (or load them from numba's cache) before the clock starts: a call
    # with no chunks compiles for these argument types and trains nothing.
    _train_chunks(tokens, sentence_ends, chunk_bounds[:1], w_in, w_out, sampler.keep, sampler.alias, keep, window,
                  negative, sg, alphas[:1], seeds[:0], _SIGMOID_TABLE, _LOG_SIGMOID_TABLE)
    bar = progress.bar(description=f"training {'skip-gram' if sg else 'CBOW'}", unit=" words",
                       total=len(tokens) * epochs, enabled=progress_bar, unit_scale=True)
    started = time.perf_counter()
    words_seen = 0
    if snapshot_rows:
        history.snapshots.append((0.0, w_in[snapshot_rows].copy(), w_out[snapshot_rows].copy()))
    for lo, hi in zip(step_edges, step_edges[1:]):
        loss_sum, examples, step_words = 0.0, 0, 0
        # A step may span an epoch boundary: train each epoch's part of it separately.
        for epoch in range(lo // n_chunks, (hi - 1) // n_chunks + 1):
            a, b = max(lo, epoch * n_chunks) - epoch * n_chunks, min(hi, (epoch + 1) * n_chunks) - epoch * n_chunks
            offset = epoch * n_chunks
            loss, count, words = _train_chunks(
                tokens, sentence_ends, chunk_bounds[a : b + 1], w_in, w_out, sampler.keep, sampler.alias, keep,
                window, negative, sg, alphas[offset + a : offset + b + 1], seeds[offset + a : offset + b],
                _SIGMOID_TABLE, _LOG_SIGMOID_TABLE)
            loss_sum, examples, step_words = loss_sum + loss, examples + count, step_words + words
        words_seen += step_words
        history.progress.append(hi / total_chunks)
        history.loss.append(loss_sum / max(examples, 1))
        if snapshot_rows:
            history.snapshots.append((hi / total_chunks, w_in[snapshot_rows].copy(), w_out[snapshot_rows].copy()))
        bar.update(step_words)
    history.seconds = time.perf_counter() - started
    history.words_per_second = words_seen / history.seconds
    bar.close()
    return TrainedWordVectors(vocabulary, w_in, w_out, history)


def sample_context_pairs(sentences, vocabulary: Vocabulary, n_pairs: int, window: int, rng: np.random.Generator):
    """``n_pairs`` distinct real (word, context) pairs from the text, both words in ``vocabulary``.

    Picks random sentences, then a random centre and one of its context words.
    Book: Chapter 2, "Negative sampling, before and after".
    """
    pairs = set()
    for _ in range(100 * n_pairs):
        sentence = sentences[rng.integers(len(sentences))]
        known = [t for t in sentence if t in vocabulary.index]
        if len(known) < 2:
            continue
        centre = int(rng.integers(len(known)))
        context = context_positions(len(known), centre, window)
        pairs.add((known[centre], known[context[rng.integers(len(context))]]))
        if len(pairs) == n_pairs:
            return sorted(pairs)
    raise ValueError(f"could not find {n_pairs} distinct pairs in the corpus")


def frequent_bigrams(sentences, vocabulary: Vocabulary, n_pairs: int, skip_most_frequent: int = 100):
    """The ``n_pairs`` most frequent pairs of adjacent words, leaving out the most frequent words.

    Strongly associated pairs (*civil war*, *united states*): their pointwise mutual
    information is high, so skip-gram learns to score them close to 1.
    Book: Chapter 2, "Negative sampling, before and after".
    """
    common = set(vocabulary.words[:skip_most_frequent])
    counts = Counter(
        (a, b) for sentence in sentences for a, b in zip(sentence, sentence[1:])
        if a in vocabulary.index and b in vocabulary.index and a not in common and b not in common and a != b
    )
    return [pair for pair, _ in counts.most_common(n_pairs)]


def compare_with_gensim(sentences, ours: TrainedWordVectors, *, sg: bool = True, dim: int = 100, window: int = 5,
                        negative: int = 5, min_count: int = 5, epochs: int = 5, workers: int = 1, seed: int = 1):
    """Train gensim's Word2Vec with the same settings as ``ours`` and compare them side by side.

    Returns a ``pandas.DataFrame``: training seconds, words per second (corpus words ×
    epochs / seconds), accuracy on the Google analogy questions in vocabulary and the
    Spearman correlation with WordSim-353, both scored the same way for both models
    (:mod:`embedlab.analogy`, whose answers equal gensim's evaluators').
    Book: Chapter 2, "The same run in gensim".
    """
    import pandas as pd
    from gensim.models import Word2Vec

    from embedlab import analogy, data

    model = Word2Vec(sg=int(sg), vector_size=dim, window=window, negative=negative, min_count=min_count,
                     workers=workers, seed=seed)
    model.build_vocab(sentences)
    started = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    gensim_seconds = time.perf_counter() - started
    n_words = sum(len(s) for s in sentences)
    rows = {}
    for name, vectors, seconds in [("embedlab", ours, ours.history.seconds),
                                   ("gensim", WordVectors.from_gensim(model.wv), gensim_seconds)]:
        accuracy = analogy.evaluate_analogies(vectors, data.google_analogies_path(), restrict_vocab=None).accuracy
        spearman = analogy.evaluate_word_pairs(vectors, data.wordsim353_path()).spearman
        rows[name] = {"seconds": round(seconds, 1), "words/s": int(n_words * epochs / seconds),
                      "analogy accuracy": round(accuracy, 4), "WordSim-353 Spearman": round(spearman, 3)}
    return pd.DataFrame.from_dict(rows, orient="index")


def snapshot_scores(history: TrainingHistory, snapshot_words, pairs) -> np.ndarray:
    """σ(v_a · u_b) for each (a, b) in ``pairs`` at every snapshot of ``history``.

    v_a is a's input vector, u_b is b's output vector, both from the snapshots that
    :func:`train` took of ``snapshot_words``. Returns an array (snapshots, pairs): for real
    (word, context) pairs the scores rise towards 1 during training, for sampled fake pairs
    they fall towards 0. Book: Chapter 2, "Negative sampling, before and after".
    """
    row = {w: i for i, w in enumerate(snapshot_words)}
    missing = [w for pair in pairs for w in pair if w not in row]
    if missing:
        raise KeyError(f"not among the snapshot words: {sorted(set(missing))}")
    a = [row[x] for x, _ in pairs]
    b = [row[y] for _, y in pairs]
    return np.array([sigmoid(np.einsum("pd,pd->p", inputs[a], outputs[b])) for _, inputs, outputs in history.snapshots])


def cost_per_pair(vocabulary_sizes, dim: int = 100, negative: int = 5, repeats: int = 200, seed: int = 0):
    """Measured seconds for one training update: full softmax vs negative sampling.

    Full softmax scores the centre against all V output vectors and updates all of them:
    O(V·d). Negative sampling touches 1 + k of them: O(k·d), whatever V is. Both are timed
    in NumPy on random matrices, ``repeats`` updates each, for every V in
    ``vocabulary_sizes``. Returns a ``pandas.DataFrame`` (seconds, and multiply-adds).
    Book: Chapter 2, "Why full softmax does not scale".
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for size in vocabulary_sizes:
        w_out = rng.normal(scale=0.1, size=(size, dim)).astype(np.float32)
        hidden = rng.normal(scale=0.1, size=dim).astype(np.float32)
        targets = rng.integers(0, size, size=(repeats, negative + 1))
        started = time.perf_counter()
        for _ in range(repeats):
            scores = w_out @ hidden  # (V,)
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            probabilities[0] -= 1.0  # gradient of cross-entropy with the true word at row 0
            w_out -= 0.01 * np.outer(probabilities, hidden)
        softmax_seconds = (time.perf_counter() - started) / repeats
        started = time.perf_counter()
        for rows_touched in targets:
            scores = w_out[rows_touched] @ hidden  # (1 + k,)
            gradient = sigmoid(scores) - np.r_[1.0, np.zeros(negative)]
            w_out[rows_touched] -= 0.01 * np.outer(gradient, hidden).astype(np.float32)
        sampling_seconds = (time.perf_counter() - started) / repeats
        rows.append((size, softmax_seconds, sampling_seconds, 2 * size * dim, 2 * (negative + 1) * dim))
    return pd.DataFrame(rows, columns=["vocabulary size", "full softmax (s)", "negative sampling (s)",
                                       "full softmax multiply-adds", "negative sampling multiply-adds"])

