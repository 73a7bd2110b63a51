"""Chapter 4, "Contrastive learning": the InfoNCE loss, what each negative contributes, where
negatives come from, and a small sentence encoder trained on the inverse cloze task.

The pieces, in the order the chapter builds them:

1. cosine similarity matrices and the InfoNCE loss (:func:`similarity_matrix`, :func:`info_nce`),
   equal in value and gradient to sentence-transformers' ``MultipleNegativesRankingLoss``;
2. the force each candidate feels (:func:`similarity_gradients`, :func:`gradient_table`) and a few
   real optimisation steps on real embeddings (:func:`contrastive_steps`);
3. negatives: in the batch, mined with BM25, mined with a stronger model
   (:func:`in_batch_negatives`, :func:`mine_bm25_negatives`, :func:`mine_model_negatives`);
4. training pairs without labels: the inverse cloze task (:func:`inverse_cloze_pairs`,
   :func:`split_articles`, :func:`ict_retrieval_set`);
5. a small encoder, GloVe vectors pooled with learned weights and a linear map, and its training
   loop (:class:`WordVectorEncoder`, :func:`train_encoder`, :func:`encode`);
6. retrieval metrics, shared with the later chapters (:func:`rank`, :func:`recall_at_k`,
   :func:`precision_at_k`, :func:`mrr`, :func:`ndcg_at_k`, :func:`retrieval_report`);
7. document similarity against human ratings (Lee et al. 2005; :func:`lee_correlation`).
"""

from __future__ import annotations

import copy
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from embedlab import progress
from embedlab.word2vec import tokenize

# ----------------------------------------------------------------------------------------
# 1. Similarity matrices and the InfoNCE loss


def _as_matrix(x, name: str) -> torch.Tensor:
    """``x`` as a float tensor of row vectors (n, d); numpy arrays and lists are converted."""
    tensor = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))
    if not tensor.is_floating_point():
        tensor = tensor.float()
    if tensor.ndim == 1:
        tensor = tensor[None, :]
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be a vector or a matrix of row vectors (n, d), got shape {tuple(tensor.shape)}")
    return tensor


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (scale = 1 / temperature), got {temperature}")


def similarity_matrix(a, b) -> torch.Tensor:
    """All cosine similarities S[i, j] = cos(a_i, b_j) = â_i · b̂_j: an (n, m) tensor.

    ``a`` is (n, d) and ``b`` is (m, d) (a single vector counts as one row), torch tensors or
    numpy arrays. Rows are scaled to length 1 with ``torch.nn.functional.normalize``, as
    sentence-transformers' ``cos_sim`` does, so the result stays differentiable (a zero row gives
    similarities of 0). Book: Chapter 4, "The InfoNCE loss".
    """
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: a has {a.shape[1]} dimensions, b has {b.shape[1]}")
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


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
    _check_temperature(temperature)
    queries, keys = _as_matrix(queries, "queries"), _as_matrix(keys, "keys")
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
    _check_temperature(temperature)
    negatives = np.atleast_1d(np.asarray(negative_similarities, dtype=np.float64))
    if negatives.ndim != 1 or negatives.size == 0:
        raise ValueError(f"negative_similarities must be a non-empty list of numbers, got shape {negatives.shape}")
    logits = np.concatenate([[float(positive_similarity)], negatives]) / temperature  # (1 + n,)
    log_normaliser = np.logaddexp.reduce(logits)
    probabilities = np.exp(logits - log_normaliser)
    gradients = probabilities / temperature
    gradients[0] -= 1 / temperature
    return SimilarityGradients(float(log_normaliser - logits[0]), probabilities, gradients)


def gradient_table(anchor, positive, negatives, labels=None, temperature: float = 0.05) -> pd.DataFrame:
    """For real embeddings: each candidate's similarity to the anchor, probability and push.

    ``anchor`` and ``positive`` are vectors (d,), ``negatives`` (n, d); ``labels`` names the
    negatives (their sentences, say). One row per candidate, the positive first: ``similarity``
    cos(anchor, candidate), ``probability`` its softmax share p_i, and ``gradient`` the
    magnitude |∂L/∂s_i| of :func:`similarity_gradients`. Book: Chapter 4, "Which negatives matter".
    """
    negatives = _as_matrix(negatives, "negatives")
    labels = [f"negative {i + 1}" for i in range(len(negatives))] if labels is None else list(labels)
    if len(labels) != len(negatives):
        raise ValueError(f"{len(labels)} labels for {len(negatives)} negatives")
    candidates = torch.cat([_as_matrix(positive, "positive"), negatives])
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
    _check_temperature(temperature)
    if steps < 0:
        raise ValueError(f"steps must be 0 or more, got {steps}")
    negatives = _as_matrix(negatives, "negatives")
    vectors = torch.cat([_as_matrix(anchor, "anchor"), _as_matrix(positive, "positive"), negatives])  # (2 + n, d)
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


def bm25_scores(queries, documents) -> np.ndarray:
    """BM25 score of every document for every query: an (n_queries, n_documents) array.

    BM25 (Robertson & Zaragoza 2009) in Lucene's form, as ``bm25s`` computes it:

        score(q, d) = Σ_{t ∈ q} IDF(t) · tf(t, d) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl)),
        IDF(t) = log(1 + (N − df(t) + 0.5) / (df(t) + 0.5)),   k1 = 1.5, b = 0.75,

    with N documents, df(t) of them containing t, and |d| counted in tokens: a word counts more
    the rarer it is, and each repetition in d adds less. Tokens come from ``bm25s``'s tokenizer
    (lower-cased words of 2+ characters, English stop words removed, no stemming); a word
    repeated in the query counts once per occurrence, and a query with no indexed word scores 0
    everywhere. The index is :class:`embedlab.rag.BM25Index`, the book's one BM25 (Chapter 6
    explains it). Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    from embedlab.rag import BM25Index

    index = BM25Index(documents)
    scores = np.zeros((0, index.n_texts), dtype=np.float32)
    return np.vstack([scores, *(index.scores(query) for query in queries)])


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
    queries = _as_matrix(query_embeddings, "query_embeddings")
    documents = _as_matrix(doc_embeddings, "doc_embeddings")
    scores = similarity_matrix(queries, documents).numpy()  # (n_queries, n_documents)
    return _negatives_below_positive(scores, positives, k, margin)


# ----------------------------------------------------------------------------------------
# 4. The inverse cloze task

# A sentence ends at ., ! or ? before a capital letter, digit or opening quote (so "i.e. the"
# and "e.g. a" do not end one), or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|\n+")


@dataclass(frozen=True)
class Passage:
    """A few consecutive sentences of one article."""

    passage_id: int  # position in the list :func:`split_passages` returns
    title: str  # the article's
    sentences: tuple

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def split_passages(articles, passage_words: int = 100, min_sentence_words: int = 5,
                   max_passages_per_article: int | None = None) -> list[Passage]:
    """Cut articles into passages of whole sentences, about ``passage_words`` words each.

    Sentences end at ., ! or ? followed by a capital letter, digit or quote, or at a line break
    (abbreviations before a capital, as in "J. S. Bach", still cut a sentence). Sentences of fewer than
    ``min_sentence_words`` words (headings, list items) are left out. Consecutive sentences are
    gathered until the passage reaches ``passage_words`` words; an article's last, shorter
    remainder is dropped, and so is any passage of a single sentence (it would have no context
    left once the sentence is taken out). ``max_passages_per_article`` keeps each article's first
    passages only. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    if passage_words < 1:
        raise ValueError(f"passage_words must be at least 1, got {passage_words}")
    passages = []
    for article in articles:
        sentences = [s.strip() for s in _SENTENCE_END.split(article.text)]
        sentences = [s for s in sentences if len(s.split()) >= min_sentence_words]
        current, n_words, kept = [], 0, 0
        for sentence in sentences:
            if max_passages_per_article is not None and kept >= max_passages_per_article:
                break
            current.append(sentence)
            n_words += len(sentence.split())
            if n_words >= passage_words:
                if len(current) >= 2:
                    passages.append(Passage(len(passages), article.title, tuple(current)))
                    kept += 1
                current, n_words = [], 0
    return passages


@dataclass(frozen=True)
class ICTPair:
    """One inverse-cloze training pair: a sentence and the passage it was taken from."""

    query: str  # one sentence of the passage
    passage: str  # the positive: the passage, usually without that sentence
    title: str  # the article's
    passage_id: int
    sentence_removed: bool


def inverse_cloze_pairs(articles, passage_words: int = 100, remove_probability: float = 0.9,
                        max_passages_per_article: int | None = None, seed: int = 0) -> list[ICTPair]:
    """(sentence, context) pairs from plain text: the inverse cloze task (Lee et al. 2019, ORQA).

    Each passage of :func:`split_passages` gives one pair: a random sentence is the query and
    the passage is its positive. With probability ``remove_probability`` the sentence is taken
    out of the passage, so that the model must match a sentence to the context around it by
    meaning rather than find it word for word; Lee et al. remove it 90% of the time and keep it
    in 10%, so the model also learns that word overlap is evidence. ``seed`` fixes every choice.
    Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    if not 0 <= remove_probability <= 1:
        raise ValueError(f"remove_probability must be between 0 and 1, got {remove_probability}")
    rng = np.random.default_rng(seed)
    pairs = []
    for passage in split_passages(articles, passage_words, max_passages_per_article=max_passages_per_article):
        chosen = int(rng.integers(len(passage.sentences)))
        remove = bool(rng.random() < remove_probability)
        context = [s for i, s in enumerate(passage.sentences) if not (remove and i == chosen)]
        pairs.append(ICTPair(passage.sentences[chosen], " ".join(context), passage.title, passage.passage_id, remove))
    return pairs


def split_articles(articles, heldout_fraction: float = 0.2, seed: int = 0):
    """Split articles into (train, held-out) lists: a seeded random ``heldout_fraction`` of them
    is held out, so no article has passages on both sides. Order within each side is kept.
    Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    articles = list(articles)
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    n_heldout = round(heldout_fraction * len(articles))
    if not 0 < n_heldout < len(articles):
        raise ValueError(f"cannot hold out {heldout_fraction:.0%} of {len(articles)} articles and train on the rest")
    heldout = set(np.random.default_rng(seed).choice(len(articles), n_heldout, replace=False).tolist())
    train = [a for i, a in enumerate(articles) if i not in heldout]
    return train, [a for i, a in enumerate(articles) if i in heldout]


@dataclass(frozen=True)
class RetrievalSet:
    """Queries, a document collection, and which documents are relevant to each query."""

    queries: list
    documents: list
    relevant: list  # relevant[i]: the set of indices of documents relevant to queries[i]


def ict_retrieval_set(articles, passage_words: int = 100, max_passages_per_article: int | None = None,
                      seed: int = 0) -> RetrievalSet:
    """A retrieval test from the inverse cloze task: find the passage a sentence was taken from.

    One query per passage of ``articles`` (a random sentence), and as documents every passage
    with its query sentence taken out (``remove_probability=1``): left in, the sentence would be
    found word for word. Query i's one relevant document is document i. Book: Chapter 4,
    "A held-out test".
    """
    pairs = inverse_cloze_pairs(articles, passage_words, remove_probability=1.0,
                                max_passages_per_article=max_passages_per_article, seed=seed)
    return RetrievalSet([p.query for p in pairs], [p.passage for p in pairs], [{i} for i in range(len(pairs))])


# ----------------------------------------------------------------------------------------
# 5. A small encoder and its training loop


class WordVectorEncoder(torch.nn.Module):
    """A sentence encoder small enough to train on a CPU in seconds: fixed word vectors, a few
    learned features per word, a learned weighted mean, and a linear map.

    For the known words of a text, with word vectors e_t (GloVe, 50-d, never updated):

        φ(e) = [e ; ReLU(V e + v)]          the word vector and ``hidden`` learned features
        a_t = softmax_t(u · e_t)            how much each word counts
        f(text) = W Σ_t a_t φ(e_t) + c      a linear map back to d dimensions

    u starts at 0 (all words count equally), W at [I 0] (the identity on e, zero on the
    features) and c at 0, so the untrained encoder *is* the mean of the word vectors, the
    mean-GloVe baseline, whatever V is: everything it does better after training is learned.
    V is random (seeded), v is 0. Because a_t depends on the word's vector, not on the word,
    what it learns about which words matter carries over to words never seen in training.
    A d × h layer per word and one attention vector: about 15,000 parameters for d = 50,
    h = 128. Book: Chapter 4, "Training a sentence encoder, without labels".
    """

    def __init__(self, words, vectors, hidden: int = 128, seed: int = 0):
        super().__init__()
        vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        words = list(words)
        if vectors.ndim != 2 or vectors.shape[0] != len(words) or not words:
            raise ValueError(f"need one vector per word: {len(words)} words, vectors of shape {tuple(vectors.shape)}")
        if hidden < 0:
            raise ValueError(f"hidden must be 0 or more features, got {hidden}")
        dim = vectors.shape[1]
        self.vocabulary = {word: i + 1 for i, word in enumerate(words)}  # row 0 is padding
        self.word_vectors = torch.nn.Embedding.from_pretrained(torch.cat([torch.zeros(1, dim), vectors]),
                                                               freeze=True, padding_idx=0)
        self.features = torch.nn.Linear(dim, hidden)
        self.attention = torch.nn.Parameter(torch.zeros(dim))
        self.projection = torch.nn.Linear(dim + hidden, dim)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.features.weight.copy_(torch.randn(hidden, dim, generator=generator) / dim**0.5)
            self.features.bias.zero_()
            self.projection.weight.zero_()
            self.projection.weight[:, :dim] = torch.eye(dim)
            self.projection.bias.zero_()

    @property
    def dim(self) -> int:
        return self.projection.out_features

    def token_ids(self, texts) -> list[np.ndarray]:
        """Each text as the vocabulary rows of its words (:func:`~embedlab.word2vec.tokenize`);
        unknown words are dropped."""
        return [np.array([self.vocabulary[t] for t in tokenize(text) if t in self.vocabulary], dtype=np.int64)
                for text in texts]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, d) of a padded batch of token ids (B, L), 0 being padding."""
        mask = ids != 0  # (B, L)
        vectors = self.word_vectors(ids)  # (B, L, d)
        # Padding gets the lowest score, then weight 0; a text with no known word gets weights 0
        # everywhere (−inf scores would give it NaN weights, and NaN gradients).
        scores = (vectors @ self.attention).masked_fill(~mask, torch.finfo(vectors.dtype).min)  # (B, L)
        weights = torch.softmax(scores, dim=1) * mask  # (B, L)
        features = torch.cat([vectors, torch.relu(self.features(vectors))], dim=-1)  # (B, L, d + h)
        return self.projection((weights[..., None] * features).sum(dim=1))  # (B, d)


@contextmanager
def _one_thread():
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


def _pad(token_ids) -> torch.Tensor:
    longest = max(1, max(len(ids) for ids in token_ids))
    batch = np.zeros((len(token_ids), longest), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        batch[row, : len(ids)] = ids
    return torch.from_numpy(batch)  # (B, L)


def build_encoder(word_vectors, texts, hidden: int = 128, seed: int = 0) -> WordVectorEncoder:
    """A :class:`WordVectorEncoder` whose vocabulary is the words of ``texts`` that
    ``word_vectors`` (a :class:`~embedlab.vectors.WordVectors`, GloVe in the chapter) knows.

    Keeping only the corpus's words makes the model small (tens of thousands of rows instead of
    400,000). Pass every text the encoder will see, held-out ones included: their word vectors
    are pretrained and stay fixed, so this leaks nothing. ``hidden`` and ``seed`` are passed to
    :class:`WordVectorEncoder`. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    seen = {token for text in texts for token in tokenize(text)}
    words = [word for word in word_vectors.words if word in seen]  # in word_vectors' order
    if not words:
        raise ValueError("none of the words of the texts is in the word vectors' vocabulary")
    rows = [word_vectors.index(word) for word in words]
    return WordVectorEncoder(words, word_vectors.vectors[rows], hidden, seed)


def encode(encoder: WordVectorEncoder, texts, batch_size: int = 512) -> np.ndarray:
    """Unit-length embeddings (n, d) of ``texts``, as float32 numpy. A text with no known word
    gets the zero vector. Book: Chapter 4, "Training a sentence encoder, without labels"."""
    texts = list(texts)
    token_ids = encoder.token_ids(texts)
    with torch.no_grad(), _one_thread():
        parts = [F.normalize(encoder(_pad(token_ids[i : i + batch_size])), dim=-1)
                 for i in range(0, len(texts), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, encoder.dim), dtype=np.float32)


def mean_word_vectors(word_vectors, texts) -> np.ndarray:
    """The baseline: the mean of the word vectors of each text's words, scaled to length 1 (n, d).

    Words as :func:`~embedlab.word2vec.tokenize` finds them; unknown words are skipped, and a
    text with no known word gets the zero vector. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    result = np.zeros((len(texts), word_vectors.dim), dtype=np.float32)
    for row, text in enumerate(texts):
        known = [word_vectors.index(t) for t in tokenize(text) if t in word_vectors]
        if known:
            mean = word_vectors.vectors[known].mean(axis=0)
            result[row] = mean / np.linalg.norm(mean)
    return result


@dataclass
class TrainedEncoder:
    """What :func:`train_encoder` returns: the trained copy of the encoder and its history."""

    encoder: WordVectorEncoder
    losses: list  # the InfoNCE loss of every batch, in order
    seconds: float


def _hard_negative_choice(batch, hard_negatives, n_documents: int, rng) -> np.ndarray:
    """One hard negative per query of ``batch``: its first mined document that is neither a
    positive of the batch (that would be a false negative for another query) nor already
    chosen; a random such document when none of the mined ones is left."""
    taken = set(batch.tolist())
    chosen = []
    for query in batch.tolist():
        mined = [d for d in np.asarray(hard_negatives[query]).tolist() if d not in taken]
        if not mined:
            free = np.setdiff1d(np.arange(n_documents), list(taken))
            if free.size == 0:
                raise ValueError(f"{n_documents} passages are too few for hard negatives with batches of "
                                 f"{len(batch)}: each batch needs as many passages again outside it")
            mined = [int(rng.choice(free))]
        chosen.append(mined[0])
        taken.add(mined[0])
    return np.array(chosen)


def _batches(n_pairs: int, batch_size: int, epochs: int, rng: np.random.Generator):
    """The batches of every epoch: a fresh shuffle of 0 … n_pairs−1 each time, cut into batches
    of ``batch_size`` (or of all pairs, if fewer); the remainder is left out, so that every
    loss is over the same number of candidates."""
    batch_size = min(batch_size, n_pairs)
    for _ in range(epochs):
        order = rng.permutation(n_pairs)
        for start in range(0, n_pairs - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def train_encoder(encoder: WordVectorEncoder, pairs, *, hard_negatives=None, epochs: int = 10,
                  batch_size: int = 64, temperature: float = 0.05, learning_rate: float = 3e-4,
                  seed: int = 0, progress_bar: bool = True) -> TrainedEncoder:
    """Train a copy of ``encoder`` on (query, positive) pairs with :func:`info_nce` and Adam.

    ``pairs`` are :class:`ICTPair` objects or (query, positive) tuples. Each epoch shuffles
    the pairs (with ``seed``) into batches of ``batch_size``, leaving out the few that do not
    fill a last batch; the B − 1 other positives of a batch are each query's in-batch negatives. With ``hard_negatives`` (a list, per pair, of
    indices into the pairs' positives, as the miners return), each query also brings one mined
    passage as an extra candidate, which every query of the batch sees: the first of its mined
    negatives that is not the positive of any pair in the batch (that would be a false negative
    for the other query), else a random passage. ``encoder`` itself is left untrained.

    Deterministic: the same arguments give the same model, bit for bit, on any machine (PyTorch
    runs on one thread here, see :func:`_one_thread`). Returns :class:`TrainedEncoder`.
    Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    _check_temperature(temperature)
    pairs = [(p.query, p.passage) if isinstance(p, ICTPair) else tuple(p) for p in pairs]
    if len(pairs) < 2 or batch_size < 2:
        raise ValueError(f"need at least 2 pairs and batch_size >= 2, got {len(pairs)} pairs, batch_size={batch_size}")
    if hard_negatives is not None and len(hard_negatives) != len(pairs):
        raise ValueError(f"hard_negatives has {len(hard_negatives)} entries for {len(pairs)} pairs: give one per pair")
    encoder = copy.deepcopy(encoder)
    query_ids = encoder.token_ids([query for query, _ in pairs])
    positive_ids = encoder.token_ids([positive for _, positive in pairs])
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=learning_rate)
    batches = list(_batches(len(pairs), batch_size, epochs, rng))
    losses = []
    started = time.perf_counter()
    with _one_thread(), progress.bar(description="training the encoder", unit=" batches", total=len(batches),
                                     enabled=progress_bar) as bar:
        for batch in batches:
            negatives = None
            if hard_negatives is not None:
                chosen = _hard_negative_choice(batch, hard_negatives, len(pairs), rng)
                negatives = encoder(_pad([positive_ids[i] for i in chosen]))  # (B, d)
            loss = info_nce(encoder(_pad([query_ids[i] for i in batch])),  # (B, d)
                            encoder(_pad([positive_ids[i] for i in batch])),  # (B, d)
                            temperature, hard_negatives=negatives)
            _descend(optimizer, loss, losses, bar)
    return TrainedEncoder(encoder, losses, time.perf_counter() - started)


def _descend(optimizer, loss, losses: list, bar) -> None:
    """One gradient step on ``loss``; its value goes to ``losses`` and the progress ``bar``."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    bar.update(1)
    bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)


def minilm_embeddings(texts, batch_size: int = 32) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings (n, 384), unit length, of ``texts``, cached on disk.

    On two CPU cores MiniLM encodes roughly 10–20 passages of 100 words a second (sentences
    several times faster), so the result is saved with :func:`~embedlab.data.cached_array`, keyed
    by the texts and the weights' version; the model is only loaded when something must be
    computed. Book: Chapter 4, Chapters 5–6.
    """
    from embedlab import data

    texts = list(texts)

    def compute():
        model = data.load_minilm()
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)

    return data.cached_array("minilm", ("all-MiniLM-L6-v2", data.minilm_version(), texts), compute)


# ----------------------------------------------------------------------------------------
# 6. Retrieval metrics


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


def _check_rankings(rankings, relevant) -> list:
    rankings, relevant = list(rankings), list(relevant)
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings but {len(relevant)} sets of relevant documents: one each per query")
    if not rankings:
        raise ValueError("no queries to evaluate")
    if any(len(r) == 0 for r in relevant):
        raise ValueError("every query needs at least one relevant document (a query with none has no recall)")
    return list(zip(rankings, relevant))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def recall_at_k(rankings, relevant, k: int) -> float:
    """Mean over queries of |relevant ∩ top k| / |relevant|: the share of what should be found
    that is found in the first k results. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> recall_at_k([[3, 1, 2]], [{1, 5}], k=2)
    0.5
    """
    _check_k(k)
    return float(np.mean([len(set(list(r)[:k]) & set(rel)) / len(rel) for r, rel in _check_rankings(rankings, relevant)]))


def precision_at_k(rankings, relevant, k: int) -> float:
    """Mean over queries of |relevant ∩ top k| / k: the share of the first k results that are
    relevant. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> precision_at_k([[3, 1, 2]], [{1, 5}], k=2)
    0.5
    """
    _check_k(k)
    return float(np.mean([len(set(list(r)[:k]) & set(rel)) / k for r, rel in _check_rankings(rankings, relevant)]))


def mrr(rankings, relevant) -> float:
    """Mean reciprocal rank: the mean over queries of 1 / (position of the first relevant
    document), counting from 1, and 0 when none is ranked. Book: Chapter 4, "Training a sentence encoder, without labels".

    >>> mrr([[3, 1, 2], [5, 4]], [{1}, {7}])
    0.25
    """
    reciprocal_ranks = []
    for ranking, rel in _check_rankings(rankings, relevant):
        position = next((i for i, doc in enumerate(ranking, start=1) if doc in rel), None)
        reciprocal_ranks.append(0.0 if position is None else 1 / position)
    return float(np.mean(reciprocal_ranks))


def ndcg_at_k(rankings, relevant, k: int) -> float:
    """Normalised discounted cumulative gain at k, averaged over queries (Järvelin & Kekäläinen 2002).

    DCG@k = Σ_{i=1..k} gain(doc_i) / log₂(i + 1), and nDCG@k = DCG@k / IDCG@k, IDCG being the
    DCG of the best possible order. ``relevant[q]`` is a set (every relevant document has gain
    1) or a dict {document: gain} for graded relevance. Linear gains, as scikit-learn's
    ``ndcg_score``. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    _check_k(k)
    discounts = 1 / np.log2(np.arange(2, k + 2))  # (k,): 1/log₂(i + 1) for i = 1 … k
    values = []
    for ranking, rel in _check_rankings(rankings, relevant):
        gains = rel if isinstance(rel, dict) else dict.fromkeys(rel, 1.0)
        ranked = [gains.get(doc, 0.0) for doc in list(ranking)[:k]]
        ideal = sorted(gains.values(), reverse=True)[:k]
        values.append(np.dot(ranked, discounts[: len(ranked)]) / np.dot(ideal, discounts[: len(ideal)]))
    return float(np.mean(values))


def retrieval_report(rankings, relevant, ks=(1, 5, 10)) -> dict:
    """Recall@k for each k in ``ks``, MRR and nDCG@max(ks), as a dict ready for
    ``pandas.DataFrame([report], index=[name])``. Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    report = {f"recall@{k}": recall_at_k(rankings, relevant, k) for k in ks}
    report["MRR"] = mrr(rankings, relevant)
    report[f"nDCG@{max(ks)}"] = ndcg_at_k(rankings, relevant, max(ks))
    return report


# ----------------------------------------------------------------------------------------
# 7. Document similarity against human ratings


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

    from embedlab import data

    human = data.lee_similarities() if human is None else np.asarray(human, dtype=np.float64)
    embeddings = _as_matrix(embeddings, "embeddings")
    if human.ndim != 2 or human.shape[0] != human.shape[1] or embeddings.shape[0] != human.shape[0]:
        raise ValueError(f"need one embedding per rated document: {embeddings.shape[0]} embeddings, "
                         f"ratings of shape {human.shape}")
    upper = np.triu_indices(len(human), k=1)
    model = similarity_matrix(embeddings, embeddings).double().numpy()[upper]
    return Correlation(float(stats.pearsonr(model, human[upper])[0]),
                       float(stats.spearmanr(model, human[upper])[0]), len(model))


# ----------------------------------------------------------------------------------------
# 8. Context fixes polysemy


def contextual_word_vectors(model, sentences, word: str) -> np.ndarray:
    """The vector a transformer gives ``word`` in each sentence: (n_sentences, d).

    ``model`` is a sentence-transformers model such as :func:`embedlab.data.load_minilm`. Its
    last layer gives every word piece of a sentence a vector that depends on the whole
    sentence (self-attention mixes in the context); the word's vector is the mean of its
    pieces' vectors, at its first whole-word occurrence (case-insensitive). A word vector
    model gives the same vector in every sentence. Book: Chapter 4, "Context fixes polysemy".
    """
    sentences = list(sentences)
    spans = []
    for sentence in sentences:
        found = re.search(rf"\b{re.escape(word)}\b", sentence, flags=re.IGNORECASE)
        if found is None:
            raise ValueError(f"{word!r} does not occur as a word in {sentence!r}")
        spans.append(found.span())
    token_vectors = model.encode(sentences, output_value="token_embeddings", convert_to_numpy=False)
    vectors = []
    for sentence, (start, end), pieces in zip(sentences, spans, token_vectors):
        offsets = model.tokenizer(sentence, return_offsets_mapping=True, truncation=True,
                                  max_length=model.max_seq_length)["offset_mapping"]
        inside = [i for i, (s, e) in enumerate(offsets) if e > s and s >= start and e <= end]
        if not inside:
            raise ValueError(f"{word!r} in {sentence!r} lies beyond the model's {model.max_seq_length} tokens")
        vectors.append(pieces[inside].float().mean(dim=0).cpu().numpy())
    return np.stack(vectors)
