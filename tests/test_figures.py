"""Figures say what their colours mean: label maps carry a legend of their distortion types, heat maps a colorbar.

Each figure is built from small inputs and saved through a real :class:`companion.session.NotebookRun` whose
figures folder is ``tmp_path``; the saved PNG must be at least 150 dpi (PIL reads it from the PNG's pHYs).
"""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from companion.ch6 import figures as ch6_figures  # noqa: E402
from companion.ch6.flickr_distortion import FLICKR_TYPES  # noqa: E402
from companion.ch7 import model_figures, shdd_figures  # noqa: E402
from companion.ch7.shdd import SHDD_TYPES  # noqa: E402
from companion.data.images import embedded_image  # noqa: E402
from companion.figures.style import DPI  # noqa: E402
from companion.session import NotebookRun  # noqa: E402
from companion.data.images import centre_square  # noqa: E402
from companion.tour import figures as tour_figures  # noqa: E402

SHORT7 = [shdd_figures.SHORT[t] for t in SHDD_TYPES]


@pytest.fixture
def run(tmp_path):
    """A notebook run whose figures (and nothing else) go to ``tmp_path``."""
    yield NotebookRun(notebook="test_figures", profile="smoke", seed=0, device="cpu", config=None,
                      figures_dir=tmp_path, commit="test")
    plt.close("all")


def saved(run, name: str):
    """The saved PNG of ``name``: it exists, is listed by the run, and has at least 150 dpi."""
    path = run.figures_dir / f"{name}.png"
    assert path.exists() and name in [f["name"] for f in run.figures]
    with Image.open(path) as im:
        dpi = im.info.get("dpi")
    assert dpi is not None, f"{name}.png has no resolution (pHYs) chunk"
    assert DPI >= 150 and min(round(d) for d in dpi) >= 150, f"{name}.png is saved at {dpi} dpi"
    return path


def legend_texts(legend) -> list[str]:
    assert legend is not None, "no legend"
    return [t.get_text() for t in legend.get_texts()]


def present_short(labels) -> list[str]:
    return [SHORT7[int(i)] for i in np.unique(labels)]


def label_map(h=24, w=36):
    labels = np.zeros((h, w), np.uint8)
    labels[:, 12:24] = 2
    labels[:12, 24:] = 4
    return labels


def test_saved_figures_default_to_150_dpi(run):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    run.save_figure(fig, "plain")
    saved(run, "plain")


def test_fig7_7_feature_maps_have_a_type_legend_and_a_colorbar_per_expert(run):
    labels = label_map()
    rng = np.random.default_rng(0)
    maps = [rng.random(labels.shape).astype(np.float32) * (k + 1) for k in range(3)]
    image = rng.random((*labels.shape, 3)).astype(np.float32)
    fig = model_figures.fig7_7_feature_maps(run, image, image, maps, labels)
    saved(run, "fig7_7_feature_maps")
    label_ax = fig.axes[1]
    assert legend_texts(label_ax.get_legend()) == present_short(labels) == ["identity", "blur", "contrast"]
    for k in range(3):
        [image_artist] = fig.axes[2 + k].images
        bar = image_artist.colorbar
        assert bar is not None, f"expert {k + 1} has no colorbar"
        assert fig.axes[2 + k].get_title() == f"expert {k + 1}: mean |activation|"  # what the bar measures
        assert bar.vmax == pytest.approx(float(maps[k].max()))  # each bar spans its own expert's values
    assert len(fig.axes) == 3 + 3 + 3  # distorted, labels, 3 experts, restored + 3 colorbars


def test_quickstart_shdd_preview_names_the_distortion_types(run):
    clean = centre_square(embedded_image("astronaut"), 128, "astronaut")
    fig = tour_figures.shdd_preview(run, clean, np.random.default_rng(3))
    saved(run, "quickstart_shdd_preview")
    texts = legend_texts(fig.axes[1].get_legend())
    assert texts and set(texts) <= set(SHORT7)
    # the legend lists exactly the types in the label map shown
    rgb = fig.axes[1].images[0].get_array()
    colours = {tuple(np.round(c, 4)) for c in np.asarray(rgb).reshape(-1, 3)}
    from matplotlib.colors import to_rgb
    shown = [s for t, s in zip(SHDD_TYPES, SHORT7) if tuple(np.round(to_rgb(shdd_figures.TYPE_COLOURS[t]), 4))
             in colours]
    assert texts == shown


def test_07a_training_sample_figure_has_a_label_legend(run):
    import torch

    labels = label_map()
    sample = {"distorted": torch.rand(3, *labels.shape), "clean": torch.rand(3, *labels.shape),
              "label": torch.from_numpy(labels).long()}
    fig = shdd_figures.fig_training_sample(run, sample, level="easy")
    saved(run, "shdd_training_sample")
    assert [ax.get_title() for ax in fig.axes] == ["distorted", "clean", "label map"]
    assert legend_texts(fig.axes[2].get_legend()) == present_short(labels)
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), shdd_figures.label_map_rgb(labels))


def test_fig7_3_levels_has_a_legend_of_every_type(run):
    fig = shdd_figures.fig7_3_levels(run, embedded_image("astronaut")[::2, ::2][:220, :220], seed=0)
    saved(run, "fig7_3_levels")
    [legend] = fig.legends
    assert legend_texts(legend) == SHORT7


def _summary(models=("DnCNN", "MEPSNet"), level="moderate"):
    types = {"gaussian_noise": (25.0, 0.1), "gaussian_blur": (24.0, 0.2)}
    return {m: {(level, "psnr"): (26.0 + i, 0.1), (level, "input_psnr"): 22.0,
                (level, "psnr_by_type"): {t: (v[0] + i, v[1]) for t, v in types.items()},
                (level, "input_psnr_by_type"): {"gaussian_noise": 20.0, "gaussian_blur": 23.0}}
            for i, m in enumerate(models)}


def test_psnr_by_type_heat_map_has_a_colorbar(run):
    fig = model_figures.fig_psnr_by_type(run, _summary(), "moderate")
    saved(run, "table7_1_psnr_by_type")
    mesh = fig.axes[0].collections[0]
    assert mesh.colorbar is not None
    assert "gain" in mesh.colorbar.ax.get_ylabel()


def test_model_figures_coloured_by_category_have_legends(run):
    fig = model_figures.fig_table7_1(run, _summary(), ["moderate"])
    saved(run, "table7_1_psnr")
    assert legend_texts(fig.axes[0].get_legend()) == ["distorted input"]  # bar colours are named on the x axis
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["DnCNN", "MEPSNet"]

    results = {"DnCNN": [{"loss_curve": [[20, 1.0], [40, 0.5]], "val": [[10, 21.0], [20, 22.0]], "steps": 20,
                          "seconds": 10.0}],
               "MEPSNet": [{"loss_curve": [[20, 0.5]], "val": [[10, 20.0], [20, 23.0]], "steps": 20, "seconds": 40.0},
                           {"loss_curve": [[20, 0.4]], "val": [[10, 21.0], [20, 24.0]], "steps": 20, "seconds": 40.0}]}
    fig = model_figures.fig_training_curves(run, results)
    saved(run, "mepsnet_training_curves")
    assert legend_texts(fig.axes[0].get_legend()) == ["DnCNN", "MEPSNet"]
    fig = model_figures.fig_validation_curves(run, results, input_psnr=19.0)
    saved(run, "table7_1_validation_curves")
    assert legend_texts(fig.axes[0].get_legend()) == ["DnCNN", "MEPSNet", "distorted input"]
    curves = model_figures.validation_curves(results)
    assert curves["MEPSNet"][1].tolist() == [20.5, 23.5] and curves["MEPSNet"][2].tolist() == [0.5, 0.5]
    by_time = model_figures.validation_curves(results, x="seconds")
    assert by_time["MEPSNet"][0].tolist() == [20.0, 40.0] and by_time["DnCNN"][0].tolist() == [5.0, 10.0]

    rng = np.random.default_rng(0)
    scores = {"embedding": rng.random((12, 2)), "labels": np.repeat([0, 2, 3], 4), "silhouette_features": 0.1,
              "silhouette_embedding": 0.2}
    fig = model_figures.fig_tsne(run, scores)
    saved(run, "mepsnet_tsne")
    assert legend_texts(fig.axes[0].get_legend()) == ["identity", "blur", "f-noise"]

    fusion = {t: {"mean": np.array([0.4, 0.5, 0.6]), "std": np.zeros(3), "n_crops": 2}
              for t in ("gaussian_noise", "gaussian_blur")}
    fig = model_figures.fig_fusion_weights(run, fusion, 3)
    saved(run, "mepsnet_fusion_weights")
    assert legend_texts(fig.axes[0].get_legend()) == ["expert 1", "expert 2", "expert 3"]

    freqs = np.linspace(0.05, 0.5, 10)
    curve = {"power": 1 / freqs ** 2, "alpha": 2.0}
    fig = model_figures.fig_psd_by_type(run, {"gaussian_blur": {"n_tiles": 3, "freqs": freqs, "clean": curve,
                                                                "distorted": curve, "restored": curve}})
    saved(run, "mepsnet_psd_by_type")
    assert [t.split(" ")[0] for t in legend_texts(fig.axes[0].get_legend())] == ["clean", "distorted", "restored"]


def test_fig6_1_names_the_box_colours(run):
    fig = ch6_figures.fig6_1_examples(run, embedded_image("astronaut"), np.random.default_rng(0))
    saved(run, "fig6_1_examples")
    texts = legend_texts(fig.axes[3].get_legend())
    drawn = {t.get_text() for ax in fig.axes[2:4] for t in ax.texts}  # the box labels of panels (c) and (d)
    assert set(texts) == drawn and len(texts) == len(drawn)
    assert texts == [ch6_figures.SHORT[t] for t in FLICKR_TYPES if ch6_figures.SHORT[t] in drawn]  # type order


def test_detection_samples_name_the_box_colours(run, tmp_path):
    folder = tmp_path / "data" / "flickr-distortion" / "detection-basic" / "train"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(folder / "a.png")
    coco = {"categories": [{"id": i + 1, "name": t} for i, t in enumerate(FLICKR_TYPES)],
            "images": [{"id": 1, "file_name": "a.png"}],
            "annotations": [{"image_id": 1, "bbox": [2, 2, 10, 10], "category_id": 8},
                            {"image_id": 1, "bbox": [20, 20, 10, 10], "category_id": 2}]}
    (folder / "annotations.json").write_text(json.dumps(coco))
    fig = ch6_figures.fig_detection_samples(run, tmp_path / "data", "basic", n=1)
    saved(run, "fig6_detection_basic")
    assert legend_texts(fig.axes[0].get_legend()) == ["blur", "f-noise"]
