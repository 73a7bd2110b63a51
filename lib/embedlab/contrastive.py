"""Chapter 4, "Contrastive learning": the InfoNCE loss, what each negative contributes, and where
negatives come from.

The pieces, in the order the chapter builds them:

1. cosine similarity matrices and the InfoNCE loss (:func:`similarity_matrix`, :func:`paired_similarities`,
   :func:`info_nce`),
   equal in value and gradient to sentence-transformers' ``MultipleNegativesRankingLoss``;
2. the force each candidate feels (:func:`similarity_gradients`, :func:`push_on_negative`,
   :func:`gradient_table`) and a few real optimisation steps on real embeddings
   (:func:`contrastive_steps`, drawn with :func:`project_steps`);
3. negatives: in the batch, mined with BM25, mined with a stronger model
   (:func:`in_batch_negatives`, :func:`mine_bm25_negatives`, :func:`mine_model_negatives`);
4. ranking documents by cosine, for the retrieval metrics of :mod:`embedlab.metrics` (:func:`rank`),
   and the noise of an MRR (:func:`mrr_standard_error`);
5. document similarity against human ratings (Lee et al. 2005; :func:`lee_correlation`).

Training pairs without labels are in :mod:`embedlab.inverse_cloze`, the small encoder the
chapter trains in :mod:`embedlab.sentence_encoder`, and contextual token vectors in
:mod:`embedlab.encoders`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from embedlab import data
from embedlab.bm25 import bm25_scores
from embedlab.metrics import mrr
from embedlab.representation import project_2d
from embedlab.training import as_matrix, check_temperature

# ----------------------------------------------------------------------------------------
# 1. Similarity matrices and the InfoNCE loss


def similarity_matrix(a, b) -> torch.Tensor:
    """All cosine similarities S[i, j] = cos(a_i, b_j) = â_i · b̂_j: an (n, m) tensor.

    ``a`` is (n, d) and ``b`` is (m, d) (a single vector counts as one row), torch tensors or
    numpy arrays. Rows are scaled to length 1 with ``torch.nn.functional.normalize``, as
    sentence-transformers' ``cos_sim`` does, so the result stays differentiable (a zero row gives
    similarities of 0). Book: Chapter 4, "The InfoNCE loss".
    """
    a, b = as_matrix(a, "a"), as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: a has {a.shape[1]} dimensions, b has {b.shape[1]}")
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def paired_similarities(a, b) -> np.ndarray:
    """Row-wise cosine similarities cos(a_i, b_i) of two (n, d) arrays, as float numpy (n,): the
    diagonal of :func:`similarity_matrix`, for n pairs of texts embedded side by side.
    Book: Chapter 4, "From words to sentences".

    >>> paired_similarities([[1.0, 0.0], [3.0, 4.0]], [[0.0, 2.0], [3.0, 4.0]]).round(6).tolist()
    [0.0, 1.0]
    """
    a, b = as_matrix(a, "a"), as_matrix(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a {tuple(a.shape)} and b {tuple(b.shape)} must have the same shape (n, d): one pair per row")
    return (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(dim=-1).detach().numpy()


def _hard_negative_rows(hard_negatives, batch_shape) -> torch.Tensor:
    """Hard negatives (B, d) or (B, h, d) as (h·B, d) rows, column after column (all first
    negatives, then all second ones), the order of sentence-transformers' extra columns."""
    negatives = hard_negatives if isinstance(hard_negatives, torch.Tensor) else torch.as_tensor(
        np.asarray(hard_negatives, dtype=np.float32))
    if negatives.ndim == 2:
        negatives = negatives[:, None, :]
    batch_size, dim = batch_shape
    if negatives.ndim != 3 or negatives.shape[0] != batch_size or negatives.shape[2] != dim:
        raise ValueError(
            f"hard_negatives must have shape (B, d) or (B, h, d) with B = {batch_size} and d = {dim}, "
            f"got {tuple(negatives.shape)}"
        )
    return negatives.transpose(0, 1).reshape(-1, dim)


def info_nce(queries, keys, temperature: float = 0.05, hard_negatives=None, symmetric: bool = False) -> torch.Tensor:
    """The InfoNCE loss with in-batch negatives: each query must pick out its own key.

    ``keys[i]`` is the positive of ``queries[i]`` (both (B, d)); the other B − 1 keys are its
    negatives. With s(q, k) the cosine similarity and τ the temperature,

        L_i = −log( exp(s(q_i, k_i)/τ) / Σ_j exp(s(q_i, c_j)/τ) ),   L = (1/B) Σ_i L_i,

    where the candidates c_j are the B keys followed by every hard negative: ``hard_negatives``
    of shape (B, d) or (B, h, d) add B·h candidates that *every* query sees, as
    sentence-transformers' ``MultipleNegativesRankingLoss`` treats the extra columns of
    (anchor, positive, negative_1, …) tuples. That is a cross-entropy over the similarity matrix
    divided by τ, with the diagonal as the right answers. ``symmetric=True`` averages it with the
    keys → queries loss (each key must pick out its own query among the B queries; hard
    negatives take no part), MNRL's ``directions=("query_to_doc", "doc_to_query")`` with
    ``partition_mode="per_direction"`` (formerly ``MultipleNegativesSymmetricRankingLoss``).

    In sentence-transformers the knob is ``scale = 1 / τ``: scale 20 is τ = 0.05.
    References: Oord et al. 2018 (CPC, which named it InfoNCE); Chen et al. 2020 (SimCLR, the
    temperature-scaled cosine, "NT-Xent"); Henderson et al. 2017 (in-batch negatives for
    reply suggestion, the origin of MNRL). Returns a differentiable scalar tensor.
    Book: Chapter 4, "The InfoNCE loss".
    """
    check_temperature(temperature)
    queries, keys = as_matrix(queries, "queries"), as_matrix(keys, "keys")
    if queries.shape[0] == 0:
        raise ValueError("empty batch: info_nce needs at least one (query, key) pair")
    if queries.shape != keys.shape:
        raise ValueError(
            f"queries {tuple(queries.shape)} and keys {tuple(keys.shape)} must have the same shape (B, d): "
            "keys[i] is the positive of queries[i]"
        )
    batch_size = queries.shape[0]
    candidates = keys  # (B, d)
    if hard_negatives is not None:
        candidates = torch.cat([keys, _hard_negative_rows(hard_negatives, queries.shape)])  # (B + B·h, d)
    scale = 1.0 / temperature  # sentence-transformers multiplies by the scale; so do we, for the same rounding
    logits = similarity_matrix(queries, candidates) * scale  # (B, B + B·h)
    targets = torch.arange(batch_size, device=logits.device)  # query i's positive is column i
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        key_to_query = F.cross_entropy(logits[:, :batch_size].T, targets)  # (B, B): key i against every query
        loss = (loss + key_to_query) / 2
    return loss


# ----------------------------------------------------------------------------------------
# 2. What each negative contributes


@dataclass(frozen=True)
class SimilarityGradients:
    """The InfoNCE loss of one anchor and its derivatives with respect to each similarity.

    Entry 0 of ``probabilities`` and ``gradients`` is the positive, entries 1 … n the negatives.
    """

    loss: float
    probabilities: np.ndarray  # (1 + n,): softmax of the similarities / τ
    gradients: np.ndarray  # (1 + n,): ∂L/∂s_i

    @property
    def positive_probability(self) -> float:
        """p₊, the probability the softmax gives the positive; L = −log p₊."""
        return float(self.probabilities[0])


def similarity_gradients(positive_similarity: float, negative_similarities, temperature: float = 0.05):
    """Loss, softmax probabilities and ∂L/∂s for one anchor with a positive and n negatives.

    With s₊ the positive's similarity, s_i the negatives' and p = softmax(s / τ) over all 1 + n:

        L = −log p₊,   ∂L/∂s₊ = (p₊ − 1) / τ,   ∂L/∂s_i = p_i / τ.

    The push on a negative is proportional to its probability: a negative the anchor already
    finds far less similar than the positive has p_i ≈ 0 and gets almost no gradient, so easy
    negatives teach nothing. The negatives' pushes sum to (1 − p₊)/τ, exactly the pull on the
    positive. Computed in float64 with the log-sum-exp trick. Returns
    :class:`SimilarityGradients`. Book: Chapter 4, "Which negatives matter".
    """
    check_temperature(temperature)
    negatives = np.atleast_1d(np.asarray(negative_similarities, dtype=np.float64))
    if negatives.ndim != 1 or negatives.size == 0:
        raise ValueError(f"negative_similarities must be a non-empty list of numbers, got shape {negatives.shape}")
    logits = np.concatenate([[float(positive_similarity)], negatives]) / temperature  # (1 + n,)
    log_normaliser = np.logaddexp.reduce(logits)
    probabilities = np.exp(logits - log_normaliser)
    gradients = probabilities / temperature
    gradients[0] -= 1 / temperature
    return SimilarityGradients(float(log_normaliser - logits[0]), probabilities, gradients)


def push_on_negative(positive_similarity: float, negative_similarity, temperature: float = 0.05,
                     other_negatives=()) -> np.ndarray:
    """|∂L/∂s| on one negative of similarity s, for every s in ``negative_similarity``.

    The candidates are the positive (s₊), that negative (s) and the ``other_negatives`` (o_j);
    the push is the negative's softmax probability over τ (:func:`similarity_gradients`):

        |∂L/∂s| = p_s / τ,   p_s = e^{s/τ} / (e^{s₊/τ} + e^{s/τ} + Σ_j e^{o_j/τ}).

    While the negative is far below the positive the push grows like e^{s/τ}: by a factor of
    about e^{Δs/τ} when s rises by Δs; once s passes s₊, p_s approaches 1 and the push levels off
    at 1/τ. Computed in float64 with the log-sum-exp trick; returns an array shaped like
    ``negative_similarity``. Book: Chapter 4, "The InfoNCE loss".

    >>> float(push_on_negative(0.0, 0.0, temperature=1.0))   # p = 1/2, τ = 1
    0.5
    """
    check_temperature(temperature)
    s = np.asarray(negative_similarity, dtype=np.float64)
    others = np.asarray(other_negatives, dtype=np.float64).ravel()
    log_rest = np.logaddexp.reduce(np.concatenate([[float(positive_similarity)], others]) / temperature)
    log_p = s / temperature - np.logaddexp(log_rest, s / temperature)
    return np.exp(log_p) / temperature


def gradient_table(anchor, positive, negatives, labels=None, temperature: float = 0.05) -> pd.DataFrame:
    """For real embeddings: each candidate's similarity to the anchor, probability and push.

    ``anchor`` and ``positive`` are vectors (d,), ``negatives`` (n, d); ``labels`` names the
    negatives (their sentences, say). One row per candidate, the positive first: ``similarity``
    cos(anchor, candidate), ``probability`` its softmax share p_i, and ``gradient`` the
    magnitude |∂L/∂s_i| of :func:`similarity_gradients`. Book: Chapter 4, "Which negatives matter".
    """
    negatives = as_matrix(negatives, "negatives")
    labels = [f"negative {i + 1}" for i in range(len(negatives))] if labels is None else list(labels)
    if len(labels) != len(negatives):
        raise ValueError(f"{len(labels)} labels for {len(negatives)} negatives")
    candidates = torch.cat([as_matrix(positive, "positive"), negatives])
    similarities = similarity_matrix(anchor, candidates)[0].double().numpy()  # (1 + n,)
    result = similarity_gradients(similarities[0], similarities[1:], temperature)
    return pd.DataFrame({
        "candidate": ["positive", *labels],
        "similarity": similarities,
        "probability": result.probabilities,
        "gradient": np.abs(result.gradients),
    })


@dataclass(frozen=True)
class ContrastiveSteps:
    """What :func:`contrastive_steps` recorded, before the first step and after each step."""

    similarities: np.ndarray  # (steps + 1, 1 + n): cos(anchor, candidate), the positive first
    embeddings: np.ndarray  # (steps + 1, 2 + n, d): anchor, positive, negatives
    losses: np.ndarray  # (steps + 1,)


def contrastive_steps(anchor, positive, negatives, steps: int = 30, temperature: float = 0.05,
                      learning_rate: float = 0.01) -> ContrastiveSteps:
    """Run ``steps`` steps of gradient descent on the InfoNCE loss of one anchor, moving the
    embeddings themselves, and record where everything went.

    The anchor (d,), the positive (d,) and the negatives (n, d) are the parameters; the loss is
    L = −log softmax(s / τ)₊ over the candidates [positive, negatives]. Plain SGD, so each vector
    moves in proportion to its gradient: the anchor and the positive are pulled together, each
    negative is pushed away in proportion to its probability, and easy negatives barely move.
    (Adam would rescale every coordinate's step to about the learning rate, hiding exactly
    that.) There is no randomness: the same inputs give the same path. The inputs are not
    modified. Book: Chapter 4, "Contrastive training: forces in action".
    """
    check_temperature(temperature)
    if steps < 0:
        raise ValueError(f"steps must be 0 or more, got {steps}")
    negatives = as_matrix(negatives, "negatives")
    vectors = torch.cat([as_matrix(anchor, "anchor"), as_matrix(positive, "positive"), negatives])  # (2 + n, d)
    vectors = vectors.detach().clone().double().requires_grad_(True)
    optimizer = torch.optim.SGD([vectors], lr=learning_rate)
    similarities, embeddings, losses = [], [], []
    for step in range(steps + 1):
        optimizer.zero_grad()
        logits = similarity_matrix(vectors[:1], vectors[1:])[0] / temperature  # (1 + n,)
        loss = -torch.log_softmax(logits, dim=0)[0]
        similarities.append(logits.detach().numpy() * temperature)
        embeddings.append(vectors.detach().numpy().copy())
        losses.append(loss.item())
        if step < steps:
            loss.backward()
            optimizer.step()
    return ContrastiveSteps(np.array(similarities), np.array(embeddings), np.array(losses))


@dataclass(frozen=True)
class ProjectedSteps:
    """The embeddings of :class:`ContrastiveSteps` as 2-D points, for a picture."""

    points: np.ndarray  # (steps + 1, 2 + n, 2): anchor, positive, negatives at each step
    limits: list  # [(x_min, x_max), (y_min, y_max)], the same for every step


def project_steps(path: ContrastiveSteps, margin: float = 0.1) -> ProjectedSteps:
    """One 2-D PCA of every embedding recorded along ``path`` (all steps together), so the
    points of different steps share one plane and their movement is visible; the axis limits
    cover every step, widened by ``margin``. PCA keeps the global geometry
    (:func:`embedlab.representation.project_2d`). Book: Chapter 4, "Contrastive training:
    forces in action".
    """
    embeddings = np.asarray(path.embeddings)  # (steps + 1, 2 + n, d)
    flat = project_2d(embeddings.reshape(-1, embeddings.shape[-1]))  # ((steps + 1)·(2 + n), 2)
    points = flat.reshape(embeddings.shape[0], embeddings.shape[1], 2)
    limits = [(float(points[..., i].min() - margin), float(points[..., i].max() + margin)) for i in (0, 1)]
    return ProjectedSteps(points, limits)


# ----------------------------------------------------------------------------------------
# 3. Negatives


def in_batch_negatives(batch_size: int) -> np.ndarray:
    """The negatives :func:`info_nce` uses without being told: for query i, every other key.

    Returns a (B, B − 1) array whose row i lists 0 … B−1 without i. They cost nothing (the keys
    are encoded anyway), but they are random passages, mostly easy. Book: Chapter 4, "The InfoNCE loss".

    >>> in_batch_negatives(3).tolist()
    [[1, 2], [0, 2], [0, 1]]
    """
    if batch_size < 2:
        raise ValueError(f"a batch needs at least 2 pairs to have in-batch negatives, got batch_size={batch_size}")
    everyone = np.arange(batch_size)
    return np.array([np.delete(everyone, i) for i in range(batch_size)])


def _check_positives(positives, n_queries: int, n_documents: int) -> np.ndarray:
    positives = np.asarray(positives)
    if positives.shape != (n_queries,) or not np.issubdtype(positives.dtype, np.integer):
        raise ValueError(f"positives must hold one document index per query ({n_queries}), got {positives!r:.80}")
    if n_queries and (positives.min() < 0 or positives.max() >= n_documents):
        raise IndexError(f"positives must be document indices in 0 … {n_documents - 1}")
    return positives


def _negatives_below_positive(scores: np.ndarray, positives, k: int, margin: float) -> list[np.ndarray]:
    """The ``k`` best-scoring documents of each query that score clearly below its positive.

    A document counts only if its score is below s₊ − margin·|s₊|, s₊ being the positive's
    score: the positive itself never does, and neither does a document that scores about as
    well, because it is likely an unlabelled positive (a false negative). This is NV-Retriever's
    "TopK-PercPos" rule (Moreira et al. 2024); their choice for NV-Retriever-v1, at most 95% of
    the positive's score, is ``margin=0.05``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1): a fraction of the positive's score, got {margin}")
    positives = _check_positives(positives, *scores.shape)
    negatives = []
    for row, positive in zip(scores, positives):
        positive_score = row[positive]
        allowed = row < positive_score - margin * abs(positive_score)
        allowed[positive] = False
        candidates = np.flatnonzero(allowed)
        best_first = candidates[np.argsort(-row[candidates], kind="stable")]
        negatives.append(best_first[:k])
    return negatives


def mine_bm25_negatives(queries, documents, positives, k: int = 5, margin: float = 0.05) -> list[np.ndarray]:
    """Hard negatives by word overlap: for each query, the ``k`` documents BM25 ranks highest
    that score below (1 − margin) × the positive's score (:func:`bm25_scores`).

    ``positives[i]`` is the index in ``documents`` of query i's positive; it is never returned,
    nor is any document scoring within the margin of it. Returns one array of document indices
    per query, hardest first; it has fewer than ``k`` entries (even none) when few documents
    qualify, for instance when the positive shares no word with the query (score 0).
    Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    return _negatives_below_positive(bm25_scores(queries, documents), positives, k, margin)


def mine_model_negatives(query_embeddings, doc_embeddings, positives, k: int = 5,
                         margin: float = 0.05) -> list[np.ndarray]:
    """Hard negatives by meaning: the ``k`` documents a stronger model finds most similar to each
    query, among those scoring below the positive's cosine minus ``margin`` × |its cosine|.

    The embeddings come from the stronger model (all-MiniLM-L6-v2 in the chapter). Production
    pipelines often rescore the candidates with a cross-encoder, which reads query and document
    together, before choosing; no cross-encoder is available offline here, so the bi-encoder's
    cosine is the only judge. As :func:`mine_bm25_negatives`, the positive and documents within
    the margin are never returned. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    queries = as_matrix(query_embeddings, "query_embeddings")
    documents = as_matrix(doc_embeddings, "doc_embeddings")
    scores = similarity_matrix(queries, documents).numpy()  # (n_queries, n_documents)
    return _negatives_below_positive(scores, positives, k, margin)


# ----------------------------------------------------------------------------------------
# 4. Ranking


def rank(query_embeddings, doc_embeddings, k: int | None = None) -> np.ndarray:
    """Indices of the documents by descending cosine similarity, for every query: (n_queries, k).

    ``k=None`` ranks every document. Ties keep the lower index first. Book: Chapter 4,
    "Measuring retrieval"; Chapters 5–6.
    """
    scores = similarity_matrix(query_embeddings, doc_embeddings).numpy()  # (n_queries, n_documents)
    n_documents = scores.shape[1]
    k = n_documents if k is None else k
    if not 1 <= k <= n_documents:
        raise ValueError(f"k must be between 1 and the number of documents ({n_documents}), got {k}")
    if k == n_documents:
        return np.argsort(-scores, axis=1, kind="stable")
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # the k best, unordered
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def mrr_standard_error(rankings, relevant) -> float:
    """The standard error of a mean reciprocal rank: how much :func:`embedlab.metrics.mrr`
    would move with another sample of queries of the same kind.

    With r_i the reciprocal rank of query i (1 / position of its first relevant document, 0
    when none is ranked) over n queries, SE = sd(r) / √n, sd with n − 1 in the denominator
    (the usual standard error of a mean). Differences between two models' MRRs smaller than
    about one SE are noise. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> round(mrr_standard_error([[1, 2], [2, 1]], [{1}, {1}]), 6)   # r = (1, 1/2): sd 0.353553 / √2
    0.25
    """
    pairs = list(zip(rankings, relevant))
    if len(pairs) < 2:
        raise ValueError(f"a standard error needs at least 2 queries, got {len(pairs)}")
    reciprocal_ranks = np.array([mrr([ranking], [rel]) for ranking, rel in pairs])
    return float(reciprocal_ranks.std(ddof=1) / np.sqrt(len(reciprocal_ranks)))


# ----------------------------------------------------------------------------------------
# 5. Document similarity against human ratings


@dataclass(frozen=True)
class Correlation:
    """How well the cosine similarities of document pairs follow human ratings."""

    pearson: float
    spearman: float
    n_pairs: int


def lee_correlation(embeddings, human=None) -> Correlation:
    """Correlate the cosine similarities of the 50 Lee documents with human ratings.

    ``embeddings`` (50, d) are those of :func:`embedlab.data.lee_documents`, in order; ``human``
    defaults to :func:`embedlab.data.lee_similarities`. Both are compared on the 1,225 pairs
    i < j (the upper triangle), as gensim's ``test_lee`` does; Lee et al. (2005) report that
    LSA reaches Pearson r ≈ 0.6. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    from scipy import stats

    human = data.lee_similarities() if human is None else np.asarray(human, dtype=np.float64)
    embeddings = as_matrix(embeddings, "embeddings")
    if human.ndim != 2 or human.shape[0] != human.shape[1] or embeddings.shape[0] != human.shape[0]:
        raise ValueError(f"need one embedding per rated document: {embeddings.shape[0]} embeddings, "
                         f"ratings of shape {human.shape}")
    upper = np.triu_indices(len(human), k=1)
    model = similarity_matrix(embeddings, embeddings).double().numpy()[upper]
    return Correlation(float(stats.pearsonr(model, human[upper])[0]),
                       float(stats.spearmanr(model, human[upper])[0]), len(model))
