"""embedlab: the tested library behind "How Embedding Models Are Trained".

One module per idea, named after what it teaches:

- :mod:`embedlab.representation`: one-hot and dense vectors, cosine similarity, projections (Ch. 1)
- :mod:`embedlab.word2vec`: skip-gram and CBOW with negative sampling, and a fast trainer (Ch. 2)
- :mod:`embedlab.analogy`: analogies, word-similarity benchmarks, bias directions and debiasing (Ch. 3)
- :mod:`embedlab.pmi`: PMI matrices and their SVD, the count-based twin of Word2Vec (Ch. 3)
- :mod:`embedlab.contrastive`: InfoNCE, hard negatives, a small sentence encoder, retrieval metrics (Ch. 4)
- :mod:`embedlab.matryoshka`: nested (Matryoshka) embeddings, truncation, quantisation, two-stage search (Ch. 5)
- :mod:`embedlab.rag`: chunking, BM25, dense and hybrid search, a vector database, re-ranking, cited answers (Ch. 6)
- :mod:`embedlab.vectors`: :class:`~embedlab.vectors.WordVectors`, the type every chapter shares
- :mod:`embedlab.data`: loaders for the real, offline data
- :mod:`embedlab.widgets`: controls that keep working in the static book (no kernel)
"""

__version__ = "0.1.0"
