"""The project's Jupyter kernel: installed into the virtual environment itself, named by every notebook.

``make venv`` runs ``python -m companion.kernel install``: :func:`install_kernel` writes the kernelspec
:data:`KERNEL_NAME` into ``<sys.prefix>/share/jupyter/kernels/`` (ipykernel's ``install(prefix=sys.prefix)``,
the same as ``python -m ipykernel install --sys-prefix``), so nothing is written to the user's home and a
second clone's environment has its own kernel. Its ``argv`` runs this environment's Python, which is why
JupyterLab started from ``.venv`` (``make lab``) and the headless runner (papermill) run every notebook with
the pinned packages, whatever ``python3`` kernel the user's machine has.

The kernel runs the checkout its notebook is in. Its ``argv`` is ``python -m companion.kernel launch -f
{connection_file}``: Jupyter (JupyterLab, ``jupyter nbconvert``, papermill) starts a kernel in its notebook's
folder, and :func:`launch` walks up from there to the checkout (:func:`find_checkout`: the folder whose
``pyproject.toml`` names this project), puts it first on ``sys.path`` and ``PYTHONPATH`` and only then starts
ipykernel. Two clones sharing one environment therefore each import their own ``companion`` and write into
their own ``runs/``, whichever clone the environment's editable install points at.

The install also writes ``<sys.prefix>/etc/jupyter/jupyter_nbconvert_config.json`` with what
``python -m companion run`` sets (:data:`CLIENT_CONFIG`: CurveZMQ transport encryption where the kernel
supports it), so ``jupyter nbconvert --execute`` from this environment runs the kernel encrypted and without
ipykernel's "running over TCP without encryption" warning.

Every notebook names the kernel in ``metadata.kernelspec`` (:func:`set_kernelspec` writes that field only;
``python -m companion.kernel set notebooks/*.ipynb``). ``python -m companion.kernel check`` says whether the
kernel is installed and which Python it runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

from companion.atomic import atomic_write_text
from companion.errors import CompanionError

KERNEL_NAME = "companion"
DISPLAY_NAME = "Python 3 (companion .venv)"
KERNELSPEC = {"display_name": DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
#: ``[project] name`` in the checkout's pyproject.toml: how :func:`find_checkout` knows this project's folder.
PROJECT_NAME = "companion"
#: The kernel's command after the Python and its options; ``{connection_file}`` is Jupyter's placeholder.
LAUNCH_ARGS = ["-m", "companion.kernel", "launch", "-f", "{connection_file}"]
#: Kernel-manager settings of ``python -m companion run`` (companion.runner), written for nbconvert too.
CLIENT_CONFIG = {"KernelManager": {"transport_encryption": "auto"}}


def find_checkout(start: str | os.PathLike) -> Path | None:
    """The nearest folder at or above ``start`` whose ``pyproject.toml`` names :data:`PROJECT_NAME`, else None."""
    for folder in (Path(start).resolve(), *Path(start).resolve().parents):
        try:
            project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if isinstance(project, dict) and project.get("name") == PROJECT_NAME:
            return folder
    return None


def use_checkout(checkout: Path) -> None:
    """Make ``import companion`` load ``checkout``'s package: first on ``sys.path`` and on ``PYTHONPATH`` (for
    the processes a notebook starts), and any ``companion`` modules already loaded from elsewhere forgotten."""
    first = str(checkout)
    sys.path[:] = [first, *(p for p in sys.path if p and Path(p).resolve() != checkout)]
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != checkout]
    os.environ["PYTHONPATH"] = os.pathsep.join([first, *rest])
    for name in [m for m in sys.modules if m == PROJECT_NAME or m.startswith(PROJECT_NAME + ".")]:
        del sys.modules[name]


def launch(argv: list[str]) -> None:
    """The kernel's entry point (``python -m companion.kernel launch -f FILE``): use the checkout that holds the
    working directory (Jupyter starts a kernel in its notebook's folder), then run ipykernel with ``argv``.

    Outside any checkout the environment's installed ``companion`` is used, as a plain kernel would."""
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]  # as ipykernel_launcher: the notebook's folder goes back on the path once IPython starts
    checkout = find_checkout(Path.cwd())
    if checkout is not None:
        use_checkout(checkout)
    # reason: ipykernel starts the kernel; imported after the path is set, and never by `set` or `check`
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv)


def write_client_config(prefix: str | Path | None = None) -> Path:
    """Merge :data:`CLIENT_CONFIG` into ``<prefix>/etc/jupyter/jupyter_nbconvert_config.json``; returns it."""
    path = Path(prefix or sys.prefix) / "etc" / "jupyter" / "jupyter_nbconvert_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        raise CompanionError(f"{path} is not valid JSON; fix or remove it, then rerun `make kernel`") from None
    for section, values in CLIENT_CONFIG.items():
        config.setdefault(section, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path


def kernel_dir(prefix: str | Path | None = None) -> Path:
    """Where the kernelspec lives in the environment ``prefix`` (default: the running one)."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def install_kernel(prefix: str | Path | None = None) -> Path:
    """Install (or refresh) the kernelspec into ``prefix`` (default ``sys.prefix``); returns its folder.

    The spec is ipykernel's own (:func:`ipykernel.kernelspec.write_kernel_spec`: logos, ``kernel.json`` with
    the debugger and encryption metadata, ``-Xfrozen_modules=off`` as ``ipykernel install`` adds it), staged
    next to the destination and moved in place, so the kernel runs ``sys.executable``, the Python of this
    environment. Unlike ``ipykernel install``, nothing is read from or created in the user's home (it would
    make ``~/.ipython``). The spec's ``argv`` starts :func:`launch` (:data:`LAUNCH_ARGS`) instead of
    ``ipykernel_launcher``, and :func:`write_client_config` writes the nbconvert settings beside it.
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
        spec = json.loads((built / "kernel.json").read_text(encoding="utf-8"))
        python = spec["argv"][:spec["argv"].index("-m")]  # the interpreter and its options
        spec["argv"] = [*python, *LAUNCH_ARGS]
        atomic_write_text(built / "kernel.json", json.dumps(spec, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        built.replace(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    spec = json.loads((dest / "kernel.json").read_text(encoding="utf-8"))
    if Path(spec["argv"][0]).resolve() != Path(sys.executable).resolve():
        raise CompanionError(f"the kernel in {dest} runs {spec['argv'][0]}, not this environment's "
                             f"{sys.executable}; rerun `make kernel` with the project's .venv")
    write_client_config(prefix)
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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["launch"]:  # the kernel itself: every later argument is ipykernel's
        launch(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m companion.kernel", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install the kernelspec into this environment (sys.prefix)")
    sub.add_parser("check", help="say whether the kernel is installed and which Python it runs")
    sub.add_parser("launch", help="start the kernel in the checkout holding the working directory (the "
                                  "kernelspec runs `launch -f {connection_file}`; the rest goes to ipykernel)")
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
