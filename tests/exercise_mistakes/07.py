"""Plausible wrong answers to Chapter 7's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "7.1": [
        # the plain Rand index, with no adjustment for chance
        'from sklearn.metrics import rand_score; answer_1 = rand_score(["a", "a", "a", "b", "b", "b"], [0, 0, 1, 1, 2, 2])',
        # accuracy of the raw cluster numbers against topics numbered 0, 1, as if cluster names meant something
        "answer_1 = float(np.mean(np.array([0, 0, 0, 1, 1, 1]) == np.array([0, 0, 1, 1, 2, 2])))",
        # the share of pairs grouped together in both, over the pairs together by topic (2 / 6)
        "answer_1 = 2 / 6",
    ],
    "7.2": [
        # λ read as the weight of novelty: the order of λ = 0.4
        ('unit = np.column_stack([np.cos(np.radians([0, 10, 20, 60])), np.sin(np.radians([0, 10, 20, 60]))]); '
         'answer_2 = [["a", "b", "c"][i] for i in beyond_search.mmr(unit[0], unit[1:], k=3, relevance_weight=0.4)]'),
        # the λ = 0.3 order of the chapter's worked example, not recomputed for 0.6
        'answer_2 = ["a", "c", "b"]',
        # indices instead of names
        ('unit = np.column_stack([np.cos(np.radians([0, 10, 20, 60])), np.sin(np.radians([0, 10, 20, 60]))]); '
         "answer_2 = beyond_search.mmr(unit[0], unit[1:], k=3, relevance_weight=0.6)"),
    ],
    "7.3": [
        # similarities instead of distances: the ranking turned upside down, 1 − AUC
        "answer_3 = beyond_search.roc_auc([-0.2, -0.35, -0.4, -0.9, -0.3], [False, True, False, True, False])",
        # the first and third documents taken as the injected ones (counting from 0)
        "answer_3 = beyond_search.roc_auc([0.2, 0.35, 0.4, 0.9, 0.3], [False, False, True, False, True])",
        # accuracy of the threshold 0.5 instead of the area under the curve
        "answer_3 = float(np.mean((np.array([0.2, 0.35, 0.4, 0.9, 0.3]) > 0.5) == np.array([False, True, False, True, False])))",
    ],
}
