"""Chapter 7 experiments on SHDD: evaluate trained variants, summarise over seeds, check the paper's claims (§7.5).

The notebooks ``07b_mepsnet_training``, ``07c_ablations`` and ``07d_what_experts_learn`` call these:

* the variants and their specs come from :mod:`companion.ch7.variants` (:func:`~companion.ch7.variants.
  baselines`, :func:`~companion.ch7.variants.ablation_variants`), training from :mod:`companion.ch7.training`
  (:func:`~companion.ch7.training.train_variant`, which loads a zoo model trained with the same settings);
* :func:`evaluate_levels` runs :func:`companion.ch7.evaluation.evaluate_shdd` on each SHDD level's test split,
  :func:`evaluate_validation` on the validation images;
* :func:`compare` does both for every variant × seed and :func:`summarise` gives mean ± std over seeds
  (:func:`companion.summary.mean_std`) and keeps the per-seed, per-image scores (:func:`psnr_grid`);
* :func:`record_table` puts the summary beside the paper's table in the ledger;
* :func:`record_gains` judges 07b's +1 dB target on validation and reports the test gain;
* :func:`order_claims` and :func:`ablation_claims` check the paper's claims with paired intervals over seeds
  and test images (:func:`companion.summary.check_claims`).

The quick profile trains every model of a table for the same number of steps, as the paper does; the seconds
each took are recorded with its numbers, and the ledger names the checkpoint behind each number.
"""
from __future__ import annotations

from concurrent.futures import as_completed
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from companion.ch7.datasets import SHDDEval
from companion.ch7.evaluation import evaluate_shdd
from companion.ch7.training import VAL_IMAGES, train_variant
from companion.ch7.variants import Variant, build_key, model_lr
from companion.metrics import protocol_text
from companion.models import build_model, count_parameters
from companion.processes import process_pool
from companion.summary import check_claims, markdown_table, mean_std, pm

#: The summary's name for the validation images (beside the SHDD levels of the test split).
VALIDATION = "validation"


def evaluate_levels(model, root: Path, cfg, device, *, levels=None) -> dict[str, dict]:
    """:func:`evaluate_shdd` on the test split of each level; ``{level: result}``."""
    out = {}
    for level in levels or cfg.eval_levels:
        dataset = SHDDEval(root, level=level, split="test", versions=cfg.eval_versions or None)
        out[level] = evaluate_shdd(model, dataset, tiles=tuple(cfg.tiles), overlap=cfg.overlap, device=device,
                                   bf16=cfg.train.bf16, progress=False)
    return out


def evaluate_validation(model, root: Path, cfg, device) -> dict:
    """:func:`evaluate_shdd` on the validation images of the training level: the first
    :data:`~companion.ch7.training.VAL_IMAGES` versions of the validation photograph (the images of the
    validation curves). Every choice and target is judged here, never on the test split."""
    dataset = SHDDEval(root, level=cfg.train_level, split="val", versions=VAL_IMAGES)
    return evaluate_shdd(model, dataset, tiles=tuple(cfg.tiles), overlap=cfg.overlap, device=device,
                         bf16=cfg.train.bf16, progress=False, limit=min(VAL_IMAGES, len(dataset)))


def _train_and_evaluate(run, variant: Variant, cfg, seed: int, root: Path, levels, threads: int | None) -> dict:
    """One (variant, seed): train, evaluate, and return the plain numbers (also run in worker processes)."""
    if threads:
        torch.set_num_threads(threads)
    model, res = train_variant(run, variant, cfg, seed, root, progress=False)
    return dict(seed=seed, model=variant.model, kwargs=variant.kwargs(cfg.size), lr=model_lr(cfg, variant.model),
                steps=res.steps_done,
                seconds=round(res.seconds, 2), stop_reason=res.stop_reason, params=count_parameters(model),
                final_loss=res.loss_curve[-1][1] if res.loss_curve else None, loss_curve=res.loss_curve,
                val=res.val, checkpoint=res.source, levels=evaluate_levels(model, root, cfg, run.device, levels=levels),
                validation=evaluate_validation(model, root, cfg, run.device))


def compare(run, cfg, variants: list[Variant], root: Path, *, levels=None, progress: bool = True) -> dict:
    """Train and evaluate every variant with ``cfg.seeds`` seeds (SEED, SEED + 1, …).

    Variants that build the same model (same name and arguments) are trained once and share their results.
    On the CPU with ``cfg.train_workers`` > 1, that many runs go in parallel, one thread each: the small
    quick-profile models gain almost nothing from a second thread, so two one-thread processes do about
    twice the work of one two-thread process. Each run's budget (``max_seconds``) is then one core's time.
    Returns ``{label: [per-seed dict(seed, steps, seconds, stop_reason, params, final_loss, loss_curve, levels,
    validation)]}``.
    """
    def key(v: Variant) -> str:
        return build_key(v, cfg)

    unique = list({key(v): v for v in variants}.values())
    jobs = [(v, run.seed + i) for v in unique for i in range(cfg.seeds)]
    done: dict[str, dict[int, dict]] = {key(v): {} for v in unique}
    workers = cfg.train_workers if torch.device(run.device).type == "cpu" else 1
    bar = tqdm(total=len(jobs), desc="train + evaluate", disable=not progress)
    if workers <= 1:
        for variant, seed in jobs:
            bar.set_postfix_str(f"{variant.label} seed {seed}")
            done[key(variant)][seed] = _train_and_evaluate(run, variant, cfg, seed, root, levels, None)
            bar.update()
    else:
        with process_pool(workers) as pool:
            futures = {pool.submit(_train_and_evaluate, run, v, cfg, seed, root, levels, 1): (v, seed)
                       for v, seed in jobs}
            for future in as_completed(futures):
                variant, seed = futures[future]
                done[key(variant)][seed] = future.result()
                bar.set_postfix_str(f"{variant.label} seed {seed}")
                bar.update()
    bar.close()
    runs = {k: [per_seed[s] for s in sorted(per_seed)] for k, per_seed in done.items()}
    return {v.label: runs[key(v)] for v in variants}


def _level_cells(per: list[dict]) -> dict:
    """The summary cells of one evaluation (a level of the test split, or the validation images) over seeds:
    ``per`` holds one :func:`evaluate_shdd` result per seed."""
    types = sorted({t for p in per for t in p["psnr_by_type"]})
    return {"psnr": mean_std([p["psnr"] for p in per]), "ssim": mean_std([p["ssim"] for p in per]),
            "input_psnr": per[0]["input_psnr"], "input_psnr_by_type": per[0]["input_psnr_by_type"],
            "protocol": per[0]["protocol"],
            "psnr_by_type": {t: mean_std([p["psnr_by_type"].get(t) for p in per]) for t in types},
            "psnr_per_image": [[float(r["psnr"]) for r in p["per_image"]] for p in per],
            "input_psnr_per_image": [float(r["input_psnr"]) for r in per[0]["per_image"]]}


def summarise(results: dict) -> dict:
    """Mean ± std over seeds: ``{label: {"params", "steps", (level, "psnr"|"ssim"): (mean, std),
    (level, "input_psnr"): value, (level, "psnr_by_type"): {type: (mean, std)}, (level, "psnr_per_image"):
    seeds × images, (level, "input_psnr_per_image"): images}}``, for every test level and for
    :data:`VALIDATION` (the validation images) when the runs evaluated them."""
    summary = {}
    for label, runs in results.items():
        row = {"params": runs[0]["params"], "lr": runs[0].get("lr"), "steps": mean_std([r["steps"] for r in runs]),
               "seeds": len(runs),
               "seconds": mean_std([r["seconds"] for r in runs]),
               "checkpoints": [r["checkpoint"] for r in runs if r.get("checkpoint")]}
        evaluations = {level: [r["levels"][level] for r in runs] for level in runs[0]["levels"]}
        if all(r.get("validation") for r in runs):
            evaluations[VALIDATION] = [r["validation"] for r in runs]
        for level, per in evaluations.items():
            row.update({(level, name): cell for name, cell in _level_cells(per).items()})
        summary[label] = row
    return summary


def psnr_grid(row: dict, level: str) -> np.ndarray:
    """A summary row's PSNR on ``level`` per seed and image (seeds × images): what paired claims compare."""
    return np.asarray(row[(level, "psnr_per_image")], dtype=float)


def input_grid(row: dict, level: str) -> np.ndarray:
    """The distorted input's PSNR on ``level``, one row per seed of ``row`` (seeds × images), so that a model
    and the do-nothing baseline pair image by image."""
    inputs = np.asarray(row[(level, "input_psnr_per_image")], dtype=float)
    return np.repeat(inputs[None, :], len(row[(level, "psnr_per_image")]), axis=0)


def table_markdown(summary: dict, levels) -> str:
    """The summary as a Markdown table (PSNR dB / SSIM, mean ± std over seeds), input PSNR as the last row."""
    header = ["model", "params", "steps", "train s"] + [f"{lv} {m}" for lv in levels for m in ("PSNR", "SSIM")]
    rows = [[label, f"{row['params']:,}", f"{row['steps'][0]:.0f}", f"{row['seconds'][0]:.0f}"]
            + [c for lv in levels for c in (pm(row[(lv, "psnr")]), pm(row[(lv, "ssim")], 4))]
            for label, row in summary.items()]
    first = next(iter(summary.values()))
    rows.append(["(distorted input)", "", "", ""]
                + [c for lv in levels for c in (f"{first[(lv, 'input_psnr')]:.2f}", "")])
    return markdown_table(header, rows)


def ranking(summary: dict, level: str) -> list[str]:
    """Labels ordered by mean PSNR on ``level``, best first."""
    return sorted(summary, key=lambda label: -summary[label][(level, "psnr")][0])


def record_gains(run, summary: dict, level: str, *, target: float = 1.0) -> dict[str, dict]:
    """07b's target: each model's PSNR gain over the distorted input, judged on the validation images (the
    first versions of the validation photograph at the training level ``level``), with the test gain on
    ``level`` recorded beside it as the reported number (the test split never decides anything).

    Returns ``{label: {"validation_gain", "reached", "interval" (paired interval of model against input +
    target over seeds × validation images), "test_gain", "test_std"}}``; a model reaches the target when its
    mean validation gain over seeds and images is at least ``target`` dB."""
    out = {}
    for label, row in summary.items():
        model_val, input_val = psnr_grid(row, VALIDATION), input_grid(row, VALIDATION)
        validation_gain = float(np.mean(model_val - input_val))
        reached = validation_gain >= target
        interval = check_claims([("Table 7.1", f"{label} gains {target:g} dB on validation", model_val,
                                  input_val + target)])[0]
        test_mean, test_std = row[(level, "psnr")]
        test_gain = test_mean - row[(level, "input_psnr")]
        out[label] = {"validation_gain": validation_gain, "reached": reached, "interval": interval,
                      "test_gain": test_gain, "test_std": test_std}
        images = model_val.shape[1]
        run.record(f"table7_1_target/{label}", round(validation_gain, 2), entry="Table 7.1", row=label,
                   protocol=f"SHDD {level} validation PSNR minus the distorted input's, {images} versions of the "
                            f"validation photograph, mean over {row['seeds']} seeds",
                   note=f"target: at least {target:g} dB over the input on validation; "
                        + ("reached" if reached else "NOT reached") + f" (against input + {target:g} dB: "
                        + f"{interval['verdict']}, {interval['detail']})")
        run.record(f"table7_1_gain/{label}/{level}", round(test_gain, 2), entry="Table 7.1", row=label,
                   protocol=f"SHDD {level} test PSNR minus the distorted input's, mean over {row['seeds']} seeds",
                   note="reported; the target is judged on validation (table7_1_target)")
    return out


#: Table 7.1's order on every level, worst to best.
PAPER_ORDER = ("DnCNN", "VDSR", "OWAN", "RIDNet", "MEPSNet")


def record_order(run, summary: dict, levels) -> dict[str, tuple[str, bool]]:
    """Record our order of the models (worst to best by mean PSNR) on each level beside Table 7.1's; returns
    ``{level: (text, same as the paper)}``. Models the paper does not rank are left out of the comparison."""
    out = {}
    for level in levels:
        ours = ranking(summary, level)[::-1]
        same = [m for m in PAPER_ORDER if m in ours] == [m for m in ours if m in PAPER_ORDER]
        text = " < ".join(ours)
        run.record(f"table7_1_order_{level}", text, entry="Table 7.1",
                   note="worst to best by mean PSNR; paper: " + " < ".join(PAPER_ORDER)
                        + ("" if same else " -- the order differs from the paper at this scale"))
        out[level] = (text, same)
    return out


def order_claims(summary: dict, levels) -> list[dict]:
    """Table 7.1's order as claims, each neighbour pair of :data:`PAPER_ORDER` on each level ("VDSR beats
    DnCNN on moderate"), judged by :func:`companion.summary.check_claims` on the test PSNR per seed and image."""
    ranked = [m for m in PAPER_ORDER if m in summary]
    claims = [("Table 7.1", f"{better} beats {worse} on {level}", psnr_grid(summary[better], level),
               psnr_grid(summary[worse], level))
              for level in levels for worse, better in zip(ranked, ranked[1:])]
    return check_claims(claims)


def record_claims(run, claims: list[dict]) -> None:
    """Keep each checked claim (:func:`order_claims`, :func:`ablation_claims`) in the results, beside its entry."""
    for claim in claims:
        run.record(f"claim/{claim['claim']}", claim["verdict"], entry=claim["entry"], note=claim["detail"])


def sweep_rows(results: dict, variants: dict) -> dict:
    """``{x: summary row}`` of one sweep of Fig. 7.6 (``variants``: ``{x: Variant}`` from
    :func:`companion.ch7.variants.ablation_variants`), each row summarised over its seeds."""
    return {x: summarise({v.label: results[v.label]})[v.label] for x, v in variants.items()}


def record_sweeps(run, sweeps: dict, cfg, level: str) -> None:
    """Record each point of the Fig. 7.6 sweeps (``{"blocks per expert": rows, "templates": rows}``) beside
    the figure's entry, with its parameters and steps."""
    for name, sweep in sweeps.items():
        for x, row in sweep.items():
            run.record(f"fig7_6/{name}/{x}", pm(row[(level, "psnr")]), entry="Figure 7.6",
                       protocol=f"SHDD {level} test PSNR (RGB), mean ± std over {row['seeds']} seeds, {cfg.size} size",
                       note=f"{name} = {x}; {row['params']:,} parameters, {row['steps'][0]:.0f} steps; checkpoints: "
                            f"{checkpoint_text(row.get('checkpoints', []))}")


def record_table(run, summary: dict, *, entry: str, cfg, levels, columns=("PSNR", "SSIM"), level_in_column=True,
                 note: str = "") -> None:
    """Record every cell beside the paper's ``entry`` (columns "Easy PSNR" … or "PSNR"/"SSIM")."""
    for label, row in summary.items():
        for level in levels:
            protocol = (f"SHDD {level} test, {protocol_text(row[(level, 'protocol')])}; trained on {cfg.train_level}, "
                        f"{cfg.size} model size, {cfg.patch_size}px patches, batch {cfg.train.batch_size}, "
                        + (f"LR {row['lr']:g} (its own), " if row.get("lr") not in (None, cfg.train.lr) else "")
                        + (f"{cfg.train.max_seconds:.0f} s CPU budget per model" if cfg.train.max_seconds
                           else f"{cfg.train.steps} steps for every model") + f"; mean ± std over {row['seeds']} seeds")
            source = checkpoint_text(row.get("checkpoints", []))
            if (level, "psnr_per_image") in row:  # each seed's mean PSNR, so a test can recompute one from the zoo
                run.record(f"{entry}/{label}/{level}/psnr_per_seed",
                           [round(float(np.mean(scores)), 4) for scores in row[(level, "psnr_per_image")]],
                           protocol=protocol,
                           note=f"mean PSNR of each seed's model, seeds in order; checkpoints: {source}")
            for metric in columns:
                column = f"{level.capitalize()} {metric}" if level_in_column else metric
                digits = 2 if metric == "PSNR" else 4
                run.record(f"{entry}/{label}/{level}/{metric.lower()}", pm(row[(level, metric.lower())], digits),
                           entry=entry, row=label, column=column, protocol=protocol,
                           note=f"{row['params']:,} parameters, {row['steps'][0]:.0f} steps, {row['seconds'][0]:.0f} s "
                                f"training each (one CPU thread); checkpoints: {source}. {note}".strip())


def checkpoint_text(sources) -> str:
    """The checkpoints behind a row, short: ``zoo ch7/07b/dncnn-seed0, -seed1, -seed2`` (or the work files)."""
    if not sources:
        return "not recorded"
    if all(s.startswith("zoo:") for s in sources):
        names = [s[4:] for s in sources]
        stem = names[0].rsplit("-seed", 1)[0]
        if all(n.rsplit("-seed", 1)[0] == stem for n in names):
            return "zoo " + names[0] + "".join(f", -seed{n.rsplit('-seed', 1)[1]}" for n in names[1:])
        return "zoo " + ", ".join(names)
    return ", ".join(s[4:] if s.startswith("zoo:") else s for s in sources)


def ablation_claims(t73: dict, t74: dict, templates: dict, level: str) -> list[dict]:
    """The thesis' ablation claims (§7.5.2), each judged by :func:`companion.summary.check_claims` on the paired
    test PSNR of the two variants per seed and image (:func:`psnr_grid`): "agrees" when the 95 % interval of
    the mean difference lies above zero, "disagrees" when below, "unclear" when it holds zero."""
    def scores(table, label):
        return psnr_grid(table[label], level)

    pairs = [
        ("Table 7.3", "sharing helps one expert", scores(t73, "PS (1 expert)"), scores(t73, "No ME, no PS (1 expert)")),
        ("Table 7.3", "3 shared experts beat 1", scores(t73, "ME+PS (3 experts)"), scores(t73, "PS (1 expert)")),
        ("Table 7.3", "5 shared experts beat 3", scores(t73, "ME+PS (5 experts)"), scores(t73, "ME+PS (3 experts)")),
        ("Table 7.4", "at fixed blocks, 3 experts beat 1 (no PS)", scores(t74, "3 experts"), scores(t74, "1 expert")),
        ("Table 7.4", "at fixed blocks, 3 experts beat 1 (PS)", scores(t74, "3 experts +PS"),
         scores(t74, "1 expert +PS")),
        ("Table 7.4", "at fixed blocks, sharing helps 3 experts", scores(t74, "3 experts +PS"), scores(t74, "3 experts")),
    ]
    ks = sorted(templates)
    if len(ks) > 1:
        pairs.append(("Figure 7.6", f"more templates help (K={ks[-1]} vs K={ks[0]})",
                      psnr_grid(templates[ks[-1]], level), psnr_grid(templates[ks[0]], level)))
    return check_claims(pairs)


def sharing_fractions(cfg, paper_rows: dict[str, float]) -> dict[str, dict]:
    """How much parameter sharing removes, counted: ``{"ours, 1 expert" | "ours, 3 experts" | "paper, 1 expert":
    {"without", "with", "removed"}}``. Ours are the trainable parameters of the profile's ablation base
    (:func:`companion.models.count_parameters`); the paper's come from ``paper_rows`` (Table 7.3's "Params" by
    row label, from ``companion/paper/thesis.json``)."""
    base = dict(cfg.ablation_base)

    def count(**overrides):
        return count_parameters(build_model("mepsnet", cfg.size, **{**base, **overrides}))

    def row(without, with_sharing):
        return {"without": without, "with": with_sharing, "removed": 1.0 - with_sharing / without}

    return {"ours, 1 expert": row(count(experts=1, share=False), count(experts=1)),
            "ours, 3 experts": row(count(experts=3, share=False), count(experts=3)),
            "paper, 1 expert": row(paper_rows["No ME, no PS (1 expert)"], paper_rows["PS (1 expert)"])}
