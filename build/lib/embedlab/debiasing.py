"""Chapter 3, "Bias in the space": a gender direction in word vectors, how far each word lies
along it, and hard debiasing (Bolukbasi et al. 2016): neutralise the words that should carry no
gender, equalise the pairs that should differ only by it.
"""

from __future__ import annotations

import numpy as np

from embedlab.similarity import normalize
from embedlab.vectors import WordVectors

#: The ten definitional pairs of Bolukbasi et al. (2016), female word first, lower-cased as in GloVe.
GENDER_PAIRS = (
    ("she", "he"), ("her", "his"), ("woman", "man"), ("mary", "john"), ("herself", "himself"),
    ("daughter", "son"), ("mother", "father"), ("gal", "guy"), ("girl", "boy"), ("female", "male"),
)


def bias_direction(word_vectors: WordVectors, pairs=GENDER_PAIRS) -> np.ndarray:
    """The unit vector along which the words of each pair differ most: a "gender direction".

    Bolukbasi et al. (2016) centre each pair on its mean μ = (û₁ + û₂) / 2 and take the first
    principal component of the 2k centred vectors û₁ − μ = (û₁ − û₂) / 2 and û₂ − μ = −(û₁ − û₂) / 2.
    Those already have mean 0, so the component is the first right singular vector of the k
    differences û₁ − û₂. Its sign is chosen so the first words (she, her, ...) project positively.
    Book: Chapter 3, "When arithmetic goes wrong".
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("need at least one word pair, such as ('she', 'he'), to find a direction")
    unit = word_vectors.unit_vectors
    firsts = unit[[word_vectors.index(first) for first, _ in pairs]].astype(np.float64)
    seconds = unit[[word_vectors.index(second) for _, second in pairs]].astype(np.float64)
    differences = firsts - seconds  # (pairs, d)
    direction = np.linalg.svd(differences, full_matrices=False)[2][0]
    return direction if (differences @ direction).sum() > 0 else -direction


def direction_cosines(word_vectors: WordVectors, words, direction) -> dict[str, float]:
    """cos(w, direction) for each word: its position along the direction, from −1 to 1.

    With :func:`bias_direction` from :data:`GENDER_PAIRS`, positive is the "she" side.
    Book: Chapter 3, "When arithmetic goes wrong".
    """
    direction = _unit_direction(direction, word_vectors.dim)
    unit = word_vectors.unit_vectors
    return {word: float(unit[word_vectors.index(word)] @ direction) for word in words}


def _unit_direction(direction, dim: int) -> np.ndarray:
    direction = np.asarray(direction, dtype=np.float64)
    if direction.shape != (dim,):
        raise ValueError(f"direction must be one vector of {dim} numbers, got shape {direction.shape}")
    return normalize(direction)


def neutralize(word_vectors: WordVectors, direction, neutral_words) -> WordVectors:
    """Hard debiasing, step 1: remove the direction from words that should not have it.

    Each neutral word's unit vector loses its component along the direction g (a unit vector)
    and is scaled back to length 1: û ← (û − (û·g) g) / ‖û − (û·g) g‖, so that cos(û, g) = 0
    (Bolukbasi et al. 2016). Like theirs, the result holds unit vectors for every word (the other
    words' cosines are unchanged); ``word_vectors`` is left as it was. Book: Chapter 3, "When arithmetic goes wrong".
    """
    g = _unit_direction(direction, word_vectors.dim)
    unit = word_vectors.unit_vectors.copy()
    rows = sorted({word_vectors.index(word) for word in neutral_words})
    neutral = unit[rows].astype(np.float64)
    unit[rows] = normalize(neutral - np.outer(neutral @ g, g))
    return WordVectors(word_vectors.words, unit)


def equalize(word_vectors: WordVectors, direction, pairs) -> WordVectors:
    """Hard debiasing, step 2: make the two words of each pair differ only along the direction.

    For a pair (w₁, w₂) with mean μ = (û₁ + û₂) / 2, let ν = μ − (μ·g) g be μ without its
    component along g. Both words become ν ± z g with z = sqrt(1 − ‖ν‖²): unit vectors that
    share ν and mirror each other across the neutral subspace, w₁ staying on its side. A word
    with no component along g (a neutralised one) is then exactly as similar to w₁ as to w₂:
    grandmother and grandfather are equally close to "babysitter" (Bolukbasi et al. 2016).
    Returns unit vectors for every word, like :func:`neutralize`. Book: Chapter 3, "When arithmetic goes wrong".
    """
    g = _unit_direction(direction, word_vectors.dim)
    unit = word_vectors.unit_vectors.copy()
    for first, second in pairs:
        row1, row2 = word_vectors.index(first), word_vectors.index(second)
        u1, u2 = unit[row1].astype(np.float64), unit[row2].astype(np.float64)
        mean = (u1 + u2) / 2
        shared = mean - (mean @ g) * g
        z = np.sqrt(max(0.0, 1 - shared @ shared))  # ‖ν‖ ≤ ‖μ‖ ≤ 1; max() only absorbs rounding
        if (u1 - u2) @ g < 0:
            z = -z
        unit[row1], unit[row2] = shared + z * g, shared - z * g
    return WordVectors(word_vectors.words, unit)


#: Words whose gender is part of their meaning, kept out of neutralisation. Bolukbasi et al. (2016)
#: started from 218 such words and grew the list with a classifier; ours is written by hand.
GENDER_SPECIFIC = frozenset("""
he she him her his hers himself herself man woman men women boy girl boys girls guy gal guys gals
father mother fathers mothers son daughter sons daughters brother sister brothers sisters
uncle aunt uncles aunts nephew niece nephews nieces husband wife husbands wives
king queen kings queens prince princess princes princesses duke duchess emperor empress
grandfather grandmother grandson granddaughter grandsons granddaughters grandpa grandma
dad mom mum dads moms daddy mommy sir madam lady ladies gentleman gentlemen lord mr mrs ms
male female males females masculine feminine manhood womanhood boyfriend girlfriend groom bride
stepfather stepmother stepson stepdaughter godfather godmother monk nun monks nuns
actor actress actors actresses waiter waitress heir heiress widow widower schoolboy schoolgirl
policeman policewoman spokesman spokeswoman chairman chairwoman businessman businesswoman
fraternity sorority paternity maternity john mary
""".split())


#: Pairs equalised after neutralisation: the definitional pairs and a few family and role words.
EQUALIZE_PAIRS = GENDER_PAIRS + (
    ("queen", "king"), ("wife", "husband"), ("sister", "brother"), ("aunt", "uncle"), ("niece", "nephew"),
    ("grandmother", "grandfather"), ("actress", "actor"), ("princess", "prince"),
)


def hard_debias(word_vectors: WordVectors, direction, restrict_vocab: int = 100_000,
                gender_specific=GENDER_SPECIFIC, pairs=EQUALIZE_PAIRS) -> WordVectors:
    """Hard debiasing (Bolukbasi et al. 2016): :func:`neutralize` every word among the first
    ``restrict_vocab`` except the ``gender_specific`` ones, then :func:`equalize` the ``pairs``.

    Returns unit vectors for every word. It removes what the direction measures, not every trace
    of bias: words once associated with one gender still cluster together (Gonen & Goldberg 2019).
    Book: Chapter 3, "When arithmetic goes wrong".
    """
    neutral = [word for word in word_vectors.words[:restrict_vocab] if word not in gender_specific]
    return equalize(neutralize(word_vectors, direction, neutral), direction, pairs)
