"""Chapter 4's augmentations (companion.data.augments; thesis §4.3, Eq. 4.1, Table 4.1, §4.3.2): their properties
measured over many seeded draws."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, load_script

from companion.data import augments
from companion.data.augments import (AUGMENTATIONS, DEFAULT_ALPHAS, NONE, PRESETS, Augmentation, augment_batch,
                                     cutblur, cutmix, cutmixup, cutout, single, to_hq_grid)
from companion.engine.augmented import masked
from companion.errors import CompanionError

pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pair(n=4, c=3, h=16, w=16, scale=1, seed=0, dtype=torch.float32):
    """Random LQ / HQ batches with values in [0.1, 0.9] (never 0, so erased pixels show), all values distinct."""
    g = _gen(1000 + seed)
    lq = 0.1 + 0.8 * torch.rand(n, c, h, w, generator=g, dtype=dtype)
    hq = 0.1 + 0.8 * torch.rand(n, c, h * scale, w * scale, generator=g, dtype=dtype)
    return lq, hq


def _rectangle(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) when the H×W boolean ``mask`` is exactly one filled rectangle, else None."""
    if not mask.any():
        return None
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    top, left, bottom, right = int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
    box = torch.zeros_like(mask)
    box[top:bottom, left:right] = True
    return (top, left, bottom - top, right - left) if torch.equal(box, mask) else None


# --- CutBlur (Eq. 4.1) ------------------------------------------------------------------------------------

def test_cutblur_never_changes_the_target_and_every_input_pixel_comes_from_lq_or_hq():
    lq, hq = _pair(n=2, h=24, w=24)
    hq_before, lq_before = hq.clone(), lq.clone()
    g, directions = _gen(1), []
    for _ in range(200):
        out = cutblur(lq, hq, alpha=0.7, generator=g)
        assert out.hq is hq and out.loss_mask is None and out.applied == "cutblur"
        from_lq, from_hq = (out.lq == lq).all(1), (out.lq == hq).all(1)  # per pixel, every channel
        assert bool((from_lq | from_hq).all()) and not bool((from_lq & from_hq).any())
        # the HQ pixels (HQ→LQ) or the LQ pixels (LQ→HQ) form the reported box, the same in every image
        pasted_hq = _rectangle(from_hq[0]) == out.box
        assert pasted_hq or _rectangle(from_lq[0]) == out.box
        assert torch.equal(from_hq[0], from_hq[1])
        directions.append(pasted_hq)
    assert torch.equal(hq, hq_before) and torch.equal(lq, lq_before)  # nothing modified in place
    assert abs(sum(directions) / len(directions) - 0.5) < 4 * math.sqrt(0.25 / len(directions))


@pytest.mark.parametrize("alpha", [0.7, 0.5])
def test_cutblur_mean_box_area_matches_alpha_squared(alpha):
    """The box side is ⌊(α + 0.01·N(0,1))·H⌋: the mean area is α² (≈ 0.49 at α = 0.7) within the floor's bias."""
    side = 96
    lq, hq = torch.zeros(1, 3, side, side), torch.ones(1, 3, side, side)
    g, areas, ratios = _gen(2), [], []
    for _ in range(300):
        out = cutblur(lq, hq, alpha=alpha, generator=g)
        box = _rectangle(out.lq[0, 0] == 1) or _rectangle(out.lq[0, 0] == 0)  # the measured rectangle
        assert box == out.box
        areas.append(box[2] * box[3] / side ** 2)
        ratios.append(box[2] / side)
    mean = sum(areas) / len(areas)
    assert abs(mean - alpha ** 2) < 2 * alpha / side + 0.002, mean
    spread = torch.tensor(ratios).std().item()
    assert 0.005 < spread < 0.02, spread  # the code's N(α, 0.01) side ratio, floored to whole pixels


def test_cutblur_refuses_two_sizes_and_to_hq_grid_is_nearest_neighbour():
    lq, hq = _pair(n=2, h=8, w=6, scale=4)
    with pytest.raises(CompanionError, match="needs LQ on the HQ grid.*to_hq_grid"):
        cutblur(lq, hq, alpha=0.7, generator=_gen())
    up = to_hq_grid(lq, (32, 24))
    assert up.shape == (2, 3, 32, 24)
    for dy in range(4):
        for dx in range(4):
            assert torch.equal(up[:, :, dy::4, dx::4], lq)
    assert to_hq_grid(lq, (8, 6)) is lq and to_hq_grid(lq[0], (16, 12)).shape == (3, 16, 12)
    out = cutblur(up, hq, alpha=0.7, generator=_gen())
    assert out.lq.shape == hq.shape


# --- Cutout -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.001, 0.02])
def test_cutout_drop_rate_matches_alpha(alpha):
    lq, hq = _pair(n=16, h=64, w=64)
    g, dropped, total = _gen(3), 0, 0
    for _ in range(20 if alpha < 0.01 else 4):
        out = cutout(lq, hq, alpha=alpha, generator=g)
        erased = (out.lq == 0).all(1, keepdim=True)
        assert out.hq is hq and out.applied == "cutout" and out.loss_mask.shape == (16, 1, 64, 64)
        assert torch.equal(out.loss_mask == 0, erased)  # the mask is 0 exactly on the erased pixels
        assert torch.equal(out.lq[~erased.expand_as(lq)], lq[~erased.expand_as(lq)])  # the others are untouched
        dropped, total = dropped + int(erased.sum()), total + erased.numel()
    rate = dropped / total
    assert abs(rate - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / total), rate


def test_cutout_pixels_are_out_of_the_loss():
    lq, hq = _pair(n=4, h=16, w=16)
    out = cutout(lq, hq, alpha=0.3, generator=_gen(4))
    loss = masked(F.l1_loss)
    prediction = hq + 0.05 * torch.randn(hq.shape, generator=_gen(5))
    base = loss(prediction, (out.hq, out.loss_mask))
    kept = out.loss_mask.bool().expand_as(hq)
    assert torch.allclose(base, (prediction - hq).abs()[kept].mean())
    spoiled = prediction.clone()
    spoiled[~kept] = 100.0  # anything at the erased pixels
    assert torch.equal(loss(spoiled, (out.hq, out.loss_mask)), base)
    n, c, y, x = kept.nonzero()[0].tolist()
    spoiled[n, c, y, x] += 1.0  # a kept pixel does count
    assert loss(spoiled, (out.hq, out.loss_mask)) > base
    assert loss(prediction, hq) == F.l1_loss(prediction, hq)  # a plain target: the unmasked loss


def test_cutout_on_a_larger_hq_grid_masks_whole_blocks():
    lq, hq = _pair(n=2, h=8, w=8, scale=4)
    out = cutout(lq, hq, alpha=0.2, generator=_gen(6))
    erased = (out.lq == 0).all(1, keepdim=True).float()
    assert erased.sum() > 0
    assert torch.equal(out.loss_mask, 1 - F.interpolate(erased, scale_factor=4, mode="nearest"))


# --- Mixup, Blend, RGB --------------------------------------------------------------------------------------

def _mix_weight(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """The least-squares λ with out ≈ λ·a + (1 − λ)·b, and the largest residual."""
    d = (a - b).flatten().double()
    lam = float(((out - b).flatten().double() @ d) / (d @ d))
    return lam, float((out.double() - (lam * a.double() + (1 - lam) * b.double())).abs().max())


def test_mixup_is_a_convex_combination_with_the_same_lambda_and_partner_for_lq_and_hq():
    lq, hq = _pair(n=4, h=6, w=6, scale=2)
    g, lambdas = _gen(7), []
    for _ in range(300):
        out = augments.mixup(lq, hq, alpha=1.2, generator=g)
        for i in range(4):
            fits = {j: _mix_weight(out.lq[i], lq[i], lq[j]) for j in range(4) if j != i}
            j = min(fits, key=lambda k: fits[k][1])
            lam, residual = fits[j]
            lam_hq, residual_hq = _mix_weight(out.hq[i], hq[i], hq[j])
            assert residual < 1e-5 and residual_hq < 1e-5 and abs(lam - lam_hq) < 1e-5
            assert -1e-6 <= lam <= 1 + 1e-6
        lambdas.append(lam)
    values = torch.tensor(lambdas)
    # Beta(1.2, 1.2): mean 1/2, variance 1 / (4 (2α + 1)) = 0.0735
    assert abs(values.mean().item() - 0.5) < 0.05 and abs(values.var().item() - 1 / (4 * 3.4)) < 0.02


def test_blend_is_a_convex_combination_with_a_constant_colour_shared_by_lq_and_hq():
    lq, hq = _pair(n=3, h=5, w=5, scale=3)
    g, weights = _gen(8), []
    for _ in range(200):
        out = augments.blend(lq, hq, alpha=0.6, generator=g)
        for i in range(3):
            # out = v·x + (1 − v)·c: v from the differences, c from the rest
            x, y = lq[i].double(), out.lq[i].double()
            xc, yc = x - x.mean((1, 2), keepdim=True), y - y.mean((1, 2), keepdim=True)
            v = float((xc * yc).sum() / (xc * xc).sum())
            colour_lq = (out.lq[i] - v * lq[i]) / (1 - v)
            colour_hq = (out.hq[i] - v * hq[i]) / (1 - v)
            assert 0.6 - 1e-4 <= v <= 1 + 1e-4
            assert colour_lq.amin() >= -1e-3 and colour_lq.amax() <= 1 + 1e-3
            tol = 1e-4 / max(1 - v, 1e-3)
            assert (colour_lq - colour_lq[:, :1, :1]).abs().max() < tol  # a constant image
            assert (colour_hq - colour_lq[:, :1, :1]).abs().max() < tol  # the same colour in HQ
        weights.append(v)
    assert abs(sum(weights) / len(weights) - 0.8) < 0.03  # v ~ U(0.6, 1)


def test_rgb_permutation_is_the_same_for_lq_and_hq_and_uniform():
    lq, hq = _pair(n=2, h=4, w=4, scale=2)
    g, seen = _gen(9), {}
    for _ in range(600):
        out = augments.rgb(lq, hq, generator=g)
        perm = tuple(next(k for k in range(3) if torch.equal(out.lq[:, c], lq[:, k])) for c in range(3))
        assert torch.equal(out.hq, hq[:, list(perm)])
        seen[perm] = seen.get(perm, 0) + 1
    assert len(seen) == 6 and all(abs(n / 600 - 1 / 6) < 4 * math.sqrt(5 / 36 / 600) for n in seen.values())


# --- CutMix, CutMixup -------------------------------------------------------------------------------------

@pytest.mark.parametrize("function", [cutmix, cutmixup])
def test_cutmix_and_cutmixup_boxes_coincide_in_lq_and_hq(function):
    lq = _pair(n=4, h=12, w=12)[0]
    hq = to_hq_grid(lq, (48, 48))  # HQ = LQ ×4 block-wise, so the changed pixels must match block-wise
    g, areas = _gen(10), []
    for _ in range(100):
        out = function(lq, hq, alpha=0.7, generator=g)
        changed_lq = (out.lq != lq).any(1)
        changed_hq = (out.hq != hq).any(1)
        assert torch.equal(changed_hq, F.interpolate(changed_lq[:, None].float(), scale_factor=4)[:, 0].bool())
        for i in range(4):
            box = _rectangle(changed_lq[i])
            inside = box is not None and tuple(4 * v for v in box) == out.box
            outside = _rectangle(~changed_lq[i])
            assert inside or (function is cutmixup and tuple(4 * v for v in outside) == out.box)
        areas.append(out.box[2] * out.box[3] / 48 ** 2)
    assert abs(sum(areas) / len(areas) - 0.49) < 2 * 0.7 / 12 + 0.01


def test_cutmix_takes_the_box_from_another_image_of_the_batch():
    lq, hq = _pair(n=5, h=10, w=10, scale=2)
    out = cutmix(lq, hq, alpha=0.6, generator=_gen(11))
    top, left, bh, bw = (v // 2 for v in out.box)
    region = (slice(None), slice(top, top + bh), slice(left, left + bw))
    partners = []
    for i in range(5):
        j = next(k for k in range(5) if torch.equal(out.lq[i][region], lq[k][region]))
        assert j != i and torch.equal(out.hq[i][:, 2 * top:2 * (top + bh), 2 * left:2 * (left + bw)],
                                      hq[j][:, 2 * top:2 * (top + bh), 2 * left:2 * (left + bw)])
        partners.append(j)
    assert sorted(partners) == list(range(5))  # a permutation


# --- MoA (§4.3.2) ----------------------------------------------------------------------------------------

def test_moa_frequencies_match_p_and_r():
    setting = Augmentation(names=AUGMENTATIONS, ratios=(1, 1, 1, 1, 1, 1, 4), prob=0.6,
                           alphas=tuple(DEFAULT_ALPHAS[n] for n in AUGMENTATIONS))
    lq, hq = _pair(n=2, h=4, w=4)
    g, draws, counts = _gen(12), 3000, {}
    for _ in range(draws):
        name = augment_batch(lq, hq, setting, generator=g).applied
        counts[name] = counts.get(name, 0) + 1
    expected = {"none": 0.4, **{n: 0.6 * (0.4 if n == "cutblur" else 0.1) for n in AUGMENTATIONS}}
    assert set(counts) == set(expected)
    for name, p in expected.items():
        assert abs(counts[name] / draws - p) < 4 * math.sqrt(p * (1 - p) / draws), (name, counts[name])


def test_none_and_prob_zero_leave_the_batch_as_it_is():
    lq, hq = _pair()
    for setting in (NONE, single("cutblur", prob=0.0)):
        out = augment_batch(lq, hq, setting, generator=_gen())
        assert out.applied == "none" and out.lq is lq and out.hq is hq and out.loss_mask is None


def test_presets_follow_the_thesis():
    assert {k: v.prob for k, v in PRESETS.items()} == {"sr": 1.0, "sr-small": 0.2, "restoration": 0.6, "realsr": 1.0}
    for preset in PRESETS.values():
        assert preset.names == AUGMENTATIONS and preset.alphas == tuple(DEFAULT_ALPHAS[n] for n in AUGMENTATIONS)
    assert len(set(PRESETS["sr"].ratios)) == 1
    realsr = dict(zip(AUGMENTATIONS, PRESETS["realsr"].ratios))
    assert realsr.pop("cutblur") / sum(PRESETS["realsr"].ratios) == pytest.approx(0.4)
    assert all(r / sum(PRESETS["realsr"].ratios) == pytest.approx(0.1) for r in realsr.values())


def test_settings_are_checked_described_and_round_trip_through_json():
    for setting in (*PRESETS.values(), NONE, single("rgb"), single("cutout", alpha=0.01, prob=0.5)):
        text = json.dumps(setting.as_dict())
        assert Augmentation.from_dict(json.loads(text)) == setting
        assert "\n" not in setting.describe()
    assert NONE.describe() == "no augmentation" and "cutblur" in single("cutblur").describe()
    assert PRESETS["sr"].needs_same_grid and not single("mixup").needs_same_grid
    assert PRESETS["sr"].masks_loss and not single("cutblur").masks_loss and not NONE.masks_loss
    bad = [dict(names=("cutblurr",), ratios=(1,), prob=1, alphas=(0.7,)),
           dict(names=("mixup", "mixup"), ratios=(1, 1), prob=1, alphas=(1.2, 1.2)),
           dict(names=("mixup",), ratios=(1, 2), prob=1, alphas=(1.2,)),
           dict(names=("mixup",), ratios=(0,), prob=1, alphas=(1.2,)),
           dict(names=("mixup",), ratios=(1,), prob=1.5, alphas=(1.2,)),
           dict(names=("cutout",), ratios=(1,), prob=1, alphas=(1.0,)),
           dict(names=("rgb",), ratios=(1,), prob=1, alphas=(0.5,)),
           dict(names=(), ratios=(), prob=1, alphas=())]
    for kwargs in bad:
        with pytest.raises(CompanionError) as info:
            Augmentation(**kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(CompanionError, match="unknown augmentation 'blur'"):
        single("blur")


def test_bad_batches_and_generators_are_refused():
    lq, hq = _pair(n=2, h=8, w=8, scale=2)
    with pytest.raises(CompanionError, match="draw on the CPU"):
        augment_batch(lq, hq, single("mixup"), generator=None)
    with pytest.raises(CompanionError, match="not an integer multiple"):
        augment_batch(lq, hq[..., :15], single("mixup"), generator=_gen())
    with pytest.raises(CompanionError, match="same batch size"):
        augment_batch(lq, hq[:1], single("mixup"), generator=_gen())
    with pytest.raises(CompanionError, match="floating-point N×C×H×W"):
        augment_batch(lq[0], hq[0], single("mixup"), generator=_gen())
    with pytest.raises(CompanionError, match="needs LQ on the HQ grid"):
        augment_batch(lq, hq, PRESETS["sr"], generator=_gen())  # CutBlur in the pool: one grid


# --- seeding, dtypes, devices ---------------------------------------------------------------------------------

def _all_draws(lq, hq, seed, device="cpu"):
    g = _gen(seed)
    lq, hq = lq.to(device), hq.to(device)
    outs = [augments.FUNCTIONS[n](lq, hq, alpha=DEFAULT_ALPHAS[n], generator=g) for n in AUGMENTATIONS]
    outs += [augment_batch(lq, hq, PRESETS["sr"], generator=g) for _ in range(20)]
    return outs


def _same(a, b, exact=True):
    close = (lambda x, y: torch.equal(x, y)) if exact else (lambda x, y: torch.allclose(x, y, atol=1e-6))
    return (a.applied == b.applied and a.box == b.box and close(a.lq.cpu(), b.lq.cpu())
            and close(a.hq.cpu(), b.hq.cpu())
            and (a.loss_mask is None) == (b.loss_mask is None)
            and (a.loss_mask is None or torch.equal(a.loss_mask.cpu(), b.loss_mask.cpu())))


def test_a_seed_reproduces_every_draw_and_another_seed_differs():
    lq, hq = _pair(n=4, h=16, w=16)
    first, again, other = _all_draws(lq, hq, 13), _all_draws(lq, hq, 13), _all_draws(lq, hq, 14)
    assert all(_same(a, b) for a, b in zip(first, again))
    assert sum(_same(a, b) for a, b in zip(first, other)) < len(first) // 4


def test_float64_and_float32_batches_get_the_same_draws():
    lq, hq = _pair(n=4, h=16, w=16, dtype=torch.float64)
    wide, narrow = _all_draws(lq, hq, 15), _all_draws(lq.float(), hq.float(), 15)
    for a, b in zip(wide, narrow):
        assert a.lq.dtype == torch.float64 and b.lq.dtype == torch.float32 and a.applied == b.applied
        assert a.box == b.box and torch.allclose(a.lq.float(), b.lq, atol=1e-6)
        assert torch.allclose(a.hq.float(), b.hq, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine: the CPU/CUDA agreement "
                                                          "is checked where one is available")
def test_cuda_batches_get_the_same_draws_as_cpu_batches():
    lq, hq = _pair(n=4, h=16, w=16)
    on_cpu, on_cuda = _all_draws(lq, hq, 16), _all_draws(lq, hq, 16, device="cuda")
    for a, b in zip(on_cpu, on_cuda):
        assert b.lq.device.type == "cuda" and _same(a, b, exact=a.applied in ("rgb", "cutout", "cutmix", "cutblur"))


# --- the benchmark script's smoke path ------------------------------------------------------------------------

def test_the_cost_benchmark_runs_on_a_tiny_batch(tmp_path, capsys):
    bench = load_script(REPO / "benchmarks" / "augment_cost.py")
    out = tmp_path / "cost.json"
    assert bench.main(["--batch", "2", "--patch", "6", "--repeats", "1", "--inner", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| augmentation" in text and "CPU:" in text and "avx2" in text
    results = json.loads(out.read_text())
    rows = results["augmentations"]
    assert set(AUGMENTATIONS) | {f"MoA {k} (p {v.prob:g})" for k, v in PRESETS.items()} <= set(rows)
    assert results["hq_batch"] == [2, 3, 24, 24] and len(results["carn_step"]["seconds"]) == 1
    for row in rows.values():
        assert row["share_of_step"] == pytest.approx(row["median_ms"] / 1e3 / results["carn_step"]["median_seconds"])
    with pytest.raises(SystemExit):
        bench.arguments(["--inner", "0"])
