"""Profiles are data: every notebook has all three, and `full` carries the papers' settings."""
import dataclasses

import pytest

from companion.profiles import notebook_configs, PROFILES, config_for
from companion.errors import CompanionError


def test_every_notebook_has_every_profile_of_one_type():
    for notebook, profiles in notebook_configs().items():
        assert tuple(profiles) == PROFILES, notebook
        assert len({type(c) for c in profiles.values()}) == 1, notebook
        assert all(dataclasses.is_dataclass(c) and c.__dataclass_params__.frozen for c in profiles.values())


def test_full_profiles_use_the_papers_settings():
    shdd = config_for("07a_shdd", "full")
    assert shdd.source == "data" and shdd.versions == 12 and shdd.patch_size == 80
    assert shdd.levels == ("easy", "moderate", "difficult") and shdd.required_datasets() == ("shdd",)
    flickr = config_for("06a_distortion_datasets", "full")
    assert flickr.source == "data" and flickr.per_reference == 20 and flickr.references == 0
    assert flickr.required_datasets() == ("flickr-distortion",)


def test_quick_and_smoke_need_no_dataset():
    for notebook in notebook_configs():
        for profile in ("smoke", "quick"):
            config = config_for(notebook, profile)
            assert getattr(config, "required_datasets", lambda: ())() == ()


def test_unknown_profile_and_notebook():
    with pytest.raises(CompanionError, match="unknown profile"):
        config_for("07a_shdd", "fast")
    with pytest.raises(CompanionError, match="no profiles for notebook"):
        config_for("99_x", "quick")
