"""What grading writes: one CSV row per student, assignment and task, and one HTML feedback page
per student and assignment."""

from __future__ import annotations

import csv
import html
from pathlib import Path

GRADE_COLUMNS = ("student", "assignment", "task", "score", "max_score", "status", "flags", "reason", "message")

STATUSES = {
    "graded": "graded",
    "misnamed": "graded from a notebook with another name (see reason)",
    "corrupt": "the file is not a readable notebook: every task scores 0",
    "missing": "the assignment's folder holds no notebook: every task scores 0",
    "not_submitted": "nothing handed in for this assignment: every task scores 0",
    "error": "the grader itself failed on this notebook: every task scores 0 (see reason)",
}


def write_csv(rows, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=GRADE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #ccc; padding: .4rem; vertical-align: top; }}
.full {{ background: #eaf7ea; }} .lost {{ background: #fbeaea; }} pre {{ white-space: pre-wrap; margin: 0; }}
</style></head><body>
<h1>{title}</h1>
<p><strong>Score: {score:g} / {max_score:g}</strong> &middot; status: {status}</p>
{notes}
<table><tr><th>Task</th><th>Score</th><th>What failed</th></tr>
{rows}
</table></body></html>
"""


def write_feedback(path: Path, student: str, assignment: str, rows, details) -> None:
    """An HTML page for one student and assignment: the total, the status and notes, and each task's
    score with the message (and traceback) of the check that failed."""
    first = rows[0]
    notes = [note for note in first["reason"].split("; ") if note]
    table = []
    for row in rows:
        lost = row["score"] < row["max_score"]
        detail = details.get(row["task"], "")
        failure = html.escape(row["message"]) + (f"<details><summary>traceback</summary><pre>{html.escape(detail)}</pre></details>"
                                                 if detail else "")
        table.append(f'<tr class="{"lost" if lost else "full"}"><td>{html.escape(row["task"])}</td>'
                     f'<td>{row["score"]:g} / {row["max_score"]:g}</td><td>{failure}</td></tr>')
    page = _PAGE.format(
        title=html.escape(f"{assignment}: feedback for {student}"),
        score=sum(row["score"] for row in rows), max_score=sum(row["max_score"] for row in rows),
        status=html.escape(STATUSES.get(first["status"], first["status"])),
        notes="<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul>" if notes else "",
        rows="\n".join(table))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
