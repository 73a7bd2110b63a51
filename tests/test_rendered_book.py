"""The rendered book in a real browser (headless Chromium), with every off-site request blocked.

Runs against `_build/html` (build it first with `make book`). Proves that the widgets work
with no kernel and no CDN: they render, moving a control changes the picture, and no request
leaves the machine. Skipped when the book or Chromium is missing, except in CI (CI=true),
where a skip would hide a broken build.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "_build" / "html"
#: Every chapter page, and how many picture viewers it has at least.
CHAPTERS = {"01_representation": 4, "02_word2vec": 2, "03_analogies": 2, "04_contrastive": 2, "05_matryoshka": 1, "06_rag": 0}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Harmless on every Jupyter Book 1 page: sphinx-thebe's script is inlined twice.
KNOWN_PAGE_ERROR = "Identifier 'THEBE_JS_URL' has already been declared"
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


@pytest.fixture(params=list(CHAPTERS))
def chapter(request, site, browser):
    """A chapter page, loaded with every request off 127.0.0.1 aborted and recorded."""
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
    page.goto(f"{site}/chapters/{request.param}.html", wait_until="load")
    page.wait_for_selector(".widget-slider", timeout=30_000)
    yield page, off_site, page_errors, CHAPTERS[request.param]
    page.close()


def _viewer_of(control):
    """The widget box that holds a control and the stack it drives."""
    return control.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")


def test_widgets_render_and_need_no_request_off_the_machine(chapter):
    page, off_site, page_errors, picture_viewers = chapter
    assert page.locator(".widget-slider").count() >= 2
    assert page.locator(".widget-dropdown select").count() >= 1
    # A stack puts only its selected state in the page: one picture per figure viewer, and
    # every picture has really loaded.
    pictures = page.locator(".widget-image")
    assert pictures.count() >= picture_viewers
    assert all(pictures.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(pictures.count()))
    assert page.locator(".widget-html").count() >= 1
    # Icons and formulas come from the book itself.
    page.wait_for_selector("mjx-container", timeout=30_000)
    assert off_site == []
    assert [e for e in page_errors if KNOWN_PAGE_ERROR not in e] == []


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
    grid = page.locator(".widget-vbox:has(> .widget-slider:nth-child(2))").first
    grid.scroll_into_view_if_needed()
    pictures = [grid.screenshot()]
    for nth in (0, 1):
        _step_right(page, grid.locator(":scope > .widget-slider").nth(nth))
        pictures.append(grid.screenshot())
    assert pictures[0] != pictures[1] != pictures[2]
    assert off_site == []
