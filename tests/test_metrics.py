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
