"""Dataset folders: the data root's precedence, missing-folder errors, DIV2K splits, the dataset table."""
import re

import numpy as np
import pytest

from companion.data import folders
from companion.data.folders import DATASETS, data_root, dataset_dir, div2k_hr_paths
from companion.data.images import save_image
from companion.errors import CompanionError


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("COMPANION_DATA", raising=False)


def _fake_div2k(root, train=("0001", "0002", "0800"), valid=("0801", "0900")):
    pixel = np.zeros((2, 2, 3), np.uint8)
    for split, names in (("train", train), ("valid", valid)):
        folder = root / "DIV2K" / f"DIV2K_{split}_HR"
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            save_image(folder / f"{name}.png", pixel)
    return root


def test_companion_data_env_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    assert data_root() == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    assert data_root(other) == other          # an explicit --data wins over the environment


def test_default_root_is_the_repository_data_folder(monkeypatch, tmp_path):
    assert folders.REPO_DATA == folders.Path(folders.__file__).resolve().parents[2] / "data"
    monkeypatch.setattr(folders, "REPO_DATA", tmp_path)
    assert data_root() == tmp_path


@pytest.mark.parametrize("how", ["env", "explicit"])
def test_missing_root_names_the_folder_and_the_fix(monkeypatch, tmp_path, how):
    missing = tmp_path / "nowhere"
    if how == "env":
        monkeypatch.setenv("COMPANION_DATA", str(missing))
    with pytest.raises(CompanionError) as info:
        data_root(missing if how == "explicit" else None)
    message = str(info.value)
    assert str(missing) in message and "COMPANION_DATA" in message and "--data" in message
    assert "python -m companion download" in message


def test_data_root_create_makes_the_folder(tmp_path):
    assert data_root(tmp_path / "new" / "root", create=True).is_dir()


def test_missing_dataset_folder_names_folder_and_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    with pytest.raises(CompanionError) as info:
        dataset_dir("Set5")
    message = str(info.value)
    assert str(tmp_path / "benchmark" / "Set5") in message
    assert "COMPANION_DATA" in message and "python -m companion download Set5" in message
    with pytest.raises(CompanionError, match="manga109.org"):
        dataset_dir("Manga109")


def test_unknown_dataset_lists_the_names(tmp_path):
    with pytest.raises(CompanionError, match="DIV2K.*Set5.*Urban100"):
        dataset_dir("ImageNet", tmp_path)


def test_dataset_names_are_case_insensitive(tmp_path):
    (tmp_path / "benchmark" / "Set14").mkdir(parents=True)
    assert dataset_dir("set14", tmp_path) == tmp_path / "benchmark" / "Set14"


def test_div2k_hr_paths_split(tmp_path):
    _fake_div2k(tmp_path)
    folder = tmp_path / "DIV2K"
    (folder / "DIV2K_train_HR" / "readme.txt").write_text("not an image")
    save_image(folder / "DIV2K_train_HR" / "0801.png", np.zeros((2, 2, 3), np.uint8))  # misplaced valid image
    train = div2k_hr_paths(tmp_path, "train")
    valid = div2k_hr_paths(tmp_path, split="valid")
    assert [p.name for p in train] == ["0001.png", "0002.png", "0800.png"]
    assert [p.name for p in valid] == ["0801.png", "0900.png"]
    assert all(p.parent == folder / "DIV2K_valid_HR" for p in valid)


def test_div2k_hr_paths_uses_env_root(monkeypatch, tmp_path):
    _fake_div2k(tmp_path)
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    assert len(div2k_hr_paths()) == 3


def test_div2k_errors(tmp_path):
    with pytest.raises(CompanionError, match="download DIV2K"):
        div2k_hr_paths(tmp_path, "train")                      # no DIV2K folder at all
    _fake_div2k(tmp_path, valid=())
    with pytest.raises(CompanionError, match=r"0801\.png.*0900\.png"):
        div2k_hr_paths(tmp_path, "valid")                      # folder present but empty
    with pytest.raises(CompanionError, match="train.*valid"):
        div2k_hr_paths(tmp_path, "test")


def test_dataset_table():
    assert {"DIV2K", "Set5", "Set14", "B100", "Urban100", "Manga109"} <= set(DATASETS)
    for key, spec in DATASETS.items():
        assert key == spec.name and spec.description and spec.citation and spec.homepage.startswith("http")
        assert all(path.startswith(spec.folder + "/") for path in spec.layout)
        assert spec.files or spec.manual
        for f in [*spec.files, *(f for part in spec.parts.values() for f in part)]:
            assert f.url.startswith("https://") and f.url.endswith(f.filename)
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.size is None or f.size > 0
    div2k = DATASETS["DIV2K"]
    assert [f.filename for f in div2k.files] == ["DIV2K_train_HR.zip", "DIV2K_valid_HR.zip"]
    assert all(f.url.startswith("https://data.vision.ee.ethz.ch/cvl/DIV2K/") for f in div2k.files)
    assert set(div2k.parts) == {"x2", "x3", "x4"}
    sums = [f.sha256 for spec in DATASETS.values() for f in spec.files] + \
           [f.sha256 for part in div2k.parts.values() for f in part]
    assert len(set(sums)) == 1 + 2 + 6                         # one shared benchmark.tar, no copy-paste slips
