"""Chapter 3, "Why it works": skip-gram with negative sampling factorizes a shifted PMI matrix.

Levy & Goldberg (2014, "Neural word embedding as implicit matrix factorization") showed that
when skip-gram with k negative samples (SGNS, Chapter 2) reaches its optimum, the input vector
w of a word and the output vector c of a context word satisfy

    w · c = PMI(w, c) − log k,    PMI(w, c) = log( #(w, c) · |D| / (#(w) · #(c)) ),

with #(w, c) the number of times c occurs in the window of w, #(w) = Σ_c #(w, c),
#(c) = Σ_w #(w, c) and |D| = Σ #(w, c). Word2Vec fits a low-rank matrix W Cᵀ to the word–context
PMI matrix shifted down by log k. Counting and factorizing that matrix directly is the
count-based alternative, and Levy, Goldberg & Dagan (2015, "Improving distributional similarity
with lessons learned from word embeddings") showed that it does about as well once it borrows
word2vec's details (context distribution smoothing, dynamic windows, eigenvalue weighting).

The pipeline, in the order the chapter builds it:

1. word–context counts within a window (:func:`cooccurrence_counts`);
2. the shifted positive PMI matrix, SPPMI = max(PMI − log k, 0) (:func:`pmi_matrix`);
3. a truncated SVD, W = U_d Σ_d^p (:func:`svd_vectors`); all three in :func:`pmi_vectors`, and
   steps 2 and 3 for several shifts and dimensions at once in :func:`svd_grid`;
4. the check of the theory on a trained SGNS model (:func:`sgns_pmi_agreement`, :func:`agreement_line`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from embedlab import word2vec
from embedlab.vectors import WordVectors

# ----------------------------------------------------------------------------------------
# 1. Counting


def cooccurrence_counts(encoded_sentences, vocabulary_size: int, window: int = 5,
                        dynamic_window: bool = True) -> sparse.csr_matrix:
    """Word–context counts #(w, c): how often word c occurs within ``window`` positions of word w.

    ``encoded_sentences`` are arrays of word indices, as :meth:`Vocabulary.encode
    <embedlab.word2vec.Vocabulary.encode>` makes them (words outside the vocabulary are already
    dropped, so windows reach past them, as in word2vec). Windows never cross a sentence
    boundary. Returns a ``vocabulary_size × vocabulary_size`` float64 CSR matrix, row w and
    column c; it is symmetric, since c is in w's window exactly when w is in c's.

    With ``dynamic_window=True`` (the default) a context at distance d counts
    (window − d + 1) / window instead of 1. That is the expected count of word2vec, which
    shrinks each centre's window to a size drawn uniformly from 1 … window (Chapter 2, "The
    sliding context window"): distance d survives with probability (window − d + 1) / window.
    It is the default because it makes the matrix the one SGNS sees (Levy et al. 2015,
    section 3.1, "dynamic context window", carry it over to count-based methods).

    One vectorised pass per distance d = 1 … window over all tokens of the corpus at once,
    never a Python loop over tokens. Book: Chapter 3, "Why it works".

    >>> cooccurrence_counts([np.array([0, 1, 2])], 3, window=1).toarray()
    array([[0., 1., 0.],
           [1., 0., 1.],
           [0., 1., 0.]])
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if vocabulary_size < 1:
        raise ValueError(f"vocabulary_size must be at least 1, got {vocabulary_size}")
    sentences = [np.asarray(s, dtype=np.int64) for s in encoded_sentences]
    sentences = [s for s in sentences if s.size]
    if not sentences:
        raise ValueError("the corpus is empty: give a list of encoded sentences (arrays of word indices)")
    tokens = np.concatenate(sentences)
    if tokens.min() < 0 or tokens.max() >= vocabulary_size:
        raise ValueError(
            f"word indices must lie in 0 … {vocabulary_size - 1} (vocabulary_size={vocabulary_size}), "
            f"found {tokens.min()} … {tokens.max()}"
        )
    sentence_of = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])  # (tokens,)
    rows, columns, weights = [], [], []
    for distance in range(1, window + 1):
        same_sentence = sentence_of[:-distance] == sentence_of[distance:]
        left, right = tokens[:-distance][same_sentence], tokens[distance:][same_sentence]
        # Each pair at this distance counts for (left, right) and for (right, left). Dynamic
        # weights are summed as whole numbers window − d + 1 and divided by window once, at
        # the end, so that the counts carry no rounding error.
        rows += [left, right]
        columns += [right, left]
        weights.append(np.full(2 * left.size, window - distance + 1 if dynamic_window else 1, dtype=np.int64))
    rows, columns, weights = np.concatenate(rows), np.concatenate(columns), np.concatenate(weights)
    shape = (vocabulary_size, vocabulary_size)
    counts = sparse.coo_matrix((weights, (rows, columns)), shape=shape).tocsr()  # tocsr() sums duplicates
    counts = counts.astype(np.float64)
    if dynamic_window:
        counts.data /= window
    return counts


# ----------------------------------------------------------------------------------------
# 2. Pointwise mutual information


def context_distribution(counts, context_smoothing: float = 0.75) -> np.ndarray:
    """P_α(c) = #(c)^α / Σ_c' #(c')^α, the smoothed probability of each context (column).

    α = ``context_smoothing``. With α = 1 it is the plain context distribution #(c) / |D|.
    α = 0.75 is word2vec's negative-sampling exponent (Chapter 2, "How negatives are
    sampled"): rare contexts become more probable, which lowers their PMI, PMI's known bias
    towards rare words (Levy et al. 2015, section 3.2, "context distribution smoothing").
    """
    if not 0 <= context_smoothing <= 1:
        raise ValueError(f"context_smoothing must be between 0 and 1, got {context_smoothing}")
    context_totals = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel()
    weights = context_totals**context_smoothing
    weights[context_totals == 0] = 0.0  # 0^0 would be 1: an unseen context gets no probability
    return weights / weights.sum()


def pmi_matrix(counts, shift: float = 1.0, positive: bool = True, context_smoothing: float = 0.75) -> sparse.csr_matrix:
    """Shifted (positive) PMI of every observed word–context pair; sparse in, sparse out.

    From the counts #(w, c) (rows w, columns c), with #(w) = Σ_c #(w, c), |D| = Σ #(w, c):

        PMI_α(w, c) = log( #(w, c) / (#(w) · P_α(c)) ) − log k,

    where P_α is :func:`context_distribution` and k = ``shift``. With α = 1 this is
    log( #(w, c) · |D| / (#(w) · #(c)) ) − log k. With k equal to the number of negative
    samples it is the matrix SGNS factorizes: at SGNS's optimum w · c = PMI(w, c) − log k
    (Levy & Goldberg 2014, section 3.1; the α = 0.75 of word2vec's negative sampling is the
    smoothing here). ``shift=1`` subtracts nothing.

    With ``positive=True`` (the default) negative values become 0: SPPMI(w, c) =
    max(PMI_α(w, c) − log k, 0), "shifted positive PMI" (Levy & Goldberg 2014, section 5).
    Unobserved pairs have PMI = log 0 = −∞, hence SPPMI = 0: SPPMI keeps only the observed pairs
    whose PMI exceeds log k, so it is sparser than the counts. With ``positive=False`` the
    result holds the shifted PMI of the observed pairs only; the unobserved ones, which are −∞,
    are left out (stored as zeros, the "PMI₀" of Levy & Goldberg 2014, section 5).
    Book: Chapter 3, "Why it works".
    """
    if shift <= 0:
        raise ValueError(f"shift is the k of log k and must be positive, got {shift}")
    counts = sparse.csr_matrix(counts, dtype=np.float64, copy=True)  # eliminate_zeros() must not touch the caller's
    if counts.nnz and counts.data.min() < 0:
        raise ValueError(f"counts must not be negative, found {counts.data.min()}")
    counts.eliminate_zeros()
    if counts.nnz == 0:
        raise ValueError("the count matrix is all zeros: there is no pair to compute a PMI for")
    word_totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    with np.errstate(divide="ignore"):  # log 0 for unseen contexts, never read for an observed pair
        log_context_probability = np.log(context_distribution(counts, context_smoothing))
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))  # row of each stored entry
    values = (np.log(counts.data) - np.log(word_totals[rows]) - log_context_probability[counts.indices]
              - np.log(shift))
    result = sparse.csr_matrix((values, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape)
    if positive:
        result.data = np.maximum(result.data, 0.0)
        result.eliminate_zeros()
    return result


# ----------------------------------------------------------------------------------------
# 3. Factorizing


def svd_vectors(matrix, words, dim: int = 100, eigenvalue_weight: float = 1.0, seed: int = 0) -> WordVectors:
    """Word vectors from the rank-``dim`` truncated SVD of a word–context matrix: W = U_d Σ_d^p.

    M ≈ U_d Σ_d V_dᵀ keeps the ``dim`` largest singular values Σ_d. Word vectors W = U_d Σ_d^p
    with p = ``eigenvalue_weight``: p = 1 gives W Wᵀ = U_d Σ_d² U_dᵀ, the Gram matrix of the rank-d
    reconstruction's rows; p = 0.5 splits Σ evenly between words and contexts (W = U √Σ,
    C = V √Σ, W Cᵀ ≈ M, as SGNS's two matrices do); p = 0 keeps only the directions U_d. Levy et
    al. (2015, section 3.3, "eigenvalue weighting") recommend p = 0.5 or 0 over 1 on corpora of
    billions of words; on a small corpus, whose smaller singular values carry mostly noise,
    p = 1 keeps that noise small. The default is p = 1.

    The SVD is scipy's ``svds`` (ARPACK, a Lanczos method): it computes the top ``dim``
    singular triplets of the sparse matrix to machine precision, reading M only through
    products M x and Mᵀ y, and its starting vector comes from ``seed``, so a call is
    reproducible. (sklearn's ``randomized_svd`` is also deterministic given a seed, but its
    vectors are approximations whose error depends on the number of power iterations.)
    A singular vector is defined up to its sign: each column of U is flipped so that its
    largest entry in absolute value is positive, which makes the result independent of the
    solver's starting point.

    A word whose row of M is all zeros gets the zero vector, which has no direction (its cosine
    with anything is undefined), so it is left out of the result. In SPPMI that is a word whose
    every PMI is at most log k: with k = 5 on the Wikipedia sample, "and" is one.
    Book: Chapter 3, "Why it works".
    """
    return svd_sweep(matrix, words, [dim], eigenvalue_weight, seed)[dim]


def svd_sweep(matrix, words, dims, eigenvalue_weight: float = 1.0, seed: int = 0) -> dict[int, WordVectors]:
    """:func:`svd_vectors` for several ``dims`` at the cost of one SVD: ``{dim: WordVectors}``.

    The singular values come sorted, largest first, so the rank-d truncation is the first d
    columns of the rank-max(dims) one: U_d Σ_d^p is a prefix of U_D Σ_D^p. (Chapter 5 trains
    embeddings to have that prefix property on purpose.) Book: Chapter 3, "Why it works".
    """
    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    words = list(words)
    dims = sorted(set(dims))
    if len(words) != matrix.shape[0]:
        raise ValueError(f"{len(words)} words but the matrix has {matrix.shape[0]} rows: they must match one to one")
    if not dims or not 1 <= dims[0] or not dims[-1] < min(matrix.shape):
        raise ValueError(
            f"dims {dims} must each be at least 1 and smaller than the vocabulary size: the matrix is "
            f"{matrix.shape[0]} × {matrix.shape[1]}"
        )
    # One BLAS thread: ARPACK's time goes to sparse products, which are single-threaded anyway,
    # and to small dense steps that a second thread barely speeds up. On a busy two-core machine
    # the BLAS threads' waiting made the SVD of the Wikipedia sample 7 times slower (20 s, not 3).
    with threadpool_limits(1):
        u, sigma, _ = svds(matrix, k=dims[-1], rng=np.random.default_rng(seed))
    order = np.argsort(-sigma, kind="stable")  # svds returns the singular values in increasing order
    u, sigma = u[:, order], sigma[order]
    largest = np.abs(u).argmax(axis=0)
    u *= np.sign(u[largest, np.arange(dims[-1])])
    nonzero_rows = np.flatnonzero(np.asarray(abs(matrix).sum(axis=1)).ravel() > 0)
    vectors = u[nonzero_rows] * sigma**eigenvalue_weight
    kept = [words[i] for i in nonzero_rows]
    return {dim: WordVectors(kept, vectors[:, :dim]) for dim in dims}


def svd_grid(counts, words, shifts, dims, *, context_smoothing: float = 0.75, eigenvalue_weight: float = 1.0,
             seed: int = 0) -> dict[tuple[float, int], WordVectors]:
    """SVD word vectors of SPPMI_k for every shift k in ``shifts`` and dimension d in ``dims``.

    ``{(k, d): WordVectors}``, each the rank-d :func:`svd_vectors` of
    :func:`pmi_matrix` (counts, shift=k) = max(PMI_α − log k, 0). It costs one PMI matrix and one
    SVD per k, which serves every d (:func:`svd_sweep`): the grid of the shift, which discards
    the associations weaker than log k, against the number of dimensions kept.
    Book: Chapter 3, "Why it works".
    """
    words = list(words)
    return {(k, d): vectors for k in shifts
            for d, vectors in svd_sweep(pmi_matrix(counts, shift=k, context_smoothing=context_smoothing), words,
                                        dims, eigenvalue_weight, seed).items()}


# ----------------------------------------------------------------------------------------
# 4. The whole pipeline, and the check against SGNS


class PMIWordVectors(WordVectors):
    """:class:`WordVectors` from :func:`pmi_vectors`, plus what it built on the way:
    ``vocabulary``, the ``counts`` and ``pmi`` matrices (rows and columns in vocabulary order),
    and ``seconds`` per step. The vectors leave out the words whose PMI row is all zeros
    (:func:`svd_vectors`)."""

    def __init__(self, vocabulary, word_vectors, counts, pmi, seconds):
        super().__init__(word_vectors.words, word_vectors.vectors)
        self.vocabulary = vocabulary
        self.counts = counts
        self.pmi = pmi
        self.seconds = seconds


def pmi_vectors(sentences, *, dim: int = 100, window: int = 5, min_count: int = 5, dynamic_window: bool = True,
                shift: float = 1.0, context_smoothing: float = 0.75, eigenvalue_weight: float = 1.0,
                seed: int = 0) -> PMIWordVectors:
    """Count-based word vectors, the SVD of a (shifted) positive PMI matrix: SGNS done explicitly.

    ``sentences`` are lists of tokens, as :func:`embedlab.word2vec.sentences_of` makes them;
    the vocabulary is :func:`embedlab.word2vec.build_vocabulary`'s, the one :func:`embedlab.word2vec.train`
    builds, so rows match a trained model's word for word. Then :func:`cooccurrence_counts`,
    :func:`pmi_matrix` (positive, shifted by log ``shift``) and :func:`svd_vectors`.

    The defaults are window 5 with word2vec's dynamic weighting, smoothing α = 0.75, no shift
    (k = 1) and p = 1, the ones that answered the most analogy questions on the Wikipedia
    sample (Chapter 3 shows the effect of k and of the number of dimensions).
    ``seconds`` holds the time of each step ("vocabulary", "counts", "pmi", "svd").
    Book: Chapter 3, "Why it works".
    """
    if not sentences:
        raise ValueError("the corpus is empty: give a list of sentences, each a list of tokens")
    if isinstance(sentences[0], str):
        raise TypeError("sentences must be lists of tokens, not strings; use word2vec.sentences_of()")
    seconds = {}
    started = time.perf_counter()
    vocabulary = word2vec.build_vocabulary(sentences, min_count)
    encoded = vocabulary.encode(sentences)
    seconds["vocabulary"] = time.perf_counter() - started
    started = time.perf_counter()
    counts = cooccurrence_counts(encoded, len(vocabulary), window, dynamic_window)
    seconds["counts"] = time.perf_counter() - started
    started = time.perf_counter()
    pmi = pmi_matrix(counts, shift=shift, positive=True, context_smoothing=context_smoothing)
    seconds["pmi"] = time.perf_counter() - started
    started = time.perf_counter()
    vectors = svd_vectors(pmi, vocabulary.words, dim, eigenvalue_weight, seed)
    seconds["svd"] = time.perf_counter() - started
    return PMIWordVectors(vocabulary, vectors, counts, pmi, seconds)


def sgns_pmi_agreement(trained, counts, words, *, shift: float = 5.0, context_smoothing: float = 0.75,
                       n_words: int = 1000, min_pair_count: float = 20.0) -> pd.DataFrame:
    """SGNS's scores w · c next to PMI(w, c) − log k, for observed pairs of frequent words.

    ``trained`` is a :func:`embedlab.word2vec.train` result: w is a word's input vector
    (``trained.vectors``), c a context's output vector (``trained.output_vectors``). ``counts``
    are word–context counts whose rows and columns are ``words`` (e.g. ``counts`` and
    ``vocabulary.words`` of :func:`pmi_vectors`). Both words of a pair must be among the
    ``n_words`` most frequent of ``words`` and in the trained vocabulary, and the pair must
    have been counted at least ``min_pair_count`` times. ``shift`` should be the ``negative``
    and ``context_smoothing`` the ``ns_exponent`` SGNS was trained with.

    Levy & Goldberg (2014, section 3.1) show that SGNS's optimum, for every pair separately, is
    w · c = PMI_α(w, c) − log k (:func:`pmi_matrix`), when the dimension is large enough for
    W Cᵀ to take any values. A real model is only near it: d = 100 dimensions cannot fit a
    matrix of rank in the thousands, training stops early, and a pair seen a few times has
    neither a reliable PMI nor enough updates, hence the default ``min_pair_count=20``.
    Subsampling of frequent words (``sample``) changes the counts SGNS sees, so the
    agreement is closest for a model trained with ``sample=0``. Returns a ``pandas.DataFrame``
    with columns ``word``, ``context``, ``count``, ``sgns`` (w · c) and ``shifted_pmi``.
    Book: Chapter 3, "Why it works".
    """
    words = list(words)
    counts = sparse.csr_matrix(counts, dtype=np.float64)
    if len(words) != counts.shape[0] or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"counts must be a square matrix with one row per word: {counts.shape} for {len(words)} words")
    if n_words < 1:
        raise ValueError(f"n_words must be at least 1, got {n_words}")
    if min_pair_count <= 0:
        raise ValueError(f"min_pair_count must be positive (only observed pairs have a PMI), got {min_pair_count}")
    kept = [i for i, word in enumerate(words[:n_words]) if word in trained]
    trained_rows = np.array([trained.index(words[i]) for i in kept], dtype=np.int64)
    shifted = pmi_matrix(counts, shift=shift, positive=False, context_smoothing=context_smoothing)[kept][:, kept]
    pairs = counts[kept][:, kept].tocoo()  # the observed pairs among the kept words
    frequent_enough = pairs.data >= min_pair_count
    rows, columns = pairs.row[frequent_enough], pairs.col[frequent_enough]
    w = trained.vectors[trained_rows[rows]].astype(np.float64)
    c = trained.output_vectors[trained_rows[columns]].astype(np.float64)
    names = np.array([words[i] for i in kept], dtype=object)
    return pd.DataFrame({
        "word": names[rows],
        "context": names[columns],
        "count": pairs.data[frequent_enough],
        "sgns": np.einsum("pd,pd->p", w, c),
        "shifted_pmi": np.asarray(shifted[rows, columns]).ravel(),
    })


def agreement_line(agreement: pd.DataFrame) -> dict[str, float]:
    """How closely SGNS's scores follow the shifted PMI: a straight-line fit of
    :func:`sgns_pmi_agreement`'s ``sgns`` (y) on ``shifted_pmi`` (x).

    Returns ``{"slope": b, "intercept": a, "r": r}`` of the least-squares line y ≈ a + b·x,

        b = Σ (x − x̄)(y − ȳ) / Σ (x − x̄)²,   a = ȳ − b·x̄,   r = Σ (x − x̄)(y − ȳ) / sqrt(Σ (x − x̄)² · Σ (y − ȳ)²),

    r being Pearson's correlation. At SGNS's optimum every point lies on y = x (Levy & Goldberg
    2014): b = 1, a = 0, r = 1. A slope below 1 means the model's scores spread less than the
    PMI values do. Book: Chapter 3, "Why it works".
    """
    x = agreement["shifted_pmi"].to_numpy(dtype=np.float64)
    y = agreement["sgns"].to_numpy(dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("need two or more pairs with different PMI values to fit a line")
    dx, dy = x - x.mean(), y - y.mean()
    slope = (dx * dy).sum() / (dx**2).sum()
    return {"slope": float(slope), "intercept": float(y.mean() - slope * x.mean()),
            "r": float((dx * dy).sum() / np.sqrt((dx**2).sum() * (dy**2).sum()))}
