"""Diagrams of systems the book describes: boxes and arrows drawn with matplotlib at build time,
so that a diagram's labels are the same words as the chapter's code and prose.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from embedlab.figures import PALETTE, darker


def architecture_diagram(offline_steps, online_steps, store: str, figsize=(7.0, 5.6)):
    """The two halves of a retrieval system sharing one vector store: ``offline_steps`` (ingestion,
    top to bottom on the left) write to ``store`` (in the middle), which ``online_steps`` (a query,
    top to bottom on the right) read from at their search step, the step whose text starts with
    "Search". Each step is a text, its first line the step's name (drawn bold), the rest details.
    Book: Chapter 6, "The pipeline, step by step".
    """
    offline_steps, online_steps = list(offline_steps), list(online_steps)
    searches = [i for i, step in enumerate(online_steps) if step.startswith("Search")]
    if not offline_steps or len(searches) != 1:
        raise ValueError("architecture_diagram needs offline steps and exactly one online step starting with 'Search'")
    figure, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 10)
    ax.axis("off")
    lanes = {"Offline: when documents change": (0.0, 4.4, PALETTE[5]),
             "Online: for every question": (7.6, 12.0, PALETTE[1])}
    for title, (left, right, colour) in lanes.items():
        ax.add_patch(plt.Rectangle((left, 0.0), right - left, 10, color=colour, alpha=0.13, lw=0))
        ax.text((left + right) / 2, 9.6, title, ha="center", va="center", fontsize=9.5, weight="bold",
                color=darker(colour, 0.55))

    def box(x, y, text, width, height, colour):
        name, _, detail = text.partition("\n")
        lines = detail.count("\n") + 1 if detail else 0
        top = y + 0.18 * lines
        ax.add_patch(plt.Rectangle((x - width / 2, y - height / 2), width, height, facecolor="white",
                                   edgecolor=colour, lw=1.5, zorder=2))
        ax.text(x, top, name, ha="center", va="center", fontsize=10, weight="bold", zorder=3)
        if detail:
            ax.text(x, top - 0.3, detail, ha="center", va="top", fontsize=8.5, color="0.2", zorder=3,
                    linespacing=1.2)

    def arrow(start, end, colour="0.3"):
        ax.annotate("", xy=end, xytext=start, zorder=1,
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.4, "mutation_scale": 14,
                                "shrinkA": 0, "shrinkB": 0})

    height = 1.0
    left_y = 8.3 - 2.0 * np.arange(len(offline_steps))
    right_y = np.linspace(8.4, 0.9, len(online_steps))
    for i, (y, step) in enumerate(zip(left_y, offline_steps)):
        box(2.2, y, step, 3.9, height, PALETTE[0])
        if i:
            arrow((2.2, left_y[i - 1] - height / 2), (2.2, y + height / 2))
    for i, (y, step) in enumerate(zip(right_y, online_steps)):
        box(9.8, y, step, 3.9, height, PALETTE[4])
        if i:
            arrow((9.8, right_y[i - 1] - height / 2), (9.8, y + height / 2))
    store_y = right_y[searches[0]]
    box(6.0, store_y, store, 2.5, 1.0 + 0.42 * store.count("\n"), PALETTE[2])
    arrow((4.15, left_y[-1]), (4.75, store_y - 0.3), PALETTE[0])
    ax.text(4.45, left_y[-1] - 0.1, "write", fontsize=8.5, color="0.25", ha="left", va="top")
    arrow((7.25, store_y), (7.85, store_y), PALETTE[4])
    ax.text(7.55, store_y + 0.15, "read", fontsize=8.5, color="0.25", ha="center", va="bottom")
    figure.tight_layout(pad=0.1)
    return figure


def matryoshka_pipeline(dims=(8, 16, 32, 64, 128, 384), figsize=(8.4, 3.5)):
    """The Matryoshka training pipeline as a diagram: a batch of (query, passage) pairs goes
    through one encoder; each nested prefix of the output (the first m of ``dims`` coordinates,
    drawn as nested boxes) is normalised and scored with InfoNCE; the weighted sum is the loss,
    and one backward pass updates the encoder (Kusupati et al. 2022)."""
    from matplotlib.patches import FancyBboxPatch, Rectangle

    figure, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.55, 4.1)
    ax.axis("off")

    def box(x, y, w, h, text, colour="#f2f2f2", size=9.5):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                    facecolor=colour, edgecolor="#555555", linewidth=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)

    def arrow(start, end, style="-|>", colour="#333333", dashed=False, connection="arc3"):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=colour, lw=1.2,
                                                              linestyle="--" if dashed else "-",
                                                              connectionstyle=connection, shrinkA=2, shrinkB=2))

    box(0.05, 1.45, 1.55, 1.2, "a batch of\n(query, passage)\npairs")
    box(2.0, 1.45, 1.3, 1.2, "encoder f\n(one forward\npass)", colour="#dbe9f6")
    arrow((1.62, 2.05), (1.98, 2.05))
    # The output vector as nested prefixes, longest first so the shorter ones sit on top.
    full = max(dims)
    left, width, bottom, height = 3.75, 1.7, 1.25, 1.6
    for i, m in enumerate(sorted(dims, reverse=True)):
        share = np.sqrt(m / full)  # area-like nesting keeps short prefixes visible
        ax.add_patch(Rectangle((left, bottom), width * share, height * (0.35 + 0.65 * share),
                               facecolor=PALETTE[i % len(PALETTE)], alpha=0.35 + 0.1 * i / len(dims),
                               edgecolor="#333333", linewidth=0.8))
    ax.text(left + width / 2, bottom + height + 0.18, f"f(x): {full} numbers,\nnested prefixes", ha="center",
            va="bottom", fontsize=9)
    arrow((3.32, 2.05), (3.73, 2.05))
    # One row per prefix: first m numbers → normalise → InfoNCE.
    rows = sorted(dims)
    tops = np.linspace(3.7, 0.35, len(rows))
    for i, (m, y) in enumerate(zip(rows, tops)):
        colour = PALETTE[(len(dims) - 1 - i) % len(PALETTE)]
        arrow((left + width + 0.05, 2.05), (6.0, y), colour=colour)
        box(6.02, y - 0.2, 2.05, 0.4, f"first {m}, ÷‖·‖ → InfoNCE", colour="white", size=8.5)
        arrow((8.09, y), (8.6, 2.05), colour=colour)
    box(8.62, 1.6, 1.33, 0.9, "Σ  w$_m$ · InfoNCE$_m$\n= loss", colour="#fde9c9", size=9)
    backward = "#b2182b"
    ax.plot([9.28, 9.28, 2.65], [1.58, -0.12, -0.12], color=backward, lw=1.4, linestyle="--")
    arrow((2.65, -0.12), (2.65, 1.43), colour=backward, dashed=True)
    ax.text(5.9, -0.38, "one backward pass: every prefix's loss updates the same encoder", ha="center",
            va="center", fontsize=9, color=backward)
    figure.tight_layout()
    return figure
