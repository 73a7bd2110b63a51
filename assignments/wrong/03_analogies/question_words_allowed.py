# replaces: analogy_accuracy
# The mistake: the question words are left in the running, so the best "answer" is often c itself.
import numpy as np



def analogy_accuracy(vectors, words, questions):
    """Share of the (a, b, c, d) questions whose best 3CosMul answer, a, b and c excluded, is d."""
    row_of = {word: i for i, word in enumerate(words)}
    correct = 0
    for a, b, c, d in questions:
        scores = cosmul_scores(vectors, row_of[a], row_of[b], row_of[c])  # noqa: F821 (Task 1's)
        correct += int(np.argmax(scores)) == row_of[d]
    return correct / len(questions)
