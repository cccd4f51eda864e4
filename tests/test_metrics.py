"""PSNR/SSIM with their protocol: values checked against closed forms."""
import numpy as np
import pytest

from companion.errors import CompanionError
from companion.metrics import psnr, rgb_to_y, ssim


def test_psnr_closed_form():
    target = np.full((16, 16, 3), 0.5)
    pred = target + 0.1  # MSE 0.01 -> 20 dB
    assert psnr(pred, target) == pytest.approx(20.0, abs=1e-9)
    assert psnr(target, target) == float("inf")


def test_border_crop_ignores_the_frame():
    target = np.full((16, 16, 3), 0.5)
    pred = target.copy()
    pred[:2] = 0.0
    assert psnr(pred, target, border=2) == float("inf")
    assert psnr(pred, target) < 20


def test_y_channel_uses_bt601():
    white = np.ones((4, 4, 3))
    assert rgb_to_y(white)[0, 0] == pytest.approx(235 / 255, abs=1e-6)
    grey_shift = np.full((8, 8, 3), 0.5)
    assert psnr(grey_shift + 0.1, grey_shift, channel="y") == pytest.approx(20 - 20 * np.log10(219 / 255), abs=1e-6)


def test_ssim_identity_and_errors():
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3))
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1), img) < 0.9
    with pytest.raises(CompanionError, match="differ in shape"):
        psnr(img[:8], img)
    with pytest.raises(CompanionError, match="unknown channel"):
        psnr(img, img, channel="lab")


# --------------------------------------------------------------------------------------------------------
# Per-label breakdown (companion's reading of per-distortion metrics).

from companion.metrics import psnr_by_label, ssim_by_label  # noqa: E402
from tests.conftest import texture  # noqa: E402

#: Label names for the per-label tests (metrics name no dataset: the caller passes the names).
NAMES = ("identity", "gaussian_noise", "gaussian_blur", "f_noise", "contrast_change")


def test_psnr_by_label_single_label_equals_psnr():
    rng = np.random.default_rng(1)
    target = rng.random((24, 20, 3))
    pred = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1)
    labels = np.full((24, 20), 2)
    for channel, border in (("rgb", 0), ("y", 3)):
        by = psnr_by_label(pred, target, labels, names=NAMES, channel=channel, border=border)
        assert list(by) == ["gaussian_blur"]
        assert by["gaussian_blur"] == pytest.approx(psnr(pred, target, channel=channel, border=border), abs=1e-9)


def test_psnr_by_label_two_halves_match_closed_form():
    rng = np.random.default_rng(2)
    target = np.full((16, 32, 3), 0.5)
    pred = target.copy()
    pred[:, :16] += rng.normal(0, 0.02, (16, 16, 3))
    pred[:, 16:] += rng.normal(0, 0.1, (16, 16, 3))
    pred = np.clip(pred, 0, 1)
    labels = np.zeros((16, 32), np.int64)
    labels[:, 16:] = 1
    by = psnr_by_label(pred, target, labels, names=("left", "right", "unused"))
    assert set(by) == {"left", "right"}  # absent labels omitted
    for key, half in (("left", np.s_[:, :16]), ("right", np.s_[:, 16:])):
        mse = np.mean((pred[half] - target[half]) ** 2)
        assert by[key] == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)
    assert by["left"] > by["right"] + 10
    # Border crop removes a label entirely -> omitted.
    labels[0] = 2
    assert "unused" not in psnr_by_label(pred, target, labels, names=("left", "right", "unused"), border=1)
    assert psnr_by_label(target, target, labels, names=("a", "b", "c")) == {"a": np.inf, "b": np.inf, "c": np.inf}


def test_ssim_by_label_identity_and_consistency():
    rng = np.random.default_rng(3)
    img = texture(32, 40, 3, uint8=False).astype(np.float64)
    labels = np.zeros((32, 40), np.int64)
    labels[:, 20:] = 4
    by = ssim_by_label(img, img, labels, names=NAMES)
    assert by == {"identity": pytest.approx(1.0), "contrast_change": pytest.approx(1.0)}
    noisy = img.copy()
    noisy[:, 20:] = np.clip(noisy[:, 20:] + rng.normal(0, 0.2, (32, 20, 3)), 0, 1)
    by = ssim_by_label(noisy, img, labels, names=NAMES)
    assert by["identity"] > 0.9 and by["contrast_change"] < 0.5
    one = np.ones((32, 40), np.int64)
    assert ssim_by_label(noisy, img, one, names=NAMES)["gaussian_noise"] == pytest.approx(ssim(noisy, img), abs=1e-12)


def test_by_label_errors():
    img = np.zeros((16, 16, 3))
    with pytest.raises(CompanionError, match="does not match"):
        psnr_by_label(img, img, np.zeros((8, 16), np.int64), names=NAMES)
    with pytest.raises(CompanionError, match="outside"):
        psnr_by_label(img, img, np.full((16, 16), 7), names=NAMES)
    with pytest.raises(CompanionError, match="integer"):
        ssim_by_label(img, img, np.zeros((16, 16)), names=NAMES)
    with pytest.raises(TypeError, match="names"):
        psnr_by_label(img, img, np.zeros((16, 16), np.int64))  # no dataset's labels by default


def test_restoration_scores_match_independent_computations():
    """Each number of restoration_scores against a computation that shares no code with it: scikit-image's
    PSNR and SSIM on the whole image, the MSE closed form per label, and scikit-image's own SSIM map masked."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from companion.metrics import restoration_scores, rgb_to_y

    rng = np.random.default_rng(3)
    target = rng.random((40, 48, 3))
    pred = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1)
    pred[:, 20:] = np.clip(pred[:, 20:] + rng.normal(0, 0.1, (40, 28, 3)), 0, 1)  # the right part is worse
    labels = np.zeros((40, 48), dtype=np.int64)
    labels[:, 20:] = 2
    for channel, border in (("rgb", 0), ("y", 3)):
        p, t, lab = pred, target, labels
        if channel == "y":
            p, t = rgb_to_y(p), rgb_to_y(t)
        if border:
            p, t, lab = p[border:-border, border:-border], t[border:-border, border:-border], lab[border:-border, border:-border]
        scores = restoration_scores(pred, target, labels, names=NAMES, channel=channel, border=border)
        assert scores["psnr"] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=1.0), abs=1e-9)
        axis = -1 if p.ndim == 3 else None
        whole, smap = structural_similarity(t, p, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False, channel_axis=axis, full=True)
        assert scores["ssim"] == pytest.approx(whole, abs=1e-9)
        for label, name in ((0, "identity"), (2, "gaussian_blur")):
            mse = np.mean((p[lab == label] - t[lab == label]) ** 2)
            assert scores["psnr_by_type"][name] == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)
            inner = np.zeros_like(lab, dtype=bool)
            inner[5:-5, 5:-5] = True  # scikit-image leaves out the 5-px filter radius at the edge
            keep = inner & (lab == label)
            assert scores["ssim_by_type"][name] == pytest.approx(smap[keep].mean(), abs=1e-9)
        assert scores["psnr_by_type"]["identity"] > scores["psnr_by_type"]["gaussian_blur"] + 3
    assert "ssim" not in restoration_scores(pred, target, labels, names=NAMES, with_ssim=False)
