"""embedlab.figures.embedding_map_svg and embedlab.label_placement: on a map, every word can be
found and the written ones read. Checked on the SVG itself, with matplotlib's own measure of
each word (``TextPath``, not the PIL measure the map uses): no two words overlap, no word hides a
dot, every word stays in its map, and every dot names its word. Words written a fixed offset
from their dots (the layout before label_placement) are the negative control."""

import doctest
import re
from xml.etree import ElementTree

import numpy as np
import pytest
from embedlab import figures, label_placement
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath

TOPICS = {
    "royalty": ["king", "queen", "prince", "princess", "monarch", "throne", "crown", "duke"],
    "animals": ["dog", "cat", "horse", "cow", "lion", "tiger", "elephant", "rabbit"],
    "programming": ["python", "java", "javascript", "compiler", "software", "code", "programming", "linux"],
    "emotions": ["happy", "sad", "angry", "joy", "fear", "love", "anger", "sorrow"],
    "food": ["bread", "cheese", "pizza", "pasta", "rice", "soup", "cake", "apple"],
}
WORDS = [w for words in TOPICS.values() for w in words]
GROUPS = [topic for topic, words in TOPICS.items() for _ in words]
#: Unlabelled words a reader finds by pointing at their dots: ten more per topic.
EXTRA = [f"{topic[:3]}{i}" for topic in TOPICS for i in range(10)]
EXTRA_GROUPS = [topic for topic in TOPICS for _ in range(10)]
FONT_SIZE = 13


def clustered_points(spread: float, seed: int, per_topic: int = 18) -> np.ndarray:
    """Five topics of ``per_topic`` points around five centres in a 10 × 10 square, like Chapter
    1's maps: ``spread`` 1.0 is a spread-out map, 0.3 one of tight clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 10, size=(len(TOPICS), 2))
    points = np.repeat(centres, per_topic, axis=0) + rng.normal(scale=spread, size=(len(TOPICS) * per_topic, 2))
    # The first eight of each topic are the labelled words, the other ten the unlabelled ones.
    topic_rows = points.reshape(len(TOPICS), per_topic, 2)
    return np.concatenate([topic_rows[:, :8].reshape(-1, 2), topic_rows[:, 8:].reshape(-1, 2)])


PANELS = {"spread out (like t-SNE)": clustered_points(1.0, seed=0),
          "tight clusters (like UMAP)": clustered_points(0.3, seed=1)}


def parse(html: str):
    """The SVG of a map's HTML, as an element tree."""
    return ElementTree.fromstring(re.search(r"<svg.*</svg>", html, re.DOTALL).group(0))


def word_width(word: str) -> float:
    return TextPath((0, 0), word, size=FONT_SIZE, prop=FontProperties(family="DejaVu Sans")).get_extents().width


def unreadable_words(svg) -> dict:
    """What keeps a reader from reading a written word, on each map: pairs of words that overlap,
    words over a dot, words outside their map."""
    found = {"overlapping": [], "over a dot": [], "outside": []}
    panels = [(float(r.get("y")), float(r.get("y")) + float(r.get("height"))) for r in svg.iter("rect")]
    dots = [(float(c.get("cx")), float(c.get("cy")), c.find("title").text.split(" (")[0]) for c in svg.iter("circle")]
    for top, bottom in panels:
        texts = [t for t in svg.iter("text") if t.get("class") and top <= float(t.get("y")) <= bottom]
        boxes = [(float(t.get("x")) - word_width(t.text) / 2, float(t.get("y")) - FONT_SIZE / 2,
                  float(t.get("x")) + word_width(t.text) / 2, float(t.get("y")) + FONT_SIZE / 2) for t in texts]
        words = [t.text for t in texts]
        found["overlapping"] += [(words[i], words[j]) for i in range(len(boxes)) for j in range(i)
                                 if boxes[i][0] < boxes[j][2] and boxes[j][0] < boxes[i][2]
                                 and boxes[i][1] < boxes[j][3] and boxes[j][1] < boxes[i][3]]
        found["over a dot"] += [(w, dot) for w, (x0, y0, x1, y1) in zip(words, boxes)
                                for x, y, dot in dots if x0 < x < x1 and y0 < y < y1]
        found["outside"] += [w for w, (x0, y0, x1, y1) in zip(words, boxes) if x0 < 0 or x1 > 640 or y0 < top or y1 > bottom]
    return found


def written_a_fixed_offset_from_their_dots(svg):
    """The negative control: each written word moved to 2 px right of and above its dot, as
    matplotlib's ``annotate(xytext=(2, 2))`` put them before label_placement."""
    dot_of = {}
    for circle in svg.iter("circle"):
        dot_of.setdefault(circle.find("title").text.split(" (")[0], []).append(circle)
    seen = {}
    for text in svg.iter("text"):
        if text.get("class"):
            circle = dot_of[text.text][seen.setdefault(text.text, 0)]
            seen[text.text] += 1
            text.set("x", str(float(circle.get("cx")) + 2 + word_width(text.text) / 2))
            text.set("y", str(float(circle.get("cy")) - 2 - FONT_SIZE / 2))
    return svg


@pytest.fixture(scope="module")
def maps():
    return figures.embedding_map_svg(PANELS, WORDS + EXTRA, GROUPS + EXTRA_GROUPS, labelled=WORDS,
                                     description="two test maps", font_size=FONT_SIZE)


def test_every_written_word_of_a_map_is_readable(maps):
    svg = parse(maps)
    assert unreadable_words(svg) == {"overlapping": [], "over a dot": [], "outside": []}
    written = [t.text for t in svg.iter("text") if t.get("class")]
    assert sorted(written) == sorted(WORDS * len(PANELS))  # each chosen word once on each map


def test_every_dot_names_its_word_and_topic_for_a_pointer(maps):
    """A native tooltip (``<title>``) on every dot, so a reader finds the unwritten words too."""
    titles = [c.find("title").text for c in parse(maps).iter("circle")]
    expected = [f"{w} ({g})" for w, g in zip(WORDS + EXTRA, GROUPS + EXTRA_GROUPS)]
    assert sorted(titles) == sorted(expected * len(PANELS))


def test_words_written_beside_their_dots_pile_up():
    """The negative control: the same checks find the fault the placement removes."""
    svg = written_a_fixed_offset_from_their_dots(parse(figures.embedding_map_svg(
        PANELS, WORDS + EXTRA, GROUPS + EXTRA_GROUPS, labelled=WORDS, font_size=FONT_SIZE)))
    found = unreadable_words(svg)
    assert len(found["overlapping"]) > 10
    assert len(found["over a dot"]) > 10


def test_a_map_has_a_name_and_stays_legible_on_a_phone(maps):
    """Screen readers read the description; below 480 px the map scrolls inside its box rather
    than shrinking its words, and the page around it does not scroll sideways."""
    svg = parse(maps)
    assert svg.get("role") == "img" and svg.get("aria-label") == "two test maps"
    assert "min-width:480px" in svg.get("style") and "<div style='overflow-x:auto'>" in maps


def test_words_and_dots_take_their_topics_colour_from_the_books_palette(maps):
    """Dot class ``c<i>`` and word class ``t<i>`` for the i-th topic; the style sheet gives them
    the palette's colour and a darker shade of it."""
    svg = parse(maps)
    for circle in svg.iter("circle"):
        topic = circle.find("title").text.split(" (")[1].rstrip(")")
        assert circle.get("class").split()[0] == f"c{list(TOPICS).index(topic)}"
    style = re.search(r"<style>(.*?)</style>", maps).group(1)
    for i in range(len(TOPICS)):
        assert f".embedding-map .c{i}{{fill:{figures.PALETTE[i]}}}" in style
        darker = re.search(rf"\.t{i}{{fill:#(\w{{6}})}}", style).group(1)
        palette = figures.PALETTE[i].lstrip("#")
        assert all(abs(int(darker[k:k + 2], 16) - 0.6 * int(palette[k:k + 2], 16)) <= 1 for k in (0, 2, 4))


def test_labels_keep_off_unlabelled_dots():
    """``obstacles``: a label covers no unlabelled dot either; without them it would."""
    points = np.array([[100.0, 100.0]])
    sizes = np.array([[30.0, 10.0]])
    obstacle = [[122.0, 100.0]]  # where the label would go, right of its point
    bounds = (0, 0, 200, 200)
    free = label_placement.place_labels(points, sizes, bounds, point_radius=3, gap=1.5)
    assert (np.abs(free[0] - obstacle[0]) < sizes[0] / 2).all()  # negative control: it covers the dot
    centre = label_placement.place_labels(points, sizes, bounds, point_radius=3, gap=1.5, obstacles=obstacle)
    assert not (np.abs(centre[0] - obstacle[0]) < sizes[0] / 2 + 3).all()


def boxes_of(centres, sizes):
    return centres - sizes / 2, centres + sizes / 2


def test_placed_labels_neither_overlap_nor_cover_a_point_nor_leave_the_bounds():
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.uniform(50, 550, size=(30, 2)), np.full((10, 2), 300.0)])  # 10 on one spot
    sizes = np.column_stack([rng.uniform(20, 80, size=40), np.full(40, 14.0)])
    bounds, radius = (0, 0, 600, 600), 4.0

    def faults(centres):
        low, high = boxes_of(centres, sizes)
        overlapping = [(i, j) for i in range(40) for j in range(i)
                       if (low[i] < high[j]).all() and (low[j] < high[i]).all()]
        covering = [(i, k) for i in range(40) for k in range(40)
                    if (low[i] - radius < points[k]).all() and (points[k] < high[i] + radius).all()]
        outside = [i for i in range(40) if (low[i] < bounds[:2]).any() or (high[i] > bounds[2:]).any()]
        return overlapping, covering, outside

    assert faults(label_placement.place_labels(points, sizes, bounds, point_radius=radius)) == ([], [], [])
    overlapping, covering, _ = faults(points.copy())  # negative control: every label on its point
    assert len(overlapping) >= 45 and covering  # the 10 labels on one spot alone overlap in 45 pairs


def test_a_label_goes_beside_its_point_when_there_is_room():
    """The hand-worked example of the docstring, and a lone point's label just right of it."""
    assert doctest.testmod(label_placement).failed == 0
    centre = label_placement.place_labels([[100, 100]], [[30, 10]], (0, 0, 200, 200), point_radius=3, gap=1.5)
    assert centre.tolist() == [[100 + 3 + 1.5 + 15, 100]]
    assert label_placement.leader_lines([[100, 100]], centre, [[30, 10]], min_length=1.5 * (3 + 1.5)) == []


def test_a_label_pushed_away_gets_a_leader_line_to_its_point():
    points = np.zeros((6, 2)) + 100
    sizes = np.tile([30.0, 10.0], (6, 1))
    centres = label_placement.place_labels(points, sizes, (0, 0, 200, 200), point_radius=3, gap=1.5)
    lines = label_placement.leader_lines(points, centres, sizes, min_length=1.5 * (3 + 1.5))
    assert len(lines) == 4  # two fit beside the point, right and left (above and below would touch them)
    for i, start, end in lines:
        assert start.tolist() == [100, 100]
        low, high = centres[i] - sizes[i] / 2, centres[i] + sizes[i] / 2
        assert (low - 1e-9 <= end).all() and (end <= high + 1e-9).all()  # it ends on the label


def test_no_room_is_a_clear_error():
    with pytest.raises(ValueError, match="no free place for label 1 within 3 rings"):
        label_placement.place_labels([[10, 10], [10, 10]], [[8, 4], [8, 4]], (0, 8, 20, 18), point_radius=1, rings=3)
    with pytest.raises(ValueError, match="2 points but 1 label sizes"):
        label_placement.place_labels([[0, 0], [1, 1]], [[8, 4]], (0, 0, 20, 20))
