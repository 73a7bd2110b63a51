"""Each chapter's source is a MyST Markdown notebook, ``chapters/NN_name.md``: the file people edit
and review. Its ``.ipynb`` twin, without outputs, is generated from it by this script (with
jupytext) and committed, for nbval, the download button, Colab and Binder.

    python book/twins.py            # write every twin from its .md
    python book/twins.py --check    # exit 1, naming them, when twins differ from their .md

Each twin starts with one more cell than its source, tagged ``remove-cell`` (hidden in the
book): in Colab or Binder, where the book's library is not installed, it installs it from the
repository that ``_config.yml`` names (``repository: url``), with the models and data, so the
chapter then runs as it does locally. Where ``embedlab`` is installed it does nothing.
``EMBEDLAB_SOURCE`` (a pip URL, e.g. ``file:///path/to/checkout``) installs from elsewhere.

Cell ids are the first 8 hex digits of the SHA-1 of the cell's type and source (a counter is
added to repeated cells), so a cell keeps its id as long as its content does, and regenerating
an unchanged chapter changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
#: The first line of the cell that installs the book where it is missing.
SETUP_MARKER = "# Colab and Binder: install the book's library, models and data where they are missing"


def setup_cell_source(root: Path = ROOT) -> str:
    """The first cell of every twin: ``pip install "embedlab[chapters] @ git+<repository>@<branch>"``
    (plus SmolLM2's file without its dependencies) when ``embedlab`` cannot be imported."""
    repository = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]
    no_deps = [line.split("#")[0].strip() for line in (root / "requirements-nodeps.txt").read_text().splitlines()]
    no_deps = [line for line in no_deps if line]
    return f"""{SETUP_MARKER}
# (a few minutes, once). Where embedlab is installed, as on your computer, this does nothing.
import importlib
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("embedlab") is None:
    source = os.environ.get("EMBEDLAB_SOURCE") or "git+{repository["url"]}@{repository["branch"]}"
    print(f"Installing the book's library, models and data from {{source}} ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"embedlab[chapters] @ {{source}}"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", {", ".join(repr(n) for n in no_deps)}],
                   check=True)
    importlib.invalidate_caches()"""


def twin_text(source: Path) -> str:
    """The ``.ipynb`` twin of the MyST notebook ``source``, as the text to write."""
    notebook = jupytext.read(source)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(setup_cell_source(), metadata={"tags": ["remove-cell"]}))
    seen: dict[str, int] = {}
    for cell in notebook.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["language_info"] = {"name": "python"}
    return nbformat.writes(notebook, version=4) + "\n"


def stale_twins(chapters: Path = CHAPTERS) -> list[str]:
    """The twins that are missing or differ from what their ``.md`` gives."""
    stale = []
    for source in sorted(chapters.glob("*.md")):
        twin = source.with_suffix(".ipynb")
        if not twin.exists() or twin.read_text(encoding="utf-8") != twin_text(source):
            stale.append(twin.name)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that every twin is up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_twins()
        if stale:
            print(f"out of date: {', '.join(stale)}. The chapters' sources are the .md files: "
                  f"regenerate the twins with `make twins` and commit them.", file=sys.stderr)
            return 1
        print("every chapter's .ipynb twin matches its .md source")
        return 0
    for source in sorted(CHAPTERS.glob("*.md")):
        source.with_suffix(".ipynb").write_text(twin_text(source), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
