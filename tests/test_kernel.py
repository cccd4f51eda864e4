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
from companion.kernel import KERNEL_NAME, KERNELSPEC, install_kernel, installed_kernel, kernel_dir, main, set_kernelspec
from companion.runner import available_notebooks

REPO = Path(__file__).resolve().parents[1]


def test_the_kernel_is_installed_in_this_environment_and_runs_its_python():
    spec = installed_kernel()
    assert spec is not None, f"kernel {KERNEL_NAME!r} is not installed in {sys.prefix}: run `make kernel`"
    assert Path(spec["resource_dir"]).resolve() == kernel_dir().resolve(), "the kernel must live in the .venv"
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()


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
