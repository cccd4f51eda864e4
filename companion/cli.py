"""``python -m companion``: run notebooks, write the ledger, download and generate datasets, train a model.

Bad input ends with one line, ``error: <what went wrong and the fix>``, and exit status 2; a notebook that
fails ends the ``run`` command with status 1 after the others have run.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from companion.errors import CompanionError


def _cmd_run(args) -> int:
    from companion.runner import run_notebooks

    outcomes = run_notebooks(args.notebooks or None, profile=args.profile, device=args.device, seed=args.seed,
                             runs_dir=Path(args.runs_dir), figures_dir=args.figures_dir and Path(args.figures_dir))
    failed = [o for o in outcomes if not o.ok]
    total = sum(o.seconds for o in outcomes)
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} notebooks ran in {total:.1f} s ({args.profile} profile)")
    for o in failed:
        print(f"FAILED {o.name} at {o.error}; executed copy: {o.output}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_ledger(args) -> int:
    from companion import ledger

    dirs = [Path(d) for d in args.results] if args.results else ledger.RESULTS_DIRS
    ledger.write_ledger(Path(args.out), results_dirs=dirs)
    return 0


def _cmd_download(args) -> int:
    from companion.data.download import download_dataset

    path = download_dataset(args.name, Path(args.data) if args.data else None, sha256=args.sha256,
                            parts=tuple(args.part or ()))
    print(f"{args.name}: ready in {path}")
    return 0


def _cmd_data(args) -> int:
    source = args.source if args.source == "bundled" else Path(args.source)
    if args.kind == "shdd":
        from companion.data.shdd import LEVELS, build_shdd

        levels = tuple(args.level) if args.level else tuple(LEVELS)
        report = build_shdd(source=source, out=Path(args.out), levels=levels, seed=args.seed,
                            workers=args.workers, versions=args.versions)
    else:
        from companion.data.flickr_distortion import SETS, build_flickr_distortion

        sets = tuple(args.level) if args.level else tuple(SETS)
        report = build_flickr_distortion(source=source, out=Path(args.out), sets=sets, seed=args.seed,
                                         workers=args.workers, per_reference=args.per_reference)
    print(f"{args.kind}: {report.n_written} written, {report.n_skipped} already done, "
          f"{report.seconds:.1f} s -> {report.out}")
    return 0


def _cmd_train(args) -> int:
    """Train one restoration model on a generated SHDD folder; runs under ``torchrun`` for several GPUs."""
    import torch

    from companion.data.torch_datasets import SHDDTrain
    from companion.device import resolve_device
    from companion.models import build_model, count_parameters
    from companion.train import TrainConfig, train

    paper = TrainConfig()
    cfg = TrainConfig(steps=args.steps or paper.steps, batch_size=args.batch_size, patch_size=args.patch_size,
                      lr=args.lr, milestones=tuple(args.milestones) if args.milestones is not None
                      else paper.milestones, loss=args.loss, bf16=args.bf16, channels_last=args.channels_last,
                      max_seconds=args.max_seconds, checkpoint_every=args.checkpoint_every, seed=args.seed)
    device = resolve_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per rank
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    torch.manual_seed(args.seed)
    model = build_model(args.model, args.size)
    dataset = SHDDTrain(Path(args.data), level=args.level, patch_size=cfg.patch_size, seed=args.seed,
                        cache=args.cache)
    result = train(model, dataset, cfg, model_name=args.model, device=device,
                   checkpoint_path=Path(args.checkpoint), resume=not args.restart)
    print(f"{args.model} ({count_parameters(model):,} parameters): {result.steps_done} steps in "
          f"{result.seconds:.0f} s, stopped by {result.stopped}; checkpoint {result.checkpoint}")
    return 0


def _cmd_list(args) -> int:
    from companion.configs import NOTEBOOK_CONFIGS, PROFILES
    from companion.runner import available_notebooks

    for path in available_notebooks():
        print(f"{path.stem:<32}{'profiles: ' + ', '.join(PROFILES) if path.stem in NOTEBOOK_CONFIGS else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute notebooks headlessly with papermill")
    run.add_argument("notebooks", nargs="*", help="notebook names or prefixes (default: all)")
    run.add_argument("--profile", default="smoke", help="smoke | quick | full (default: smoke)")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--runs-dir", default=str(Path(__file__).resolve().parents[1] / "runs"),
                     help="where executed copies go (default: runs/)")
    run.add_argument("--figures-dir", default=None,
                     help="where figures and results go (default: figures/ for quick, figures/full/ for full, "
                          "runs/smoke/figures/ for smoke)")
    run.set_defaults(func=_cmd_run)

    led = sub.add_parser("ledger", help="write figures/LEDGER.md from the paper data and the results files")
    led.add_argument("--results", action="append", help="a results folder (repeatable; default: figures/results "
                                                        "and figures/full/results)")
    led.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "figures" / "LEDGER.md"))
    led.set_defaults(func=_cmd_ledger)

    dl = sub.add_parser("download", help="download a dataset (SHA-256 verified, resumable)")
    dl.add_argument("name", help="DIV2K, Set5, Set14, B100, Urban100, Manga109")
    dl.add_argument("--data", help="data folder (default: $COMPANION_DATA, else data/)")
    dl.add_argument("--sha256", help="expected SHA-256 where the catalogue has none")
    dl.add_argument("--part", action="append", help="optional part, e.g. x2, x3, x4 for DIV2K's bicubic LR "
                                                    "images (repeatable)")
    dl.set_defaults(func=_cmd_download)

    data = sub.add_parser("data", help="generate SHDD or Flickr-Distortion")
    data.add_argument("kind", choices=("shdd", "flickr-distortion"))
    data.add_argument("--source", default="bundled", help="'bundled' (embedded images) or a folder of references "
                                                          "(DIV2K for shdd)")
    data.add_argument("--out", required=True, help="output folder")
    data.add_argument("--level", action="append", help="shdd: easy | moderate | difficult; flickr-distortion: "
                                                       "classification | basic | difficult (repeatable; default all)")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    data.add_argument("--versions", type=int, default=12, help="shdd: distorted versions per image (paper: 12)")
    data.add_argument("--per-reference", type=int, default=20,
                      help="flickr-distortion: detection images per reference (paper: 20)")
    data.set_defaults(func=_cmd_data)

    tr = sub.add_parser("train", help="train a restoration model on SHDD (paper settings by default; "
                                      "use torchrun for several GPUs)")
    tr.add_argument("model", help="dncnn | vdsr | owan | ridnet | mepsnet")
    tr.add_argument("--data", required=True, help="the --out folder of `python -m companion data shdd`")
    tr.add_argument("--checkpoint", required=True, help="checkpoint file (resumed when it exists)")
    tr.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    tr.add_argument("--size", default="paper", help="paper | quick (default: paper)")
    tr.add_argument("--level", default="moderate", help="SHDD level to train on (paper: moderate)")
    tr.add_argument("--steps", type=int, default=None, help="iterations (paper: 1,200,000)")
    tr.add_argument("--batch-size", type=int, default=16, help="global batch, split across ranks (paper: 16)")
    tr.add_argument("--patch-size", type=int, default=80, help="paper: 80 (48 for the analysis models)")
    tr.add_argument("--lr", type=float, default=1e-4)
    tr.add_argument("--milestones", type=int, nargs="*", default=None, help="LR halvings (paper: 120000 300000)")
    tr.add_argument("--loss", default="l2", help="l2 | l1 (paper: l2)")
    tr.add_argument("--bf16", action="store_true", help="bf16 autocast (the full profile on a GPU)")
    tr.add_argument("--channels-last", action="store_true")
    tr.add_argument("--max-seconds", type=float, default=None, help="stop after this much training time")
    tr.add_argument("--checkpoint-every", type=int, default=5000)
    tr.add_argument("--cache", action="store_true", help="keep decoded training images in memory")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--seed", type=int, default=0)
    tr.set_defaults(func=_cmd_train)

    lst = sub.add_parser("list", help="list the notebooks and their profiles")
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CompanionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
