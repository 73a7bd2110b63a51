"""The hidden exercise checks tell right from wrong and from not attempted."""

import numpy as np
import pytest
from embedlab.exercises import check


def test_not_attempted_is_reported_not_failed(capsys):
    assert check("1.1", ..., 0.5) is None  # nothing for the notebook to display after the printed line
    assert capsys.readouterr().out == "Exercise 1.1: not attempted yet.\n"


@pytest.mark.parametrize(
    "answer, expected",
    [(0.5004, 0.5), ("  Queen ", "queen"), ((10.24, 512), (10.24, 512)), (np.array([1.0, 2.0]), [1, 2]),
     (["a", "B"], ["a", "b"]), ({"x", "y"}, {"y", "x"})],
)
def test_right_answers_pass(answer, expected, capsys):
    assert check("1.x", answer, expected) is None
    assert capsys.readouterr().out == "Exercise 1.x: correct.\n"


@pytest.mark.parametrize(
    "answer, expected",
    [(0.51, 0.5), ("king", "queen"), ((10.24, 1024), (10.24, 512)), ([1.0, 2.0, 3.0], [1, 2]), (None, 0.5),
     (["b", "a"], ["a", "b"])],
)
def test_wrong_answers_fail_naming_the_exercise(answer, expected):
    with pytest.raises(AssertionError, match="Exercise 1.x: not correct yet"):
        check("1.x", answer, expected)
