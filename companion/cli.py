"""``python -m companion``: run notebooks, write the ledger, download and generate datasets, train a model.

The shared commands (``run``, ``ledger``, ``download``, ``list``) are defined here; each chapter package may
add its own in a ``commands.py`` with ``add_commands(subparsers)`` and, for dataset generators,
``add_data_commands(data_subparsers)`` (``data shdd``, ``data flickr-distortion``, ...). Nothing heavy is
imported before the arguments are parsed, so ``list`` and argument errors answer at once.

Bad input ends with one line, ``error: <what went wrong and the fix>``, and exit status 2; a notebook that
fails ends the ``run`` command with status 1 after the others have run. :func:`main` returns the exit status
in every case (argument errors and ``--help`` included), so ``main([...])`` can be called from Python.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from companion import arguments
from companion.data import folders
from companion.errors import CompanionError
from companion.profiles import PROFILES, chapter_packages, notebook_configs

REPO_ROOT = Path(__file__).resolve().parents[1]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: <message>`` and exit status 2, no usage dump."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _cmd_run(args) -> int:
    # reason: start-up time; the runner and the session it imports add about 90 ms to a 250 ms `--help`
    from companion.runner import run_notebooks

    outcomes = run_notebooks(args.notebooks or None, profile=args.profile, device=args.device, seed=args.seed,
                             runs_dir=Path(args.runs_dir), figures_dir=args.figures_dir and Path(args.figures_dir))
    failed = [o for o in outcomes if not o.ok]
    total = sum(o.seconds for o in outcomes)
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} notebooks ran in {total:.1f} s ({args.profile} profile)")
    for o in failed:
        copy = f"executed copy: {o.output}" if o.output.is_file() else "no executed copy was written"
        print(f"FAILED {o.name} at {o.error}; {copy}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_ledger(args) -> int:
    from companion import ledger  # reason: start-up time, as the runner (above)

    dirs = args.results if args.results else ledger.RESULTS_DIRS
    ledger.write_ledger(Path(args.out), results_dirs=dirs, require_results=bool(args.results))
    return 0


def _cmd_download(args) -> int:
    # reason: start-up time; downloads load tqdm and the HTTP and archive modules (about 180 ms)
    from companion.data.download import download_dataset, download_weights, install_archive

    root = Path(args.data) if args.data else None
    weights = {name.lower(): name for name in folders.WEIGHTS}
    if args.name.lower() in weights:
        name = weights[args.name.lower()]
        if args.part:
            raise CompanionError(f"--part applies to datasets; the weights {name} have no parts")
        if args.archive:
            raise CompanionError(f"--archive applies to datasets; the weights {name} come from their repository")
        # The chapter owning a model converts its weights: each chapter's authors_weights.py may declare
        # CONVERTERS = {weights name: convert(downloaded, target)} (found by file name, as commands.py are).
        package_dir = Path(__file__).resolve().parent
        convert = None
        for package in chapter_packages():
            if (package_dir / package / "authors_weights.py").is_file():
                module = importlib.import_module(f"companion.{package}.authors_weights")
                convert = getattr(module, "CONVERTERS", {}).get(name, convert)
        path = download_weights(name, root, sha256=args.sha256, convert=convert)
        print(f"{name}: ready in {path}")
        return 0
    if args.name.lower() not in {name.lower() for name in folders.DATASETS}:
        raise CompanionError(f"unknown dataset or weights {args.name!r}; choose one of: "
                             f"{', '.join([*folders.DATASETS, *folders.WEIGHTS])}")
    if args.archive:
        if args.part:
            raise CompanionError("--part applies to downloads from the catalogue, not to --archive")
        path = install_archive(args.name, args.archive, sha256=args.sha256, root=root)
        print(f"{args.name}: ready in {path}")
        return 0
    path = download_dataset(args.name, root, sha256=args.sha256, parts=tuple(args.part or ()))
    print(f"{args.name}: ready in {path}")
    return 0


def _cmd_list(args) -> int:
    configs = notebook_configs()
    paths = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))
    width = max((len(p.stem) for p in paths), default=0) + 2  # the longest name, then two spaces
    for path in paths:
        print(f"{path.stem:<{width}}{'profiles: ' + ', '.join(PROFILES) if path.stem in configs else ''}".rstrip())
    return 0


def _chapter_modules(stem: str) -> list:
    """The chapter packages' modules named ``stem`` (``commands``, ``restorers``), in package order; found by
    file name, so a chapter without one imports nothing."""
    package_dir = Path(__file__).resolve().parent
    return [importlib.import_module(f"companion.{name}.{stem}") for name in chapter_packages()
            if (package_dir / name / f"{stem}.py").is_file()]


def _chapter_restorers() -> dict:
    """Every chapter's models for ``restore`` beyond the command's own: the ``RESTORERS`` dicts (name →
    restorer) of the chapters' ``restorers.py`` (light imports)."""
    return {name: restorer for module in _chapter_modules("restorers") for name, restorer in module.RESTORERS.items()}


def _plural(n: int, word: str, plural: str) -> str:
    return f"{n} {word if n == 1 else plural}"


def _cmd_zoo_list(args) -> int:
    import json  # reason: only --recipe prints JSON

    from companion import zoo  # reason: heavy; the zoo loads PyTorch

    entries = zoo.select(args.names)
    if args.recipe:
        print(json.dumps([zoo.recipe(entry) for entry in entries], indent=1, sort_keys=True, ensure_ascii=False))
        return 0
    rows = zoo.list_rows(entries)
    width = max((len(r["name"]) for r in rows), default=4)
    print(f"{'name':{width}s}  {'status':8s} {'steps':>6s} {'seconds':>8s} {'val dB':>7s} {'MB':>6s}  label")
    for r in rows:
        steps = f"{r['steps']:6d}" if r["steps"] is not None else f"{'-':>6s}"
        secs = f"{r['seconds']:8.0f}" if r["seconds"] is not None else f"{'-':>8s}"
        val = f"{r['val_psnr']:7.2f}" if r["val_psnr"] is not None else f"{'-':>7s}"
        print(f"{r['name']:{width}s}  {r['status']:8s} {steps} {secs} {val} {r['mb']:6.2f}  {r['label']}")
    counts = {state: sum(r["status"] == state for r in rows) for state in zoo.STATES}
    print(_plural(len(rows), "entry", "entries") + ": " + ", ".join(f"{n} {state}" for state, n in counts.items())
          + f"; {zoo.size_bytes() / 1e6:.1f} MB in {zoo.zoo_dir()}")
    validation = list(dict.fromkeys((zoo.group_of(e), zoo.validation_text(e)) for e in entries))
    validation = [(group, text) for group, text in validation if text != "not recorded"]
    if validation:
        print("\nval dB: PSNR at the end of training, never on the test split; measured on")
        for group, text in validation:
            print(f"  {group}  {text}")
    legend = zoo.label_legend(entries)
    if legend:
        print("\nlabel: what the paper's tables call the model; shorthand labels stand for these settings:")
        for line in legend:
            print(f"  {line}")
    print("\n`zoo list NAME --recipe` prints an entry's whole training recipe.")
    return 0


def _cmd_zoo_build(args) -> int:
    from companion import zoo  # reason: heavy; the zoo loads PyTorch

    todo = zoo.build(args.names, workers=args.workers, force=args.force)
    print(f"zoo: {_plural(len(todo), 'entry', 'entries')} built"
          + ("" if todo else " (everything named is current; --force retrains)")
          + f"; {zoo.size_bytes() / 1e6:.1f} MB in {zoo.zoo_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m companion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="execute notebooks headlessly with papermill")
    run.add_argument("notebooks", nargs="*", help="notebook names or prefixes (default: all)")
    run.add_argument("--profile", default="smoke", help="smoke | quick | full (default: smoke)")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    run.add_argument("--seed", type=arguments.seed, default=0)
    run.add_argument("--runs-dir", default=str(REPO_ROOT / "runs"), type=arguments.out_folder,
                     help="where executed copies go (default: runs/)")
    run.add_argument("--figures-dir", default=None, type=arguments.out_folder,
                     help="where figures and results go (default: <runs dir>/<profile>/figures/, ignored by "
                          "git; `make reproduce` names figures/, the committed folder the ledger and book read)")
    run.set_defaults(func=_cmd_run)

    led = sub.add_parser("ledger", help="write figures/LEDGER.md from the paper data and the results files")
    led.add_argument("--results", action="append", type=arguments.existing_folder,
                     help="a results folder (repeatable; default: figures/results and figures/full/results)")
    led.add_argument("--out", default=str(REPO_ROOT / "figures" / "LEDGER.md"), type=arguments.out_file,
                     help="the ledger file (default: figures/LEDGER.md)")
    led.set_defaults(func=_cmd_ledger)

    dl = sub.add_parser("download", help="download a dataset (SHA-256 verified) or released weights (verified "
                                         "by git blob id, converted once to safetensors); resumable")
    dl.add_argument("name", help="DIV2K, Set5, Set14, B100, Urban100, Manga109, RealSR (from --archive), or "
                                 "authors' weights (into <data>/weights/): mepsnet-official, carn, carn-m, pcarn, "
                                 "pcarn-l1, pcarn-m, pcarn-m-l1")
    dl.add_argument("--data", help="data folder (default: $COMPANION_DATA, else data/)")
    dl.add_argument("--sha256", help="expected SHA-256 where the catalogue has none (for weights: an extra check)")
    dl.add_argument("--archive", help="install the dataset from an archive you fetched (a path or a URL; with "
                                      "--sha256): RealSR, which has no published checksum")
    dl.add_argument("--part", action="append", help="optional part, e.g. x2, x3, x4 for DIV2K's bicubic LR "
                                                    "images (repeatable)")
    dl.set_defaults(func=_cmd_download)

    lst = sub.add_parser("list", help="list the notebooks and their profiles")
    lst.set_defaults(func=_cmd_list)

    zoo = sub.add_parser("zoo", help="the model zoo in checkpoints/: list what is there, stale or missing; "
                                     "build (retrain) what is missing or stale, resumable")
    zoo_sub = zoo.add_subparsers(dest="action", required=True, parser_class=Parser)
    names_help = "entries or prefixes, e.g. ch7/07b or ch7/07b/mepsnet-seed0 (default: all)"
    zoo_list = zoo_sub.add_parser("list", help="each entry's status (current, stale, missing), steps, training "
                                               "seconds, validation PSNR and label, and what they mean",
                                  description="List the zoo: status, steps, training seconds, validation PSNR "
                                              "(the images it was measured on are named below the table), size "
                                              "and label (shorthand labels are spelled out as settings).")
    zoo_list.add_argument("names", nargs="*", help=names_help)
    zoo_list.add_argument("--recipe", action="store_true",
                          help="print the named entries' models, configurations and training recipes (a JSON list)")
    zoo_list.set_defaults(func=_cmd_zoo_list)
    zoo_build = zoo_sub.add_parser(
        "build", help="retrain what is missing or stale (resumable)",
        description="Retrain the named zoo entries that are missing or stale, exactly as their notebooks' quick "
                    "profiles train them; resumable (rerun the same command after an interruption). A full "
                    "rebuild takes about 5 hours 30 minutes on the 2-core reference machine (benchmarks/README.md, "
                    "'Model zoo: size and rebuild times'); on the same kind of CPU it gives the same bits, elsewhere "
                    "numbers within the seed spread (docs/decisions.md).")
    zoo_build.add_argument("names", nargs="*", help=names_help)
    zoo_build.add_argument("--workers", type=arguments.positive_int, default=2,
                           help="models trained side by side, one thread each (default: 2)")
    zoo_build.add_argument("--force", action="store_true", help="retrain the named entries even when current")
    zoo_build.set_defaults(func=_cmd_zoo_build)

    data = sub.add_parser("data", help="generate a chapter's dataset (see `data --help`)",
                          description="Generate a chapter's dataset: `data NAME --out X` writes into X/NAME/.")
    data_sub = data.add_subparsers(dest="kind", required=True, parser_class=Parser)
    restorers = _chapter_restorers()
    for module in _chapter_modules("commands"):
        if hasattr(module, "add_data_commands"):
            module.add_data_commands(data_sub)
        if hasattr(module, "add_commands"):
            module.add_commands(sub)
        if hasattr(module, "add_restore_command"):
            module.add_restore_command(sub, restorers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (2 for bad arguments, after one ``error:`` line)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2, the line is printed already)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return args.func(args)
    except CompanionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a command that saved its state says where a rerun resumes (train)
        print(f"error: {exc}" if str(exc) else "error: interrupted; rerun the same command to resume",
              file=sys.stderr)
        return 128 + int(getattr(exc, "signum", 2))


if __name__ == "__main__":
    raise SystemExit(main())
