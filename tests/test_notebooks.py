"""Every committed notebook: clean on disk, honest in its prose and imports, and executed in the smoke profile.

The execution goes through the same runner as ``python -m companion run`` (papermill), into temporary folders,
so the tests never touch the committed ``figures/``. Notebooks are committed without outputs; the exact,
profile-independent printout of the cells marked ``# CHECKED OUTPUT`` lives in
``notebooks/expected_outputs.json``, and ``pytest --nbval-lax`` checks it on copies
(:func:`companion.runner.checked_copies`).
"""
from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from companion.profiles import chapter_packages, notebook_configs
from companion.runner import CHECKED_OUTPUT, EXPECTED_OUTPUTS, available_notebooks, checked_copies, run_notebooks

NOTEBOOKS = available_notebooks()
REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "companion"
#: The one import between chapter packages: the tour previews Chapter 7's SHDD.
ALLOWED_CHAPTER_EDGES = {("tour", "ch7"), ("ch4", "ch7")}  # ch4: 04c trains Chapter 7's MEPSNet with MoA


def _checked(cell) -> bool:
    """True for a code cell whose printout nbval compares with ``notebooks/expected_outputs.json``."""
    return cell.source.startswith(CHECKED_OUTPUT)


def _chapters() -> set[str]:
    """The chapter packages: those with a ``config.py`` (``companion.profiles``), plus ``tour`` and any ``chN``."""
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and re.fullmatch(r"ch\d+|tour", p.name)}
    return found | set(chapter_packages())


def _own_chapter(stem: str) -> str:
    """The chapter package a notebook belongs to: ``00_*`` -> ``tour``, ``06a_*`` -> ``ch6``, ``07b_*`` -> ``ch7``."""
    number = int(stem[:2])
    return "tour" if number == 0 else f"ch{number}"


def test_there_are_notebooks_and_each_has_profiles():
    names = {p.stem for p in NOTEBOOKS}
    assert "00_quickstart" in names
    assert names == set(notebook_configs()), "every notebook needs a config module, and every config a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    """No outputs or execution counts in any committed cell (checked cells keep theirs in expected_outputs.json)."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert not cell.outputs, f"{path.name} cell {i + 1} carries outputs; clear them before committing"
        assert cell.execution_count is None, f"{path.name} cell {i + 1} carries an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 cell ids (a missing one is a warning today and an error in later nbformat versions)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    ids = [cell.get("id") for cell in cells]
    assert None not in ids, f"{path.name}: cells {[i + 1 for i, x in enumerate(ids) if x is None]} have no id"
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"


def test_the_checked_cells_are_the_exact_counts():
    """The checked cells are the paper-size parameter counts of 07b and 07c (exact at any profile), one expected
    printout per checked cell."""
    expected = json.loads(EXPECTED_OUTPUTS.read_text(encoding="utf-8"))["notebooks"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert len(expected.get(path.stem, [])) == sum(c.cell_type == "code" and _checked(c) for c in nb.cells)
    assert "2,241,187 trainable parameters" in "".join(expected["07b_mepsnet_training"])
    assert "ME+PS (3 experts)" in "".join(expected["07c_ablations"])
    assert "2,241,187" in "".join(expected["07c_ablations"])


def test_checked_copies_carry_the_expected_output_and_nbvals_marker(tmp_path):
    [b, c] = checked_copies(tmp_path, names=["07b", "07c"])
    for copy in (b, c):
        cells = [cell for cell in nbformat.read(copy, as_version=4).cells if _checked_copy(cell)]
        assert len(cells) == 1 and cells[0].execution_count == 1
    [cell] = [cell for cell in nbformat.read(b, as_version=4).cells if _checked_copy(cell)]
    assert cell.outputs[0]["text"].startswith("2,241,187 trainable parameters")
    assert not any(c.get("outputs") for c in nbformat.read(b, as_version=4).cells if not _checked_copy(c))


def _checked_copy(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith("# NBVAL_CHECK_OUTPUT\n" + CHECKED_OUTPUT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_reads_the_profile_from_the_environment(path):
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert 'PROFILE = os.environ.get("COMPANION_PROFILE", "quick")' in cell.source
    env = {"os": os}
    saved = os.environ.pop("COMPANION_PROFILE", None)
    try:
        exec(cell.source, env)  # noqa: S102 - the notebook's own parameters cell
        assert env["PROFILE"] == "quick"
        os.environ["COMPANION_PROFILE"] = "smoke"
        exec(cell.source, env)  # noqa: S102
        assert env["PROFILE"] == "smoke"
    finally:
        os.environ.pop("COMPANION_PROFILE", None)
        if saved is not None:
            os.environ["COMPANION_PROFILE"] = saved


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_declares_profile_device_seed(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    for name in ("PROFILE", "DEVICE", "SEED"):
        assert f"{name} =" in tagged[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_run(path, tmp_path):
    figures = tmp_path / "figures"
    [outcome] = run_notebooks([path.stem], profile="smoke", device="cpu", seed=0, runs_dir=tmp_path / "runs",
                              figures_dir=figures, progress=False, echo=lambda *_: None)
    assert outcome.ok, f"{path.stem} failed in the smoke profile at {outcome.error}"
    results = json.loads((figures / "results" / f"{path.stem}.json").read_text())
    assert results["profile"] == "smoke" and results["notebook"] == path.stem
    assert results["measurements"], "a notebook should measure something"
    for fig in results["figures"]:
        png = figures / fig["file"]
        assert png.exists(), f"{fig['file']} listed but not written"
        assert json.loads(Image.open(png).text["Comment"])["profile"] == "smoke"


# --- the prose names the code: every `companion.x.y` in the markdown exists --------------------------------------

REFERENCE = re.compile(r"`(companion(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")
PATH_REFERENCE = re.compile(r"`((?:companion|benchmarks|tests)/[\w/.-]+)`")
#: A method or equation named in the prose, and the code a markdown cell naming it must cite (any of).
METHODS = {
    "Eq. 7.3": ("companion.models.mepsnet.TemplateBank.synthesise", "companion.models.mepsnet.SConv.forward"),
    "Eq. 7.4": ("companion.models.mepsnet.AttentiveFusion.forward",),
    "Eq. 7.5": ("companion.models.mepsnet.AttentiveFusion.forward", "companion.analysis.fusion."),
    "Eq. 7.1": ("companion.models.mepsnet.MEPSNet.forward",),
    "PSNR": ("companion.metrics.psnr", "companion.tour.quickstart.psnr_table", "companion.ch6.measurements.severity_table"),
    "SSIM": ("companion.metrics.ssim",),
    "t-SNE": ("companion.analysis.tsne.",),
    "silhouette": ("companion.analysis.tsne.",),
    "PSD": ("companion.analysis.psd",),
    "1/f": ("companion.analysis.psd.",),
    "divide and distort": ("companion.ch7.shdd.divide_and_distort",),
    "stitch": ("companion.engine.inference.restore",),
    "forward hooks": ("companion.analysis.features.",),
}


def _markdown(path):
    nb = nbformat.read(path, as_version=4)
    return [(i + 1, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def resolve(dotted: str):
    """Import the longest importable module prefix of ``dotted`` and ``getattr`` the rest."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise  # a module that exists but fails to import: not a stale name, a real error
            continue
        for attr in parts[n:]:
            obj = getattr(obj, attr)  # AttributeError names the stale part
        return obj
    raise ModuleNotFoundError(dotted)


def test_resolve_finds_functions_methods_and_modules_and_rejects_stale_names():
    from companion.models.mepsnet import SConv

    assert resolve("companion.models.mepsnet.SConv.forward") is SConv.forward
    assert resolve("companion.analysis.psd").__name__ == "companion.analysis.psd"
    for stale in ("companion.data.shdd", "companion.train.train", "companion.ch7.shdd.no_such_function"):
        with pytest.raises((ModuleNotFoundError, AttributeError)):
            resolve(stale)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_references_resolve(path):
    """Every backticked `companion.x.y` in the prose imports and exists; every backticked path exists."""
    refs = [(i, m) for i, text in _markdown(path) for m in REFERENCE.findall(text)]
    assert refs, f"{path.name}: the markdown names no `companion.…` function"
    bad = []
    for i, dotted in refs:
        try:
            resolve(dotted)
        except (ImportError, AttributeError) as exc:
            bad.append(f"cell {i}: `{dotted}` ({exc.__class__.__name__}: {exc})")
    for i, text in _markdown(path):
        bad += [f"cell {i}: `{p}` does not exist" for p in PATH_REFERENCE.findall(text) if not (REPO / p).exists()]
    assert not bad, f"{path.name}: stale references in the markdown:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_methods_named_in_markdown_cite_their_implementation(path):
    """A markdown cell that names an equation or method also names the function implementing it."""
    missing = []
    for i, text in _markdown(path):
        refs = REFERENCE.findall(text)
        for term, implementations in METHODS.items():
            if term in text and not any(r.startswith(impl) for r in refs for impl in implementations):
                missing.append(f"cell {i} names {term!r} but cites none of {implementations}")
    assert not missing, f"{path.name}:\n" + "\n".join(missing)


# --- imports: a notebook uses its own chapter and the shared layers; chapters stay apart ---------------------------

def _notebook_imports(path) -> list[str]:
    """Every module a notebook's code cells import (IPython magics and shell lines skipped)."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        found += _imports(ast.parse(source), package=None)
    return found


def _imports(tree, package: str | None) -> list[str]:
    """Absolute names of every module imported anywhere in ``tree`` (``from companion import ch7`` counts as
    ``companion.ch7``; relative imports resolved against ``package``)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            out.append(base)
            out += [f"{base}.{alias.name}" for alias in node.names]
    return out


def _chapter_of_import(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] == "companion" and len(parts) > 1 and parts[1] in _chapters():
        return parts[1]
    return None


def test_chapter_packages_are_known():
    assert {"tour", "ch6", "ch7"} <= _chapters()
    assert _own_chapter("00_quickstart") == "tour" and _own_chapter("06a_distortion_datasets") == "ch6"
    assert _own_chapter("07d_what_experts_learn") == "ch7"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_only_its_chapter_and_shared_layers(path):
    own = _own_chapter(path.stem)
    assert own in _chapters(), f"{path.name} belongs to companion.{own}, which does not exist"
    imported = [n for n in _notebook_imports(path) if n == "companion" or n.startswith("companion.")]
    assert imported, f"{path.name} imports nothing from companion"
    foreign = sorted({n for n in imported if _chapter_of_import(n) not in (None, own)})
    assert not foreign, f"{path.name} (chapter package companion.{own}) imports other chapters: {foreign}"


def _package_imports():
    """``(chapter or None, file, imported chapter)`` for every import of a chapter package inside companion/."""
    edges = []
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module if file.name == "__init__.py" else module.rsplit(".", 1)[0]
        package = package.removesuffix(".__init__")
        owner = rel.parts[1] if len(rel.parts) > 2 and rel.parts[1] in _chapters() else None
        for name in _imports(ast.parse(file.read_text(encoding="utf-8")), package):
            target = _chapter_of_import(name)
            if target and target != owner:
                edges.append((owner, str(file.relative_to(REPO)), target))
    return edges


def test_shared_layers_import_no_chapter_package():
    bad = sorted({(f, t) for owner, f, t in _package_imports() if owner is None})
    assert not bad, "shared modules must not import a chapter package: " + ", ".join(f"{f} -> {t}" for f, t in bad)


def test_chapter_packages_do_not_import_each_other():
    bad = sorted({(o, f, t) for o, f, t in _package_imports() if o is not None and (o, t) not in ALLOWED_CHAPTER_EDGES})
    assert not bad, "chapter packages import each other: " + ", ".join(f"{f} -> companion.{t}" for _, f, t in bad)


def test_import_scanner_sees_every_form(tmp_path):
    tree = ast.parse("import companion.ch7.shdd\nfrom companion import ch6\nfrom companion.ch7.shdd import x\n"
                     "def f():\n    from ..ch7 import y\n")
    names = _imports(tree, package="companion.tour")
    assert {"companion.ch7.shdd", "companion.ch6", "companion.ch7.shdd.x", "companion.ch7.y"} <= set(names)
    assert {_chapter_of_import(n) for n in names} >= {"ch6", "ch7"}


# --- nbval: the stored outputs of the exact cells ---------------------------------------------------------------

def test_nbval_checks_the_stored_parameter_counts(tmp_path):
    """``pytest --nbval-lax`` runs checked copies of 07b and 07c (smoke profile) and compares each checked cell's
    printout with ``notebooks/expected_outputs.json``; nothing is written into the repository."""
    env = {**os.environ, "COMPANION_PROFILE": "smoke", "COMPANION_FIGURES_DIR": str(tmp_path / "figures"),
           "COMPANION_WORK_DIR": str(tmp_path / "work"), "PYTHONDONTWRITEBYTECODE": "1"}
    notebooks = [str(p) for p in checked_copies(tmp_path / "nbval", names=["07b", "07c"])]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "--rootdir", str(tmp_path), *notebooks], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"nbval failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    assert (tmp_path / "figures" / "results" / "07b_mepsnet_training.json").exists()
