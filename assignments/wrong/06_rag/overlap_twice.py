# replaces: chunk_words
# The mistake: the overlap counted twice. The next window steps back `overlap` words from where
# the previous one stopped, and the step is shortened by `overlap` again, so windows share
# 2 × overlap words and there are more of them than needed.


def chunk_words(text, max_words, overlap):
    """Cut `text` into windows of at most `max_words` words, consecutive windows sharing `overlap` words."""
    if not 0 <= 2 * overlap < max_words:
        raise ValueError(f"overlap must be at least 0 and less than half of max_words ({max_words}), got {overlap}")
    words = text.split()
    chunks, start = [], 0
    while start < len(words):
        stop = min(start + max_words, len(words))
        chunks.append(" ".join(words[start:stop]))
        if stop == len(words):
            break
        start = stop - 2 * overlap
    return chunks
