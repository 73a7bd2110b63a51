"""Train skip-gram on the Wikipedia sample with embedlab and with gensim, same hyperparameters.

Skip-gram, 100 dimensions, window 5, 5 negatives, min count 5, 5 epochs, subsampling 1e-3,
2 worker threads each. Prints, from one run: training time, words per second (corpus words ×
epochs / training time; vocabulary building is not timed for either), analogy accuracy on
the Google set (questions in vocabulary), WordSim-353 Spearman, and the speed ratio.
Both models are scored the same way, so the quality numbers are comparable.
Each trainer runs ``--repeats`` times, alternating, and the fastest run of each counts
(timings on a shared 2-core machine vary by ±20% from run to run); quality is the mean
over the runs, each with its own seed.

gensim runs as its documentation recommends: its compiled (Cython) training routines, checked
on the line ``SANITY`` (``FAST_VERSION`` >= 0; without them gensim is many times slower), and
as many worker threads as ours.

    python bench/word2vec_vs_gensim.py [--workers 2] [--epochs 5] [--repeats 3]
"""

import argparse
import time

import numpy as np
from embedlab import analogy, data, word2vec, word_similarity
from embedlab.vectors import WordVectors
from gensim.models import Word2Vec, word2vec_inner


def quality(vectors):
    """Analogy accuracy (questions in vocabulary) and WordSim-353 Spearman; embedlab.analogy
    gives gensim's evaluators' answers (tested), in a fraction of the time."""
    accuracy = analogy.evaluate_analogies(vectors, data.google_analogies_path(), restrict_vocab=None).accuracy
    return accuracy, word_similarity.evaluate_word_pairs(vectors, data.wordsim353_path()).spearman


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sentences = word2vec.sentences_of(data.wikipedia_sample())
    n_words = sum(len(s) for s in sentences)
    options = dict(dim=100, window=5, negative=5, min_count=5, epochs=args.epochs, sample=1e-3, workers=args.workers)
    print(f"SANITY gensim_fast_version={word2vec_inner.FAST_VERSION} (>= 0: compiled routines) "
          f"gensim_workers={args.workers}")
    print(f"corpus: {len(sentences):,} sentences, {n_words:,} words; {options}")

    # Compile the kernels once (cached on disk afterwards) so that compilation is not timed.
    word2vec.train(sentences[:200], sg=True, dim=8, min_count=1, epochs=1, workers=args.workers, progress_bar=False)
    ours_seconds, gensim_seconds, ours_quality, gensim_quality = [], [], [], []
    for seed in range(1, args.repeats + 1):
        ours = word2vec.train(sentences, sg=True, seed=seed, progress_bar=False, **options)
        ours_seconds.append(ours.history.seconds)
        ours_quality.append(quality(ours))

        gensim = Word2Vec(sg=1, vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                          workers=args.workers, seed=seed)
        gensim.build_vocab(sentences)
        started = time.perf_counter()
        gensim.train(sentences, total_examples=gensim.corpus_count, epochs=args.epochs)
        gensim_seconds.append(time.perf_counter() - started)
        gensim_quality.append(quality(WordVectors.from_gensim(gensim.wv)))

    ours_seconds, gensim_seconds = min(ours_seconds), min(gensim_seconds)
    ours_wps, gensim_wps = n_words * args.epochs / ours_seconds, n_words * args.epochs / gensim_seconds
    ours_analogy, ours_wordsim = np.mean(ours_quality, axis=0)
    gensim_analogy, gensim_wordsim = np.mean(gensim_quality, axis=0)
    print(f"{'':10}{'seconds':>10}{'words/s':>12}{'analogy acc':>14}{'WordSim ρ':>12}")
    print(f"{'embedlab':10}{ours_seconds:10.1f}{ours_wps:12,.0f}{ours_analogy:14.4f}{ours_wordsim:12.3f}")
    print(f"{'gensim':10}{gensim_seconds:10.1f}{gensim_wps:12,.0f}{gensim_analogy:14.4f}{gensim_wordsim:12.3f}")
    print(
        f"RESULT ours_wps={ours_wps:.0f} gensim_wps={gensim_wps:.0f} ratio={ours_wps / gensim_wps:.2f} "
        f"ours_s={ours_seconds:.1f} gensim_s={gensim_seconds:.1f} "
        f"ours_analogy={ours_analogy:.4f} gensim_analogy={gensim_analogy:.4f} "
        f"ours_wordsim={ours_wordsim:.3f} gensim_wordsim={gensim_wordsim:.3f} workers={args.workers} repeats={args.repeats}"
    )


if __name__ == "__main__":
    main()
