"""embedlab.analogy against gensim, scikit-learn, slow explicit loops and hand-worked examples."""

import doctest

import numpy as np
import pytest
from embedlab import analogy, data, debiasing, similarity, word_similarity
from embedlab.vectors import WordVectors
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

NEUTRAL_WORDS = ["nurse", "engineer", "carpenter", "receptionist", "homemaker", "programmer", "doctor", "babysitter"]
EQUALITY_PAIRS = [("woman", "man"), ("girl", "boy"), ("grandmother", "grandfather"), ("queen", "king")]


def toy_vectors():
    """Unit vectors with round coordinates: man and woman on two axes, the royals in between."""
    return WordVectors(
        ["man", "woman", "king", "queen", "prince"],
        [[1, 0, 0], [0, 1, 0], [0.6, 0, 0.8], [0, 0.6, 0.8], [0.8, 0, 0.6]],
    )


def upper(questions):
    """gensim keeps the questions upper-cased."""
    return [tuple(word.upper() for word in q) for q in questions]


def assert_same_as_gensim(ours, gensim_sections):
    ours_sections = [*ours.sections, ours.total]
    assert [s.name for s in ours_sections] == [s["section"] for s in gensim_sections]
    for mine, theirs in zip(ours_sections, gensim_sections):
        assert upper(mine.correct) == theirs["correct"], mine.name
        assert upper(mine.incorrect) == theirs["incorrect"], mine.name


def gensim_analogies(word_vectors, path, restrict_vocab):
    # One BLAS thread: gensim does one small matrix-vector product per question, and on a busy
    # two-core machine waking a second thread for each one made it 7 times slower.
    with threadpool_limits(1):
        return word_vectors.to_gensim().evaluate_word_analogies(str(path), restrict_vocab=restrict_vocab)


# ---------------------------------------------------------------------------------------------
# Solving one analogy


def test_3cosadd_hand_worked_example():
    """q = king − man + woman = (0.6, 0, 0.8) − (1, 0, 0) + (0, 1, 0) = (−0.4, 1, 0.8), ‖q‖ = sqrt(1.8).

    cos(queen, q) = (0·(−0.4) + 0.6·1 + 0.8·0.8) / sqrt(1.8) = 1.24 / sqrt(1.8) = 0.924241
    cos(prince, q) = (−0.32 + 0 + 0.48) / sqrt(1.8) = 0.16 / sqrt(1.8) = 0.119257
    With the inputs allowed: woman 1 / sqrt(1.8) = 0.745356, king 0.4 / sqrt(1.8) = 0.298142, man −0.298142.
    """
    toy = toy_vectors()
    assert analogy.solve(toy, "man", "king", "woman", topn=5) == [("queen", 0.924241), ("prince", 0.119257)]
    everything = analogy.solve(toy, "man", "king", "woman", topn=5, exclude_inputs=False)
    assert [w for w, _ in everything] == ["queen", "woman", "king", "prince", "man"]
    expected = np.array([1.24, 1, 0.4, 0.16, -0.4]) / np.sqrt(1.8)
    np.testing.assert_allclose([s for _, s in everything], expected, atol=1e-6)


def test_3cosadd_ranks_as_the_sum_of_three_cosines():
    """Levy & Goldberg's form, cos(d, b) − cos(d, a) + cos(d, c), is cos(d, b̂ − â + ĉ) times ‖b̂ − â + ĉ‖."""
    toy = toy_vectors()
    cos = similarity.cosine_similarity(toy.vectors, toy.vectors)
    man, woman, king = (toy.index(w) for w in ("man", "woman", "king"))
    objective = cos[:, king] - cos[:, man] + cos[:, woman]
    scores = analogy.analogy_scores(toy, "man", "king", "woman")
    np.testing.assert_allclose(scores * np.sqrt(1.8), objective, atol=1e-6)


def test_king_minus_man_plus_woman_is_queen(glove):
    assert analogy.solve(glove, "man", "king", "woman")[0][0] == "queen"
    assert analogy.solve(glove, "man", "king", "woman", method="3cosmul")[0][0] == "queen"


def test_solve_matches_gensim_most_similar(glove_small):
    keyed_vectors = glove_small.to_gensim()
    for a, b, c in [("man", "king", "woman"), ("france", "paris", "japan"), ("good", "better", "bad")]:
        ours = analogy.solve(glove_small, a, b, c, topn=5)
        theirs = keyed_vectors.most_similar(positive=[b, c], negative=[a], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)


def cosmul_by_hand(word_vectors, a, b, c, topn):
    """3CosMul of Levy & Goldberg (2014), one candidate word at a time, in float64:
    cos′(d, b) · cos′(d, c) / (cos′(d, a) + 0.001) with cos′ = (1 + cos) / 2."""

    def shifted_cos(x, y):
        return (1 + x @ y / (np.linalg.norm(x) * np.linalg.norm(y))) / 2

    va, vb, vc = (word_vectors[w].astype(np.float64) for w in (a, b, c))
    scores = []
    for word, vector in zip(word_vectors.words, word_vectors.vectors.astype(np.float64)):
        if word not in (a, b, c):
            score = shifted_cos(vector, vb) * shifted_cos(vector, vc) / (shifted_cos(vector, va) + 0.001)
            scores.append((word, score))
    return sorted(scores, key=lambda pair: -pair[1])[:topn]


def test_3cosmul_matches_a_slow_loop_over_the_vocabulary(glove_small):
    small = glove_small.subset(glove_small.words[:3000])
    for a, b, c in [("man", "king", "woman"), ("france", "paris", "japan"), ("good", "better", "bad")]:
        ours = analogy.solve(small, a, b, c, topn=5, method="3cosmul")
        expected = cosmul_by_hand(small, a, b, c, topn=5)
        assert [w for w, _ in ours] == [w for w, _ in expected]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in expected], rtol=1e-5)


def test_with_the_inputs_allowed_c_is_often_the_answer(glove_small):
    """The query b̂ − â + ĉ stays near ĉ: without the exclusion, c itself beats the expected word
    in a large share of the Google questions, and accuracy falls."""
    man_king_woman = analogy.solve(glove_small, "man", "king", "woman", topn=2, exclude_inputs=False)
    assert [w for w, _ in man_king_woman] == ["king", "queen"]

    questions = data.google_analogies().iloc[::50]
    questions = questions[questions[["a", "b", "c", "d"]].isin(glove_small.words).all(axis=1)]
    winners = {"input": 0, "expected": 0, "excluded_expected": 0}
    for a, b, c, d in questions[["a", "b", "c", "d"]].itertuples(index=False):
        top = analogy.solve(glove_small, a, b, c, exclude_inputs=False)[0][0]
        winners["input"] += top in (b, c)
        winners["expected"] += top == d
        winners["excluded_expected"] += analogy.solve(glove_small, a, b, c)[0][0] == d
    assert len(questions) > 200
    assert winners["input"] > 0.4 * len(questions)
    assert winners["expected"] < 0.75 * winners["excluded_expected"]


def test_benchmark_with_3cosmul_or_inputs_allowed_equals_solving_each_question(glove_small, tmp_path):
    """The batched 3CosMul and inputs-allowed benchmarks answer each question as solve() does."""
    small = glove_small.subset(glove_small.words[:5000])
    questions = data.google_analogies().iloc[::10]
    questions = questions[questions[["a", "b", "c", "d"]].isin(small.words).all(axis=1)]
    lines = [": sample"] + [" ".join(q) for q in questions[["a", "b", "c", "d"]].itertuples(index=False)]
    path = tmp_path / "sample-questions.txt"
    path.write_text("\n".join(lines) + "\n")
    for method, exclude in [("3cosmul", True), ("3cosadd", False), ("3cosmul", False)]:
        results = analogy.evaluate_analogies(small, path, restrict_vocab=None, method=method, exclude_inputs=exclude)
        expected = [analogy.Question(*q) for q in questions[["a", "b", "c", "d"]].itertuples(index=False)
                    if analogy.solve(small, *q[:3], method=method, exclude_inputs=exclude)[0][0] == q[3]]
        assert results.correct == expected, (method, exclude)
        assert len(results.total.correct) + len(results.total.incorrect) == len(questions) > 200


def test_input_answers_counts_which_word_wins_without_exclusion(glove_small):
    shares = analogy.input_answers(glove_small, data.google_analogies_path(), restrict_vocab=30_000)
    assert list(shares.index) == ["a", "b", "c", "another word"]
    assert shares.sum() == pytest.approx(1.0)
    assert shares["c"] > 0.4  # the query b̂ − â + ĉ stays near ĉ
    with_inputs = analogy.evaluate_analogies(glove_small, data.google_analogies_path(), exclude_inputs=False)
    without = analogy.evaluate_analogies(glove_small, data.google_analogies_path())
    assert with_inputs.accuracy <= shares["another word"] < without.accuracy + shares["c"]


def test_walkthrough_draws_an_exact_parallelogram(glove_small):
    """PCA is affine, so the projected b − a + c is projected b − projected a + projected c."""
    walk = analogy.walkthrough(glove_small, "france", "paris", "italy")
    assert walk.answer == "rome"
    a, b, c, result, answer = walk.points.values()
    np.testing.assert_allclose(result, b - a + c, atol=1e-9)
    assert list(walk.points)[3] == "paris − france + italy"
    assert walk.similarity == analogy.solve(glove_small, "france", "paris", "italy")[0][1]
    assert b[0] >= a[0] and b[1] >= a[1]  # one orientation: b right of and above a


def test_unknown_words_and_options_are_clear_errors(glove_small):
    with pytest.raises(KeyError, match="'kingg' is not in the vocabulary.*close matches: .*king"):
        analogy.solve(glove_small, "man", "kingg", "woman")
    with pytest.raises(ValueError, match="unknown analogy method '3cosdiv'; choose '3cosadd' or '3cosmul'"):
        analogy.solve(glove_small, "man", "king", "woman", method="3cosdiv")
    with pytest.raises(ValueError, match="topn must be at least 1, got 0"):
        analogy.solve(glove_small, "man", "king", "woman", topn=0)


def test_docstring_examples_are_true():
    assert doctest.testmod(analogy).failed == 0


# ---------------------------------------------------------------------------------------------
# The Google analogy benchmark


def test_analogy_benchmark_equals_gensim_at_30k_words(glove):
    """Every section's correct and incorrect questions, and the total, are gensim's, in order.
    At 30,000 words three questions have their best two words closer than 1.2e-5 (the closest
    1.6e-6 apart); those are answered again with gensim's own arithmetic."""
    path = data.google_analogies_path()
    ours = analogy.evaluate_analogies(glove, path, restrict_vocab=30_000)
    gensim_score, gensim_sections = gensim_analogies(glove, path, 30_000)
    assert_same_as_gensim(ours, gensim_sections)
    assert ours.accuracy == gensim_score
    assert upper(ours.correct) == gensim_sections[-1]["correct"]
    answered = len(gensim_sections[-1]["correct"]) + len(gensim_sections[-1]["incorrect"])
    assert ours.n_questions == 19_544 and ours.coverage == answered / 19_544


def test_sections_split_into_semantic_and_syntactic(glove_small):
    results = analogy.evaluate_analogies(glove_small, data.google_analogies_path(), restrict_vocab=10_000)
    assert [s.name for s in results.sections if not s.is_syntactic] == [
        "capital-common-countries", "capital-world", "currency", "city-in-state", "family"]
    assert sum(s.is_syntactic for s in results.sections) == 9
    assert len(results.semantic.correct) + len(results.syntactic.correct) == len(results.correct)
    table = results.table()
    assert table.index[-3:].tolist() == ["Semantic", "Syntactic", "Total accuracy"]
    assert table.loc["Total accuracy", "accuracy"] == results.accuracy
    assert table.loc["family", "answered"] == len(results.sections[4].correct) + len(results.sections[4].incorrect)


def write_questions(tmp_path, lines):
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_other_spellings_of_an_input_word_are_never_the_answer(tmp_path):
    """Words match case-insensitively and the first spelling wins, as in gensim: "King" (row 4)
    is king, so although its vector is the query itself, the answer is queen."""
    toy = toy_vectors()
    query = toy["king"] - toy["man"] + toy["woman"]
    words = WordVectors([*toy.words, "King", "Queen"], np.vstack([toy.vectors, query, -query]))
    path = write_questions(tmp_path, [": royals", "Man KING woman Queen", "man king woman prince"])
    ours = analogy.evaluate_analogies(words, path, restrict_vocab=None)
    assert_same_as_gensim(ours, gensim_analogies(words, path, None)[1])
    assert ours.sections[0].correct == [("Man", "KING", "woman", "Queen")]
    for method in analogy.METHODS:  # the batched path of 3CosMul excludes other spellings too
        results = analogy.evaluate_analogies(words, path, restrict_vocab=None, method=method)
        assert ("Man", "KING", "woman", "Queen") in results.correct, method


def test_questions_outside_the_vocabulary_are_skipped(tmp_path):
    path = write_questions(tmp_path, [": royals", "man king woman queen", "man king girl princess"])
    results = analogy.evaluate_analogies(toy_vectors(), path)
    assert results.coverage == 0.5 and results.n_questions == 2 and results.accuracy == 1.0
    nothing = analogy.evaluate_analogies(toy_vectors(), write_questions(tmp_path, [": kids", "boy girl son daughter"]))
    assert nothing.coverage == 0.0 and nothing.accuracy == 0.0 and nothing.correct == []


@pytest.mark.parametrize("tile_words", [512, 7])
def test_near_ties_are_broken_as_gensim_breaks_them(tmp_path, monkeypatch, tile_words):
    """Near copies of a question's target direction score within about 1e-8 of each other, below
    float32 resolution: which one wins depends only on rounding. Those questions go through
    the careful path, and their answers must still be gensim's. The three twins of a question
    lie 40 rows apart: with tiles of 7 words they fall in different tiles and threads, whose
    best two are merged."""
    monkeypatch.setattr(analogy, "TILE_WORDS", tile_words)
    rng = np.random.default_rng(3)
    base = similarity.normalize(rng.normal(size=(30, 50)))
    words, vectors, lines = [f"w{i}" for i in range(30)], list(base), [": near ties"]
    questions = [rng.choice(30, size=3, replace=False) for _ in range(40)]
    targets = [base[b] - base[a] + base[c] for a, b, c in questions]
    for twin in range(3):
        for question, target in enumerate(targets):
            words.append(f"t{question}_{twin}")
            vectors.append(target + rng.normal(scale=2e-5, size=50) * np.linalg.norm(target))
    lines += [f"w{a} w{b} w{c} t{question}_0" for question, (a, b, c) in enumerate(questions)]
    near_twins = WordVectors(words, np.array(vectors, dtype=np.float32))
    path = write_questions(tmp_path, lines)
    ours = analogy.evaluate_analogies(near_twins, path, restrict_vocab=None)
    assert_same_as_gensim(ours, gensim_analogies(near_twins, path, None)[1])
    assert ours.sections[0].correct and ours.sections[0].incorrect  # rounding, not the data, decided

    # The negative control: one float32 matrix product alone answers some of them differently.
    questions = analogy.read_analogies(path)[0][1]
    rows = np.array([[near_twins.index(word) for word in q] for q in questions])
    unit = near_twins.unit_vectors
    scores = similarity.normalize(unit[rows[:, 1]] - unit[rows[:, 0]] + unit[rows[:, 2]]) @ unit.T
    scores[np.arange(len(rows))[:, None], rows[:, :3]] = -np.inf
    product_alone = [q for q, answer, expected in zip(questions, scores.argmax(axis=1), rows[:, 3]) if answer == expected]
    assert product_alone != ours.sections[0].correct


def test_restrict_vocab_limits_questions_and_answers(glove_small):
    path = data.google_analogies_path()
    few = analogy.evaluate_analogies(glove_small, path, restrict_vocab=2_000)
    assert_same_as_gensim(few, gensim_analogies(glove_small, path, 2_000)[1])
    allowed = {w.upper() for w in glove_small.words[:2_000]}
    assert all(word.upper() in allowed for q in few.correct for word in q)
    assert few.coverage < analogy.evaluate_analogies(glove_small, path, restrict_vocab=None).coverage
    with pytest.raises(ValueError, match="restrict_vocab must be a positive number of words"):
        analogy.evaluate_analogies(glove_small, path, restrict_vocab=0)


def test_malformed_analogy_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(": family\nboy girl brother sister\n\nboy girl brother\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt, line 4: expected 4 words 'a b c expected' or a ': section' header"):
        analogy.read_analogies(bad)
    bad.write_text("boy girl brother sister\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt, line 1: a question before the first ': section' header"):
        analogy.evaluate_analogies(toy_vectors(), bad)
    bad.write_text(":\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt, line 1: a section header needs a name"):
        analogy.read_analogies(bad)


def test_read_analogies_keeps_sections_and_questions_in_file_order():
    sections = analogy.read_analogies(data.google_analogies_path())
    assert len(sections) == 14 and sum(len(questions) for _, questions in sections) == 19_544
    name, questions = sections[0]
    assert name == "capital-common-countries"
    assert questions[0] == analogy.Question("Athens", "Greece", "Baghdad", "Iraq")
    assert questions[0].expected == "Iraq"


# ---------------------------------------------------------------------------------------------
# Word-similarity benchmarks


@pytest.mark.parametrize("path", [data.wordsim353_path(), data.simlex999_path()], ids=["wordsim353", "simlex999"])
@pytest.mark.parametrize("restrict_vocab", [300_000, 20_000])
def test_word_pair_correlations_equal_gensim(glove, path, restrict_vocab):
    ours = word_similarity.evaluate_word_pairs(glove, path, restrict_vocab=restrict_vocab)
    pearson, spearman, oov_percent = glove.to_gensim().evaluate_word_pairs(str(path), restrict_vocab=restrict_vocab)
    assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-12)  # same ranks
    assert ours.pearson == pytest.approx(pearson.statistic, abs=1e-6)  # float32 cosines, summed differently
    assert ours.oov_ratio * 100 == pytest.approx(oov_percent, abs=1e-9)
    assert len(ours.pairs) == round((1 - ours.oov_ratio) * (353 if "wordsim" in path.name else 999))


def test_word_pairs_report_the_cosine_of_each_pair(glove):
    results = word_similarity.evaluate_word_pairs(glove, data.simlex999_path())
    first = results.pairs.iloc[0]
    assert (first["word1"], first["word2"], first["human"]) == ("old", "new", 1.58)
    assert first["model"] == pytest.approx(glove.similarity("old", "new"), abs=1e-6)
    # SimLex scores similarity, not relatedness: old/new are related antonyms, rated 1.58 of 10
    assert results.spearman < word_similarity.evaluate_word_pairs(glove, data.wordsim353_path()).spearman


def test_malformed_word_pair_file_names_file_and_line(tmp_path, glove_small):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("# word1\tword2\tscore\nlove\tsex\t6.77\ntiger\tcat\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs\.tsv, line 3: expected 'word1<TAB>word2<TAB>score'"):
        word_similarity.evaluate_word_pairs(glove_small, bad)
    bad.write_text("love\tsex\tmuch\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs\.tsv, line 1: expected"):
        word_similarity.evaluate_word_pairs(glove_small, bad)
    bad.write_text("zzzqx\tsex\t6.77\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no pair of .*pairs.tsv has both words in the vocabulary"):
        word_similarity.evaluate_word_pairs(glove_small, bad)


# ---------------------------------------------------------------------------------------------
# Bias


def test_gender_direction_is_the_first_principal_component_of_the_centred_pairs(glove):
    """Bolukbasi et al.'s construction, with scikit-learn's PCA as the oracle (up to sign)."""
    rows = []
    for first, second in debiasing.GENDER_PAIRS:
        u1, u2 = glove.unit_vectors[glove.index(first)], glove.unit_vectors[glove.index(second)]
        centre = (u1 + u2) / 2
        rows += [u1 - centre, u2 - centre]
    expected = PCA(n_components=1).fit(np.array(rows, dtype=np.float64)).components_[0]
    direction = debiasing.bias_direction(glove)
    assert np.linalg.norm(direction) == pytest.approx(1.0)
    assert abs(direction @ expected) == pytest.approx(1.0, abs=1e-6)
    projections = debiasing.direction_cosines(glove, ["she", "he", "woman", "man"], direction)
    assert projections["she"] > projections["he"] and projections["woman"] > projections["man"]


def test_occupations_lean_to_one_side_of_the_gender_direction(glove):
    """GloVe-50d: nurse +0.26, receptionist +0.30, engineer −0.30, carpenter −0.18."""
    direction = debiasing.bias_direction(glove)
    projections = debiasing.direction_cosines(glove, ["nurse", "receptionist", "engineer", "carpenter"], direction)
    assert projections["nurse"] > 0.2 and projections["receptionist"] > 0.2
    assert projections["engineer"] < -0.2 and projections["carpenter"] < -0.1
    assert projections["nurse"] == pytest.approx(float(similarity.cosine_similarity(glove["nurse"], direction)))


def small_gender_space(glove):
    words = sorted({*NEUTRAL_WORDS, *(w for pair in EQUALITY_PAIRS for w in pair), "queen", "king", "paris"})
    return glove.subset(words), debiasing.bias_direction(glove)


def test_neutralize_removes_the_direction_from_neutral_words_only(glove):
    words, direction = small_gender_space(glove)
    neutral = debiasing.neutralize(words, direction, NEUTRAL_WORDS)
    after = debiasing.direction_cosines(neutral, NEUTRAL_WORDS, direction)
    np.testing.assert_allclose(list(after.values()), 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(neutral.vectors, axis=1), 1, atol=1e-6)
    assert debiasing.direction_cosines(words, ["nurse"], direction)["nurse"] > 0.2  # the input is unchanged
    for word in ["queen", "paris"]:  # not neutral: same direction as before
        np.testing.assert_allclose(neutral[word], words.unit_vectors[words.index(word)], atol=1e-7)


def test_equalize_makes_each_pair_equidistant_from_neutral_words(glove):
    words, direction = small_gender_space(glove)
    neutral = debiasing.neutralize(words, direction, NEUTRAL_WORDS)
    before = [neutral.similarity("babysitter", "grandmother"), neutral.similarity("babysitter", "grandfather")]
    assert before[0] - before[1] > 0.05  # the negative control: unequal before equalising
    equal = debiasing.equalize(neutral, direction, EQUALITY_PAIRS)
    for first, second in EQUALITY_PAIRS:
        for word in NEUTRAL_WORDS:
            assert equal.similarity(word, first) == pytest.approx(equal.similarity(word, second), abs=1e-6)
        sides = debiasing.direction_cosines(equal, [first, second], direction)
        assert sides[first] == pytest.approx(-sides[second], abs=1e-6) and sides[first] > 0
    np.testing.assert_allclose(np.linalg.norm(equal.vectors, axis=1), 1, atol=1e-6)


def test_bias_inputs_are_checked(glove_small):
    with pytest.raises(ValueError, match="direction must be one vector of 50 numbers, got shape \\(3,\\)"):
        debiasing.direction_cosines(glove_small, ["nurse"], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="need at least one word pair"):
        debiasing.bias_direction(glove_small, pairs=[])
    with pytest.raises(KeyError, match="'gal' is not in the vocabulary"):
        debiasing.bias_direction(glove_small)  # "gal" is rarer than the 20,000th word


def test_hard_debias_neutralizes_occupations_and_keeps_gendered_words(glove):
    direction = debiasing.bias_direction(glove)
    debiased = debiasing.hard_debias(glove, direction)
    after = debiasing.direction_cosines(debiased, ["nurse", "engineer", "babysitter", "she", "queen"], direction)
    assert max(abs(after[w]) for w in ["nurse", "engineer", "babysitter"]) < 1e-6
    assert after["she"] > 0.2 and after["queen"] > 0.05  # gender-specific words keep their side
    assert debiased.similarity("babysitter", "grandmother") == pytest.approx(
        debiased.similarity("babysitter", "grandfather"), abs=1e-6)
    assert debiased.similarity("cup", "coffee") == pytest.approx(glove.similarity("cup", "coffee"), abs=0.01)  # changes little


def test_benchmark_table_holds_gensims_scores_for_each_model(glove_small):
    """One row per model: every section's accuracy, semantic, syntactic, total and coverage are
    gensim's evaluate_word_analogies', and each ρ is gensim's evaluate_word_pairs'."""
    path = data.google_analogies_path()
    shuffled = WordVectors(glove_small.words, np.random.default_rng(0).permutation(glove_small.vectors))
    pair_sets = {"WordSim-353 ρ": data.wordsim353_path(), "SimLex-999 ρ": data.simlex999_path()}
    table = analogy.benchmark_table({"GloVe": glove_small, "shuffled": shuffled}, path, pair_sets, restrict_vocab=10_000)
    assert table.index.tolist() == ["GloVe", "shuffled"]
    for name, word_vectors in [("GloVe", glove_small), ("shuffled", shuffled)]:
        total, sections = gensim_analogies(word_vectors, path, 10_000)
        row = table.loc[name]
        for section in sections[:-1]:
            answered = len(section["correct"]) + len(section["incorrect"])
            assert row[section["section"]] == pytest.approx(len(section["correct"]) / answered if answered else 0.0)
        assert row["all"] == pytest.approx(total)
        semantic = [s for s in sections[:-1] if not s["section"].startswith("gram")]
        assert row["semantic"] == pytest.approx(sum(len(s["correct"]) for s in semantic)
                                                / sum(len(s["correct"]) + len(s["incorrect"]) for s in semantic))
        answered = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
        assert row["answered"] == pytest.approx(answered / 19_544)
        for column, pair_path in pair_sets.items():
            spearman = word_vectors.to_gensim().evaluate_word_pairs(str(pair_path))[1].statistic
            assert row[column] == pytest.approx(spearman, abs=1e-12)
    assert table.loc["GloVe", "all"] > 0.3 > table.loc["shuffled", "all"]  # the negative control
    cosmul = analogy.benchmark_table({"GloVe": glove_small}, path, pair_sets, method="3cosmul", restrict_vocab=10_000)
    assert cosmul.loc["GloVe", "all"] == analogy.evaluate_analogies(glove_small, path, 10_000, "3cosmul").accuracy


def test_tiles_narrow_to_keep_their_cosines_in_cache():
    # 2**19 cosines: 904 input words (the Google file at 300k) fit 579 words, so a full tile of 512;
    # 2,000 fit 262; a million would fit none, and the tile keeps 16 words
    assert [analogy.tile_width(n) for n in (904, 2_000, 10**6, 0)] == [512, 262, 16, 512]


@pytest.mark.parametrize("tile_words, tile_cosines", [(5, 2**19), (333, 2**19), (512, 1)])
def test_tiled_search_gives_gensims_answers_across_tile_edges(glove_small, monkeypatch, tile_words, tile_cosines):
    """The scores are reduced one small tile at a time, split between threads: with tiles of a
    few words, the best and runner-up of a question fall in different tiles and threads, the
    inputs a, b, c sit on tile edges, and the last tile is short; with room for few cosines,
    the tiles are the narrowest (16 words). Every answer must still be gensim's."""
    monkeypatch.setattr(analogy, "TILE_WORDS", tile_words)
    monkeypatch.setattr(analogy, "TILE_COSINES", tile_cosines)
    path = data.google_analogies_path()
    ours = analogy.evaluate_analogies(glove_small, path, restrict_vocab=2_000)
    assert_same_as_gensim(ours, gensim_analogies(glove_small, path, 2_000)[1])


def test_a_tile_folds_into_each_questions_best_two_worked_by_hand():
    """Vocabulary rows 10-13 against the input words of rows 12, 20, 21 and 30; a row r scores
    (cos(r, b) + cos(r, c)) − cos(r, a). Question 0 (20:21 :: 12:?) has input 12 inside the tile:
    its highest score (1.0, at row 12) is no answer, and rows 10 and 11 tie at 0.5, so the first
    is the best and the tie is seen. Question 1 (12:20 :: 21:?) beats its earlier best 0.8 once.
    Questions 2 and 3 (30:20 :: 21:?): the tile's highest, 1.25, only equals question 2's
    runner-up (nothing changes) and beats question 3's best."""
    cosines = np.array([[0.25, 0.5, 1.0, 0.0],     # row 12 with rows 10, 11, 12, 13
                        [0.5, 0.25, 0.5, 0.75],    # row 20
                        [0.75, 0.25, 0.5, 0.0],    # row 21
                        [0.0, 0.5, 0.25, 0.25]],   # row 30
                       dtype=np.float32)
    inputs = np.array([[20, 21, 12], [12, 20, 21], [30, 20, 21], [30, 20, 21]])
    slots = np.array([[1, 2, 0], [0, 1, 2], [3, 1, 2], [3, 1, 2]])  # the rows of a, b, c in cosines
    best = np.array([-np.inf, 0.8, 1.5, 0.9], dtype=np.float32)
    runner_up = np.array([-np.inf, 0.7, 1.25, 0.6], dtype=np.float32)
    best_row = np.array([0, 5, 7, 3])
    analogy._fold_tile(cosines, 10, slots, inputs, best, runner_up, best_row)
    assert best_row.tolist() == [10, 10, 7, 10]
    np.testing.assert_array_equal(best, np.array([0.5, 1.0, 1.5, 1.25], dtype=np.float32))
    np.testing.assert_array_equal(runner_up, np.array([0.5, 0.8, 1.25, 0.9], dtype=np.float32))
