"""Plausible wrong answers to Chapter 4's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "4.1": [
        # the temperature multiplied instead of divided
        "answer_1 = -np.log(np.exp(0.8 * 0.1) / (np.exp(0.8 * 0.1) + np.exp(0.5 * 0.1) + np.exp(0.1 * 0.1)))",
        # no temperature at all (τ = 1)
        "answer_1 = -np.log(np.exp(0.8) / (np.exp(0.8) + np.exp(0.5) + np.exp(0.1)))",
        # the library's default temperature, 0.05, instead of the question's 0.1
        "answer_1 = contrastive.similarity_gradients(0.8, [0.5, 0.1]).loss",
        # log base 10
        "answer_1 = -np.log10(np.exp(8) / (np.exp(8) + np.exp(5) + np.exp(1)))",
        # the positive left out of the denominator (only the negatives counted)
        "answer_1 = -np.log(np.exp(8) / (np.exp(5) + np.exp(1)))",
        # the minus sign forgotten: log p₊ instead of −log p₊
        "answer_1 = np.log(np.exp(8) / (np.exp(8) + np.exp(5) + np.exp(1)))",
    ],
    "4.2": [
        # the sign of the pull on the positive given to the negative
        "answer_2 = -contrastive.similarity_gradients(0.8, [0.5, 0.1], 0.1).gradients[1]",
        # the probability p, forgetting to divide by τ
        "answer_2 = contrastive.similarity_gradients(0.8, [0.5, 0.1], 0.1).probabilities[1]",
        # index 0 is the positive, not the first negative
        "answer_2 = contrastive.similarity_gradients(0.8, [0.5, 0.1], 0.1).gradients[0]",
        # the negatives listed as if the positive were not among the candidates: the 0.1 negative
        "answer_2 = contrastive.similarity_gradients(0.8, [0.5, 0.1], 0.1).gradients[2]",
        # the temperature multiplied instead of divided
        "answer_2 = np.exp(0.05) / (np.exp(0.08) + np.exp(0.05) + np.exp(0.01)) * 0.1",
    ],
    "4.3": [
        # ranks counted from 0: 1/1 and 1/3
        "answer_3 = (1 / 1 + 1 / 3) / 2",
        # the reciprocal ranks summed, not averaged
        "answer_3 = 1 / 2 + 1 / 4",
        # one over the mean rank instead of the mean of one over the rank
        "answer_3 = 1 / ((2 + 4) / 2)",
        # the relevant document's id taken for its rank
        "answer_3 = (1 / 1 + 1 / 2) / 2",
    ],
}
