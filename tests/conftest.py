"""Shared fixtures: tiny notebooks for runner tests, and a repository-root path."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]


def make_notebook(path: Path, cells: list[str], *, tag_first: bool = True) -> Path:
    """Write a notebook whose first cell is the tagged parameters cell (unless ``tag_first`` is False)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, src in enumerate(cells):
        cell = new_code_cell(src)
        if i == 0 and tag_first:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def repo() -> Path:
    return REPO
