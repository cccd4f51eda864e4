"""Headless execution of the notebooks with papermill (``python -m companion run``).

For each notebook: inject ``PROFILE``, ``DEVICE`` and ``SEED`` into its tagged ``parameters`` cell, execute it,
write the executed copy to ``runs/<profile>/<notebook>.ipynb`` (or ``<notebook>.FAILED.ipynb`` when a cell
raised) atomically, and let the notebook write its figures and results file into
``runs/<profile>/figures/`` (``figures_dir`` overrides; ``make reproduce`` names the committed ``figures/``).
A failing notebook is named with its failing cell; the rest still run; the caller exits non-zero at the end.

Every argument is checked before anything executes, so bad input leaves ``runs/`` and ``figures/`` untouched.

The kernel runs this checkout: :data:`REPO_ROOT` goes first on its ``PYTHONPATH``, so neither an editable
install pointing at another clone nor a stray ``PYTHONPATH`` entry decides which ``companion`` a notebook
imports (and whose commit its provenance names). The kernel's traffic is CurveZMQ-encrypted where the kernel
supports it, which also keeps ipykernel's "running over TCP without encryption" warning out of the output.

papermill, nbformat and tqdm load only when notebooks are about to run, so a bad argument answers at once.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from companion.arguments import check_seed
from companion.atomic import atomic_write_text
from companion.profiles import check_profile, config_for, notebook_configs
from companion.device import check_device
from companion.errors import CompanionError
from companion.session import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RUNS_DIR = REPO_ROOT / "runs"


@dataclass
class NotebookOutcome:
    name: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""


def available_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]*.ipynb"))


def resolve_notebooks(names: list[str] | None, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Map names (``07a_shdd``, ``07a_shdd.ipynb``, a path, or a unique prefix such as ``07a``) to files."""
    found = available_notebooks(notebooks_dir)
    if not names:
        if not found:
            raise CompanionError(f"no numbered notebooks in {notebooks_dir}")
        return found
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_dir():
            raise CompanionError(f"{path} is a folder, not a notebook file")
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path.resolve())
            continue
        stem = path.name.removesuffix(".ipynb")
        matches = [p for p in found if p.stem == stem] or [p for p in found if p.stem.startswith(stem)]
        if len(matches) != 1 and path.is_dir():
            example = found[0].stem if found else "07a_shdd"
            raise CompanionError(f"{path} is a folder; name notebooks (e.g. {example} or "
                                 f"{example.split('_')[0]}), not their folder")
        if len(matches) != 1:  # ambiguous: the notebooks it matches; unknown: every notebook
            known = ", ".join(p.stem for p in (matches or found))
            problem = "ambiguous" if matches else "unknown"
            raise CompanionError(f"{problem} notebook {name!r}; choose from: {known}")
        chosen.append(matches[0])
    return chosen


def check_parameters_cell(path: Path) -> None:
    """Raise unless the notebook has a code cell tagged ``parameters`` (papermill injects after it).

    Reads the JSON directly: nbformat's schema machinery takes seconds to import, and papermill validates the
    notebook again when it runs it.
    """
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
        if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
            raise ValueError("cells is not a list of objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CompanionError(f"notebook {path.name} is not valid notebook JSON ({exc.__class__.__name__}); "
                             "restore it from git") from None
    for cell in cells:
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and "parameters" in tags:
            return
    raise CompanionError(f"notebook {path.name} has no cell tagged 'parameters'; tag the cell that sets "
                         "PROFILE, DEVICE and SEED (JupyterLab: Property Inspector > Cell Tags)")


def check_datasets(notebook: str, profile: str) -> None:
    """Raise before anything runs when the profile needs a dataset folder that is not there."""
    # reason: start-up time; data.references loads NumPy and PIL, which the runner does not need before a run
    from companion.data.references import prepare_source

    if notebook not in notebook_configs():
        return
    config = config_for(notebook, profile)
    for folder in getattr(config, "required_folders", lambda: ())():
        prepare_source("data", folder)  # raises a CompanionError naming the folder and the fix


def _failure_summary(exc: Exception, executed: Path | None) -> str:
    """One line: which cell failed (numbered as in the original notebook, from 1) and why."""
    import nbformat  # reason: heavy; seconds to import, needed only to read a failed notebook

    ename = getattr(exc, "ename", exc.__class__.__name__)
    evalue = str(getattr(exc, "evalue", exc)).strip().splitlines()
    reason = f"{ename}: {evalue[0] if evalue else ''}"
    if executed is not None and executed.exists() and executed.stat().st_size:
        try:
            nb = nbformat.read(executed, as_version=4)
        except Exception:
            nb = None
        added = {"injected-parameters", "papermill-error-cell-tag"}  # cells papermill inserts
        original = [c for c in (nb.cells if nb else [])
                    if not added & set(c.get("metadata", {}).get("tags", []))]
        for number, cell in enumerate(original, start=1):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
                return f"cell {number} ({first[:60]!r}): {reason}"[:400]
    return f"before any cell finished: {reason}"[:400]


def _check_folder(path: Path, role: str) -> Path:
    """``path`` if it is a folder or can become one; a CompanionError naming the file in the way otherwise."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise CompanionError(f"{candidate} is a file; {role} must be a folder" if candidate == path else
                                     f"{path} cannot be created: {candidate} is a file")
            break
    return path


def _kernel_config():
    """nbclient configuration for the kernel manager: CurveZMQ transport encryption where the kernel's spec
    declares support (ipykernel >= 7), so the kernel has no reason to warn that it runs unencrypted."""
    # reason: start-up time; loaded only when notebooks run (the CLI's argument checks come first)
    import zmq
    from traitlets.config import Config  # reason: as zmq, above

    if not zmq.has("curve"):
        return Config()
    return Config({"KernelManager": {"transport_encryption": "auto"}})


def _kernel_pythonpath() -> str:
    """``PYTHONPATH`` for the kernel: this checkout first, then whatever the caller had."""
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) != REPO_ROOT]
    return os.pathsep.join([str(REPO_ROOT), *rest])


def run_notebooks(names: list[str] | None = None, *, profile: str = "smoke", device: str = "auto", seed: int = 0,
                  notebooks_dir: Path = NOTEBOOKS_DIR, runs_dir: Path = RUNS_DIR,
                  figures_dir: Path | None = None, progress: bool = True, echo=None) -> list[NotebookOutcome]:
    """Execute notebooks headlessly; return one outcome per notebook (raises only for bad input).

    ``seed`` is checked with the command line's bounds (:func:`companion.arguments.check_seed`). Figures and
    results go to ``figures_dir``, default ``<runs_dir>/<profile>/figures/`` (never the committed ``figures/``
    unless named). ``echo`` prints one line per notebook (default: through the progress bar).
    """
    check_profile(profile)
    check_device(device)
    seed = check_seed(seed)
    paths = resolve_notebooks(names, notebooks_dir)
    for path in paths:
        check_parameters_cell(path)
        check_datasets(path.stem, profile)
    out_dir = _check_folder(Path(runs_dir), "runs dir") / profile
    figures = _check_folder(Path(figures_dir) if figures_dir else out_dir / "figures", "figures dir")
    _check_folder(out_dir, "runs dir")

    # reason: heavy; papermill takes seconds to import, so bad arguments are answered before it loads
    import papermill
    from tqdm.auto import tqdm  # reason: start-up time, as papermill (above)

    echo = echo or tqdm.write
    kernel_config = _kernel_config()
    saved_env = {k: os.environ.get(k) for k in ("COMPANION_FIGURES_DIR", "COMPANION_WORK_DIR", "PYTHONPATH")}
    os.environ["COMPANION_FIGURES_DIR"] = str(figures.resolve())
    os.environ["COMPANION_WORK_DIR"] = str((out_dir / "work").resolve())
    os.environ["PYTHONPATH"] = _kernel_pythonpath()
    outcomes = []
    bar = tqdm(paths, desc=f"notebooks ({profile})", unit="nb", disable=not progress)
    try:
        for path in bar:
            bar.set_postfix_str(path.stem)
            started = time.perf_counter()
            output = out_dir / f"{path.stem}.ipynb"
            failed = out_dir / f"{path.stem}.FAILED.ipynb"
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = out_dir / f".{path.stem}.{os.getpid()}.part.ipynb"
            error = ""
            try:
                papermill.execute_notebook(str(path), str(tmp), cwd=str(path.parent), progress_bar=False,
                                           parameters={"PROFILE": profile, "DEVICE": device, "SEED": seed},
                                           config=kernel_config)
                os.replace(tmp, output)
                failed.unlink(missing_ok=True)
            except Exception as exc:  # a failing cell or a dead kernel: report it, keep going
                error = _failure_summary(exc, tmp)
                output.unlink(missing_ok=True)  # an older good copy beside the failure would look current
                if tmp.exists() and tmp.stat().st_size:
                    os.replace(tmp, failed)  # papermill wrote the executed copy up to the error
                else:
                    failed.unlink(missing_ok=True)  # nothing executed: an older failure would mislead too
                output = failed
            finally:
                tmp.unlink(missing_ok=True)
            seconds = time.perf_counter() - started
            outcomes.append(NotebookOutcome(path.stem, not error, seconds, output, error))
            status = "ok" if not error else f"FAILED at {error}"
            echo(f"{path.stem}: {status} ({seconds:.1f} s) -> {output}")
    finally:
        bar.close()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return outcomes


#: First line of a cell whose printout is exact at every profile; its expected text is in EXPECTED_OUTPUTS.
CHECKED_OUTPUT = "# CHECKED OUTPUT: notebooks/expected_outputs.json"
EXPECTED_OUTPUTS = NOTEBOOKS_DIR / "expected_outputs.json"


def checked_copies(out_dir, *, notebooks_dir: Path = NOTEBOOKS_DIR, names=None) -> list[Path]:
    """Copies of the notebooks for ``pytest --nbval-lax``, written into ``out_dir``.

    The committed notebooks carry no outputs; the printout of each cell whose first line starts with
    :data:`CHECKED_OUTPUT` (the paper-size parameter counts of 07b and 07c) is kept in
    ``notebooks/expected_outputs.json``. Each copy gets that text as the cell's stored output and nbval's
    ``# NBVAL_CHECK_OUTPUT`` marker, so nbval compares it with what the cell prints; every other cell runs
    unchecked. Returns the copies' paths, in notebook order.
    """
    expected = json.loads((Path(notebooks_dir) / EXPECTED_OUTPUTS.name).read_text(encoding="utf-8"))["notebooks"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in resolve_notebooks(names, notebooks_dir):
        nb = json.loads(path.read_text(encoding="utf-8"))
        texts = list(expected.get(path.stem, []))
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.startswith(CHECKED_OUTPUT):
                if not texts:
                    raise CompanionError(f"{path.name} has more checked cells than {EXPECTED_OUTPUTS.name} lists; "
                                         "add the expected printout there")
                cell["source"] = "# NBVAL_CHECK_OUTPUT\n" + source
                cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": texts.pop(0)}]
                cell["execution_count"] = 1
        if texts:
            raise CompanionError(f"{EXPECTED_OUTPUTS.name} lists {len(texts)} more output(s) for {path.stem} than "
                                 "the notebook has checked cells")
        copy = out_dir / path.name
        atomic_write_text(copy, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        copies.append(copy)
    return copies
