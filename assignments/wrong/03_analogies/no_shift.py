# replaces: cosmul_scores
# The mistake: raw cosines in 3CosMul, without the shift (1 + cos) / 2 into [0, 1], so two
# negative similarities multiply into a large positive score.
import numpy as np


def cosmul_scores(vectors, a, b, c):
    """3CosMul score of every row of `vectors` as the answer to "row a is to row b as row c is to ?"."""
    vectors = np.asarray(vectors, dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos_a, cos_b, cos_c = (unit @ unit[row] for row in (a, b, c))
    return cos_b * cos_c / (cos_a + EPSILON)  # noqa: F821 (the notebook's)
