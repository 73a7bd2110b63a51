"""The progress bar every long step of the book shows: tqdm's, as a widget in Jupyter and as
text in a terminal, or nothing when the caller turns it off.

A bar is for the person waiting: it belongs in a live notebook or a terminal, never in a built
page. ``make book`` sets ``TQDM_DISABLE=1`` for the chapters it executes: tqdm's own switch, which
turns off the terminal bars libraries draw with tqdm's defaults, and which :func:`wanted` reads
for the bars whose callers choose explicitly: ours, sentence-transformers' encoding bar
(:mod:`embedlab.encoders`) and transformers' GGUF-loading bar
(:func:`embedlab.rag.generation.gguf_loading`), whose notebook form ignores the switch.
"""

from __future__ import annotations

import os


def wanted() -> bool:
    """False when ``TQDM_DISABLE`` is set to 1 (or true, yes, on): then no bar is shown, whatever
    the caller asks."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in {"1", "true", "yes", "on"}


def bar(items=None, description: str = "", unit: str = " items", total: int | None = None, enabled: bool = True,
        **options):
    """A ``tqdm`` bar over ``items`` (or counting up to ``total`` by ``.update(n)``). When not
    ``enabled`` (or not :func:`wanted`) it is tqdm's disabled bar: it yields the same items and
    its ``update`` and ``close`` do nothing, so callers need no second code path. ``options`` go
    to tqdm (e.g. ``unit_scale=True``)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, unit=unit, total=total, disable=not (enabled and wanted()), **options)
