"""The course assignments (assignments/, one nbgrader notebook per chapter) tell right from wrong.

Every assignment is released and then autograded by nbgrader, offline, through
``assignments/teacher.py``, for three students: ``reference`` hands in the reference solutions,
``untouched`` the student version as released, and ``wrong`` the reference with one plausible
mistake per chapter (``assignments/wrong/<chapter>.py``, whose first line names the solution cell
it replaces). Grading runs once per session: a few nbgrader processes and 18 notebooks, about a
minute on two cores.
"""

import csv
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS_DIR = ROOT / "assignments"
CHAPTERS = ["01_representation", "02_word2vec", "03_analogies", "04_contrastive", "05_matryoshka", "06_rag"]
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
HIDDEN_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def _load_teacher():
    spec = importlib.util.spec_from_file_location("teacher", ASSIGNMENTS_DIR / "teacher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


teacher = _load_teacher()


def wrong_solution(name: str) -> tuple[str, str]:
    """``(grade_id, code)``: the solution cell a chapter's wrong solution replaces, and its code."""
    code = (ASSIGNMENTS_DIR / "wrong" / f"{name}.py").read_text()
    match = re.match(r"# replaces: (\S+)\n", code)
    assert match, f"assignments/wrong/{name}.py must start with '# replaces: <solution grade_id>'"
    return match[1], code


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("release")
    teacher.release(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def grades(released, tmp_path_factory):
    """``{(student, assignment, task): (score, max_score)}`` from one autograding run, and the CSV."""
    submissions = tmp_path_factory.mktemp("submissions")
    for name in CHAPTERS:
        notebook = released / name / f"{name}.ipynb"
        handed_in = {
            "reference": teacher.completed(notebook),
            "untouched": nbformat.read(notebook, as_version=4),
            "wrong": teacher.completed(notebook, dict([wrong_solution(name)])),
        }
        for student, submission in handed_in.items():
            (submissions / student / name).mkdir(parents=True)
            nbformat.write(submission, submissions / student / name / f"{name}.ipynb")
    csv_path = submissions.parent / "grades.csv"
    rows = teacher.grade(submissions, csv_path)
    table = {(row["student"], row["assignment"], row["task"]): (row["score"], row["max_score"]) for row in rows}
    return table, rows, csv_path


def test_every_chapter_is_an_assignment_with_points_and_a_wrong_solution():
    assert teacher.assignment_names() == CHAPTERS
    for name in CHAPTERS:
        tasks = teacher.tasks(name)
        assert len(tasks) >= 2 and all(points > 0 for _, points in tasks), tasks
        grade_id, _ = wrong_solution(name)
        source = nbformat.read(ASSIGNMENTS_DIR / f"{name}.ipynb", as_version=4)
        solution_ids = [cell.metadata["nbgrader"]["grade_id"] for cell in source.cells
                        if cell.metadata.get("nbgrader", {}).get("solution")]
        assert grade_id in solution_ids, (name, grade_id, solution_ids)
        assert sorted(solution_ids) == sorted(task for task, _ in tasks), "one test cell, test_<id>, per solution cell"


def _distinctive_lines(source_text: str) -> set[str]:
    """Lines of the solutions and hidden tests that appear nowhere else in the source notebook."""
    hidden = {line.strip() for _, region in HIDDEN_REGION.findall(source_text) for line in region.splitlines()}
    visible = {line.strip() for line in HIDDEN_REGION.sub("", source_text).splitlines()}
    return {line for line in hidden - visible if len(line) >= 12}


@pytest.mark.parametrize("name", CHAPTERS)
def test_student_version_contains_no_solution_and_no_hidden_test(released, name):
    source = nbformat.read(ASSIGNMENTS_DIR / f"{name}.ipynb", as_version=4)
    student = nbformat.read(released / name / f"{name}.ipynb", as_version=4)
    student_text = "\n".join(cell.source for cell in student.cells)
    for marker in MARKERS:
        assert marker not in student_text
    distinctive = _distinctive_lines("\n".join(cell.source for cell in source.cells))
    assert len(distinctive) > 10
    leaked = sorted(distinctive & {line.strip() for line in student_text.splitlines()})
    assert not leaked, f"{name}: the student version contains solution or hidden-test lines: {leaked}"
    solution_cells = [cell for cell in student.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    assert solution_cells and all("raise NotImplementedError()" in cell.source for cell in solution_cells)
    test_cells = [cell for cell in student.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(test_cells) == len(teacher.tasks(name))
    assert all(cell.source.startswith("# Tests:") and "assert" in cell.source for cell in test_cells), "visible tests stay"


def test_hidden_tests_catch_a_mistake_the_visible_tests_miss():
    """Chapter 5's wrong solution (a shortlist of prefixes not renormalised) passes the visible test,
    which shortlists the whole index: only the hidden tests, which nbgrader puts back when grading,
    can give it 0 (as the grade table shows). Run here without nbgrader."""
    source = nbformat.read(ASSIGNMENTS_DIR / "05_matryoshka.ipynb", as_version=4)
    grade_id, code = wrong_solution("05_matryoshka")
    namespace, tested = {}, False
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        metadata = cell.metadata.get("nbgrader", {})
        if metadata.get("grade_id") == grade_id:
            exec(code, namespace)
        elif metadata.get("grade_id") == f"test_{grade_id}":
            visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
            assert hidden, "the test cell has hidden tests"
            exec(visible, namespace)
            with pytest.raises(AssertionError):
                exec(hidden.replace("### END HIDDEN TESTS", ""), namespace)
            tested = True
        else:
            exec(cell.source, namespace)
    assert tested, f"no test cell for {grade_id}"


def _tasks_of(table, student, name):
    return {task: scores for (who, assignment, task), scores in table.items() if who == student and assignment == name}


def test_reference_solutions_get_full_marks(grades):
    table, _, _ = grades
    for name in CHAPTERS:
        tasks = _tasks_of(table, "reference", name)
        assert tasks and all(score == points for score, points in tasks.values()), (name, tasks)


def test_untouched_student_versions_get_zero(grades):
    table, _, _ = grades
    for name in CHAPTERS:
        tasks = _tasks_of(table, "untouched", name)
        assert tasks and all(score == 0 for score, _ in tasks.values()), (name, tasks)


def test_a_wrong_solution_loses_its_task_and_only_that_task(grades):
    table, _, _ = grades
    for name in CHAPTERS:
        wrong_task, _ = wrong_solution(name)  # each solution cell is graded by the test cell test_<its id>
        tasks = _tasks_of(table, "wrong", name)
        assert tasks[wrong_task][0] == 0, (name, tasks)
        assert all(score == points for task, (score, points) in tasks.items() if task != wrong_task), (name, tasks)
        total, maximum = sum(score for score, _ in tasks.values()), sum(points for _, points in tasks.values())
        assert 0 < total < maximum


def test_grade_table_is_written_as_csv(grades, capsys):
    table, rows, csv_path = grades
    lines = csv_path.read_text().splitlines()
    assert lines[0] == ",".join(teacher.GRADE_COLUMNS)
    assert len(lines) == 1 + len(rows) == 1 + 3 * sum(len(teacher.tasks(name)) for name in CHAPTERS)
    read_back = {(row["student"], row["assignment"], row["task"]): (float(row["score"]), float(row["max_score"]))
                 for row in csv.DictReader(lines)}
    assert read_back == table  # the file says what the gradebook said, row for row
    with capsys.disabled():
        print("\n" + teacher.summary(rows))
        for name in CHAPTERS:
            print(f"{name}: " + ", ".join(
                f"{task} {table['reference', name, task][1]:g} pts (untouched {table['untouched', name, task][0]:g}, "
                f"wrong {table['wrong', name, task][0]:g})" for task, _ in teacher.tasks(name)))
