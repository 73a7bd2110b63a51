"""Figures the chapters show, drawn with matplotlib from numbers the library computed.

Each function takes results (points, similarities, sizes) and returns a
``matplotlib.figure.Figure``; none of them computes anything the book teaches.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex, to_rgb

from embedlab.label_placement import leader_lines, place_labels

#: Colour-blind-safe palette (Okabe & Ito), one colour per word group.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]


def darker(colour, amount: float = 0.4):
    """``colour`` mixed with ``amount`` of black: a palette colour dark enough for text on white."""
    return tuple((1 - amount) * channel for channel in to_rgb(colour))


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
        if i == centre:  # colours with a contrast of at least 4.5 to their text (WCAG AA)
            style = f"background:{to_hex(darker(PALETTE[4], 0.2))};color:white;font-weight:bold"
        elif i in context:
            style = f"background:{PALETTE[5]}"
        else:
            style = "color:#666"
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


def distance_histograms(groups: dict, xlabel: str, title: str = "", figsize=(6.5, 2.9)):
    """Overlaid histograms of outlier scores, one per group of documents: ``{label: scores}``
    (Chapter 7: the collection's own documents and the injected ones)."""
    figure, ax = plt.subplots(figsize=figsize)
    values = np.concatenate([np.asarray(scores, dtype=float) for scores in groups.values()])
    bins = np.linspace(values.min(), values.max(), 26)
    for i, (label, scores) in enumerate(groups.items()):
        ax.hist(scores, bins=bins, alpha=0.6, color=PALETTE[[0, 4, 2][i % 3]], label=f"{label} ({len(scores)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
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



def _text_width(text: str, font_size: float) -> float:
    """Width of ``text`` in pixels at ``font_size`` pixels, measured with matplotlib's DejaVu Sans
    (the first font an SVG map asks the browser for; Verdana, the fallback, is as wide)."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), round(font_size * 10)).getlength(text) / 10


def _map_style(n_colours: int) -> str:
    """CSS of :func:`embedding_map_svg`: a class per palette colour for dots (``c0``...) and
    words (``t0``..., darker), ``u`` for unlabelled dots; a dot under the pointer gets a black ring."""
    hexes = [to_hex(darker(p)) for p in PALETTE[:n_colours]]
    return (".embedding-map circle{stroke:#fff;stroke-width:.6}.embedding-map circle:hover{stroke:#000;stroke-width:2}"
            ".embedding-map .u{fill-opacity:.55}"
            ".embedding-map text[class]{text-anchor:middle;dominant-baseline:central;pointer-events:none}"
            + "".join(f".embedding-map .c{i}{{fill:{PALETTE[i]}}}.embedding-map .t{i}{{fill:{hexes[i]}}}"
                      for i in range(n_colours)))


def embedding_map_svg(panels: dict, words, groups, labelled=None, description: str = "", width: int = 640,
                      panel_height: int = 400, font_size: float = 13) -> str:
    """Labelled 2-D maps, one above the other, as inline SVG for the page: a reader finds every word by
    pointing at its dot (each dot carries a ``<title>``, which the browser shows as a tooltip, with
    no JavaScript), and the ``labelled`` words are also written on the map, placed by
    :func:`embedlab.label_placement.place_labels` so that no two overlap and none covers a dot.

    ``panels`` maps a title to an ``(n, 2)`` array of points; ``groups[i]`` names the cluster of
    ``words[i]`` (its colour). ``labelled`` (default: every word) lists the words to write;
    their dots are drawn larger, the others lighter. ``description`` is the maps' accessible
    name. Returns an HTML string for ``IPython.display.HTML`` or a frame of
    :func:`embedlab.widgets.state_viewer`. The SVG scales with the page and scrolls inside its
    box below 480 px, so that the words stay legible on a phone. Book: Chapter 1, "The embedding space".
    """
    from html import escape

    words = list(words)
    labelled = set(words if labelled is None else labelled)
    group_names = list(dict.fromkeys(groups))
    number = {g: i % len(PALETTE) for i, g in enumerate(group_names)}
    colour = {g: PALETTE[number[g]] for g in group_names}
    is_labelled = np.array([w in labelled for w in words])
    title_height, margin, radius, gap = 24, 10, 4.5, 1.5
    line_height = font_size * 1.25
    sizes = np.array([[_text_width(w, font_size) + 2, line_height] for w in words])
    legend = "".join(f"<span style='margin-right:1em;white-space:nowrap'><span style='color:{colour[g]}'>●</span> {escape(g)}</span>"
                     for g in group_names)
    parts = [f"<div class='embedding-map' style='width:{width}px;max-width:100%'>",
             f"<style>{_map_style(len(group_names))}</style>",
             f"<div style='font-size:0.9em;line-height:1.6'>{legend}</div>",
             "<div style='overflow-x:auto'>"]
    height = len(panels) * (panel_height + title_height)
    parts.append(f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{escape(description, quote=True)}' "
                 f"style='width:100%;min-width:480px;height:auto' font-family='DejaVu Sans, Verdana, sans-serif' font-size='{font_size}'>")
    for p, (title, points) in enumerate(panels.items()):
        points = np.asarray(points, dtype=float)
        top = p * (panel_height + title_height) + title_height
        low, high = points.min(axis=0), points.max(axis=0)
        # Room at the sides for the words of the outermost dots.
        inner = np.array([margin + sizes[:, 0].max() / 2, top + margin + line_height])
        span = np.array([width, panel_height]) - 2 * np.array([margin + sizes[:, 0].max() / 2, margin + line_height])
        on_screen = inner + (points - low) / np.where(high > low, high - low, 1) * span
        on_screen[:, 1] = 2 * top + panel_height - on_screen[:, 1]  # SVG's y grows downwards
        parts.append(f"<text x='{width / 2:.0f}' y='{top - 6}' text-anchor='middle' font-size='{font_size + 1}'>{escape(title)}</text>")
        parts.append(f"<rect x='0.5' y='{top + 0.5}' width='{width - 1}' height='{panel_height - 1}' fill='none' stroke='#ccc'/>")
        centres = place_labels(on_screen[is_labelled], sizes[is_labelled], (2, top + 2, width - 2, top + panel_height - 2),
                               radius, gap, obstacles=on_screen[~is_labelled])
        labelled_points = on_screen[is_labelled]
        for _, start, end in leader_lines(labelled_points, centres, sizes[is_labelled], min_length=1.5 * (radius + gap)):
            parts.append(f"<line x1='{start[0]:.1f}' y1='{start[1]:.1f}' x2='{end[0]:.1f}' y2='{end[1]:.1f}' stroke='#999' stroke-width='0.7'/>")
        # Unlabelled dots first, so that the labelled ones are drawn over them.
        for i in np.argsort(is_labelled, kind="stable"):
            (x, y), group = on_screen[i], groups[i]
            shape = f"r='{radius}' class='c{number[group]}'" if is_labelled[i] else f"r='{radius - 1}' class='c{number[group]} u'"
            parts.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' {shape}><title>{escape(words[i])} ({escape(group)})</title></circle>")
        for (x, y), i in zip(centres, np.flatnonzero(is_labelled)):
            parts.append(f"<text x='{x:.1f}' y='{y:.1f}' class='t{number[groups[i]]}'>{escape(words[i])}</text>")
    parts.append("</svg></div></div>")
    return "".join(parts)


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
