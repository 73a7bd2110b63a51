"""Controls that keep working in the static, rendered book, where no Python kernel runs.

Every state of a demo is computed up front by the library (a matplotlib figure or an HTML
fragment per control position) and put in an ``ipywidgets.Stack``; the control is linked
to the stack's ``selected_index`` with ``jslink``, which runs in the browser. The page
embeds every state, so moving the control needs no kernel (``shared/WIDGETS.md``).

:func:`sharp_picture` and :func:`sharp_frame` turn a figure into a PNG with twice the pixels
of the space it takes on the page, so that it stays sharp on high-DPI screens.

Every picture of a viewer is an ``<img>`` in an ``ipywidgets.HTML`` frame (an
``ipywidgets.Image`` cannot carry alt text): it has alt text, by default the figure's titles
and the control's description and state (``alt=`` overrides it), its ``width`` and ``height``
(the page keeps its place before the picture arrives), and decodes lazily. The PNG is inlined
as a data URL, which takes the same room in the page as the Image widget's base64 buffer.

This module only draws what it is given; computation lives in the other modules.
"""

from __future__ import annotations

import base64
import html
import io
import struct
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Picture:
    """A frame of a viewer: a PNG, the CSS pixels it takes on the page, what the figure shows
    (its titles) and, when given, its whole alt text."""

    png: bytes
    width: int
    height: int
    described: str = "Figure"
    alt: str | None = None

    def frame(self, alt: str) -> widgets.HTML:
        """The picture as an ``<img>`` in an HTML widget with ``alt`` (unless the picture has its
        own), the size it takes (the page keeps its place), shrunk on a narrower page, decoded lazily."""
        source = base64.b64encode(self.png).decode("ascii")
        return widgets.HTML(
            f'<img src="data:image/png;base64,{source}" alt="{html.escape(self.alt or alt)}" '
            f'width="{self.width}" height="{self.height}" loading="lazy" decoding="async" '
            'style="display:block;max-width:100%;height:auto">', layout=_FRAME_LAYOUT)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from a PNG's header."""
    if not png.startswith(b"\x89PNG"):
        raise ValueError("a picture frame must be PNG bytes (they start with \\x89PNG)")
    return struct.unpack(">II", png[16:24])


def describe_figure(figure) -> str:
    """What a figure shows, from its titles (or else its axis labels): the start of its alt text."""
    titles = [figure._suptitle.get_text()] if getattr(figure, "_suptitle", None) else []
    for ax in figure.axes:
        axes = " against ".join(label for label in (ax.get_ylabel(), ax.get_xlabel()) if label)
        titles.append(ax.get_title() or ax.get_title("left") or axes)
    titles = [" ".join(t.replace("$", "").split()) for t in dict.fromkeys(titles) if t.strip()]
    return "; ".join(titles) if titles else "Figure"


def sharp_frame(figure, density: int = PIXEL_DENSITY, alt: str | None = None) -> Picture:
    """:func:`sharp_picture` as a frame for :func:`state_viewer` (return it from ``render``).
    Its alt text is ``alt``, or else the figure's titles and the state the viewer shows."""
    described = describe_figure(figure)
    png, width = _sharp_png(figure, density)
    pixels_wide, pixels_high = _png_size(png)
    return Picture(png, width, round(pixels_high * width / pixels_wide), described, alt)


def _as_frame(state, alt):
    """A widget for one state: a matplotlib figure, PNG bytes, a :class:`Picture`, an HTML string
    or a widget; ``alt(what the figure shows)`` is a picture's alt text unless it has its own."""
    if isinstance(state, widgets.Widget):
        return state
    if isinstance(state, str):
        return widgets.HTML(state, layout=_FRAME_LAYOUT)
    if isinstance(state, bytes):
        state = Picture(state, *_png_size(state))
    elif hasattr(state, "savefig"):
        described = describe_figure(state)
        png = figure_to_png(state)
        state = Picture(png, *_png_size(png), described)
    if isinstance(state, Picture):
        return state.frame(alt(state.described))
    raise TypeError(f"a state must be a matplotlib figure, PNG bytes, an HTML string or a widget, not {type(state).__name__}")


def _alt_text(alt, label, shown: str):
    """How a frame's alt text is made from what its figure shows: ``"<that> (<state>)"``; ``alt``,
    a text, replaces what the figure shows, and a function of the label gives the whole text."""
    if callable(alt):
        return lambda described: str(alt(label))
    return lambda described: f"{alt or described} ({shown})"


def _shown(description: str, label) -> str:
    """The state a frame shows, in words: ``"probe word: cat"``."""
    return f"{description}: {label}" if description else str(label)


def _control(labels, description, kind):
    """The control over ``labels``. Its accessible name is its description; a control without
    one is named by its first options (the tooltip, which the book's widgets-page.js reads)."""
    labels = [str(label) for label in labels]
    style = {"description_width": "initial"}
    named = {"description": description, "style": style,
             "tooltip": None if description else "options: " + ", ".join(labels[:3]) + (", …" if len(labels) > 3 else "")}
    if kind == "slider":
        return widgets.SelectionSlider(options=labels, value=labels[0], continuous_update=True,
                                       layout=widgets.Layout(width="450px", max_width="100%"), **named)
    if kind == "dropdown":
        return widgets.Dropdown(options=labels, value=labels[0], **named)
    if kind == "buttons":
        return widgets.ToggleButtons(options=labels, value=labels[0], **named)
    raise ValueError(f"unknown control {kind!r}; choose 'slider', 'dropdown' or 'buttons'")


def state_viewer(states: dict, description: str = "", control: str = "slider", render=None, alt=None) -> widgets.VBox:
    """A control over precomputed states: ``{label: figure | PNG | HTML | widget}``, in order.

    The control shows the labels; choosing one shows its state. Works with and without a
    kernel, because the link is made in the browser (``jslink`` on the control's ``index``).
    With ``render``, ``states`` maps each label to a parameter and ``render(parameter)``
    draws its state; the states are then drawn one at a time (one open figure at a time).
    Each picture's alt text says what the figure shows (its titles) and for which state:
    ``"<titles> (<description>: <label>)"``; ``alt``, a text, replaces the titles, and a
    function of the label gives the whole text (:func:`sharp_frame`'s ``alt`` wins over both).

    >>> viewer = state_viewer({"α = 0": "<b>flat</b>", "α = 1": "<b>peaked</b>"}, "α")
    >>> viewer = state_viewer({"30°": 30, "60°": 60}, "angle", render=lambda angle: f"<p>{angle}</p>")
    """
    if not states:
        raise ValueError("state_viewer needs at least one state")
    selector = _control(states.keys(), description, control)
    frames = [_as_frame(render(state) if render else state, _alt_text(alt, label, _shown(description, label)))
              for label, state in states.items()]
    stack = widgets.Stack(frames, selected_index=0)
    widgets.jslink((selector, "index"), (stack, "selected_index"))
    return widgets.VBox([selector, stack])


def state_grid_viewer(states: dict, descriptions: tuple[str, str], controls: tuple[str, str] = ("slider", "slider"),
                      render=None, alt=None) -> widgets.VBox:
    """Two controls over a grid of precomputed states: ``{(row_label, column_label): state}``.

    ``render`` and ``alt`` work as in :func:`state_viewer` (``alt`` as a function takes the
    ``(row_label, column_label)`` pair).
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
        frames = []
        for column in columns:
            state = render(states[row, column]) if render else states[row, column]
            shown = f"{_shown(descriptions[0], row)}, {_shown(descriptions[1], column)}"
            frames.append(_as_frame(state, _alt_text(alt, (row, column), shown)))
        row_stack = widgets.Stack(frames, selected_index=0)
        widgets.jslink((column_selector, "index"), (row_stack, "selected_index"))
        row_stacks.append(row_stack)
    grid = widgets.Stack(row_stacks, selected_index=0)
    widgets.jslink((row_selector, "index"), (grid, "selected_index"))
    return widgets.VBox([row_selector, column_selector, grid])
