"""Each chapter's hidden exercise checks accept the book's own solution, reject a wrong answer
and report an empty one as not attempted. The cells are read from the notebooks themselves."""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
SOLUTION_CODE = re.compile(r"````\{solution\}.*?```python\n(.*?)```", re.DOTALL)
WRONG_ANSWER = "a wrong answer"
#: The first line of the cell book/twins.py puts first in every twin (installs the book in Colab).
SETUP_MARKER = "# Colab and Binder: install"


def exercises(notebook: Path):
    """(exercise cell source, hidden check source, solution source) for every checked exercise."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "# YOUR ANSWER HERE" in source:
            check, solution = "".join(cells[i + 1]["source"]), "".join(cells[i + 2]["source"])
            assert "remove-cell" in cells[i + 1]["metadata"].get("tags", []), f"the check after {source!r} must be hidden"
            found.append((source, check, SOLUTION_CODE.search(solution).group(1)))
    return found


def chapter_namespace(notebook: Path) -> dict:
    """The names a chapter's exercises use: everything its first code cell defines (after the
    install cell of Colab and Binder)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    setup = next("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                 and not "".join(c["source"]).startswith(SETUP_MARKER))
    namespace = {}
    exec(setup, namespace)
    return namespace


NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))


def mistakes(notebook: Path) -> dict:
    """Plausible wrong answers for the chapter's exercises, ``{"3.1": ["answer_1 = ...", ...]}``,
    from ``tests/exercise_mistakes/NN.py``: real student mistakes, each a line of code."""
    path = Path(__file__).parent / "exercise_mistakes" / f"{notebook.stem[:2]}.py"
    namespace = {}
    exec(path.read_text(encoding="utf-8"), namespace)
    return namespace["MISTAKES"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_hidden_checks_tell_right_from_wrong(notebook, capsys):
    """For every exercise: the untouched cell is "not attempted", the book's solution passes, and
    every plausible mistake, computed as a student would, fails. A check whose expected value
    is the solution's own expression would let a wrong library answer through; the mistakes
    show each check rejects what a student would really get wrong."""
    found = exercises(notebook)
    assert found, f"{notebook.name} has no checked exercises"
    wrong_answers = mistakes(notebook)
    namespace = chapter_namespace(notebook)
    for exercise, check, solution in found:
        answer_name = exercise.split("=")[0].strip()
        label = re.search(r'check\("([0-9.]+)"', check).group(1)

        exec(exercise, namespace)  # as handed out: not attempted
        exec(check, namespace)
        assert "not attempted yet" in capsys.readouterr().out, label

        exec(solution, namespace)  # the book's solution passes
        exec(check, namespace)
        assert "correct." in capsys.readouterr().out, label

        assert wrong_answers.get(label), f"exercise {label} needs at least one plausible mistake in tests/exercise_mistakes/"
        for mistake in [f"{answer_name} = {WRONG_ANSWER!r}", *wrong_answers[label]]:
            exec(mistake, namespace)
            with pytest.raises(AssertionError, match="not correct yet"):
                exec(check, namespace)
            capsys.readouterr()
