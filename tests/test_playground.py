"""The SHDD playground renders what its controls say, region by region, and reuses cached regions."""
import numpy as np

from companion.data.images import embedded_image
from companion.ch7.playground import SHDDPlayground, default_settings, grid_boxes, shdd_playground


def _image(size=96):
    return embedded_image("astronaut")[:size, :size]


def test_grid_boxes_tile_the_image():
    boxes = grid_boxes(100, 90, 3, 2)
    covered = np.zeros((100, 90), int)
    for y0, x0, y1, x1 in boxes:
        covered[y0:y1, x0:x1] += 1
    assert len(boxes) == 6 and (covered == 1).all()


def test_render_matches_settings_and_labels():
    img = _image()
    play = SHDDPlayground(img, seed=1)
    boxes = grid_boxes(96, 96, 2, 2)
    settings = [("identity", 0.0), ("gaussian_noise", 0.01), ("gaussian_blur", 2.0), ("contrast_change", 30.0)]
    out, labels = play.render(boxes, settings)
    (a, b, c, d) = boxes
    assert np.array_equal(out[a[0]:a[2], a[1]:a[3]], img[a[0]:a[2], a[1]:a[3]])  # identity untouched
    assert set(np.unique(labels[b[0]:b[2], b[1]:b[3]])) == {1}
    expected = 0.5 + (img[d[0]:d[2], d[1]:d[3]] - 0.5) * 0.7
    assert np.allclose(out[d[0]:d[2], d[1]:d[3]], expected, atol=1e-6)
    again, _ = play.render(boxes, settings)
    assert np.array_equal(out, again), "same settings must give the same picture"
    assert len(play._cache) == 3


def test_changing_one_region_redistorts_only_that_region():
    play = SHDDPlayground(_image(), seed=0)
    boxes = grid_boxes(96, 96, 2, 2)
    settings = default_settings(4)
    play.render(boxes, settings)
    before = len(play._cache)
    settings[1] = ("gaussian_noise", 0.02)
    play.render(boxes, settings)
    assert len(play._cache) == before + 1


def test_widget_builds_and_reacts():
    ui = shdd_playground(_image(64), rows=2, cols=2)
    first = ui.children[1].value
    dropdown, slider = ui.state["controls"][0]
    dropdown.value = "gaussian_blur"
    assert not slider.disabled and ui.children[1].value != first
    ui.children[0].children[0].children[0].value = 3  # rows slider
    assert len(ui.state["controls"]) == 6
