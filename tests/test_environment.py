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


def test_torchvision_works_with_the_installed_torch():
    """A torchvision built for another torch imports but fails on its compiled ops ("operator torchvision::nms
    does not exist"): run one, and a model the detection chapter will need, to catch that pairing."""
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    x = torch.rand(1, 3, 32, 32)
    assert torchvision.transforms.functional.hflip(x).flip(-1).equal(x)


def test_installed_versions_match_pins(repo):
    """The environment the tests run in is the one pyproject.toml pins (catches a stale .venv)."""
    from importlib.metadata import version

    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    for name, pinned in _pins(project["dependencies"]).items():
        assert version(name).split("+")[0] == pinned, f"{name} {version(name)} installed, {pinned} pinned"
