"""SmolLM2 as a re-ranker by query likelihood (issue 23). The oracle for the score is transformers'
own causal-language-model loss, each passage run alone with the prompt's labels masked (no
batching, no padding, the logits of every position); the fusion is worked by hand; the
retriever is checked to hand the re-ranker MaxSim's order, not the hybrid order."""

import numpy as np
import pytest
import torch
from embedlab.rag import chunking, corpora, generation, retrieval, store
from embedlab.rag.query_likelihood import PROMPT, QueryLikelihoodReranker, question_log_likelihood

PASSAGES = ["Michelangelo painted the ceiling of the Sistine Chapel between 1508 and 1512 for Pope Julius II.",
            "Rain falls most in the autumn months.",
            "The chapel's frescoes were cleaned in the 1980s, which revealed brighter colours than anyone expected "
            "from the darkened surface, and the work took longer than the painting itself."]
QUESTION = "Who painted the chapel's ceiling for the pope?"


@pytest.fixture(scope="module")
def smollm2():
    return generation.smollm2_generator(max_new_tokens=8)


def _transformers_loss(smollm2, passage: str) -> float:
    """Mean negative log-likelihood of the question's tokens, by transformers' own loss: the prompt's
    positions labelled -100 (ignored), the question's labelled with its tokens (shifted inside)."""
    tokenizer = smollm2.tokenizer
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT.format(passage=passage)}],
                                           add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    question_ids = tokenizer(QUESTION, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + question_ids])
    labels = torch.tensor([[-100] * len(prompt_ids) + question_ids])
    with torch.no_grad():
        return float(smollm2.model(input_ids=ids, labels=labels).loss)


def test_the_score_is_the_mean_log_likelihood_transformers_computes(smollm2):
    # batches of 2 over 3 passages of different lengths: padding and a second batch are both read
    ours = question_log_likelihood(smollm2, QUESTION, PASSAGES, batch_size=2)
    oracle = [-_transformers_loss(smollm2, passage) for passage in PASSAGES]
    np.testing.assert_allclose(ours, oracle, atol=2e-4)
    # the passage that answers is the likeliest source of the question; the weather the least
    assert ours.argmax() == 0 and ours.argmin() == 1
    with pytest.raises(ValueError, match="the question is empty"):
        question_log_likelihood(smollm2, "", PASSAGES)


class _Scored(QueryLikelihoodReranker):
    """The re-ranker with fixed model scores, for the fusion alone."""

    def scores(self, query, keys):
        return np.array([self.given[int(key)] for key in keys])


def test_the_models_order_is_fused_with_the_order_it_was_given():
    reranker = _Scored(generator=None, chunks=[])
    reranker.given = {10: 0.1, 11: 0.3, 12: 0.2}
    keys, scores = reranker.rerank("q", [10, 11, 12, 13], 3)
    # by hand: the model ranks (11, 12, 10), the given order is (10, 11, 12), k = 60, weight 1:
    # 11: 1/61 + 1/62 = .032522, 10: 1/63 + 1/61 = .032266, 12: 1/62 + 1/63 = .032002; 13 unscored after
    assert list(keys) == [11, 10, 12, 13]
    np.testing.assert_allclose(scores[:3], [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62 + 1 / 63], rtol=1e-6)
    assert np.isnan(scores[3])
    with pytest.raises(ValueError, match="same keys as the head"):
        retrieval.fuse_head([1, 2, 3], [1, 4], 1.0)


def test_in_a_retriever_it_re_orders_maxsims_order():
    chunks = chunking.chunk_documents(corpora.help_centre()[:3], chunking.ChunkingConfig())[:3]
    tokens = [np.array([[0.5, 0.866]]), np.array([[0.2, 0.98]]), np.array([[0.9, 0.436]])]  # MaxSim: .5, .2, .9
    vectors = store.ExactVectors(np.eye(3, dtype=np.float32))
    given = []

    class Recorder:
        after_maxsim = True

        def rerank(self, query, keys, top):
            given.append(list(keys))
            return np.asarray(keys), np.zeros(len(keys))

    retriever = retrieval.Retriever(chunks, vectors, token_vectors=tokens, reranker=Recorder())
    retriever.rerank("q", [0, 1, 2], 3, np.array([[1.0, 0.0]]))
    assert given == [[2, 0, 1]]  # MaxSim's order, not the (0, 1, 2) it re-ranked


def test_the_cli_option_puts_it_after_the_default_re_ranking(tmp_path, monkeypatch, capsys):
    import json

    from embedlab.rag import __main__ as cli
    from embedlab.rag import pipeline
    from test_rag_ingest import NOTES, write_notes

    given = []

    class Reverser:
        """Stands in for SmolLM2: records what it is given and reverses the head."""
        after_maxsim = True

        def rerank(self, query, keys, top):
            given.append(list(keys[:top]))
            keys = np.asarray(keys)
            return np.concatenate([keys[:top][::-1], keys[top:]]), np.zeros(len(keys))

    monkeypatch.setattr(cli, "reranker_by_name", lambda name, chunks: Reverser() if name == "query-likelihood" else None)
    folder, db = write_notes(tmp_path / "notes", **NOTES), tmp_path / "notes.db"
    assert cli.main(["ingest", str(folder), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["search", "offline app", "--db", str(db), "--reranker", "query-likelihood", "--json"]) == 0
    printed = [json.loads(line)["doc_id"] for line in capsys.readouterr().out.splitlines()]
    default = pipeline.search("offline app", db, 5)  # the default: MaxSim fused with the hybrid order
    assert len(default) == 3  # every chunk of the notes is a candidate: the whole head is re-ordered
    assert given == [[hit.key for hit in default]]
    assert printed == [hit.chunk.doc_id for hit in reversed(default)]
