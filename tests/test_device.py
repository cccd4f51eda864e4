"""companion.device: the thread-count context restores what it found, also when the block fails."""
from __future__ import annotations

import pytest
import torch

from companion.device import check_device, torch_threads
from companion.errors import CompanionError


def test_torch_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(target):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_check_device_names_the_choices():
    assert check_device("cpu") == "cpu"
    with pytest.raises(CompanionError, match="choose one of auto, cpu, cuda"):
        check_device("tpu")
