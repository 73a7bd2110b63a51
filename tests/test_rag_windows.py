"""Nothing is cut off silently (issue 21): every chunk fits the encoder's window, also for text
without spaces, and every prompt fits the generator's window, with the passages left out said.
The oracles are the models' own tokenizers, run again on each chunk and prompt; "ordinary text
is chunked as before" is checked against a fingerprint of the chunks that the chunker of commit
933eaf7 (which cut only at spaces) made of the Wikipedia sample."""

import hashlib
import json

import numpy as np
import pytest
from embedlab.rag import __main__ as cli
from embedlab.rag import chunking, corpora, generation, pipeline
from test_rag import _hit
from test_rag_ingest import write_notes

# A few sentences of Chinese (about Beijing, the Great Wall and the weather), which has no
# spaces: before, each paragraph was one "word" and one chunk of thousands of MiniLM tokens.
CHINESE = ("北京是中华人民共和国的首都，也是全国的政治中心和文化中心。北京有三千多年的建城史，"
           "八百多年的建都史。长城是古代中国为了抵御北方游牧民族而修建的军事工程。“你去过长城吗？”"
           "他问。“还没有！”我说。今天的天气很好，我们打算明天早上去爬山。")


@pytest.fixture(scope="module")
def tokenizer():
    return chunking.chunking_tokenizer(chunking.ChunkingConfig())


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _assert_cover(text: str, spans) -> None:
    """Every character that is not a space lies in some chunk, and the chunks are in order."""
    covered = np.zeros(len(text), dtype=bool)
    for start, end in spans:
        covered[start:end] = True
    assert all(covered[i] or text[i].isspace() for i in range(len(text))), "text lost between chunks"
    assert [s for s, _ in spans] == sorted(s for s, _ in spans) and len(set(spans)) == len(spans)


def test_the_wikipedia_sample_is_chunked_exactly_as_before(tokenizer):
    """No word of the sample has more than 42 MiniLM tokens, so none is cut: the chunks (the
    chapter's) are those the space-only chunker made."""
    documents = corpora.wikipedia_documents()
    spans = [chunking.chunk_text(document.text, 128, 16, tokenizer) for document in documents]
    assert sum(map(len, spans)) == 5889
    assert hashlib.sha256(json.dumps(spans).encode()).hexdigest() == (
        "8c93e8aa172cf6fcfe3ff861288f9364810e110fde0654f26ccc450c75444971")


@pytest.mark.parametrize("max_tokens, overlap", [(128, 16), (32, 4), (8, 2), (3, 1)])
def test_chinese_text_is_cut_into_chunks_that_fit(tokenizer, max_tokens, overlap):
    text = "\n\n".join([CHINESE * 12] * 3) + " Then some English. " + CHINESE * 2
    assert _count(tokenizer, CHINESE * 12) > 1000  # one paragraph: far past the window
    spans = chunking.chunk_text(text, max_tokens, overlap, tokenizer)
    assert max(_count(tokenizer, text[s:e]) for s, e in spans) <= max_tokens
    _assert_cover(text, spans)
    for (_, previous_end), (start, _) in zip(spans, spans[1:]):
        assert _count(tokenizer, text[start:previous_end]) <= overlap if start < previous_end else True
    if max_tokens == 128:  # room to end at a sentence end: after 。！？ (and a closing quote)
        assert all(text[s:e].endswith(("。", "？”", "！”")) for s, e in spans[:-1])


def test_a_url_longer_than_the_window_is_cut_at_its_punctuation(tokenizer):
    # One word of 4,000 characters and 2,400 MiniLM tokens (WordPiece cuts at every "/").
    blob = "https://example.org/" + "/".join(f"p{i}" for i in range(800))
    text = f"Before the blob.\n{blob}\nAfter the blob."  # line breaks end sentences
    spans = chunking.chunk_text(text, 8, 2, tokenizer)
    pieces = [text[s:e] for s, e in spans]
    assert pieces[0] == "Before the blob." and pieces[-1] == "After the blob." and len(pieces) > 2400 / 8
    assert max(_count(tokenizer, piece) for piece in pieces) <= 8
    assert not any(piece[0].isdigit() for piece in pieces)  # cut at "/", never inside "p12" (p, ##12)
    _assert_cover(text, spans)


def test_runs_of_letters_without_punctuation_fit_too(tokenizer):
    """A run of letters under 100 characters is one pre-token word of up to one token a letter;
    cut between tokens, its parts would tokenize into more tokens than counted, so it is cut at
    characters. Random runs, with a generator passed in."""
    rng = np.random.default_rng(21)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzQXZ0123456789"))
    for _ in range(40):
        text = " ".join("".join(rng.choice(letters, rng.integers(1, 99))) for _ in range(6))
        for max_tokens in (2, 5, 16):
            spans = chunking.chunk_text(text, max_tokens, max_tokens // 4, tokenizer)
            assert max(_count(tokenizer, text[s:e]) for s, e in spans) <= max_tokens, text
            _assert_cover(text, spans)


# ----------------------------------------------------------------------------------------
# Prompts and SmolLM2's window


@pytest.fixture(scope="module")
def smollm2():
    return generation.smollm2_generator(max_new_tokens=8)


def _chat_tokens(generator, prompt: str) -> int:
    """The oracle: the tokens SmolLM2 reads for a prompt, its chat template laid out as text, then tokenized."""
    text = generator.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                   tokenize=False)
    return len(generator.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_smollm2_reads_the_window_its_gguf_file_declares(smollm2):
    import gguf

    reader = gguf.GGUFReader(generation.smollm2_path())
    field = reader.fields["llama.context_length"]
    assert smollm2.window == int(field.parts[field.data[0]][0]) == 8192


def test_a_prompt_past_the_window_keeps_the_best_passages_that_fit(smollm2):
    articles = [d for d in corpora.wikipedia_documents() if len(d.text) > 20_000][:4]
    hits = [_hit(rank, d.title, d.text[:12_000]) for rank, d in enumerate(articles, 1)]  # ~2,500 tokens each
    question = "What is albedo?"
    full = generation.build_prompt(question, hits)
    assert _chat_tokens(smollm2, full) + smollm2.max_new_tokens > smollm2.window  # the premise: it overflows
    with pytest.raises(ValueError, match=r"^the prompt takes [\d,]+ tokens and the answer up to 8, but "
                                         r"SmolLM2-135M-Instruct reads 8,192: use fewer passages"):
        smollm2(full)
    prompt, kept = generation.fit_prompt(question, hits, smollm2)
    assert kept == hits[: len(kept)] and 0 < len(kept) < len(hits) and prompt == generation.build_prompt(question, kept)
    assert _chat_tokens(smollm2, prompt) + smollm2.max_new_tokens <= smollm2.window
    longer = generation.build_prompt(question, hits[: len(kept) + 1])
    assert _chat_tokens(smollm2, longer) + smollm2.max_new_tokens > smollm2.window  # no passage left out needlessly
    assert smollm2(prompt)  # the model answers something, where the whole prompt got nothing
    assert generation.fit_prompt(question, hits, generation.extractive_generator) == (full, hits)  # no window
    with pytest.raises(ValueError, match="the question and the best passage alone take"):
        generation.fit_prompt("why? " * 9000, hits[:1], smollm2)


def test_answer_says_which_passages_it_left_out(tmp_path, smollm2, monkeypatch, capsys):
    """Forty chunks of about 250 tokens are more than SmolLM2 reads: the command line answers
    from the best that fit and names the rest."""
    texts = [d.text[:2000] for d in corpora.wikipedia_documents()[:40]]
    folder = write_notes(tmp_path / "notes", **{f"article{i:02d}": text for i, text in enumerate(texts)})
    db = str(tmp_path / "notes.db")
    assert cli.main(["ingest", str(folder), "--db", db, "--quiet", "--max-tokens", "240", "--overlap", "0"]) == 0
    monkeypatch.setitem(generation.GENERATORS, "smollm2", lambda: smollm2)
    capsys.readouterr()
    assert cli.main(["answer", "What is albedo?", "--db", db, "-k", "40", "--generator", "smollm2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = pipeline.search("What is albedo?", db, 40)
    prompt, kept = generation.fit_prompt("What is albedo?", found, smollm2)
    assert _chat_tokens(smollm2, prompt) + smollm2.max_new_tokens <= smollm2.window
    longer = generation.build_prompt("What is albedo?", found[: len(kept) + 1])
    assert len(found) == 40 and _chat_tokens(smollm2, longer) + smollm2.max_new_tokens > smollm2.window
    assert lines[-1] == (f"left out: {40 - len(kept)} passages of 40 (ranks "
                         f"{', '.join(str(rank) for rank in range(len(kept) + 1, 41))}), which would not fit "
                         f"SmolLM2-135M-Instruct's window of 8,192 tokens with 8 for the answer")
