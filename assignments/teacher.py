"""Every chapter as a gradable assignment: release the student versions, autograde what comes back.

    python assignments/teacher.py release OUTDIR
    python assignments/teacher.py grade SUBMISSIONS --out OUTDIR [--timeout SECONDS] [--workers N]

The assignments (``assignments/NN_chapter.ipynb``) are nbgrader source notebooks: solution code
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and test cells worth ``points`` whose
``### BEGIN HIDDEN TESTS`` part compares the student's function with the book's library on inputs
the student never sees. ``release`` runs nbgrader's ``generate_assignment`` in a temporary course
directory, so the repository stays clean, and writes ``OUTDIR/<assignment>/<assignment>.ipynb``:
solutions replaced by ``raise NotImplementedError()``, hidden tests removed.

``grade`` expects ``SUBMISSIONS/<student>/<assignment>/<assignment>.ipynb`` and grades each notebook
on its own (:mod:`autograde`), several at once: a corrupt notebook, a crash or a hang is recorded
for that student and assignment, and everyone else is graded. It writes ``OUTDIR/grades.csv`` (one
row per student, assignment and task: score, status, flags, reason, the failing check's message)
and a feedback page per student and assignment, ``OUTDIR/feedback/<student>/<assignment>.html``.
Book: "How to use this book", for teachers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import autograde  # noqa: E402  (assignments/ is no package: its own folder goes on the path)
from autograde import DEFAULT_TIMEOUT, notebook, report  # noqa: E402

ASSIGNMENTS_DIR = Path(__file__).resolve().parent
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
GRADE_COLUMNS = report.GRADE_COLUMNS


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


def grade(submissions_dir, out_dir=None, timeout: float = autograde.DEFAULT_TIMEOUT, workers=None) -> list[dict]:
    """Autograde ``submissions_dir/<student>/<assignment>/<assignment>.ipynb`` for every student (each
    folder of ``submissions_dir``) and every assignment any of them handed in, each notebook on its own,
    ``workers`` at a time (default: one per core), each cell stopped after ``timeout`` seconds.

    Returns one row per student, assignment and task (the columns of :data:`GRADE_COLUMNS`). With
    ``out_dir``, also writes ``out_dir/grades.csv``, a feedback page per student and assignment
    (``out_dir/feedback/<student>/<assignment>.html``) and the executed notebooks, hidden tests
    included, for the teacher (``out_dir/graded/<student>/<assignment>.ipynb``). An ``out_dir``
    ending in ``.csv`` names the CSV itself; the folders go beside it."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}")
    students = sorted(path.name for path in submissions_dir.iterdir() if path.is_dir() and not path.name.startswith("."))
    all_names = assignment_names()
    names = [name for name in all_names if any(
        notebook.locate(submissions_dir / student, name, all_names).status != "not_submitted" for student in students)]
    if not names:
        raise FileNotFoundError(f"no <student>/<assignment>/<assignment>.ipynb under {submissions_dir}; "
                                f"assignments are {', '.join(all_names)}")
    sources = {name: nbformat.read(ASSIGNMENTS_DIR / f"{name}.ipynb", as_version=4) for name in names}
    csv_path = folder = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        csv_path, folder = (out_dir, out_dir.parent) if out_dir.suffix == ".csv" else (out_dir / "grades.csv", out_dir)
    rows = autograde.grade_class(submissions_dir, names, students, sources, {name: tasks(name) for name in names},
                                 folder, timeout=timeout, workers=workers)
    if csv_path is not None:
        report.write_csv(rows, csv_path)
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
    grade_parser.add_argument("--out", type=Path, default=Path("grading"),
                              help="folder for grades.csv, feedback/ and graded/ (default grading/); "
                                   "a path ending in .csv names the CSV, the folders go beside it")
    grade_parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                              help=f"seconds a cell may run before it is stopped and scores 0 (default {DEFAULT_TIMEOUT})")
    grade_parser.add_argument("--workers", type=int, default=None,
                              help="notebooks graded at once (default: one per core)")
    arguments = parser.parse_args(argv)
    if arguments.command == "release":
        for path in release(arguments.out_dir):
            print(path)
    else:
        rows = grade(arguments.submissions, arguments.out, timeout=arguments.timeout, workers=arguments.workers)
        print(summary(rows))
        flagged = sorted({(row["student"], row["assignment"], row["status"], row["flags"]) for row in rows if row["flags"]})
        for student, name, status, flags in flagged:
            print(f"{student} {name}: {status} ({flags})")
        print(f"\n{len(rows)} task grades written to {arguments.out}; feedback in its feedback/ folder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
