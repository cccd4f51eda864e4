"""Wall time of every notebook in a profile, through the same runner as `python -m companion run`.

Usage: python benchmarks/notebooks.py --profile smoke|quick [NOTEBOOK ...]. Executed copies go to a temporary
folder; with --profile quick the figures go to a temporary folder too unless --write-figures is given.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from companion.runner import run_notebooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write-figures", action="store_true", help="write into the default figures folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        outcomes = run_notebooks(args.notebooks or None, profile=args.profile, device=args.device,
                                 runs_dir=Path(tmp) / "runs",
                                 figures_dir=None if args.write_figures else Path(tmp) / "figures")
        total = time.perf_counter() - started
    print(f"\n{'notebook':<28}{'status':>8}{'seconds':>10}")
    for o in outcomes:
        print(f"{o.name:<28}{'ok' if o.ok else 'FAILED':>8}{o.seconds:>10.1f}")
    print(f"{'total (' + args.profile + ')':<28}{'':>8}{total:>10.1f}")


if __name__ == "__main__":
    main()
