"""Two-stage Matryoshka search against exact full-dimension search and FAISS IndexFlatIP.

First, recall of two-stage against exact search on the real (small) set of MRL-head outputs;
then timing and recall on 100,000 synthetic vectors.

Chapter 5, "Two-stage search": shortlist with the first m coordinates, rescore the shortlist with
all D. Run from the repository root:

    python bench/two_stage_search.py [--n 100000] [--shortlist-dim 48] [--shortlist-size 400]

The vectors are SYNTHETIC: there are only about 1,600 real MiniLM embeddings on disk, so the
100,000 indexed vectors and the queries are drawn from a Gaussian with the mean and the
per-dimension variances of the Matryoshka head trained on the Chapter 4 ICT data (the head's
outputs, scaled to length 1, on every cached passage and query), then scaled to length 1.
Queries are fresh draws from the same distribution, not perturbed copies of indexed vectors,
which is the harder case for a shortlist. Every engine runs on one thread (BLAS through
threadpoolctl, FAISS through OpenMP), so the comparison does not depend on what else the
machine runs on its other core. The last line is ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from embedlab import contrastive, data, matryoshka

DIMS = [8, 16, 32, 48, 64, 96, 128, 192, 256, 384]


def mrl_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Unit-length outputs of the MRL head on the ICT data: (held-out queries (301, D), every
    passage, training and held-out (1,584, D)); query i's passage is row 1,283 + i."""
    train, heldout = contrastive.split_articles(data.wikipedia_sample(), 0.2, seed=0)
    pairs = contrastive.inverse_cloze_pairs(train, max_passages_per_article=20, seed=0)
    test = contrastive.ict_retrieval_set(heldout, max_passages_per_article=20, seed=0)
    queries = contrastive.minilm_embeddings([p.query for p in pairs])
    passages = contrastive.minilm_embeddings([p.passage for p in pairs])
    head = matryoshka.train_head(queries, passages, dims=DIMS, progress_bar=False).head
    documents = np.vstack([passages, contrastive.minilm_embeddings(test.documents)])

    def outputs(embeddings):
        return matryoshka.truncate(matryoshka.project(head, embeddings), embeddings.shape[1])

    return outputs(contrastive.minilm_embeddings(test.queries)), outputs(documents)


def synthetic(n: int, mean: np.ndarray, variance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    vectors = (mean + rng.standard_normal((n, len(mean)), dtype=np.float32) * np.sqrt(variance)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def best_ms_per_query(search, queries, batch_size: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs, in milliseconds per query, over ``queries`` in batches."""
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(queries), batch_size):
            search(queries[start : start + batch_size])
        best = min(best, time.perf_counter() - started)
    return best * 1e3 / len(queries)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / exact.shape[1] for a, b in zip(found, exact)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000, help="queries for recall and batched timing")
    parser.add_argument("--single-queries", type=int, default=50, help="queries timed one at a time")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--shortlist-dim", type=int, default=48)
    parser.add_argument("--shortlist-size", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    k = 10

    real_queries, real_documents = mrl_vectors()
    print(f"Real vectors first: recall@{k} of two-stage against exact search over the MRL head's outputs "
          f"({len(real_documents):,} passages, {len(real_queries)} ICT queries)")
    real_exact = matryoshka.exact_search(real_queries, real_documents, k)[0]
    print(f"{'shortlist':>10} " + " ".join(f"{f'm={m}':>7}" for m in DIMS[:6]))
    for size in [20, 50, 100, 200]:
        row = [recall(matryoshka.two_stage_search(real_queries, real_documents, m, size, k)[0], real_exact)
               for m in DIMS[:6]]
        print(f"{size:>10} " + " ".join(f"{r:>7.3f}" for r in row))
    everything = np.vstack([real_queries, real_documents])
    mean, variance = everything.mean(axis=0), everything.var(axis=0)
    share = np.cumsum(variance) / variance.sum()
    print("MRL head spectrum: share of variance in the first m dims:",
          ", ".join(f"{m}: {share[m - 1]:.2f}" for m in DIMS))
    rng = np.random.default_rng(args.seed)
    index = synthetic(args.n, mean, variance, rng)  # (n, D), synthetic, see the module docstring
    queries = synthetic(args.queries, mean, variance, rng)  # (n_q, D)
    truncated = matryoshka.truncate(index, args.shortlist_dim)  # stored beside the full vectors
    print(f"{args.n:,} synthetic vectors × {index.shape[1]} dims, {args.queries} queries, k = {k}, one thread")

    faiss.omp_set_num_threads(1)
    flat = faiss.IndexFlatIP(index.shape[1])
    flat.add(index)

    def exact(q):
        return matryoshka.exact_search(q, index, k)

    def two_stage(q, size=args.shortlist_size):
        return matryoshka.two_stage_search(q, index, args.shortlist_dim, size, k, truncated_index=truncated)

    def faiss_search(q):
        return flat.search(q, k)

    with threadpool_limits(limits=1):
        exact_ids = np.vstack([exact(queries[i : i + args.batch_size])[0]
                               for i in range(0, args.queries, args.batch_size)])
        faiss_ids = faiss_search(queries)[1]
        print(f"FAISS IndexFlatIP agrees with exact search on {recall(faiss_ids, exact_ids):.4f} of the top {k}")
        print(f"\nshortlist_dim = {args.shortlist_dim}: recall@{k} against exact, and ms per query (batches of "
              f"{args.batch_size})")
        print(f"{'shortlist':>10} {'recall@10':>10} {'ms/query':>10}")
        for size in sorted({200, args.shortlist_size, 2000, 5000}):
            found = np.vstack([two_stage(queries[i : i + args.batch_size], size)[0]
                               for i in range(0, args.queries, args.batch_size)])
            ms = best_ms_per_query(lambda q, size=size: two_stage(q, size), queries[:300], args.batch_size, repeats=1)
            print(f"{size:>10} {recall(found, exact_ids):>10.4f} {ms:>10.2f}")
        found = np.vstack([two_stage(queries[i : i + args.batch_size])[0] for i in range(0, args.queries, args.batch_size)])
        recall10 = recall(found, exact_ids)

        single = queries[: args.single_queries]
        exact_ms = best_ms_per_query(exact, single, 1)
        two_stage_ms = best_ms_per_query(two_stage, single, 1)
        faiss_ms = best_ms_per_query(faiss_search, single, 1)
        exact_batch_ms = best_ms_per_query(exact, queries, args.batch_size, repeats=2)
        two_stage_batch_ms = best_ms_per_query(two_stage, queries, args.batch_size, repeats=2)
        faiss_batch_ms = best_ms_per_query(faiss_search, queries, args.batch_size, repeats=2)

    print(f"\nms per query   {'one at a time':>14} {f'batches of {args.batch_size}':>14}")
    for name, one, batched in [("exact (NumPy)", exact_ms, exact_batch_ms),
                               ("two-stage", two_stage_ms, two_stage_batch_ms),
                               ("FAISS FlatIP", faiss_ms, faiss_batch_ms)]:
        print(f"{name:<14} {one:>14.3f} {batched:>14.3f}")
    print(f"two-stage ({args.shortlist_dim} → {index.shape[1]} dims, shortlist {args.shortlist_size}): "
          f"{exact_ms / two_stage_ms:.1f}× faster than exact one query at a time, "
          f"{exact_batch_ms / two_stage_batch_ms:.1f}× in batches; recall@{k} = {recall10:.4f}")
    print(f"RESULT n={args.n} data=synthetic_mrl_spectrum shortlist_dim={args.shortlist_dim} "
          f"shortlist={args.shortlist_size} exact_ms={exact_ms:.3f} two_stage_ms={two_stage_ms:.3f} "
          f"faiss_ms={faiss_ms:.3f} speedup={exact_ms / two_stage_ms:.2f} exact_batch_ms={exact_batch_ms:.3f} "
          f"two_stage_batch_ms={two_stage_batch_ms:.3f} faiss_batch_ms={faiss_batch_ms:.3f} "
          f"batch_speedup={exact_batch_ms / two_stage_batch_ms:.2f} recall10={recall10:.4f}")


if __name__ == "__main__":
    main()
