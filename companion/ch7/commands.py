"""Chapter 7's commands: ``python -m companion data shdd`` and ``python -m companion train``.

Registered by :mod:`companion.cli`, which finds every chapter's ``commands.py``. Defaults that are paper
settings come from :mod:`companion.ch7.config` (declared once there); this module imports nothing heavy
until a command runs, so parsing stays fast.
"""
from __future__ import annotations

from pathlib import Path

from companion import arguments


def add_data_commands(data_sub) -> None:
    """``data shdd``."""
    p = arguments.generator_command(
        data_sub, "shdd", help="generate SHDD (thesis §7.3)", sets=("easy", "moderate", "difficult"),
        source_help="'bundled' (embedded images) or a folder of references (the data root holding DIV2K/, or "
                    "DIV2K itself)", set_help="level to generate", run=_data_shdd)
    p.add_argument("--versions", type=arguments.positive_int, default=12,
                   help="distorted versions per image (paper: 12)")


def _data_shdd(args, levels) -> None:
    from companion.ch7.shdd import build_shdd

    arguments.print_build("shdd", build_shdd(source=arguments.source_of(args), out=args.out, levels=levels,
                                             seed=args.seed, workers=args.workers, versions=args.versions))


def add_commands(sub) -> None:
    """``train``: one restoration model on a generated SHDD folder, the full profile's settings by default."""
    from companion.ch7.config import TRAINING

    full = TRAINING["full"]
    tc = full.train
    tr = sub.add_parser("train", help="train a Chapter 7 restoration model on SHDD (the paper's settings by "
                                      "default; use torchrun for several GPUs)")
    tr.add_argument("model", choices=full.models, help="model to train")
    tr.add_argument("--data", required=True, type=arguments.existing_folder,
                    help="the --out folder of `python -m companion data shdd`")
    tr.add_argument("--checkpoint", required=True, type=arguments.out_file,
                    help="checkpoint file (resumed when it exists)")
    tr.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    tr.add_argument("--size", default=full.size, choices=("paper", "quick"), help=f"model size (default: {full.size})")
    tr.add_argument("--level", default=full.train_level, choices=("easy", "moderate", "difficult"),
                    help=f"SHDD level to train on (paper: {full.train_level})")
    tr.add_argument("--steps", type=arguments.positive_int, default=tc.steps, help=f"iterations (paper: {tc.steps:,})")
    tr.add_argument("--batch-size", type=arguments.positive_int, default=tc.batch_size,
                    help=f"global batch, split across ranks (paper: {tc.batch_size})")
    tr.add_argument("--patch-size", type=arguments.positive_int, default=full.patch_size,
                    help=f"training crops (paper: {full.patch_size}; 48 for the analysis models)")
    tr.add_argument("--lr", type=arguments.positive_float, default=tc.lr, help=f"learning rate (paper: {tc.lr:g})")
    tr.add_argument("--milestones", type=arguments.positive_int, nargs="*", default=list(tc.milestones),
                    help="steps after which the LR halves (paper: " + " ".join(map(str, tc.milestones)) + ")")
    tr.add_argument("--loss", default=full.loss, choices=("l2", "l1"), help=f"pixel loss (paper: {full.loss})")
    tr.add_argument("--grad-clip", type=arguments.positive_float, default=None,
                    help="clip the gradient norm to this value (default: no clipping)")
    tr.add_argument("--bf16", action="store_true", help="bf16 autocast (the full profile on a GPU)")
    tr.add_argument("--channels-last", action="store_true")
    tr.add_argument("--max-seconds", type=arguments.positive_float, default=None,
                    help="stop after this much training time")
    tr.add_argument("--checkpoint-every", type=arguments.positive_int, default=tc.checkpoint_every)
    tr.add_argument("--cache", action="store_true", help="keep decoded training images in memory")
    tr.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    tr.add_argument("--seed", type=arguments.seed, default=0)
    tr.set_defaults(func=_train)


def _train(args) -> int:
    import os
    from dataclasses import replace

    import torch

    from companion.ch7.config import TRAINING
    from companion.ch7.datasets import SHDDTrain
    from companion.device import resolve_device
    from companion.engine.loop import LOSSES, paired_batch, train
    from companion.models import build_model, count_parameters

    checkpoint = args.checkpoint  # arguments.out_file: not a folder, creatable
    cfg = replace(TRAINING["full"].train, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                  milestones=tuple(args.milestones), bf16=args.bf16, channels_last=args.channels_last,
                  max_seconds=args.max_seconds, checkpoint_every=args.checkpoint_every, val_every=0,
                  seed=args.seed, grad_clip=args.grad_clip)
    cfg.check()
    device = resolve_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per rank
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    torch.manual_seed(args.seed)
    model = build_model(args.model, args.size)
    dataset = SHDDTrain(args.data, level=args.level, patch_size=args.patch_size, seed=args.seed, cache=args.cache)
    result = train(model, dataset, cfg, loss=LOSSES[args.loss], batch=paired_batch("distorted", "clean"),
                   model_name=args.model, device=device, checkpoint_path=checkpoint, resume=not args.restart)
    print(f"{args.model} ({count_parameters(model):,} parameters): {result.steps_done} steps in "
          f"{result.seconds:.0f} s, stopped by {result.stopped}; checkpoint {result.checkpoint}")
    return 0
