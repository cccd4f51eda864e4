"""Chapter 7's commands: ``python -m companion data shdd``, ``python -m companion train`` and
``python -m companion restore``.

Registered by :mod:`companion.cli`, which finds every chapter's ``commands.py``. Defaults that are paper
settings come from :mod:`companion.ch7.config` (declared once there); this module imports nothing heavy
until a command runs, so parsing stays fast.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from companion import arguments
from companion.ch7.config import TRAINING
from companion.errors import CompanionError

#: ``train --checkpoint-minutes``'s default: a CPU step of a paper-size model takes seconds, so the paper's
#: 5,000-step interval alone would leave hours unsaved.
CHECKPOINT_MINUTES = 5.0


def add_data_commands(data_sub) -> None:
    """``data shdd``."""
    p = arguments.generator_command(
        data_sub, "shdd", help="generate SHDD (thesis §7.3)", sets=("easy", "moderate", "difficult"),
        source_help="'bundled' (embedded images) or a folder of references (the data root holding DIV2K/, or "
                    "DIV2K itself)", set_help="level to generate", run=_data_shdd)
    p.add_argument("--versions", type=arguments.positive_int, default=12,
                   help="distorted versions per image (paper: 12)")


def _data_shdd(args, levels) -> None:
    from companion.ch7.shdd import build_shdd  # reason: NumPy and the generators load only when the command runs

    arguments.print_build("shdd", build_shdd(source=arguments.source_of(args), out=args.out, levels=levels,
                                             seed=args.seed, workers=args.workers, versions=args.versions))


def add_commands(sub) -> None:
    """``train``: one restoration model on a generated SHDD folder, the full profile's settings by default
    (``restore`` is :func:`add_restore_command`, given every chapter's restorers by the CLI)."""
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
    tr.add_argument("--checkpoint-every", type=arguments.non_negative_int, default=tc.checkpoint_every,
                    metavar="STEPS", help=f"also save the checkpoint every STEPS steps (paper: {tc.checkpoint_every:,}; "
                                          "0: only by time, on Ctrl-C and at the end)")
    tr.add_argument("--checkpoint-minutes", type=arguments.positive_float, default=CHECKPOINT_MINUTES,
                    metavar="MINUTES", help=f"save the checkpoint every MINUTES of training (default: "
                                            f"{CHECKPOINT_MINUTES:g}, so a CPU run loses little; Ctrl-C or SIGTERM "
                                            "also saves it at the current step, and the same command resumes)")
    tr.add_argument("--cache", action="store_true", help="keep decoded training images in memory")
    tr.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    tr.add_argument("--seed", type=arguments.seed, default=0)
    tr.set_defaults(func=_train)


def _train(args) -> int:
    # reason: PyTorch and the models load only when a command runs, so parsing the CLI stays fast
    import torch

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
    if checkpoint.is_file() and not args.restart:
        check_size(checkpoint, args.model, args.size)
    dataset = SHDDTrain(args.data, level=args.level, patch_size=args.patch_size, seed=args.seed, cache=args.cache)
    result = train(model, dataset, cfg, loss=LOSSES[args.loss], batch=paired_batch("distorted", "clean"),
                   model_name=args.model, device=device, checkpoint_path=checkpoint, resume=not args.restart,
                   checkpoint_seconds=60 * args.checkpoint_minutes)
    print(f"{args.model} ({count_parameters(model):,} parameters): {result.steps_done} steps in "
          f"{result.seconds:.0f} s, stopped at the {result.stop_reason}; checkpoint {result.checkpoint}")
    return 0


def check_size(path: Path, model: str, size: str) -> None:
    """Before resuming ``path``: a checkpoint of ``model`` at another ``--size`` is one line naming the size it
    is (instead of every weight that differs); another model's, or a configuration no size gives, is left to
    the loop's full check."""
    # reason: PyTorch loads only when a command runs
    from companion.engine.checkpoint import read_checkpoint
    from companion.models import SIZES, model_config

    state = read_checkpoint(path)
    if state["model_name"] != model:
        return
    saved = _plain_config(dict(state["model_config"]))
    if saved == _plain_config(model_config(model, size)):
        return
    for other in SIZES:
        if other != size and saved == _plain_config(model_config(model, other)):
            raise CompanionError(f"this checkpoint is `--size {other}` ({path}); pass --size {other} to resume it, "
                                 "or --restart to start over at this size")


def _plain_config(config: dict) -> dict:
    """A model configuration as a checkpoint stores it (tuples become lists)."""
    return json.loads(json.dumps(config))


# --- restore ---------------------------------------------------------------------------------------------------

#: The default ``restore --model``: the Chapter 7 model with the highest validation PSNR (SHDD moderate,
#: validation image chelsea) recorded by the zoo's Table 7.1 runs, averaged over their seeds
#: (``tests/test_restore_models.py`` checks it against the zoo's sidecars).
DEFAULT_MODEL = "vdsr"
#: What each Chapter 7 zoo model is, for the command's help; listed in the order of their mean validation PSNR
#: (checked by ``tests/test_restore_models.py``). All restore SHDD's distortions.
GOOD_FOR = {
    "vdsr": "the best validation PSNR (the default)",
    "owan": "operation-wise attention, second",
    "ridnet": "feature attention, third",
    "mepsnet": "the thesis's model at quick size, fourth (--checkpoint official: the authors' paper-size weights)",
    "dncnn": "the plain denoising CNN, fifth",
}


def add_restore_command(sub, restorers: dict) -> None:
    """``restore IMAGE…``: restore image files with a Chapter 7 model, or upscale them with another chapter's
    super-resolution model (``restorers``: name → restorer, from every chapter's ``restorers.py``)."""
    models = TRAINING["full"].models
    upscalers = {name: r for name, r in restorers.items() if name not in models}
    listed = "; ".join(f"{name}: {GOOD_FOR.get(name, 'restoration')}" for name in sorted(models, key=list(GOOD_FOR).index))
    listed_sr = "; ".join(f"{name}: {r.good_for}" for name, r in upscalers.items())
    rs = sub.add_parser("restore", help="restore image files with a Chapter 7 model (writes <stem>_restored.png), "
                                        "or upscale them with CARN / CARN-M (--scale, writes <stem>_x4.png)")
    rs.add_argument("images", nargs="+", metavar="IMAGE", help="8-bit RGB image files (PNG or JPEG)")
    rs.add_argument("--model", default=None, choices=[*models, *upscalers],
                    help=f"the model (default: {DEFAULT_MODEL}, chosen on validation; with a --checkpoint FILE, the "
                         f"file's model). Zoo models, all quick size, trained on SHDD (Gaussian noise, blur, 1/f "
                         f"noise, contrast change, in regions, on the embedded photographs), by validation PSNR on SHDD moderate: {listed}. "
                         f"Super-resolution: {listed_sr}")
    rs.add_argument("--scale", type=arguments.positive_int, default=None,
                    help="super-resolution factor of a --model that upscales: 2, 3 or 4 with the authors' weights "
                         "(`python -m companion download carn-m`), 4 with the zoo's (default: 4)")
    rs.add_argument("--checkpoint", default="zoo",
                    help="'official' (the MEPSNet authors' weights, after `python -m companion download "
                         "mepsnet-official`), a companion checkpoint .pt (from `train`: its model and configuration "
                         "come from the file), a .safetensors file with a <file>.json sidecar {\"model\": NAME, "
                         "\"config\": {...}}, or 'zoo' (default: the model zoo's Table 7.1 seed-0 run, "
                         "ch7/07b/<model>-seed0, a quick-size model trained on SHDD from the embedded photographs; "
                         "`python -m companion zoo build` makes it)")
    rs.add_argument("--out", type=arguments.out_folder, default=None,
                    help="output folder (default: a restored/ folder beside each image)")
    rs.add_argument("--overwrite", action="store_true",
                    help="replace outputs that exist already (default: refuse, naming the file)")
    rs.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    rs.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                    help="auto (default): bf16 where the hardware computes it natively (CUDA with bf16, a CPU "
                         "with AVX512_BF16 or AMX), else fp32; fp32 for exact float32")
    rs.add_argument("--tiles", type=arguments.positive_int, nargs=2, default=None, metavar=("ROWS", "COLS"),
                    help="restore each image in ROWS×COLS tiles (default: as few tiles as fit --memory-gb)")
    rs.add_argument("--memory-gb", type=arguments.positive_float, default=MEMORY_GB,
                    help=f"memory budget for one tile's activations when --tiles is not given (default: {MEMORY_GB:g})")
    rs.add_argument("--overlap", type=arguments.non_negative_int, default=16,
                    help="pixels of context around each tile, cropped off before stitching (default: 16)")
    rs.add_argument("--data", default=None,
                    help="data folder holding downloaded weights (default: $COMPANION_DATA, else data/)")
    rs.set_defaults(func=_restore, restorers=upscalers)


#: ``restore --memory-gb``'s default (the activations of one tile; engine.inference.MEMORY_BUDGET).
MEMORY_GB = 1.0


def _zoo_alternatives(model: str) -> str:
    official = "--checkpoint official (the MEPSNet authors' weights), " if model == "mepsnet" else ""
    return (f"or pass {official}--checkpoint FILE.pt (a companion checkpoint from `python -m companion train "
            f"{model}`) or --checkpoint FILE.safetensors (with a FILE.safetensors.json sidecar)")


def zoo_model(model: str = "mepsnet", *, alternatives: str = ""):
    """``(model in eval mode, description)`` of the zoo entry ``restore --checkpoint zoo`` uses for ``model``
    (:func:`companion.ch7.zoo.restore_entry`, loaded by :func:`companion.zoo.load_entry`). The description names
    the entry, its steps and final validation PSNR: ``zoo ch7/07b/mepsnet-seed0 (9000 steps, val 28.4 dB)``.

    A missing or stale entry (or weights that do not load) is a one-line :class:`CompanionError` giving the
    fix, ``python -m companion zoo build <entry>``, followed by ``alternatives`` (e.g. other --checkpoint values).
    """
    # reason: the zoo loads PyTorch and the models; parsing the CLI stays fast without them
    from companion.ch7.zoo import restore_entry
    from companion.zoo import load_entry, status, zoo_dir

    entry = restore_entry(model)
    tail = f"; {alternatives}" if alternatives else ""
    state = status(entry)
    if state == "missing":
        raise CompanionError(f"zoo entry {entry.name} is missing (no {entry.name}.safetensors in {zoo_dir()}); build "
                             f"it with `python -m companion zoo build {entry.name}`{tail}")
    if state == "stale":
        raise CompanionError(f"zoo entry {entry.name} is stale (trained with other settings than this code's, or "
                             f"incomplete); rebuild it with `python -m companion zoo build {entry.name}`{tail}")
    try:
        net, meta = load_entry(entry)
    except CompanionError as exc:
        raise CompanionError(f"{exc}{tail}") from None
    meta = meta or {}
    steps, val = meta.get("steps"), meta.get("val_psnr")
    facts = [f"{steps} steps" if isinstance(steps, int) else None,
             f"val {val:.1f} dB" if isinstance(val, (int, float)) else None]
    facts = [f for f in facts if f]
    return net, f"zoo {entry.name}" + (f" ({', '.join(facts)})" if facts else "")


def _build(name: str, config, path):
    from companion.models import build_model  # reason: PyTorch loads only when a command runs

    if not isinstance(config, dict):
        raise CompanionError(f"checkpoint {path} holds no model configuration (got {type(config).__name__}); "
                             "point to another file")
    try:
        return build_model(name, **config)
    except (TypeError, ValueError) as exc:
        raise CompanionError(f"checkpoint {path} has a configuration {name} cannot be built with ({exc}); "
                             "point to another file") from None


def _load_safetensors(name: str | None, path: Path):
    sidecar = Path(f"{path}.json")
    if not sidecar.is_file():
        raise CompanionError(f"{path} has no sidecar {sidecar}; write it as JSON "
                             f"{{\"model\": \"{name or 'NAME'}\", \"config\": {{...constructor arguments...}}}}")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompanionError(f"sidecar {sidecar} is not readable JSON ({exc}); rewrite it as "
                             "{\"model\": NAME, \"config\": {...}}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), str) or not isinstance(meta.get("config"), dict):
        raise CompanionError(f"sidecar {sidecar} must be a JSON object {{\"model\": NAME, \"config\": {{...}}}}; "
                             "rewrite it")
    try:
        from safetensors.torch import load_file  # reason: loads PyTorch; only when a command runs

        weights = load_file(str(path), device="cpu")
    except Exception as exc:  # SafetensorError, a header that is not JSON, a truncated file, ...
        raise CompanionError(f"cannot read {path} as safetensors ({type(exc).__name__}: {exc}); the file is "
                             "corrupt or not a safetensors file: point to another file") from None
    name = name or meta["model"]
    return _model_from_state(name, {"model_name": meta["model"], "model_config": meta["config"], "model": weights},
                             path), name


def _model_from_state(name: str, state: dict, path):
    """Build model ``name`` from a checkpoint's configuration and load its weights, after checking they fit."""
    from companion.engine.checkpoint import check_fits  # reason: PyTorch loads only when a command runs

    check_fits(path, state, None, name)  # the model's name first: another model's config cannot be built
    model = _build(name, state["model_config"], path)
    if _plain_config(state["model_config"]) == _plain_config(getattr(model, "config", {})):
        state = {**state, "model_config": model.config}  # a JSON sidecar's lists are the model's tuples
    check_fits(path, state, model, name)
    model.load_state_dict(state["model"])
    return model


def _load_model(args):
    """``(model, source, name)``: the model of ``--checkpoint`` (its name and configuration from the file for a
    FILE; ``--model``, default :data:`DEFAULT_MODEL`, for the zoo) with its weights."""
    source = args.checkpoint
    if source == "zoo":
        name = args.model or DEFAULT_MODEL
        return (*zoo_model(name, alternatives=_zoo_alternatives(name)), name)
    if source == "official":
        if args.model not in (None, "mepsnet"):
            raise CompanionError(f"--checkpoint official is the MEPSNet authors' weights, not {args.model}'s; "
                                 "pass --model mepsnet or a --checkpoint FILE")
        # reason: PyTorch and the models load only when a command runs
        from companion.ch7.authors_weights import load_authors_mepsnet, official_weights_path

        path = official_weights_path(Path(args.data) if args.data else None)
        if not Path(path).is_file():
            raise CompanionError(f"the MEPSNet authors' weights are not in {path}; run `python -m companion download "
                                 "mepsnet-official` first" + (f" with --data {args.data}" if args.data else ""))
        return load_authors_mepsnet(path), f"the MEPSNet authors' weights ({path})", "mepsnet"
    path = Path(source).expanduser()
    if path.is_dir():
        raise CompanionError(f"checkpoint {path} is a folder, not a file; pass the checkpoint file inside it")
    if not path.is_file():
        raise CompanionError(f"checkpoint {path} does not exist; pass a companion checkpoint .pt, a .safetensors "
                             "file with a JSON sidecar, or 'official'")
    if path.suffix.lower() == ".safetensors":
        model, name = _load_safetensors(args.model, path)
        return model, str(path), name
    from companion.engine.checkpoint import read_checkpoint  # reason: PyTorch loads only when a command runs

    state = read_checkpoint(path)
    name = args.model or str(state["model_name"])  # --model given: check_fits says when the file is another's
    return _model_from_state(name, state, path), str(path), name


def _super_resolution(model, args, name: str, device):
    """``(module to run, mode, scale)`` for a super-resolution model (one with ``scales``): ×``--scale``
    (default 4, or its only scale), on the fast CPU path (:func:`companion.engine.fast_inference.accelerate`,
    checked against eager) on a CPU, eager on another device."""
    # reason: PyTorch and ONNX Runtime load only when a command runs
    from tqdm import tqdm

    from companion.engine.fast_inference import accelerate
    from companion.engine.inference import inference_mode

    scales = tuple(model.scales)
    scale = args.scale or (4 if 4 in scales else scales[-1])
    if scale not in scales:
        raise CompanionError(f"{name} here upscales ×{', ×'.join(map(str, scales))}, not ×{scale}; pass --scale "
                             f"{' or '.join(map(str, scales))}")
    mode = inference_mode(device, args.precision)
    if device.type != "cpu":
        return model.at_scale(scale), mode, scale
    precision = mode["name"] if args.precision == "auto" else args.precision
    fast = accelerate(model, scale=scale, precision=precision, report=tqdm.write)
    return fast, {**mode, "bf16": False, "channels_last": False, "label": f"{fast.label} on cpu",
                  "why": f"{mode['why']}; checked against eager (max diff {fast.max_abs_diff:.2g})"}, scale


def _restore(args) -> int:
    # reason: PyTorch and the models load only when a command runs, so parsing the CLI stays fast
    from tqdm import tqdm

    from companion.device import resolve_device
    from companion.engine.inference import MEMORY_BUDGET, inference_mode, restore_files
    from companion.models import count_parameters, model_label

    device = resolve_device(args.device)
    restorer = args.restorers.get(args.model) if args.model else None
    if restorer is not None:
        if args.checkpoint != "zoo":
            raise CompanionError(f"--checkpoint is for the Chapter 7 models; {restorer.label} uses the authors' "
                                 f"weights when downloaded (`python -m companion download {restorer.release}`), else "
                                 "the zoo's: drop --checkpoint")
        model, source = restorer.load(args.scale or 4, Path(args.data) if args.data else None)
        label = restorer.label
    else:
        model, source, name = _load_model(args)  # restore_files then checks every image before it writes anything
        label = model_label(name)
    parameters = count_parameters(model)
    if getattr(model, "scales", None):
        runner, mode, scale = _super_resolution(model, args, label, device)
    else:
        if args.scale not in (None, 1):
            raise CompanionError(f"{label} restores at the same size; --scale is for the super-resolution models "
                                 f"({', '.join(args.restorers) or 'none here'})")
        runner, mode, scale = model, inference_mode(device, args.precision), 1

    def line(record):
        tqdm.write(f"{record['input']} -> {record['output']}: {record['width']}×{record['height']}"
                   f"{f' ×{scale}' if scale > 1 else ''} in {record['seconds']:.2f} s, "
                   f"{'×'.join(map(str, record['tiles']))} tiles ({record['mode']})")

    budget = int(args.memory_gb * MEMORY_BUDGET)
    records = restore_files(runner, args.images, args.out, device=device,
                            tiles=tuple(args.tiles) if args.tiles else "auto", overlap=args.overlap, mode=mode,
                            on_image=line, overwrite=args.overwrite, scale=scale, memory_budget=budget)
    total = sum(r["seconds"] for r in records)
    folders = sorted({str(r["output"].parent) for r in records})
    verb = f"upscaled ×{scale}" if scale > 1 else "restored"
    print(f"{verb} {len(records)} image{'s' * (len(records) != 1)} in {total:.1f} s "
          f"({total / len(records):.2f} s per image) into {', '.join(folders)}; {label} "
          f"({parameters:,} parameters) from {source}, {mode['label']} ({mode['why']})")
    return 0
