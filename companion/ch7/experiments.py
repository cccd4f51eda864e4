"""Chapter 7 experiments on SHDD: train restoration models, evaluate them, summarise over seeds (§7.5).

The notebooks ``07b_mepsnet_training``, ``07c_ablations`` and ``07d_what_experts_learn`` call these:

* :func:`shdd_root` builds (or finds) the SHDD copy a profile uses;
* :class:`Variant` names one model setting (a row of a paper table);
* :func:`train_variant` trains one variant with one seed through :func:`companion.engine.loop.train`, with a
  checkpoint under the work folder, so a rerun (or a killed run) resumes instead of starting over;
* :func:`evaluate_levels` runs :func:`companion.ch7.evaluation.evaluate_shdd` on each SHDD level's test split;
* :func:`compare` does both for every variant × seed and :func:`summarise` gives mean ± std over seeds
  (:func:`companion.summary.mean_std`);
* :func:`record_table` puts the summary beside the paper's table in the ledger;
* :func:`ablation_claims` checks the thesis' ablation claims beyond the seed spread
  (:func:`companion.summary.check_claims`).

The quick profile trains every model of a table for the same number of steps, as the paper does; the seconds
each took are recorded with its numbers. Trained models come from the model zoo (:mod:`companion.ch7.zoo`)
when it holds one trained with exactly the same settings, and the ledger names the checkpoint behind each
number.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from companion.ch7.datasets import SHDDEval, SHDDTrain
from companion.ch7.evaluation import evaluate_shdd
from companion.ch7.shdd import build_shdd, clean_images
from companion.data import references
from companion.engine.checkpoint import load_weights
from companion.engine.settings import TrainConfig
from companion.engine.loop import LOSSES, paired_batch, psnr_on_pairs, train
from companion.errors import CompanionError
from companion.metrics import protocol_text
from companion.models import MODELS, build_model, count_parameters, model_config, model_label
from companion.summary import check_claims, markdown_table, mean_std, pm
from companion.zoo import digest


@dataclass(frozen=True)
class Variant:
    """One model setting: ``label`` (the paper table's row), ``model`` (a MODELS key), size overrides."""

    label: str
    model: str
    overrides: dict = field(default_factory=dict)

    def kwargs(self, size: str) -> dict:
        return model_config(self.model, size, **self.overrides)


def baselines(cfg) -> list[Variant]:
    """The models of Table 7.1, in the table's order."""
    return [Variant(model_label(name), name) for name in cfg.models]


def shdd_root(run, cfg, *, progress: bool = True, build: bool = True) -> Path:
    """Build the SHDD copy of this profile under the work folder (resumable) and return its root.

    The full-size bundled build is the one ``07a_shdd`` makes, so the notebooks share it. ``build=False``
    only names the folder: for worker processes, after the parent built it (a build holds a lock on the
    folder, so workers building at once would refuse each other).
    """
    tag = "datasets" if cfg.source == "data" or not (cfg.references or cfg.reference_crop) \
        else f"datasets-{cfg.references}-{cfg.reference_crop}"
    out = run.work_dir / tag
    if not build:
        return out
    source = references.prepare_source(cfg.source, "DIV2K", limit=cfg.references, crop=cfg.reference_crop,
                                       work_dir=run.work_dir)
    levels = tuple(dict.fromkeys((cfg.train_level, *cfg.eval_levels)))
    build_shdd(source=source, out=out, levels=levels, seed=run.seed, workers=cfg.workers, versions=cfg.versions,
               progress=progress)
    return out


def train_config(cfg, seed: int, model: str | None = None) -> TrainConfig:
    """The profile's training settings with this run's seed, and ``model``'s own learning rate where the
    profile gives it one (``cfg.model_lr``; the schedule scales it like the shared one)."""
    return replace(cfg.train, seed=seed, lr=model_lr(cfg, model))


def model_lr(cfg, model: str | None) -> float:
    """The learning rate ``model`` trains with: its entry in ``cfg.model_lr``, else ``cfg.train.lr``."""
    return dict(cfg.model_lr).get(model, cfg.train.lr)


def analysis_variant() -> Variant:
    """The MEPSNet of ``07d_what_experts_learn`` (the profile's size)."""
    return Variant("MEPSNet", "mepsnet")


def build_key(variant: Variant, cfg) -> str:
    """Variants that build the same model (name and arguments) share this key, and their runs."""
    return json.dumps([variant.model, variant.kwargs(cfg.size)], sort_keys=True)


def variant_key(variant: Variant, cfg, seed: int, data_seed: int) -> dict:
    """Everything that shapes a trained variant's weights: model and arguments, initialisation, training
    settings and seed, loss, patches and their channel permutation, and the data (source, images and their
    split, versions, data seed). How often the loop validates or saves does not change the weights and is left out."""
    train = {k: v for k, v in asdict(train_config(cfg, seed, variant.model)).items()
             if k not in ("checkpoint_every", "val_every")}
    data = {"source": cfg.source, "references": cfg.references, "crop": cfg.reference_crop,
            "versions": cfg.versions, "seed": data_seed, "level": cfg.train_level}
    if cfg.source == "bundled":
        data["images"] = {c.stem: c.split for c in clean_images("bundled")} if not cfg.references else cfg.references
    key = {"model": variant.model, "kwargs": variant.kwargs(cfg.size), "init": MODELS[variant.model].init,
           "train": train, "loss": cfg.loss, "patch": cfg.patch_size, "data": data}
    if cfg.permute_channels:  # only when on, so the digests of runs trained before the option stay valid
        key["permute_channels"] = True
    return key


def checkpoint_path(run, variant: Variant, cfg, seed: int) -> Path:
    """Where a variant's work-folder checkpoint lives: named by the model and the digest of its settings."""
    return run.work_dir / "checkpoints" / f"{variant.model}-seed{seed}-{digest(variant_key(variant, cfg, seed, run.seed))[:10]}.pt"


#: Validation: the first versions of the validation photograph(s), restored whole; the PSNR-vs-steps curves
#: and the zoo's ``val_psnr`` use them (never the test split).
VAL_IMAGES = 4


def validation_pairs(root: Path, cfg) -> list:
    """(distorted, clean) 1×3×H×W pairs of the first :data:`VAL_IMAGES` images of the validation split."""
    val = SHDDEval(root, level=cfg.train_level, split="val")
    return [(val[i]["distorted"][None], val[i]["clean"][None]) for i in range(min(VAL_IMAGES, len(val)))]


def validation_psnr(model, root: Path, cfg, device) -> float:
    """Mean PSNR of ``model`` on :func:`validation_pairs`."""
    return psnr_on_pairs(model, validation_pairs(root, cfg), device=device, bf16=cfg.train.bf16,
                         channels_last=cfg.train.channels_last)


def validation_input_psnr(root: Path, cfg) -> float:
    """Mean PSNR of the distorted validation images themselves (the line the validation curves must beat)."""
    return psnr_on_pairs(torch.nn.Identity(), validation_pairs(root, cfg), device="cpu")


def loss_curve(losses, every: int = 20) -> list[list[float]]:
    """``[[step, mean loss of the last `every` steps], ...]`` every ``every`` steps: the training curve kept in
    results and zoo sidecars (a few hundred points instead of every step)."""
    losses = np.asarray(losses, dtype=float)
    return [[int(end), round(float(losses[end - every:end].mean()), 7)]
            for end in range(every, len(losses) + 1, every)]


@dataclass
class Trained:
    """What :func:`train_variant` hands back besides the model: steps, seconds, validation curve
    ``[(step, PSNR)]``, loss curve (:func:`loss_curve`), how the run stopped, and ``source``: the zoo entry it
    was loaded from (``zoo:ch7/07b/mepsnet-seed0``) or the work-folder checkpoint it trained into."""

    steps_done: int
    seconds: float
    val: list
    loss_curve: list
    stopped: str
    source: str


def train_variant(run, variant: Variant, cfg, seed: int, root: Path, *, progress: bool = True,
                  use_zoo: bool = True):
    """Train ``variant`` with ``seed`` on SHDD ``cfg.train_level``; return ``(model, Trained)``.

    With ``use_zoo`` (the default) a zoo entry trained with exactly these settings (:func:`companion.ch7.zoo.
    find`) is loaded instead of training.
    """
    if use_zoo:
        from companion.ch7 import zoo as ch7_zoo
        from companion.zoo import load_entry, status

        entry = ch7_zoo.find(variant, cfg, seed, run.seed)
        if entry is not None and status(entry) == "current":
            model, meta = load_entry(entry)
            return model.to(run.device), Trained(meta["steps"], meta["seconds"], [tuple(v) for v in meta["val"]],
                                                 meta["loss_curve"], "steps", f"zoo:{entry.name}")
    torch.manual_seed(seed)
    model = build_model(variant.model, **variant.kwargs(cfg.size))
    dataset = SHDDTrain(root, level=cfg.train_level, patch_size=cfg.patch_size, seed=seed, cache=cfg.cache,
                        permute_channels=cfg.permute_channels)
    tc = train_config(cfg, seed, variant.model)
    validate = None
    if tc.val_every:  # the fixed validation images; their PSNR shows in the progress bar and makes the curves
        pairs = validation_pairs(root, cfg)

        def validate(m):
            return psnr_on_pairs(m, pairs, device=run.device, bf16=tc.bf16, channels_last=tc.channels_last)
    path = checkpoint_path(run, variant, cfg, seed)
    result = train(model, dataset, tc, loss=LOSSES[cfg.loss], batch=paired_batch("distorted", "clean"),
                   model_name=variant.model, device=run.device, checkpoint_path=path,
                   validate=validate, progress=progress)
    return model, Trained(result.steps_done, result.seconds, list(result.val), loss_curve(result.losses),
                          result.stopped, str(path.relative_to(run.work_dir.parent)) if path.is_relative_to(
                              run.work_dir.parent) else str(path))


def load_variant(run, variant: Variant, cfg, seed: int):
    """The trained model of ``variant``/``seed`` from its checkpoint (built by :func:`train_variant`)."""
    model = build_model(variant.model, **variant.kwargs(cfg.size))
    load_weights(model, checkpoint_path(run, variant, cfg, seed), model_name=variant.model)
    return model.to(run.device).eval()


def evaluate_levels(model, root: Path, cfg, device, *, levels=None) -> dict[str, dict]:
    """:func:`evaluate_shdd` on the test split of each level; ``{level: result}``."""
    out = {}
    for level in levels or cfg.eval_levels:
        dataset = SHDDEval(root, level=level, split="test", versions=cfg.eval_versions or None)
        out[level] = evaluate_shdd(model, dataset, tiles=tuple(cfg.tiles), overlap=cfg.overlap, device=device,
                                   bf16=cfg.train.bf16, progress=False)
    return out


def _train_and_evaluate(run, variant: Variant, cfg, seed: int, root: Path, levels, threads: int | None) -> dict:
    """One (variant, seed): train, evaluate, and return the plain numbers (also run in worker processes)."""
    if threads:
        torch.set_num_threads(threads)
    model, res = train_variant(run, variant, cfg, seed, root, progress=False)
    return dict(seed=seed, model=variant.model, kwargs=variant.kwargs(cfg.size), lr=model_lr(cfg, variant.model),
                steps=res.steps_done,
                seconds=round(res.seconds, 2), stopped=res.stopped, params=count_parameters(model),
                final_loss=res.loss_curve[-1][1] if res.loss_curve else None, loss_curve=res.loss_curve,
                val=res.val, checkpoint=res.source, levels=evaluate_levels(model, root, cfg, run.device, levels=levels))


def compare(run, cfg, variants: list[Variant], root: Path, *, levels=None, progress: bool = True) -> dict:
    """Train and evaluate every variant with ``cfg.seeds`` seeds (SEED, SEED + 1, …).

    Variants that build the same model (same name and arguments) are trained once and share their results.
    On the CPU with ``cfg.train_workers`` > 1, that many runs go in parallel, one thread each: the small
    quick-profile models gain almost nothing from a second thread, so two one-thread processes do about
    twice the work of one two-thread process. Each run's budget (``max_seconds``) is then one core's time.
    Returns ``{label: [per-seed dict(seed, steps, seconds, stopped, params, final_loss, losses, levels)]}``.
    """
    from tqdm.auto import tqdm

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
        from concurrent.futures import as_completed

        from companion.processes import process_pool

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


def ablation_variants(cfg) -> dict[str, dict]:
    """The MEPSNet variants of Table 7.3, Table 7.4 and Fig. 7.6, at the profile's model size.

    Returns ``{"Table 7.3": {row label: Variant}, "Table 7.4": {...}, "blocks": {blocks per expert: Variant},
    "templates": {K: Variant}}``. Table 7.3 varies experts and sharing at the base depth; Table 7.4 keeps
    ``cfg.total_blocks`` SResidual blocks in the whole expert module (paper 36: one expert of 3 × 12, or three
    experts of 3 × 4); Fig. 7.6 sweeps the blocks per SRIR (shown as blocks per expert) and the templates K.
    """
    start = dict(cfg.ablation_base)  # the profile's ablation base (07c quick: sharing that matters)
    base = model_config("mepsnet", cfg.size, **start)
    srir = base["srir"]
    if cfg.total_blocks % (3 * srir):
        raise CompanionError(f"total_blocks={cfg.total_blocks} must split evenly over 3 experts × {srir} SRIRs")
    one, three = cfg.total_blocks // srir, cfg.total_blocks // (3 * srir)

    def v(label, **overrides):
        return Variant(label, "mepsnet", {**start, **overrides})

    return {
        "Table 7.3": {"No ME, no PS (1 expert)": v("No ME, no PS (1 expert)", experts=1, share=False),
                      "PS (1 expert)": v("PS (1 expert)", experts=1),
                      "ME+PS (3 experts)": v("ME+PS (3 experts)", experts=3),
                      "ME+PS (5 experts)": v("ME+PS (5 experts)", experts=5)},
        "Table 7.4": {"1 expert": v("1 expert", experts=1, share=False, blocks=one),
                      "3 experts": v("3 experts", experts=3, share=False, blocks=three),
                      "1 expert +PS": v("1 expert +PS", experts=1, blocks=one),
                      "3 experts +PS": v("3 experts +PS", experts=3, blocks=three)},
        "blocks": {srir * b: v(f"{srir * b} blocks per expert", blocks=b) for b in cfg.blocks_sweep},
        "templates": {k: v(f"K = {k}", templates=k) for k in cfg.templates_sweep},
    }


def summarise(results: dict) -> dict:
    """Mean ± std over seeds: ``{label: {"params", "steps", (level, "psnr"|"ssim"): (mean, std),
    (level, "input_psnr"): value, (level, "psnr_by_type"): {type: (mean, std)}}}``."""
    summary = {}
    for label, runs in results.items():
        row = {"params": runs[0]["params"], "lr": runs[0].get("lr"), "steps": mean_std([r["steps"] for r in runs]),
               "seeds": len(runs),
               "seconds": mean_std([r["seconds"] for r in runs]),
               "checkpoints": [r["checkpoint"] for r in runs if r.get("checkpoint")]}
        for level in runs[0]["levels"]:
            per = [r["levels"][level] for r in runs]
            row[(level, "psnr")] = mean_std([p["psnr"] for p in per])
            row[(level, "ssim")] = mean_std([p["ssim"] for p in per])
            row[(level, "input_psnr")] = per[0]["input_psnr"]
            row[(level, "input_psnr_by_type")] = per[0]["input_psnr_by_type"]
            row[(level, "protocol")] = per[0]["protocol"]
            types = sorted({t for p in per for t in p["psnr_by_type"]})
            row[(level, "psnr_by_type")] = {t: mean_std([p["psnr_by_type"].get(t) for p in per]) for t in types}
        summary[label] = row
    return summary


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


def record_gains(run, summary: dict, level: str, *, target: float = 1.0) -> dict[str, tuple[float, float, bool]]:
    """Record each model's PSNR gain over the distorted input on ``level`` (mean ± std over seeds) and whether
    it reaches ``target`` dB; returns ``{label: (mean gain, std, reached)}``."""
    out = {}
    for label, row in summary.items():
        mean, std = row[(level, "psnr")]
        gain = mean - row[(level, "input_psnr")]
        out[label] = (gain, std, gain >= target)
        run.record(f"table7_1_gain/{label}/{level}", round(gain, 2), entry="Table 7.1", row=label,
                   protocol=f"SHDD {level} test PSNR minus the distorted input's, mean over {row['seeds']} seeds",
                   note=f"target: at least {target:g} dB over the input; "
                        + ("reached" if gain >= target else "NOT reached"))
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


def sweep_rows(results: dict, variants: dict) -> dict:
    """``{x: summary row}`` of one sweep of Fig. 7.6 (``variants``: ``{x: Variant}`` from
    :func:`ablation_variants`), each row summarised over its seeds."""
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
    """The thesis' ablation claims (§7.5.2), each checked on the measured means.

    A claim "agrees" when the expected winner is ahead by more than the combined seed spread
    (``hypot(std1, std2)``), "disagrees" when it is behind by more than that, and is "unclear" otherwise.
    """
    def psnr(table, label):
        return table[label][(level, "psnr")]

    pairs = [
        ("Table 7.3", "sharing helps one expert", psnr(t73, "PS (1 expert)"), psnr(t73, "No ME, no PS (1 expert)")),
        ("Table 7.3", "3 shared experts beat 1", psnr(t73, "ME+PS (3 experts)"), psnr(t73, "PS (1 expert)")),
        ("Table 7.3", "5 shared experts beat 3", psnr(t73, "ME+PS (5 experts)"), psnr(t73, "ME+PS (3 experts)")),
        ("Table 7.4", "at fixed blocks, 3 experts beat 1 (no PS)", psnr(t74, "3 experts"), psnr(t74, "1 expert")),
        ("Table 7.4", "at fixed blocks, 3 experts beat 1 (PS)", psnr(t74, "3 experts +PS"), psnr(t74, "1 expert +PS")),
        ("Table 7.4", "at fixed blocks, sharing helps 3 experts", psnr(t74, "3 experts +PS"), psnr(t74, "3 experts")),
    ]
    ks = sorted(templates)
    if len(ks) > 1:
        pairs.append(("Figure 7.6", f"more templates help (K={ks[-1]} vs K={ks[0]})",
                      templates[ks[-1]][(level, "psnr")], templates[ks[0]][(level, "psnr")]))
    return check_claims(pairs)
