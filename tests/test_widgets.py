"""embedlab.widgets: the control is linked to the stack in the browser (jslink), not in Python;
every picture is an <img> with alt text and its size."""

import base64
import html
import re

import ipywidgets
import matplotlib.pyplot as plt
import pytest
from embedlab import widgets
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import Link


def _links_between(source, target):
    """The browser-side links (jslink) from the control's index to the stack's selected_index."""
    return [
        w for w in _instances.values()
        if isinstance(w, Link) and w.source == (source, "index") and w.target == (target, "selected_index")
    ]


def test_state_viewer_links_control_to_stack_client_side():
    viewer = widgets.state_viewer({"a": "<b>A</b>", "b": "<b>B</b>", "c": "<b>C</b>"}, "letter")
    control, stack = viewer.children
    assert list(control.options) == ["a", "b", "c"]
    assert [frame.value for frame in stack.children] == ["<b>A</b>", "<b>B</b>", "<b>C</b>"]
    assert len(_links_between(control, stack)) == 1


def test_state_viewer_renders_figures_one_at_a_time():
    open_figures = []

    def render(angle):
        open_figures.append(len(plt.get_fignums()))
        figure, ax = plt.subplots()
        ax.set_title(str(angle))
        return figure

    viewer = widgets.state_viewer({f"{a}°": a for a in range(5)}, "angle", render=render)
    assert open_figures == [0, 0, 0, 0, 0]  # each figure closed before the next is drawn
    frames = viewer.children[1].children
    assert all(_png_of(frame).startswith(b"\x89PNG") for frame in frames)


def test_grid_viewer_links_the_second_control_to_every_row():
    states = {(r, c): f"{r}{c}" for r in "xy" for c in "123"}
    viewer = widgets.state_grid_viewer(states, ("row", "column"))
    rows, columns, grid = viewer.children
    assert len(_links_between(rows, grid)) == 1
    assert all(len(_links_between(columns, row_stack)) == 1 for row_stack in grid.children)
    assert grid.children[1].children[2].value == "y3"


def test_bad_states_are_clear_errors():
    with pytest.raises(ValueError, match="needs at least one state"):
        widgets.state_viewer({})
    with pytest.raises(ValueError, match="the grid is incomplete"):
        widgets.state_grid_viewer({("x", "1"): "a", ("y", "2"): "b"}, ("row", "column"))
    with pytest.raises(TypeError, match="a state must be a matplotlib figure"):
        widgets.state_viewer({"a": 3})
    with pytest.raises(ValueError, match="unknown control 'knob'"):
        widgets.state_viewer({"a": "x"}, control="knob")


def _img(frame) -> dict:
    """The attributes of the one <img> of an HTML frame."""
    assert isinstance(frame, ipywidgets.HTML)
    tags = re.findall(r"<img ([^>]*)>", frame.value)
    assert len(tags) == 1
    return {key: html.unescape(value) for key, value in re.findall(r'([a-z-]+)="([^"]*)"', tags[0])}


def _png_of(frame) -> bytes:
    return base64.b64decode(_img(frame)["src"].removeprefix("data:image/png;base64,"))


def _titled(title, xlabel=""):
    figure, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return figure


def test_every_picture_has_alt_text_from_its_figure_and_state():
    viewer = widgets.state_viewer({"cat": "cat", "car": "car"}, "probe word", render=lambda w: _titled(f"Nearest to {w}"))
    assert [_img(f)["alt"] for f in viewer.children[1].children] == [
        "Nearest to cat (probe word: cat)", "Nearest to car (probe word: car)"]
    grid = widgets.state_grid_viewer({(r, c): r for r in "xy" for c in "12"}, ("row", "column"),
                                     render=lambda r: widgets.sharp_frame(_titled("", xlabel=f"axis {r}")))
    assert _img(grid.children[2].children[1].children[0])["alt"] == "axis y (row: y, column: 1)"
    untitled = widgets.state_viewer({"a": _titled("")}, "letter")
    assert _img(untitled.children[1].children[0])["alt"] == "Figure (letter: a)"


def test_alt_text_can_be_given():
    as_text = widgets.state_viewer({"1": 1}, "step", render=lambda s: _titled("t"), alt="Loss curve")
    assert _img(as_text.children[1].children[0])["alt"] == "Loss curve (step: 1)"
    as_function = widgets.state_grid_viewer({("x", "1"): 0}, ("row", "column"), render=lambda s: _titled("t"),
                                            alt=lambda pair: f"cell {pair[0]}{pair[1]} <of the grid>")
    assert _img(as_function.children[2].children[0].children[0])["alt"] == "cell x1 <of the grid>"
    assert "&lt;of the grid&gt;" in as_function.children[2].children[0].children[0].value  # escaped in the HTML
    own = widgets.state_viewer({"1": 1}, "step", render=lambda s: widgets.sharp_frame(_titled("t"), alt="Its own"), alt="Loss")
    assert _img(own.children[1].children[0])["alt"] == "Its own"


def test_pictures_keep_their_place_decode_lazily_and_weigh_no_more_than_an_image_widget():
    viewer = widgets.state_viewer({"a": 1, "b": 2}, "x", render=lambda s: widgets.sharp_frame(_titled(str(s))))
    frames = viewer.children[1].children
    for frame in frames:
        img = _img(frame)
        width, height = _png_size(_png_of(frame))
        assert (img["loading"], img["decoding"]) == ("lazy", "async")
        assert abs(int(img["width"]) - width / 2) <= 1 and abs(int(img["height"]) - height / 2) <= 1  # 2x sharp
        as_image_widget = len(base64.b64encode(_png_of(frame)))  # what an Image widget's buffer costs
        assert len(frame.value) < as_image_widget + 300
    assert frames[0].layout is frames[1].layout  # one layout shared by all frames


def test_a_control_without_a_description_is_named_by_its_options():
    viewer = widgets.state_viewer({"sort by MTEB": "a", "sort by size": "b", "sort by price": "c", "x": "d"}, control="dropdown")
    assert viewer.children[0].tooltip == "options: sort by MTEB, sort by size, sort by price, …"
    assert widgets.state_viewer({"a": "a"}, "letter").children[0].tooltip is None  # the description names it


def test_a_frame_that_is_not_a_png_is_a_clear_error():
    with pytest.raises(ValueError, match="must be PNG bytes"):
        widgets.state_viewer({"a": b"GIF89a not a png"}, "x")


def _png_size(png: bytes) -> tuple[int, int]:
    import struct

    assert png.startswith(b"\x89PNG")
    return struct.unpack(">II", png[16:24])


def test_sharp_pictures_have_twice_the_pixels_of_the_space_they_take():
    """On a 2× (high-DPI) screen every image pixel is a screen pixel; at the page's width a
    7-inch figure takes 7 × 100 CSS pixels (less what bbox_inches="tight" trims)."""
    def seven_inches():
        figure, ax = plt.subplots(figsize=(7, 3))
        ax.plot([0, 1], [0, 1])
        figure.tight_layout()
        return figure

    frame = widgets.sharp_frame(seven_inches())
    width, height = _png_size(frame.png)
    assert abs(width - 2 * frame.width) <= 1 and abs(height - 2 * frame.height) <= 1 and 640 < frame.width <= 700
    picture = widgets.sharp_picture(seven_inches())
    _, metadata = picture._repr_png_()  # what the notebook stores, and MyST-NB writes into the <img>
    assert abs(_png_size(picture.data)[0] - 2 * metadata["width"]) <= 1
    assert plt.get_fignums() == []  # each figure closed once drawn, so the notebook shows it once
    plain = widgets.figure_to_png(seven_inches())  # the negative control: one pixel per CSS pixel at 80 dpi
    assert _png_size(plain)[0] < frame.width
