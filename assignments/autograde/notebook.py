"""Find a student's notebook, compare it with the released version, and assemble the notebook that is graded.

The graded notebook is rebuilt from the teacher's source: every locked cell (instructions, set-up,
tests with their hidden part) comes from the source, in the source's order, and only the solution
cells and the cells the student added come from the submission. So an edited, deleted or moved
test cell cannot change a mark; :func:`cell_issues` says that it happened.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests

# What a browser or a file manager appends to a downloaded or copied file: "04_contrastive (1)".
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[\s_-]*copy\d*|-checkpoint)+$", re.I)
CLOSE_MATCH = 0.75  # difflib ratio from which a notebook's name counts as a misspelling of the assignment's


@dataclass(frozen=True)
class Located:
    """Where a student's notebook for one assignment is: ``status`` is ``submitted`` (at the expected
    place), ``misnamed`` (a close match, graded), ``missing`` (the assignment's folder holds no
    notebook) or ``not_submitted`` (no folder and no notebook named like the assignment)."""

    path: Path | None
    status: str
    reason: str = ""


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _similarity(stem: str, name: str) -> float:
    return difflib.SequenceMatcher(None, _COPY_SUFFIX.sub("", stem).lower(), name.lower()).ratio()


def locate(student_dir: Path, name: str, names) -> Located:
    """Find ``student_dir/<name>/<name>.ipynb``, or else the student's notebook whose file or folder
    name is closest to ``name`` among all assignment ``names`` (another assignment's own file never counts)."""
    expected = student_dir / name / f"{name}.ipynb"
    if expected.is_file():
        return Located(expected, "submitted")
    others = {student_dir / other / f"{other}.ipynb" for other in names}
    candidates = []
    for path in sorted(student_dir.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts or path in others:
            continue
        ratios = {other: max(_similarity(path.stem, other), _similarity(path.parent.name, other)) for other in names}
        if max(ratios, key=ratios.get) == name and ratios[name] >= CLOSE_MATCH:
            candidates.append((ratios[name], path))
    if candidates:
        path = max(candidates, key=lambda pair: pair[0])[1]
        return Located(path, "misnamed", f"graded {path.relative_to(student_dir)} in place of {name}/{name}.ipynb")
    folder = student_dir / name
    if folder.is_dir():
        found = sorted(path.name for path in folder.iterdir())
        held = f"found {', '.join(found[:5])}" if found else "empty"
        return Located(None, "missing", f"{name}/ holds no notebook ({held})")
    return Located(None, "not_submitted", f"no {name}/ folder and no notebook named like {name}")


def released_source(cell) -> str:
    """What the student version of a locked cell says: the hidden tests removed, as nbgrader does."""
    if not cell.metadata.get("nbgrader", {}).get("grade"):
        return cell.source
    cleared, _ = ClearHiddenTests().preprocess_cell(copy.deepcopy(cell), {}, 0)
    return cleared.source


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _is_solution(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def cell_issues(submitted, source) -> list[tuple[str, str]]:
    """``(flag, description)`` for each locked cell edited or deleted, each solution cell deleted,
    and each pair of nbgrader cells handed in out of order."""
    expected_order = [grade_id(cell) for cell in source.cells if grade_id(cell)]
    source_cells = {grade_id(cell): cell for cell in source.cells if grade_id(cell)}
    handed_in = {}
    for cell in submitted.cells:
        if grade_id(cell) in source_cells:
            handed_in.setdefault(grade_id(cell), cell)
    issues = []
    for identifier, cell in source_cells.items():
        kind = "solution" if _is_solution(cell) else ("test" if cell.metadata["nbgrader"].get("grade") else "locked")
        if identifier not in handed_in:
            issues.append((f"{'solution' if kind == 'solution' else 'locked'}_deleted", f"{kind} cell {identifier} deleted"))
        elif kind != "solution" and _normalised(handed_in[identifier].source) != _normalised(released_source(cell)):
            issues.append(("locked_edited", f"{kind} cell {identifier} edited (the original was graded)"))
    submitted_order = list(handed_in)
    rank = {identifier: position for position, identifier in enumerate(expected_order)}
    moved = [(later, earlier) for i, later in enumerate(submitted_order) for earlier in submitted_order[i + 1:]
             if rank[later] > rank[earlier]]
    for later, earlier in moved[:3]:
        issues.append(("cell_moved", f"cell {later} moved above {earlier} (graded in its original place)"))
    return issues


def assemble(submitted, source):
    """The notebook to grade: the source's cells in the source's order, each solution cell replaced by
    the student's (left out if the student deleted it), and each cell the student added kept right
    after the nbgrader cell it followed in the submission. Outputs are cleared."""
    known = {grade_id(cell) for cell in source.cells if grade_id(cell)}
    solutions, followers, previous = {}, {None: []}, None
    for cell in submitted.cells:
        identifier = grade_id(cell)
        if identifier in known:
            if identifier not in followers:  # a duplicated nbgrader cell counts once, where it first appears
                solutions[identifier] = cell.source
                followers[identifier] = []
                previous = identifier
        else:
            added = copy.deepcopy(cell)
            added.metadata.pop("nbgrader", None)
            followers[previous].append(added)
    cells = list(followers[None])
    for cell in source.cells:
        identifier = grade_id(cell)
        if _is_solution(cell):
            if identifier not in solutions:
                continue
            cell = copy.deepcopy(cell)
            cell.source = solutions[identifier]
        cells.append(copy.deepcopy(cell))
        cells.extend(followers.get(identifier, []))
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source.metadata))
