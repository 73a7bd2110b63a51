"""A language model as a re-ranker: each candidate passage is scored by how probable the offline
chat model SmolLM2-135M-Instruct finds the question after reading the passage. This is the query
likelihood model of retrieval (Ponte & Croft 1998) with a neural language model in place of word
counts, as in UPR (Sachan et al. 2022, "Improving passage retrieval with zero-shot question
generation"): nothing is trained, the model's sense of which questions a passage raises does the
work. It reads every candidate whole, question after passage, so it is a cross-encoder in effect,
and costs as much: one forward pass of the language model per candidate.
Book: Chapter 6, "Finding the passage".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedlab.rag.retrieval import fuse_head
from embedlab.search import rerank_head

#: UPR's instruction (Sachan et al. 2022, section 2.2), sent as the user turn of the chat template;
#: the question is scored as the model's answer.
PROMPT = "Passage: {passage}\nPlease write a question based on this passage."


def question_log_likelihood(generator, question: str, passages, batch_size: int = 20) -> np.ndarray:
    """For each passage p, the mean log-probability of the question's m tokens q_1 … q_m when the
    chat model of ``generator`` (a :class:`~embedlab.rag.generation.WindowedGenerator`) answers
    the prompt that holds p (:data:`PROMPT`):

        s(p) = (1/m) Σ_j log P(q_j | prompt(p), q_1 … q_{j−1}).

    The mean, not the sum, as UPR uses it: every passage is scored on the same question, so the
    two rank alike, and the mean reads as an average surprise per token. Passages are read in
    batches of ``batch_size``, padded on the right (a causal model never reads the padding of
    its own row); the output layer is applied only where a question token is predicted, not to
    the passage's tokens, which saves most of the 49,152-word softmax."""
    import torch

    question_ids = generator.tokenizer(question, add_special_tokens=False)["input_ids"]
    if not question_ids:
        raise ValueError("the question is empty: give the words to score")
    prompts = [generator.prompt_ids(PROMPT.format(passage=p)) for p in passages]
    decoder, output_layer = generator.model.get_decoder(), generator.model.get_output_embeddings()
    m, out = len(question_ids), []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            part = [prompt + question_ids for prompt in prompts[start: start + batch_size]]
            ids = torch.zeros((len(part), max(map(len, part))), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, sequence in enumerate(part):
                ids[row, : len(sequence)], mask[row, : len(sequence)] = torch.tensor(sequence), 1
            hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
            # the state at position t predicts token t + 1: question token j of a row is predicted
            # from position (prompt length − 1 + j)
            rows = torch.arange(len(part)).repeat_interleave(m)
            columns = torch.cat([torch.arange(len(s) - m - 1, len(s) - 1) for s in part])
            log_probs = torch.log_softmax(output_layer(hidden[rows, columns]).float(), dim=-1)
            targets = torch.tensor(question_ids).repeat(len(part))
            out.append(log_probs[torch.arange(len(targets)), targets].reshape(len(part), m).mean(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


@dataclass
class QueryLikelihoodReranker:
    """Re-rank by :func:`question_log_likelihood` under a chat model (``generator``, a
    :class:`~embedlab.rag.generation.WindowedGenerator`, e.g. :func:`~embedlab.rag.generation.smollm2_generator`),
    each chunk read as its text. The model's order of the ``top`` candidates is fused with the
    order it was given (:func:`~embedlab.rag.retrieval.fuse_head`, ``keep_weight`` on the latter),
    as MaxSim's order is fused with the hybrid order: alone, the small model misplaces passages
    the earlier stages had right. ``after_maxsim``: in a
    :class:`~embedlab.rag.retrieval.Retriever`, it re-orders MaxSim's order (a third stage)."""

    generator: object
    chunks: list
    keep_weight: float = 1.0
    after_maxsim = True

    def scores(self, query: str, keys) -> np.ndarray:
        """s(chunk) of :func:`question_log_likelihood` for each chunk key."""
        return question_log_likelihood(self.generator, query, [self.chunks[int(key)].text for key in keys])

    def rerank(self, query: str, keys, top: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``top`` of ``keys`` ordered by the fusion of the model's order with theirs,
        the rest after them in their order with NaN scores."""
        keys = np.asarray(keys, dtype=np.int64)
        head = keys[:top]
        return fuse_head(keys, rerank_head(head, self.scores(query, head))[0], self.keep_weight)
