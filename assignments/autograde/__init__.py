"""Autograde a class: every submission on its own, in parallel, each in its own kernel.

Used by ``assignments/teacher.py grade``. For each student and assignment: find the notebook
(:mod:`.notebook`), read it, compare it with the released version, rebuild the graded notebook from
the teacher's source with the student's solutions, run it with a per-cell timeout and an integrity
check before every test cell (:mod:`.execute`), and score each test cell: full points when it ran
without an error, 0 otherwise (nbgrader's rule). Nothing that one notebook does stops the others.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from . import execute, notebook, report

DEFAULT_TIMEOUT = 60  # seconds per cell: a correct solution's slowest cell takes a few seconds
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ARROW = re.compile(r"^---->\s*\d*\s*")  # IPython marks the failing line "----> 12 assert ..."


def _failure(outputs) -> tuple[str, str] | None:
    """``(message, traceback)`` of a cell's error output, or None when it ran cleanly."""
    for output in outputs:
        if output.get("output_type") == "error":
            lines = _ANSI.sub("", "\n".join(output.get("traceback", []))).splitlines()
            failing = [line.strip() for line in lines if line.lstrip().startswith("---->")]
            message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
            if failing:
                message += f" (at: {_ARROW.sub('', failing[-1])})"
            return message[:500], "\n".join(lines[-40:])
    return None


def _guard_report(outputs, token) -> dict | None:
    for output in outputs:
        for line in output.get("text", "").splitlines() if output.get("output_type") == "stream" else []:
            if line.startswith(token + " "):
                return json.loads(line[len(token) + 1:])
    return None


def grade_notebook(path: Path, name: str, source, tasks, timeout: float, keep=None) -> dict:
    """Grade one notebook against its ``source``: ``{"scores", "messages", "details", "flags", "notes",
    "status"}``. ``keep``, if given, is where the executed notebook is written (for the teacher)."""
    try:
        submitted = nbformat.read(path, as_version=4)
        if not isinstance(submitted.get("cells"), list):
            raise ValueError("no list of cells")
    except Exception as error:  # truncated JSON, not a notebook, unreadable file
        first_line = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        return {"status": "corrupt", "flags": ["corrupt"],
                "notes": [f"not a readable notebook ({type(error).__name__}: {first_line})"],
                "scores": {}, "messages": {task: "not graded: the notebook could not be read" for task, _ in tasks},
                "details": {}}
    flags, notes = [], []
    for flag, note in notebook.cell_issues(submitted, source):
        flags.append(flag)
        notes.append(note)
    assembled = notebook.assemble(submitted, source)
    guarded, token = execute.guarded(assembled, source)
    with tempfile.TemporaryDirectory(prefix="embedlab-grade-") as workdir:
        executed, failed = execute.run(guarded, timeout, workdir)
    for index, reason in failed.items():
        flags.append(reason.split(":")[0])
        notes.append(f"{reason} (cell {notebook.grade_id(executed.cells[index]) or 'added by the student'})")
    scores, messages, details, checked, seen = {}, {}, {}, True, set()
    for index, cell in enumerate(executed.cells):
        if cell.metadata.get("grader") == "check":
            guard = _guard_report(cell.get("outputs", []), token) if cell.get("execution_count") else {}
            if guard is None:
                checked = False
            else:
                for kind in ("tampered", "shadowed"):
                    for what in guard.get(kind, []):
                        if (kind, what) not in seen:
                            seen.add((kind, what))
                            flags.append(kind)
                            undone = "the real one was put back" if kind == "tampered" else "removed"
                            notes.append(f"{kind}: {what} ({undone} before the tests ran)")
        identifier = notebook.grade_id(cell)
        if not (cell.metadata.get("nbgrader", {}).get("grade") and identifier):
            continue
        task = identifier.removeprefix("test_")
        failure = (failed[index], "") if index in failed else _failure(cell.get("outputs", []))
        if cell.get("execution_count") is None and failure is None:
            failure = ("not run: grading stopped after repeated hangs or crashes", "")
        if failure is None:
            scores[task] = float(cell.metadata["nbgrader"]["points"])
        else:
            scores[task] = 0.0
            messages[task], details[task] = failure
    if not checked:
        flags.append("tampered")
        notes.append("tampered: the integrity check before a test cell printed no report")
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(executed, keep)
    return {"status": "graded", "flags": list(dict.fromkeys(flags)), "notes": notes, "scores": scores,
            "messages": messages, "details": details}


def grade_class(submissions_dir: Path, names, students, sources, tasks_of, out_dir: Path | None,
                timeout: float = DEFAULT_TIMEOUT, workers: int | None = None) -> list[dict]:
    """Grade every student and assignment, ``workers`` notebooks at a time (default: one per core).
    Returns the CSV rows (:data:`report.GRADE_COLUMNS`), student by student, assignment by assignment;
    writes feedback pages to ``out_dir/feedback/<student>/<assignment>.html`` and the executed
    notebooks (hidden tests included: for the teacher only) to ``out_dir/graded/``."""
    jobs = [(student, name, notebook.locate(submissions_dir / student, name, names))
            for student in students for name in names]

    def one(job):
        student, name, located = job
        if located.path is None:
            return {"status": located.status, "flags": [located.status], "notes": [located.reason], "scores": {},
                    "messages": {task: "not graded: no notebook" for task, _ in tasks_of[name]}, "details": {}}
        keep = out_dir / "graded" / student / f"{name}.ipynb" if out_dir is not None else None
        try:
            result = grade_notebook(located.path, name, sources[name], tasks_of[name], timeout, keep)
        except Exception as error:  # a grader bug on one notebook must not stop the class
            result = {"status": "error", "flags": ["error"], "notes": [f"grader error: {error!r}"],
                      "scores": {}, "messages": {}, "details": {"": traceback.format_exc()}}
        if located.status == "misnamed" and result["status"] == "graded":
            result["status"] = "misnamed"
            result["flags"].insert(0, "misnamed")
            result["notes"].insert(0, located.reason)
        return result

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = list(pool.map(one, jobs))
    rows = []
    for (student, name, _), result in zip(jobs, results):
        submission_rows = [{"student": student, "assignment": name, "task": task,
                            "score": float(result["scores"].get(task, 0.0)), "max_score": float(points),
                            "status": result["status"], "flags": " ".join(result["flags"]),
                            "reason": "; ".join(result["notes"]), "message": result["messages"].get(task, "")}
                           for task, points in tasks_of[name]]
        rows += submission_rows
        if out_dir is not None:
            report.write_feedback(out_dir / "feedback" / student / f"{name}.html", student, name, submission_rows,
                                  result["details"])
    return rows
