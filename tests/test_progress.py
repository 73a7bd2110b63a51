"""Progress bars show for the person waiting and never in the built book: make book sets
TQDM_DISABLE=1, which every tqdm bar reads, ours and the libraries' (the browser test checks
the pages themselves)."""

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
