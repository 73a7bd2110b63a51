# replaces: numerical_gradient
# The mistake: a forward difference, (f(x + ε) − f(x)) / ε, which is off by O(ε) where the central
# difference the task asks for is off by O(ε²). With ε = 1e-6 the two look alike.
import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference estimate of the gradient of f at x, coordinate by coordinate."""
    x = np.array(x, dtype=np.float64)
    gradient = np.zeros_like(x)
    here = f(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        gradient[i] = (f(x) - here) / eps
        x[i] = original
    return gradient
