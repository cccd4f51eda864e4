"""The project's Jupyter kernel: installed into the environment (not the user's home), named by every notebook;
`make lab` starts as root too."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from companion.errors import CompanionError
from companion.kernel import (KERNEL_NAME, KERNELSPEC, LAUNCH_ARGS, find_checkout, install_kernel, installed_kernel,
                              kernel_dir, main, set_kernelspec)
from companion.runner import available_notebooks

REPO = Path(__file__).resolve().parents[1]


def test_the_kernel_is_installed_in_this_environment_and_runs_its_python():
    spec = installed_kernel()
    assert spec is not None, f"kernel {KERNEL_NAME!r} is not installed in {sys.prefix}: run `make kernel`"
    assert Path(spec["resource_dir"]).resolve() == kernel_dir().resolve(), "the kernel must live in the .venv"
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()
    assert spec["argv"][-len(LAUNCH_ARGS):] == LAUNCH_ARGS, "an older kernelspec: run `make kernel`"


@pytest.mark.parametrize("path", available_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_names_the_projects_kernel(path):
    spec = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("kernelspec")
    assert spec == KERNELSPEC, (f"{path.name} asks for kernel {spec and spec.get('name')!r}; run "
                                f"`python -m companion.kernel set {path.relative_to(REPO)}`")


def test_install_writes_into_the_prefix_only(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    path = install_kernel(tmp_path / "env")
    assert path == tmp_path / "env" / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec = json.loads((path / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == KERNELSPEC["display_name"]
    assert list(home.iterdir()) == [], "installing the kernel wrote into the user's home"


def test_set_kernelspec_changes_that_field_only(tmp_path):
    source = REPO / "notebooks" / "07a_shdd.ipynb"
    text = source.read_text(encoding="utf-8")
    nb = json.loads(text)
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    old = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"  # not sorted: the edit must keep any layout
    path = tmp_path / "a.ipynb"
    path.write_text(old, encoding="utf-8")
    assert set_kernelspec([path]) == [path]
    new = path.read_text(encoding="utf-8")
    after = json.loads(new)
    assert after["metadata"]["kernelspec"] == KERNELSPEC
    after["metadata"]["kernelspec"] = nb["metadata"]["kernelspec"]
    assert after == nb, "something besides metadata.kernelspec changed"
    changed = [(a, b) for a, b in zip(old.splitlines(), new.splitlines()) if a != b]
    assert len(changed) == 2 and len(old.splitlines()) == len(new.splitlines())  # display_name and name lines
    assert set_kernelspec([path]) == [], "a notebook already naming the kernel is left alone"


def test_set_kernelspec_adds_a_missing_field_and_refuses_non_notebooks(tmp_path):
    path = tmp_path / "b.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    set_kernelspec([path])
    assert json.loads(path.read_text())["metadata"]["kernelspec"] == KERNELSPEC
    bad = tmp_path / "c.ipynb"
    bad.write_text("{not json")
    with pytest.raises(CompanionError, match="not a notebook"):
        set_kernelspec([bad])
    assert main(["set", str(bad)]) == 1


def test_make_lab_adds_allow_root_only_for_root():
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    out = subprocess.run([make, "-n", "-o", ".venv/.installed", "lab"], cwd=REPO,
                         capture_output=True, text=True, timeout=60).stdout
    line = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert ("--allow-root" in line) == (os.getuid() == 0), line
    assert line.rstrip().endswith("notebooks/")


def _checkout(root: Path, marker: str) -> Path:
    """A minimal clone: this project's pyproject.toml and a `companion` package that says which clone it is."""
    (root / "companion").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "companion" / "__init__.py").write_text(f"CLONE = {marker!r}\n")
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                           "source": "import os, pathlib, companion\n"
                                     "print(companion.CLONE, pathlib.Path(companion.__file__).resolve())\n"
                                     "print(os.environ['PYTHONPATH'].split(os.pathsep)[0])"}],
                "metadata": {"kernelspec": KERNELSPEC}, "nbformat": 4, "nbformat_minor": 5}
    (root / "notebooks").mkdir()
    (root / "notebooks" / "t.ipynb").write_text(json.dumps(notebook))
    return root


def test_find_checkout_walks_up_to_this_projects_pyproject(tmp_path):
    clone = _checkout(tmp_path / "clone", "a")
    (clone / "notebooks" / "deep").mkdir()
    other = tmp_path / "clone" / "notebooks" / "deep" / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    assert find_checkout(other) == clone.resolve()
    assert find_checkout(clone) == clone.resolve()
    assert find_checkout(REPO / "notebooks") == REPO
    assert find_checkout(tmp_path) is None


def test_the_kernel_imports_the_checkout_its_notebook_is_in(tmp_path):
    """Two clones sharing this environment (whose editable install points at REPO): `jupyter nbconvert --execute`
    with the installed kernelspec imports each notebook's own clone, and prints no unencrypted-TCP warning."""
    env_prefix = tmp_path / "env"
    install_kernel(env_prefix)
    clones = [_checkout(tmp_path / name, name) for name in ("first", "second")]
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {**os.environ, "JUPYTER_PATH": str(env_prefix / "share" / "jupyter"),
           "JUPYTER_CONFIG_PATH": str(env_prefix / "etc" / "jupyter"), "PYTHONPATH": ""}
    result = subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                             *(str(c / "notebooks" / "t.ipynb") for c in clones)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "without encryption" not in result.stderr, result.stderr
    for clone in clones:
        executed = json.loads((clone / "notebooks" / "t.ipynb").read_text())
        lines = "".join(executed["cells"][0]["outputs"][0]["text"]).splitlines()
        assert lines == [f"{clone.name} {(clone / 'companion' / '__init__.py').resolve()}", str(clone.resolve())]


def test_the_installed_kernel_runs_the_launcher(tmp_path):
    spec = json.loads((install_kernel(tmp_path / "env") / "kernel.json").read_text())
    assert spec["argv"] == [sys.executable, "-Xfrozen_modules=off", *LAUNCH_ARGS]
    config = json.loads((tmp_path / "env" / "etc" / "jupyter" / "jupyter_nbconvert_config.json").read_text())
    assert config["KernelManager"]["transport_encryption"] == "auto"


def _fake_environment(path: Path, owner: Path) -> Path:
    """A virtual environment without pip whose editable `companion` install points at ``owner``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    [site] = path.glob("lib/python*/site-packages")
    info = site / "companion-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: companion\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(json.dumps({"dir_info": {"editable": True}, "url": owner.as_uri()}))
    return path


@pytest.mark.parametrize("owner", ["other", "self"])
def test_make_keeps_one_environment_per_checkout(tmp_path, owner):
    """`make` in a clone whose pyproject.toml is newer than the stamp of an environment that another clone
    installed refuses before pip would re-point it; its own environment goes on to pip."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    clone = tmp_path / "second"
    (clone / "companion").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "companion/kernel.py"):
        shutil.copy(REPO / name, clone / name)
    first = tmp_path / "first"
    first.mkdir()
    venv = _fake_environment(tmp_path / "venv", first if owner == "other" else clone)
    (venv / ".installed").touch()
    os.utime(venv / ".installed", (1, 1))  # older than the clone's pyproject.toml
    result = subprocess.run([make, "venv", f"VENV={venv}", f"PYTHON={sys.executable}"], cwd=clone,
                            capture_output=True, text=True, timeout=120)
    refused = f"error: {venv} is the environment of the checkout {first.resolve()}; each checkout keeps its own"
    if owner == "other":
        assert result.returncode != 0 and refused in result.stderr, result.stderr
        assert "pip install" not in result.stdout
    else:  # the check passes; pip (absent from this bare environment) is what fails
        assert refused not in result.stderr and "pip install" in result.stdout, result.stdout + result.stderr
