"""Training and test pairs from plain text, without labels: the inverse cloze task (Lee et al.
2019, ORQA). A sentence taken out of a passage is the query, the passage around it the
positive. Chapter 4 trains an encoder on it; Chapters 4–6 measure retrieval with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

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


@dataclass(frozen=True)
class Experiment:
    """The inverse-cloze experiment Chapters 4–6 share: training pairs from some articles, and a
    retrieval test on the articles held out (:func:`book_experiment`)."""

    train_articles: list
    heldout_articles: list
    pairs: list  # ICTPair objects from the training articles
    test: RetrievalSet  # from the held-out articles


def book_experiment(articles, heldout_fraction: float = 0.2, passages_per_article: int = 12,
                    passage_words: int = 60, seed: int = 0) -> Experiment:
    """The book's one inverse-cloze set-up: hold out ``heldout_fraction`` of the articles
    (:func:`split_articles`), take up to ``passages_per_article`` passages of about
    ``passage_words`` words from each, train on pairs from the rest (:func:`inverse_cloze_pairs`)
    and test on the held-out ones (:func:`ict_retrieval_set`), every choice seeded by ``seed``.
    The defaults are the chapters'. Book: Chapter 4, "A held-out test"; Chapters 5 and 6 reuse it.
    """
    train_articles, heldout_articles = split_articles(articles, heldout_fraction, seed=seed)
    pairs = inverse_cloze_pairs(train_articles, passage_words, max_passages_per_article=passages_per_article,
                                seed=seed)
    test = ict_retrieval_set(heldout_articles, passage_words, max_passages_per_article=passages_per_article,
                             seed=seed)
    return Experiment(train_articles, heldout_articles, pairs, test)
