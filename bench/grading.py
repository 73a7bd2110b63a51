"""Grading a synthetic class with ``assignments/teacher.py``: how many notebooks a minute.

Every student hands in every assignment. Each notebook is, at random with a fixed seed, the
reference solution (about 60%), the reference with one of the plausible mistakes of
``assignments/wrong/`` (25%), a notebook whose first solution raises when its test calls it (a
crash, 7.5%) or one whose first solution never returns, swallowing the interrupt (a hang, 7.5%).
Each hang costs ``--timeout`` seconds and a second run of its notebook. The grades are checked
against what each notebook should get (full marks, one task lost, or the hung task lost), so a
fast but wrong grader cannot pass. Run from the repository root:

    python bench/grading.py [--students 30] [--timeout 10] [--workers N]

Release (nbgrader's ``generate_assignment``, about 10 s) is not timed; the grading is, from the
submissions folder to the CSV and the feedback pages. The last line is
``RESULT notebooks_per_min=... wall_s=...``.
"""

import argparse
import importlib.util
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "assignments"
KINDS = ("correct", "wrong", "crash", "hang")
SHARES = (0.6, 0.25, 0.075, 0.075)


def load_teacher():
    spec = importlib.util.spec_from_file_location("teacher", ASSIGNMENTS / "teacher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mistakes(name):
    found = []
    for path in sorted((ASSIGNMENTS / "wrong" / name).glob("*.py")):
        code = path.read_text()
        found.append((re.match(r"# replaces: (\S+)\n", code)[1], code))
    return found


def broken(source_code: str, kind: str) -> str:
    """The first function of a solution cell, made to raise (crash) or never return (hang) when called."""
    signature = re.search(r"^def .*:$", source_code, re.M)[0]
    body = ("    raise RuntimeError('a bug the student did not see')" if kind == "crash" else
            "    import time\n    while True:\n        try:\n            time.sleep(0.1)\n        except BaseException:\n            pass")
    return f"{signature}\n{body}\n"


def build_class(teacher, released: Path, submissions: Path, students: int, rng) -> dict:
    """Write the submissions; return ``{(student, assignment): (kind, the task it must lose or None)}``."""
    expected = {}
    for number in range(students):
        student = f"student_{number:03d}"
        for name in teacher.assignment_names():
            notebook = released / name / f"{name}.ipynb"
            kind = KINDS[rng.choice(len(KINDS), p=SHARES)]
            first_task = teacher.tasks(name)[0][0]
            if kind == "correct":
                submission, lost = teacher.completed(notebook), None
            elif kind == "wrong":
                grade_id, code = mistakes(name)[rng.integers(len(mistakes(name)))]
                submission, lost = teacher.completed(notebook, {grade_id: code}), grade_id
            else:
                source = nbformat.read(ASSIGNMENTS / f"{name}.ipynb", as_version=4)
                code = next(cell.source for cell in source.cells
                            if cell.metadata.get("nbgrader", {}).get("grade_id") == first_task)
                submission, lost = teacher.completed(notebook, {first_task: broken(code, kind)}), first_task
            path = submissions / student / name / f"{name}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(submission, path)
            expected[student, name] = (kind, lost)
    return expected


def check(rows, expected) -> dict:
    """Count the notebooks graded as expected, by kind; raise on the first that is not."""
    by_submission = {}
    for row in rows:
        by_submission.setdefault((row["student"], row["assignment"]), []).append(row)
    counts = {kind: 0 for kind in KINDS}
    for key, (kind, lost) in expected.items():
        submission = by_submission[key]
        wrong = [row for row in submission if (row["score"] < row["max_score"]) != (row["task"] == lost)]
        if wrong or (kind == "hang" and "timeout" not in submission[0]["flags"].split()):
            raise AssertionError(f"{key} ({kind}, should lose {lost}) graded {submission}")
        counts[kind] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per cell (teacher.py's --timeout)")
    parser.add_argument("--workers", type=int, default=None, help="notebooks at once (default: one per core)")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    teacher = load_teacher()
    with tempfile.TemporaryDirectory(prefix="embedlab-bench-grading-") as tmp:
        tmp = Path(tmp)
        teacher.release(tmp / "release")
        expected = build_class(teacher, tmp / "release", tmp / "submissions", args.students, np.random.default_rng(args.seed))
        start = time.perf_counter()
        rows = teacher.grade(tmp / "submissions", tmp / "grading", timeout=args.timeout, workers=args.workers)
        wall = time.perf_counter() - start
        counts = check(rows, expected)
        feedback = len(list((tmp / "grading" / "feedback").rglob("*.html")))
    notebooks = len(expected)
    print(f"{args.students} students x {len(teacher.assignment_names())} assignments = {notebooks} notebooks "
          f"({', '.join(f'{counts[kind]} {kind}' for kind in KINDS)}), all graded as expected; "
          f"{feedback} feedback pages; {args.workers or os.cpu_count()} workers, timeout {args.timeout:g} s")
    print(f"RESULT notebooks_per_min={notebooks / wall * 60:.1f} wall_s={wall:.1f} students={args.students} "
          f"notebooks={notebooks} hangs={counts['hang']} timeout_s={args.timeout:g} workers={args.workers or os.cpu_count()}")


if __name__ == "__main__":
    sys.exit(main())
