"""The headless runner: parameters injected, executed copies written, failures named, bad input refused."""
from __future__ import annotations

import json

import pytest

from companion.errors import CompanionError
from companion.runner import check_parameters_cell, resolve_notebooks, run_notebooks
from tests.conftest import make_notebook

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
    assert "cell 3 (\"raise ValueError('deliberate failure')\")" in broken.error and "ValueError" in broken.error and "deliberate failure" in broken.error
    assert broken.output == runs / "smoke" / "02_broken.FAILED.ipynb" and broken.output.exists()
    assert not (runs / "smoke" / "02_broken.ipynb").exists()
    assert (runs / "smoke" / "01_good.ipynb").exists() and (runs / "smoke" / "03_also_good.ipynb").exists()
    assert all(o.seconds > 0 for o in outcomes)
    # parameters were injected into the kernel, and the figures folder was handed to it
    assert json.loads((figs / "seen.json").read_text()) == {"profile": "smoke", "device": "cpu", "seed": 7}
    assert not list((runs / "smoke").glob(".*part*")), "temporary files left behind"


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
    with pytest.raises(CompanionError, match=r"dataset folder .*DIV2K does not exist.*COMPANION_DATA"):
        run_notebooks(["07a_shdd"], profile="full", device="cpu", notebooks_dir=repo / "notebooks", runs_dir=runs,
                      figures_dir=tmp_path / "f", progress=False)
    assert not runs.exists() and not (tmp_path / "f").exists()
