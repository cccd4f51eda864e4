"""One object per notebook run: settings, device, seed, figures and the results file.

A notebook's first code cell after its tagged ``parameters`` cell is::

    run = start("07a_shdd", profile=PROFILE, device=DEVICE, seed=SEED)
    cfg = run.config

Then ``run.save_figure(fig, "fig7_3_levels", entry="Figure 7.3")`` writes the figure atomically with its
provenance (profile, seed, commit), ``run.record(...)`` keeps a measured number next to the paper entry it
reproduces, and ``run.finish()`` writes the notebook's results file, which ``python -m companion ledger`` reads.

Where things go (the headless runner sets the environment variables; in JupyterLab the defaults apply):

- figures: ``$COMPANION_FIGURES_DIR``, else ``runs/<profile>/figures/`` (ignored by git). A user's run never
  rewrites the committed ``figures/``: only ``make reproduce`` writes there, by naming it explicitly
  (``python -m companion run --profile quick --figures-dir figures``), and the ledger and the book read it;
- results: ``<figures dir>/results/<notebook>.json``;
- scratch data a notebook builds (generated datasets): ``$COMPANION_WORK_DIR``, else ``runs/<profile>/work/``
  (ignored by git).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from companion.arguments import check_seed
from companion.atomic import atomic_path, atomic_write_text
from companion.profiles import check_profile, config_for
from companion.device import resolve_device, seed_everything
from companion.errors import CompanionError

REPO_ROOT = Path(__file__).resolve().parents[1]
STATUSES = ("exact", "small-scale", "full-scale", "full-only")


#: The committed figures and results (``make reproduce`` writes them; the ledger and the book read them).
COMMITTED_FIGURES_DIR = REPO_ROOT / "figures"
#: Folders whose changes do not make a result's code "dirty": outputs (figures, runs), the model zoo
#: (checked by its own digests) and downloaded or generated data.
OUTPUT_FOLDERS = ("figures", "runs", "checkpoints", "data")


def default_figures_dir(profile: str) -> Path:
    """Where a profile's figures go when ``COMPANION_FIGURES_DIR`` is not set: ``runs/<profile>/figures/``,
    ignored by git, so running a notebook never rewrites :data:`COMMITTED_FIGURES_DIR`."""
    check_profile(profile)
    return REPO_ROOT / "runs" / profile / "figures"


def _folder_from_env(name: str, default: Path) -> Path:
    """The folder ``$name`` names, else ``default``; a CompanionError when it names a file."""
    value = os.environ.get(name)
    path = Path(value) if value else default
    if path.exists() and not path.is_dir():
        raise CompanionError(f"{name}={path} is a file; it must name a folder" if value else
                             f"{path} is a file; move it away, the companion keeps a folder there")
    return path


def git_commit(root: Path = REPO_ROOT) -> str:
    """Short commit of the checkout, with ``+dirty`` when its code or notebooks have uncommitted changes
    (tracked or untracked); changes under :data:`OUTPUT_FOLDERS` (what runs write) do not count."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", *(f":!{d}" for d in OUTPUT_FOLDERS)],
                               cwd=root, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _jsonable(value: Any) -> Any:
    """Plain JSON values; non-finite floats become None (strict JSON has no Infinity or NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if is_dataclass(value):
        return asdict(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:  # numpy/torch scalars
        return _jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class NotebookRun:
    """The state of one notebook execution. Create it with :func:`start`."""

    notebook: str
    profile: str
    seed: int
    device: Any
    config: Any
    figures_dir: Path
    commit: str
    rng: Any = None
    measurements: list[dict] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    conclusions: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def work_dir(self) -> Path:
        """A scratch folder for what the notebook builds (datasets); created on first use."""
        path = _folder_from_env("COMPANION_WORK_DIR", REPO_ROOT / "runs" / self.profile / "work")
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def results_path(self) -> Path:
        return self.figures_dir / "results" / f"{self.notebook}.json"

    @property
    def provenance(self) -> dict:
        return {"notebook": self.notebook, "profile": self.profile, "seed": self.seed, "commit": self.commit,
                "device": str(self.device)}

    def save_figure(self, fig, name: str, *, entry: str | None = None, caption: str = "",
                    dpi: int | None = None) -> Path:
        """Save ``fig`` as ``<figures dir>/<name>.png`` atomically; provenance goes into the PNG and the results.

        ``entry`` names the paper figure it reproduces (``"Figure 7.3"``, ``"ACCV Fig. 3"``), for the ledger.
        ``dpi`` defaults to :data:`companion.figures.style.DPI`.
        """
        if dpi is None:
            from companion.figures.style import DPI  # reason: loads NumPy; the runner imports this module without it

            dpi = DPI
        if not name or "/" in name or name.startswith("."):
            raise CompanionError(f"figure name {name!r} must be a plain file stem such as 'fig7_3_levels'")
        path = self.figures_dir / f"{name}.png"
        meta = {"Title": name, "Description": caption,
                "Comment": json.dumps(self.provenance, sort_keys=True), "Software": "companion"}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=meta, format="png")
        self.figures.append({"name": name, "file": path.name, "entry": entry, "caption": caption})
        return path

    def record(self, key: str, value: Any, *, entry: str | None = None, row: str | None = None,
               column: str | None = None, status: str = "small-scale", protocol: str = "", note: str = "") -> Any:
        """Keep one measured number. ``entry``/``row``/``column`` name the paper cell it stands beside.

        ``status``: ``exact`` (analytic, e.g. a parameter count), ``small-scale`` (measured at this profile's
        reduced scale), ``full-scale`` (measured at the paper's settings) or ``full-only`` (this notebook
        configures the paper-scale measurement, but only the ``full`` profile makes it).
        """
        if status not in STATUSES:
            raise CompanionError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
        if status == "small-scale" and self.profile == "full":
            status = "full-scale"
        self.measurements.append({"key": key, "value": _jsonable(value), "entry": entry, "row": row,
                                  "column": column, "status": status, "protocol": protocol, "note": note})
        return value

    def conclude(self, paragraphs) -> str:
        """Keep the notebook's conclusions (Markdown paragraphs rendered from its measurements by a chapter's
        tested function, never typed numbers) in the results file, where the book reads them, and return them
        as one Markdown text for the notebook to display (``IPython.display.Markdown``)."""
        paragraphs = [str(p).strip() for p in paragraphs if str(p).strip()]
        self.conclusions = paragraphs
        return "\n\n".join(paragraphs)

    def finish(self) -> Path:
        """Write the results file atomically and return its path."""
        doc = {**self.provenance, "config": _jsonable(self.config),
               "wall_seconds": round(time.perf_counter() - self.started, 2),
               "measurements": self.measurements, "figures": self.figures, "conclusions": self.conclusions}
        text = json.dumps(doc, indent=2, sort_keys=True, default=_jsonable, allow_nan=False)
        atomic_write_text(self.results_path, text + "\n")
        return self.results_path


def start(notebook: str, *, profile: str = "quick", device: str = "auto", seed: int = 0) -> NotebookRun:
    """Begin a notebook run: validate the parameters, seed everything, pick the device, load the settings.

    ``seed`` is a whole number from 0 to :data:`companion.arguments.MAX_SEED`, the bounds the command line and
    the runner use; every parameter is checked before anything is created.
    """
    check_profile(profile)
    seed = check_seed(seed)
    config = config_for(notebook, profile)
    figures_dir = _folder_from_env("COMPANION_FIGURES_DIR", default_figures_dir(profile))
    torch_device = resolve_device(device)
    rng = seed_everything(seed)
    figures_dir.mkdir(parents=True, exist_ok=True)
    return NotebookRun(notebook=notebook, profile=profile, seed=seed, device=torch_device, config=config,
                       figures_dir=figures_dir, commit=git_commit(), rng=rng)
