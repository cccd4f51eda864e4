"""The project's Jupyter kernel: installed into the virtual environment itself, named by every notebook.

``make venv`` runs ``python -m companion.kernel install``: :func:`install_kernel` writes the kernelspec
:data:`KERNEL_NAME` into ``<sys.prefix>/share/jupyter/kernels/`` (ipykernel's ``install(prefix=sys.prefix)``,
the same as ``python -m ipykernel install --sys-prefix``), so nothing is written to the user's home and a
second clone's environment has its own kernel. Its ``argv`` runs this environment's Python, which is why
JupyterLab started from ``.venv`` (``make lab``) and the headless runner (papermill) run every notebook with
the pinned packages, whatever ``python3`` kernel the user's machine has.

Every notebook names the kernel in ``metadata.kernelspec`` (:func:`set_kernelspec` writes that field only;
``python -m companion.kernel set notebooks/*.ipynb``). ``python -m companion.kernel check`` says whether the
kernel is installed and which Python it runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

from companion.atomic import atomic_write_text
from companion.errors import CompanionError

KERNEL_NAME = "companion"
DISPLAY_NAME = "Python 3 (companion .venv)"
KERNELSPEC = {"display_name": DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}


def kernel_dir(prefix: str | Path | None = None) -> Path:
    """Where the kernelspec lives in the environment ``prefix`` (default: the running one)."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def install_kernel(prefix: str | Path | None = None) -> Path:
    """Install (or refresh) the kernelspec into ``prefix`` (default ``sys.prefix``); returns its folder.

    The spec is ipykernel's own (:func:`ipykernel.kernelspec.write_kernel_spec`: logos, ``kernel.json`` with
    the debugger and encryption metadata, ``-Xfrozen_modules=off`` as ``ipykernel install`` adds it), staged
    next to the destination and moved in place, so the kernel runs ``sys.executable``, the Python of this
    environment. Unlike ``ipykernel install``, nothing is read from or created in the user's home (it would
    make ``~/.ipython``).
    """
    # reason: start-up time; ipykernel takes a quarter of a second to import, and `set` and `check` never use it
    from ipykernel.kernelspec import write_kernel_spec

    dest = kernel_dir(prefix)
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{KERNEL_NAME}.", dir=dest.parent))
    try:
        args = ["-Xfrozen_modules=off"] if platform.python_implementation() == "CPython" else None
        built = Path(write_kernel_spec(stage / KERNEL_NAME, overrides={"display_name": DISPLAY_NAME},
                                       python_arguments=args))
        built.chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        built.replace(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    spec = json.loads((dest / "kernel.json").read_text(encoding="utf-8"))
    if Path(spec["argv"][0]).resolve() != Path(sys.executable).resolve():
        raise CompanionError(f"the kernel in {dest} runs {spec['argv'][0]}, not this environment's "
                             f"{sys.executable}; rerun `make kernel` with the project's .venv")
    return dest


def installed_kernel() -> dict | None:
    """The kernelspec Jupyter finds for :data:`KERNEL_NAME` from this environment (``resource_dir``,
    ``argv``), or None when it is not installed."""
    # reason: start-up time; jupyter_client takes a quarter of a second to import, and `set` never uses it
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return None
    return {"resource_dir": spec.resource_dir, "argv": list(spec.argv), "display_name": spec.display_name}


_KERNELSPEC_BLOCK = re.compile(r'("kernelspec":\s*)\{[^{}]*\}')


def set_kernelspec(paths) -> list[Path]:
    """Make every notebook in ``paths`` name the project's kernel; returns the files that changed.

    Only ``metadata.kernelspec`` changes: where the notebook already has one, its JSON text is replaced in
    place (every other byte of the file stays as it was); otherwise the field is added and the notebook is
    written in nbformat's layout. Writes are atomic.
    """
    changed = []
    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8")
        try:
            nb = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CompanionError(f"{path} is not a notebook (invalid JSON: {exc})") from None
        if not isinstance(nb, dict) or "cells" not in nb:
            raise CompanionError(f"{path} is not a notebook (no cells)")
        if nb.get("metadata", {}).get("kernelspec") == KERNELSPEC:
            continue
        indent = re.search(r'\n( *)"kernelspec"', text)
        matches = list(_KERNELSPEC_BLOCK.finditer(text))
        if "kernelspec" in nb.get("metadata", {}) and indent and len(matches) == 1:
            pad = indent.group(1)
            inner = ",\n".join(f'{pad} {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}'
                               for k, v in sorted(KERNELSPEC.items()))
            new = text[:matches[0].start()] + matches[0].group(1) + "{\n" + inner + "\n" + pad + "}" \
                + text[matches[0].end():]
        else:
            nb.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
            new = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if json.loads(new).get("metadata", {}).get("kernelspec") != KERNELSPEC:  # the edit must be the field only
            raise CompanionError(f"could not set the kernelspec of {path}; set metadata.kernelspec by hand")
        atomic_write_text(path, new)
        changed.append(path)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion.kernel", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install the kernelspec into this environment (sys.prefix)")
    sub.add_parser("check", help="say whether the kernel is installed and which Python it runs")
    setter = sub.add_parser("set", help="make notebooks name the project's kernel (metadata.kernelspec only)")
    setter.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(f"installed Jupyter kernel {KERNEL_NAME!r} ({DISPLAY_NAME}) in {install_kernel()}")
        elif args.command == "check":
            spec = installed_kernel()
            if spec is None:
                print(f"error: Jupyter kernel {KERNEL_NAME!r} is not installed; run `make kernel`", file=sys.stderr)
                return 1
            print(f"kernel {KERNEL_NAME!r} in {spec['resource_dir']} runs {spec['argv'][0]}")
        else:
            for path in set_kernelspec(args.notebooks):
                print(f"{path}: kernelspec set to {KERNEL_NAME!r}")
    except CompanionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
