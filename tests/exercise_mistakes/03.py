"""Plausible wrong answers to Chapter 3's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "3.1": [
        # the (word, score) pair that solve returns instead of the word
        'answer_1 = analogy.solve(glove, "athens", "greece", "tokyo")[0]',
        # a and b swapped: greece → athens, tokyo → ? asks for a capital
        'answer_1 = analogy.solve(glove, "greece", "athens", "tokyo")[0][0]',
        # the nationality instead of the country: the runner-up
        'answer_1 = analogy.solve(glove, "athens", "greece", "tokyo", topn=2)[1][0]',
    ],
    "3.2": [
        # the accuracy over the whole benchmark, not the one section asked for
        "answer_2 = analogy.evaluate_analogies(glove, questions).accuracy",
        # coverage (questions answered) instead of accuracy
        "answer_2 = analogy.evaluate_analogies(glove, questions).coverage",
        # 3CosMul instead of 3CosAdd
        'answer_2 = analogy.evaluate_analogies(glove, questions, method="3cosmul").table()["accuracy"]["capital-common-countries"]',
        # the inputs left in the answers: c (the other capital) wins instead of the country
        'answer_2 = analogy.evaluate_analogies(glove, questions, exclude_inputs=False).table()["accuracy"]["capital-common-countries"]',
    ],
    "3.3": [
        # the sign lost: how far it leans, but to the wrong side
        'answer_3 = abs(debiasing.direction_cosines(glove, ["engineer"], debiasing.bias_direction(glove))["engineer"])',
        # a single pair's difference, she − he, taken as the whole direction
        'answer_3 = debiasing.direction_cosines(glove, ["engineer"], glove["she"] - glove["he"])["engineer"]',
        # measured after debiasing, where every occupation is at 0
        'answer_3 = debiasing.direction_cosines(debiasing.hard_debias(glove, debiasing.bias_direction(glove)), '
        '["engineer"], debiasing.bias_direction(glove))["engineer"]',
        # the dot product with the raw vector, not the cosine
        'answer_3 = float(glove["engineer"] @ debiasing.bias_direction(glove))',
    ],
}
