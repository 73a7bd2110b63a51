"""Figures the chapters show, drawn with matplotlib from numbers the library computed.

Each function takes results (points, similarities, sizes) and returns a
``matplotlib.figure.Figure``; none of them computes anything the book teaches.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

from embedlab.label_placement import leader_lines, place_labels

#: Colour-blind-safe palette (Okabe & Ito), one colour per word group.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]


def _darker(colour, amount: float = 0.4):
    """``colour`` mixed with ``amount`` of black: a palette colour dark enough for text on white."""
    return tuple((1 - amount) * channel for channel in to_rgb(colour))


def embedding_maps(panels: dict, words, groups, width: float = 7.0, panel_height: float = 4.8):
    """Labelled 2-D maps stacked one above the other: ``panels`` maps a title to an ``(n, 2)`` array.

    Every word can be read: it is written beside its point, or at the nearest free place with
    a leader line to it, so that no two words overlap and no word hides a point
    (:func:`embedlab.label_placement.place_labels`). ``groups[i]`` names the cluster of
    ``words[i]``: its point has the cluster's colour and its word a darker shade of it.
    ``width`` inches at 100 dpi fill the page's content column (about 700 px); show the figure
    with :func:`embedlab.widgets.sharp_picture` to keep it sharp on high-DPI screens.
    Book: Chapter 1, "The embedding space".
    """
    group_names = list(dict.fromkeys(groups))
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(group_names)}
    legend_height = 0.4
    figure, axes = plt.subplots(len(panels), 1, figsize=(width, panel_height * len(panels) + legend_height),
                                squeeze=False)
    axes = axes[:, 0]
    marker_area = 30  # points², so the marker's radius is √30 / 2 points
    gap = 1.5  # pixels between a word and its point, and between two words
    for ax, (title, points) in zip(axes, panels.items()):
        points = np.asarray(points, dtype=float)
        ax.scatter(points[:, 0], points[:, 1], s=marker_area, c=[colour[g] for g in groups], zorder=3,
                   edgecolors="white", linewidths=0.5)
        low, high = points.min(axis=0), points.max(axis=0)
        margin = 0.08 * (high - low)
        ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
        ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
        ax.set_title(title, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[g], label=g) for g in group_names]
    figure.legend(handles=handles, loc="upper center", ncol=len(group_names), frameon=False, fontsize=10,
                  handletextpad=0.2, columnspacing=1.2)
    figure.tight_layout(rect=(0, 0, 1, 1 - legend_height / figure.get_figheight()))
    # The words are placed once the axes have their final size, in pixels of this figure.
    renderer = figure.canvas.get_renderer()
    point_radius = np.sqrt(marker_area) / 2 * figure.dpi / 72
    for ax, points in zip(axes, panels.values()):
        points = np.asarray(points, dtype=float)
        texts = [ax.text(x, y, word, fontsize=10, ha="center", va="center", color=_darker(colour[group]), zorder=4)
                 for (x, y), word, group in zip(points, words, groups)]
        sizes = np.array([text.get_window_extent(renderer).size for text in texts])
        on_screen = ax.transData.transform(points)
        x0, y0, x1, y1 = ax.bbox.extents
        centres = place_labels(on_screen, sizes, (x0 + 2, y0 + 2, x1 - 2, y1 - 2), point_radius, gap)
        to_data = ax.transData.inverted()
        for text, centre in zip(texts, to_data.transform(centres)):
            text.set_position(centre)
        for _, start, end in leader_lines(on_screen, centres, sizes, min_length=1.5 * (point_radius + gap)):
            ax.plot(*to_data.transform([start, end]).T, color="0.6", lw=0.7, zorder=2)
    return figure


def similarity_bars(panels: dict, words, chosen: str, figsize=(10, 2.9)):
    """Horizontal bars of cosine similarity of ``chosen`` to ``words``, one panel per representation.

    ``panels`` maps a title (e.g. "one-hot") to the similarities, in the order of ``words``.
    """
    figure, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=True)
    positions = np.arange(len(words))
    for ax, (title, similarities) in zip(np.atleast_1d(axes), panels.items()):
        similarities = np.asarray(similarities, dtype=float)
        colours = [PALETTE[0] if s >= 0 else PALETTE[4] for s in similarities]
        ax.barh(positions, similarities, color=colours)
        for y, s in zip(positions, similarities):
            ax.text(s + (0.03 if s >= 0 else -0.03), y, f"{s:.3f}", va="center", ha="left" if s >= 0 else "right", fontsize=7.5)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlim(-1.15, 1.35)
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel(f"cos({chosen}, ·)", fontsize=8.5)
    axes[0].set_yticks(positions, words)
    axes[0].invert_yaxis()
    figure.tight_layout()
    return figure


def angle_diagram(a, b, measures: dict, figsize=(6.6, 3.2)):
    """Two 2-D arrows from the origin, with the numbers in ``measures`` written beside them."""
    figure, (ax, text_ax) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1, 1]})
    for vector, colour, name in ((a, PALETTE[0], "a"), (b, PALETTE[4], "b")):
        ax.annotate("", xy=vector, xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color=colour, lw=2))
        ax.text(*(np.asarray(vector) * 1.08), name, color=colour, fontsize=12, ha="center", va="center")
    ax.set_xlim(-2.3, 2.3)
    ax.set_ylim(-0.4, 2.3)
    ax.set_aspect("equal")
    ax.axhline(0, color="lightgrey", lw=0.8)
    ax.axvline(0, color="lightgrey", lw=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    text_ax.axis("off")
    lines = "\n".join(f"{name} = {value}" for name, value in measures.items())
    text_ax.text(0.0, 0.5, lines, va="center", family="monospace", fontsize=10)
    figure.tight_layout()
    return figure


def neighbour_table(word: str, neighbours) -> str:
    """HTML table of ``(neighbour, cosine)`` pairs with a bar for each similarity."""
    rows = "".join(
        f"<tr><td>{neighbour}</td><td style='text-align:right'>{similarity:.3f}</td>"
        f"<td><div style='background:{PALETTE[0]};height:10px;width:{max(similarity, 0) * 160:.0f}px'></div></td></tr>"
        for neighbour, similarity in neighbours
    )
    return f"<table><tr><th>neighbour of <i>{word}</i></th><th>cosine</th><th></th></tr>{rows}</table>"


def comparison_table(first: str, second: str, similarities: dict) -> str:
    """HTML: two texts A and B, then one row per ``{method: cos(A, B)}``."""
    rows = "".join(f"<tr><td>cos(A, B), {method}</td><td><b>{value:.3f}</b></td></tr>" for method, value in similarities.items())
    return f"<p><b>A:</b> {first}<br><b>B:</b> {second}</p><table>{rows}</table>"


def bar_chart(labels, values, xlabel: str, ylabel: str, title: str = "", value_format: str = "{:,.2f}", figsize=(6.5, 3)):
    """Vertical bars with each value written on top of its bar."""
    figure, ax = plt.subplots(figsize=figsize)
    labels = [str(label) for label in labels]
    values = np.asarray(values, dtype=float)
    ax.bar(labels, values, color=PALETTE[0])
    for x, value in zip(labels, values):
        ax.text(x, value, value_format.format(value), ha="center", va="bottom", fontsize=8.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, values.max() * 1.18)
    figure.tight_layout()
    return figure


def context_window(tokens, centre: int, context: list[int]) -> str:
    """HTML: the sentence with the centre word and its context positions marked, then the
    (centre, context) pairs they make."""
    pairs = [(tokens[centre], tokens[j]) for j in context]
    spans = []
    for i, token in enumerate(tokens):
        if i == centre:
            style = f"background:{PALETTE[4]};color:white;font-weight:bold"
        elif i in context:
            style = f"background:{PALETTE[5]}"
        else:
            style = "color:#777"
        spans.append(f"<span style='{style};padding:2px 5px;margin:1px;border-radius:3px'>{token}</span>")
    listed = ", ".join(f"({a}, {b})" for a, b in pairs)
    return (f"<div style='font-size:1.05em;line-height:2'>{' '.join(spans)}</div>"
            f"<p><b>{len(pairs)} training pairs</b> for this centre word: {listed}</p>")


def line_chart(x, series: dict, xlabel: str, ylabel: str, title: str = "", log_x=False, log_y=False, figsize=(6.5, 3.2)):
    """One line per entry of ``series`` ({label: y values}) against ``x``."""
    figure, ax = plt.subplots(figsize=figsize)
    for i, (label, y) in enumerate(series.items()):
        ax.plot(x, y, marker="o", ms=3, color=PALETTE[i % len(PALETTE)], label=label)
    ax.set_xscale("log" if log_x else "linear")
    ax.set_yscale("log" if log_y else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if len(series) > 1:
        ax.legend(fontsize=8.5, frameon=False)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def score_histograms(groups: dict, title: str, figsize=(6.5, 2.9)):
    """Overlaid histograms of σ scores, one per group of pairs: ``{label: scores}``."""
    figure, ax = plt.subplots(figsize=figsize)
    bins = np.linspace(0, 1, 26)
    for i, (label, scores) in enumerate(groups.items()):
        ax.hist(scores, bins=bins, alpha=0.6, color=PALETTE[[0, 2, 4][i % 3]], label=f"{label} (mean {np.mean(scores):.2f})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("σ(v_word · u_context): the model's belief that the pair is real")
    ax.set_ylabel("pairs")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper center")
    figure.tight_layout()
    return figure


def grouped_bars(groups, series: dict, xlabel: str, ylabel: str, title: str = "", figsize=(6.5, 3.2)):
    """Bars for several series side by side in each group: ``series`` = {label: values per group}."""
    figure, ax = plt.subplots(figsize=figsize)
    positions = np.arange(len(groups))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        ax.bar(positions + (i - (len(series) - 1) / 2) * width, values, width, color=PALETTE[i % len(PALETTE)], label=label)
    ax.set_xticks(positions, [str(g) for g in groups])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8.5, frameon=False)
    figure.tight_layout()
    return figure


def analogy_steps(walk, step: int, figsize=(6.4, 4.2)):
    """The analogy of an :class:`embedlab.analogy.Walkthrough` drawn up to ``step``:
    1 the words a and b, 2 the offset b − a, 3 the same offset added to c, 4 the nearest word.

    The axes are those of all five points at every step, so the picture does not jump.
    """
    labels = list(walk.points)
    a, b, c, result, answer = (np.asarray(walk.points[label]) for label in labels)
    figure, ax = plt.subplots(figsize=figsize)
    everything = np.array([a, b, c, result, answer])
    low, high = everything.min(axis=0), everything.max(axis=0)
    margin = 0.25 * (high - low).max()
    ax.set_xlim(low[0] - margin, high[0] + margin)
    ax.set_ylim(low[1] - margin, high[1] + margin)
    arrow = dict(arrowstyle="-|>", lw=2, mutation_scale=16)

    def word(point, text, colour, below=False, **style):
        ax.scatter(*point, s=60, color=colour, zorder=3, **style)
        ax.annotate(text, point, xytext=(6, -16 if below else 6), textcoords="offset points", fontsize=11, color=colour)

    word(a, walk.a, PALETTE[0])
    word(b, walk.b, PALETTE[0])
    if step >= 2:
        ax.annotate("", b, a, arrowprops=dict(arrow, color=PALETTE[1]))
        ax.annotate(f"{walk.b} − {walk.a}", (a + b) / 2, xytext=(0, -14), textcoords="offset points",
                    fontsize=9, color=PALETTE[1], ha="center")
    if step >= 3:
        word(c, walk.c, PALETTE[2])
        ax.annotate("", result, c, arrowprops=dict(arrow, color=PALETTE[1]))
        for start, end in ((a, c), (b, result)):
            ax.plot(*np.array([start, end]).T, ls=":", color="grey")
        word(result, labels[3], PALETTE[3], marker="x")
    if step >= 4:
        word(answer, f"{walk.answer} (cos {walk.similarity:.2f})", PALETTE[4], below=True, marker="*")
        ax.plot(*np.array([result, answer]).T, ls="--", color=PALETTE[4])
    titles = {1: f"1. {walk.a} and {walk.b}", 2: f"2. the offset {walk.b} − {walk.a}",
              3: f"3. the same offset from {walk.c}", 4: f"4. the nearest word: {walk.answer}"}
    ax.set_title(titles[step], fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="box")
    figure.tight_layout()
    return figure


def scatter(x, y, xlabel: str, ylabel: str, title: str = "", diagonal: bool = False, figsize=(5.6, 4)):
    """Translucent points (x, y), with the line y = x when ``diagonal``."""
    figure, ax = plt.subplots(figsize=figsize)
    ax.scatter(x, y, s=4, alpha=0.25, color=PALETTE[0], linewidths=0)
    if diagonal:
        low, high = min(np.min(x), np.min(y)), max(np.max(x), np.max(y))
        ax.plot([low, high], [low, high], color=PALETTE[4], lw=1, label="y = x")
        ax.legend(fontsize=8.5, frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def softmax_panels(labels, similarities, probabilities, gradients, title: str = "", figsize=(10, 2.9)):
    """Three panels for one anchor's candidates (the positive first): similarity, softmax
    probability and the size of the gradient on each similarity."""
    figure, axes = plt.subplots(1, 3, figsize=figsize, sharey=True)
    positions = np.arange(len(labels))
    colours = [PALETTE[2]] + [PALETTE[4]] * (len(labels) - 1)
    panels = [("cosine similarity s", similarities, (-1, 1)), ("probability p = softmax(s/τ)", probabilities, (0, 1.05)),
              ("|∂L/∂s|", gradients, (0, max(1e-9, float(np.max(gradients))) * 1.25))]
    for ax, (name, values, limits) in zip(axes, panels):
        ax.barh(positions, values, color=colours)
        for y, value in zip(positions, values):
            ax.text(value, y, f" {value:.3g}", va="center", fontsize=7.5)
        ax.set_xlim(*limits)
        ax.set_title(name, fontsize=9.5)
    axes[0].set_yticks(positions, labels)
    axes[0].invert_yaxis()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def contrastive_picture(labels, similarities, points, limits, title: str = "", figsize=(11, 3.6)):
    """One moment of contrastive training: the anchor's similarity to each candidate (the
    positive first) beside a 2-D picture of the vectors (anchor, positive, negatives).

    ``points`` are this moment's 2-D positions; ``limits`` ((x0, x1), (y0, y1)) stay the same
    at every step so the picture does not jump.
    """
    figure, (bars, plane) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1.2, 1]})
    positions = np.arange(len(labels))
    colours = [PALETTE[2]] + [PALETTE[4]] * (len(labels) - 1)
    bars.barh(positions, similarities, color=colours)
    for y, value in zip(positions, similarities):
        bars.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    bars.set_xlim(-1, 1.2)
    bars.set_yticks(positions, [label if len(label) < 38 else label[:36] + "…" for label in labels], fontsize=8)
    bars.invert_yaxis()
    bars.axvline(0, color="grey", lw=0.8)
    bars.set_xlabel("cos(anchor, ·)")
    plane.scatter(*points[0], s=90, marker="*", color=PALETTE[0], label="anchor", zorder=3)
    plane.scatter(*points[1], s=50, color=PALETTE[2], label="positive", zorder=3)
    plane.scatter(points[2:, 0], points[2:, 1], s=40, color=PALETTE[4], label="negatives", zorder=3)
    for point in points[1:]:
        plane.plot(*np.array([points[0], point]).T, color="lightgrey", lw=0.8, zorder=1)
    plane.set_xlim(*limits[0])
    plane.set_ylim(*limits[1])
    plane.set_xticks([])
    plane.set_yticks([])
    plane.legend(fontsize=8, frameon=False, loc="best")
    plane.set_title("the vectors, PCA of every step", fontsize=9.5)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def similarity_heatmap(similarity, title: str = "", figsize=(4.6, 4)):
    """A matrix of cosine similarities (rows: queries, columns: documents) as a heat map, with
    the values written in the cells; the colour scale is fixed from −0.2 to 1."""
    similarity = np.asarray(similarity, dtype=float)
    figure, ax = plt.subplots(figsize=figsize)
    image = ax.imshow(similarity, vmin=-0.2, vmax=1, cmap="viridis")
    for (i, j), value in np.ndenumerate(similarity):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    ax.set_xlabel("passage")
    ax.set_ylabel("query")
    ax.set_xticks(range(similarity.shape[1]))
    ax.set_yticks(range(similarity.shape[0]))
    figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def line_panels(panels: list, log_x=False, figsize=(10, 3.8)):
    """Line charts side by side, one per entry of ``panels``: dicts with ``title``, ``xlabel``,
    ``ylabel``, ``series`` ({label: pandas Series of y indexed by x}) and optionally ``xticks``
    ({x: label}). A label keeps its colour in every panel; each panel has its own legend."""
    from matplotlib.ticker import NullFormatter

    figure, axes = plt.subplots(1, len(panels), figsize=figsize, squeeze=False)
    colours = {}
    for ax, panel in zip(axes[0], panels):
        for label, y in panel["series"].items():
            colour = colours.setdefault(label, PALETTE[len(colours) % len(PALETTE)])
            ax.plot(y.index, y.values, marker="o", ms=3.5, color=colour, label=label)
        ax.set_xscale("log" if log_x else "linear")
        if "xticks" in panel:
            ax.set_xticks(list(panel["xticks"]), list(panel["xticks"].values()))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.set_title(panel["title"], fontsize=10.5)
        ax.legend(fontsize=8.5, frameon=False)
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def matryoshka_pipeline(dims=(8, 16, 32, 64, 128, 384), figsize=(10, 3.9)):
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
