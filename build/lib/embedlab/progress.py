"""The progress bar every long step of the book shows: tqdm's, as a widget in Jupyter and as
text in a terminal, or nothing when the caller turns it off."""

from __future__ import annotations


def bar(items=None, description: str = "", unit: str = " items", total: int | None = None, enabled: bool = True,
        **options):
    """A ``tqdm`` bar over ``items`` (or counting up to ``total`` by ``.update(n)``). When not
    ``enabled`` it is tqdm's disabled bar: it yields the same items and its ``update`` and
    ``close`` do nothing, so callers need no second code path. ``options`` go to tqdm
    (e.g. ``unit_scale=True``)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, unit=unit, total=total, disable=not enabled, **options)
