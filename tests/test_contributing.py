"""CONTRIBUTING.md stays true: its list of chapter-package modules is what is on disk, and it names the module
roles every chapter package shares."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAPTER_PACKAGES = ("tour", "ch2", "ch3", "ch4", "ch5", "ch6", "ch7")


def listed_modules(text: str) -> dict[str, set[str]]:
    """``{package: {module file names}}`` from the block between the modules markers."""
    block = text.split("<!-- modules:start -->", 1)[1].split("<!-- modules:end -->", 1)[0]
    listed: dict[str, set[str]] = {}
    package = None
    for line in block.splitlines():
        top = re.match(r"- `companion/(\w+)/`", line)
        if top:
            package = top.group(1)
            listed[package] = set()
            continue
        module = re.match(r"  - `(\w+\.py)`", line)
        if module:
            assert package is not None, line
            listed[package].add(module.group(1))
    return listed


def test_every_chapter_module_on_disk_is_listed_and_nothing_else():
    listed = listed_modules((REPO / "CONTRIBUTING.md").read_text(encoding="utf-8"))
    on_disk = {package: {p.name for p in (REPO / "companion" / package).glob("*.py") if p.name != "__init__.py"}
               for package in CHAPTER_PACKAGES}
    assert listed == on_disk, "regenerate the module list of CONTRIBUTING.md from `ls companion/*/`"


def test_the_list_parser_reads_packages_and_modules():
    text = ("x\n<!-- modules:start -->\n- `companion/ch9/`\n  - `config.py`: specs.\n  - `zoo.py`: zoo.\n"
            "- `companion/tour/`\n<!-- modules:end -->\n")
    assert listed_modules(text) == {"ch9": {"config.py", "zoo.py"}, "tour": set()}


def test_every_chapter_package_has_a_config_and_the_roles_are_named():
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for role in ("`config.py`", "`zoo.py`", "run.save_figure", "run.conclude", "parameters",
                 "tests/test_import_cycles.py", "docs/decisions.md"):
        assert role in text, role
    for package in CHAPTER_PACKAGES:
        assert (REPO / "companion" / package / "config.py").exists(), package
