"""Plausible wrong answers to Chapter 5's exercises: each line is what a student who made a real
mistake would write. tests/test_chapter_exercises.py shows that every one fails its check."""

MISTAKES = {
    "5.1": [
        # float32's 4 bytes per number instead of float16's 2
        "answer_1 = storage.storage_bytes(10_000_000, 768, 'float32')",
        # bits instead of bytes
        "answer_1 = 10_000_000 * 768 * 16",
        # the answer in gigabytes, not bytes
        "answer_1 = 10_000_000 * 768 * 2 / 1e9",
        # one million vectors instead of ten
        "answer_1 = 1_000_000 * 768 * 2",
    ],
    "5.2": [
        # truncated but not re-normalised
        "answer_2 = np.array([3.0, 4.0])",
        # normalised before truncating, not after
        "answer_2 = (np.array([3.0, 4.0, 12.0]) / 13.0)[:2]",
        # the last two coordinates kept instead of the first two
        "answer_2 = np.array([4.0, 12.0]) / np.hypot(4.0, 12.0)",
        # the whole (1, 2) matrix instead of its one row
        "answer_2 = matryoshka.truncate(np.array([[3.0, 4.0, 12.0]]), 2)",
    ],
}
