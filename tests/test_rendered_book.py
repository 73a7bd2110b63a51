"""The rendered book in a real browser (headless Chromium), with every off-site request blocked.

Runs against `_build/html` (build it first with `make book`; EMBEDLAB_BOOK_HTML names another
built book). Proves that the widgets work with no kernel and no CDN: they render (each when it
comes near the screen), moving a control changes the picture, and no request leaves the machine;
and what a reader needs of a page that
can be checked without Lighthouse (issue 17): no console error, a description, alt text for every
picture, a name for every control, every control usable from the keyboard, no progress bar, no
sideways scroll on a phone. Skipped when the book or Chromium is missing, except in CI (CI=true),
where a skip would hide a broken build.
"""

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

BOOK = Path(os.environ.get("EMBEDLAB_BOOK_HTML") or Path(__file__).resolve().parents[1] / "_build" / "html")
#: Every chapter page, and how many picture viewers it has at least.
CHAPTERS = {"01_representation": 3, "02_word2vec": 2, "03_analogies": 2, "04_contrastive": 2, "05_matryoshka": 1, "06_rag": 0,
            "07_beyond_search": 2}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _missing_reason():
    if not all((BOOK / "chapters" / f"{name}.html").exists() for name in CHAPTERS):
        return f"no rendered book in {BOOK}: run `make book` first"
    if CHROMIUM is None:
        return "Chromium is not installed (Debian/Ubuntu: apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def site():
    reason = _missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    handler = functools.partial(QuietHandler, directory=str(BOOK))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def _open_chapter(site, browser, name):
    """A chapter page, loaded with every request off 127.0.0.1 aborted and recorded, and every
    widget drawn: (page, off-site requests, page errors, how many picture viewers it has)."""
    page = browser.new_page()
    off_site, page_errors = [], []

    def route(request_route):
        if request_route.request.url.startswith(site + "/"):
            request_route.continue_()
        else:
            off_site.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    # What Lighthouse counts as console errors: a message logged as an error, a failed request.
    page.on("console", lambda message: page_errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{site}/chapters/{name}.html", wait_until="load")
    _draw_every_widget(page)
    page.wait_for_selector(".widget-slider", timeout=30_000)
    return page, off_site, page_errors, CHAPTERS[name]


@pytest.fixture(scope="module", params=list(CHAPTERS))
def loaded_chapter(request, site, browser):
    """A chapter page loaded once for the checks that only read it; a check that moves a control
    takes a fresh page (:func:`chapter`)."""
    opened = _open_chapter(site, browser, request.param)
    yield opened
    opened[0].close()


@pytest.fixture(params=list(CHAPTERS))
def chapter(request, site, browser):
    """A fresh chapter page, for a check that moves its controls."""
    opened = _open_chapter(site, browser, request.param)
    yield opened
    opened[0].close()


#: A widget view in the page: waiting to be drawn (book/js/widgets-page.js) or drawn.
VIEWS = ('script[type="application/vnd.jupyter.widget-view+json"], '
         'script[type="application/x-embedlab-widget-view-waiting+json"]')


def _draw_every_widget(page):
    """Scroll to every widget view of the page, which draws it, and wait until all are drawn
    (embed.js puts a .widget-subarea before each view). The page scrolls itself, two frames per
    view for its IntersectionObserver to see it: Playwright's own scrolling waits for each
    output to stop moving, about 4 s a widget. A page the browser does not show runs no animation
    frames, so each wait also ends after 200 ms: without that, evaluate() could wait forever."""
    page.bring_to_front()
    page.evaluate(f"""async () => {{
        for (const view of document.querySelectorAll('{VIEWS}')) {{
            view.parentElement.scrollIntoView();
            await new Promise(done => {{
                requestAnimationFrame(() => requestAnimationFrame(done));
                setTimeout(done, 200);
            }});
        }}
    }}""")
    page.wait_for_function(f"""() => document.querySelectorAll('.widget-subarea').length >=
        document.querySelectorAll('{VIEWS}').length""", timeout=30_000)
    page.wait_for_timeout(300)
    page.evaluate("window.scrollTo(0, 0)")


def _wait_for_a_formula(page):
    """Until the page's first formula shows in KaTeX's fonts, which the book serves: the build
    typeset it (sphinxcontrib-katex), the page only needs its style sheet and fonts."""
    formula = page.locator(".math .katex").first
    formula.scroll_into_view_if_needed()
    formula.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("document.fonts.ready.then(() => document.fonts.check('16px KaTeX_Main'))", timeout=30_000)


def _viewer_of(control):
    """The widget box that holds a control and the stack it drives."""
    return control.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")


def test_widgets_render_and_need_no_request_off_the_machine(loaded_chapter):
    page, off_site, page_errors, picture_viewers = loaded_chapter
    assert page.locator(".widget-slider").count() >= 2
    assert page.locator(".widget-dropdown select").count() >= 1
    # A stack puts only its selected state in the page: one picture per figure viewer, and
    # every picture has really loaded.
    pictures = page.locator(".widget-subarea img")
    assert pictures.count() >= picture_viewers
    for i in range(pictures.count()):
        pictures.nth(i).scroll_into_view_if_needed()  # pictures in widgets load lazily
        pictures.nth(i).evaluate("img => img.decode()")
        assert pictures.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator(".widget-html").count() >= 1
    # Icons and formulas come from the book itself.
    _wait_for_a_formula(page)
    assert off_site == []
    assert page_errors == []


def test_every_page_has_a_description():
    """Search engines and link previews show it; book/page_quality.py derives it."""
    if _missing_reason():
        pytest.skip(_missing_reason())
    pages = [BOOK / "chapters" / f"{name}.html" for name in CHAPTERS] + sorted((BOOK / "book").glob("*.html"))
    for page in pages:
        found = re.search(r'<meta name="description" content="([^"]*)"', page.read_text())
        assert found and len(found[1]) >= 50, f"{page.name} has no description"


def test_a_chapter_page_names_its_widget_state_instead_of_carrying_it():
    """The widget state (every frame of every widget) is most of a chapter's bytes: the page names
    the file that holds it (book/page_quality.py), which widgets-page.js loads for the first widget."""
    if _missing_reason():
        pytest.skip(_missing_reason())
    for name in CHAPTERS:
        page = (BOOK / "chapters" / f"{name}.html").read_text()
        assert "application/vnd.jupyter.widget-state+json" not in page
        tag = re.search(r'<script [^>]*type="application/x-embedlab-widget-state"[^>]*>', page)
        assert tag, f"{name} names no widget state"
        named = re.search(r'src="\.\./(_widget_states/[^"?]+)', tag[0])
        assert (BOOK / named[1]).read_text().startswith("window.embedlabWidgetState = {")


#: A formula of the page (sphinxcontrib-katex's element), with what follows it: KaTeX's HTML
#: when the build typeset it (a display formula may carry its number first).
FORMULA = re.compile(r'<(?:span|div) class="math">\s*(?:<span class="eqno">.*?</span>\s*)?(<span class="katex)?')


def test_every_formula_is_typeset_when_the_book_is_built():
    """Every formula of every chapter is KaTeX's HTML in the built page (no TeX left for a script
    to typeset, no formula KaTeX could not parse), and no page loads MathJax."""
    if _missing_reason():
        pytest.skip(_missing_reason())
    for name in CHAPTERS:
        page = (BOOK / "chapters" / f"{name}.html").read_text()
        formulas = FORMULA.findall(page)
        assert formulas and all(formulas), f"{name}: a formula is not typeset"
        assert "katex-error" not in page
        assert not re.search(r"<script[^>]*mathjax", page, flags=re.IGNORECASE)
        # KaTeX keeps each formula's source for screen readers and copying, as MathML's annotation.
        main = re.sub(r'<annotation encoding="application/x-tex">.*?</annotation>', "", page.split("<main", 1)[1], flags=re.DOTALL)
        assert "\\(" not in main and "\\[" not in main and "$$" not in main, f"{name}: TeX left in the page"


def test_a_formula_shows_with_no_script_and_nothing_from_elsewhere(site, browser):
    """Chapter 5's first formula is near the top: it shows in KaTeX's fonts, served by the book,
    and the page asks for no typesetting script (MathJax's start-up was most of its load)."""
    page = browser.new_page()
    requests, failed = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    try:
        page.goto(f"{site}/chapters/05_matryoshka.html", wait_until="load")
        _wait_for_a_formula(page)
        formula = page.locator(".math .katex-html").first
        assert formula.evaluate("e => getComputedStyle(e.querySelector('.mord') || e).fontFamily").startswith("KaTeX_")
        assert formula.evaluate("e => e.getBoundingClientRect().width") > 10
        assert [url for url in requests if "mathjax" in url.lower() or "katex.min.js" in url] == []
        assert any("_static/katex/katex.min.css" in url for url in requests)
        assert all(url.startswith(site + "/") for url in requests)
        assert failed == []
    finally:
        page.close()


def test_every_picture_has_alt_text(loaded_chapter):
    """Every <img> (figures and the pictures in widgets) says what it shows: not empty, not the
    file name Sphinx writes when a cell has no alt text (``mystnb: image: alt:``)."""
    page = loaded_chapter[0]
    images = page.evaluate("() => [...document.querySelectorAll('main img')].map(img => [img.getAttribute('alt'), img.src.slice(-60)])")
    assert images
    missing = [source for alt, source in images
               if not alt or not alt.strip() or re.search(r"\.(png|jpe?g|svg|gif)$|^data:|_images/", alt.strip())]
    assert missing == [], f"{len(missing)} of {len(images)} pictures have no alt text"


def test_every_control_has_an_accessible_name(loaded_chapter):
    """A screen reader announces each slider, list and button by name (Playwright computes the
    accessible name as the browser does)."""
    page = loaded_chapter[0]
    widgets = page.locator(".widget-subarea")
    for role in ("slider", "combobox", "button"):
        controls = widgets.get_by_role(role)
        named = widgets.get_by_role(role, name=re.compile(r"\S"))
        assert controls.count() == named.count(), f"{controls.count() - named.count()} {role}s without a name"
    assert widgets.get_by_role("slider").count() >= 1


def test_toggle_buttons_work_from_the_keyboard(chapter):
    """Tab to a toggle button and press Space: the picture changes, as with a click."""
    page = chapter[0]
    buttons = page.locator(".widget-toggle-buttons")
    if buttons.count() == 0:
        pytest.skip("no toggle buttons on this page")
    last = buttons.first.locator("button").last
    assert _picture_changes(buttons.first, lambda: (last.focus(), page.keyboard.press("Space"), page.wait_for_timeout(300)))
    assert last.get_attribute("aria-pressed") == "true"


def test_a_dropdown_works_from_the_keyboard(chapter):
    page = chapter[0]
    dropdown = page.locator(".widget-dropdown select").first
    assert _picture_changes(dropdown, lambda: (dropdown.focus(), page.keyboard.press("ArrowDown"), page.wait_for_timeout(300)))


def test_no_progress_bar_in_the_page(loaded_chapter):
    """Progress bars are for a live notebook (embedlab.progress): the built page shows none, neither
    tqdm's widget nor its text form."""
    page = loaded_chapter[0]
    assert page.locator(".widget-hprogress, .progress-bar").count() == 0
    text = page.locator("main").inner_text()
    assert "█" not in text and "it/s]" not in text and "batches/s" not in text


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_a_phone_wide_page_does_not_scroll_sideways_and_its_controls_fit(name, site, browser):
    """At 390 px (a phone), the page has no sideways scroll and every control of every widget lies
    within the screen (a fixed 450 px slider used to lose its value readout)."""
    page = browser.new_page()
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{site}/chapters/{name}.html", wait_until="load")
        _draw_every_widget(page)
        page.wait_for_selector(".widget-slider, .widget-html", timeout=30_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        overflowing = page.evaluate("""() => [...document.querySelectorAll('.widget-slider, .widget-dropdown, .widget-toggle-buttons')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).length""")
        assert overflowing == 0
    finally:
        page.close()


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_a_widget_far_down_is_drawn_when_scrolled_to_keeps_its_place_and_works(name, site, browser):
    """A page draws its widgets as they come near the screen, not all of them when it loads
    (book/js/widgets-page.js): the last picture viewer of a chapter, screens below the top, is
    not drawn after the load; scrolled to, it is drawn in the place its placeholder kept (no
    jump), and its slider works from the keyboard."""
    page = browser.new_page()
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("console", lambda message: page_errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(f"{site}/chapters/{name}.html", wait_until="load")
        page.wait_for_timeout(1000)
        # The browser's own :has() finds the viewers at once (Playwright's takes seconds a call).
        found = page.evaluate("""() => {
            const viewers = document.querySelectorAll('*:has(> script + .widget-placeholder > .slider ~ span[style])');
            if (viewers.length) viewers[viewers.length - 1].setAttribute('data-last-viewer', '');
            return viewers.length; }""")
        if found == 0:
            pytest.skip("no picture viewer with a slider on this page")
        viewer = page.locator("[data-last-viewer]")
        assert viewer.evaluate("e => e.getBoundingClientRect().top") > 3 * 900, "the viewer is not far down"
        assert page.locator(".widget-subarea").count() < page.locator(VIEWS).count()
        assert viewer.locator(".widget-subarea").count() == 0
        kept = viewer.evaluate("e => e.getBoundingClientRect().height")
        viewer.evaluate("e => e.scrollIntoView()")  # Playwright's scrolling waits seconds for the page to settle
        viewer.locator(".widget-subarea .widget-slider").first.wait_for(timeout=30_000)
        viewer.locator(".widget-subarea img").first.evaluate("img => img.decode()")
        drawn = viewer.evaluate("e => e.getBoundingClientRect().height")
        assert abs(drawn - kept) <= max(16, 0.05 * kept), f"the viewer was {kept:.0f} px high, drawn it is {drawn:.0f} px"
        slider = viewer.locator(".widget-slider").first
        assert _picture_changes(slider, lambda: _step_right(page, slider))
        assert page_errors == []
    finally:
        page.close()


def _step_right(page, slider):
    """Move a slider one step with the keyboard, as a reader can, and let the page redraw."""
    handle = slider.locator(".noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_timeout(300)


def _picture_changes(control, act) -> bool:
    """Whether the widget box holding ``control`` looks different after ``act()``."""
    viewer = _viewer_of(control)
    viewer.scroll_into_view_if_needed()
    before = viewer.screenshot()
    act()
    return viewer.screenshot() != before


def test_moving_a_slider_changes_the_picture(chapter):
    page, off_site, _, _ = chapter
    slider = page.locator(".widget-slider").first
    assert _picture_changes(slider, lambda: _step_right(page, slider))
    assert off_site == []


def test_choosing_in_a_dropdown_changes_the_picture(chapter):
    page, off_site, _, _ = chapter
    dropdown = page.locator(".widget-dropdown select").first
    last_option = dropdown.locator("option").all_inner_texts()[-1]
    assert _picture_changes(dropdown, lambda: (dropdown.select_option(last_option), page.wait_for_timeout(300)))
    assert off_site == []


def test_both_controls_of_a_grid_change_the_picture(chapter):
    """Grids (the angle demo, the context window) have two sliders; each must work alone."""
    page, off_site, _, _ = chapter
    grid = page.locator(".widget-vbox:has(> .widget-slider ~ .widget-slider)").first
    grid.scroll_into_view_if_needed()
    pictures = [grid.screenshot()]
    for nth in (0, 1):
        _step_right(page, grid.locator(":scope > .widget-slider").nth(nth))
        pictures.append(grid.screenshot())
    assert pictures[0] != pictures[1] != pictures[2]
    assert off_site == []


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a browser that closes a connection early is not a failure of the page


#: GitHub Pages serves a project's site under its repository's name.
SUB_PATH = "/how-embedding-models-are-trained/"


class SubPathHandler(QuietHandler):
    """The book under ``SUB_PATH`` only, as https://OWNER.github.io/REPO/ serves it: a request
    for anything outside it (a link that assumed the site's root) gets 404."""

    def translate_path(self, path):
        if not path.startswith(SUB_PATH):
            return str(BOOK / "__outside_the_sub_path__")
        return super().translate_path("/" + path[len(SUB_PATH):])


@pytest.fixture(scope="module")
def sub_path_site():
    reason = _missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    handler = functools.partial(SubPathHandler, directory=str(BOOK))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{SUB_PATH}"
    server.shutdown()


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_every_page_works_under_a_sub_path(name, sub_path_site, browser):
    """Served under /REPO/, every script, style sheet, image and font of a chapter loads, and its
    widgets and formulas still render."""
    page = browser.new_page()
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{sub_path_site}chapters/{name}.html", wait_until="load")
    _draw_every_widget(page)
    page.wait_for_selector(".widget-slider", timeout=30_000)
    _wait_for_a_formula(page)
    pictures = page.locator("img")
    for i in range(pictures.count()):
        if pictures.nth(i).is_visible():
            pictures.nth(i).scroll_into_view_if_needed()  # pictures in widgets load lazily
            assert pictures.nth(i).evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    page.close()
    assert failed == []


def test_the_sub_path_server_refuses_what_lies_outside_it(sub_path_site):
    """The negative control: a page asked for at the site's root is not found."""
    import urllib.error
    import urllib.request

    root = sub_path_site[: -len(SUB_PATH)] + "/"
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(root + "chapters/01_representation.html")
    assert urllib.request.urlopen(sub_path_site + "chapters/01_representation.html").status == 200
