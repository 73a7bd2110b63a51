"""The Google analogy benchmark on GloVe: embedlab.analogy.evaluate_analogies vs gensim's evaluate_word_analogies.

Both answer every question of questions-words.txt with 3CosAdd, searching the first
``--restrict-vocab`` GloVe words. Prints, from one run: gensim's time, ours, and the time of the
float32 matrix product of all in-vocabulary question vectors b̂ − â + ĉ with the unit vectors of
those words, timed at its fastest (see matmul_floor): the floor of any search that multiplies each
question's vector with every word, as gensim does one question at a time.
``gensim_over_floor`` (gensim's time / that floor) is the most such a search could gain.
Ours scores every pair too, but from the cosines of the questions' input words with the
vocabulary (under a thousand words for 19,544 questions: a product 20× smaller), so it can beat
that floor; ``input_product_s`` times its own product alone, without the pass over the scores.
Then whether both found the same correct answers, section by section. gensim runs with whichever
BLAS thread setting is faster for it on this machine (see fastest_gensim_threads); the line
``SANITY`` compares its time per question with the NumPy steps ``most_similar`` is made of
(see gensim_sanity), with the same threads, which it should be within 1.5× of.

    python bench/analogy_vs_gensim.py                          # 300,000 words: gensim takes minutes
    python bench/analogy_vs_gensim.py --restrict-vocab 30000   # a quick check
"""

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from embedlab import analogy, data, vectors
from threadpoolctl import threadpool_limits


def seconds(run) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def matmul_floor(glove, path, restrict_vocab: int) -> dict[str, float]:
    """Seconds for float32 products with the unit vectors of the first ``restrict_vocab`` words:

    - ``"blas_threads"``: (questions × d) @ (d × words), BLAS's own threads, in batches of
      256 MB of scores written to one reused buffer (all at once would need 23 GB at 300,000
      words);
    - ``"cache_tiles"``: the same product, one thread per core, BLAS held to one thread, each
      thread multiplying tiles of 1024 questions × 512 words (2 MB, its core's L2 cache), so no
      score goes to memory, with the words stored (d × words) so each tile reads its columns
      in order;
    - ``"input_words"``: (input words × d) @ (d × words), the product evaluate_analogies makes,
      in its tile shape and threads, without the pass that folds each tile into the answers.

    The floor of a search that multiplies each question's vector with every word is the faster
    of the first two."""
    rows = vectors.first_rows(word.upper() for word in glove.words[:restrict_vocab])
    questions = [q for _, section in analogy.read_analogies(path) for q in section]
    question_rows = np.array([[rows[w.upper()] for w in q] for q in questions if all(w.upper() in rows for w in q)])
    unit = glove.unit_vectors[:restrict_vocab]
    queries = unit[question_rows[:, 1]] - unit[question_rows[:, 0]] + unit[question_rows[:, 2]]
    queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True))
    vocabulary = np.ascontiguousarray(unit.T)
    batch_size = max(1, 2**26 // len(unit))  # 256 MB of scores per batch
    scores = np.ones((batch_size, len(unit)), dtype=np.float32)  # written once, so no page faults are timed

    def blas_threads():
        for start in range(0, len(queries), batch_size):
            batch = queries[start : start + batch_size]
            np.matmul(batch, vocabulary, out=scores[: len(batch)])

    def tiles(batches):
        tile = np.ones((1024, 512), dtype=np.float32)
        for start in batches:
            batch = queries[start : start + 1024]
            for word in range(0, len(unit), 512):
                columns = vocabulary[:, word : word + 512]
                np.matmul(batch, columns, out=tile[: len(batch), : columns.shape[1]])

    def in_threads(work, items):
        with threadpool_limits(1), ThreadPoolExecutor(analogy.THREADS) as pool:
            list(pool.map(work, [items[len(items) * i // analogy.THREADS : len(items) * (i + 1) // analogy.THREADS]
                                 for i in range(analogy.THREADS)]))

    input_words = np.ascontiguousarray(unit[np.unique(question_rows[:, :3])])
    tile_words = analogy.tile_width(len(input_words))

    def input_word_tiles(starts):
        tile = np.ones((len(input_words), tile_words), dtype=np.float32)
        for start in starts:
            words = unit[start : start + tile_words]
            np.matmul(input_words, words.T, out=tile[:, : len(words)])

    return {"blas_threads": seconds(blas_threads)[0],
            "cache_tiles": seconds(lambda: in_threads(tiles, range(0, len(queries), 1024)))[0],
            "input_words": seconds(lambda: in_threads(input_word_tiles, range(0, len(unit), tile_words)))[0]}


def fastest_gensim_threads(keyed_vectors, path, restrict_vocab: int):
    """gensim answers each question with one matrix-vector product. Whether a second BLAS thread
    helps depends on the machine (on a busy 2-core one it can be many times slower), so time
    both settings on every 40th question and let gensim run with the faster: ``None`` (BLAS's
    default) or 1. Returns the setting and both times."""
    lines = []
    for name, questions in analogy.read_analogies(path):
        lines += [f": {name}", *(" ".join(q) for q in questions[::40])]
    keyed_vectors.fill_norms()  # computed once, on first use; not part of either sample
    times = {}
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "sample.txt"
        sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for threads in (None, 1):
            with threadpool_limits(threads):
                times[threads] = seconds(lambda: keyed_vectors.evaluate_word_analogies(str(sample), restrict_vocab))[0]
    return min(times, key=times.get), times


def gensim_sanity(keyed_vectors, glove, path, restrict_vocab: int, threads) -> tuple[float, float]:
    """Milliseconds per question of gensim's most_similar (what evaluate_word_analogies calls)
    and of the NumPy steps it is made of, on gensim's own arrays: the matrix-vector product of
    the raw vectors with the query, the division by their norms, and one argpartition for the
    best 5 + 3 rows. Both on the same 200 questions with the same BLAS threads, alternated,
    best of 3."""
    rows = vectors.first_rows(word.upper() for word in glove.words[:restrict_vocab])
    questions = [q for _, section in analogy.read_analogies(path) for q in section[::50]]
    questions = [[glove.words[rows[w.upper()]] for w in q] for q in questions if all(w.upper() in rows for w in q)][:200]
    raw, norms = keyed_vectors.vectors[:restrict_vocab], keyed_vectors.norms[:restrict_vocab]
    means = [keyed_vectors.get_mean_vector([q[1], q[2], q[0]], [1.0, 1.0, -1.0], pre_normalize=True,
                                           post_normalize=True) for q in questions]

    def gensim():
        for q in questions:
            keyed_vectors.most_similar(positive=[q[1], q[2]], negative=[q[0]], topn=5, restrict_vocab=restrict_vocab)

    def numpy_steps():
        for mean in means:
            np.argpartition(-(raw @ mean / norms), 8)[:8]

    gensim_times, numpy_times = [], []
    with threadpool_limits(threads):
        for _ in range(3):
            gensim_times.append(seconds(gensim)[0])
            numpy_times.append(seconds(numpy_steps)[0])
    return min(gensim_times) * 1e3 / len(questions), min(numpy_times) * 1e3 / len(questions)


def same_answers(ours, gensim_sections) -> bool:
    """Every section, and gensim's "Total accuracy", has the same correct and incorrect questions."""
    ours_sections = [*ours.sections, ours.total]
    if len(ours_sections) != len(gensim_sections):
        return False

    def upper(questions):  # gensim keeps questions upper-cased
        return [tuple(word.upper() for word in q) for q in questions]

    return all(
        mine.name == theirs["section"]
        and upper(mine.correct) == theirs["correct"]
        and upper(mine.incorrect) == theirs["incorrect"]
        for mine, theirs in zip(ours_sections, gensim_sections)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restrict-vocab", type=int, default=300_000, help="words searched (default 300000)")
    restrict_vocab = parser.parse_args().restrict_vocab
    glove = data.load_glove()
    path = data.google_analogies_path()
    keyed_vectors = glove.to_gensim()
    # Computed once per set of vectors and kept, on both sides, before any clock starts: gensim's
    # norms (fill_norms, in fastest_gensim_threads) and our unit vectors, norms and
    # case-insensitive rows.
    glove.unit_vectors, glove.norms, glove.first_spellings

    floor_times, ours_times = [], []
    for _ in range(3):  # best of three, alternated: a busy moment on a shared machine slows both alike
        floor_times.append(matmul_floor(glove, path, restrict_vocab))
        seconds_taken, ours = seconds(lambda: analogy.evaluate_analogies(glove, path, restrict_vocab))
        ours_times.append(seconds_taken)
    floors = {way: min(times[way] for times in floor_times) for way in floor_times[0]}
    floor_s, ours_s = min(floors["blas_threads"], floors["cache_tiles"]), min(ours_times)
    threads, sample_s = fastest_gensim_threads(keyed_vectors, path, restrict_vocab)
    with threadpool_limits(threads):
        gensim_s, (_, gensim_sections) = seconds(
            lambda: keyed_vectors.evaluate_word_analogies(str(path), restrict_vocab))
    identical = same_answers(ours, gensim_sections)
    gensim_per_question_ms, numpy_ms = gensim_sanity(keyed_vectors, glove, path, restrict_vocab, threads)

    answered = len(ours.total.correct) + len(ours.total.incorrect)
    print(f"{answered:,} of {ours.n_questions:,} questions in the first {restrict_vocab:,} words; "
          f"accuracy {ours.accuracy:.4f} (semantic {ours.semantic.accuracy:.4f}, syntactic {ours.syntactic.accuracy:.4f})")
    print(f"gensim on every 40th question: {sample_s[None]:.2f} s with BLAS's default threads, "
          f"{sample_s[1]:.2f} s with 1 thread; timed with {'1 thread' if threads == 1 else 'the default'}")
    print(f"gensim evaluate_word_analogies: {gensim_s:8.2f} s")
    print(f"embedlab evaluate_analogies:    {ours_s:8.2f} s (best of 3)")
    print(f"float32 matrix product floor:   {floor_s:8.2f} s (best of 3: BLAS threads {floors['blas_threads']:.2f} s, "
          f"cache tiles {floors['cache_tiles']:.2f} s)")
    print(f"our product of the input words: {floors['input_words']:8.2f} s (best of 3, without the pass over the scores)")
    print(f"same correct and incorrect questions in all {len(gensim_sections)} sections (with the total): {identical}")
    print(f"SANITY gensim_ms_per_question={gensim_per_question_ms:.2f} numpy_steps_ms={numpy_ms:.2f} "
          f"ratio={gensim_per_question_ms / numpy_ms:.2f} (goal <= 1.5)")
    print(f"RESULT restrict_vocab={restrict_vocab} gensim_s={gensim_s:.2f} ours_s={ours_s:.2f} "
          f"matmul_floor_s={floor_s:.2f} speedup={gensim_s / ours_s:.1f} floor_ratio={ours_s / floor_s:.2f} "
          f"identical={identical} gensim_over_floor={gensim_s / floor_s:.1f} input_product_s={floors['input_words']:.2f} "
          f"gensim_vs_numpy={gensim_per_question_ms / numpy_ms:.2f}")


if __name__ == "__main__":
    main()
