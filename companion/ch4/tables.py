"""Tables 4.2 and 4.3 of thesis Chapter 4 at the profile's scale, what Tables 4.4–4.10 need, and the ledger
records of ``04d_augmentation_tables`` (thesis §4.4.1, §4.4.3, §4.4.4, §4.5).

* **Table 4.2** (§4.4.1): EDSR trained with each augmentation of Table 4.1 alone and with MoA
  (:meth:`companion.ch4.config.TablesSpec.table_4_2_runs`); **Table 4.3** (§4.4.4): SRCNN, CARN, RCAN and EDSR
  on fractions of the training data, without and with MoA (p = 0.2 for SRCNN and CARN, 1.0 for the others:
  :func:`companion.ch4.config.moa_preset`; :meth:`~companion.ch4.config.TablesSpec.table_4_3_runs`). A run that
  both tables name (EDSR at 100 %, baseline and MoA) is trained once (:func:`unique_jobs`).
* **Training and scores** (:func:`train_and_score`): every run × seed through
  :func:`companion.ch4.runs.trained_model` (the zoo's model when it holds this exact run, else trained), then
  scored on the profile's test set (:func:`evaluation_sets`: the held-out embedded photographs' centre crops in
  the quick profile, DIV2K's 100 validation images when the models train on DIV2K) under the SR protocol
  (:func:`companion.metrics.sr_scores`: Y channel, a border of the scale, 8-bit; the thesis' metric, §4.3.3),
  each model taking the MATLAB-bicubic LR image on the HR grid (:func:`companion.ch4.runs.lr_on_grid`).
* **Claims** (:func:`claims_4_2`, :func:`claims_4_3`): each augmentation against the baseline, MoA against
  the baseline per model and data fraction, and "MoA helps more with less data" (the gain at the smallest
  fraction against the gain at the largest), each judged on paired per-seed, per-image PSNRs with
  :func:`companion.summary.check_claims` (a two-way bootstrap over seeds and images; "unclear" when the 95 %
  interval holds zero or fewer than :data:`companion.summary.MIN_PAIRS` pairs stand behind it).
* **Records** (:func:`record_table_4_2`, :func:`record_table_4_3`): a number goes into a paper cell only where it
  is comparable with the paper's: a gain over the baseline (the δ columns) on any test set, an absolute PSNR only
  on the paper's own set (DIV2K validation); the embedded photographs' absolute PSNRs are listed under the entry
  without a cell. Every note says the scale (model size, steps, data) is below the paper's.
* **Tables 4.4–4.10** (:data:`FULL_ONLY`, :func:`data_status`, :func:`record_full_only`): what each needs (data
  folders under the data root, :func:`companion.data.folders.data_root`), which of them this machine has, and
  what the full profile computes from them: Table 4.4 scores Table 4.3's DIV2K-trained CARN, RCAN and EDSR
  (100 %, without and with MoA) on the benchmark sets found (:func:`table_4_4_scores`); the others need
  trainers the companion does not have (RealSR / CameraSR / SIDD+ training, JPEG and mixed-distortion data,
  SR+DN / SR+BLUR degradations) and are recorded ``full-only`` with what is missing.

Readings: the thesis gives no step count, batch or optimiser for these tables; the full profile takes the
authors' code's (:data:`companion.ch4.config.PAPER_RECIPE`), which trains Table 4.2 without ×2 pre-training (its
footnote) and which we also use for Table 4.3 (the thesis does not say). Table 4.3's data fraction is each
training image's centred crop of that fraction of its area (:func:`companion.ch4.runs.training_images`); the
thesis says only "volumes of DIV2K", which the authors' code reads as a number of whole images.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from companion.ch4.config import AUGMENTATION_LABELS, AugmentedRun, TablesSpec
from companion.ch4.runs import apply, lr_on_grid, test_images, trained_model, zoo_entry
from companion.data import folders
from companion.data.images import centre_crop_at_most, load_image
from companion.data.sr import benchmark_paths, bicubic_downscale, bicubic_upscale, modcrop
from companion.errors import CompanionError
from companion.ledger import load_paper
from companion.metrics import protocol_text, sr_scores
from companion.models import count_parameters
from companion.summary import check_claims, markdown_table, mean_std, pm
from companion.zoo import weights_text

#: Table 4.2's row of each augmentation (``companion/paper/thesis.json``).
TABLE_4_2_ROWS = {"none": "EDSR (baseline)", "cutout": "Cutout (0.1%)", "cutmix": "CutMix", "mixup": "Mixup",
                  "cutmixup": "CutMixup", "rgb": "RGB perm.", "blend": "Blend", "cutblur": "CutBlur", "moa": "MoA"}
#: Table 4.3's row of each model (its "+MoA" row is ``"<row> +MoA delta"``).
MODEL_ROWS = {"srcnn": "SRCNN", "carn": "CARN", "rcan": "RCAN", "edsr": "EDSR"}
#: The test set when the models train on the embedded photographs, and the paper's (DIV2K validation).
EMBEDDED, DIV2K = "embedded", "DIV2K"
#: Table 4.4's test sets, in its column order.
TABLE_4_4_SETS = ("Set5", "Set14", "B100", "Urban100", "Manga109")
#: Table 4.4's models: Table 4.3's at 100 % of the data.
TABLE_4_4_MODELS = ("carn", "rcan", "edsr")
BELOW_SCALE = ("below the paper's scale: {size}-size models, {steps:,} steps at batch {batch} of {patch}-px LR "
               "patches, {data}; the paper trains on DIV2K for 700k steps")


def fraction_column(fraction: float) -> str:
    """Table 4.3's column of a data fraction: ``"10% data"``."""
    return f"{round(fraction * 100)}% data"


def run_name(run: AugmentedRun) -> str:
    """The run's name without the seed (its zoo entry's: ``ch4/sr-edsr-moa-10pct``): one key per trained setting."""
    return zoo_entry(run, 0).name.rsplit("-seed", 1)[0]


def paper_table(entry_id: str) -> dict[str, dict]:
    """A paper table from ``companion/paper/thesis.json``: ``{row label: {column: value}}``."""
    found = [e for e in load_paper() if e["id"] == entry_id]
    if not found:
        raise CompanionError(f"{entry_id} is not in companion/paper/thesis.json")
    return {r["label"]: r["values"] for r in found[0].get("rows", [])}


# --------------------------------------------------------------------------------------------------------
# Test sets.


def _load_set(name: str, crop: int, root=None) -> dict[str, np.ndarray]:
    images = {}
    for path in benchmark_paths(name, root):
        image = load_image(path)
        images[path.stem] = centre_crop_at_most(image, crop) if crop else image
    return images


def evaluation_sets(spec: TablesSpec, root=None) -> dict[str, dict[str, np.ndarray]]:
    """``{set name: {image name: HR image}}`` the tables are scored on: the held-out embedded photographs
    (``spec.eval_crop`` px centre crops) when the models train on them, DIV2K's validation images (0801-0900)
    when they train on DIV2K (``spec.source == "data"``)."""
    run = spec.table_4_2_runs()[0]
    if spec.source == "bundled":
        return {EMBEDDED: test_images(run, spec.eval_crop)}
    return {DIV2K: _load_set("DIV2K", spec.eval_crop, root)}


def benchmark_sets(root=None, names=TABLE_4_4_SETS) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """(the benchmark sets of ``names`` found under the data root, whole images; the names missing)."""
    found, missing = {}, []
    for name in names:
        try:
            found[name] = _load_set(name, 0, root)
        except CompanionError:
            missing.append(name)
    return found, missing


def sr_set_scores(model, scale: int, images: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{image: {"psnr", "ssim"}}`` of a same-grid SR ``model``: each HR image cropped to a multiple of
    ``scale``, its MATLAB-bicubic LR image put on the HR grid, restored, scored under the SR protocol."""
    out = {}
    for name, hr in images.items():
        lq, hr = lr_on_grid(hr, scale)
        s = sr_scores(apply(model, lq), hr, scale)
        out[name] = {"psnr": float(s["psnr"]), "ssim": float(s["ssim"])}
    return out


def bicubic_scores(scale: int, images: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same protocol for MATLAB bicubic upscaling (the floor every trained model should clear)."""
    out = {}
    for name, hr in images.items():
        hr = modcrop(hr, scale)
        s = sr_scores(bicubic_upscale(bicubic_downscale(hr, scale), scale), hr, scale)
        out[name] = {"psnr": float(s["psnr"]), "ssim": float(s["ssim"])}
    return out


# --------------------------------------------------------------------------------------------------------
# Training and scoring.


def unique_jobs(runs: list[AugmentedRun], seeds: int) -> list[tuple[AugmentedRun, int]]:
    """Every (run, seed) once, in the order first named (a run both tables name trains once)."""
    jobs: dict[str, tuple[AugmentedRun, int]] = {}
    for run in runs:
        for seed in range(seeds):
            jobs.setdefault(zoo_entry(run, seed).name, (run, seed))
    return list(jobs.values())


def train_and_score(spec: TablesSpec, runs: list[AugmentedRun], sets: dict[str, dict], *, extra_sets=None,
                    device="cpu", work_dir: Path | None = None, progress: bool = True) -> dict[str, list[dict]]:
    """Train (or load from the zoo, ``spec.use_zoo``) every run of ``runs`` with ``spec.seeds`` seeds and score
    it on every set of ``sets`` (and, for the runs ``extra_sets(run)`` names, on those sets too).

    Returns ``{run_name: [per seed {"seed", "scores": {set: {image: {psnr, ssim}}}, "steps", "seconds",
    "val_psnr", "source", "params"}]}`` (:func:`run_name`), seeds in order."""
    results: dict[str, list[dict]] = {}
    jobs = unique_jobs(runs, spec.seeds)
    bar = tqdm(jobs, desc="Tables 4.2-4.3: train or load, score", unit="model", disable=not progress)
    for run, seed in bar:
        bar.set_postfix_str(f"{run.label()} seed {seed}")
        model, trained = trained_model(run, seed, use_zoo=spec.use_zoo, work_dir=work_dir, progress=False,
                                       device=device)
        wanted = dict(sets)
        wanted.update(extra_sets(run) if extra_sets else {})
        scores = {name: sr_set_scores(model, run.recipe.scale, images) for name, images in wanted.items()}
        results.setdefault(run_name(run), []).append(
            dict(seed=seed, scores=scores, steps=trained.steps, seconds=round(trained.seconds, 1),
                 val_psnr=trained.val_psnr, source=trained.source, params=count_parameters(model)))
    return results


def psnr_grid(results: dict, run: AugmentedRun, eval_set: str) -> np.ndarray:
    """A run's PSNR per seed and test image (seeds × images): what paired claims compare."""
    per_seed = results[run_name(run)]
    images = list(per_seed[0]["scores"][eval_set])
    return np.array([[s["scores"][eval_set][name]["psnr"] for name in images] for s in per_seed], dtype=float)


def _seed_means(results: dict, run: AugmentedRun, eval_set: str, metric: str) -> tuple[float, float]:
    per_seed = results[run_name(run)]
    return mean_std([np.mean([v[metric] for v in s["scores"][eval_set].values()]) for s in per_seed])


def summary_row(results: dict, run: AugmentedRun, baseline: AugmentedRun, eval_set: str) -> dict:
    """One run's cells: PSNR and SSIM (mean, std over seeds of the mean over images), the mean gain over
    ``baseline`` (paired by seed and image), seeds, steps, training seconds and where the weights came from."""
    per_seed = results[run_name(run)]
    gain = float(np.mean(psnr_grid(results, run, eval_set) - psnr_grid(results, baseline, eval_set)))
    return dict(name=run_name(run), model=run.model, augmentation=run.augmentation, fraction=run.fraction,
                psnr=_seed_means(results, run, eval_set, "psnr"), ssim=_seed_means(results, run, eval_set, "ssim"),
                gain=gain, seeds=len(per_seed), images=len(per_seed[0]["scores"][eval_set]), steps=per_seed[0]["steps"],
                seconds=float(np.mean([s["seconds"] for s in per_seed])), params=per_seed[0]["params"],
                sources=[s["source"] for s in per_seed])


def _baseline_of(run: AugmentedRun) -> AugmentedRun:
    return replace(run, augmentation="none")


def table_4_2_rows(spec: TablesSpec, results: dict, eval_set: str) -> list[dict]:
    """Table 4.2's rows of ours (:func:`summary_row`), each with its ``row`` (the paper's label)."""
    runs = spec.table_4_2_runs()
    baseline = next(r for r in runs if r.augmentation == "none")
    return [dict(summary_row(results, r, baseline, eval_set), row=TABLE_4_2_ROWS[r.augmentation]) for r in runs]


def table_4_3_rows(spec: TablesSpec, results: dict, eval_set: str) -> list[dict]:
    """Table 4.3's cells of ours: one row per model × fraction × (baseline, MoA), with the paper's row and
    column (``row``: ``"EDSR"`` or ``"EDSR +MoA delta"``; ``column``: ``"10% data"``)."""
    rows = []
    for r in spec.table_4_3_runs():
        label = MODEL_ROWS[r.model] + (" +MoA delta" if r.augmentation == "moa" else "")
        rows.append(dict(summary_row(results, r, _baseline_of(r), eval_set), row=label,
                         column=fraction_column(r.fraction)))
    return rows


# --------------------------------------------------------------------------------------------------------
# Claims.


def claim_scores_4_2(spec: TablesSpec, results: dict, eval_set: str) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(entry, claim, better, worse) for every augmentation of Table 4.2 against the baseline (seeds × images)."""
    runs = spec.table_4_2_runs()
    baseline = next(r for r in runs if r.augmentation == "none")
    model = MODEL_ROWS.get(spec.table_4_2_model, spec.table_4_2_model)
    return [("Table 4.2", f"{AUGMENTATION_LABELS[r.augmentation]} beats the {model} baseline",
             psnr_grid(results, r, eval_set), psnr_grid(results, baseline, eval_set))
            for r in runs if r.augmentation != "none"]


def claims_4_2(spec: TablesSpec, results: dict, eval_set: str) -> list[dict]:
    """:func:`claim_scores_4_2` judged with :func:`companion.summary.check_claims`; each dict also names its
    ``augmentation`` and the paper's ``paper_delta`` (DIV2K) and ``paper_delta_realsr``."""
    paper = paper_table("Table 4.2")
    runs = [r for r in spec.table_4_2_runs() if r.augmentation != "none"]
    checked = check_claims(claim_scores_4_2(spec, results, eval_set))
    return [dict(c, augmentation=r.augmentation, paper_delta=paper[TABLE_4_2_ROWS[r.augmentation]]["DIV2K delta"],
                 paper_delta_realsr=paper[TABLE_4_2_ROWS[r.augmentation]]["RealSR delta"])
            for c, r in zip(checked, runs)]


def _moa_pair(spec: TablesSpec, model: str, fraction: float) -> tuple[AugmentedRun, AugmentedRun]:
    runs = {(r.model, r.fraction, r.augmentation): r for r in spec.table_4_3_runs()}
    return runs[(model, fraction, "moa")], runs[(model, fraction, "none")]


def claim_scores_4_3(spec: TablesSpec, results: dict, eval_set: str) -> list[tuple]:
    """(entry, claim, better, worse, model, fraction) for MoA against the baseline at every model and
    fraction, then, per model with two fractions or more, "MoA helps more with less data": the paired gain at
    the smallest fraction (``fraction`` = that fraction) against the paired gain at the largest."""
    items = []
    for model in spec.table_4_3_models:
        for fraction in spec.fractions:
            moa, base = _moa_pair(spec, model, fraction)
            items.append(("Table 4.3", f"MoA beats the {MODEL_ROWS[model]} baseline at {fraction_column(fraction)}",
                          psnr_grid(results, moa, eval_set), psnr_grid(results, base, eval_set), model, fraction))
        if len(spec.fractions) > 1:
            small, large = min(spec.fractions), max(spec.fractions)
            gain = {f: psnr_grid(results, _moa_pair(spec, model, f)[0], eval_set)
                    - psnr_grid(results, _moa_pair(spec, model, f)[1], eval_set) for f in (small, large)}
            items.append(("Table 4.3", f"MoA helps {MODEL_ROWS[model]} more at {fraction_column(small)} than at "
                                       f"{fraction_column(large)}", gain[small], gain[large], model, None))
    return items


def claims_4_3(spec: TablesSpec, results: dict, eval_set: str) -> list[dict]:
    """:func:`claim_scores_4_3` judged with :func:`companion.summary.check_claims`; each dict also names its
    ``model``, ``fraction`` (None for the "more with less data" claim) and the paper's ``paper_delta`` (for that
    claim: the paper's gain at the smallest fraction minus its gain at the largest)."""
    paper = paper_table("Table 4.3")
    items = claim_scores_4_3(spec, results, eval_set)
    checked = check_claims([item[:4] for item in items])
    out = []
    for c, (_, _, _, _, model, fraction) in zip(checked, items):
        deltas = paper[f"{MODEL_ROWS[model]} +MoA delta"]
        if fraction is not None:
            delta = deltas.get(fraction_column(fraction))
        else:
            small, large = fraction_column(min(spec.fractions)), fraction_column(max(spec.fractions))
            delta = None if small not in deltas or large not in deltas else round(deltas[small] - deltas[large], 2)
        out.append(dict(c, model=model, fraction=fraction, paper_delta=delta))
    return out


# --------------------------------------------------------------------------------------------------------
# Text and records.


def _data_text(spec: TablesSpec) -> str:
    return (f"{len(spec.split.train)} embedded photographs" if spec.source == "bundled" else "DIV2K's 800 training "
            "images")


def scale_note(spec: TablesSpec) -> str:
    """The sentence every record carries: how far below the paper's scale this profile is."""
    t = spec.recipe.train
    return BELOW_SCALE.format(size=spec.size, steps=t.steps, batch=t.batch_size, patch=spec.recipe.patch,
                              data=_data_text(spec))


def protocol(spec: TablesSpec, eval_set: str, images: int) -> str:
    """The measurement's protocol in words (test set, degradation, metric, recipe, seeds)."""
    t = spec.recipe.train
    where = (f"held-out embedded photographs {', '.join(spec.split.test)}" if eval_set == EMBEDDED
             else f"{eval_set} ({images} images)")
    where += f" ({spec.eval_crop}-px centre crops)" if spec.eval_crop else ", whole images"
    proto = protocol_text({"channel": "y", "border": spec.recipe.scale, "round8": True})
    return (f"{where}, x{spec.recipe.scale} MATLAB-bicubic LR on the HR grid (same-grid models), {proto}; "
            f"{spec.size}-size models, {t.steps:,} steps, batch {t.batch_size}, {spec.recipe.patch}-px LR patches, "
            f"{spec.recipe.loss.upper()}, Adam at {t.lr:g}; {spec.seeds} seed(s)")


def _value(ms: tuple[float, float], seeds: int, digits: int = 2):
    return round(ms[0], digits) if seeds == 1 else pm(ms, digits)


def _text(ms: tuple[float, float], seeds: int, digits: int = 2) -> str:
    return f"{ms[0]:.{digits}f}" if seeds == 1 else pm(ms, digits)


def _claim_by(claims: list[dict], **match) -> dict | None:
    for c in claims:
        if all(c.get(k) == v for k, v in match.items()):
            return c
    return None


def table_4_2_text(rows: list[dict], claims: list[dict]) -> str:
    """Our Table 4.2 beside the paper's δ, as Markdown."""
    paper = paper_table("Table 4.2")
    out = []
    for r in rows:
        c = _claim_by(claims, augmentation=r["augmentation"])
        verdict = f"{c['verdict']} [{c['low']:+.3f}, {c['high']:+.3f}]" if c else "—"
        p = paper[r["row"]]
        out.append([r["row"], _text(r["psnr"], r["seeds"]), _text(r["ssim"], r["seeds"], 4), f"{r['gain']:+.3f}",
                    verdict, f"{p['DIV2K delta']:+.2f}", f"{p['RealSR delta']:+.2f}"])
    return markdown_table(["Table 4.2 row", "ours PSNR", "ours SSIM", "ours gain (dB)",
                           "verdict [95 % interval]", "paper δ DIV2K", "paper δ RealSR"], out)


def table_4_3_text(rows: list[dict], claims: list[dict]) -> str:
    """Our Table 4.3 (baseline PSNR and MoA gain per model and fraction) beside the paper's δ, as Markdown."""
    paper = paper_table("Table 4.3")
    out = []
    for r in rows:
        if r["augmentation"] != "moa":
            continue
        base = next(b for b in rows if b["model"] == r["model"] and b["fraction"] == r["fraction"]
                    and b["augmentation"] == "none")
        c = _claim_by(claims, model=r["model"], fraction=r["fraction"])
        delta = paper[r["row"]].get(r["column"])
        out.append([MODEL_ROWS[r["model"]], r["column"], f"{r['params']:,}", _text(base["psnr"], base["seeds"]),
                    f"{r['gain']:+.3f}", f"{c['verdict']} [{c['low']:+.3f}, {c['high']:+.3f}]" if c else "—",
                    "—" if delta is None else f"{delta:+.2f}"])
    return markdown_table(["model", "data", "params (ours)", "baseline PSNR", "MoA gain (dB)",
                           "verdict [95 % interval]", "paper δ"], out)


def record_table_4_2(run, spec: TablesSpec, rows: list[dict], claims: list[dict], eval_set: str) -> None:
    """Record Table 4.2: each row's gain over the baseline in the ``DIV2K delta`` cell (a gain is comparable
    across test sets); the absolute PSNR in the ``DIV2K PSNR`` cell only on DIV2K validation, else under the
    entry without a cell; each claim's verdict."""
    proto = protocol(spec, eval_set, rows[0]["images"])
    note = scale_note(spec)
    paper_set = eval_set == DIV2K
    for r in rows:
        where = f"{weights_text(r['sources'])}; {r['seconds']:.0f} s of training per seed (mean)"
        run.record(f"table4_2/{eval_set}/{r['row']}/psnr", _value(r["psnr"], r["seeds"]), entry="Table 4.2",
                   row=r["row"], column="DIV2K PSNR" if paper_set else None, protocol=proto,
                   note=f"{'' if paper_set else 'the embedded photographs are not DIV2K: compare the gain, not the PSNR; '}"
                        f"SSIM {_text(r['ssim'], r['seeds'], 4)}; {note}; {where}")
        if r["augmentation"] == "none":
            continue
        c = _claim_by(claims, augmentation=r["augmentation"])
        run.record(f"table4_2/{eval_set}/{r['row']}/gain", round(r["gain"], 3), entry="Table 4.2", row=r["row"],
                   column="DIV2K delta", protocol=proto,
                   note=f"mean paired gain over the baseline on {eval_set}: {c['verdict']} ({c['detail']}); {note}")
    for c in claims:
        run.record(f"claim/{c['claim']}", c["verdict"], entry="Table 4.2", note=f"{c['detail']}; {note}")


def record_table_4_3(run, spec: TablesSpec, rows: list[dict], claims: list[dict], eval_set: str) -> None:
    """Record Table 4.3: MoA's gain in the ``<model> +MoA delta`` row of its fraction's column; the baseline's
    PSNR in the ``<model>`` row (in the cell only on DIV2K validation); each claim's verdict."""
    proto = protocol(spec, eval_set, rows[0]["images"])
    note = scale_note(spec)
    paper_set = eval_set == DIV2K
    for r in rows:
        where = f"{r['params']:,} parameters ({spec.size} size); {weights_text(r['sources'])}"
        if r["augmentation"] == "none":
            run.record(f"table4_3/{eval_set}/{r['row']}/{r['column']}/psnr", _value(r["psnr"], r["seeds"]),
                       entry="Table 4.3", row=r["row"], column=r["column"] if paper_set else None, protocol=proto,
                       note=f"{'' if paper_set else 'embedded photographs, not DIV2K: compare the gain; '}"
                            f"{note}; {where}")
            continue
        c = _claim_by(claims, model=r["model"], fraction=r["fraction"])
        run.record(f"table4_3/{eval_set}/{r['row']}/{r['column']}/gain", round(r["gain"], 3), entry="Table 4.3",
                   row=r["row"], column=r["column"], protocol=proto,
                   note=f"MoA's mean paired gain over the baseline: {c['verdict']} ({c['detail']}); {note}; {where}")
    for c in claims:
        run.record(f"claim/{c['claim']}", c["verdict"], entry="Table 4.3", note=f"{c['detail']}; {note}")


# --------------------------------------------------------------------------------------------------------
# Tables 4.4-4.10: what they need, what this machine has, what the full profile computes.

#: Where each dataset Tables 4.4-4.10 use sits under the data root (:func:`companion.data.folders.data_root`):
#: the catalogue's folders (``python -m companion download NAME``; RealSR from ``--archive``) and, for the sets
#: the catalogue does not fetch, a folder of that name holding the set as its authors distribute it.
DATA_FOLDERS = {"DIV2K": "DIV2K/DIV2K_train_HR", "Set5": "benchmark/Set5/HR", "Set14": "benchmark/Set14/HR",
                "B100": "benchmark/B100/HR", "Urban100": "benchmark/Urban100/HR",
                "Manga109": "benchmark/Manga109/HR", "RealSR": "RealSR", "CameraSR": "CameraSR",
                "Kodak24": "Kodak24", "Classic5": "Classic5", "LIVE1": "LIVE1", "SIDD+": "SIDD+"}

#: Table -> (the data it needs, what it measures, what the full profile of ``04d`` does with it).
FULL_ONLY = {
    "Table 4.4": (("DIV2K", "Set5", "Set14", "B100", "Urban100", "Manga109"),
                  "x4 bicubic SR on five benchmark sets, CARN / RCAN / EDSR without and with MoA (trained on DIV2K; "
                  "the thesis pre-trains at x2)",
                  "the full profile scores Table 4.3's DIV2K-trained CARN, RCAN and EDSR (100 % of the data, "
                  "without and with MoA) on every benchmark set found (table_4_4_scores)"),
    "Table 4.5": (("RealSR", "CameraSR"),
                  "real-world x4 SR: CARN / RCAN / EDSR trained and tested on RealSR v1 and on CameraSR, MoA with "
                  "CutBlur at 40 %",
                  "not computed: the companion's SR trainer reads the embedded photographs or DIV2K, not RealSR / "
                  "CameraSR pairs (the real Canon_003 pair is used by 04b / 04c at test time only)"),
    "Table 4.6": (("CameraSR",),
                  "cross-device generalisation: trained on Nikon, tested on iPhone, and the reverse",
                  "not computed: needs a CameraSR trainer (as Table 4.5)"),
    "Table 4.7": (("DIV2K", "Kodak24", "Classic5", "LIVE1"),
                  "train on the severe case, test on milder: colour Gaussian denoising sigma 70 -> 70 / 50 (Kodak24) "
                  "and JPEG q 10 -> 10 / 30 (Classic5; LIVE1 in the thesis' data list); EDSR, RDN, RNAN",
                  "04c_where_to_restore measures the denoising rows of EDSR (trained at sigma 70 on the profile's "
                  "photographs, tested at sigma 70 / 50 / 30); JPEG and the Kodak24 / Classic5 test sets are not "
                  "computed"),
    "Table 4.8": (("SIDD+",),
                  "real-noise denoising on SIDD+ (EDSR, RDN, RNAN, MoA with p 0.6)",
                  "not computed: needs a SIDD+ reader and trainer"),
    "Table 4.9": (("DIV2K",),
                  "mixed blur -> noise -> JPEG at random levels (Yu et al.'s mild / moderate / severe), trained on "
                  "moderate",
                  "not computed: the mixed-distortion generator of Yu et al. is not in the companion (04c's MoA in "
                  "MEPSNet on Chapter 7's SHDD is the nearest experiment here)"),
    "Table 4.10": (("DIV2K", "Set14", "Urban100", "Manga109"),
                   "x4 SR with noise after the downscale (SR+DN) or blur before it (SR+BLUR); CARN / RCAN / EDSR",
                   "not computed: the SR+DN / SR+BLUR degradations (noise level, blur width) are not stated in the "
                   "thesis and not in the companion"),
}


def data_status(root=None) -> dict[str, dict]:
    """For every table of :data:`FULL_ONLY`: ``needs`` (dataset names), ``present`` / ``missing`` under the data
    root (a folder of :data:`DATA_FOLDERS` with at least one file in it), ``measures`` and ``computes``."""
    try:
        base = folders.data_root(root)
    except CompanionError:
        base = None

    def present(name: str) -> bool:
        folder = None if base is None else base / DATA_FOLDERS[name]
        return folder is not None and folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))

    out = {}
    for table, (needs, measures, computes) in FULL_ONLY.items():
        have = [n for n in needs if present(n)]
        out[table] = dict(needs=list(needs), present=have, missing=[n for n in needs if n not in have],
                          measures=measures, computes=computes, root=str(base) if base else None)
    return out


#: Tables of §4.5 another Chapter 4 notebook measures at small scale (its rows go beside the paper's there), so
#: ``04d`` leaves them out of its ``full-only`` records (the ledger shows an entry's weakest status).
MEASURED_ELSEWHERE = {"Table 4.7": "04c_where_to_restore measures its EDSR denoising rows (sigma 70 -> 70 / 50 / 30) "
                                   "on the held-out photographs"}


def record_full_only(run, status: dict[str, dict], measured=()) -> list[str]:
    """Record every table of :data:`FULL_ONLY` but those in ``measured`` as ``full-only``: the data it needs
    (folders under the data root), which of them this machine has, and what the full profile computes from
    them; one line each back (for a table of ``measured`` too, saying where it is measured)."""
    lines = []
    for table, s in status.items():
        if table in measured:
            lines.append(f"{table}: measured {MEASURED_ELSEWHERE.get(table, 'by this run')}")
            continue
        where = ", ".join(f"{n} ({DATA_FOLDERS[n]}/)" for n in s["needs"])
        have = (f"present here: {', '.join(s['present']) or 'none'}; missing: {', '.join(s['missing']) or 'none'}"
                f" (data root {s['root'] or 'not found'})")
        run.record(f"{table.lower().replace(' ', '')}/needs", None, entry=table, status="full-only",
                   protocol=s["measures"], note=f"needs {where} under the data root; {have}; {s['computes']}")
        lines.append(f"{table}: needs {', '.join(s['needs'])}; missing here: {', '.join(s['missing']) or 'none'}")
    return lines


def table_4_4_runs(spec: TablesSpec) -> list[AugmentedRun]:
    """Table 4.4's models among Table 4.3's runs: CARN, RCAN and EDSR at 100 % of the data, baseline and MoA."""
    return [r for r in spec.table_4_3_runs() if r.model in TABLE_4_4_MODELS and r.fraction == 1.0]


def table_4_4_sets(spec: TablesSpec, root=None) -> tuple[dict, list[str]]:
    """The benchmark sets Table 4.4 is scored on: those found, when the models train on DIV2K (the full profile);
    none otherwise (the quick profile's models never saw DIV2K). Returns (sets, missing names)."""
    if spec.source != "data":
        return {}, list(TABLE_4_4_SETS)
    return benchmark_sets(root)


def table_4_4_scores(spec: TablesSpec, sets: dict):
    """The ``extra_sets`` function of :func:`train_and_score`: Table 4.4's sets for Table 4.4's runs."""
    chosen = {run_name(r) for r in table_4_4_runs(spec)}
    return lambda run: sets if run_name(run) in chosen else {}


def record_table_4_4(run, spec: TablesSpec, results: dict, sets: dict) -> list[str]:
    """Record Table 4.4's cells measured (the full profile, the sets found): PSNR and SSIM per model and set,
    mean over seeds."""
    lines = []
    for r in table_4_4_runs(spec):
        row = MODEL_ROWS[r.model] + (" +MoA" if r.augmentation == "moa" else "")
        per_seed = results[run_name(r)]
        for name in sets:
            for metric in ("psnr", "ssim"):
                ms = mean_std([np.mean([v[metric] for v in s["scores"][name].values()]) for s in per_seed])
                digits = 2 if metric == "psnr" else 4
                run.record(f"table4_4/{name}/{row}/{metric}", _value(ms, len(per_seed), digits), entry="Table 4.4",
                           row=row, column=f"{name} {metric.upper()}",
                           protocol=protocol(spec, name, len(per_seed[0]["scores"][name])),
                           note="trained without the thesis' x2 pre-training; " + weights_text(
                               [s["source"] for s in per_seed]))
            psnr = mean_std([np.mean([v["psnr"] for v in s["scores"][name].values()]) for s in per_seed])
            lines.append(f"{row} on {name}: {_text(psnr, len(per_seed))} dB")
    return lines
