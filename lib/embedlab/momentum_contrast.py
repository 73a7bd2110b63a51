"""Chapter 4, "In-batch negatives and MoCo's queue": momentum contrast (He et al. 2020).

With in-batch negatives (SimCLR, Chen et al. 2020; this chapter's :func:`embedlab.contrastive.info_nce`)
a query's negatives are the other keys of its own batch, all encoded a moment ago by the model
being trained: B − 1 of them. MoCo keeps a **queue** of keys from past batches instead, so the
number of negatives (the queue's length K) no longer depends on the batch size. Those keys were
encoded up to K / B steps ago; to keep them comparable with today's, MoCo encodes keys with a
second, **momentum encoder** whose weights trail the query encoder's,

    θ_k ← m θ_k + (1 − m) θ_q,

and only the query encoder gets gradients. The loss of a query q with its positive key k₊ and
the queued keys k_1 … k_K (He et al. 2020, eq. 1), s the cosine similarity and τ the temperature:

    L_q = −log( exp(s(q, k₊)/τ) / (exp(s(q, k₊)/τ) + Σ_i exp(s(q, k_i)/τ)) ).

This module trains the chapter's small encoder that way and records what each query's
negatives were: how many, how many steps old, how far a stored key has drifted from what the
current key encoder would give for the same passage, and how often a query meets an older key of
its own positive among them (a queue longer than an epoch holds every passage).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from embedlab import progress
from embedlab.training import check_temperature, gradient_step, one_thread, pad_token_ids, shuffled_batches


def moco_loss(queries, positive_keys, queue_keys, temperature: float = 0.05) -> torch.Tensor:
    """He et al.'s eq. 1, averaged over the batch: each query (B, d) against its own key (B, d)
    and every queued key (K, d), all compared by cosine similarity. The keys take no gradient.

    With no queued key the loss is 0: the positive is the only candidate.
    """
    check_temperature(temperature)
    if queries.shape != positive_keys.shape:
        raise ValueError(f"queries {tuple(queries.shape)} and positive_keys {tuple(positive_keys.shape)} must have "
                         "the same shape (B, d): positive_keys[i] is the positive of queries[i]")
    queries = F.normalize(queries, dim=-1)
    positive = (queries * F.normalize(positive_keys.detach(), dim=-1)).sum(-1, keepdim=True)  # (B, 1)
    negatives = queries @ F.normalize(queue_keys.detach(), dim=-1).T  # (B, K)
    logits = torch.cat([positive, negatives], dim=1) / temperature  # (B, 1 + K)
    return F.cross_entropy(logits, torch.zeros(len(queries), dtype=torch.long))  # the positive is column 0


@torch.no_grad()
def momentum_update(key_encoder: torch.nn.Module, query_encoder: torch.nn.Module, momentum: float) -> None:
    """θ_k ← m θ_k + (1 − m) θ_q for every parameter (He et al. 2020, eq. 2)."""
    for key_parameter, query_parameter in zip(key_encoder.parameters(), query_encoder.parameters()):
        key_parameter.mul_(momentum).add_(query_parameter, alpha=1 - momentum)


class KeyQueue:
    """First in, first out: the newest keys join at the end, the oldest leave once there are
    more than ``size``. Each key remembers the step that encoded it and which passage it is."""

    def __init__(self, size: int, dim: int):
        if size < 1:
            raise ValueError(f"the queue must hold at least one key, got size={size}")
        self.size = size
        self.keys = torch.zeros(0, dim)
        self.steps = np.zeros(0, dtype=np.int64)
        self.passages = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def push(self, keys: torch.Tensor, step: int, passages) -> None:
        self.keys = torch.cat([self.keys, keys.detach()])[-self.size:]
        self.steps = np.concatenate([self.steps, np.full(len(keys), step)])[-self.size:]
        self.passages = np.concatenate([self.passages, np.asarray(passages, dtype=np.int64)])[-self.size:]


@dataclass(frozen=True)
class QueueRun:
    """What :func:`train_with_queue` returns: the trained query encoder, its history, and what
    the negatives of each step were."""

    encoder: torch.nn.Module  # the query encoder, the one that is used afterwards
    losses: list  # the loss of every batch, in order
    negatives_per_query: list  # the queue's length at every step
    oldest_negative_age: list  # in steps, at every step (0 while the queue is empty)
    own_positive_queued: list  # at every step, how many queries find an older key of their own positive among the negatives
    final_key_drift: np.ndarray  # (K,): cosine of each queued key, at the end, to its passage re-encoded by the final key encoder
    final_key_age: np.ndarray  # (K,): the age of those keys, in steps
    seconds: float
    batch_size: int  # queries per step (every batch is full: shuffled_batches leaves the remainder out)

    @property
    def own_positive_share(self) -> float:
        """The share of all queries trained on that met an older key of their own positive among
        the negatives: sum of ``own_positive_queued`` over steps × ``batch_size``."""
        return sum(self.own_positive_queued) / (len(self.losses) * self.batch_size)

    @property
    def oldest_key_drift(self) -> float:
        """The mean cosine, at the end, of the oldest queued keys to their passages re-encoded by
        the final key encoder: how stale the stalest negatives are."""
        return float(self.final_key_drift[self.final_key_age == self.final_key_age.max()].mean())


def train_with_queue(encoder: torch.nn.Module, pairs, *, queue_size: int = 1024, momentum: float = 0.99,
                     epochs: int = 10, batch_size: int = 64, temperature: float = 0.05,
                     learning_rate: float = 3e-4, seed: int = 0, progress_bar: bool = True) -> QueueRun:
    """Train a copy of ``encoder`` on (query, positive) pairs with MoCo: :func:`moco_loss` against
    a :class:`KeyQueue` of ``queue_size`` keys from earlier batches, encoded by a momentum copy of
    the encoder (:func:`momentum_update`); Adam on the query encoder.

    ``encoder`` is a module with ``token_ids(texts)`` and a forward pass over padded ids, such as
    :class:`embedlab.sentence_encoder.WordVectorEncoder`; ``pairs`` are (query, positive) tuples or
    objects with ``query`` and ``passage``. Batches are shuffled with ``seed`` as in
    :func:`embedlab.sentence_encoder.train_encoder`, so the two see the same batches. Each step
    uses the queue as it stands, then pushes the batch's keys. The queue starts empty (the first
    step has no negative and a loss of 0); He et al. fill it with random vectors instead, which
    carry no passage to measure drift against. He et al. use K = 65,536 and m = 0.999 over
    hundreds of thousands of steps; a run of a few hundred steps needs a faster-moving key
    encoder (m = 0.99 trails by about 100 steps). Deterministic (one thread). Returns
    :class:`QueueRun`. Book: Chapter 4, "In-batch negatives and MoCo's queue".
    """
    check_temperature(temperature)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    pairs = [(p.query, p.passage) if hasattr(p, "passage") else tuple(p) for p in pairs]
    if len(pairs) < 2 or batch_size < 2:
        raise ValueError(f"need at least 2 pairs and batch_size >= 2, got {len(pairs)} pairs, batch_size={batch_size}")
    query_encoder = copy.deepcopy(encoder)
    key_encoder = copy.deepcopy(encoder)
    for parameter in key_encoder.parameters():
        parameter.requires_grad_(False)
    query_ids = query_encoder.token_ids([query for query, _ in pairs])
    positive_ids = query_encoder.token_ids([positive for _, positive in pairs])
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam([p for p in query_encoder.parameters() if p.requires_grad], lr=learning_rate)
    batches = list(shuffled_batches(len(pairs), batch_size, epochs, rng))
    queue = KeyQueue(queue_size, query_encoder.dim)
    losses, negatives, oldest, own_positive = [], [], [], []
    started = time.perf_counter()
    with one_thread(), progress.bar(description="training with a queue", unit=" batches", total=len(batches),
                                     enabled=progress_bar) as bar:
        for step, batch in enumerate(batches):
            with torch.no_grad():
                keys = key_encoder(pad_token_ids([positive_ids[i] for i in batch]))  # (B, d)
            negatives.append(len(queue))
            oldest.append(int(step - queue.steps.min()) if len(queue) else 0)
            own_positive.append(int(np.isin(batch, queue.passages).sum()))
            loss = moco_loss(query_encoder(pad_token_ids([query_ids[i] for i in batch])), keys, queue.keys, temperature)
            gradient_step(optimizer, loss, losses, bar)
            momentum_update(key_encoder, query_encoder, momentum)
            queue.push(keys, step, batch)
        with torch.no_grad():
            now = key_encoder(pad_token_ids([positive_ids[i] for i in queue.passages]))
    drift = F.cosine_similarity(queue.keys, now, dim=-1).numpy()
    return QueueRun(query_encoder, losses, negatives, oldest, own_positive, drift, len(batches) - queue.steps,
                    time.perf_counter() - started, len(batches[0]))
