"""embedlab: the tested library behind "How Embedding Models Are Trained".

Chapter modules, named after what they teach (a chapter finds its algorithm in one hop):

- Ch. 1 :mod:`~embedlab.representation`: one-hot and dense vectors, maps of the space, lossy projections
- Ch. 2 :mod:`~embedlab.word2vec`: skip-gram and CBOW, and their trainer; :mod:`~embedlab.negative_sampling`:
  the sampling distribution, the sampler and the loss written out; :mod:`~embedlab.word2vec_kernel`: the
  compiled training loop
- Ch. 3 :mod:`~embedlab.analogy`: analogies and the Google benchmark; :mod:`~embedlab.pmi`: PMI matrices and
  their SVD; :mod:`~embedlab.debiasing`: a gender direction and hard debiasing
- Ch. 4 :mod:`~embedlab.contrastive`: InfoNCE and its negatives; :mod:`~embedlab.sentence_encoder`: a small
  encoder trained with it
- Ch. 5 :mod:`~embedlab.matryoshka`: truncation, the Matryoshka loss, trained heads;
  :mod:`~embedlab.quantisation`: int8 and binary codes; :mod:`~embedlab.two_stage`: prefix-first search
- Ch. 6 :mod:`embedlab.rag`: a package, one module per stage of retrieval-augmented generation

Shared modules, which import no chapter module:

- :mod:`~embedlab.similarity`: cosine similarity, distances, nearest neighbours
- :mod:`~embedlab.vectors`: :class:`~embedlab.vectors.WordVectors`, the type every chapter shares
- :mod:`~embedlab.text`: tokens, word spans and sentences
- :mod:`~embedlab.word_similarity`: WordSim-353 and SimLex-999 scores of word vectors
- :mod:`~embedlab.inverse_cloze`: training and test pairs from plain text (the inverse cloze task)
- :mod:`~embedlab.encoders`: all-MiniLM-L6-v2, one ``encode`` and its on-disk cache
- :mod:`~embedlab.bm25`: the book's one BM25
- :mod:`~embedlab.search`: top-k selection and exact search
- :mod:`~embedlab.metrics`: recall@k, precision@k, MRR, nDCG and the tables made of them
- :mod:`~embedlab.training`: what the PyTorch training loops share
- :mod:`~embedlab.storage`: what storing vectors costs
- :mod:`~embedlab.data`, :mod:`~embedlab.cache`: the real, offline data, and the cache of derived arrays
- :mod:`~embedlab.progress`, :mod:`~embedlab.figures`, :mod:`~embedlab.widgets`, :mod:`~embedlab.exercises`:
  progress bars, the book's figures, controls that work in the static book, exercise checks
- :mod:`~embedlab.label_placement`: where the words of a map go, so that every word can be read
"""

__version__ = "0.1.0"
