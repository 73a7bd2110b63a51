"""Where to write the labels of a scatter plot so that every label can be read.

A greedy search, the cartographer's rule for naming places on a map (Imhof 1975): write a
label next to its point if there is room, otherwise at the nearest free place, joined to the
point by a leader line. Labels are placed one at a time, most crowded point first, and a
place is free when the label's box overlaps no label placed before, covers no point or leader
line and stays inside the plot; of the free places, one whose leader line crosses no label is
preferred. Pure geometry in display units (pixels), so it can be tested without drawing;
:func:`embedlab.figures.embedding_map_svg` measures the words and draws them where this puts them.

Written here rather than taken from adjustText because, on the book's maps, adjustText 1.4 left
overlapping words and words over points, and stops after a wall-clock time limit, so its layout
depends on the machine; this search is deterministic and leaves no overlap.
"""

from __future__ import annotations

import numpy as np

#: Directions tried first, in order, at each distance: right, left, above, below, then the
#: four corners (the cartographer's preference for a label beside its point).
_PREFERRED_ANGLES = np.deg2rad([0, 180, 90, 270, 45, 135, 315, 225])


def _ring_offsets(size, distance: float, ring: int, outward=None) -> np.ndarray:
    """Offsets of a label's centre from its point that put the label's nearest edge (or corner)
    ``distance`` from the point: 8 directions on the first ring, 8 more on each ring after it.

    With ``outward`` (a unit vector pointing away from the point's neighbours), directions
    nearest to it come first, so that the labels of a cluster fan out and their leader lines
    do not cross; otherwise the cartographer's order of :data:`_PREFERRED_ANGLES`.
    """
    angles = _PREFERRED_ANGLES if ring == 0 else np.linspace(0, 2 * np.pi, 8 * (ring + 1), endpoint=False)
    if outward is not None and ring > 0:
        difference = np.angle(np.exp(1j * (angles - np.arctan2(outward[1], outward[0]))))
        angles = angles[np.argsort(np.abs(difference), kind="stable")]
    # A square "circle": cos and sin stretched to ±1, so that diagonals reach the corners.
    direction = np.clip(np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.sqrt(2), -1, 1).round(12)
    return direction * (np.asarray(size, dtype=float) / 2 + distance)


def _holds_any(low, high, samples) -> np.ndarray:
    """For each box ``(low[j], high[j])``: is any of ``samples`` (``(k, 2)``) strictly inside it?"""
    return ((samples[None] > low[:, None]) & (samples[None] < high[:, None])).all(-1).any(-1)


def place_labels(points, sizes, bounds, point_radius: float = 3.0, gap: float = 1.5, rings: int = 40,
                 obstacles=None) -> np.ndarray:
    """Centres for label boxes such that no two boxes overlap, no box covers a point or a leader
    line, and every box lies inside ``bounds``; where it can within two more rings, no leader
    line crosses a label.

    Args:
        points: ``(n, 2)`` positions of the points, in display units (pixels).
        sizes: ``(n, 2)`` widths and heights of their labels, in the same units.
        bounds: ``(x0, y0, x1, y1)``, the rectangle every label must stay inside.
        point_radius: how far from its centre a point's marker reaches; no label comes closer.
        gap: the space kept between a label and its own point, and between two labels.
        rings: how many distances to try, each a label height further than the last.
        obstacles: ``(m, 2)`` positions of unlabelled points (a map's dots that a reader finds by
            pointing at them), which no label may cover either.

    Returns:
        ``(n, 2)`` centres of the labels. A label placed beyond the first ring (farther than
        ``1.5 * (point_radius + gap)`` from its point) needs a leader line (:func:`leader_lines`).

    Raises:
        ValueError: when a label finds no free place within ``rings`` distances.

    Two labels of size 10 × 4 for one point at the origin (radius 1, gap 1): the first goes to
    its right (centre 1 + 1 + 5 = 7), the second, which may not overlap it, to its left.

    >>> place_labels([[0, 0], [0, 0]], [[10, 4], [10, 4]], (-50, -50, 50, 50), point_radius=1, gap=1).tolist()
    [[7.0, 0.0], [-7.0, 0.0]]
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=float).reshape(-1, 2)
    if len(points) != len(sizes):
        raise ValueError(f"{len(points)} points but {len(sizes)} label sizes")
    markers = points if obstacles is None else np.vstack([points, np.asarray(obstacles, dtype=float).reshape(-1, 2)])
    x0, y0, x1, y1 = bounds
    step = float(np.median(sizes[:, 1])) if len(sizes) else 1.0
    along = np.linspace(0, 1, 33)[1:-1, None]  # where a leader line is checked, between its two ends
    # Most crowded first: a point with many others near it has the fewest free places.
    near = np.linalg.norm(points[:, None] - points[None], axis=-1) < 3 * step
    order = np.argsort(-near.sum(axis=1), kind="stable")
    placed_low = np.empty((0, 2))  # lower-left and upper-right corners of the labels placed so far
    placed_high = np.empty((0, 2))
    placed_lines = np.empty((0, 2))  # points along the leader lines drawn so far
    centres = np.empty_like(points)
    for i in order:
        neighbours = near[i] & (np.arange(len(points)) != i)
        away = points[i] - points[neighbours].mean(axis=0) if neighbours.any() else np.zeros(2)
        outward = away / np.linalg.norm(away) if np.linalg.norm(away) > 1e-9 else None
        chosen = fallback = None
        for ring in range(rings):
            if fallback is not None and ring > fallback[0] + 2:
                break  # a line across a label beats a label far from its point
            candidates = points[i] + _ring_offsets(sizes[i], point_radius + gap + ring * step, ring, outward)
            low, high = candidates - sizes[i] / 2, candidates + sizes[i] / 2
            inside = (low[:, 0] >= x0) & (low[:, 1] >= y0) & (high[:, 0] <= x1) & (high[:, 1] <= y1)
            # No point's marker within the box (grown by the marker's radius), no leader line through it.
            covers = _holds_any(low - point_radius, high + point_radius, markers) | _holds_any(low, high, placed_lines)
            # No overlap with a label placed before, with ``gap`` to spare.
            overlaps = ((low[:, None] < placed_high[None] + gap) & (high[:, None] > placed_low[None] - gap)).all(-1)
            free = inside & ~covers & ~overlaps.any(axis=1)
            # Beyond the first ring a leader line joins the point to its label's nearest edge;
            # better if it crosses no label placed before.
            lines = points[i] + along[None] * (np.clip(points[i], low, high) - points[i])[:, None]
            crossing = np.zeros(len(candidates), dtype=bool) if ring == 0 else (
                (lines[:, :, None] > placed_low) & (lines[:, :, None] < placed_high)).all(-1).any(axis=(1, 2))
            if (free & ~crossing).any():
                chosen = ring, int(np.argmax(free & ~crossing)), candidates, lines  # the first in order of preference
                break
            if fallback is None and free.any():
                fallback = ring, int(np.argmax(free)), candidates, lines
        chosen = chosen or fallback
        if chosen is None:
            raise ValueError(f"no free place for label {i} within {rings} rings; make the plot larger or the labels smaller")
        ring, best, candidates, lines = chosen
        centres[i] = candidates[best]
        placed_low = np.vstack([placed_low, candidates[best] - sizes[i] / 2])
        placed_high = np.vstack([placed_high, candidates[best] + sizes[i] / 2])
        if ring > 0:
            placed_lines = np.vstack([placed_lines, lines[best]])
    return centres


def leader_lines(points, centres, sizes, min_length: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(i, start, end)`` for each label whose box is more than ``min_length`` from its point:
    a line from the point to the nearest point of the label's box."""
    points, centres, sizes = (np.asarray(a, dtype=float).reshape(-1, 2) for a in (points, centres, sizes))
    nearest = np.clip(points, centres - sizes / 2, centres + sizes / 2)
    length = np.linalg.norm(nearest - points, axis=1)
    return [(i, points[i], nearest[i]) for i in np.flatnonzero(length > min_length)]
