"""Table 2.3 of ``02b_initialisation`` (thesis §2.4.4): the six initialisations trained at the profile's
scale with seeds and scored on the held-out images.

**Table 2.3 trained** (:func:`train_and_evaluate`, :func:`run_table_2_3`, :func:`summarise`,
:func:`table_2_3_claims`, :func:`record_table_2_3`): a single-scale CARN of the profile's size, the scheme
applied, trained with the shared loop (:func:`companion.engine.loop.train`) on SR patches
(:class:`companion.data.sr.SRPatches`), the same steps and data order for every scheme of a seed, and scored
on held-out images under the SR protocol (:func:`companion.ch2.evaluation.evaluate_sr`:
:func:`companion.metrics.sr_scores`, Y of BT.601, ``scale`` px border, 8-bit outputs).

The schemes are in :mod:`companion.ch2.init_schemes`, one training run in
:mod:`companion.ch2.init_training`, Figs. 2.6-2.7 in :mod:`companion.ch2.init_histograms`.
"""
from __future__ import annotations

import time
from functools import partial

import numpy as np
import torch

from companion.ch2.evaluation import evaluate_sr, sr_pairs
from companion.ch2.init_schemes import BEST, INITS
from companion.ch2.init_training import checkpoint_path, fit, training_record
from companion.ch2.zoo import Table23Run
from companion.data.images import centre_crop_at_most, embedded_image
from companion.data.sr import SRBenchmark, lr_hr_pair
from companion.device import torch_threads
from companion.errors import CompanionError
from companion.ledger import load_paper
from companion.metrics import protocol_text
from companion.models.common import count_parameters
from companion.processes import run_per_seed
from companion.summary import check_claims, markdown_table, mean_std, pm
from companion.zoo import find, load_entry, weights_text


# --------------------------------------------------------------------------------------------------------
# Table 2.3, trained and scored.

_TEST_PAIRS: dict = {}  # per process: the held-out pairs, built once

def held_out_pairs(cfg, data_root=None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, LR, HR)]`` of Table 2.3's test images under the SR protocol: the held-out embedded photographs
    ``cfg.eval_images`` (``eval_set="embedded"``) or a benchmark set (``"Set14"``: the authors' choice), whole or
    centre-cropped to ``cfg.eval_crop`` px; made once per process."""
    if cfg.eval_set == "embedded":  # checked before the cache: another profile may have made the same pairs
        leaked = set(cfg.eval_images) & set(cfg.train_images)
        if leaked:
            raise CompanionError(f"test images {sorted(leaked)} are also training images; hold them out")
    key = ("test", cfg.eval_set, tuple(cfg.eval_images), cfg.scale, cfg.eval_crop, str(data_root))
    if key not in _TEST_PAIRS:
        if cfg.eval_set == "embedded":
            if cfg.eval_crop:
                pairs = [(n, *lr_hr_pair(centre_crop_at_most(embedded_image(n), cfg.eval_crop), cfg.scale))
                         for n in cfg.eval_images]
            else:
                data = SRBenchmark(None, cfg.scale, names=cfg.eval_images)
                pairs = [(data.names[i], *data.pair(i)) for i in range(len(data))]
        else:
            pairs = sr_pairs(cfg.eval_set, cfg.scale, crop=cfg.eval_crop, root=data_root)
        _TEST_PAIRS[key] = pairs
    return _TEST_PAIRS[key]


def zoo_entry(cfg, init: str, seed: int):
    """The current zoo entry (``ch2/02b/…``) trained with exactly (``cfg``, ``init``, ``seed``) when
    ``cfg.use_zoo`` (:func:`companion.zoo.find` of :class:`companion.ch2.zoo.Table23Run`); None otherwise (not
    declared with these settings, stale or missing)."""
    return find(Table23Run(cfg, init), seed) if cfg.use_zoo else None


def train_and_evaluate(cfg, init: str, seed: int, *, device="cpu", threads: int | None = None,
                       data_root=None, checkpoint_dir=None) -> dict:
    """One (scheme, seed) of Table 2.3: the current zoo entry when ``cfg.use_zoo`` has one (:func:`zoo_entry`),
    else trained by :func:`fit` (resumable under ``checkpoint_dir``: a rerun of a finished run only evaluates);
    then it and bicubic scored on :func:`held_out_pairs`. ``checkpoint`` says where the weights came from
    (``"zoo:<entry name>"``, or the work checkpoint's file name). Plain numbers back (it also runs in worker
    processes)."""
    if threads:
        torch.set_num_threads(int(threads))
    entry = zoo_entry(cfg, init, seed)
    if entry is not None:
        model, meta = load_entry(entry)
        record = {k: meta[k] for k in ("steps", "seconds", "first_loss", "final_loss", "loss_curve", "val")}
        checkpoint = f"zoo:{entry.name}"
    else:
        model, result = fit(cfg, init, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir)
        record = training_record(result)
        checkpoint = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, init, seed).name
    start = time.perf_counter()
    scores = evaluate_sr(model.eval(), held_out_pairs(cfg, data_root), cfg.scale, device=device)
    return dict(init=init, seed=int(seed), **record, eval_seconds=round(time.perf_counter() - start, 2),
                checkpoint=checkpoint, params=count_parameters(model),
                psnr=scores["psnr"], ssim=scores["ssim"], bicubic_psnr=scores["bicubic_psnr"],
                bicubic_ssim=scores["bicubic_ssim"], gain=scores["gain"], wins=scores["wins"],
                images=scores["images"], per_image=scores["per_image"], protocol=scores["protocol"])


def run_table_2_3(cfg, *, seed0: int = 0, device="cpu", progress: bool = True, data_root=None,
                  checkpoint_dir=None) -> dict[str, list]:
    """Every scheme of ``cfg.inits`` × ``cfg.seeds`` seeds (``seed0``, ``seed0 + 1``, …) through
    :func:`train_and_evaluate` (the zoo's models where current, with ``cfg.use_zoo``; checkpoints in
    ``checkpoint_dir`` when given). On a CPU with ``cfg.train_workers`` > 1, that many runs go side by side in
    worker processes of one thread each (small models gain little from a second thread); when every model comes
    from the zoo, all are evaluated in this process on one thread (:func:`companion.device.torch_threads`). Returns
    ``{init: [per-seed dicts, by seed]}``."""
    jobs = [(key, seed0 + i) for i in range(cfg.seeds) for key in cfg.inits]
    workers = cfg.train_workers if torch.device(device).type == "cpu" else 1
    from_zoo = all(zoo_entry(cfg, key, seed) is not None for key, seed in jobs)
    if from_zoo:
        workers = 1  # nothing trains: the zoo's models are only evaluated, in this process, on one thread
    job = partial(train_and_evaluate, cfg, device=str(device), data_root=data_root, checkpoint_dir=checkpoint_dir)
    if not from_zoo or torch.device(device).type != "cpu":
        return run_per_seed(job, jobs, workers=workers, desc="Table 2.3: train + evaluate", progress=progress)
    with torch_threads(1):  # only evaluation: small convs on a busy CPU run far faster on one thread than on two
        return run_per_seed(job, jobs, workers=1, desc="Table 2.3: train + evaluate", progress=progress)


def summarise(results: dict[str, list]) -> dict[str, dict]:
    """Per scheme: (mean, std) over seeds of ``psnr``, ``ssim``, ``gain`` (over bicubic), ``final_loss`` and
    ``first_loss``; the bicubic PSNR / SSIM (the same for every seed), ``seeds``, ``steps``, ``seconds`` (mean),
    ``params``, ``images``, ``psnr_per_image`` (seeds × images, for :func:`table_2_3_claims`), ``checkpoints``
    (where each seed's weights came from: ``"zoo:<entry>"`` or a work file)."""
    out = {}
    for key, runs in results.items():
        row = {m: mean_std([r[m] for r in runs]) for m in ("psnr", "ssim", "gain", "final_loss", "first_loss")}
        row.update(seeds=len(runs), steps=int(np.mean([r["steps"] for r in runs])),
                   seconds=float(np.mean([r["seconds"] for r in runs])), params=runs[0]["params"],
                   bicubic_psnr=runs[0]["bicubic_psnr"], bicubic_ssim=runs[0]["bicubic_ssim"],
                   psnr_by_seed=[r["psnr"] for r in runs], images=list(runs[0]["per_image"]),
                   psnr_per_image=[[r["per_image"][n]["psnr"] for n in runs[0]["per_image"]] for r in runs],
                   protocol=runs[0]["protocol"],
                   checkpoints=[r["checkpoint"] for r in runs])
        out[key] = row
    return out


def paper_table_2_3() -> dict[str, dict]:
    """Table 2.3 from the paper data: ``{init key: {"psnr": (mean, std), "ssim": (mean, std)}}``."""
    [table] = [e for e in load_paper() if e["id"] == "Table 2.3"]
    by_row = {r["label"]: r["values"] for r in table["rows"]}
    out = {}
    for key, scheme in INITS.items():
        v, s = by_row[scheme.row], table["std"][scheme.row]
        out[key] = {"psnr": (v["PSNR"], s["PSNR"]), "ssim": (v["SSIM"], s["SSIM"])}
    return out


def ranking(summary: dict[str, dict], metric: str = "psnr") -> list[str]:
    """Scheme keys by mean ``metric``, best first."""
    return sorted(summary, key=lambda k: -summary[k][metric][0])


def table_2_3_claims(summary: dict[str, dict], paper: dict[str, dict] | None = None) -> list[dict]:
    """The thesis' claim, "1.0 × U(±√(1/F)) is the best initialisation", as one claim per other row, judged on
    the paired differences of the per-seed, per-image PSNRs (``psnr_per_image``, seeds × held-out images;
    :func:`companion.summary.check_claims`: "agrees" when the 95 % interval is above zero). Each claim also
    carries ``other`` (the row's key) and ``paper_detail``: the paper's own difference of means and its two
    stds (``paper``, :func:`paper_table_2_3`; the paper gives no per-image scores, so no interval)."""
    paper = paper_table_2_3() if paper is None else paper
    others = [k for k in summary if k != BEST]
    claims = check_claims([("Table 2.3", f"{INITS[BEST].label} beats {INITS[k].label}",
                            summary[BEST]["psnr_per_image"], summary[k]["psnr_per_image"]) for k in others])
    for claim, k in zip(claims, others):
        (best, best_std), (other, other_std) = paper[BEST]["psnr"], paper[k]["psnr"]
        claim["paper_detail"] = (f"paper: difference {best - other:+.3f} dB (stds {best_std:.3f} and "
                                 f"{other_std:.3f} dB)")
        claim["other"] = k
    return claims


def protocol_line(cfg, row: dict) -> str:
    """The protocol of Table 2.3's cells at this profile, for the results file."""
    where = (f"held-out embedded photographs {', '.join(cfg.eval_images)}" if cfg.eval_set == "embedded"
             else cfg.eval_set) + (f" ({cfg.eval_crop}-px centre crops)" if cfg.eval_crop else "")
    t = cfg.train
    size = f"{cfg.size}-size" + (f" (C = {cfg.channels})" if cfg.channels else "")
    return (f"{where} x{cfg.scale}, {protocol_text(row['protocol'])}; {size} single-scale x{cfg.scale} "
            f"CARN, zero biases, {cfg.loss.upper()} loss, {t.steps} steps for every run, batch {t.batch_size} of "
            f"{cfg.patch}-px LR patches, Adam {tuple(t.betas)} LR {t.lr:g}"
            + (f" halved at {', '.join(map(str, t.milestones))}" if t.milestones else " constant")
            + (f", gradient norm clipped to {t.grad_clip:g}" if t.grad_clip else "")
            + f"; mean ± std over {row['seeds']} seeds")


def sources_text(summary: dict[str, dict]) -> str:
    """One line per scheme: where its seeds' weights came from (:func:`weights_text`)."""
    return "\n".join(f"{INITS[k].label:>22s}: {weights_text(row['checkpoints'])}" for k, row in summary.items())


def record_table_2_3(run, summary: dict[str, dict], cfg) -> None:
    """Record every cell of Table 2.3 (PSNR, SSIM: mean ± std over seeds) beside the paper's, with the gain
    over bicubic, steps, seconds, parameters and where the weights came from (the zoo checkpoints by name, or
    trained in this run) in the note."""
    for key, row in summary.items():
        scheme = INITS[key]
        note = (f"{row['params']:,} parameters, {row['steps']} steps, {row['seconds']:.0f} s per run (one thread); "
                f"gain over bicubic {pm(row['gain'])} dB (bicubic {row['bicubic_psnr']:.2f} dB); final training "
                f"loss {row['final_loss'][0]:.4f}; {weights_text(row['checkpoints'])}")
        protocol = protocol_line(cfg, row)
        run.record(f"Table 2.3/{key}/psnr", pm(row["psnr"]), entry="Table 2.3", row=scheme.row, column="PSNR",
                   protocol=protocol, note=note)
        run.record(f"Table 2.3/{key}/ssim", pm(row["ssim"], 4), entry="Table 2.3", row=scheme.row, column="SSIM",
                   protocol=protocol, note=note)


def table_text(summary: dict[str, dict], paper: dict[str, dict] | None = None) -> str:
    """Table 2.3, ours beside the paper's, as Markdown (:func:`companion.summary.markdown_table`)."""
    paper = paper_table_2_3() if paper is None else paper
    order = ranking(summary)
    rows = []
    for key, row in summary.items():
        p = paper[key]
        rows.append([INITS[key].label, pm(p["psnr"]), f"{p['ssim'][0]:.4f} ± {p['ssim'][1]:.4f}", pm(row["psnr"]),
                     f"{row['gain'][0]:+.2f}", pm(row["ssim"], 4), str(order.index(key) + 1)])
    return markdown_table(["init (Table 2.3)", "paper PSNR", "paper SSIM", "ours PSNR", "ours gain vs bicubic",
                           "ours SSIM", "our rank"], rows)


__all__ = ["held_out_pairs", "zoo_entry", "train_and_evaluate", "run_table_2_3", "summarise", "paper_table_2_3",
           "ranking", "table_2_3_claims", "protocol_line", "sources_text", "record_table_2_3", "table_text"]
