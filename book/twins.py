"""Each chapter's source is a MyST Markdown notebook, ``chapters/NN_name.md``: the file people edit
and review. Its ``.ipynb`` twin, without outputs, is generated from it by this script (with
jupytext) and committed, for nbval, the download button, Colab and Binder.

    python book/twins.py            # write every twin from its .md
    python book/twins.py --check    # exit 1, naming them, when twins differ from their .md

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

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


def twin_text(source: Path) -> str:
    """The ``.ipynb`` twin of the MyST notebook ``source``, as the text to write."""
    notebook = jupytext.read(source)
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
