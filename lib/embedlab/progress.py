"""The progress bar every long step of the book shows: tqdm's, as a widget in Jupyter and as
text in a terminal, or nothing when the caller turns it off.

A bar is for the person waiting: it belongs in a live notebook or a terminal, never in a built
page. ``make book`` sets ``EMBEDLAB_PROGRESS=off`` for the chapters it executes, which turns every
bar off (:func:`wanted`); set it yourself to silence them anywhere.
"""

from __future__ import annotations

import os


def wanted() -> bool:
    """False when the environment variable ``EMBEDLAB_PROGRESS`` is ``off`` (or ``0``, ``false``,
    ``no``): then no bar is shown, whatever the caller asks."""
    return os.environ.get("EMBEDLAB_PROGRESS", "").strip().lower() not in {"off", "0", "false", "no"}


def bar(items=None, description: str = "", unit: str = " items", total: int | None = None, enabled: bool = True,
        **options):
    """A ``tqdm`` bar over ``items`` (or counting up to ``total`` by ``.update(n)``). When not
    ``enabled`` (or not :func:`wanted`) it is tqdm's disabled bar: it yields the same items and
    its ``update`` and ``close`` do nothing, so callers need no second code path. ``options`` go
    to tqdm (e.g. ``unit_scale=True``)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, unit=unit, total=total, disable=not (enabled and wanted()), **options)
