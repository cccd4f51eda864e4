"""The headless runner: parameters injected, executed copies written, failures named, bad input refused."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from companion.arguments import MAX_SEED
from companion.errors import CompanionError
from companion.runner import check_parameters_cell, resolve_notebooks, run_notebooks
from tests.conftest import REPO, make_notebook

PARAMS = 'PROFILE = "quick"\nDEVICE = "auto"\nSEED = 0'


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "notebooks"
    make_notebook(d / "01_good.ipynb", [PARAMS, "import json, os, pathlib\n"
                  "out = pathlib.Path(os.environ['COMPANION_FIGURES_DIR']) / 'seen.json'\n"
                  "out.parent.mkdir(parents=True, exist_ok=True)\n"
                  "out.write_text(json.dumps({'profile': PROFILE, 'device': DEVICE, 'seed': SEED}))"])
    make_notebook(d / "02_broken.ipynb", [PARAMS, "x = 1", "raise ValueError('deliberate failure')", "y = 2"])
    make_notebook(d / "03_also_good.ipynb", [PARAMS, "z = 3"])
    return d


def test_runs_all_reports_failure_and_continues(nbdir, tmp_path):
    runs, figs = tmp_path / "runs", tmp_path / "figs"
    outcomes = run_notebooks(None, profile="smoke", device="cpu", seed=7, notebooks_dir=nbdir, runs_dir=runs,
                             figures_dir=figs, progress=False, echo=lambda *_: None)
    assert [o.name for o in outcomes] == ["01_good", "02_broken", "03_also_good"]
    assert [o.ok for o in outcomes] == [True, False, True]
    broken = outcomes[1]
    assert broken.error == "cell 3 (\"raise ValueError('deliberate failure')\"): ValueError: deliberate failure"
    assert broken.output == runs / "smoke" / "02_broken.FAILED.ipynb" and broken.output.exists()
    assert not (runs / "smoke" / "02_broken.ipynb").exists()
    assert (runs / "smoke" / "01_good.ipynb").exists() and (runs / "smoke" / "03_also_good.ipynb").exists()
    assert all(o.seconds > 0 for o in outcomes)
    # parameters were injected into the kernel, and the figures folder was handed to it
    assert json.loads((figs / "seen.json").read_text()) == {"profile": "smoke", "device": "cpu", "seed": 7}
    assert not list((runs / "smoke").glob(".*part*")), "temporary files left behind"


def test_figures_default_to_the_runs_folder_never_the_committed_one(nbdir, tmp_path, monkeypatch):
    """`companion run X --profile quick` without --figures-dir writes beside its executed copy, under runs/."""
    monkeypatch.delenv("COMPANION_FIGURES_DIR", raising=False)
    runs = tmp_path / "runs"
    [outcome] = run_notebooks(["01"], profile="quick", device="cpu", notebooks_dir=nbdir, runs_dir=runs,
                              progress=False, echo=lambda *_: None)
    assert outcome.ok, outcome.error
    assert json.loads((runs / "quick" / "figures" / "seen.json").read_text())["profile"] == "quick"
    assert not (REPO / "figures" / "seen.json").exists()


def test_make_reproduce_is_what_names_the_committed_figures():
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    out = subprocess.run([make, "-n", "-o", ".venv/.installed", "reproduce"], cwd=REPO, capture_output=True,
                         text=True, timeout=60).stdout
    line = next(line for line in out.splitlines() if "companion run" in line)
    assert line.split()[-2:] == ["--figures-dir", "figures"], line


def test_an_ambiguous_prefix_lists_only_the_notebooks_it_matches():
    with pytest.raises(CompanionError) as info:
        resolve_notebooks(["07"])
    sevens = [p.stem for p in sorted((REPO / "notebooks").glob("07*.ipynb"))]
    assert len(sevens) > 1
    assert str(info.value) == f"ambiguous notebook '07'; choose from: {', '.join(sevens)}"


def test_later_success_removes_stale_failed_copy(nbdir, tmp_path):
    runs = tmp_path / "runs"
    (runs / "smoke").mkdir(parents=True)
    (runs / "smoke" / "03_also_good.FAILED.ipynb").write_text("{}")
    run_notebooks(["03"], profile="smoke", device="cpu", notebooks_dir=nbdir, runs_dir=runs,
                  figures_dir=tmp_path / "f", progress=False, echo=lambda *_: None)
    assert not (runs / "smoke" / "03_also_good.FAILED.ipynb").exists()


def test_name_resolution(nbdir):
    assert [p.stem for p in resolve_notebooks(["01", "03_also_good.ipynb"], nbdir)] == ["01_good", "03_also_good"]
    with pytest.raises(CompanionError, match="unknown notebook 'nope'.*01_good"):
        resolve_notebooks(["nope"], nbdir)
    with pytest.raises(CompanionError, match="ambiguous"):
        resolve_notebooks(["0"], nbdir)


@pytest.mark.parametrize("kwargs, message", [
    ({"names": ["missing"]}, "unknown notebook"),
    ({"profile": "huge"}, "unknown profile 'huge'"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
])
def test_bad_input_writes_nothing(nbdir, tmp_path, kwargs, message):
    runs = tmp_path / "runs"
    args = {"names": None, "profile": "smoke", "device": "cpu", **kwargs}
    with pytest.raises(CompanionError, match=message):
        run_notebooks(args.pop("names"), **args, notebooks_dir=nbdir, runs_dir=runs, figures_dir=tmp_path / "f",
                      progress=False)
    assert not runs.exists() and not (tmp_path / "f").exists()


def test_missing_parameters_cell_refused_before_anything_runs(nbdir, tmp_path):
    make_notebook(nbdir / "04_untagged.ipynb", [PARAMS, "a = 1"], tag_first=False)
    with pytest.raises(CompanionError, match="04_untagged.ipynb has no cell tagged 'parameters'"):
        check_parameters_cell(nbdir / "04_untagged.ipynb")
    runs = tmp_path / "runs"
    with pytest.raises(CompanionError, match="parameters"):
        run_notebooks(None, profile="smoke", device="cpu", notebooks_dir=nbdir, runs_dir=runs,
                      figures_dir=tmp_path / "f", progress=False)
    assert not runs.exists(), "a notebook ran although another one was invalid"


def test_invalid_notebook_json(nbdir):
    (nbdir / "05_corrupt.ipynb").write_text("{not json")
    with pytest.raises(CompanionError, match="05_corrupt.ipynb is not valid notebook JSON"):
        check_parameters_cell(nbdir / "05_corrupt.ipynb")


def test_full_profile_without_dataset_fails_before_running(tmp_path, monkeypatch, repo):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    runs = tmp_path / "runs"
    with pytest.raises(CompanionError, match=r"dataset folder .*DIV2K\b.*COMPANION_DATA"):
        run_notebooks(["07a_shdd"], profile="full", device="cpu", notebooks_dir=repo / "notebooks", runs_dir=runs,
                      figures_dir=tmp_path / "f", progress=False)
    assert not runs.exists() and not (tmp_path / "f").exists()


def _quiet(**kwargs):
    return dict(profile="smoke", device="cpu", progress=False, echo=lambda *_: None, **kwargs)


def test_kernel_imports_the_package_from_this_checkout(tmp_path, monkeypatch):
    """A stale editable install or a PYTHONPATH entry must not decide which `companion` the notebook runs."""
    decoy = tmp_path / "decoy"
    (decoy / "companion").mkdir(parents=True)
    (decoy / "companion" / "__init__.py").write_text("DECOY = True\n")
    monkeypatch.setenv("PYTHONPATH", str(decoy))
    nbdir = tmp_path / "notebooks"
    make_notebook(nbdir / "01_where.ipynb", [PARAMS, "import json, os, pathlib, companion\n"
                  "out = pathlib.Path(os.environ['COMPANION_FIGURES_DIR']) / 'where.json'\n"
                  "out.parent.mkdir(parents=True, exist_ok=True)\n"
                  "out.write_text(json.dumps({'file': companion.__file__,\n"
                  "                           'decoy': getattr(companion, 'DECOY', False)}))"])
    [outcome] = run_notebooks(None, **_quiet(notebooks_dir=nbdir, runs_dir=tmp_path / "runs",
                                             figures_dir=tmp_path / "figs"))
    assert outcome.ok, outcome.error
    seen = json.loads((tmp_path / "figs" / "where.json").read_text())
    assert not seen["decoy"]
    assert Path(seen["file"]).resolve() == (REPO / "companion" / "__init__.py").resolve()
    assert os.environ["PYTHONPATH"] == str(decoy), "the caller's environment was not restored"
    assert "COMPANION_FIGURES_DIR" not in os.environ


@pytest.mark.parametrize("seed, message", [
    (-1, "seed must be between 0 and 4,294,966,295, got -1"),
    (MAX_SEED + 1, "seed must be between 0 and 4,294,966,295, got 4294966296"),
    (2**64, "seed must be between 0 and 4,294,966,295"),
    (1.5, "seed must be a whole number, got 1.5"),
])
def test_seed_out_of_range_is_refused_before_anything_runs(nbdir, tmp_path, seed, message):
    with pytest.raises(CompanionError) as info:
        run_notebooks(["01"], **_quiet(seed=seed, notebooks_dir=nbdir, runs_dir=tmp_path / "runs",
                                       figures_dir=tmp_path / "f"))
    assert str(info.value).startswith(message)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "f").exists()


def test_largest_seed_reaches_the_kernel(nbdir, tmp_path):
    [outcome] = run_notebooks(["01"], **_quiet(seed=MAX_SEED, notebooks_dir=nbdir, runs_dir=tmp_path / "runs",
                                               figures_dir=tmp_path / "figs"))
    assert outcome.ok and json.loads((tmp_path / "figs" / "seen.json").read_text())["seed"] == MAX_SEED


def test_failure_removes_the_previous_good_copy(nbdir, tmp_path):
    out = tmp_path / "runs" / "smoke"
    out.mkdir(parents=True)
    (out / "02_broken.ipynb").write_text("{}")  # from an earlier run, when the notebook still worked
    [outcome] = run_notebooks(["02"], **_quiet(notebooks_dir=nbdir, runs_dir=tmp_path / "runs",
                                               figures_dir=tmp_path / "f"))
    assert not outcome.ok and outcome.output == out / "02_broken.FAILED.ipynb"
    assert sorted(p.name for p in out.iterdir()) == ["02_broken.FAILED.ipynb"]
    executed = json.loads(outcome.output.read_text())
    assert any(o.get("ename") == "ValueError" for c in executed["cells"] for o in c.get("outputs", []))


def test_success_then_failure_then_success_keeps_exactly_one_copy(nbdir, tmp_path):
    out = tmp_path / "runs" / "smoke"
    good = nbdir / "03_also_good.ipynb"
    kwargs = _quiet(notebooks_dir=nbdir, runs_dir=tmp_path / "runs", figures_dir=tmp_path / "f")
    run_notebooks(["03"], **kwargs)
    assert sorted(p.name for p in out.iterdir()) == ["03_also_good.ipynb"]
    make_notebook(good, [PARAMS, "raise RuntimeError('now broken')"])
    run_notebooks(["03"], **kwargs)
    assert sorted(p.name for p in out.iterdir()) == ["03_also_good.FAILED.ipynb"]
    make_notebook(good, [PARAMS, "z = 3"])
    run_notebooks(["03"], **kwargs)
    assert sorted(p.name for p in out.iterdir()) == ["03_also_good.ipynb"]


def test_kernel_tcp_encryption_warning_is_silenced(nbdir, tmp_path, capfd):
    outcomes = run_notebooks(["01", "02"], profile="smoke", device="cpu", notebooks_dir=nbdir,
                             runs_dir=tmp_path / "runs", figures_dir=tmp_path / "f", progress=True)
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err
    assert "IPKernelApp" not in out + err
    # what matters is still shown: each notebook's outcome, and the failing cell with its error
    assert "01_good: ok" in out + err
    assert "02_broken: FAILED at cell 3" in out + err and "deliberate failure" in out + err
    assert [o.ok for o in outcomes] == [True, False]


@pytest.mark.parametrize("which", ["runs_dir", "figures_dir"])
def test_output_folder_that_is_a_file_is_refused(nbdir, tmp_path, which):
    target = tmp_path / "file"
    target.write_text("keep")
    kwargs = {"runs_dir": tmp_path / "runs", "figures_dir": tmp_path / "f", which: target}
    with pytest.raises(CompanionError) as info:
        run_notebooks(["01"], **_quiet(notebooks_dir=nbdir, **kwargs))
    assert str(info.value) == f"{target} is a file; {which.replace('_', ' ')} must be a folder"
    assert target.read_text() == "keep" and not (tmp_path / "runs").exists() and not (tmp_path / "f").exists()


def test_a_folder_named_as_a_notebook_is_refused(nbdir, tmp_path):
    (tmp_path / "odd.ipynb").mkdir()
    with pytest.raises(CompanionError) as info:
        resolve_notebooks([str(tmp_path / "odd.ipynb")], nbdir)
    assert str(info.value) == f"{tmp_path / 'odd.ipynb'} is a folder, not a notebook file"
    with pytest.raises(CompanionError) as info:
        resolve_notebooks([str(nbdir)], nbdir)
    assert str(info.value) == f"{nbdir} is a folder; name notebooks (e.g. 01_good or 01), not their folder"
