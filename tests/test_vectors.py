"""embedlab.vectors.WordVectors, with gensim's KeyedVectors as the oracle."""

import numpy as np
import pytest
from embedlab.vectors import WordVectors


def test_lookup_and_shape():
    wv = WordVectors(["cat", "dog"], [[1, 0], [0.6, 0.8]])
    assert len(wv) == 2 and wv.dim == 2 and "cat" in wv and "cow" not in wv
    assert wv.vectors.dtype == np.float32
    np.testing.assert_allclose(wv["dog"], [0.6, 0.8])


def test_invalid_construction_is_a_clear_error():
    with pytest.raises(ValueError, match="2 words but 3 vectors"):
        WordVectors(["a", "b"], np.ones((3, 4)))
    with pytest.raises(ValueError, match="words must be unique; repeated: \\['a'\\]"):
        WordVectors(["a", "a"], np.ones((2, 4)))
    with pytest.raises(ValueError, match="must be a 2-D array"):
        WordVectors(["a"], np.ones(4))
    with pytest.raises(ValueError, match="the vector of 'b' holds NaN or infinite values \\(2 of 3 vectors do\\)"):
        WordVectors(["a", "b", "c"], [[1.0, 0.0], [np.nan, 1.0], [np.inf, 0.0]])


def test_a_nan_query_is_an_error_not_the_query_word_itself():
    words = WordVectors(["cat", "dog", "car"], [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    assert words.nearest([1.0, 0.05], k=1) == [("cat", pytest.approx(0.99875, abs=1e-5))]
    # with NaN every comparison is False and argpartition would return some row as "nearest"
    with pytest.raises(ValueError, match="NaN or infinite values"):
        words.nearest([np.nan, 1.0], k=1)


def test_unknown_word_names_close_matches(glove):
    with pytest.raises(KeyError, match="'queeen' is not in the vocabulary.*close matches: .*queen"):
        glove["queeen"]


def test_nearest_matches_gensim_most_similar(glove_small):
    kv = glove_small.to_gensim()
    for word in ["king", "paris", "computer", "happy"]:
        ours = glove_small.nearest(word, k=10)
        theirs = kv.most_similar(word, topn=10)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)


def test_nearest_to_a_vector_and_with_exclusions(glove_small):
    king = glove_small["king"]
    assert glove_small.nearest(king, k=1)[0][0] == "king"
    assert "queen" not in [w for w, _ in glove_small.nearest("king", k=10, exclude=["queen"])]


def test_gensim_round_trip_keeps_words_and_vectors(glove_small):
    back = WordVectors.from_gensim(glove_small.to_gensim())
    assert back.words == glove_small.words
    np.testing.assert_array_equal(back.vectors, glove_small.vectors)


def test_subset_keeps_order():
    wv = WordVectors(["a", "b", "c"], np.eye(3))
    assert wv.subset(["c", "a"]).words == ["c", "a"]
    np.testing.assert_array_equal(wv.subset(["c", "a"]).vectors, np.eye(3)[[2, 0]])


def test_word2vec_text_format_round_trips_through_gensim(tmp_path):
    from gensim.models import KeyedVectors

    wv = WordVectors(["cat", "dog"], [[1.0, 0.5], [0.25, -2.0]])
    wv.save_word2vec_format(tmp_path / "vectors.txt")
    assert (tmp_path / "vectors.txt").read_text().splitlines()[0] == "2 2"
    back = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"))
    assert list(back.index_to_key) == ["cat", "dog"]
    np.testing.assert_allclose(back.vectors, wv.vectors)


def test_vectors_are_stored_row_major_with_gensims_norms(glove_small):
    """GloVe arrives column-major; rows are kept contiguous, so each norm is the sum gensim
    computes over the same row: ``norms`` equals gensim's ``KeyedVectors.norms`` bit for bit."""
    column_major = np.asfortranarray(glove_small.vectors[:5000])
    wv = WordVectors(glove_small.words[:5000], column_major)
    assert wv.vectors.flags["C_CONTIGUOUS"]
    keyed_vectors = wv.to_gensim()
    keyed_vectors.fill_norms()
    np.testing.assert_array_equal(wv.norms, keyed_vectors.norms)
    assert wv.norms.dtype == np.float32


def test_case_insensitive_rows_point_to_the_first_spelling():
    wv = WordVectors(["athens", "rome", "Athens", "ROME", "paris"], np.eye(5))
    assert wv.case_insensitive_rows == {"ATHENS": 0, "ROME": 1, "PARIS": 4}
    assert wv.first_spellings.tolist() == [0, 1, 0, 1, 4]
