"""Chapter 2, "Word2Vec": skip-gram and CBOW with negative sampling (Mikolov et al. 2013a, 2013b).

The pieces, in the order the chapter builds them:

1. text → sentences of tokens (:func:`sentences_of`, tokens by :func:`embedlab.text.tokenize`);
2. a vocabulary of words seen at least ``min_count`` times (:func:`build_vocabulary`);
3. subsampling of frequent words (:func:`keep_probabilities`);
4. context windows and training examples (:func:`context_pairs`, :func:`cbow_examples`);
5. :func:`train`: the updates of :mod:`embedlab.negative_sampling` compiled with numba
   (:mod:`embedlab.word2vec_kernel`), several threads updating the shared matrices without
   locks ("Hogwild", as the original C tool and gensim do).

The negative-sampling distribution, its sampler and the losses written out in NumPy (the
reference the tests check by finite differences) are in :mod:`embedlab.negative_sampling`.
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
from embedlab.negative_sampling import NegativeSampler, sigmoid
from embedlab.text import tokenize
from embedlab.vectors import WordVectors
from embedlab.word2vec_kernel import LOG_SIGMOID_TABLE, SIGMOID_TABLE, train_chunks

# ----------------------------------------------------------------------------------------
# 1. Text to sentences of tokens

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


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


def expected_context_pairs(n_tokens: int, window: int) -> float:
    """Expected number of skip-gram pairs of a sentence when each window is shrunk at random.

    word2vec (the C tool, gensim and :func:`context_pairs` with an ``rng``) gives each centre a
    window b drawn uniformly from 1 … w. By linearity of expectation the expected count is the
    mean of the fixed-window counts, (1/w) Σ_{b=1}^{w} :func:`count_context_pairs` (n, b); when
    n > 2w that is 2n·(w + 1)/2 − (w + 1)(w + 2)/3, about (w + 1)n: for a billion words at
    w = 5, 6·10⁹ − 14 instead of 10¹⁰ − 30. Book: Chapter 2, "The sliding context window".

    >>> expected_context_pairs(10, 2)   # (18 + 34) / 2
    26.0
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    return sum(count_context_pairs(n_tokens, b) for b in range(1, window + 1)) / window


# ----------------------------------------------------------------------------------------
# 5. Training


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


def check_training_settings(corpus, *, dim, window, negative, min_count, epochs, alpha, min_alpha, sample,
                            ns_exponent, workers, steps) -> None:
    """Raise one clear error for a corpus or a setting :func:`train` cannot use, before any
    work: a corpus that is not a non-empty list of sentences of string tokens (a string where a
    sentence should be would be trained on its characters), a size or count below its minimum,
    a learning rate or exponent that is not a finite number (NaN would train without a word and
    return NaN vectors)."""
    if isinstance(corpus, str) or not hasattr(corpus, "__len__") or len(corpus) == 0:
        raise ValueError("the corpus is empty or not a list: give a list of sentences, each a list of tokens")
    for position, sentence in enumerate(corpus):
        if isinstance(sentence, str) or not isinstance(sentence, (list, tuple)):
            raise TypeError(f"corpus item {position} is a {type(sentence).__name__}, not a sentence (a list of tokens); "
                            "split text into sentences of words with sentences_of()")
        if sentence and not all(isinstance(token, str) for token in sentence):
            kind = next(type(token).__name__ for token in sentence if not isinstance(token, str))
            raise TypeError(f"corpus item {position} holds a {kind} token: every token must be a string")
    minimums = {"dim": (dim, 1), "window": (window, 1), "negative": (negative, 1), "min_count": (min_count, 1),
                "epochs": (epochs, 1), "workers": (workers, 1), "steps": (steps, 1)}
    for name, (value, least) in minimums.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")
    numbers = {"alpha": alpha, "min_alpha": min_alpha, "sample": sample, "ns_exponent": ns_exponent}
    for name, value in numbers.items():
        if not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if alpha < 0 or min_alpha < 0:
        raise ValueError(f"learning rates must be >= 0 (0 learns nothing), got alpha={alpha}, min_alpha={min_alpha}")
    if sample < 0:
        raise ValueError(f"sample must be >= 0 (0 turns subsampling off), got {sample}")


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
    check_training_settings(corpus, dim=dim, window=window, negative=negative, min_count=min_count, epochs=epochs,
                            alpha=alpha, min_alpha=min_alpha, sample=sample, ns_exponent=ns_exponent,
                            workers=workers, steps=steps)
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
    train_chunks(tokens, sentence_ends, chunk_bounds[:1], w_in, w_out, sampler.keep, sampler.alias, keep, window,
                  negative, sg, alphas[:1], seeds[:0], SIGMOID_TABLE, LOG_SIGMOID_TABLE)
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
            loss, count, words = train_chunks(
                tokens, sentence_ends, chunk_bounds[a : b + 1], w_in, w_out, sampler.keep, sampler.alias, keep,
                window, negative, sg, alphas[offset + a : offset + b + 1], seeds[offset + a : offset + b],
                SIGMOID_TABLE, LOG_SIGMOID_TABLE)
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

    Returns a ``pandas.DataFrame``: training seconds, words per second (the corpus's words
    that are in the vocabulary × epochs / seconds, as ``TrainingHistory.words_per_second``
    counts them), accuracy on the Google analogy questions in vocabulary and the
    Spearman correlation with WordSim-353, both scored the same way for both models
    (:mod:`embedlab.analogy`, whose answers equal gensim's evaluators').
    Book: Chapter 2, "The same run in gensim".
    """
    import pandas as pd
    from gensim.models import Word2Vec

    from embedlab import analogy, data, word_similarity

    model = Word2Vec(sg=int(sg), vector_size=dim, window=window, negative=negative, min_count=min_count,
                     workers=workers, seed=seed)
    model.build_vocab(sentences)
    started = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    gensim_seconds = time.perf_counter() - started
    n_words = ours.vocabulary.total
    rows = {}
    for name, vectors, seconds in [("embedlab", ours, ours.history.seconds),
                                   ("gensim", WordVectors.from_gensim(model.wv), gensim_seconds)]:
        accuracy = analogy.evaluate_analogies(vectors, data.google_analogies_path(), restrict_vocab=None).accuracy
        spearman = word_similarity.evaluate_word_pairs(vectors, data.wordsim353_path()).spearman
        rows[name] = {"seconds": round(seconds, 1), "words/s": int(n_words * epochs / seconds),
                      "analogy accuracy": round(accuracy, 4), "WordSim-353 Spearman": round(spearman, 3)}
    return pd.DataFrame.from_dict(rows, orient="index")


def snapshot_scores(history: TrainingHistory, snapshot_words, pairs) -> np.ndarray:
    """σ(v_a · u_b) for each (a, b) in ``pairs`` at every snapshot of ``history``.

    v_a is a's input vector, u_b is b's output vector, both from the snapshots that
    :func:`train` took of ``snapshot_words``. Returns an array (snapshots, pairs). Every score
    is 0.5 before training (the output vectors start at zero); training raises the scores of
    strongly associated pairs and lowers those of sampled fake pairs, towards σ(PMI − log k)
    (Levy & Goldberg 2014), not to 1 and 0. Book: Chapter 2, "Negative sampling, before and after".
    """
    row = {w: i for i, w in enumerate(snapshot_words)}
    missing = [w for pair in pairs for w in pair if w not in row]
    if missing:
        raise KeyError(f"not among the snapshot words: {sorted(set(missing))}")
    a = [row[x] for x, _ in pairs]
    b = [row[y] for _, y in pairs]
    return np.array([sigmoid(np.einsum("pd,pd->p", inputs[a], outputs[b])) for _, inputs, outputs in history.snapshots])


