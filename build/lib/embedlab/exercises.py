"""Hidden checks for the chapters' exercises.

A chapter's exercise cell sets an answer (``...`` until the student fills it in); a cell
below it, hidden in the rendered book, calls :func:`check` with the value the library
computes. Teachers grade a returned notebook by running it: a wrong answer stops the run.
"""

from __future__ import annotations

import numpy as np


def check(exercise: str, answer, expected, tolerance: float = 1e-3) -> None:
    """Compare a student's ``answer`` with ``expected``; ``...`` means not attempted yet.

    Numbers and arrays match within ``tolerance`` (absolute); anything else must be equal
    (strings ignore case and surrounding spaces; lists and sets of strings likewise, in
    order for lists). Prints a line for the student, "correct." or "not attempted yet.", and
    returns nothing (so the notebook shows only that line); raises ``AssertionError`` naming
    the exercise when the answer is wrong.
    """
    if answer is ...:
        print(f"Exercise {exercise}: not attempted yet.")
    elif not _matches(answer, expected, tolerance):
        raise AssertionError(f"Exercise {exercise}: not correct yet ({_describe(answer)}). Read the question again.")
    else:
        print(f"Exercise {exercise}: correct.")


def _normal_text(value):
    return value.strip().lower() if isinstance(value, str) else value


def _matches(answer, expected, tolerance) -> bool:
    if isinstance(expected, str):
        return isinstance(answer, str) and _normal_text(answer) == _normal_text(expected)
    if isinstance(expected, (set, frozenset)):
        return isinstance(answer, (set, frozenset, list, tuple)) and {_normal_text(a) for a in answer} == {_normal_text(e) for e in expected}
    if isinstance(expected, (list, tuple)) and expected and isinstance(expected[0], str):
        return isinstance(answer, (list, tuple)) and [_normal_text(a) for a in answer] == [_normal_text(e) for e in expected]
    try:
        answer_array = np.asarray(answer, dtype=float)
        expected_array = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return answer == expected
    return answer_array.shape == expected_array.shape and bool(np.allclose(answer_array, expected_array, rtol=0, atol=tolerance))


def _describe(answer) -> str:
    if isinstance(answer, np.ndarray):
        return f"you gave an array of shape {answer.shape}"
    return f"you gave {type(answer).__name__} {answer!r}"[:120]
