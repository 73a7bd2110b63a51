"""Adapting all-MiniLM-L6-v2 to the corpus it searches, without labels: training pairs made from
the chunks themselves (the inverse cloze task), hard negatives mined from the same article, and
Chapter 4's InfoNCE loss, in the book's own training loop. The adapted weights and the corpus's
embeddings are cached on disk with a checksum (:mod:`embedlab.cache`), so a chapter only loads
them. Book: Chapter 6, "Adapting the encoder to the corpus".
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from embedlab import cache, progress
from embedlab.bm25 import BM25Index
from embedlab.contrastive import info_nce
from embedlab.encoders import best_device, load_minilm, minilm_version
from embedlab.rag.dense import embedding_input
from embedlab.text import sentences
from embedlab.training import cached_training, gradient_step, load_state_arrays, one_thread, shuffled_batches


@dataclass(frozen=True)
class CorpusPair:
    """One training example made from the corpus: ``query`` is a sentence of chunk ``positive``,
    ``positive_text`` what the encoder reads for that chunk (title, then text; usually without
    the sentence), and ``negatives`` the keys of other chunks of the same article."""

    query: str
    positive: int
    positive_text: str
    negatives: tuple


def corpus_pairs(chunks, n_pairs: int, hard_negatives: int = 1, min_words: int = 8, remove_probability: float = 0.9,
                 seed: int = 0) -> list[CorpusPair]:
    """``n_pairs`` inverse-cloze pairs (Lee et al. 2019) from a seeded sample of ``chunks``, each
    with ``hard_negatives`` chunks of the same article.

    A sentence of at least ``min_words`` words is drawn from each sampled chunk and becomes the
    query; the positive is the chunk (as :func:`~embedlab.rag.dense.embedding_input` shows it to
    the encoder, title first), the sentence taken out with probability ``remove_probability`` so
    that the model must match a sentence to its context rather than to itself. The negatives are
    the chunks of the *same article* that BM25 ranks highest for the query, leaving out every
    chunk that holds the sentence (the overlap of neighbouring chunks): the article's subject is
    in all of them, so only what the sentence says tells them apart, the mistake a search makes
    inside a long article. Chunks whose article has too few other chunks are not sampled.
    """
    if n_pairs < 1 or hard_negatives < 1:
        raise ValueError(f"n_pairs and hard_negatives must be at least 1, got {n_pairs} and {hard_negatives}")
    chunks = list(chunks)
    by_article: dict[str, list[int]] = {}
    for key, chunk in enumerate(chunks):
        by_article.setdefault(chunk.doc_id, []).append(key)
    rng = np.random.default_rng(seed)
    candidates = [key for key, chunk in enumerate(chunks) if len(by_article[chunk.doc_id]) > hard_negatives + 2]
    if not candidates:
        raise ValueError(f"no article has more than {hard_negatives + 2} chunks: nothing to mine negatives from")
    bm25 = BM25Index([embedding_input(chunk) for chunk in chunks])
    pairs = []
    for key in rng.permutation(candidates):
        if len(pairs) == n_pairs:
            break
        chunk = chunks[int(key)]
        long_enough = [s for s in sentences(chunk.text) if len(s.split()) >= min_words]
        if not long_enough:
            continue
        query = long_enough[int(rng.integers(len(long_enough)))]
        text = chunk.text.replace(query, " ").strip() if rng.random() < remove_probability else chunk.text
        others = [k for k in by_article[chunk.doc_id] if k != key and query not in chunks[k].text]
        if len(others) < hard_negatives:
            continue
        scores = bm25.scores(query)[others]
        order = np.lexsort((np.arange(len(others)), -scores))[:hard_negatives]
        pairs.append(CorpusPair(query, int(key), f"{chunk.title}\n{text}", tuple(others[i] for i in order)))
    if len(pairs) < n_pairs:
        raise ValueError(f"the chunks give only {len(pairs)} pairs, {n_pairs} asked: ask for fewer")
    return pairs


@dataclass(frozen=True)
class AdaptationConfig:
    """Everything that changes the adapted weights (the cache key holds all of it)."""

    pairs: int = 512
    hard_negatives: int = 1
    batch_size: int = 32
    epochs: int = 1
    learning_rate: float = 2e-5
    temperature: float = 0.05
    max_seq_length: int = 160
    seed: int = 0


@dataclass
class AdaptedModel:
    """A trained model (``model``), the checksum of its weights (what its embeddings are cached
    under), the loss of each training step, and the seconds training took (0 when loaded)."""

    model: object
    checksum: str
    losses: np.ndarray
    seconds: float


def corpus_fingerprint(chunks) -> str:
    """SHA-256 of what the encoder reads for every chunk, in order: a changed corpus or chunking
    trains anew."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(embedding_input(chunk).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def software_versions() -> tuple:
    """The versions that change trained weights: MiniLM's package, PyTorch, sentence-transformers, transformers."""
    import sentence_transformers
    import torch
    import transformers

    return minilm_version(), torch.__version__, sentence_transformers.__version__, transformers.__version__


def _sentence_vectors(model, texts, device):
    from sentence_transformers.util import batch_to_device

    return model(batch_to_device(model.preprocess(list(texts)), device))["sentence_embedding"]


def train_encoder(chunks, config: AdaptationConfig = AdaptationConfig(), device: str | None = None,
                  show_progress: bool = False) -> tuple[object, np.ndarray]:
    """Fine-tune a copy of all-MiniLM-L6-v2 on :func:`corpus_pairs` of ``chunks`` with InfoNCE
    (:func:`~embedlab.contrastive.info_nce`, Chapter 4): each query sentence must pick out its
    own chunk among the batch's chunks and every pair's same-article hard negatives,

        L = −(1/B) Σ_i log( exp(s(q_i, p_i)/τ) / Σ_c exp(s(q_i, c)/τ) ),

    s the cosine of the mean-pooled embeddings, AdamW, seeded (``config.seed`` fixes the pairs,
    the batches and dropout). Returns (model in eval mode, loss per step). On CPU it runs on one
    thread (:func:`~embedlab.training.one_thread`: faster on a busy machine, and the same result on any); a GPU, when present, is used. Book: Chapter 6, "Adapting the encoder to the corpus".
    """
    import torch

    device = device or best_device()
    pairs = corpus_pairs(chunks, config.pairs, config.hard_negatives, seed=config.seed)
    texts = [embedding_input(chunk) for chunk in chunks]
    torch.manual_seed(config.seed)
    model = copy.deepcopy(load_minilm(device))
    model.max_seq_length = config.max_seq_length
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    losses: list[float] = []
    rng = np.random.default_rng(config.seed)
    steps = config.epochs * (len(pairs) // min(config.batch_size, len(pairs)))
    with one_thread(), progress.bar(total=steps, description="adapting MiniLM", unit=" steps",
                                        enabled=show_progress) as bar:
        for batch in shuffled_batches(len(pairs), config.batch_size, config.epochs, rng):
            chosen = [pairs[i] for i in batch]
            queries = _sentence_vectors(model, [p.query for p in chosen], device)
            positives = _sentence_vectors(model, [p.positive_text for p in chosen], device)
            negatives = _sentence_vectors(model, [texts[k] for p in chosen for k in p.negatives], device)
            negatives = negatives.reshape(len(chosen), config.hard_negatives, -1)
            gradient_step(optimizer, info_nce(queries, positives, config.temperature, negatives), losses, bar)
    return model.eval(), np.array(losses, dtype=np.float32)


def adapted_minilm(chunks, config: AdaptationConfig = AdaptationConfig(), device: str | None = None,
                   show_progress: bool = False) -> AdaptedModel:
    """:func:`train_encoder`, cached: the weights, the losses and the training time are saved in
    the cache folder under a recipe holding the corpus (:func:`corpus_fingerprint`), the config,
    the device and :func:`software_versions`, with a SHA-256 checksum; a later call loads them
    (a damaged file is detected by its checksum and trained again, with one line saying so)."""
    device = device or best_device()
    key = ("adapted-minilm", corpus_fingerprint(chunks), asdict(config), device, software_versions())
    weights, losses, seconds = cached_training("minilm-adapted", key,
                                               lambda: train_encoder(chunks, config, device, show_progress))
    model = load_state_arrays(copy.deepcopy(load_minilm(device)), weights)
    model.max_seq_length = load_minilm(device).max_seq_length  # read chunks as the base model does
    return AdaptedModel(model, cache.checksum(weights), losses, seconds)
