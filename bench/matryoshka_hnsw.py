"""Matryoshka adaptive retrieval against a real approximate index: FAISS HNSW on the full vectors
vs HNSW on a short prefix plus exact rescoring of its shortlist (Kusupati et al. 2022).

The setting of the MRL paper's adaptive retrieval: a graph index (HNSW, FAISS's
``IndexHNSWFlat`` with inner product) over the full 384-d vectors, against the same kind of
graph over the m-d unit-length prefixes whose shortlist of s rows is rescored exactly on the
full vectors (``two_stage.PrefixGraphIndex``). The vectors are SYNTHETIC, made as in
``bench/two_stage_search.py`` from the real outputs of the chapter's Matryoshka head on
all-MiniLM-L6-v2 embeddings plus noise with their covariance (``two_stage.synthetic_index``).

Both sides are tuned the same way for the same target: for each graph degree M in
``--degrees`` (FAISS builds with efConstruction ``--ef-construction``), every efSearch of the
full graph and every (m, s, efSearch) of the prefix graph is searched once; each side keeps
its fastest setting with recall@10 >= ``--target`` against exact search. The two winners are
then timed again in ``two_stage.search_engines`` beside exact NumPy search and FAISS flat,
alternating, best of 3. Everything runs on one thread (FAISS: one OpenMP thread and the BLAS
threshold its maintainers measured for one thread, ``two_stage.one_thread_faiss``; NumPy: one
BLAS thread); graphs are built on one thread too, so they are the same in every run.
Memory: FAISS's serialised index; the prefix graph's rescoring reads s full vectors per query,
which can stay on disk (the full vectors' size is printed beside).

    python bench/matryoshka_hnsw.py [--n 100000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
import pandas as pd
from embedlab import metrics, search, two_stage
from threadpoolctl import threadpool_limits
from two_stage_search import mrl_vectors

FULL_EF = [32, 64, 96, 128, 192, 256, 384, 512, 768]
PREFIX_DIMS = [64, 96]
SHORTLISTS = [100, 150, 200, 300, 400]


def ms_per_query(engine, queries, batch_size: int = 100) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    found = np.vstack([engine(queries[i : i + batch_size]) for i in range(0, len(queries), batch_size)])
    return (time.perf_counter() - started) * 1e3 / len(queries), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--degrees", type=int, nargs="+", default=[16, 32], help="HNSW's M, for both graphs")
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 both must reach")
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    k = 10

    real_queries, real_documents = mrl_vectors()
    covariance = np.cov(np.vstack([real_queries, real_documents]), rowvar=False)
    rng = np.random.default_rng(args.seed)
    index = two_stage.synthetic_index(real_documents, args.n, args.noise, rng, covariance)  # SYNTHETIC (n, D)
    queries = two_stage.synthetic_index(real_queries, args.queries, args.noise, rng, covariance)
    full_dim = index.shape[1]
    print(f"{args.n:,} SYNTHETIC vectors × {full_dim} dims (real Matryoshka-head outputs + N(0, {args.noise}² Σ)), "
          f"{args.queries} queries, k = {k}, one thread, efConstruction {args.ef_construction}")

    restore = two_stage.one_thread_faiss()
    with threadpool_limits(limits=1):
        exact = np.vstack([search.exact_search(queries[i : i + 100], index, k)[0] for i in range(0, len(queries), 100)])
        relevant = [set(row) for row in exact]

        def recall(found):
            return metrics.recall_at_k(found, relevant, k)

        # The peer's sanity check: FAISS flat in batches of 100 against the bare matrix product.
        flat = faiss.IndexFlatIP(full_dim)
        flat.add(index)
        flat_ms = min(ms_per_query(lambda q: flat.search(q, k)[1], queries[:300])[0] for _ in range(3))
        gemm_ms = min(ms_per_query(lambda q: (q @ index.T)[:, :k], queries[:300])[0] for _ in range(3))
        print(f"SANITY faiss_flat_batch_ms={flat_ms:.3f} bare_gemm_batch_ms={gemm_ms:.3f} "
              f"ratio={flat_ms / gemm_ms:.2f} (goal <= 1.5; BLAS threshold "
              f"{faiss.cvar.distance_compute_blas_threshold}, {faiss.omp_get_max_threads()} OpenMP thread)")

        full_runs, prefix_runs = [], []
        for degree in args.degrees:
            started = time.perf_counter()
            graph = faiss.IndexHNSWFlat(full_dim, degree, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = args.ef_construction
            graph.add(index)
            build_s = time.perf_counter() - started
            megabytes = faiss.serialize_index(graph).nbytes / 1e6
            print(f"\nfull {full_dim}-d HNSW, M={degree}: built in {build_s:.1f} s, {megabytes:.0f} MB")
            for ef in FULL_EF:
                graph.hnsw.efSearch = ef
                ms, found = ms_per_query(lambda q, graph=graph: graph.search(q, k)[1], queries)
                full_runs.append({"M": degree, "ef": ef, "recall": recall(found), "ms": ms, "build_s": build_s, "mb": megabytes})
                print(f"  efSearch {ef:>4}: recall@{k} {full_runs[-1]['recall']:.3f}  {ms:.3f} ms per query")
                if full_runs[-1]["recall"] >= args.target + 0.02:
                    break
            for dim in PREFIX_DIMS:
                started = time.perf_counter()
                prefix = two_stage.PrefixGraphIndex(index, dim, degree, args.ef_construction)
                build_s = time.perf_counter() - started
                megabytes = prefix.graph_bytes / 1e6
                print(f"{dim}-d prefix HNSW, M={degree}: built in {build_s:.1f} s, {megabytes:.0f} MB")
                for size in SHORTLISTS:
                    for ef in (size, 2 * size):
                        ms, found = ms_per_query(lambda q, p=prefix, s=size, e=ef: p.search(q, s, k, e)[0], queries)
                        prefix_runs.append({"M": degree, "m": dim, "s": size, "ef": ef, "recall": recall(found), "ms": ms,
                                            "build_s": build_s, "mb": megabytes})
                        print(f"  s {size:>4} efSearch {ef:>4}: recall@{k} {prefix_runs[-1]['recall']:.3f}  "
                              f"{ms:.3f} ms per query")
    restore()

    def fastest(runs):
        good = [run for run in runs if run["recall"] >= args.target]
        return min(good, key=lambda run: run["ms"]) if good else max(runs, key=lambda run: run["recall"])

    full, prefix = fastest(full_runs), fastest(prefix_runs)
    print(f"\nfastest at recall@{k} >= {args.target}: full {full}\n  prefix {prefix}")
    if full["M"] != prefix["M"]:  # search_engines builds both graphs with one M: time each with its own
        print("(the two winners use different M; the table below uses each side's own M)")
    table_full = two_stage.search_engines(queries, index, k, prefix["m"], prefix["s"], prefix["ef"], full["ef"],
                                          full["M"], args.ef_construction, repeats=3)
    if full["M"] != prefix["M"]:
        table_prefix = two_stage.search_engines(queries, index, k, prefix["m"], prefix["s"], prefix["ef"],
                                                full["ef"], prefix["M"], args.ef_construction, repeats=3)
        table = pd.concat([table_full.iloc[:3], table_prefix.iloc[3:]])
    else:
        table = table_full
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    full_row, prefix_row = table.iloc[2], table.iloc[3]
    full_vectors_mb = index.nbytes / 1e6
    print(f"full vectors read by the rescoring: {full_vectors_mb:.0f} MB (on disk or in memory)")
    print(f"RESULT n={args.n} data=synthetic_real_plus_cov_noise threads=1 target={args.target} "
          f"full_M={full['M']} full_ef={full['ef']} prefix_M={prefix['M']} prefix_m={prefix['m']} "
          f"prefix_s={prefix['s']} prefix_ef={prefix['ef']} full_recall10={full_row.iloc[0]:.4f} "
          f"prefix_recall10={prefix_row.iloc[0]:.4f} full_qps={full_row['queries per second']:.0f} "
          f"prefix_qps={prefix_row['queries per second']:.0f} "
          f"qps_ratio={prefix_row['queries per second'] / full_row['queries per second']:.2f} "
          f"full_build_s={full_row['build s']:.1f} prefix_build_s={prefix_row['build s']:.1f} "
          f"full_mb={full_row['memory MB']:.0f} prefix_mb={prefix_row['memory MB']:.0f} "
          f"memory_ratio={full_row['memory MB'] / prefix_row['memory MB']:.2f} full_vectors_mb={full_vectors_mb:.0f} "
          f"flat_qps={table.iloc[1]['queries per second']:.0f} exact_qps={table.iloc[0]['queries per second']:.0f} "
          f"faiss_flat_vs_gemm={flat_ms / gemm_ms:.2f}")


if __name__ == "__main__":
    main()
