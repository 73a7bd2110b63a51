"""Chunking: cut documents into overlapping windows of tokens that end at sentence ends and never
split a word, so that each window fits the encoder. Book: Chapter 6, "Chunking".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from embedlab import progress
from embedlab.encoders import minilm_tokenizer
from embedlab.text import sentence_ends, word_spans


@dataclass(frozen=True)
class Chunk:
    """A piece of one document: ``text == document.text[start:end]`` (character offsets).

    ``index`` numbers the chunks of a document from 0; ``chunk_id`` is ``"doc_id#index"``.
    """

    doc_id: str
    title: str
    index: int
    start: int
    end: int
    text: str
    source: str = ""

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.index}"


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut. ``max_tokens`` and ``overlap`` count the tokens of ``tokenizer``
    (``"words"``: whitespace-separated words; ``"minilm"``: all-MiniLM-L6-v2's WordPiece tokens)."""

    max_tokens: int = 128
    overlap: int = 16
    tokenizer: str = "minilm"


# Inside a run of text without spaces (Chinese, Japanese), a sentence ends after 。！？!? and any
# closing quotes or brackets.
_RUN_SENTENCE_END = re.compile(r"[。！？!?][”’」』）)\]\"']*")


def _pieces(text: str, spans: np.ndarray, tokenizer, max_tokens: int):
    """What windows are made of: ``(spans, costs, ends)``, the (start, end) character offsets of
    each piece, its tokens and whether a sentence ends with it.

    The pieces are the words ``spans``, with one tokenizer call over the whole text, each token
    counted in the word where it starts; ``tokenizer=None`` counts each word as one token. A word
    of more than ``max_tokens`` tokens (a long URL; a paragraph of Chinese, which has no spaces) is
    cut where the tokenizer's pre-tokenizer cuts it (at each punctuation mark and CJK character, so
    that each part alone has the tokens it has in the word), and a part still too long (a run of
    letters, at most 100 characters before WordPiece calls it one [UNK]) at each character, at
    one token each: a piece of a word has at most as many tokens as characters. So every window
    fits. The pieces of a word are contiguous, so that no character is lost; inside a word,
    :data:`_RUN_SENTENCE_END` ends a sentence.
    """
    ends = sentence_ends(text, spans)
    if tokenizer is None:
        return spans, np.ones(len(spans), dtype=np.int64), ends
    # verbose=False: no warning that the text is longer than the model reads; that is why we cut it.
    encoding = tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
    token_starts = np.array([start for start, _ in encoding["offset_mapping"]], dtype=np.int64)
    owner = np.searchsorted(spans[:, 0], token_starts, side="right") - 1
    costs = np.bincount(owner[owner >= 0], minlength=len(spans))
    if costs.max() <= max_tokens:
        return spans, costs, ends
    pre_words = np.array(encoding.word_ids(), dtype=np.int64)
    pieces, piece_costs, piece_ends = [], [], []
    for word, ((start, end), cost, word_ends) in enumerate(zip(spans.tolist(), costs.tolist(), ends.tolist())):
        if cost <= max_tokens:
            pieces.append((start, end)), piece_costs.append(cost), piece_ends.append(word_ends)
            continue
        tokens = np.arange(*np.searchsorted(owner, [word, word + 1]))  # owner is sorted
        groups = np.split(tokens, np.flatnonzero(np.diff(pre_words[tokens])) + 1)
        bounds = [start] + [int(token_starts[group[0]]) for group in groups[1:]] + [end]
        cuts, group_costs = [start], []
        for group, group_end in zip(groups, bounds[1:]):
            if len(group) <= max_tokens:
                cuts.append(group_end), group_costs.append(len(group))
            else:
                group_costs += [1] * (group_end - cuts[-1])
                cuts += range(cuts[-1] + 1, group_end + 1)
        sentence_stops = {start + match.end() for match in _RUN_SENTENCE_END.finditer(text[start:end])}
        pieces += zip(cuts[:-1], cuts[1:])
        piece_costs += group_costs
        piece_ends += [cut in sentence_stops for cut in cuts[1:-1]] + [word_ends]
    return np.array(pieces, dtype=np.int64), np.array(piece_costs, dtype=np.int64), np.array(piece_ends, dtype=bool)


def _windows(costs: np.ndarray, sentence_ends: np.ndarray, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Word windows ``(first, stop)`` over words of the given token ``costs``.

    Greedy: a window takes as many words as fit in ``max_tokens``, then gives back words to end at
    the last sentence end that keeps it at least half full. The next window starts at most
    ``overlap`` tokens before the end of the previous one: at the first sentence start that
    close (which is where the previous window ended, when it ended at a sentence end: no
    sentence was cut, so none needs repeating), else at the word that gives the longest overlap
    that fits. No word may cost more than ``max_tokens`` (:func:`_pieces` makes sure).
    """
    n = len(costs)
    prefix = np.concatenate([[0], np.cumsum(costs)])  # prefix[j] = tokens in words 0 … j−1
    windows, first = [], 0
    while first < n:
        stop = int(np.searchsorted(prefix, prefix[first] + max_tokens, side="right")) - 1
        if stop < n:
            ends = np.flatnonzero(sentence_ends[first:stop]) + first + 1  # candidate stops after a sentence end
            ends = ends[prefix[ends] - prefix[first] >= max_tokens / 2]
            if len(ends):
                stop = int(ends[-1])
        windows.append((first, stop))
        if stop == n:
            break
        earliest = max(first + 1, int(np.searchsorted(prefix, prefix[stop] - overlap, side="left")))
        starts = [j for j in range(earliest, stop + 1) if sentence_ends[j - 1]]
        first = starts[0] if starts else earliest
        if prefix[stop + 1] - prefix[first] > max_tokens:  # no room for a new word after the overlap
            first = stop
    return windows


def chunk_text(text: str, max_tokens: int = 128, overlap: int = 16, tokenizer=None) -> list[tuple[int, int]]:
    """Cut ``text`` into overlapping windows of at most ``max_tokens`` tokens: ``(start, end)``
    character offsets, in order.

    Words are runs of non-space characters, and a window holds whole words: every character of
    every word is in at least one window, and consecutive windows share at most ``overlap``
    tokens. A window ends at the last sentence end that keeps it at least half full, when there
    is one, and the next then starts right after it; a window that had to cut a sentence is
    followed by one that starts up to ``overlap`` tokens earlier, so that the cut sentence keeps
    some context (at a sentence start, when one is that close). Only a word longer than
    ``max_tokens`` tokens is cut, so that every window fits: a long URL, or Chinese or Japanese,
    written without spaces, cut at its punctuation and characters (after 。！？ when it can be).
    Other text is cut at spaces only.

    ``tokenizer`` counts tokens: ``None`` counts words, a Hugging Face fast tokenizer (such as
    ``load_minilm().tokenizer``) counts the model's tokens, so that a window fits the model: MiniLM
    reads at most 256 tokens and was trained on 128. An empty or blank text has no windows.
    Book: Chapter 6, "Chunking".

    >>> text = "One two three four five six. Seven eight."
    >>> [text[s:e] for s, e in chunk_text(text, max_tokens=4, overlap=1)]
    ['One two three four', 'four five six.', 'Seven eight.']
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= 2 * overlap < max_tokens:
        raise ValueError(f"overlap must be at least 0 and less than half of max_tokens ({max_tokens}), got {overlap}")
    spans = word_spans(text)
    if not len(spans):
        return []
    spans, costs, ends = _pieces(text, spans, tokenizer, max_tokens)
    windows = _windows(costs, ends, max_tokens, overlap)
    return [(int(spans[first, 0]), int(spans[stop - 1, 1])) for first, stop in windows]


def chunking_tokenizer(config: ChunkingConfig):
    """The tokenizer ``config.tokenizer`` names: ``None`` for ``"words"``, MiniLM's for ``"minilm"``
    (read from the files of the installed model package; the model itself is not loaded)."""
    if config.tokenizer == "words":
        return None
    if config.tokenizer == "minilm":
        return minilm_tokenizer()
    raise ValueError(f"unknown chunking tokenizer {config.tokenizer!r}; choose 'words' or 'minilm'")


def token_counts(texts, tokenizer=None) -> list[int]:
    """How many tokens each text holds as :func:`chunk_text` counts them (no [CLS] or [SEP]):
    words (runs of non-space characters) with ``tokenizer=None``, else the tokens of
    ``tokenizer`` (MiniLM's WordPiece, :func:`chunking_tokenizer`). A chunk of ``max_tokens``
    holds at most that many. Book: Chapter 6, "Chunking".

    >>> token_counts(["One two three.", ""])
    [3, 0]
    """
    texts = list(texts)
    if tokenizer is None:
        return [len(text.split()) for text in texts]
    if not texts:
        return []
    encoding = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
    return [len(ids) for ids in encoding["input_ids"]]


def chunk_overlaps(spans) -> list[int]:
    """For each chunk (start, end) of :func:`chunk_text`, how many of its first characters repeat
    the end of the chunk before it: max(0, previous end − start), 0 for the first chunk. What the
    chapter greys out to show the overlap. Book: Chapter 6, "Chunking".

    >>> chunk_overlaps([(0, 10), (7, 20), (20, 25)])
    [0, 3, 0]
    """
    overlaps, previous_end = [], None
    for start, end in spans:
        overlaps.append(0 if previous_end is None else max(0, previous_end - start))
        previous_end = end
    return overlaps


def chunk_documents(documents, config: ChunkingConfig = ChunkingConfig(), show_progress: bool = False) -> list[Chunk]:
    """The chunks of every document, in order (:func:`chunk_text`); empty documents give none."""
    tokenizer = chunking_tokenizer(config)
    chunks = []
    for document in progress.bar(documents, "chunking", " documents", enabled=show_progress):
        for index, (start, end) in enumerate(chunk_text(document.text, config.max_tokens, config.overlap, tokenizer)):
            chunks.append(Chunk(document.doc_id, document.title, index, start, end, document.text[start:end],
                                document.source))
    return chunks
