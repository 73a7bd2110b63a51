"""Chapter 6, "Embeddings in production: semantic search and RAG": a retrieval-augmented
question-answering system, built from parts a reader can test one at a time, one module each,
in the order the chapter builds them:

1. :mod:`~embedlab.rag.corpora`: the chapter's documents and questions;
2. :mod:`~embedlab.rag.chunking`: windows of tokens with overlap that end at sentence ends and
   never split a word;
3. keyword search with BM25 (:mod:`embedlab.bm25`, shared with Chapter 4);
4. :mod:`~embedlab.rag.dense`: what the encoder reads for each chunk, and the chunks'
   embeddings, cached on disk (the encoder itself is :mod:`embedlab.encoders`);
5. :mod:`~embedlab.rag.store`: a vector database, Milvus Lite, embedded in the process and
   saved to a local folder, or a Milvus server, through the same client code
   (:mod:`~embedlab.rag.milvus_store`); where Milvus Lite cannot be imported, an exact store with
   the same answers, whose filters :mod:`~embedlab.rag.filters` reads;
6. :mod:`~embedlab.rag.retrieval`: hybrid search by reciprocal rank fusion and re-ranking by
   late interaction over MiniLM's token vectors, put together in ``Retriever``;
7. :mod:`~embedlab.rag.evaluation`: measuring all of it on questions with known answers;
8. :mod:`~embedlab.rag.generation`: prompts with numbered citations and the generators that
   answer them;
9. :mod:`~embedlab.rag.pipeline`: one question through every stage, and ``ingest``, ``search``
   and ``answer`` over one database; ``python -m embedlab.rag`` (:mod:`~embedlab.rag.__main__`)
   is its command line.
"""
