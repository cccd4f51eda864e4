"""Notebook session: figures saved atomically with provenance, results files, profile folders."""
from __future__ import annotations

import json
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from companion.arguments import MAX_SEED  # noqa: E402
from companion.errors import CompanionError  # noqa: E402
from companion.session import COMMITTED_FIGURES_DIR, default_figures_dir, git_commit, start  # noqa: E402


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figs"))
    return start("00_quickstart", profile="smoke", device="cpu", seed=3)


def test_start_validates_and_seeds(run, tmp_path):
    assert run.config.size == 128 and str(run.device) == "cpu" and run.figures_dir == tmp_path / "figs"
    a = run.rng.random(3)
    b = start("00_quickstart", profile="smoke", device="cpu", seed=3).rng.random(3)
    assert np.array_equal(a, b)
    with pytest.raises(CompanionError, match="unknown profile"):
        start("00_quickstart", profile="medium")
    with pytest.raises(CompanionError, match="no profiles for notebook"):
        start("99_nothing", profile="smoke")


def test_save_figure_atomic_with_provenance(run):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = run.save_figure(fig, "demo", entry="Figure 7.3", caption="a line")
    plt.close(fig)
    assert path.exists() and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    meta = json.loads(Image.open(path).text["Comment"])
    assert meta == {"notebook": "00_quickstart", "profile": "smoke", "seed": 3, "commit": run.commit,
                    "device": "cpu"}
    with pytest.raises(CompanionError, match="plain file stem"):
        run.save_figure(fig, "../escape")


def test_failed_savefig_leaves_nothing(run):
    class Broken:
        def savefig(self, path, **kw):
            open(path, "wb").write(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run.save_figure(Broken(), "broken")
    assert not any(run.figures_dir.iterdir())


def test_record_and_finish(run):
    run.record("psnr", np.float32(30.5), entry="Table 7.1", row="MEPSNet", column="Moderate PSNR")
    run.record("params", 2241187, entry="Table 7.3", status="exact")
    with pytest.raises(CompanionError, match="unknown status"):
        run.record("x", 1, status="great")
    doc = json.loads(run.finish().read_text())
    assert doc["profile"] == "smoke" and doc["seed"] == 3 and doc["config"]["size"] == 128
    assert [m["value"] for m in doc["measurements"]] == [30.5, 2241187]
    assert doc["measurements"][0]["status"] == "small-scale"


def test_full_profile_marks_measurements_full_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    run = start("00_quickstart", profile="full", device="cpu")
    run.record("psnr", 1.0)
    assert run.measurements[0]["status"] == "full-scale"


def test_default_folders_keep_every_profile_away_from_committed_figures(repo):
    """A user's run (JupyterLab, or `companion run` without --figures-dir) writes into runs/, which git ignores;
    only `make reproduce` names the committed figures/."""
    assert COMMITTED_FIGURES_DIR == repo / "figures"
    for profile in ("smoke", "quick", "full"):
        folder = default_figures_dir(profile)
        assert folder == repo / "runs" / profile / "figures"
        assert COMMITTED_FIGURES_DIR not in (folder, *folder.parents)
        assert subprocess.run(["git", "check-ignore", "-q", str(folder / "x.png")], cwd=repo).returncode == 0
    with pytest.raises(CompanionError, match="unknown profile"):
        default_figures_dir("fast")


def test_default_run_writes_under_runs_not_figures(repo, monkeypatch):
    monkeypatch.delenv("COMPANION_FIGURES_DIR", raising=False)
    run = start("00_quickstart", profile="smoke", device="cpu")
    assert run.results_path.parent == repo / "runs" / "smoke" / "figures" / "results"


def _git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def test_commit_is_judged_on_code_and_notebooks_not_on_outputs(tmp_path):
    """The provenance's commit: outputs (figures/, runs/, checkpoints/, data/) written while notebooks run do not
    make it dirty; a changed notebook or module, or a new untracked module, does."""
    root = tmp_path / "clone"
    for name in ("companion/x.py", "notebooks/a.ipynb", "figures/f.png", "figures/results/a.json",
                 "checkpoints/m.safetensors", "data/README.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("1")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "c")
    clean = git_commit(root)
    assert len(clean) == 12 and "dirty" not in clean
    for name in ("figures/f.png", "figures/results/a.json", "checkpoints/m.safetensors", "data/README.md"):
        (root / name).write_text("2")
    for name in ("figures/new.png", "runs/quick/figures/g.png", "data/DIV2K/0001.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("new")
    assert git_commit(root) == clean
    (root / "notebooks/a.ipynb").write_text("2")
    assert git_commit(root) == clean + "+dirty"
    _git(root, "checkout", "-q", "--", "notebooks")
    (root / "companion/y.py").write_text("new module")
    assert git_commit(root) == clean + "+dirty"
    assert git_commit(tmp_path / "not-a-repo") == "unknown"


def test_results_are_strict_json(run):
    run.record("identical", float("inf"))
    run.record("levels", (np.float64(1.5), float("nan")))
    text = run.finish().read_text()
    assert "Infinity" not in text and "NaN" not in text
    values = [m["value"] for m in json.loads(text)["measurements"]]
    assert values == [None, [1.5, None]]


@pytest.mark.parametrize("seed, message", [
    (-1, "seed must be between 0 and 4,294,966,295, got -1"),
    (MAX_SEED + 1, "seed must be between 0 and 4,294,966,295, got 4294966296"),
    (2**70, "seed must be between 0 and 4,294,966,295"),
    (2.0, "seed must be a whole number, got 2.0"),
    (True, "seed must be a whole number, got True"),
])
def test_seed_out_of_range_is_refused_before_anything_is_written(tmp_path, monkeypatch, seed, message):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figs"))
    with pytest.raises(CompanionError) as info:
        start("00_quickstart", profile="smoke", device="cpu", seed=seed)
    assert str(info.value).startswith(message)
    assert not (tmp_path / "figs").exists()


def test_largest_seed_is_accepted_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figs"))
    run = start("00_quickstart", profile="smoke", device="cpu", seed=np.int64(MAX_SEED))
    assert run.seed == MAX_SEED and type(run.seed) is int
    assert np.array_equal(run.rng.random(2), np.random.default_rng(MAX_SEED).random(2))
    assert json.loads(run.finish().read_text())["seed"] == MAX_SEED


def test_figures_folder_variable_naming_a_file_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_text("keep")
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(target))
    with pytest.raises(CompanionError) as info:
        start("00_quickstart", profile="smoke", device="cpu")
    assert str(info.value) == f"COMPANION_FIGURES_DIR={target} is a file; it must name a folder"
    assert target.read_text() == "keep"


def test_work_folder_variable_naming_a_file_is_refused(run, tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_text("keep")
    monkeypatch.setenv("COMPANION_WORK_DIR", str(target))
    with pytest.raises(CompanionError) as info:
        run.work_dir
    assert str(info.value) == f"COMPANION_WORK_DIR={target} is a file; it must name a folder"
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    assert run.work_dir == tmp_path / "work" and run.work_dir.is_dir()
