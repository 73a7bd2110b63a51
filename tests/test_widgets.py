"""embedlab.widgets: the control is linked to the stack in the browser (jslink), not in Python."""

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
    assert all(isinstance(f, ipywidgets.Image) and bytes(f.value).startswith(b"\x89PNG") for f in frames)


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
    width, _ = _png_size(bytes(frame.value))
    assert abs(width - 2 * int(frame.width)) <= 1 and 640 < int(frame.width) <= 700
    assert frame.layout is widgets.sharp_frame(seven_inches()).layout  # one layout shared by all frames
    picture = widgets.sharp_picture(seven_inches())
    _, metadata = picture._repr_png_()  # what the notebook stores, and MyST-NB writes into the <img>
    assert abs(_png_size(picture.data)[0] - 2 * metadata["width"]) <= 1
    assert plt.get_fignums() == []  # each figure closed once drawn, so the notebook shows it once
    plain = widgets.figure_to_png(seven_inches())  # the negative control: one pixel per CSS pixel at 80 dpi
    assert _png_size(plain)[0] < int(frame.width)
