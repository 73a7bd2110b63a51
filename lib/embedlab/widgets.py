"""Controls that keep working in the static, rendered book, where no Python kernel runs.

Every state of a demo is computed up front by the library (a matplotlib figure or an HTML
fragment per control position) and put in an ``ipywidgets.Stack``; the control is linked
to the stack's ``selected_index`` with ``jslink``, which runs in the browser. The page
embeds every state, so moving the control needs no kernel (``shared/WIDGETS.md``).

:func:`sharp_picture` and :func:`sharp_frame` turn a figure into a PNG with twice the pixels
of the space it takes on the page, so that it stays sharp on high-DPI screens.

This module only draws what it is given; computation lives in the other modules.
"""

from __future__ import annotations

import io

import ipywidgets as widgets

#: One layout object shared by every frame saves about 1 KB of page per frame. Pictures keep
#: their natural size and shrink only when the page is narrower.
_FRAME_LAYOUT = widgets.Layout(max_width="100%", height="auto")


def figure_to_png(figure, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure; the figure is closed so the notebook does not also show it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


#: CSS pixels per inch of a sharp figure: a figure 7 inches wide fills the page's ~700 px
#: content column (at a 1280 px window), and 10-point words are 14 px high, like the text.
CSS_DPI = 100
#: Image pixels per CSS pixel: 2 keeps lines and words sharp on high-DPI screens.
PIXEL_DENSITY = 2


def _sharp_png(figure, density: int) -> tuple[bytes, int]:
    """The figure as a PNG of ``density`` pixels per CSS pixel, and its width in CSS pixels.

    Reduced to 128 colours: a figure's flat colours and the shades of its smooth edges fit in
    them, and the file is about a third of the full-colour one.
    """
    from PIL import Image

    picture = Image.open(io.BytesIO(figure_to_png(figure, dpi=CSS_DPI * density))).convert("RGB")
    buffer = io.BytesIO()
    picture.quantize(128, method=Image.Quantize.MEDIANCUT).save(buffer, format="png", optimize=True)
    return buffer.getvalue(), round(picture.width / density)


def sharp_picture(figure, density: int = PIXEL_DENSITY):
    """A figure for the page, sharp on high-DPI screens: a PNG of ``density`` × the pixels,
    shown at :data:`CSS_DPI` pixels per inch (its width is in the output, so the page keeps
    its place for it; a narrower page shrinks it). The figure is closed."""
    from IPython.display import Image

    png, width = _sharp_png(figure, density)
    return Image(data=png, format="png", width=width)


def sharp_frame(figure, density: int = PIXEL_DENSITY) -> widgets.Image:
    """:func:`sharp_picture` as a frame for :func:`state_viewer` (return it from ``render``)."""
    png, width = _sharp_png(figure, density)
    return widgets.Image(value=png, format="png", width=str(width), layout=_FRAME_LAYOUT)


def _as_frame(state):
    """A widget for one state: a matplotlib figure, PNG bytes, an HTML string or a widget."""
    if isinstance(state, widgets.Widget):
        return state
    if isinstance(state, str):
        return widgets.HTML(state, layout=_FRAME_LAYOUT)
    if isinstance(state, bytes):
        return widgets.Image(value=state, format="png", layout=_FRAME_LAYOUT)
    if hasattr(state, "savefig"):
        return widgets.Image(value=figure_to_png(state), format="png", layout=_FRAME_LAYOUT)
    raise TypeError(f"a state must be a matplotlib figure, PNG bytes, an HTML string or a widget, not {type(state).__name__}")


def _control(labels, description, kind):
    labels = [str(label) for label in labels]
    style = {"description_width": "initial"}
    if kind == "slider":
        return widgets.SelectionSlider(options=labels, value=labels[0], description=description, style=style,
                                       continuous_update=True, layout=widgets.Layout(width="450px", max_width="100%"))
    if kind == "dropdown":
        return widgets.Dropdown(options=labels, value=labels[0], description=description, style=style)
    if kind == "buttons":
        return widgets.ToggleButtons(options=labels, value=labels[0], description=description, style=style)
    raise ValueError(f"unknown control {kind!r}; choose 'slider', 'dropdown' or 'buttons'")


def state_viewer(states: dict, description: str = "", control: str = "slider", render=None) -> widgets.VBox:
    """A control over precomputed states: ``{label: figure | PNG | HTML | widget}``, in order.

    The control shows the labels; choosing one shows its state. Works with and without a
    kernel, because the link is made in the browser (``jslink`` on the control's ``index``).
    With ``render``, ``states`` maps each label to a parameter and ``render(parameter)``
    draws its state; the states are then drawn one at a time (one open figure at a time).

    >>> viewer = state_viewer({"α = 0": "<b>flat</b>", "α = 1": "<b>peaked</b>"}, "α")
    >>> viewer = state_viewer({"30°": 30, "60°": 60}, "angle", render=lambda angle: f"<p>{angle}</p>")
    """
    if not states:
        raise ValueError("state_viewer needs at least one state")
    selector = _control(states.keys(), description, control)
    stack = widgets.Stack([_as_frame(render(s) if render else s) for s in states.values()], selected_index=0)
    widgets.jslink((selector, "index"), (stack, "selected_index"))
    return widgets.VBox([selector, stack])


def state_grid_viewer(states: dict, descriptions: tuple[str, str], controls: tuple[str, str] = ("slider", "slider"),
                      render=None) -> widgets.VBox:
    """Two controls over a grid of precomputed states: ``{(row_label, column_label): state}``.

    ``render`` works as in :func:`state_viewer`.
    The first control picks the row, the second the column. Made of one stack of rows,
    each a stack of columns; the second control is linked to every row's stack, so both
    controls work in the browser alone. Keep grids small (6 × 5 = 30 frames).
    """
    if not states:
        raise ValueError("state_grid_viewer needs at least one state")
    rows = list(dict.fromkeys(row for row, _ in states))
    columns = list(dict.fromkeys(column for _, column in states))
    missing = [(r, c) for r in rows for c in columns if (r, c) not in states]
    if missing:
        raise ValueError(f"the grid is incomplete; no state for {missing[:3]}")
    row_selector = _control(rows, descriptions[0], controls[0])
    column_selector = _control(columns, descriptions[1], controls[1])
    row_stacks = []
    for row in rows:
        frames = [_as_frame(render(states[row, column]) if render else states[row, column]) for column in columns]
        row_stack = widgets.Stack(frames, selected_index=0)
        widgets.jslink((column_selector, "index"), (row_stack, "selected_index"))
        row_stacks.append(row_stack)
    grid = widgets.Stack(row_stacks, selected_index=0)
    widgets.jslink((row_selector, "index"), (grid, "selected_index"))
    return widgets.VBox([row_selector, column_selector, grid])
