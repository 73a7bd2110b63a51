"""Nearest-neighbour queries on all 400,000 GloVe vectors: embedlab vs gensim's most_similar.

Both rank every vector by cosine similarity to the query word (exact search, one matrix-vector
product each). Prints queries per second for both, measured in the same run, and their ratio.
gensim runs as it ships, with BLAS's default threads. ``most_similar`` is three NumPy steps:
one matrix-vector product of the raw vectors with the normalised query, a division by the
vectors' norms, and one argpartition for the best k + 1 rows (a product alone would leave out
the 400,000-number division and partial sort). The line ``SANITY`` compares gensim with those
steps run bare on its own arrays, with the same threads; it should be within 1.5× of them.

    python bench/bench_nearest.py
"""

import time

import numpy as np
from embedlab import data

QUERIES = 300
TOP_K = 10


def queries_per_second(search, words) -> float:
    search(words[0])  # warm-up: both libraries normalise the matrix on first use
    start = time.perf_counter()
    for word in words:
        search(word)
    return len(words) / (time.perf_counter() - start)


def numpy_steps(keyed_vectors):
    """gensim's most_similar(word, topn=TOP_K) without gensim: its three NumPy steps."""
    keyed_vectors.fill_norms()
    raw, norms = keyed_vectors.vectors, keyed_vectors.norms

    def search(word):
        query = keyed_vectors.get_vector(word, norm=True)
        return np.argpartition(-(raw @ query / norms), TOP_K + 1)[: TOP_K + 1]

    return search


def main():
    glove = data.load_glove()
    keyed_vectors = glove.to_gensim()
    words = glove.words[1000 : 1000 + QUERIES]
    runs = {"ours": [], "gensim": [], "numpy": []}
    for _ in range(3):  # alternated, best of 3: a busy moment on a shared machine slows all alike
        runs["ours"].append(queries_per_second(lambda w: glove.nearest(w, k=TOP_K), words))
        runs["gensim"].append(queries_per_second(lambda w: keyed_vectors.most_similar(w, topn=TOP_K), words))
        runs["numpy"].append(queries_per_second(numpy_steps(keyed_vectors), words))
    ours, gensim, numpy_qps = (max(runs[name]) for name in ("ours", "gensim", "numpy"))
    print(f"SANITY gensim_qps={gensim:.0f} numpy_steps_qps={numpy_qps:.0f} ratio={numpy_qps / gensim:.2f} (goal <= 1.5)")
    same = all(
        [w for w, _ in glove.nearest(q, k=TOP_K)] == [w for w, _ in keyed_vectors.most_similar(q, topn=TOP_K)]
        for q in words[:20]
    )
    print(f"{QUERIES} queries over {len(glove):,} vectors, top {TOP_K}; same answers as gensim: {same}")
    print(f"RESULT ours_qps={ours:.0f} gensim_qps={gensim:.0f} ratio={ours / gensim:.2f} same_answers={same} "
          f"gensim_vs_numpy={numpy_qps / gensim:.2f}")


if __name__ == "__main__":
    main()
