"""Two-stage Matryoshka search against exact full-dimension search and FAISS IndexFlatIP.

First, recall of two-stage against exact search on the real (small) set of MRL-head outputs;
then recall and timing on 100,000 SYNTHETIC vectors, with a sweep over prefix length m and
shortlist size s.

Chapter 5, "Two-stage search": shortlist with the first m coordinates, rescore the shortlist with
all D. Run from the repository root:

    python bench/two_stage_search.py [--n 100000] [--shortlist-dim 64] [--shortlist-size 250]

The head is the Matryoshka head of the chapter: MRL training starting from PCA order
(``train_head(..., init="pca")``) on the Chapter 4 ICT pairs (12 passages of 60 words per
article). The 100,000 indexed vectors are SYNTHETIC, because only about 1,300 real passages
are encoded on disk: ``two_stage.synthetic_index`` makes each from a real head output
(training and held-out passages) plus Gaussian noise with the covariance of the real outputs
scaled by ``--noise`` (N(0, α² Σ)), then scales it to length 1. So the synthetic vectors keep
the real spectrum and the real correlation between a prefix and the full vector; independent
dimensions with the head's variances do not (their prefixes carry no information about the
rest, and gave recall@10 of 0.13). Queries are real held-out query outputs plus noise drawn the
same way, never copies of indexed vectors; the 210 real queries themselves, without noise, are
also searched, for recall only.

The engines: exact search is plain NumPy, one matrix product for the batch and a top-k
selection (``search.exact_search``); two-stage search is ``two_stage.TwoStageIndex``,
built once (the contiguous unit-length prefixes beside the full vectors), see its docstring
for how and why; FAISS ``IndexFlatIP`` is the peer for exact search. FAISS runs as its
maintainers recommend for one thread (``two_stage.one_thread_faiss``): one OpenMP thread and
``faiss.cvar.distance_compute_blas_threshold = 800``, so that a batch of queries is one BLAS
product (faiss-cpu 1.15 ships 128,000, tuned for many threads: with it a batch of 100 384-d
queries takes the one-query-at-a-time path and is about 10 times slower); the line ``SANITY``
checks that FAISS flat is then within 1.5× of the bare matrix product. Every engine runs on one
thread (BLAS through threadpoolctl, FAISS through OpenMP). The approximate peer, an HNSW
graph, is ``bench/matryoshka_hnsw.py``.
Timings are the best of a few runs; exact and two-stage batches are timed in alternation, for
batches of 1, 10, 25 and ``--batch-size`` queries: the larger the batch, the closer exact search
gets to the processor's peak and the smaller the speed-up. For the record, a stronger exact
baseline is timed too: ``TwoStageIndex`` with the whole vector as its prefix and a shortlist of
k, i.e. the same product with two-stage's faster top-k selection (``exact_bar_batch_ms``). The
last line is ``RESULT key=value ...``; ``batch_speedup`` is for ``--batch-size`` against
``search.exact_search``.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from embedlab import data, encoders, inverse_cloze, matryoshka, metrics, search, two_stage
from threadpoolctl import threadpool_limits

DIMS = [8, 16, 32, 48, 64, 96, 128, 192, 256, 384]
SWEEP_DIMS = [32, 48, 64, 96]
SWEEP_SHORTLISTS = [100, 200, 250, 300, 500, 1000, 2000]


def mrl_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Unit-length outputs of the MRL head (started from PCA order) on the ICT data: (held-out
    queries (n_q, D), every passage, training then held-out (n_p, D)); held-out query i's
    passage is row n_p − n_q + i."""
    experiment = inverse_cloze.book_experiment(data.wikipedia_sample())
    pairs, test = experiment.pairs, experiment.test
    queries = encoders.encode([p.query for p in pairs], cache=True)
    passages = encoders.encode([p.passage for p in pairs], cache=True)
    head = matryoshka.train_head(queries, passages, dims=DIMS, init="pca", progress_bar=False).head
    documents = np.vstack([passages, encoders.encode(test.documents, cache=True)])

    def outputs(embeddings):
        return matryoshka.truncate(matryoshka.apply_head(head, embeddings), embeddings.shape[1])

    return outputs(encoders.encode(test.queries, cache=True)), outputs(documents)


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
    """recall@k of ``found`` against the exact top k (both (n_q, k))."""
    return metrics.recall_at_k(found, [set(row) for row in exact], exact.shape[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000, help="queries for recall and batched timing")
    parser.add_argument("--single-queries", type=int, default=50, help="queries timed one at a time")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--shortlist-dim", type=int, default=64)
    parser.add_argument("--shortlist-size", type=int, default=250)
    parser.add_argument("--noise", type=float, default=0.5, help="α: noise N(0, α² Σ) around each real vector")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    k = 10

    real_queries, real_documents = mrl_vectors()
    print(f"Real vectors first: recall@{k} of two-stage against exact search over the MRL head's outputs "
          f"({len(real_documents):,} passages, {len(real_queries)} ICT queries)")
    real_exact = search.exact_search(real_queries, real_documents, k)[0]
    print(f"{'shortlist':>10} " + " ".join(f"{f'm={m}':>7}" for m in DIMS[:6]))
    for size in [20, 50, 100, 200]:
        row = [recall(two_stage.two_stage_search(real_queries, real_documents, m, size, k)[0], real_exact)
               for m in DIMS[:6]]
        print(f"{size:>10} " + " ".join(f"{r:>7.3f}" for r in row))
    everything = np.vstack([real_queries, real_documents])
    variance = everything.var(axis=0)
    share = np.cumsum(variance) / variance.sum()
    print("MRL head spectrum: share of variance in the first m dims:",
          ", ".join(f"{m}: {share[m - 1]:.2f}" for m in DIMS))
    covariance = np.cov(everything, rowvar=False)  # of queries and passages together
    rng = np.random.default_rng(args.seed)
    index = two_stage.synthetic_index(real_documents, args.n, args.noise, rng, covariance)  # (n, D), SYNTHETIC
    queries = two_stage.synthetic_index(real_queries, args.queries, args.noise, rng, covariance)  # (n_q, D)
    started = time.perf_counter()
    two_stage_index = two_stage.TwoStageIndex(index, args.shortlist_dim)  # the contiguous prefix, built once
    build_s = time.perf_counter() - started
    print(f"{args.n:,} SYNTHETIC vectors × {index.shape[1]} dims (real head outputs + N(0, {args.noise}² Σ)), "
          f"{args.queries} queries, k = {k}, one thread")

    restore_faiss = two_stage.one_thread_faiss()
    flat = faiss.IndexFlatIP(index.shape[1])
    flat.add(index)

    def exact(q):
        return search.exact_search(q, index, k)

    def prefix_first(q, size=args.shortlist_size):
        return two_stage_index.search(q, size, k)

    def faiss_search(q):
        return flat.search(q, k)

    # A stronger exact baseline, for the record: two-stage's own machinery with the whole vector
    # as the "prefix" and a shortlist of k (the full product, then the sampled bar for the top k).
    exact_with_bar_index = two_stage.TwoStageIndex(index, index.shape[1])

    def exact_with_bar(q):
        return exact_with_bar_index.search(q, k, k)

    with threadpool_limits(limits=1):
        exact_ids = np.vstack([exact(queries[i : i + args.batch_size])[0]
                               for i in range(0, args.queries, args.batch_size)])
        faiss_ids = np.vstack([faiss_search(queries[i : i + args.batch_size])[1]
                               for i in range(0, args.queries, args.batch_size)])
        print(f"FAISS IndexFlatIP agrees with exact search on {recall(faiss_ids, exact_ids):.4f} of the top {k}")
        faiss_sanity_ms = best_ms_per_query(faiss_search, queries[:300], args.batch_size)
        gemm_ms = best_ms_per_query(lambda q: q @ index.T, queries[:300], args.batch_size)
        print(f"SANITY faiss_flat_batch_ms={faiss_sanity_ms:.3f} bare_gemm_batch_ms={gemm_ms:.3f} "
              f"ratio={faiss_sanity_ms / gemm_ms:.2f} (goal <= 1.5; BLAS threshold "
              f"{faiss.cvar.distance_compute_blas_threshold}, {faiss.omp_get_max_threads()} OpenMP thread)")
    sweep = two_stage.two_stage_report(queries, index, SWEEP_DIMS, SWEEP_SHORTLISTS, k, args.batch_size, repeats=1)
    print(f"\nrecall@{k} against exact search, and ms per query in batches of {args.batch_size} "
          f"(exact: {sweep['exact ms per query'].min():.2f})")
    print(sweep.drop(columns="exact ms per query").to_string(float_format=lambda x: f"{x:.3f}"))
    with threadpool_limits(limits=1):
        found = np.vstack([prefix_first(queries[i : i + args.batch_size])[0] for i in range(0, args.queries, args.batch_size)])
        recall10 = recall(found, exact_ids)
        real_exact = exact(real_queries)[0]  # the real held-out queries, unperturbed, on the synthetic index
        recall10_real = recall(prefix_first(real_queries)[0], real_exact)

        single = queries[: args.single_queries]
        exact_ms = best_ms_per_query(exact, single, 1)
        two_stage_ms = best_ms_per_query(prefix_first, single, 1)
        faiss_ms = best_ms_per_query(faiss_search, single, 1)
        # exact and two-stage alternate, pass by pass, so that load from other processes hits both alike
        by_batch = {}
        for batch_size in sorted({10, 25, args.batch_size}):
            exact_batch_ms, two_stage_batch_ms = np.inf, np.inf
            for _ in range(3):
                exact_batch_ms = min(exact_batch_ms, best_ms_per_query(exact, queries, batch_size, repeats=1))
                two_stage_batch_ms = min(two_stage_batch_ms, best_ms_per_query(prefix_first, queries, batch_size,
                                                                               repeats=1))
            by_batch[batch_size] = exact_batch_ms, two_stage_batch_ms
        exact_batch_ms, two_stage_batch_ms = by_batch[args.batch_size]
        faiss_batch_ms = best_ms_per_query(faiss_search, queries, args.batch_size)
        bar_ids = np.vstack([exact_with_bar(queries[i : i + args.batch_size])[0]
                             for i in range(0, args.queries, args.batch_size)])
        exact_bar_ms, two_stage_again_ms = np.inf, np.inf  # alternating again, the two of them
        for _ in range(3):
            exact_bar_ms = min(exact_bar_ms, best_ms_per_query(exact_with_bar, queries, args.batch_size, repeats=1))
            two_stage_again_ms = min(two_stage_again_ms, best_ms_per_query(prefix_first, queries, args.batch_size,
                                                                           repeats=1))

    restore_faiss()
    print("\nspeed-up of two-stage over exact search by batch size (ms per query, best of 3 alternating passes)")
    print(f"{'batch':>6} {'exact':>8} {'two-stage':>10} {'speed-up':>9}")
    for batch_size, (exact_b, two_stage_b) in {1: (exact_ms, two_stage_ms), **by_batch}.items():
        print(f"{batch_size:>6} {exact_b:>8.3f} {two_stage_b:>10.3f} {exact_b / two_stage_b:>8.2f}×")
    print(f"\nms per query   {'one at a time':>14} {f'batches of {args.batch_size}':>14}")
    for name, one, batched in [("exact (NumPy)", exact_ms, exact_batch_ms),
                               ("two-stage", two_stage_ms, two_stage_batch_ms),
                               ("FAISS FlatIP", faiss_ms, faiss_batch_ms)]:
        print(f"{name:<14} {one:>14.3f} {batched:>14.3f}")
    print(f"two-stage ({args.shortlist_dim} → {index.shape[1]} dims, shortlist {args.shortlist_size}): "
          f"{exact_ms / two_stage_ms:.1f}× faster than exact one query at a time, "
          f"{exact_batch_ms / two_stage_batch_ms:.1f}× in batches; recall@{k} = {recall10:.4f}")
    print(f"recall@{k} of the {len(real_queries)} real held-out queries (no noise) on the synthetic index: "
          f"{recall10_real:.4f}")
    print(f"exact search with two-stage's selection (m = D, s = k; recall@{k} {recall(bar_ids, exact_ids):.4f}): "
          f"{exact_bar_ms:.3f} ms per query in batches of {args.batch_size}; two-stage is "
          f"{exact_bar_ms / two_stage_again_ms:.2f}× faster than that")
    speedups = " ".join(f"batch_speedup_b{b}={e / t:.2f}" for b, (e, t) in by_batch.items() if b != args.batch_size)
    print(f"RESULT n={args.n} data=synthetic_real_plus_cov_noise noise={args.noise} shortlist_dim={args.shortlist_dim} "
          f"shortlist={args.shortlist_size} exact_ms={exact_ms:.3f} two_stage_ms={two_stage_ms:.3f} "
          f"faiss_ms={faiss_ms:.3f} speedup={exact_ms / two_stage_ms:.2f} exact_batch_ms={exact_batch_ms:.3f} "
          f"two_stage_batch_ms={two_stage_batch_ms:.3f} faiss_batch_ms={faiss_batch_ms:.3f} "
          f"batch_speedup={exact_batch_ms / two_stage_batch_ms:.2f} {speedups} recall10={recall10:.4f} "
          f"recall10_real_queries={recall10_real:.4f} exact_bar_batch_ms={exact_bar_ms:.3f} "
          f"batch_speedup_vs_exact_bar={exact_bar_ms / two_stage_again_ms:.2f} batch={args.batch_size} threads=1 "
          f"index_build_s={build_s:.2f} faiss_flat_vs_gemm={faiss_sanity_ms / gemm_ms:.2f}")

if __name__ == "__main__":
    main()
