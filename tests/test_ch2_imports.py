"""Chapter 2's module roles hold: ``config`` imports no experiment module and no PyTorch, and ``zoo`` never
imports an experiment module back (imports inside functions count). Import cycles and the reasons of
function-level imports are checked for the whole package by tests/test_import_cycles.py, whose import graph
this test reads."""
from __future__ import annotations

import subprocess
import sys

from conftest import REPO
from test_import_cycles import subpackage_graph

#: The modules that run an experiment of a notebook (zoo.py must not import them).
EXPERIMENTS = {"efficiency", "initialisation", "pcarn", "qualitative", "evaluation", "costs_tables"}


def test_config_and_zoo_keep_their_roles():
    graph = subpackage_graph("ch2")
    assert graph["config"] == set()
    assert not graph["zoo"] & EXPERIMENTS, graph["zoo"]
    code = "import sys, companion.ch2.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
