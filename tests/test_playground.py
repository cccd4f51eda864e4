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


# --- what goes to the browser (issue: stretched image, squeezed sliders, slow updates) ---------------------------

import io  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from companion.ch7.expert_explorer import PANEL, ExpertExplorer, demo_items, expert_explorer  # noqa: E402
from companion.ch7.playground import encode_image, png_bytes, to_uint8  # noqa: E402
from companion.data.references import fit_square  # noqa: E402
from companion.models.mepsnet import MEPSNet  # noqa: E402


def _count_updates(picture):
    seen = []
    picture.observe(lambda change: seen.append(change["new"]), names="value")
    return seen


def test_jpeg_update_is_far_smaller_than_the_old_png_and_its_error_far_below_the_distortion():
    """At 512 px the default JPEG (4:4:4, q95) is under a third of the uncompressed PNG, and its error is more
    than 10 dB below the distortions on show; lossless=True is the exact PNG."""
    clean = fit_square(embedded_image("astronaut"), 512)
    out, _ = SHDDPlayground(clean).render(grid_boxes(512, 512, 2, 2), default_settings(4))
    jpeg, png = encode_image(out), png_bytes(out)
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) < len(png) / 3

    def psnr(a, b):
        return 10 * np.log10(255 ** 2 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))

    decoded = np.asarray(Image.open(io.BytesIO(jpeg)))
    assert psnr(decoded, to_uint8(out)) > psnr(to_uint8(out), to_uint8(clean)) + 10
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_image(out, lossless=True)))), to_uint8(out))


def test_playground_layout_keeps_aspect_and_controls_width():
    ui = shdd_playground(_image(64), rows=2, cols=2)
    controls, picture = ui.children
    assert picture.format == "jpeg" and picture.layout.height == "auto" and picture.layout.object_fit == "contain"
    assert picture.layout.width == "64px" and picture.layout.max_width == "100%"
    assert picture.layout.align_self == "flex-start", "an image stretched to the controls' height loses its aspect"
    assert controls.layout.flex == "0 0 auto", "the controls must not shrink next to a large image"
    assert ui.layout.flex_flow == "row wrap"
    assert "companion-shdd-playground" in ui._dom_classes


def test_a_type_change_sends_one_picture():
    ui = shdd_playground(_image(64), rows=2, cols=2)
    sent = _count_updates(ui.children[1])
    dropdown, slider = ui.state["controls"][1]
    dropdown.value = "contrast_change" if dropdown.value != "contrast_change" else "gaussian_blur"
    assert len(sent) == 1
    slider.value = slider.max
    assert len(sent) == 2


@pytest.fixture
def explorer_parts():
    torch.manual_seed(0)
    model = MEPSNet(experts=2, srir=1, blocks=1, templates=2, extract_width=8, expert_width=4).eval()
    image = _image(64)
    return model, demo_items([image, image[:, ::-1].copy()], rows=2, cols=3)


def test_demo_items_look_like_shdd_items(explorer_parts):
    _, items = explorer_parts
    item = items[0]
    assert item["distorted"].shape == item["clean"].shape == (3, 64, 64) and item["label"].shape == (64, 64)
    assert len(item["record"]["regions"]) == 6
    r = item["record"]["regions"][1]
    assert (item["label"][r["ymin"]:r["ymax"], r["xmin"]:r["xmax"]] == 1).all()  # default 2nd type: noise


def test_explorer_picture_has_one_size_for_every_region(explorer_parts):
    """Fixed-size panels: the widget does not jump when a region of another shape is chosen."""
    model, items = explorer_parts
    explorer = ExpertExplorer(model, items)
    sizes = {Image.open(io.BytesIO(explorer.render_png(0, r))).size for r in range(6)}
    assert len(sizes) == 1
    (width, height), = sizes
    assert width >= 5 * PANEL and height > PANEL  # 3 crops + 2 experts, titles above
    assert explorer.render_png(0, 1) is explorer.render_png(0, 1), "a view seen before is cached"


def test_explorer_prefetch_fills_the_cache_without_running_the_model(explorer_parts):
    model, items = explorer_parts
    explorer = ExpertExplorer(model, items)
    assert explorer.prefetch(1) is None, "the model must not run in the background thread"
    explorer.maps(1)
    thread = explorer.prefetch(1)
    thread.join(timeout=60)
    assert {k for k in explorer._pictures if k[0] == 1} == {(1, r, m) for r in range(6) for m in ("mean_abs", "pca1")}


def test_explorer_widget_draws_once_per_change(explorer_parts):
    model, items = explorer_parts
    box = expert_explorer(model, items)
    image_dropdown, region_dropdown = box.children[0].children
    picture = box.children[2]
    assert picture.layout.height == "auto" and picture.layout.object_fit == "contain"
    assert region_dropdown.layout.width == "420px", "region names are long: the dropdown must show them"
    sent = _count_updates(picture)
    region_dropdown.value = 2
    assert len(sent) == 1
    image_dropdown.value = 1
    assert len(sent) == 2, "a new image is one draw, not one per region option"
    box.children[1].value = "pca1"
    assert len(sent) == 3 and len(set(sent)) == 3
