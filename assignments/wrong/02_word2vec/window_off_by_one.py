# replaces: context_pairs
# The mistake: an off-by-one window. range() stops before its end, so the right-hand side of
# every window is one word short.


def context_pairs(tokens, window):
    """Skip-gram training pairs (centre, context): every word within `window` positions of each centre."""
    tokens = list(tokens)
    pairs = []
    for i, centre in enumerate(tokens):
        for j in range(max(0, i - window), min(len(tokens), i + window)):
            if j != i:
                pairs.append((centre, tokens[j]))
    return pairs
