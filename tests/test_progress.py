"""Progress bars show for the person waiting and never in the built book (EMBEDLAB_PROGRESS=off)."""

import numpy as np
import pytest

from embedlab import progress


@pytest.mark.parametrize("setting", ["off", "0", "False", " no "])
def test_the_environment_turns_every_bar_off(monkeypatch, setting):
    monkeypatch.setenv("EMBEDLAB_PROGRESS", setting)
    bar = progress.bar(range(3), "counting", enabled=True)
    assert bar.disable and list(bar) == [0, 1, 2]


@pytest.mark.parametrize("setting", [None, "", "on", "1"])
def test_otherwise_the_caller_decides(monkeypatch, setting):
    if setting is None:
        monkeypatch.delenv("EMBEDLAB_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("EMBEDLAB_PROGRESS", setting)
    shown, hidden = progress.bar(range(3), "counting"), progress.bar(range(3), "counting", enabled=False)
    assert not shown.disable and hidden.disable
    assert list(shown) == list(hidden) == [0, 1, 2]
    shown.close()


def test_the_sentence_encoder_bar_follows_the_same_switch(monkeypatch):
    from embedlab import encoders

    calls = []

    class Model:
        def encode(self, texts, **options):
            calls.append(options["show_progress_bar"])
            return np.ones((len(texts), 2), dtype=np.float32)

    monkeypatch.delenv("EMBEDLAB_PROGRESS", raising=False)
    encoders.encode(["a"], model=Model(), show_progress=True)
    monkeypatch.setenv("EMBEDLAB_PROGRESS", "off")
    encoders.encode(["a"], model=Model(), show_progress=True)
    assert calls == [True, False]
