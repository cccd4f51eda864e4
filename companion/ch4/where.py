"""``04c_where_to_restore`` (thesis §4.4.2, §4.5.2, Table 4.7, Figs. 4.5 and 4.9): where the models restore, on
a real pair, on milder noise than they were trained for, and inside MEPSNet (Chapter 7) when MoA joins its
training.

* **The real pair** (:func:`real_pair_deltas`): RealSR v1's Canon_003 (×4; the LR image registered onto the HR
  grid by its authors; found by :func:`companion.ch4.frequencies.realsr_pair`), fed to 04b's ×4 same-grid EDSR
  models (baseline and CutBlur, ``spec.frequency``; :func:`companion.ch4.runs.trained_model`) twice: the real LR
  image as it is, and a CutBlurred version (:func:`companion.ch4.frequencies.cutblurred`: the HR image inside a
  centred box, the LR image outside). Δ = |output − HR| in 8-bit levels (mean over RGB), the thesis' Fig. 4.5
  map, averaged inside and outside the box; PSNR under the SR protocol (Y, border 4, 8-bit). The verdicts pair
  seeds × :data:`REAL_TILES` tiles of the one photograph (the tiles stand in for images: they share the camera
  and the scene, so the interval says less than one over separate photographs would).
* **Fig. 4.9 / Table 4.7** (:func:`denoise_results`): the scale-1 EDSR trained on Gaussian noise of σ = 70
  without and with MoA (p = 0.6, §4.3.2; ``spec.denoise_baseline`` / ``spec.denoise_moa``), tested at every σ of
  ``spec.test_sigmas`` (70, 50 and the caption's 30) on the held-out photographs' centre crops, each image with
  its own seeded noise (:func:`noisy_copy`), the same for both models. Per seed × image: RGB PSNR
  (:func:`companion.metrics.psnr`), RGB SSIM (:func:`companion.metrics.ssim`) and the high-frequency excess of
  the output over the clean image (:func:`companion.ch4.frequencies.hf_excess`: mean log10 of the PSD ratio over
  0.25-0.5 cycles/px; negative = smoother than the clean image), the thesis' "over-smoothing" made a number.
* **MoA in MEPSNet** (:func:`mepsnet_results`; in no paper): Chapter 7's MEPSNet trained on SHDD with the
  Chapter 7 spec ``spec.ch7_notebook`` / ``spec.ch7_profile`` (same data, steps and seeds), once as Chapter 7
  trains it (from Chapter 7's zoo when current) and once with MoA (``spec.moa_preset``: p = 0.6, the thesis'
  setting for restoration) applied to every batch (:func:`companion.ch7.training.train_variant` with
  ``augmentation=``; zoo group :data:`MOA_ZOO_GROUP`). Scored on the SHDD test split of each level
  (:func:`companion.ch7.experiments.evaluate_levels`), and what the experts do
  (:func:`companion.ch7.expert_analysis.expert_responses`: each expert's mean |activation| inside each
  distortion's regions over its mean on the image) with one number per image, the **selectivity**
  (:func:`selectivity`: the mean over experts of the spread, max − min, of that ratio across the types present).

Every claim is judged on paired scores over seeds and images with :func:`companion.summary.check_claims`.
"""
from __future__ import annotations

import hashlib

import numpy as np
from tqdm.auto import tqdm

from companion.ch4.config import WhereSpec
from companion.ch4.frequencies import cutblurred, delta_maps, hf_excess, load_models, realsr_pair, seeds_of
from companion.ch4.runs import apply, test_images, trained_model
from companion.ch4.zoo import MOA_ZOO_GROUP
from companion.ch7.datasets import SHDDEval
from companion.ch7.experiments import evaluate_levels
from companion.ch7.expert_analysis import expert_responses
from companion.ch7.training import shdd_root, train_variant
from companion.ch7.variants import analysis_variant
from companion.data.augments import PRESETS
from companion.errors import CompanionError
from companion.metrics import psnr, sr_psnr, ssim
from companion.profiles import config_for
from companion.summary import check_claims, markdown_table, mean_std, pm as _pm_always
from companion.zoo import weights_text

#: Where the zoo holds MEPSNet trained with MoA (:class:`companion.ch7.training.AugmentedVariantSpec`'s group).
#: The real pair's verdicts pair seeds with this grid of tiles (rows, columns) of the one photograph.
REAL_TILES = (2, 2)
#: The Δ maps and the differences of Δ are in 8-bit levels.
LEVELS = 255.0
#: The test σ of Fig. 4.9 ("trained using σ = 70, tested with σ = 50").
FIGURE_SIGMA = 50.0
KINDS = {"baseline": "EDSR", "moa": "EDSR +MoA"}


def pm(ms: tuple[float, float], digits: int = 2) -> str:
    """``"mean ± std"`` over seeds, or the value alone when one seed gave it (std exactly 0)."""
    return f"{ms[0]:.{digits}f}" if ms[1] == 0 else _pm_always(ms, digits)


# --------------------------------------------------------------------------------------------------------
# The real pair: where 04b's models restore a real LR image, and a CutBlurred one.


def quadrants(shape, tiles=REAL_TILES) -> list[tuple[slice, slice]]:
    """The (rows, columns) slices of a ``tiles`` grid over an image of ``shape`` (the last tiles take the rest)."""
    h, w = shape[:2]
    rows, cols = tiles
    ys = [h * i // rows for i in range(rows + 1)]
    xs = [w * j // cols for j in range(cols + 1)]
    return [(slice(ys[i], ys[i + 1]), slice(xs[j], xs[j + 1])) for i in range(rows) for j in range(cols)]


def real_cutblurred(pair: dict, scale: int) -> tuple[np.ndarray, tuple]:
    """(the real LR image with the HR image pasted inside the centred box of
    :func:`companion.ch4.frequencies.cutblurred`, the box (top, left, height, width)): Eq. 4.1's x̂_HQ→LQ with the
    camera's own LR image outside the box."""
    _, _, box = cutblurred(pair["hr"], scale)
    top, left, bh, bw = box
    image = pair["lr"].copy()
    image[top:top + bh, left:left + bw] = pair["hr"][top:top + bh, left:left + bw]
    return image, box


def _region_means(delta: np.ndarray, inside: np.ndarray) -> dict[str, list[float]]:
    out = {"inside": [], "outside": []}
    for rows, cols in quadrants(delta.shape):
        d, m = delta[rows, cols], inside[rows, cols]
        out["inside"].append(float(d[m].mean()) if m.any() else float("nan"))
        out["outside"].append(float(d[~m].mean()) if (~m).any() else float("nan"))
    return out


def real_inputs(spec: WhereSpec, *, seed0: int = 0, device="cpu", work_dir=None, progress: bool = True):
    """(04b's models, the real pair) for :func:`real_pair_deltas`, or (None, the reason) when the pair is not on
    this machine (:func:`companion.ch4.frequencies.realsr_pair`'s one-line error): the notebook then skips it."""
    try:
        pair = realsr_pair(spec.frequency)
    except CompanionError as exc:
        return None, str(exc)
    models = load_models(spec.frequency, seeds_of(spec.frequency, seed0), device=device, work_dir=work_dir,
                         progress=progress)
    return models, pair


def real_pair_deltas(spec: WhereSpec, models: dict, pair: dict) -> dict:
    """04b's models (``models``: :func:`companion.ch4.frequencies.load_models`) on the real pair, fed the real LR
    image and its CutBlurred version (:func:`real_cutblurred`). Per model kind, seeds × :data:`REAL_TILES` tiles:
    ``real_psnr`` (the output of the real LR image against HR, SR protocol, per tile), ``inside`` / ``outside``
    (the mean Δ = |output − HR| of the CutBlurred input inside / outside the box, per tile, 8-bit levels). Also the
    LR image's own tile PSNRs and Δ, the box, and seed 0's outputs and Δ maps for the figure."""
    scale = spec.frequency.baseline.recipe.scale
    hr, lr = pair["hr"], pair["lr"]
    mixed, box = real_cutblurred(pair, scale)
    inside = np.zeros(hr.shape[:2], dtype=bool)
    top, left, bh, bw = box
    inside[top:top + bh, left:left + bw] = True
    tiles = quadrants(hr.shape)
    lr_delta = delta_maps(lr, lr, hr)[1]
    out = {"box": box, "tiles": len(tiles), "folder": pair["folder"], "shape": list(hr.shape[:2]),
           "lr": {"real_psnr": [sr_psnr(lr[r, c], hr[r, c], scale) for r, c in tiles],
                  **_region_means(delta_maps(mixed, mixed, hr)[1], inside)},
           "figure": {"hr": hr, "lr": lr, "mixed": mixed, "lr_delta": lr_delta}, "scores": {}, "sources": {}}
    for kind, entries in models.items():
        scores = {"real_psnr": [], "inside": [], "outside": []}
        for index, (_, model, record) in enumerate(entries):
            from_lr, from_mixed = apply(model, lr), apply(model, mixed)
            scores["real_psnr"].append([sr_psnr(from_lr[r, c], hr[r, c], scale) for r, c in tiles])
            delta_lr, delta_mixed = delta_maps(from_lr, lr, hr)[1], delta_maps(from_mixed, mixed, hr)[1]
            regions = _region_means(delta_mixed, inside)
            scores["inside"].append(regions["inside"])
            scores["outside"].append(regions["outside"])
            if index == 0:
                out["figure"][kind] = {"output": from_lr, "delta_lr": delta_lr, "delta_mixed": delta_mixed}
        out["scores"][kind] = scores
        out["sources"][kind] = [record.source for _, _, record in entries]
    return out


def real_claims(real: dict) -> list[dict]:
    """On the real pair, over seeds × tiles: the CutBlur model restores the real LR image better than the
    baseline (PSNR); on the CutBlurred input it leaves less error than the baseline inside the HR box and
    outside it (Fig. 4.5: "not only resolves the HR region but also reduces Δ of the other LR area")."""
    s = real["scores"]
    psnr_claim = check_claims([("Figure 4.5", "On the real pair, the CutBlur model restores the real LR image "
                                              "better than the baseline",
                                s["cutblur"]["real_psnr"], s["baseline"]["real_psnr"])])
    delta_claims = check_claims([("Figure 4.5", f"On the real CutBlurred input, the CutBlur model leaves less error "
                                                f"{where} the HR box than the baseline",
                                  -np.asarray(s["cutblur"][where]), -np.asarray(s["baseline"][where]))
                                 for where in ("inside", "outside")], unit="levels")
    return psnr_claim + delta_claims


def real_summary(real: dict) -> dict:
    """``{kind: {"real_psnr"|"inside"|"outside": (mean, std) over seeds of the tile mean}}`` and the LR image's
    own tile means under ``"lr"``."""
    out = {kind: {k: mean_std(np.nanmean(np.asarray(v, dtype=float), axis=1)) for k, v in scores.items()}
           for kind, scores in real["scores"].items()}
    out["lr"] = {k: (float(np.nanmean(v)), 0.0) for k, v in real["lr"].items()}
    return out


def real_text(summary: dict) -> str:
    """The real pair's numbers as Markdown: PSNR of the real LR image's restoration, Δ inside and outside the box."""
    labels = {"lr": "the LR input itself", "baseline": "EDSR (baseline)", "cutblur": "EDSR + CutBlur"}
    rows = [[labels[k], pm(v["real_psnr"]), pm(v["inside"]), pm(v["outside"])] for k, v in summary.items()
            if k in labels]
    return markdown_table(["real pair (Canon_003, x4)", "PSNR of the real LR, restored (dB, Y)",
                           "Δ inside the HR box (8-bit)", "Δ outside (8-bit)"], rows)


def record_real(run, spec: WhereSpec, real: dict, summary: dict, claims: list[dict]) -> None:
    """Record the real pair's numbers beside Figure 4.5 (Δ maps; the thesis prints none), with the protocol."""
    proto = (f"RealSR v1 Canon_003 x4 ({real['shape'][1]}x{real['shape'][0]} px centre crop; {real['folder']}), 04b's "
             f"{spec.frequency.baseline.size}-size EDSR trained on bicubic x4 (embedded photographs, not RealSR); "
             "PSNR under the SR protocol (Y, border 4, 8-bit) per tile; Δ = |output − HR| mean over RGB, 8-bit levels; "
             f"{real['tiles']} tiles × {len(real['scores']['baseline']['real_psnr'])} seed(s)")
    for kind, cells in summary.items():
        label = {"lr": "LR input", "baseline": "EDSR (baseline)", "cutblur": "EDSR + CutBlur"}[kind]
        for key, what in (("real_psnr", "psnr of the real LR restored"), ("inside", "delta inside the box"),
                          ("outside", "delta outside the box")):
            run.record(f"real_pair/{label}/{what}", pm(cells[key]), entry="Figure 4.5", protocol=proto,
                       note="" if kind == "lr" else weights_text(real["sources"][kind]))
    for c in claims:
        run.record(f"claim/{c['claim']}", c["verdict"], entry="Figure 4.5", note=c["detail"])


# --------------------------------------------------------------------------------------------------------
# Fig. 4.9 and Table 4.7: trained on heavy noise, tested on milder noise.


def noise_seed(name: str, sigma: float) -> int:
    """The seed of the noise added to test image ``name`` at ``sigma``: a hash of both, so every image gets its
    own noise and every model the same noisy image."""
    return int.from_bytes(hashlib.blake2b(f"noise:{name}:{sigma:g}".encode(), digest_size=4).digest(), "little")


def noisy_copy(clean: np.ndarray, sigma: float, name: str) -> np.ndarray:
    """``clean`` + Gaussian noise of σ = ``sigma`` (0-255 scale), seeded by :func:`noise_seed`, clipped to [0, 1]."""
    rng = np.random.default_rng(noise_seed(name, sigma))
    return np.clip(clean + rng.normal(0.0, sigma / 255.0, clean.shape), 0.0, 1.0).astype(np.float32)


def denoise_scores(model, images: dict[str, np.ndarray], sigma: float) -> dict[str, dict]:
    """``{image: {"psnr", "ssim", "hf_excess", "input_psnr"}}`` of a denoiser at noise ``sigma`` (RGB metrics,
    no border)."""
    out = {}
    for name, clean in images.items():
        noisy = noisy_copy(clean, sigma, name)
        restored = apply(model, noisy)
        out[name] = {"psnr": psnr(restored, clean), "ssim": ssim(restored, clean),
                     "hf_excess": float(hf_excess(restored, clean)), "input_psnr": psnr(noisy, clean)}
    return out


def denoise_results(spec: WhereSpec, *, device="cpu", work_dir=None, progress: bool = True) -> dict:
    """The baseline and the MoA denoiser, ``spec.seeds`` seeds each (from the zoo when current), scored at every
    σ of ``spec.test_sigmas``. Returns ``{"images": [...], "sigmas": [...], "baseline"|"moa": [per seed {"seed",
    "scores": {sigma: {image: {...}}}, "steps", "seconds", "source"}]}``; also ``models``: seed 0's two models
    (for the figure)."""
    images = test_images(spec.denoise_baseline, spec.eval_crop)
    out = {"images": list(images), "sigmas": [float(s) for s in spec.test_sigmas], "models": {}}
    jobs = [(kind, run, seed) for seed in range(spec.seeds)
            for kind, run in (("baseline", spec.denoise_baseline), ("moa", spec.denoise_moa))]
    bar = tqdm(jobs, desc="Fig. 4.9: denoisers, train or load, score", unit="model", disable=not progress)
    for kind, run, seed in bar:
        bar.set_postfix_str(f"{KINDS[kind]} seed {seed}")
        model, trained = trained_model(run, seed, use_zoo=spec.use_zoo, work_dir=work_dir, progress=False,
                                       device=device)
        scores = {float(s): denoise_scores(model, images, float(s)) for s in spec.test_sigmas}
        out.setdefault(kind, []).append(dict(seed=seed, scores=scores, steps=trained.steps,
                                             seconds=round(trained.seconds, 1), source=trained.source))
        if seed == 0:
            out["models"][kind] = model
    return out


def denoise_grid(results: dict, kind: str, sigma: float, metric: str) -> np.ndarray:
    """Seeds × images of one metric at one σ."""
    return np.array([[s["scores"][sigma][name][metric] for name in results["images"]] for s in results[kind]])


def sigma_column(sigma: float, metric: str) -> str | None:
    """Table 4.7's Kodak24 column for a test σ (trained at 70), or None where it has none (σ = 30)."""
    return f"Kodak24 sigma70->{sigma:g} {metric.upper()}" if sigma in (70.0, 50.0) else None


def denoise_summary(results: dict) -> dict:
    """``{sigma: {kind: {"psnr"|"ssim"|"hf_excess": (mean, std) over seeds of the image mean}, "input_psnr"}}``."""
    out = {}
    for sigma in results["sigmas"]:
        out[sigma] = {"input_psnr": float(np.mean(denoise_grid(results, "baseline", sigma, "input_psnr")))}
        for kind in KINDS:
            out[sigma][kind] = {m: mean_std(denoise_grid(results, kind, sigma, m).mean(axis=1))
                                for m in ("psnr", "ssim", "hf_excess")}
    return out


def denoise_claims(results: dict) -> list[dict]:
    """At every test σ: MoA beats the baseline in PSNR, in SSIM, and keeps more high frequencies (a higher
    :func:`companion.ch4.frequencies.hf_excess`: the baseline over-smooths, Fig. 4.9), each over seeds × images.
    Each dict also carries ``sigma`` and ``metric``."""
    out = []
    for sigma in results["sigmas"]:
        for metric, what, unit in (("psnr", "PSNR", "dB"), ("ssim", "SSIM", "SSIM"),
                                 ("hf_excess", "high frequencies kept", "log10")):
            entry = "Figure 4.9" if metric == "hf_excess" else "Table 4.7"
            [checked] = check_claims([(entry, f"MoA beats the baseline denoiser in {what} at sigma 70 -> {sigma:g}",
                                       denoise_grid(results, "moa", sigma, metric),
                                       denoise_grid(results, "baseline", sigma, metric))], unit=unit)
            out.append(dict(checked, sigma=sigma, metric=metric))
    return out


def denoise_text(summary: dict) -> str:
    """PSNR / SSIM / HF excess per test σ of both denoisers, as Markdown."""
    rows = []
    for sigma, cells in summary.items():
        for kind, label in KINDS.items():
            c = cells[kind]
            rows.append([f"70 -> {sigma:g}", label, pm(c["psnr"]), pm(c["ssim"], 4), pm(c["hf_excess"], 3),
                         f"{cells['input_psnr']:.2f}"])
    return markdown_table(["sigma (train -> test)", "model", "PSNR (dB, RGB)", "SSIM", "HF excess (log10)",
                           "noisy input PSNR"], rows)


def figure_crops(results: dict, spec: WhereSpec, image: str, side: int = 96) -> dict:
    """Fig. 4.9's panels for ``image`` at :data:`FIGURE_SIGMA` (or the nearest test σ): the clean crop, the noisy
    crop, each seed-0 model's output crop, and each whole image's PSNR / SSIM; the crop is the ``side``-px window
    of the highest gradient energy (where over-smoothing shows)."""
    images = test_images(spec.denoise_baseline, spec.eval_crop)
    if image not in images:
        image = next(iter(images))
    sigma = min(results["sigmas"], key=lambda s: abs(s - FIGURE_SIGMA))
    clean = images[image]
    noisy = noisy_copy(clean, sigma, image)
    outputs = {kind: apply(results["models"][kind], noisy) for kind in KINDS}
    top, left = _busiest_window(clean, side)

    def cut(a):
        return a[top:top + side, left:left + side]

    panels = {"clean": cut(clean), "noisy": cut(noisy), **{k: cut(v) for k, v in outputs.items()}}
    scores = {"noisy": (psnr(noisy, clean), ssim(noisy, clean)),
              **{k: (psnr(v, clean), ssim(v, clean)) for k, v in outputs.items()}}
    return {"image": image, "sigma": sigma, "box": (top, left, side), "panels": panels, "scores": scores}


def _busiest_window(image: np.ndarray, side: int) -> tuple[int, int]:
    grey = image.mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1]
    side = min(side, *grey.shape)
    best, where = -1.0, (0, 0)
    step = max(1, side // 4)
    for top in range(0, grey.shape[0] - side + 1, step):
        for left in range(0, grey.shape[1] - side + 1, step):
            e = float(energy[top:top + side - 1, left:left + side - 1].mean())
            if e > best:
                best, where = e, (top, left)
    return where


def record_denoise(run, spec: WhereSpec, results: dict, summary: dict, claims: list[dict]) -> None:
    """Record Table 4.7's denoising rows (EDSR, EDSR +MoA) per test σ, PSNR and SSIM: under the row, without a
    cell (the held-out photographs are not Kodak24); each claim's verdict."""
    recipe = spec.denoise_baseline.recipe
    t = recipe.train
    proto = (f"held-out embedded photographs {', '.join(results['images'])} ({spec.eval_crop}-px centre crops), "
             "Gaussian noise of the test sigma on the 0-255 scale (seeded per image, the same for both models), RGB "
             f"PSNR / SSIM, no border; {spec.denoise_baseline.size}-size scale-1 EDSR trained at sigma 70 for "
             f"{t.steps:,} steps, batch {t.batch_size}, {recipe.patch}-px patches, {recipe.loss.upper()}; MoA p 0.6; "
             f"{spec.seeds} seed(s)")
    for sigma, cells in summary.items():
        for kind, row in KINDS.items():
            sources = [s["source"] for s in results[kind]]
            for metric in ("psnr", "ssim"):
                digits = 2 if metric == "psnr" else 4
                run.record(f"table4_7/sigma70->{sigma:g}/{row}/{metric}", pm(cells[kind][metric], digits),
                           entry="Table 4.7", row=row, column=None, protocol=proto,
                           note=f"the paper's column: {sigma_column(sigma, metric) or 'none (the caption says 70 -> 30)'}"
                                f" on Kodak24; ours on the embedded photographs; noisy input {cells['input_psnr']:.2f} dB; "
                                f"HF excess {pm(cells[kind]['hf_excess'], 3)}; {weights_text(sources)}")
    for c in claims:
        run.record(f"claim/{c['claim']}", c["verdict"], entry="Figure 4.9" if c["metric"] == "hf_excess" else
                   "Table 4.7", note=c["detail"])


def record_crops(run, crops: dict) -> list[str]:
    """Record Fig. 4.9's whole-image scores (the thesis prints PSNR / SSIM under each panel); one line each."""
    lines = []
    for kind, (p, s) in crops["scores"].items():
        label = {"noisy": f"noisy (sigma {crops['sigma']:g})", **KINDS}[kind]
        run.record(f"figure4_9/{crops['image']}/{label}", f"{p:.2f} / {s:.4f}", entry="Figure 4.9",
                   note="PSNR / SSIM (RGB) of the whole test crop, seed-0 models; the paper's figure shows one "
                        "Kodak24-like image at sigma 50")
        lines.append(f"{label:<22s} {p:6.2f} dB / {s:.4f}")
    return lines


# --------------------------------------------------------------------------------------------------------
# MoA in MEPSNet's training (Chapter 7's SHDD).


def ch7_spec(spec: WhereSpec):
    """The Chapter 7 experiment spec MEPSNet trains with (``spec.ch7_notebook`` at ``spec.ch7_profile``)."""
    return config_for(spec.ch7_notebook, spec.ch7_profile)


def selectivity(responses: dict[str, dict]) -> float:
    """How differently the experts respond to the distortion types of one image: for each expert the spread
    (max − min) of its response ratio across the types present, averaged over the experts (0: every expert
    responds alike to every type; NaN with fewer than two types)."""
    ratios = np.array([v["ratios"] for v in responses.values()], dtype=float)  # types × experts
    if ratios.shape[0] < 2:
        return float("nan")
    return float(np.mean(ratios.max(axis=0) - ratios.min(axis=0)))


def expert_items(root, cfg, limit: int = 0) -> list[dict]:
    """The SHDD test images of the training level (the first ``cfg.eval_versions`` versions of each photograph),
    at most ``limit`` (0: all)."""
    dataset = SHDDEval(root, level=cfg.train_level, split="test", versions=cfg.eval_versions or None)
    count = len(dataset) if not limit else min(limit, len(dataset))
    if not count:
        raise CompanionError(f"no SHDD test images under {root}; build SHDD first (notebook 07a_shdd)")
    return [dataset[i] for i in range(count)]


def _expert_scores(model, items, device) -> dict:
    """Each item's responses and selectivity, and the responses pooled over the items the way
    :func:`companion.ch7.expert_analysis.expert_responses` pools them (each type's ratios averaged over the items
    that contain it), from one pass per item."""
    per_item = [expert_responses(model, [item], device) for item in items]
    order = list(dict.fromkeys(t for r in per_item for t in r))
    pooled = {t: {"ratios": np.mean([r[t]["ratios"] for r in per_item if t in r], axis=0).tolist(),
                  "n_images": sum(t in r for r in per_item)} for t in order}
    return {"selectivity": [selectivity(r) for r in per_item], "responses": pooled}


def mepsnet_results(run, spec: WhereSpec, *, progress: bool = True, expert_limit: int = 0) -> dict:
    """Chapter 7's MEPSNet without and with MoA, ``spec.seeds`` seeds each (seeds ``run.seed`` + i, as Chapter 7
    numbers them; from the zoo when current), scored on every SHDD level of the Chapter 7 spec and analysed
    expert by expert on the training level's test images. Returns ``{"levels", "images", "baseline"|"moa": [per
    seed {"seed", "levels": {level: evaluate_shdd result}, "selectivity": [per image], "responses", "steps",
    "seconds", "source"}], "moa_setting"}``."""
    cfg = ch7_spec(spec)
    if spec.moa_preset not in PRESETS:
        raise CompanionError(f"unknown MoA preset {spec.moa_preset!r}; choose one of {', '.join(PRESETS)}")
    augmentation = PRESETS[spec.moa_preset]
    root = shdd_root(run, cfg, progress=progress)
    items = expert_items(root, cfg, expert_limit)
    variant = analysis_variant()
    out = {"levels": list(cfg.eval_levels), "images": [it["name"] for it in items],
           "moa_setting": augmentation.describe(), "train_level": cfg.train_level}
    jobs = [(kind, run.seed + i) for i in range(spec.seeds) for kind in ("baseline", "moa")]
    bar = tqdm(jobs, desc="MEPSNet +MoA: train or load, evaluate", unit="model", disable=not progress)
    for kind, seed in bar:
        bar.set_postfix_str(f"{kind} seed {seed}")
        extra = {} if kind == "baseline" else {"augmentation": augmentation, "zoo_group": MOA_ZOO_GROUP}
        model, trained = train_variant(run, variant, cfg, seed, root, progress=False, use_zoo=spec.use_zoo, **extra)
        model = model.to(run.device).eval()
        levels = evaluate_levels(model, root, cfg, run.device)
        out.setdefault(kind, []).append(dict(seed=seed, levels=levels, steps=trained.steps_done,
                                             seconds=round(trained.seconds, 1), source=trained.source,
                                             **_expert_scores(model, items, run.device)))
    return out


def shdd_grid(results: dict, kind: str, level: str) -> np.ndarray:
    """Seeds × test images PSNR on one SHDD level."""
    return np.array([[float(r["psnr"]) for r in s["levels"][level]["per_image"]] for s in results[kind]])


def selectivity_grid(results: dict, kind: str) -> np.ndarray:
    return np.array([s["selectivity"] for s in results[kind]], dtype=float)


def mepsnet_claims(results: dict) -> list[dict]:
    """MoA in MEPSNet's training beats Chapter 7's MEPSNet on each SHDD level (PSNR), and makes its experts more
    type-selective (:func:`selectivity`), each over seeds × test images."""
    items = [("MoA in MEPSNet", f"MEPSNet trained with MoA beats Chapter 7's MEPSNet on SHDD {level}",
              shdd_grid(results, "moa", level), shdd_grid(results, "baseline", level)) for level in results["levels"]]
    items.append(("MoA in MEPSNet", "MoA makes MEPSNet's experts more selective between distortion types",
                  selectivity_grid(results, "moa"), selectivity_grid(results, "baseline")))
    return check_claims(items[:-1]) + check_claims(items[-1:], unit="ratio")


def mepsnet_summary(results: dict) -> dict:
    """``{level: {kind: (mean, std) PSNR over seeds}, "input": input PSNR}``, the selectivity (mean, std over
    seeds of the image mean) and the pooled response ratios averaged over seeds (``{kind: {type: [per expert]}}``)."""
    out = {"levels": {}, "selectivity": {}, "responses": {}}
    for level in results["levels"]:
        cells = {kind: mean_std(shdd_grid(results, kind, level).mean(axis=1)) for kind in ("baseline", "moa")}
        cells["input"] = float(results["baseline"][0]["levels"][level]["input_psnr"])
        out["levels"][level] = cells
    for kind in ("baseline", "moa"):
        out["selectivity"][kind] = mean_std(np.nanmean(selectivity_grid(results, kind), axis=1))
        types = list(results[kind][0]["responses"])
        out["responses"][kind] = {t: np.mean([s["responses"][t]["ratios"] for s in results[kind]
                                              if t in s["responses"]], axis=0).tolist() for t in types}
    return out


def mepsnet_text(summary: dict) -> str:
    """PSNR per SHDD level and the experts' selectivity, both models, as Markdown."""
    rows = [[level, f"{c['input']:.2f}", pm(c["baseline"]), pm(c["moa"])] for level, c in summary["levels"].items()]
    rows.append(["expert selectivity (ratio spread)", "—", pm(summary["selectivity"]["baseline"], 3),
                 pm(summary["selectivity"]["moa"], 3)])
    return markdown_table(["SHDD test level", "input PSNR", "MEPSNet (Ch. 7)", "MEPSNet + MoA"], rows)


def record_mepsnet(run, spec: WhereSpec, results: dict, summary: dict, claims: list[dict]) -> None:
    """Record the MEPSNet experiment (no paper entry: it is in no paper) with its protocol and sources."""
    cfg = ch7_spec(spec)
    t = cfg.train
    proto = (f"Chapter 7's {spec.ch7_notebook} spec at its {spec.ch7_profile} profile: {cfg.size}-size MEPSNet, "
             f"{t.steps:,} steps, batch {t.batch_size} of {cfg.patch_size}-px patches, {cfg.loss.upper()}, trained "
             f"on SHDD {cfg.train_level}; MoA: {results['moa_setting']}; SHDD test split, RGB PSNR; "
             f"{len(results['baseline'])} seed(s)")
    for level, cells in summary["levels"].items():
        for kind, label in (("baseline", "MEPSNet"), ("moa", "MEPSNet +MoA")):
            run.record(f"mepsnet_moa/{level}/{label}/psnr", pm(cells[kind]), protocol=proto,
                       note=f"input {cells['input']:.2f} dB; {weights_text([s['source'] for s in results[kind]])}")
    for kind, label in (("baseline", "MEPSNet"), ("moa", "MEPSNet +MoA")):
        run.record(f"mepsnet_moa/experts/{label}/selectivity", pm(summary["selectivity"][kind], 3), protocol=proto,
                   note="mean over experts of the spread (max - min over the distortion types present) of the "
                        "response ratio (companion.ch7.expert_analysis.expert_responses), per test image")
    for c in claims:
        run.record(f"claim/{c['claim']}", c["verdict"], note=c["detail"])
