"""Every chapter as a gradable assignment: release the student versions, autograde what comes back.

    python assignments/teacher.py release OUTDIR
    python assignments/teacher.py grade SUBMISSIONS --out grades.csv

The assignments (``assignments/NN_chapter.ipynb``) are nbgrader source notebooks: solution code
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and test cells worth ``points`` whose
``### BEGIN HIDDEN TESTS`` part compares the student's function with the book's library on inputs
the student never sees. Both commands run nbgrader (``generate_assignment``, ``autograde``) in a
temporary course directory, so the repository stays clean; nbgrader runs offline, with no server.

``release`` writes ``OUTDIR/<assignment>/<assignment>.ipynb``: solutions replaced by
``raise NotImplementedError()``, hidden tests removed. ``grade`` expects nbgrader's own layout,
``SUBMISSIONS/<student>/<assignment>/<assignment>.ipynb``, runs every notebook (hidden tests put
back) and writes one CSV row per student, assignment and task: ``student, assignment, task,
score, max_score``. A missing notebook scores 0. Book: "How to use this book", for teachers.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ASSIGNMENTS_DIR = Path(__file__).resolve().parent
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
GRADE_COLUMNS = ("student", "assignment", "task", "score", "max_score")


def assignment_names() -> list[str]:
    """The assignments, one per chapter, in chapter order: ``["01_representation", ...]``."""
    return sorted(path.stem for path in ASSIGNMENTS_DIR.glob("[0-9][0-9]_*.ipynb"))


def _nbgrader_cells(notebook, kind: str) -> list:
    """The cells of ``notebook`` that nbgrader marks as ``kind`` ("solution" or "grade")."""
    return [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get(kind)]


def tasks(name: str) -> list[tuple[str, int]]:
    """``(task, points)`` of each autograded cell of an assignment, in notebook order; a task is
    named after its test cell's ``grade_id`` without the ``test_`` prefix."""
    notebook = nbformat.read(ASSIGNMENTS_DIR / f"{name}.ipynb", as_version=4)
    return [(_task_name(cell.metadata["nbgrader"]["grade_id"]), cell.metadata["nbgrader"]["points"])
            for cell in _nbgrader_cells(notebook, "grade")]


def _task_name(grade_id: str) -> str:
    return grade_id.removeprefix("test_")


def _nbgrader(course: Path, *arguments: str) -> None:
    # A separate process per command: nbgrader's apps keep global state, and a crashing kernel
    # must not take the caller with it. nbgrader runs the `alembic` script of its environment
    # by name, so that environment's scripts go first on PATH (a virtualenv need not be activated).
    command = [sys.executable, "-m", "nbgrader", *arguments, f"--CourseDirectory.root={course}"]
    environment = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(command, cwd=course, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(arguments)}` failed:\n{result.stdout}\n{result.stderr}")


def _generated_course(course: Path, names) -> None:
    """Put the source notebooks in ``course/source`` and generate the student versions into
    ``course/release``; that also stores every test cell, hidden tests included, in the gradebook."""
    for name in names:
        (course / "source" / name).mkdir(parents=True)
        shutil.copy(ASSIGNMENTS_DIR / f"{name}.ipynb", course / "source" / name / f"{name}.ipynb")
    # One command for all of them (nbgrader globs assignment ids): each start costs seconds.
    _nbgrader(course, "generate_assignment", "*")


def release(out_dir, names=None) -> list[Path]:
    """Write the student version of each assignment to ``out_dir/<name>/<name>.ipynb``."""
    names = assignment_names() if names is None else list(names)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="embedlab-course-") as tmp:
        course = Path(tmp)
        _generated_course(course, names)
        for name in names:
            shutil.copytree(course / "release" / name, out_dir / name, dirs_exist_ok=True)
    return [out_dir / name / f"{name}.ipynb" for name in names]


def grade(submissions_dir, out_csv=None) -> list[dict]:
    """Autograde ``submissions_dir/<student>/<assignment>/<assignment>.ipynb`` for every student
    and assignment found; returns (and writes to ``out_csv``) one row per student, assignment and
    task, with the columns of :data:`GRADE_COLUMNS`."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}")
    students = sorted(path.name for path in submissions_dir.iterdir() if path.is_dir() and not path.name.startswith("."))
    names = [name for name in assignment_names()
             if any((submissions_dir / student / name / f"{name}.ipynb").is_file() for student in students)]
    if not names:
        raise FileNotFoundError(f"no <student>/<assignment>/<assignment>.ipynb under {submissions_dir}; "
                                f"assignments are {', '.join(assignment_names())}")
    with tempfile.TemporaryDirectory(prefix="embedlab-course-") as tmp:
        course = Path(tmp)
        _generated_course(course, names)
        for student in students:
            for name in names:
                notebook = submissions_dir / student / name / f"{name}.ipynb"
                if notebook.is_file():
                    (course / "submitted" / student / name).mkdir(parents=True)
                    shutil.copy(notebook, course / "submitted" / student / name / notebook.name)
        _nbgrader(course, "autograde", "*")
        rows = _read_gradebook(course / "gradebook.db", students, names)
    if out_csv is not None:
        with open(out_csv, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=GRADE_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return rows


def _read_gradebook(database: Path, students, names) -> list[dict]:
    from nbgrader.api import Gradebook, MissingEntry  # imported here: only grading needs SQLAlchemy

    rows, tasks_of = [], {name: tasks(name) for name in names}  # each assignment read once, not per student
    with Gradebook(f"sqlite:///{database}") as gradebook:
        for student in students:
            for name in names:
                try:
                    scores = {grade.name: grade.score for grade in
                              gradebook.find_submission_notebook(name, name, student).grades}
                except MissingEntry:  # the student handed nothing in for this assignment
                    scores = {}
                for task, points in tasks_of[name]:
                    rows.append({"student": student, "assignment": name, "task": task,
                                 "score": float(scores.get(f"test_{task}", 0.0)), "max_score": float(points)})
    return rows


def summary(rows) -> str:
    """Total score per student and assignment, as a text table (what ``grade`` prints)."""
    totals = {}
    for row in rows:
        score, points = totals.get((row["student"], row["assignment"]), (0.0, 0.0))
        totals[row["student"], row["assignment"]] = (score + row["score"], points + row["max_score"])
    names = sorted({assignment for _, assignment in totals})
    students = sorted({student for student, _ in totals})
    width = max([len("student"), *map(len, students)])
    lines = ["  ".join(["student".ljust(width), *names])]
    for student in students:
        cells = [f"{totals[student, name][0]:g}/{totals[student, name][1]:g}".rjust(len(name)) for name in names]
        lines.append("  ".join([student.ljust(width), *cells]))
    return "\n".join(lines)


def completed(released_notebook, replacements=None):
    """The released notebook with the reference solution in every solution cell (what a student
    who got everything right hands in); ``replacements`` maps a solution cell's ``grade_id`` to
    other code for it. Returns an nbformat notebook."""
    released = nbformat.read(released_notebook, as_version=4)
    name = Path(released_notebook).stem
    source = nbformat.read(ASSIGNMENTS_DIR / f"{name}.ipynb", as_version=4)
    solutions = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in _nbgrader_cells(source, "solution")}
    replacements = dict(replacements or {})
    unknown = set(replacements) - set(solutions)
    if unknown:
        raise KeyError(f"{name} has no solution cell {sorted(unknown)}; its solution cells are {sorted(solutions)}")
    for cell in _nbgrader_cells(released, "solution"):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        code = replacements.get(grade_id, solutions[grade_id])
        cell.source = "\n".join(line for line in code.splitlines() if line.strip() not in SOLUTION_MARKERS)
    return released


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    release_parser = commands.add_parser("release", help="write the student version of every assignment")
    release_parser.add_argument("out_dir", type=Path, help="folder for <assignment>/<assignment>.ipynb")
    grade_parser = commands.add_parser("grade", help="autograde a folder of returned notebooks into a CSV")
    grade_parser.add_argument("submissions", type=Path, help="folder of <student>/<assignment>/<assignment>.ipynb")
    grade_parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write (default grades.csv)")
    arguments = parser.parse_args(argv)
    if arguments.command == "release":
        for path in release(arguments.out_dir):
            print(path)
    else:
        rows = grade(arguments.submissions, arguments.out)
        print(summary(rows))
        print(f"\n{len(rows)} task grades written to {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
