"""environment.yml (conda) and pyproject.toml (pip) describe the same pinned environment."""
from __future__ import annotations

import re
import tomllib


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*", line)
        assert m, f"not an exact pin: {line!r}"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def test_environment_yml_matches_pyproject(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    yml = (repo / "environment.yml").read_text()
    pip_block = yml.split("- pip:", 1)[1]
    listed = _pins(re.findall(r"^\s+-\s+(.+)$", pip_block, flags=re.M))
    assert listed == wanted
    assert re.search(r"^\s+-\s+python=3\.11\s*$", yml, flags=re.M)


def test_torch_pins(repo):
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps


def test_installed_versions_match_pins(repo):
    """The environment the tests run in is the one pyproject.toml pins (catches a stale .venv)."""
    from importlib.metadata import version

    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    for name, pinned in _pins(project["dependencies"]).items():
        assert version(name).split("+")[0] == pinned, f"{name} {version(name)} installed, {pinned} pinned"
