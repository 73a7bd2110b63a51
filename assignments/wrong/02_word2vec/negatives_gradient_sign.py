# replaces: sgns_loss_and_gradients
# The mistake: the gradient of the negatives copied from the context's, (s_k − 1) v_c instead of
# s_k v_c, as if the negatives were positives too. The loss is right; the shapes are right.
import numpy as np


def sgns_loss_and_gradients(center, context, negatives):
    """Skip-gram negative-sampling loss of one (centre, context) pair and its K negatives, and its gradients."""
    v_c = np.asarray(center, dtype=np.float64)
    u_o = np.asarray(context, dtype=np.float64)
    u_k = np.asarray(negatives, dtype=np.float64)
    positive_score = u_o @ v_c
    negative_scores = u_k @ v_c
    loss = np.logaddexp(0.0, -positive_score) + np.logaddexp(0.0, negative_scores).sum()
    s_o = 1 / (1 + np.exp(-positive_score))
    s_k = 1 / (1 + np.exp(-negative_scores))
    grad_center = (s_o - 1) * u_o + s_k @ u_k
    grad_context = (s_o - 1) * v_c
    grad_negatives = (s_k - 1)[:, None] * v_c[None, :]
    return float(loss), grad_center, grad_context, grad_negatives
