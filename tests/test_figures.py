"""embedlab.figures.embedding_maps and embedlab.label_placement: on a map, every word can be
read. Checked on the drawn figure itself, with matplotlib's own measure of each word
(``Text.get_window_extent``): no two words overlap, no word hides a point, every word stays in
its map. The old layout (each word at a fixed offset from its point) is the negative control."""

import doctest

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from embedlab import figures, label_placement

TOPICS = {
    "royalty": ["king", "queen", "prince", "princess", "monarch", "throne", "crown", "duke"],
    "animals": ["dog", "cat", "horse", "cow", "lion", "tiger", "elephant", "rabbit"],
    "programming": ["python", "java", "javascript", "compiler", "software", "code", "programming", "linux"],
    "emotions": ["happy", "sad", "angry", "joy", "fear", "love", "anger", "sorrow"],
    "food": ["bread", "cheese", "pizza", "pasta", "rice", "soup", "cake", "apple"],
}
WORDS = [w for words in TOPICS.values() for w in words]
GROUPS = [topic for topic, words in TOPICS.items() for _ in words]


def clustered_points(spread: float, seed: int) -> np.ndarray:
    """Five topics of eight points around five centres in a 10 × 10 square, like Chapter 1's
    maps: ``spread`` 1.0 is a t-SNE-like map, 0.05 a UMAP-like one whose topics are dots."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 10, size=(len(TOPICS), 2))
    return np.repeat(centres, 8, axis=0) + rng.normal(scale=spread, size=(len(WORDS), 2))


PANELS = {"spread out (like t-SNE)": clustered_points(1.0, seed=0),
          "tight clusters (like UMAP)": clustered_points(0.05, seed=1)}


def unreadable_words(figure) -> dict:
    """What keeps a reader from finding a word on each map of ``figure``, as the renderer draws
    it: pairs of words that overlap, words over a point, words outside their map."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    found = {"overlapping": [], "over a point": [], "outside": []}
    for ax in figure.axes:
        texts = [t for t in ax.texts if t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in texts]
        found["overlapping"] += [(texts[i].get_text(), texts[j].get_text())
                                 for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
        on_screen = ax.transData.transform(ax.collections[0].get_offsets())
        found["over a point"] += [(t.get_text(), WORDS[k]) for t, box in zip(texts, boxes)
                                  for k, (x, y) in enumerate(on_screen) if box.contains(x, y)]
        found["outside"] += [t.get_text() for t, box in zip(texts, boxes)
                             if not (ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1)]
    return found


def old_embedding_maps(panels: dict, words):
    """The layout this replaced (main at f8f455a): maps side by side in an 11-inch figure, each
    word 2 points up and right of its point, in 7.5-point type."""
    figure, axes = plt.subplots(1, len(panels), figsize=(11, 4.6))
    for ax, points in zip(axes, panels.values()):
        ax.scatter(points[:, 0], points[:, 1], s=18)
        for (x, y), word in zip(points, words):
            ax.annotate(word, (x, y), fontsize=7.5, xytext=(2, 2), textcoords="offset points")
    figure.tight_layout()
    return figure


@pytest.fixture
def maps():
    return figures.embedding_maps(PANELS, WORDS, GROUPS)  # closed after each test (conftest)


def test_every_word_of_a_map_is_readable(maps):
    assert unreadable_words(maps) == {"overlapping": [], "over a point": [], "outside": []}
    for ax in maps.axes:
        assert sorted(t.get_text() for t in ax.texts) == sorted(WORDS)  # each word once on each map


def test_words_stay_apart_at_the_resolution_of_a_high_dpi_screen(maps):
    """The words are placed at 100 dpi and the page gets a PNG at 200 dpi (widgets.sharp_picture)."""
    drawn_at = maps.dpi
    maps.set_dpi(2 * drawn_at)
    try:
        assert unreadable_words(maps) == {"overlapping": [], "over a point": [], "outside": []}
    finally:
        maps.set_dpi(drawn_at)


def test_the_old_layout_piles_words_up():
    """The negative control: the same checks find the fault the new layout removes."""
    figure = old_embedding_maps(PANELS, WORDS)
    found = unreadable_words(figure)
    plt.close(figure)
    assert len(found["overlapping"]) > 20
    assert found["over a point"]


def test_maps_are_stacked_at_the_width_of_the_page(maps):
    """One map per row, 7 inches wide: at 100 CSS pixels per inch the figure fills the page's
    ~700 px column, its words in 10-point type (14 px, the size of the text around it)."""
    assert maps.get_figwidth() == 7.0
    (top, bottom) = maps.axes
    assert top.get_position().y0 > bottom.get_position().y1
    assert {t.get_fontsize() for ax in maps.axes for t in ax.texts} == {10}


def test_words_take_their_topics_colour_from_the_books_palette(maps):
    colour_of = {topic: figures.PALETTE[i] for i, topic in enumerate(TOPICS)}
    ax = maps.axes[0]
    point_colours = [matplotlib.colors.to_hex(c) for c in ax.collections[0].get_facecolors()]
    assert point_colours == [colour_of[g].lower() for g in GROUPS]
    word_colour = {t.get_text(): np.array(matplotlib.colors.to_rgb(t.get_color())) for t in ax.texts}
    for word, group in zip(WORDS, GROUPS):  # the same hue, darker
        assert np.allclose(word_colour[word], 0.6 * np.array(matplotlib.colors.to_rgb(colour_of[group])))


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
