"""Plausible wrong answers to Chapter 2's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "2.1": [
        # 2w pairs for every word, forgetting that words near the ends have fewer neighbours
        "answer_1 = 2 * 3 * 12",
        # one side of the window only
        "answer_1 = word2vec.count_context_pairs(12, 3) // 2",
        # CBOW's examples (one per window) instead of skip-gram's pairs
        "answer_1 = len(word2vec.cbow_examples(list(range(12)), window=3))",
        # random shrinking left on, although the question turns it off
        "answer_1 = len(word2vec.context_pairs(range(12), window=3, rng=np.random.default_rng(0)))",
    ],
    "2.2": [
        # the two shares in the wrong order
        "answer_2 = tuple(negative_sampling.probability_mass_by_rank(vocabulary.counts, a)[0] for a in (1.0, 0.75))",
        # smoothed numerator, but divided by the unsmoothed total
        "answer_2 = ((vocabulary.counts[:10] ** 0.75).sum() / vocabulary.counts.sum(), "
        "vocabulary.counts[:10].sum() / vocabulary.counts.sum())",
        # the 10 rarest words instead of the 10 most frequent
        "answer_2 = tuple((vocabulary.counts[-10:] ** a).sum() / (vocabulary.counts ** a).sum() for a in (0.75, 1.0))",
        # percentages instead of fractions
        "answer_2 = tuple(100 * negative_sampling.probability_mass_by_rank(vocabulary.counts, a)[0] for a in (0.75, 1.0))",
    ],
    "2.3": [
        # the negative's score taken with the wrong sign: −log σ(u_n · v) instead of −log σ(−u_n · v)
        "answer_3 = -np.log(negative_sampling.sigmoid(0.5)) - np.log(negative_sampling.sigmoid(-1.0))",
        # the objective that training maximises, not the loss (its negative)
        "answer_3 = np.log(negative_sampling.sigmoid(0.5)) + np.log(negative_sampling.sigmoid(1.0))",
        # the negative left out: only the real pair's term
        "answer_3 = -np.log(negative_sampling.sigmoid(0.5))",
        # centre and context swapped with the negative: the negative treated as the real context
        "answer_3 = negative_sampling.sgns_loss([1, 0], [-1, 1], [[0.5, 0.5]])",
    ],
}
