"""Plausible wrong answers to Chapter 1's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "1.1": [
        # the dot product instead of the cosine: forgets to divide by the lengths
        'answer_1 = float(toy["dog"] @ toy["truck"])',
        # a distance instead of a similarity
        'answer_1 = float(((toy["dog"] - toy["truck"]) ** 2).sum() ** 0.5)',
        # the neighbouring word of the table: car instead of truck
        'answer_1 = similarity.cosine_similarity(toy["dog"], toy["car"])',
    ],
    "1.2": [
        # the answer of king − man + woman, not of the similarity asked for
        'answer_2 = "woman"',
        # treats cosine similarity like a distance: smallest is closest
        'answer_2 = min(["woman", "girl", "daughter", "mother"], key=lambda w: glove.similarity("queen", w))',
    ],
    "1.3": [
        # counts a float16 as 4 bytes, like a float32
        'answer_3 = (storage.storage_bytes(5_000_000, 1024, "float32") / 1e9, 1024)',
        # gibibytes (2**30) instead of gigabytes (10**9)
        'answer_3 = (storage.storage_bytes(5_000_000, 1024, "float16") / 2**30, 512)',
        # inverts the ratio: float32 is twice as wide, so twice as many dimensions
        'answer_3 = (storage.storage_bytes(5_000_000, 1024, "float16") / 1e9, 2048)',
    ],
}
