"""Profiles are data (companion.profiles, gathered from each chapter package's config.py): every notebook has
all three, and `full` carries the papers' settings."""
import dataclasses
import importlib

import pytest

from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from companion.profiles import PROFILES, chapter_packages, config_for, notebook_configs


def test_every_notebook_has_every_profile_of_one_type():
    assert PROFILES == ("smoke", "quick", "full")
    for notebook, profiles in notebook_configs().items():
        assert tuple(profiles) == PROFILES, notebook
        assert len({type(c) for c in profiles.values()}) == 1, notebook
        assert all(dataclasses.is_dataclass(c) and c.__dataclass_params__.frozen for c in profiles.values())


def test_chapter_packages_declare_the_notebooks():
    assert {"tour", "ch6", "ch7"} <= set(chapter_packages())
    declared = {}
    for package in chapter_packages():
        for notebook in importlib.import_module(f"companion.{package}.config").NOTEBOOKS:
            declared[notebook] = package
    assert declared.keys() == notebook_configs().keys()
    assert declared["00_quickstart"] == "tour" and declared["06a_distortion_datasets"] == "ch6"
    assert {n for n, p in declared.items() if p == "ch7"} == {"07a_shdd", "07b_mepsnet_training", "07c_ablations",
                                                              "07d_what_experts_learn",
                                                              "07e_recognition_after_restoration"}


def test_full_profiles_use_the_papers_settings():
    shdd = config_for("07a_shdd", "full")
    assert shdd.source == "data" and shdd.versions == 12 and shdd.patch_size == 80
    assert shdd.levels == ("easy", "moderate", "difficult")
    flickr = config_for("06a_distortion_datasets", "full")
    assert flickr.source == "data" and flickr.per_reference == 20 and flickr.references == 0


def test_mepsnet_full_profile_is_section_7_5():
    full = config_for("07b_mepsnet_training", "full")
    train = full.train
    assert isinstance(train, TrainConfig)
    train.check()
    assert train.steps == 1_200_000 and train.lr == 1e-4 and train.milestones == (120_000, 300_000)
    assert train.gamma == 0.5 and train.batch_size == 16 and train.betas == (0.9, 0.99)
    # the paper's ε and weight decay as the authors' code applies them, to 0-255 pixels (ours are in [0, 1])
    assert train.eps * 255**2 == pytest.approx(1e-8) and train.weight_decay * 255**2 == pytest.approx(1e-4)
    assert train.max_seconds is None
    assert full.patch_size == 80 and full.loss == "l2" and full.size == "paper" and full.train_level == "moderate"
    assert tuple(full.tiles) == (2, 4) and full.eval_versions == 0
    # the analysis models of §7.5.2 use 48×48 patches, with the same schedule
    for notebook in ("07c_ablations", "07d_what_experts_learn"):
        other = config_for(notebook, "full")
        assert other.patch_size == 48 and other.train == train, notebook


def test_every_training_profile_passes_the_settings_check():
    from companion.engine.loop import LOSSES

    for notebook, profiles in notebook_configs().items():
        for profile, config in profiles.items():
            if hasattr(config, "train"):
                config.train.check()
                assert config.loss in LOSSES, (notebook, profile)


def test_full_profiles_name_their_data_folders_and_the_others_need_none():
    assert config_for("07a_shdd", "full").required_folders() == ("DIV2K",)
    assert config_for("06a_distortion_datasets", "full").required_folders() == ("flickr_references",)
    for notebook in ("07b_mepsnet_training", "07c_ablations", "07d_what_experts_learn"):
        assert config_for(notebook, "full").required_folders() == ("DIV2K",), notebook
    for notebook in notebook_configs():
        for profile in ("smoke", "quick"):
            config = config_for(notebook, profile)
            assert getattr(config, "required_folders", lambda: ())() == (), (notebook, profile)
            assert getattr(config, "source", "bundled") == "bundled", (notebook, profile)


def test_unknown_profile_and_notebook():
    with pytest.raises(CompanionError, match="unknown profile 'fast'; choose one of smoke, quick, full"):
        config_for("07a_shdd", "fast")
    with pytest.raises(CompanionError, match="no profiles for notebook '99_x'.*known: 00_quickstart"):
        config_for("99_x", "quick")
