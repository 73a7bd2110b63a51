# replaces: cosine_similarity
# The mistake: no check for a zero vector, so the cosine of a zero vector is 0 / 0 = nan (with a
# RuntimeWarning) instead of a ValueError.
import numpy as np


def cosine_similarity(a, b):
    """Cosine of the angle between the 1-D vectors a and b: a·b / (‖a‖ ‖b‖)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"dimension mismatch: a has shape {a.shape}, b has shape {b.shape}")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
