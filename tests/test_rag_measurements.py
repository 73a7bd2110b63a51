"""Chapter 6's measurements of chunk overlap and re-ranking, the ranking of articles a search box
shows, the words a query shares with a title, the walkthrough's prompt, and the sortable table.
Oracles: rankings recomputed with numpy and the retriever's own public stages, pandas' sort, a
hand-worked example; each test also shows the plausible mistake it rejects."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from embedlab import encoders, tables
from embedlab.rag import (
    chunking,
    corpora,
    dense,
    evaluation,
    generation,
    pipeline,
    retrieval,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def model():
    return encoders.load_minilm()


@pytest.fixture(scope="module")
def help_retriever(model):
    return retrieval.Retriever.from_documents(corpora.help_centre(), model=model)


@pytest.fixture(scope="module")
def help_questions():
    """Three help-centre questions with the quoted passage they need (a sentence of the article)."""
    texts = {d.doc_id: d.text for d in corpora.help_centre()}
    questions = pd.DataFrame({
        "question": ["I forgot my login secret", "error E-4012", "how do I get my money back"],
        "first_title": ["password-reset", "locked-account", "refunds"],
        "kind": ["paraphrase", "keyword", "paraphrase"],
    })
    questions["relevant_titles"] = [{t} for t in questions["first_title"]]
    questions["passage"] = [texts[t].split(". ")[1] for t in questions["first_title"]]
    return questions


def test_document_hits_keep_each_articles_best_chunk_in_order():
    """Oracle: pandas, the first row of each document in rank order. The mistake of ranking
    documents by their summed chunk scores would put b (0.5 + 0.4 + 0.3) above a (0.9)."""
    chunks = [chunking.Chunk(doc, doc.upper(), i, 0, 1, f"{doc}{i}") for doc, i in
              [("a", 0), ("b", 0), ("b", 1), ("c", 0), ("a", 1), ("b", 2)]]
    keys, scores = [0, 1, 2, 5, 4, 3], [0.9, 0.5, 0.4, 0.3, 0.2, 0.1]
    hits = retrieval.document_hits(chunks, keys, scores)
    frame = pd.DataFrame({"doc": [chunks[k].doc_id for k in keys], "key": keys, "score": scores})
    best = frame.drop_duplicates("doc")
    assert [h.chunk.doc_id for h in hits] == list(best["doc"]) == ["a", "b", "c"]
    assert [h.key for h in hits] == list(best["key"]) and [h.score for h in hits] == list(best["score"])
    assert [h.rank for h in hits] == [1, 2, 3]
    summed = frame.groupby("doc")["score"].sum().sort_values(ascending=False)
    assert list(summed.index) != [h.chunk.doc_id for h in hits]


def test_maxsim_stacked_equals_a_loop_per_text_with_empty_texts():
    """Oracle: one matrix product per text, as the definition reads. Empty texts score 0."""
    rng = np.random.default_rng(0)
    query = rng.normal(size=(6, 8)).astype(np.float32)
    texts = [rng.normal(size=(n, 8)).astype(np.float16) for n in (4, 0, 1, 17)]
    expected = [(query @ t.astype(np.float32).T).max(axis=1).sum() if len(t) else 0.0 for t in texts]
    np.testing.assert_allclose(retrieval.maxsim(query, texts), expected, rtol=1e-5)
    # The mistake of taking each text's best token for the whole query (max over everything) differs.
    assert not np.allclose([(query @ t.astype(np.float32).T).max() if len(t) else 0 for t in texts], expected)
    assert retrieval.maxsim(query, [np.zeros((0, 8))]).tolist() == [0.0]


def test_shared_terms_hand_example():
    """The source article's example: the query and the title share "password" (lower-cased; the
    title has it capitalised, which a case-sensitive comparison would miss)."""
    assert evaluation.shared_terms("How do I change my password?", "Password Reset Guide") == ["password"]
    assert set("How do I change my password?".split()) & set("Password Reset Guide".split()) == set()
    assert evaluation.shared_terms("password password reset", "reset the password") == ["password", "reset"]
    assert evaluation.shared_terms("the of and", "the of and") == []  # stop words are not terms


def test_chunk_overlap_sweep_equals_a_recount_with_numpy(model, help_questions):
    """Oracle: for each setting, chunk, encode and rank with numpy, then look for the passage in
    the first five chunks by hand. A setting whose overlap is half the size or more is skipped."""
    documents = corpora.help_centre()[:12]
    questions = help_questions[help_questions["first_title"].isin({d.doc_id for d in documents})]
    assert len(questions) >= 2
    sweep = evaluation.chunk_overlap_sweep(documents, questions, settings=[(64, 20), (32, 0), (32, 8), (64, 0), (64, 8)],
                                           model=model)
    assert list(sweep.index) == [(32, 0), (32, 8), (64, 0), (64, 8), (64, 20)]
    texts = {d.doc_id: d.text for d in documents}
    query_vectors = encoders.encode(questions["question"], model)
    for (size, overlap), row in sweep.iterrows():
        chunks = chunking.chunk_documents(documents, chunking.ChunkingConfig(size, overlap))
        vectors = encoders.encode([dense.embedding_input(c) for c in chunks], model)
        half, whole, article = [], [], []
        for q, vector in zip(questions.itertuples(), query_vectors):
            top = [chunks[i] for i in np.argsort(-(vectors @ vector), kind="stable")[:5]]
            start = texts[q.first_title].find(q.passage)
            end = start + len(q.passage)
            inside = [min(c.end, end) - max(c.start, start) if c.doc_id == q.first_title else 0 for c in top]
            half.append(any(2 * n >= end - start for n in inside))
            whole.append(any(n == end - start for n in inside))
            article.append(any(c.doc_id == q.first_title for c in top))
        assert row["chunks"] == len(chunks)
        assert row["passage@5"] == pytest.approx(np.mean(half))
        assert row["whole passage@5"] == pytest.approx(np.mean(whole))
        assert row["article@5"] == pytest.approx(np.mean(article))
        repeating = sum(a.doc_id == b.doc_id and b.start < a.end for a, b in zip(chunks, chunks[1:]))
        assert row["chunks repeating text"] == pytest.approx(repeating / len(chunks))
    assert (sweep.loc[(slice(None), 0), "chunks repeating text"] == 0).all()
    assert sweep.loc[(32, 8), "chunks repeating text"] > 0  # 32-token windows cut sentences, and repeat
    with pytest.raises(ValueError, match="an overlap of 8 tokens does not fit chunks of 16: choose at least 0 and less than half"):
        evaluation.chunk_overlap_sweep(documents, questions, settings=[(32, 0), (16, 8)], model=model)


def test_reranking_report_equals_the_retrievers_own_rankings(help_retriever, help_questions):
    """Oracle: ``Retriever.ranking`` with "hybrid" and "hybrid+rerank" (and its rerank_top), the
    first five chunks counted by hand. The mistake of counting articles instead of chunks (each
    article once in the five) would give a different precision."""
    documents = corpora.help_centre()
    report = evaluation.reranking_report(help_retriever, help_questions, documents, candidates=(5, 20))
    assert list(report.index) == [0, 5, 20]

    def chunk_precision(method, top):
        shares = []
        for q in help_questions.itertuples():
            keys = help_retriever.ranking(q.question, method, rerank_top=top)[0][:5]
            shares.append(np.mean([help_retriever.chunks[k].doc_id in q.relevant_titles for k in keys]))
        return float(np.mean(shares))

    before = chunk_precision("hybrid", 20)
    assert report.loc[0, "precision@5 (chunks)"] == pytest.approx(before)
    for top in (5, 20):
        after = chunk_precision("hybrid+rerank", top)
        assert report.loc[top, "precision@5 (chunks)"] == pytest.approx(after)
        assert report.loc[top, "gain (%)"] == pytest.approx(100 * (after - before) / before)
        assert report.loc[top, "added ms per query"] > 0
    assert report.loc[5, "precision@5 (chunks)"] == report.loc[0, "precision@5 (chunks)"]  # same five, re-ordered
    table = evaluation.evaluate_retrievers(help_retriever, help_questions, documents, methods=["hybrid+rerank"])
    assert report.loc[20, "MRR"] == pytest.approx(table.loc[("hybrid+rerank", "all"), "MRR"])
    assert report.loc[20, "passage@5"] == pytest.approx(table.loc[("hybrid+rerank", "all"), "passage@5"])
    articles = evaluation.evaluate_retrievers(help_retriever, help_questions, documents, methods=["hybrid"])
    assert articles.loc[("hybrid", "all"), "precision@5"] != pytest.approx(before)


class _WordWindow(generation.WindowedGenerator):
    """A WindowedGenerator (name, tokenizer, model, max_new_tokens) that counts a prompt's words as
    its tokens, reads ``model`` tokens and answers without a model."""

    @property
    def window(self) -> int:
        return self.model

    def prompt_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    def __call__(self, prompt: str) -> str:
        assert self.fits(prompt)
        return "answered"


def test_trace_numbers_only_the_passages_the_generator_reads(help_retriever):
    """The walkthrough builds its prompt as ``pipeline.answer`` does (generation.fit_prompt). The
    oracle: the prompt of the best passages whose words fit the window, counted by hand; the old
    prompt of all three passages would not fit."""
    question = "How do I change my password?"
    full = pipeline.trace(help_retriever, question)
    assert full.left_out == [] and full.prompt == generation.build_prompt(question, full.reranked)
    one = len(generation.build_prompt(question, full.reranked[:1]).split())
    two = len(generation.build_prompt(question, full.reranked[:2]).split())
    small = _WordWindow("words", None, two - 1 + 5, 5)
    assert small.fits(generation.build_prompt(question, full.reranked[:1]))
    assert not small.fits(generation.build_prompt(question, full.reranked)) and one < two
    result = pipeline.trace(help_retriever, question, small)
    assert result.prompt == generation.build_prompt(question, full.reranked[:1])
    assert result.left_out == full.reranked[1:] and result.answer == "answered"


def test_sortable_table_html_names_every_header_and_refuses_unknown_columns():
    frame = pd.DataFrame({"model": ["b", "a"], "score": [1.5, np.nan], "size": [10, 2_000]})
    html = tables.sortable_table(frame, {"score": "Score"}, formats={"size": "{:,}"}).data
    assert html.count("<button type='button'>") == 3 and "<button type='button'>Score</button>" in html
    assert "data-sort='2000.0'" in html and ">2,000<" in html and "<td data-sort='' class=number>—</td>" in html
    assert "data-type='number'" in html and "data-type='text'" in html
    with pytest.raises(ValueError, match="no column named 'price' in the table; its columns are 'model', 'score', 'size'"):
        tables.sortable_table(frame, formats={"price": "{}"})


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Chromium is not installed")
def test_sortable_table_sorts_every_column_in_a_browser_like_pandas(tmp_path):
    """Oracle: pandas' stable sort with missing values last, for each column, both directions."""
    from playwright.sync_api import sync_playwright

    frame = pd.DataFrame({"model": ["gte", "E5", "bge", "ada", "minilm"], "score": [63.1, 66.6, np.nan, 61.0, 56.3],
                          "dimensions": [1024, 4096, 1024, 1536, 384], "open": ["yes", "yes", "yes", "no", "yes"]})
    page_file = tmp_path / "table.html"
    page_file.write_text(f"<!doctype html><html><body>{tables.sortable_table(frame).data}</body></html>")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_file.as_uri())
        for column_number, column in enumerate(frame.columns):
            for ascending in (True, False):
                # Ties keep the order shown before the click, as a stable sort of that order does.
                before = frame.set_index("model").loc[page.locator("tbody tr td:first-child").all_inner_texts()]
                page.locator("th button").nth(column_number).click()
                shown = page.locator("tbody tr td:first-child").all_inner_texts()
                key = before.index.str.lower() if column == "model" else (
                    before[column].str.lower() if column == "open" else before[column])
                order = before.assign(key=key).sort_values("key", ascending=ascending, kind="stable", na_position="last")
                assert shown == list(order.index), (column, ascending)
                assert page.locator("th").nth(column_number).get_attribute("aria-sort") == (
                    "ascending" if ascending else "descending")
        browser.close()


def test_architecture_diagram_writes_every_step_inside_its_box():
    """Every line of every step is drawn, inside a box (measured in pixels by the renderer), and
    no two texts overlap; a diagram without a search step to connect the store to is refused."""
    from embedlab import diagrams
    from matplotlib.patches import Rectangle

    offline = ["Documents\nhelp centre, Wikipedia, a folder", "Chunk\n≤ 128 MiniLM tokens, overlap", "Embed chunks\n384-d"]
    online = ["Question\nfrom a user", "Embed the question\nthe same MiniLM", "Search\ndense + BM25, fused (RRF)",
              "Re-rank\nMaxSim over token vectors", "Prompt\nthe passages that fit, numbered", "Generate\ncites [n]"]
    figure = diagrams.architecture_diagram(offline, online, "Vector store\nMilvus Lite:\nchunks, vectors,\nfields")
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, Rectangle) and p.get_facecolor()[:3] == (1, 1, 1)]
    assert len(boxes) == len(offline) + len(online) + 1
    texts = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts if t.get_text()}
    for step in offline + online + ["Vector store\nMilvus Lite:\nchunks, vectors,\nfields"]:
        name, _, detail = step.partition("\n")
        for part in (name, detail):
            extent = texts[part]
            assert any(b.x0 <= extent.x0 and extent.x1 <= b.x1 and b.y0 <= extent.y0 and extent.y1 <= b.y1 for b in boxes), part
    extents = list(texts.values())
    assert not any(a.overlaps(b) for i, a in enumerate(extents) for b in extents[i + 1:])
    with pytest.raises(ValueError, match="exactly one online step starting with 'Search'"):
        diagrams.architecture_diagram(offline, ["Question", "Answer"], "Vector store")
