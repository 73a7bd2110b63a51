"""Chapter 4, "Training a sentence encoder, without labels": a small sentence encoder (GloVe
vectors pooled with learned weights, then a linear map), the averaged-word-vector baseline it
must beat, and its InfoNCE training loop with in-batch and mined hard negatives.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from embedlab import progress
from embedlab.contrastive import info_nce
from embedlab.inverse_cloze import ICTPair
from embedlab.text import tokenize
from embedlab.training import check_temperature, gradient_step, one_thread, pad_token_ids, shuffled_batches


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
        """Each text as the vocabulary rows of its words (:func:`~embedlab.text.tokenize`);
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
    with torch.no_grad(), one_thread():
        parts = [F.normalize(encoder(pad_token_ids(token_ids[i : i + batch_size])), dim=-1)
                 for i in range(0, len(texts), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, encoder.dim), dtype=np.float32)


def mean_word_vectors(word_vectors, texts) -> np.ndarray:
    """The baseline: the mean of the word vectors of each text's words, scaled to length 1 (n, d).

    Words as :func:`~embedlab.text.tokenize` finds them; unknown words are skipped, and a
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


def train_encoder(encoder: WordVectorEncoder, pairs, *, hard_negatives=None, loss=None, epochs: int = 10,
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

    ``loss(q, k)``, given the batch's query and positive embeddings (B, d) each, replaces
    InfoNCE (:func:`embedlab.matryoshka.train_encoder` passes the Matryoshka loss); it takes no
    hard negatives.

    Deterministic: the same arguments give the same model, bit for bit, on any machine (PyTorch
    runs on one thread here, see :func:`one_thread`). Returns :class:`TrainedEncoder`.
    Book: Chapter 4, "Training a sentence encoder, without labels".
    """
    check_temperature(temperature)
    pairs = [(p.query, p.passage) if isinstance(p, ICTPair) else tuple(p) for p in pairs]
    if len(pairs) < 2 or batch_size < 2:
        raise ValueError(f"need at least 2 pairs and batch_size >= 2, got {len(pairs)} pairs, batch_size={batch_size}")
    if hard_negatives is not None and len(hard_negatives) != len(pairs):
        raise ValueError(f"hard_negatives has {len(hard_negatives)} entries for {len(pairs)} pairs: give one per pair")
    if hard_negatives is not None and loss is not None:
        raise ValueError("hard negatives go with InfoNCE: give either hard_negatives or loss, not both")
    encoder = copy.deepcopy(encoder)
    query_ids = encoder.token_ids([query for query, _ in pairs])
    positive_ids = encoder.token_ids([positive for _, positive in pairs])
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=learning_rate)
    batches = list(shuffled_batches(len(pairs), batch_size, epochs, rng))
    losses = []
    started = time.perf_counter()
    with one_thread(), progress.bar(description="training the encoder", unit=" batches", total=len(batches),
                                     enabled=progress_bar) as bar:
        for batch in batches:
            negatives = None
            if hard_negatives is not None:
                chosen = _hard_negative_choice(batch, hard_negatives, len(pairs), rng)
                negatives = encoder(pad_token_ids([positive_ids[i] for i in chosen]))  # (B, d)
            q = encoder(pad_token_ids([query_ids[i] for i in batch]))  # (B, d)
            k = encoder(pad_token_ids([positive_ids[i] for i in batch]))  # (B, d)
            value = info_nce(q, k, temperature, hard_negatives=negatives) if loss is None else loss(q, k)
            gradient_step(optimizer, value, losses, bar)
    return TrainedEncoder(encoder, losses, time.perf_counter() - started)
