"""Nearest-neighbour queries on all 400,000 GloVe vectors: embedlab vs gensim's most_similar.

Both rank every vector by cosine similarity to the query word (exact search, one matrix-vector
product each). Prints queries per second for both, measured in the same run, and their ratio.
gensim runs as it ships (``most_similar`` is one BLAS matrix-vector product over the normalised
vectors and a partial sort, with BLAS's default threads); the line ``SANITY`` compares it with
that bare matrix-vector product, which it should be within 1.5× of.

    python bench/bench_nearest.py
"""

import time

from embedlab import data

QUERIES = 300
TOP_K = 10


def queries_per_second(search, words) -> float:
    search(words[0])  # warm-up: both libraries normalise the matrix on first use
    start = time.perf_counter()
    for word in words:
        search(word)
    return len(words) / (time.perf_counter() - start)


def main():
    glove = data.load_glove()
    keyed_vectors = glove.to_gensim()
    words = glove.words[1000 : 1000 + QUERIES]
    ours = queries_per_second(lambda w: glove.nearest(w, k=TOP_K), words)
    gensim = queries_per_second(lambda w: keyed_vectors.most_similar(w, topn=TOP_K), words)
    unit = keyed_vectors.get_normed_vectors()
    gemv = queries_per_second(lambda w: unit @ unit[keyed_vectors.key_to_index[w]], words)
    print(f"SANITY gensim_qps={gensim:.0f} bare_gemv_qps={gemv:.0f} ratio={gemv / gensim:.2f} (goal <= 1.5)")
    same = all(
        [w for w, _ in glove.nearest(q, k=TOP_K)] == [w for w, _ in keyed_vectors.most_similar(q, topn=TOP_K)]
        for q in words[:20]
    )
    print(f"{QUERIES} queries over {len(glove):,} vectors, top {TOP_K}; same answers as gensim: {same}")
    print(f"RESULT ours_qps={ours:.0f} gensim_qps={gensim:.0f} ratio={ours / gensim:.2f} same_answers={same} "
          f"gensim_vs_gemv={gemv / gensim:.2f}")


if __name__ == "__main__":
    main()
