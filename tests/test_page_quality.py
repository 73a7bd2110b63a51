"""book/page_quality.py, the Sphinx extension behind every page's meta description, its console
free of errors and the place its widgets keep while they are drawn (issue 17)."""

import sys
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
from docutils.core import publish_doctree
from embedlab import widgets
from ipywidgets.embed import embed_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book"))
import page_quality


def test_the_description_is_the_first_paragraph_of_prose_cut_at_a_word():
    doctree = publish_doctree("""
Title
=====

.. note:: An admonition is not the page's first paragraph, however long its text may be.

.. container:: cell_output

   A cell's output is not prose either, even with forty characters or more.

Short.

A computer sees the word *cat* as three characters [Mikolov et al., 2013, Levy and Goldberg, 2014b],
and *kitten* as six others. Nothing in those characters says that the two words mean nearly the
same thing, while cat and car do not.
""")
    text = page_quality.first_paragraph(doctree)
    assert text.startswith("A computer sees the word cat as three characters [Mikolov")
    description = page_quality.page_description({}, doctree, "fallback")
    assert len(description) <= page_quality.DESCRIPTION_LENGTH and description.endswith("…")
    assert description.startswith("A computer sees the word cat as three characters, and kitten")  # no citation
    assert text.replace(" [Mikolov et al., 2013, Levy and Goldberg, 2014b]", "").startswith(description[:-1])
    assert page_quality.page_description({"description": " Given  here. "}, doctree, "x") == "Given here."
    assert page_quality.page_description({}, publish_doctree("Title\n=====\n"), "fallback") == "fallback"


class _Asset:
    """What Sphinx puts in a page's ``script_files``: a file name or an inline body, and attributes."""

    def __init__(self, filename, **attributes):
        self.filename, self.attributes = filename, attributes


def _names(assets):
    return [asset.filename or asset.attributes["body"] for asset in assets]


def test_thebe_scripts_go_when_thebe_is_off_and_no_script_is_added_twice():
    thebe = _Asset(None, body='const THEBE_JS_URL = "https://unpkg.com/thebe"')
    scripts = [_Asset("doctools.js"), thebe, _Asset("_static/sphinx-thebe.js", **{"async": "async"}),
               _Asset(None, body="var togglebuttonSelector = '.toggle'"), thebe,
               _Asset(None, body="var togglebuttonSelector = '.toggle'")]
    toggle = "var togglebuttonSelector = '.toggle'"
    assert _names(page_quality.unique_assets(scripts, drop_thebe=True)) == ["doctools.js", toggle]
    kept = page_quality.unique_assets(scripts, drop_thebe=False)  # thebe on: its scripts stay, once each
    assert _names(kept) == ["doctools.js", thebe.attributes["body"], "_static/sphinx-thebe.js", toggle]


def test_a_widget_keeps_the_place_of_its_controls_and_first_picture():
    def figure(n):
        fig, ax = plt.subplots(figsize=(5, 2 + n))
        ax.set_title(str(n))
        return fig

    viewer = widgets.state_grid_viewer({(r, c): r + c for r in (0, 1) for c in (0, 2)}, ("row", "column"),
                                       controls=("slider", "dropdown"), render=lambda n: widgets.sharp_frame(figure(n)))
    first = widgets.sharp_frame(figure(0))
    data = embed_data([viewer, ipywidgets.HTML("<b>text</b>")])
    state = data["manager_state"]
    parts = page_quality.placeholder_parts(data["view_specs"][0]["model_id"], state["state"])
    assert parts == ["slider", "control", (first.width, first.height)]
    body = "".join('<script type="application/vnd.jupyter.widget-view+json">'
                   f'{{"version_major": 2, "version_minor": 0, "model_id": "{v["model_id"]}"}}</script>'
                   for v in data["view_specs"])
    reserved = page_quality.reserve_widget_space(body, state)
    assert reserved.count('class="widget-placeholder"') == 1  # the lone HTML widget's height is unknown
    assert f"aspect-ratio:{first.width}/{first.height}" in reserved
