"""book/page_quality.py, the Sphinx extension behind every page's meta description, its console
free of errors, the place its widgets keep while they are drawn and its formulas typeset at build
time (issue 17)."""

import sys
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
from docutils import nodes
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


#: What KaTeX 0.16.22 (sphinxcontrib-katex's, with its throwOnError: false) writes for ``\frac{1}{``.
KATEX_PARSE_ERROR = ('<span class="katex-error" title="ParseError: KaTeX parse error: Unexpected end of input in a '
                     'macro argument, expected &#x27;}&#x27; at end of input: \\frac{1}{" style="color:#cc0000">\\frac{1}{</span>')


def test_a_formula_katex_cannot_typeset_is_reported_and_a_typeset_one_is_not():
    """KaTeX does not fail on a formula it cannot parse: it writes its source in red. The build
    must hear of it (page_quality.py turns each into a warning, which fails the -W build)."""
    typeset = ('<span class="math notranslate nohighlight"><span class="katex"><span class="katex-mathml">'
               '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi></math></span></span></span>')
    assert page_quality.katex_errors(typeset) == []
    errors = page_quality.katex_errors(f"<p>{typeset} and {KATEX_PARSE_ERROR}</p>")
    assert errors == [("ParseError: KaTeX parse error: Unexpected end of input in a macro argument, "
                       "expected '}' at end of input: \\frac{1}{")]


def test_a_short_formula_and_the_punctuation_after_it_stay_together():
    """"(a sixth at m = 64)": the ")" must not start a line, so the formula and ")," go in one
    span that does not wrap; the text after stays outside, a formula followed by a word or a
    long formula is left alone."""
    doctree = publish_doctree(
        "(a sixth at :math:`m = 64`), then :math:`x` and "
        ":math:`\\sum_{i=1}^{n} \\max_j \\hat q_i \\cdot \\hat d_j + \\text{a long tail}`.")
    page_quality.formulas_keep_their_punctuation(doctree)
    paragraph = doctree[0]
    groups = [node for node in paragraph.findall(nodes.inline) if "formula-with-punctuation" in node["classes"]]
    assert [group.astext() for group in groups] == ["m = 64),"]
    assert paragraph.astext() == ("(a sixth at m = 64), then x and "
                                  "\\sum_{i=1}^{n} \\max_j \\hat q_i \\cdot \\hat d_j + \\text{a long tail}.")
    repeated = publish_doctree("*q*, :math:`x`, *p*")  # the same ", " before the formula and after it
    page_quality.formulas_keep_their_punctuation(repeated)
    assert repeated[0].astext() == "q, x, p"


def test_the_widget_state_moves_to_a_file_the_page_names(tmp_path):
    """The inline state becomes _widget_states/<page>.js, a script that sets the state for
    widgets-page.js to read; the page keeps a tag naming the file and no copy of the state."""
    import json

    state = {"version_major": 2, "version_minor": 0, "state": {"a": {"model_name": "HTMLModel", "state": {"value": "</script>é"}}}}
    scripts = [_Asset("_static/doctools.js"),
               _Asset(None, type="application/vnd.jupyter.widget-state+json", body=json.dumps(state))]
    kept = page_quality.widget_state_in_a_file(scripts, "chapters/01_x", tmp_path)
    assert kept[0] is scripts[0]
    assert kept[1].filename == "_widget_states/chapters/01_x.js"
    assert kept[1].attributes == {"type": "application/x-embedlab-widget-state"}
    written = (tmp_path / "_widget_states" / "chapters" / "01_x.js").read_text(encoding="utf-8")
    assignment, value = written.split(" = ", 1)
    assert assignment == "window.embedlabWidgetState" and value.endswith(";\n")
    assert json.loads(value[:-2]) == state


def test_the_icon_script_goes_and_references_are_list_items_and_images_lazy():
    page = ('<link rel="preload" href="../_static/scripts/bootstrap.js" />\n'
            '  <script defer src="../_static/scripts/fontawesome.js?digest=55c2"></script>\n<p>text</p>')
    assert page_quality.without_icon_script(page) == '<link rel="preload" href="../_static/scripts/bootstrap.js" />\n<p>text</p>'
    entry = '<div role="list" class="citation-list"><div class="citation" id="id49" role="doc-biblioentry">'
    assert page_quality.listed_references(entry) == '<div role="list" class="citation-list"><div class="citation" id="id49" role="listitem">'
    assert page_quality.lazy_images('<img alt="a" src="x.png" /><img loading="eager" src="y.png" />') == \
        '<img loading="lazy" alt="a" src="x.png" /><img loading="eager" src="y.png" />'
