"""Measured behaviour of companion.data.distortions (each test checks a number, so each can fail)."""

import numpy as np
import pytest
from skimage import data
from skimage.filters import gaussian, laplace

from companion.ch6 import flickr_distortion as F6
from companion.ch7 import shdd as S7
from companion.data import distortions as D
from companion.errors import CompanionError

RANDOM = ("gaussian_noise", "f_noise", "salt_and_pepper")


@pytest.fixture(scope="module")
def astro():
    """A 96×96 crop of skimage's embedded astronaut (face and suit: edges and texture), float32 in [0, 1]."""
    return (data.astronaut()[40:136, 170:266] / 255.0).astype(np.float32)


def flat(shape=(128, 128, 3), value=0.5):
    return np.full(shape, value, dtype=np.float32)


def typical(name):
    """A mid-level strength for every distortion (Flickr middle level, SHDD midpoint for contrast)."""
    if name == "identity":
        return 0.0
    if name == "contrast_change":
        return 30.0
    return F6.FLICKR_LEVELS[name][1]


def rng(seed=0):
    return np.random.default_rng(seed)


# --- per-distortion measurements ------------------------------------------------------------------------


@pytest.mark.parametrize("variance", [0.005, 0.0125, 0.02])
def test_gaussian_noise_variance(variance):
    out = D.gaussian_noise(flat((256, 256, 3)), variance, rng())
    assert abs(out.var() / variance - 1) < 0.05
    assert abs(out.mean() - 0.5) < 0.005


def test_gaussian_blur_matches_skimage_and_removes_high_frequencies(astro):
    out = D.gaussian_blur(astro, 2.0, rng())
    np.testing.assert_allclose(out, gaussian(astro, sigma=2.0, channel_axis=-1), atol=1e-6)
    hf_in = np.mean(laplace(astro[..., 1]) ** 2)
    hf_out = np.mean(laplace(out[..., 1]) ** 2)
    assert hf_out < 0.2 * hf_in


def radial_power_slope(field):
    """Least-squares slope of log radially-averaged power vs log frequency, over 2/N..0.25 cycles/px."""
    n = field.shape[0]
    power = np.abs(np.fft.fft2(field)) ** 2
    f = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
    bins = np.linspace(2.0 / n, 0.25, 20)
    idx = np.digitize(f.ravel(), bins)
    centres, means = [], []
    for k in range(1, len(bins)):
        sel = idx == k
        centres.append(f.ravel()[sel].mean())
        means.append(power.ravel()[sel].mean())
    return np.polyfit(np.log(centres), np.log(means), 1)[0]


@pytest.mark.parametrize("scale", [2.5, 10.0])
def test_f_noise_spectrum_slope_and_std(scale):
    image = flat((256, 256, 3))
    noise = D.f_noise(image, scale, rng(3)).astype(np.float64) - image
    assert abs(noise.std() / (scale / 100) - 1) < 0.02
    assert abs(noise.mean()) < 1e-3
    assert abs(radial_power_slope(noise[..., 0]) - (-2.0)) < 0.25
    # the companion's reading: one achromatic field shared by the three channels
    np.testing.assert_allclose(noise[..., 0], noise[..., 2], atol=1e-6)


def test_f_noise_is_not_white():
    """Guard that the slope test can fail: white noise measures a slope near 0, not -2."""
    white = rng(1).standard_normal((256, 256))
    assert abs(radial_power_slope(white)) < 0.3


def test_jpeg_error_grows_as_quality_falls(astro):
    errors = [np.mean((D.jpeg(astro, q, rng()) - astro) ** 2) for q in (90, 50, 20, 5)]
    assert errors[0] < errors[1] < errors[2] < errors[3]
    assert errors[0] > 0


def test_identity_is_bit_identical_copy(astro):
    out = D.identity(astro)
    assert out is not astro and not np.shares_memory(out, astro)
    assert out.dtype == np.float32 and np.array_equal(out, astro)
    assert np.array_equal(D.apply_distortion("identity", astro, 0.0, rng()), astro)


def test_low_resolution_error_grows_as_ratio_falls(astro):
    errors = [np.mean((D.low_resolution(astro, r, rng()) - astro) ** 2) for r in (0.5, 0.3, 0.1, 0.03)]
    assert errors[0] < errors[1] < errors[2] < errors[3]
    assert np.array_equal(D.low_resolution(astro, 1.0, rng()).shape, astro.shape)


@pytest.mark.parametrize("levels", F6.FLICKR_LEVELS["quantization"])
def test_quantization_has_at_most_levels_values(astro, levels):
    out = D.quantization(astro, levels, rng())
    for c in range(3):
        assert len(np.unique(out[..., c])) <= levels
    assert np.max(np.abs(out - astro)) <= 0.5 / (levels - 1) + 1e-6


@pytest.mark.parametrize("amount", [0.0125, 0.05])
def test_salt_and_pepper_fraction(amount):
    out = D.salt_and_pepper(flat((256, 256, 3)), amount, rng())
    changed = out != 0.5
    assert abs(changed.mean() / amount - 1) < 0.1
    assert set(np.unique(out[changed])) <= {0.0, 1.0}
    assert abs((out[changed] == 1.0).mean() - 0.5) < 0.1


@pytest.mark.parametrize("level", [25.0, 40.0])
def test_contrast_reduces_std_by_promised_factor(astro, level):
    out = D.contrast_change(astro, level, rng())
    assert out.std() / astro.std() == pytest.approx(1 - level / 100, rel=1e-4)
    np.testing.assert_allclose(D.contrast_change(flat(), level, rng()), 0.5)


def test_nl_means_reduces_noise(astro):
    noisy = D.gaussian_noise(astro, 0.005, rng(7))
    denoised = D.nl_means_denoising(noisy, 0.08, rng())
    assert np.mean((denoised - astro) ** 2) < 0.6 * np.mean((noisy - astro) ** 2)


# --- properties shared by every distortion ------------------------------------------------------------


@pytest.mark.parametrize("name", list(D.DISTORTIONS))
def test_contract_shapes_dtype_range_and_no_mutation(astro, name):
    strength = typical(name)
    for image in (astro, astro[..., 0], astro[:5, :7], astro[:5, :7, 1], astro[:1, :3]):
        before = image.copy()
        out = D.apply_distortion(name, image, strength, rng())
        assert out.shape == image.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert np.array_equal(image, before)
    # float64 input is accepted too
    assert D.apply_distortion(name, astro[:8, :8].astype(np.float64), strength, rng()).dtype == np.float32


@pytest.mark.parametrize("name", list(D.DISTORTIONS))
def test_determinism(astro, name):
    strength = typical(name)
    a = D.apply_distortion(name, astro, strength, rng(11))
    b = D.apply_distortion(name, astro, strength, rng(11))
    assert np.array_equal(a, b)
    c = D.apply_distortion(name, astro, strength, rng(12))
    assert (not np.array_equal(a, c)) == (name in RANDOM)


# --- validation ---------------------------------------------------------------------------------------


def test_unknown_name_lists_known_names(astro):
    with pytest.raises(CompanionError, match="unknown distortion 'speckle'.*gaussian_blur.*nl_means_denoising"):
        D.apply_distortion("speckle", astro, 0.1, rng())


@pytest.mark.parametrize("name, bad, parameter", [
    ("gaussian_noise", -0.01, "variance"),
    ("gaussian_blur", float("nan"), "sigma"),
    ("jpeg", 0, "quality"),
    ("low_resolution", 1.5, "ratio"),
    ("contrast_change", 120.0, "level"),
    ("quantization", 1, "levels"),
    ("identity", 0.3, "strength"),
])
def test_out_of_range_strength_names_distortion_and_parameter(astro, name, bad, parameter):
    with pytest.raises(CompanionError, match=rf"{name}: {parameter}=.*valid range \["):
        D.apply_distortion(name, astro, bad, rng())


def test_non_integer_quality_rejected(astro):
    with pytest.raises(CompanionError, match="jpeg: quality=12.5 must be a whole number"):
        D.apply_distortion("jpeg", astro, 12.5, rng())


@pytest.mark.parametrize("image", [
    np.zeros((8, 8, 3), dtype=np.uint8),          # not float
    np.full((8, 8), 1.5, dtype=np.float32),       # out of [0, 1]
    np.full((8, 8), np.nan, dtype=np.float32),    # NaN
    np.zeros((2, 8, 8, 3), dtype=np.float32),     # wrong ndim
    np.zeros((8, 8, 4), dtype=np.float32),        # RGBA
])
def test_bad_images_rejected(image):
    with pytest.raises(CompanionError, match="gaussian_blur: image"):
        D.apply_distortion("gaussian_blur", image, 1.0, rng())


# --- margins ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 2.5, 3.3])
def test_blur_margin_makes_region_equal_to_whole_image_crop(astro, sigma):
    spec = D.DISTORTIONS["gaussian_blur"]
    m = spec.margin(sigma)
    assert m == int(np.ceil(4 * sigma))
    y0, y1, x0, x1 = 40, 70, 30, 62
    whole = D.gaussian_blur(astro, sigma, rng())[y0:y1, x0:x1]
    region = D.gaussian_blur(astro[y0 - m:y1 + m, x0 - m:x1 + m], sigma, rng())[m:-m, m:-m]
    assert np.array_equal(region, whole)  # bit-exact: same kernel, same inputs, same summation order
    # without the margin the region's border differs: the test can fail
    bare = D.gaussian_blur(astro[y0:y1, x0:x1], sigma, rng())
    assert np.max(np.abs(bare - whole)) > 1e-3


def test_margins_of_other_distortions():
    ms = {name: spec.margin(typical(name)) for name, spec in D.DISTORTIONS.items()}
    for name in ("identity", "gaussian_noise", "f_noise", "contrast_change", "salt_and_pepper", "quantization"):
        assert ms[name] == 0
    assert ms["jpeg"] == 8 and ms["nl_means_denoising"] == 14
    assert D.DISTORTIONS["low_resolution"].margin(0.1) == 40
    assert all(isinstance(m, int) for m in ms.values())


def test_pointwise_distortions_are_exactly_local(astro):
    for name in ("contrast_change", "quantization"):
        whole = D.apply_distortion(name, astro, typical(name), rng())[10:40, 20:50]
        region = D.apply_distortion(name, astro[10:40, 20:50], typical(name), rng())
        assert np.array_equal(whole, region)


# --- presets and sampling -----------------------------------------------------------------------------


def test_presets_are_accepted_and_each_changes_the_image(astro):
    """Every Flickr level and both ends of every SHDD range pass the distortion's own strength check (it
    raises on out-of-range values) and really distort a patch."""
    patch = astro[:48, :48]
    presets = [(name, v) for name, levels in F6.FLICKR_LEVELS.items() for v in levels]
    presets += [(name, v) for name, bounds in S7.SHDD_RANGES.items() for v in bounds]
    for name, strength in presets:
        out = D.apply_distortion(name, patch, strength, rng())
        assert np.abs(out - patch).max() > 1 / 255, (name, strength)
    # every type has its levels / range, and nothing else does
    assert set(F6.FLICKR_LEVELS) == set(F6.FLICKR_TYPES)
    assert set(S7.SHDD_RANGES) == set(S7.SHDD_TYPES) - {"identity"}


def test_levels_ordered_mild_to_severe(astro):
    for name in ("gaussian_blur", "quantization", "jpeg", "low_resolution", "f_noise"):
        errors = [np.mean((D.apply_distortion(name, astro, v, rng()) - astro) ** 2)
                  for v in F6.FLICKR_LEVELS[name]]
        assert errors[0] < errors[1] < errors[2], name


def test_sample_strength():
    g = rng(5)
    assert D.sample_strength("identity", g, S7.SHDD_RANGES) == 0.0
    draws = [D.sample_strength("gaussian_blur", g, S7.SHDD_RANGES) for _ in range(500)]
    assert 1.0 <= min(draws) < 1.1 and 2.4 < max(draws) <= 2.5
    with pytest.raises(CompanionError, match="jpeg"):
        D.sample_strength("jpeg", g, S7.SHDD_RANGES)


def test_flickr_range_and_integer_sampling():
    assert F6.flickr_range("jpeg") == (5.0, 20.0)
    assert F6.flickr_range("low_resolution") == (0.03, 0.3)
    assert F6.flickr_range("quantization") == (4.0, 16.0)
    g = rng(9)
    q = [F6.sample_flickr_strength("jpeg", g) for _ in range(400)]
    assert all(v == int(v) for v in q) and set(q) == set(float(v) for v in range(5, 21))
    r = [F6.sample_flickr_strength("low_resolution", g) for _ in range(200)]
    assert all(0.03 <= v <= 0.3 for v in r) and len(set(r)) == 200
    with pytest.raises(CompanionError, match="contrast_change"):
        F6.flickr_range("contrast_change")
