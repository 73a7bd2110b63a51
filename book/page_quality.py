"""What every page of the book needs beyond what Jupyter Book 1 gives it (issue 17).

A local Sphinx extension (``sphinx: local_extensions:`` in ``_config.yml``):

- **A meta description** on every page, for search engines and link previews: the page's
  ``description`` front matter (``html_meta: {description: ...}`` under ``myst:`` works too) or
  else its first paragraph of prose, cut at a word near 160 characters. A new chapter needs
  nothing to get one.
- **No console errors.** sphinx-thebe adds its configuration script every time the environment
  is read, so a page declares ``const THEBE_JS_URL`` twice and the second throws; the book runs
  no thebe (``launch_buttons.thebe: false``), so its scripts and style sheet are left out, and
  any other script added twice is kept once. pydata-sphinx-theme writes the page's colour mode
  from a template variable that nothing sets (``data-default-mode=""``), and its script then
  logs "invalid theme mode": the variable gets the theme's own default, ``auto``.
- **Widgets keep their place.** A widget is drawn by JavaScript once the page has loaded; until
  then its output is empty, and the text below it jumps when it appears. Each widget view gets
  a placeholder of the height its pictures will take (the ``width``/``height`` that
  :mod:`embedlab.widgets` writes on every frame, scaled to the column as the picture is), which
  the style sheet hides as soon as the widget is drawn. (``book/js/widgets-page.js`` draws each
  widget when it comes near the screen.)
- **A light page.** MyST-NB writes the page's widget state (every frame of every widget, 95 % of
  a chapter's bytes) inline in the page's head, before its first word. It goes to a file of its
  own, ``_widget_states/<page>.js``, named by a tag that the browser neither fetches nor runs;
  ``widgets-page.js`` loads it when the first widget comes near the screen. The page's text
  arrives and shows without waiting for it.
- **Formulas that are typeset when the book is built.** sphinxcontrib-katex writes every
  formula as KaTeX's HTML (``_config.yml``), so no page runs a typesetting script; KaTeX
  renders a formula it cannot parse as its source in red (``class="katex-error"``) without
  failing, so each one is reported as a warning, which fails the ``-W`` build.
- **Figures load as the reader gets to them**: every ``<img>`` of the page's text gets
  ``loading="lazy"`` (the browser fetches it when it comes near the screen).
- **No icon script.** pydata-sphinx-theme draws its icons from Font Awesome's web fonts and
  style sheet, and also loads Font Awesome's 1.5 MB script, which only serves custom icons (the
  book has none) and replaces every icon by an SVG as the page loads: the longest task of a
  chapter's load after the widgets. Its ``<script>`` tag, written by the theme's template, is
  taken out of every page when the build has finished.
- **A formula keeps the punctuation after it.** A browser may break a line between an inline
  formula and the ")" or "," that follows it, which then starts the next line; a short formula
  and the closing punctuation after it go in one span that does not wrap.
- **References a screen reader can list.** docutils marks each entry of a citation list
  ``role="doc-biblioentry"``, a role ARIA 1.2 deprecates and which is not allowed as an item of
  the ``role="list"`` around it: each entry becomes a ``listitem``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Search engines show about 155-160 characters of a description.
DESCRIPTION_LENGTH = 160
STATIC = Path(__file__).resolve().parent / "_page_quality"
#: An author-year citation as sphinxcontrib-bibtex writes it: "[Kusupati et al., 2022]".
CITATION = re.compile(r"\s*\[[^\[\]]*\b\d{4}[a-z]?\]")


def first_paragraph(doctree: nodes.document) -> str:
    """The first paragraph of prose: not a title, not inside a code cell, an output, an admonition
    or a table; whitespace collapsed. Empty when the page has none."""
    skipped = (nodes.Admonition, nodes.table, nodes.literal_block, nodes.footnote, nodes.citation, nodes.sidebar)
    for paragraph in doctree.findall(nodes.paragraph):
        ancestor, inside = paragraph.parent, False
        while ancestor is not None:
            classes = ancestor.get("classes", []) if isinstance(ancestor, nodes.Element) else []
            if isinstance(ancestor, skipped) or any(c.startswith("cell") for c in classes):
                inside = True
                break
            ancestor = ancestor.parent
        text = " ".join(paragraph.astext().split())
        if not inside and len(text) >= 40:
            return text
    return ""


def shorten(text: str, length: int = DESCRIPTION_LENGTH) -> str:
    """``text`` cut at the last word boundary within ``length`` characters, with an ellipsis."""
    if len(text) <= length:
        return text
    cut = text[: length - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def page_description(metadata: dict, doctree: nodes.document | None, fallback: str) -> str:
    """The page's description: its front matter's, else its first paragraph, else ``fallback``."""
    given = metadata.get("description") or (metadata.get("html_meta") or {}).get("description")
    if given:
        return " ".join(str(given).split())
    text = first_paragraph(doctree) if doctree is not None else ""
    text = CITATION.sub("", text)  # "[Mikolov et al., 2013]" says nothing in a search result
    return shorten(text) if text else fallback


def _is_thebe(asset) -> bool:
    filename = getattr(asset, "filename", None) or ""
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def _key(asset):
    return (getattr(asset, "filename", None), tuple(sorted((k, str(v)) for k, v in getattr(asset, "attributes", {}).items())))


def unique_assets(assets: list, drop_thebe: bool) -> list:
    """The page's scripts (or style sheets) in order, each once, and without thebe's when it is off."""
    seen, kept = set(), []
    for asset in assets:
        if (drop_thebe and _is_thebe(asset)) or _key(asset) in seen:
            continue
        seen.add(_key(asset))
        kept.append(asset)
    return kept


_VIEW = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(\{.*?\})</script>')


#: Models drawn as one row of controls above a viewer's pictures.
CONTROLS = {"SelectionSliderModel", "IntSliderModel", "FloatSliderModel", "DropdownModel", "ToggleButtonsModel",
            "SelectModel", "RadioButtonsModel", "CheckboxModel", "ToggleButtonModel", "TextModel", "IntTextModel",
            "FloatTextModel", "ButtonModel"}


def placeholder_parts(model_id: str, models: dict) -> list:
    """What a widget shows before any control is moved, top to bottom: ``"slider"``,
    ``"buttons"`` or ``"control"`` for a row of controls and ``(width, height)`` in CSS pixels for a picture (the first frame of each stack)."""
    model = models.get(model_id, {})
    state = model.get("state", {})
    name = model.get("model_name")
    if name in CONTROLS:
        return ["slider" if "Slider" in name else "buttons" if "Buttons" in name else "control"]
    if name == "HTMLModel":
        found = re.search(r'<img [^>]*width="(\d+)" height="(\d+)"', state.get("value", ""))
        return [(int(found[1]), int(found[2]))] if found else []
    children = [c.removeprefix("IPY_MODEL_") for c in state.get("children", [])]
    if name == "StackModel":
        index = state.get("selected_index") or 0
        children = children[index:index + 1]
    return [part for child in children for part in placeholder_parts(child, models)]


def reserve_widget_space(body: str, state: dict) -> str:
    """Put after every widget view a placeholder as high as its controls and pictures will be (an
    HTML frame's height is not known before it is drawn: it keeps no place)."""
    models = state.get("state", {})

    def placeholder(match):
        view = json.loads(html.unescape(match[1]))
        parts = placeholder_parts(view.get("model_id", ""), models)
        if not parts:
            return match[0]
        spans = "".join(f'<span class="{part}"></span>' if isinstance(part, str)
                        else f'<span style="max-width:{part[0]}px;aspect-ratio:{part[0]}/{part[1]}"></span>'
                        for part in parts)
        return match[0] + f'<div class="widget-placeholder" aria-hidden="true">{spans}</div>'

    return _VIEW.sub(placeholder, body)


#: The theme's Font Awesome script tag, at any depth of the page (``../_static/...``).
ICON_SCRIPT = re.compile(r'\s*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>')


def without_icon_script(page: str) -> str:
    """The page without the theme's Font Awesome script (its icons come from the web fonts)."""
    return ICON_SCRIPT.sub("", page)


def _replaced(asset, filename, attributes: dict):
    """A script like ``asset`` (same kind, same priority) with another file and attributes."""
    priority = {"priority": asset.priority} if hasattr(asset, "priority") else {}
    return type(asset)(filename, **priority, **attributes)


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: The type of the tag that names a page's widget-state file, which book/js/widgets-page.js loads.
WIDGET_STATE_FILE = "application/x-embedlab-widget-state"
#: Where the pages' widget states go, under the site's root: ``_widget_states/chapters/01_x.js``.
WIDGET_STATE_FOLDER = "_widget_states"


def widget_state_in_a_file(assets: list, pagename: str, outdir) -> list:
    """The page's scripts with its inline widget state written to ``_widget_states/<page>.js``
    (as ``window.embedlabWidgetState = {...};``) and named by a tag of type ``WIDGET_STATE_FILE``."""
    kept = []
    for asset in assets:
        attributes = getattr(asset, "attributes", {})
        if attributes.get("type") == WIDGET_STATE:
            path = f"{WIDGET_STATE_FOLDER}/{pagename}.js"
            target = Path(outdir) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"window.embedlabWidgetState = {attributes['body']};\n", encoding="utf-8")
            asset = _replaced(asset, path, {"type": WIDGET_STATE_FILE})
        kept.append(asset)
    return kept


def lazy_images(body: str) -> str:
    """Every ``<img>`` without a ``loading`` attribute loaded lazily."""
    return re.sub(r"<img (?![^>]*\bloading=)", '<img loading="lazy" ', body)


def listed_references(body: str) -> str:
    """Citation entries as items of their list (``role="listitem"``)."""
    return body.replace('role="doc-biblioentry"', 'role="listitem"')


#: A formula KaTeX could not typeset (``throwOnError: false``): its source, with the error as title.
KATEX_ERROR = re.compile(r'<span class="katex-error" title="([^"]*)"')


def katex_errors(body: str) -> list[str]:
    """The error of every formula of the page that KaTeX could not typeset."""
    return [html.unescape(title) for title in KATEX_ERROR.findall(body)]


#: Punctuation that must not start a line.
CLOSING_PUNCTUATION = re.compile(r"[)\]}.,;:!?%’”]+")
#: A formula of more source characters than this may still break inside, after its operators.
SHORT_FORMULA = 40


def formulas_keep_their_punctuation(doctree: nodes.document) -> None:
    """Put each short inline formula followed by closing punctuation into one
    ``<span class="formula-with-punctuation">`` with that punctuation (the style sheet keeps it on
    one line)."""
    for formula in list(doctree.findall(nodes.math)):
        parent = formula.parent
        position = parent.index(formula)
        following = parent[position + 1] if position + 1 < len(parent) else None
        if not isinstance(following, nodes.Text) or len(formula.astext()) > SHORT_FORMULA:
            continue
        punctuation = CLOSING_PUNCTUATION.match(following.astext())
        if punctuation is None:
            continue
        # By position: docutils finds a Text child to replace or remove by equality, so an
        # earlier ", " would be taken for this one.
        group = nodes.inline(classes=["formula-with-punctuation"])
        parent[position] = group
        group += formula
        group += nodes.Text(punctuation.group())
        rest = following.astext()[punctuation.end():]
        if rest:
            parent[position + 1] = nodes.Text(rest)
        else:
            del parent[position + 1]


def on_doctree_resolved(app, doctree, docname):
    formulas_keep_their_punctuation(doctree)


def _widget_state(context: dict) -> dict | None:
    for asset in context.get("script_files", []):
        attributes = getattr(asset, "attributes", {})
        if attributes.get("type") == WIDGET_STATE:
            return json.loads(attributes["body"])
    return None


def on_config_inited(app, config):
    # pydata-sphinx-theme's default colour mode, which its template reads from the context.
    config.html_context.setdefault("default_mode", "auto")
    config.html_static_path.append(str(STATIC))


def on_html_page_context(app, pagename, templatename, context, doctree):
    launch = (app.config.html_theme_options or {}).get("launch_buttons", {})
    drop_thebe = not launch.get("thebe")
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = unique_assets(context[key], drop_thebe)
    description = page_description(app.env.metadata.get(pagename, {}), doctree, app.config.project)
    if 'name="description"' not in context.get("metatags", ""):
        context["metatags"] = context.get("metatags", "") + f'\n<meta name="description" content="{html.escape(description)}" />'
    if "body" in context:
        context["body"] = lazy_images(listed_references(context["body"]))
        for message in katex_errors(context["body"]):
            logger.warning(f"KaTeX cannot typeset a formula: {message}", location=pagename)
    state = _widget_state(context)
    if state is not None and "body" in context:
        context["body"] = reserve_widget_space(context["body"], state)
        context["script_files"] = widget_state_in_a_file(context["script_files"], pagename, app.outdir)


def on_build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if ICON_SCRIPT.search(text):
            page.write_text(without_icon_script(text), encoding="utf-8")


def setup(app):
    app.connect("config-inited", on_config_inited)
    # After sphinx-thebe, the theme and MyST-NB have filled the context.
    app.connect("html-page-context", on_html_page_context, priority=900)
    app.connect("build-finished", on_build_finished)
    app.connect("doctree-resolved", on_doctree_resolved)
    app.add_css_file("page_quality.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
