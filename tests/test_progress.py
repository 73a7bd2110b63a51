"""Progress bars show for the person waiting and never in the built book: make book sets
TQDM_DISABLE=1, which tqdm's own defaults read, and embedlab reads it for the bars whose callers
choose explicitly (the browser test checks the pages themselves)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedlab import progress

ROOT = Path(__file__).resolve().parents[1]


def bars_shown(environment: dict) -> str:
    """What a fresh process shows on stderr for one embedlab bar and one bar of a library that
    uses tqdm directly (transformers' GGUF loading does)."""
    code = ("from embedlab import progress\nfrom tqdm.auto import tqdm\n"
            "list(progress.bar(range(3), 'ours'))\nlist(tqdm(range(3), desc='theirs'))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    return result.stderr


def test_make_book_turns_off_every_bar():
    import os

    shown = bars_shown({k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"})
    assert "ours" in shown and "theirs" in shown  # the control: without the switch both show
    assert bars_shown({**os.environ, "TQDM_DISABLE": "1"}) == ""
    assert "TQDM_DISABLE=1 jupyter-book build" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_disabled_bar_yields_the_same_items(monkeypatch, enabled):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    bar = progress.bar(range(3), "counting", enabled=enabled)
    assert bar.disable is (not enabled) and list(bar) == [0, 1, 2]
    bar.close()


def test_the_sentence_encoder_bar_follows_the_same_switch(monkeypatch):
    """sentence-transformers passes disable=not show_progress_bar to tqdm, which overrides
    TQDM_DISABLE: embedlab.encoders must ask for no bar itself."""
    from embedlab import encoders

    asked = []

    class Model:
        def encode(self, texts, **options):
            asked.append(options["show_progress_bar"])
            return np.ones((len(texts), 2), dtype=np.float32)

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    encoders.encode(["a"], model=Model(), show_progress=True)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    encoders.encode(["a"], model=Model(), show_progress=True)
    assert asked == [True, False]


def test_the_gguf_loading_bar_follows_the_switch_in_a_notebook(monkeypatch):
    """transformers draws SmolLM2's "de-quantizing GGUF tensors" bar with tqdm.auto, which in a
    notebook is tqdm's notebook bar: that one sets disable=False itself and ignores TQDM_DISABLE,
    so Chapter 6's built page showed it. While embedlab loads a GGUF model the bar is disabled."""
    from tqdm.notebook import tqdm as notebook_bar
    from transformers import modeling_gguf_pytorch_utils as transformers_gguf

    from embedlab.rag.generation import gguf_loading

    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setattr(transformers_gguf, "tqdm", notebook_bar)
    assert not notebook_bar(range(2), gui=False).disable  # the problem: the notebook bar ignores the switch
    with gguf_loading():
        assert transformers_gguf.tqdm(range(2)).disable
    assert transformers_gguf.tqdm is notebook_bar
    monkeypatch.delenv("TQDM_DISABLE")
    with gguf_loading():
        assert transformers_gguf.tqdm is notebook_bar  # bars wanted: left alone
