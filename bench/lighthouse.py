"""Page quality of the built book, measured by Lighthouse in headless Chromium.

Serves ``_build/html`` on 127.0.0.1 the way a static host does (gzip for text), runs Lighthouse
12.2.3 (pinned in ``bench/lighthouse/package.json``; the last release that runs on Node 20) on
every page, desktop and mobile, and prints one line per page and form factor:

    RESULT page=chapters/01_representation form=desktop performance=.. accessibility=..
           best_practices=.. seo=.. blocking_ms=.. layout_shift=.. bytes=..

The goal for every chapter page on desktop (issue 17): performance >= 90, accessibility 100,
best practices 100, SEO >= 90, total blocking time <= 200 ms, cumulative layout shift <= 0.1.

    npm ci --prefix bench/lighthouse        # once
    make book && .venv/bin/python bench/lighthouse.py [--pages chapters/01_representation ...]
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
LIGHTHOUSE = ROOT / "bench" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
COMPRESSED = {".html", ".js", ".css", ".json", ".svg", ".txt", ".map"}
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run "
                "--disable-background-networking --disable-component-update --disable-sync")


class StaticHost(http.server.SimpleHTTPRequestHandler):
    """A static host: files from the site, text gzipped when the browser accepts it."""

    site = SITE

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(self.site), **kwargs)

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        wants_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (wants_gzip and path.suffix in COMPRESSED and path.is_file()):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=600")
        self.end_headers()
        return _Body(body)


class _Body:
    """What ``send_head`` returns for ``copyfile``: a readable body."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, *_):
        data, self.data = self.data, b""
        return data

    def close(self):
        pass


def audit(url: str, form: str, chromium: str) -> dict:
    """One Lighthouse run; the scores (0–100) and three metrics of its report."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
                   f"--chrome-flags={CHROME_FLAGS} --user-data-dir={folder}/profile",
                   "--only-categories=performance,accessibility,best-practices,seo"]
        if form == "desktop":
            command.append("--preset=desktop")
        result = subprocess.run(command, capture_output=True, text=True, env={"CHROME_PATH": chromium, "PATH": "/usr/bin:/bin"})
        if result.returncode != 0 or not report.exists():
            raise RuntimeError(f"lighthouse failed on {url} ({form}): {result.stderr.strip()[-500:]}")
        data = json.loads(report.read_text())
    scores = {key.replace("-", "_"): round(100 * (category["score"] or 0)) for key, category in data["categories"].items()}
    audits = data["audits"]

    def metric(key, digits=0):
        """An audit's measured value; ``n/a`` when Lighthouse could not measure it (its reason is
        in the report's ``errorMessage``)."""
        value = audits.get(key, {}).get("numericValue")
        return "n/a" if value is None else round(value, digits) if digits else round(value)

    return {**scores, "blocking_ms": metric("total-blocking-time"),
            "layout_shift": metric("cumulative-layout-shift", 3),
            "bytes": metric("total-byte-weight"),
            "failing": sorted(key for key, entry in audits.items()
                              if entry.get("score") is not None and entry["score"] < 1
                              and entry.get("scoreDisplayMode") == "binary")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="*", help="pages under _build/html, without .html (default: every chapter and book page)")
    parser.add_argument("--forms", nargs="*", default=["desktop", "mobile"], choices=["desktop", "mobile"])
    parser.add_argument("--site", type=Path, default=SITE, help="the built book (default: _build/html)")
    parser.add_argument("--failing", action="store_true", help="also list each page's failing audits")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("google-chrome")
    StaticHost.site = args.site.resolve()
    if not (StaticHost.site / "index.html").exists():
        sys.exit(f"no built book in {StaticHost.site}: run `make book` first")
    if not LIGHTHOUSE.exists():
        sys.exit("Lighthouse is not installed: npm ci --prefix bench/lighthouse")
    if chromium is None:
        sys.exit("Chromium is not installed (Debian/Ubuntu: apt-get install chromium)")
    pages = args.pages or sorted(str(p.relative_to(StaticHost.site).with_suffix("")) for folder in ("chapters", "book")
                                 for p in (StaticHost.site / folder).glob("*.html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StaticHost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for page in pages:
            for form in args.forms:
                url = f"http://127.0.0.1:{server.server_address[1]}/{page}.html"
                measured = audit(url, form, chromium)
                if "n/a" in (measured["blocking_ms"], measured["layout_shift"]):
                    measured = audit(url, form, chromium)  # a busy machine can stall one run: measure again
                failing = measured.pop("failing")
                print("RESULT " + " ".join([f"page={page}", f"form={form}"] + [f"{k}={v}" for k, v in measured.items()]),
                      flush=True)
                if args.failing and failing:
                    print(f"  failing audits: {', '.join(failing)}", flush=True)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
