"""Plausible wrong answers to Chapter 6's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "6.1": [
        # sorts the fused scores ascending, as if they were ranks (smaller is better)
        'answer_1 = [item for item, _ in sorted(retrieval.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60),'
        ' key=lambda pair: pair[1])]',
        # keeps only the items both rankings contain, as if fusion were an intersection
        'answer_1 = [item for item in ["a", "b", "c"] if item in ["c", "a", "d"]]',
        # merges the lists in the order items first appear, ignoring the ranks
        'answer_1 = list(dict.fromkeys(["a", "b", "c"] + ["c", "a", "d"]))',
        # fuses by summed ranks, smallest first, an item missing from a list adding nothing
        'answer_1 = ["b", "a", "d", "c"]',
    ],
    "6.2": [
        # fixed windows of 5 words every 5 - 2 = 3 words, cutting through sentences
        'answer_2 = [" ".join("One two three. Four five six seven. Eight nine.".split()[i:i + 5]) for i in range(0, 9, 3)]',
        # windows of 5 characters, not words, with an overlap of 2 characters
        'answer_2 = ["One two three. Four five six seven. Eight nine."[i:i + 5] for i in range(0, 48, 3)]',
        # answers the question of the old exercise: the number of chunks
        'answer_2 = len(chunking.chunk_text("One two three. Four five six seven. Eight nine.", max_tokens=5, overlap=2))',
    ],
    "6.3": [
        # counts ranks from 0, as Python's list.index does
        'answer_3 = tuple(evaluation.document_ranking(search.chunks, search.ranking("HMAC-SHA256", m)[0]).index("webhooks")'
        ' for m in ("dense", "bm25"))',
        # gives the pair in the order (BM25, dense)
        'answer_3 = tuple(reversed(ranks))',
    ],
}
