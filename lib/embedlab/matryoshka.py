"""Chapter 5, "Matryoshka embeddings": one vector whose prefixes are also good embeddings, and how
to train it (Kusupati et al. 2022, "Matryoshka Representation Learning").

The pieces, in the order the chapter builds them:

0. what an index of n vectors of d dimensions costs, in bytes and in exact-search time
   (:func:`index_cost`);
1. truncation and the Matryoshka loss (:func:`truncate`, :func:`matryoshka_loss`), equal in
   value and gradient to sentence-transformers' ``MatryoshkaLoss`` around
   ``MultipleNegativesRankingLoss``;
2. a projection head on frozen all-MiniLM-L6-v2 embeddings, trained with or without the
   Matryoshka loss, and quality at every prefix (:class:`ProjectionHead`, :func:`train_head`,
   :func:`apply_head`, :func:`prefix_report`, :func:`pca_embeddings`, :func:`leads_up_to`,
   :func:`quality_kept`);
3. Chapter 4's whole encoder trained end to end with the Matryoshka loss or with plain InfoNCE
   (:func:`train_encoder`), cached on disk.

What a dimension costs is in :mod:`embedlab.storage` and :mod:`embedlab.search`, quantisation
in :mod:`embedlab.quantisation`, and searching with a prefix first in :mod:`embedlab.two_stage`.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from embedlab import cache, progress, sentence_encoder
from embedlab.contrastive import info_nce, rank
from embedlab.inverse_cloze import ICTPair
from embedlab.metrics import mrr, recall_at_k
from embedlab.search import Latency
from embedlab.sentence_encoder import TrainedEncoder, WordVectorEncoder
from embedlab.storage import storage_bytes
from embedlab.training import (
    as_matrix,
    cached_training,
    check_temperature,
    gradient_step,
    load_state_arrays,
    one_thread,
    shuffled_batches,
)

# ----------------------------------------------------------------------------------------
# 0. What a dimension costs


@dataclass(frozen=True)
class IndexCost:
    """What :func:`index_cost` returns for n vectors of d dimensions."""

    bytes_by_type: dict  # value type -> bytes of the whole index
    ms_per_query: float  # exact search, one query at a time
    extrapolated: bool  # True when n is beyond the measured collection

    def saved_against(self, reference: IndexCost) -> dict:
        """What this index saves against a larger ``reference`` index: {"storage": 1 − bytes /
        reference bytes (float32; the same fraction for every value type but binary's padding),
        "search time": 1 − ms / reference ms}, fractions in [0, 1) when it is smaller.
        Book: Chapter 5, "What a prefix saves, and what it keeps".

        >>> IndexCost({"float32": 256}, 1.0, False).saved_against(IndexCost({"float32": 1024}, 4.0, False))
        {'storage': 0.75, 'search time': 0.75}
        """
        return {"storage": 1 - self.bytes_by_type["float32"] / reference.bytes_by_type["float32"],
                "search time": 1 - self.ms_per_query / reference.ms_per_query}


def index_cost(n_vectors: int, dim: int, latency: Latency,
               value_types=("float32", "float16", "int8", "binary")) -> IndexCost:
    """Storage and exact-search time of an index of ``n_vectors`` vectors of ``dim`` dimensions.

    Storage is exact, :func:`embedlab.storage.storage_bytes` for each value type (4nd bytes in
    float32). Time comes from one measurement, ``latency`` (:func:`embedlab.search.exact_search_latency`,
    N vectors of D dimensions): exact search reads every coordinate once per query, so the time
    is taken as linear in n·d, t(n, d) = t(N, D) · n·d / (N·D). Within the measured collection
    (n ≤ N) that is a scaling of a measurement; beyond it an extrapolation, and ``extrapolated``
    says so (caches and memory bandwidth make large indexes slower than linear).
    Book: Chapter 5, "What a dimension costs".

    >>> index_cost(10, 4, Latency(20, 4, 1, 2.0)).ms_per_query
    1.0
    """
    if n_vectors < 1 or dim < 1:
        raise ValueError(f"need n_vectors >= 1 and dim >= 1, got n_vectors={n_vectors}, dim={dim}")
    sizes = {value_type: storage_bytes(n_vectors, dim, value_type) for value_type in value_types}
    ms = latency.ns_per_coordinate * n_vectors * dim / 1e6
    return IndexCost(sizes, ms, n_vectors > latency.n_vectors)


# ----------------------------------------------------------------------------------------
# 1. Truncation and the Matryoshka loss


def check_prefix_dim(dim, full_dim: int) -> int:
    """``dim`` as an int when it is a prefix length of vectors of ``full_dim`` coordinates
    (1 ≤ dim ≤ full_dim); a clear ``ValueError`` otherwise."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= full_dim:
        raise ValueError(f"dim must be an integer between 1 and the full dimension {full_dim}, got {dim!r}")
    return int(dim)


def truncate(embeddings, dim: int):
    """The first ``dim`` coordinates of each embedding, scaled back to length 1.

    For a row e of (n, D) embeddings, truncate(e, m) = e[:m] / ‖e[:m]‖: the (n, m) prefix a
    Matryoshka model is trained to make useful on its own (Kusupati et al. 2022). Numpy arrays
    give numpy arrays (float32 stays float32), torch tensors give differentiable tensors. A row
    whose prefix is all zeros has no direction and is refused. Book: Chapter 5, "How Matryoshka training works".

    >>> truncate(np.array([[3.0, 4.0, 12.0]]), 2).tolist()
    [[0.6, 0.8]]
    """
    is_tensor = isinstance(embeddings, torch.Tensor)
    matrix = embeddings if is_tensor else np.asarray(embeddings)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be a matrix of row vectors (n, d), got shape {tuple(matrix.shape)}")
    dim = check_prefix_dim(dim, matrix.shape[1])
    prefix = matrix[:, :dim]  # (n, m)
    norms = prefix.norm(dim=1, keepdim=True) if is_tensor else np.linalg.norm(prefix, axis=1, keepdims=True)
    if bool((norms == 0).any()):
        row = int((norms == 0).nonzero()[0][0])
        raise ValueError(f"row {row} is zero in its first {dim} coordinates: it cannot be scaled to length 1")
    return prefix / norms


def matryoshka_loss(queries, keys, dims, weights=None, temperature: float = 0.05, hard_negatives=None) -> torch.Tensor:
    """The Matryoshka loss: InfoNCE at several prefix lengths at once, weighted and summed.

    With q_i, k_i the (B, D) query and key embeddings, m ∈ ``dims`` the prefix lengths and w_m
    their ``weights`` (1 each by default),

        L = Σ_m w_m · InfoNCE(normalize(q[:, :m]), normalize(k[:, :m])),

    each term being :func:`embedlab.info_nce` with temperature τ: keys[i] is the
    positive of queries[i], the other keys its in-batch negatives, and ``hard_negatives`` (B, d)
    or (B, h, d) are truncated the same way and seen by every query. Because the first m
    coordinates must work alone, the model learns to put what matters most first
    (Kusupati et al. 2022, "Matryoshka Representation Learning"). This is sentence-transformers'
    ``MatryoshkaLoss(model, MultipleNegativesRankingLoss(model, scale=1/τ), dims, weights)``.
    Returns a differentiable scalar tensor. Book: Chapter 5, "How Matryoshka training works".
    """
    queries, keys = as_matrix(queries, "queries"), as_matrix(keys, "keys")
    dims = list(dims)
    weights = [1.0] * len(dims) if weights is None else list(weights)
    if not dims:
        raise ValueError("dims is empty: give at least one prefix length")
    if len(weights) != len(dims):
        raise ValueError(f"{len(weights)} weights for {len(dims)} dims: give one weight per prefix length")
    negatives = hard_negatives
    if negatives is not None and not isinstance(negatives, torch.Tensor):
        negatives = torch.as_tensor(np.asarray(negatives, dtype=np.float32))
    loss = 0.0
    for dim, weight in zip(dims, weights):
        dim = check_prefix_dim(dim, queries.shape[1])
        # info_nce normalises rows itself, so the prefixes need no separate normalisation here.
        loss = loss + weight * info_nce(queries[:, :dim], keys[:, :dim], temperature,
                                                    None if negatives is None else negatives[..., :dim])
    return loss


# ----------------------------------------------------------------------------------------
# 2. A projection head trained with and without the Matryoshka loss


class ProjectionHead(torch.nn.Module):
    """A linear map f(e) = W e + b on frozen sentence embeddings (all-MiniLM-L6-v2 in the chapter).

    W starts as the identity and b at 0, so the untrained head *is* the frozen model: whatever
    it does better after training is learned. A linear map can rotate and rescale but add no
    information, so training with :func:`matryoshka_loss` can only reorder what MiniLM already
    knows, most useful directions first. Book: Chapter 5, "Train it".
    """

    def __init__(self, dim: int = 384):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}")
        self.linear = torch.nn.Linear(dim, dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim))
            self.linear.bias.zero_()

    @classmethod
    def from_pca(cls, fit_embeddings) -> ProjectionHead:
        """A head that starts as PCA of ``fit_embeddings`` (n, d): W = the principal axes as rows,
        largest variance first, b = −W μ, so f(e) = W (e − μ) is :func:`pca_embeddings`.

        The honest head start for Matryoshka training: the first m outputs are already the m
        directions along which the embeddings vary most, and training only has to move what
        helps retrieval towards the front ("MRL training starting from PCA order"). Nothing is
        random (scikit-learn's full SVD). Book: Chapter 5, "Train it".
        """
        from sklearn.decomposition import PCA

        fit_embeddings = np.asarray(fit_embeddings, dtype=np.float32)
        if fit_embeddings.ndim != 2 or len(fit_embeddings) < fit_embeddings.shape[1]:
            raise ValueError(f"fit_embeddings must be a matrix (n, d) with n >= d, got shape {fit_embeddings.shape}")
        pca = PCA(svd_solver="full").fit(fit_embeddings)
        head = cls(fit_embeddings.shape[1])
        with torch.no_grad():
            weight = torch.from_numpy(pca.components_.astype(np.float32))  # (d, d), rows = axes
            head.linear.weight.copy_(weight)
            head.linear.bias.copy_(-weight @ torch.from_numpy(pca.mean_.astype(np.float32)))
        return head

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, d) → (B, d)."""
        return self.linear(embeddings)


@dataclass
class TrainedHead:
    """What :func:`train_head` returns: the trained head and its history."""

    head: ProjectionHead
    losses: list  # the loss of every batch, in order
    seconds: float


def train_head(query_embeddings, key_embeddings, dims=None, *, weights=None, epochs: int = 10,
               batch_size: int = 64, temperature: float = 0.05, learning_rate: float = 3e-4,
               seed: int = 0, init: str = "identity", progress_bar: bool = True) -> TrainedHead:
    """Train a :class:`ProjectionHead` on (query, key) embedding pairs with Adam.

    ``key_embeddings[i]`` is the positive of ``query_embeddings[i]`` (both (n, d), frozen model
    outputs); the same head maps both. ``dims=None`` trains with plain InfoNCE at full
    dimension (:func:`embedlab.info_nce`); a list of prefix lengths trains with
    :func:`matryoshka_loss` over them (``weights`` as there). Each epoch shuffles the pairs
    (with ``seed``) into batches of ``batch_size``, leaving out the remainder, as
    :func:`embedlab.sentence_encoder.train_encoder` does. ``init`` is where the head starts:
    ``"identity"`` (the frozen model itself) or ``"pca"`` (:meth:`ProjectionHead.from_pca`
    fitted on the training queries and keys together, so prefixes start in order of variance);
    neither involves randomness. Deterministic: PyTorch runs on one thread, so the same arguments give the same
    head, bit for bit. Book: Chapter 5, "Train it".
    """
    check_temperature(temperature)
    queries = as_matrix(query_embeddings, "query_embeddings").detach().float()
    keys = as_matrix(key_embeddings, "key_embeddings").detach().float()
    if queries.shape != keys.shape:
        raise ValueError(f"query_embeddings {tuple(queries.shape)} and key_embeddings {tuple(keys.shape)} "
                         "must have the same shape (n, d): one key per query")
    if len(queries) < 2 or batch_size < 2:
        raise ValueError(f"need at least 2 pairs and batch_size >= 2, got {len(queries)} pairs, batch_size={batch_size}")
    if dims is not None:
        dims = [check_prefix_dim(dim, queries.shape[1]) for dim in dims]
    if init == "identity":
        head = ProjectionHead(queries.shape[1])
    elif init == "pca":
        head = ProjectionHead.from_pca(torch.cat([queries, keys]).numpy())
    else:
        raise ValueError(f"init must be 'identity' or 'pca', got {init!r}")
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate)
    batches = list(shuffled_batches(len(queries), batch_size, epochs, np.random.default_rng(seed)))
    losses = []
    started = time.perf_counter()
    with one_thread(), progress.bar(description="training the head", unit=" batches",
                                                 total=len(batches), enabled=progress_bar) as bar:
        for batch in batches:
            batch = torch.from_numpy(batch)
            q, k = head(queries[batch]), head(keys[batch])  # (B, d) each
            if dims is None:
                loss = info_nce(q, k, temperature)
            else:
                loss = matryoshka_loss(q, k, dims, weights, temperature)
            gradient_step(optimizer, loss, losses, bar)
    return TrainedHead(head, losses, time.perf_counter() - started)


def apply_head(head: ProjectionHead, embeddings) -> np.ndarray:
    """The head's outputs (n, d) for embeddings (n, d), float32 numpy, not normalised (truncate
    first, then normalise: :func:`truncate`). Book: Chapter 5, "Train it"."""
    with torch.no_grad(), one_thread():
        return head(as_matrix(embeddings, "embeddings").float()).numpy()


def pca_embeddings(fit_embeddings, *embeddings) -> list[np.ndarray]:
    """The baseline without training: PCA fitted on ``fit_embeddings``, then each array of
    ``embeddings`` expressed in its components, largest variance first (scikit-learn's ``PCA``).

    PCA components are nested, so the first m coordinates of the result are exactly PCA to m
    dimensions: :func:`prefix_report` on them compares PCA with Matryoshka prefixes. Nothing
    is random (a full SVD, as in :meth:`ProjectionHead.from_pca`). Book: Chapter 5, "Train it".
    """
    from sklearn.decomposition import PCA

    pca = PCA(svd_solver="full").fit(np.asarray(fit_embeddings, dtype=np.float32))
    return [pca.transform(np.asarray(e, dtype=np.float32)).astype(np.float32) for e in embeddings]


def prefix_report(query_embeddings, doc_embeddings, relevant, dims, k: int = 10) -> pd.DataFrame:
    """Retrieval quality of the first m coordinates for each m in ``dims``: one row per m with
    MRR and recall@``k``, ranking every document by cosine of the truncated vectors
    (:func:`truncate`, :func:`embedlab.rank`). Book: Chapter 5, "Train it".
    """
    rows = []
    for dim in dims:
        rankings = rank(truncate(query_embeddings, dim), truncate(doc_embeddings, dim))
        rows.append({"dim": dim, "MRR": mrr(rankings, relevant),
                     f"recall@{k}": recall_at_k(rankings, relevant, k)})
    return pd.DataFrame(rows).set_index("dim")


def quality_kept(quality: pd.Series) -> pd.Series:
    """Each prefix's quality as a fraction of the full vector's: quality[m] / quality[D], with
    D the longest prefix in the index of ``quality`` (a column of :func:`prefix_report`).
    Book: Chapter 5, "Train it".

    >>> quality_kept(pd.Series([0.2, 0.4], index=[8, 16])).tolist()
    [0.5, 1.0]
    """
    full = quality[quality.index.max()]
    if not full > 0:
        raise ValueError(f"the full vector's quality must be positive to compare prefixes with it, got {full}")
    return quality / full


def paired_mrr_difference(rankings_a, rankings_b, relevant) -> tuple[float, float]:
    """MRR(a) − MRR(b) over the same queries, and its standard error: with r_i the reciprocal
    rank of query i (:func:`embedlab.metrics.mrr` of one query), the mean of r_i(a) − r_i(b) and
    sd(r(a) − r(b)) / √n. Pairing by query removes how hard each query is, so the error is
    smaller than the two MRRs' own (:func:`embedlab.contrastive.mrr_standard_error`) when the
    two models find the same queries easy. Book: Chapter 5, "Training the whole encoder".
    """
    if not len(rankings_a) == len(rankings_b) == len(relevant) >= 2:
        raise ValueError(f"need the same queries, at least 2, for both: {len(rankings_a)} and {len(rankings_b)} "
                         f"rankings for {len(relevant)} queries")
    differences = np.array([mrr([a], [rel]) - mrr([b], [rel]) for a, b, rel in zip(rankings_a, rankings_b, relevant)])
    return float(differences.mean()), float(differences.std(ddof=1) / np.sqrt(len(differences)))


def paired_prefix_gaps(encoded: dict, relevant, dims, comparisons: dict) -> pd.DataFrame:
    """:func:`paired_mrr_difference` of two models at every prefix length: one row per m in
    ``dims``, and for each ``label: (model_a, model_b)`` of ``comparisons`` two columns,
    ``label`` (MRR of a's first m dimensions − MRR of b's) and ``"label (SE)"``. ``encoded``
    maps each model's name to its (queries, documents) embeddings of the same held-out pairs,
    each query's relevant documents in ``relevant``. Book: Chapter 5, "Training the whole encoder".
    """
    missing = {name for pair in comparisons.values() for name in pair} - set(encoded)
    if missing:
        raise ValueError(f"no embeddings for {sorted(missing)}; encoded has {sorted(encoded)}")

    def rankings(name, m):
        queries, documents = encoded[name]
        return rank(truncate(queries, m), truncate(documents, m))

    rows = []
    for m in dims:
        row = {"dimensions": m}
        for label, (a, b) in comparisons.items():
            row[label], row[f"{label} (SE)"] = paired_mrr_difference(rankings(a, m), rankings(b, m), relevant)
        rows.append(row)
    return pd.DataFrame(rows).set_index("dimensions")


def leads_up_to(better, worse, margin: float) -> int:
    """The longest prefix up to which ``better`` beats ``worse`` by more than ``margin`` at
    every prefix length: the largest m such that better[m'] − worse[m'] > margin for all m' ≤ m
    (0 if it does not even at the shortest).

    ``better`` and ``worse`` are pandas Series of a quality measure (MRR, say) indexed by
    prefix length, as the columns of :func:`prefix_report`; ``margin`` is what counts as a
    clear difference, e.g. one standard error (:func:`embedlab.contrastive.mrr_standard_error`).
    Book: Chapter 5, "Train it".

    >>> leads_up_to(pd.Series([0.5, 0.5, 0.5], index=[8, 16, 32]), pd.Series([0.1, 0.3, 0.49], index=[8, 16, 32]), 0.05)
    16
    """
    if not better.index.equals(worse.index):
        raise ValueError("better and worse must be indexed by the same prefix lengths")
    lead = 0
    for dim in sorted(better.index):
        if not better[dim] - worse[dim] > margin:
            break
        lead = int(dim)
    return lead


# ----------------------------------------------------------------------------------------
# 3. The whole encoder trained with the Matryoshka loss


def train_encoder(encoder: WordVectorEncoder, pairs, dims=None, *, weights=None, epochs: int = 10,
                  batch_size: int = 64, temperature: float = 0.05, learning_rate: float = 3e-4,
                  seed: int = 0, cache_on_disk: bool = False, progress_bar: bool = True) -> TrainedEncoder:
    """Train a copy of Chapter 4's whole encoder end to end, with the Matryoshka loss over the
    prefix lengths ``dims`` (:func:`matryoshka_loss`, ``weights`` as there) or, with
    ``dims=None``, with plain InfoNCE on the full vector.

    Everything else is :func:`embedlab.sentence_encoder.train_encoder` with in-batch negatives:
    the same shuffled batches of ``batch_size`` (query, positive) pairs (:class:`ICTPair` or
    tuples) each epoch, Adam at ``learning_rate``, PyTorch on one thread; with ``dims=None`` the
    result is that function's, bit for bit. So two runs from the same ``seed`` differ only by the
    loss: Σ_m w_m · InfoNCE(q[:m]/‖q[:m]‖, k[:m]/‖k[:m]‖) against InfoNCE(q/‖q‖, k/‖k‖)
    (Kusupati et al. 2022). ``encoder`` itself is left untrained.

    ``cache_on_disk=True`` keeps the trained weights, the losses and the training time with
    :mod:`embedlab.cache`, under a recipe holding the encoder's starting weights and
    vocabulary, the pairs and every argument above, and PyTorch's version; a second call loads
    them. Book: Chapter 5, "Training the whole encoder".
    """
    pairs = [(p.query, p.passage) if isinstance(p, ICTPair) else tuple(p) for p in pairs]
    if len(pairs) < 2 or batch_size < 2:
        raise ValueError(f"need at least 2 pairs and batch_size >= 2, got {len(pairs)} pairs, batch_size={batch_size}")
    if dims is not None:
        dims = [check_prefix_dim(dim, encoder.dim) for dim in dims]
        if not dims or (weights is not None and len(weights) != len(dims)):
            raise ValueError(f"give at least one prefix length and one weight per prefix length, got dims={dims}, "
                             f"weights={weights}")
    elif weights is not None:
        raise ValueError("weights need dims: give the prefix lengths they weigh")
    arguments = dict(dims=dims, weights=weights, epochs=epochs, batch_size=batch_size, temperature=temperature,
                     learning_rate=learning_rate, seed=seed)
    if not cache_on_disk:
        return _train(encoder, pairs, progress_bar=progress_bar, **arguments)
    start = {name: tensor.numpy() for name, tensor in encoder.state_dict().items()}
    key = ("matryoshka.train_encoder", cache.checksum(start), sorted(encoder.vocabulary.items()),
           hashlib.sha256(repr(pairs).encode()).hexdigest(), sorted(arguments.items()), torch.__version__)

    def train():
        run = _train(encoder, pairs, progress_bar=progress_bar, **arguments)
        return run.encoder, run.losses

    weights, losses, seconds = cached_training("matryoshka-encoder", key, train)
    return TrainedEncoder(load_state_arrays(copy.deepcopy(encoder), weights), losses.tolist(), seconds)


def _train(encoder, pairs, *, dims, weights, epochs, batch_size, temperature, learning_rate, seed,
           progress_bar) -> TrainedEncoder:
    """:func:`train_encoder` without the cache: Chapter 4's loop with the Matryoshka loss."""
    loss = None if dims is None else (lambda q, k: matryoshka_loss(q, k, dims, weights, temperature))
    return sentence_encoder.train_encoder(encoder, pairs, loss=loss, epochs=epochs, batch_size=batch_size,
                                          temperature=temperature, learning_rate=learning_rate, seed=seed,
                                          progress_bar=progress_bar)
