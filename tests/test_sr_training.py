"""The one super-resolution trainer (companion.engine.sr_training.train_sr): seeded, resumable, validated, and the
same weights whether a run goes in one piece or resumes from its checkpoint."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from companion.engine.settings import TrainConfig
from companion.engine.sr_training import psnr_validator, train_sr
from companion.errors import CompanionError
from companion.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPE = TrainConfig(steps=4, batch_size=2, lr=1e-3, milestones=(2,), grad_clip=10.0, val_every=2,
                     checkpoint_every=2)
DATA = dict(scale=4, patch=8, images=("astronaut",))


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("carn_m", "quick", scales=(4,), reading="thesis")


def _weights(model) -> list[torch.Tensor]:
    return [v.detach().clone() for v in model.state_dict().values()]


def _pairs():
    torch.manual_seed(9)
    return [(torch.rand(3, 8, 8), torch.rand(3, 32, 32))]


def test_same_seed_same_weights_another_seed_other_weights():
    a, b, c = _model(), _model(), _model()
    ra = train_sr(a, RECIPE, seed=1, progress=False, **DATA)
    rb = train_sr(b, RECIPE, seed=1, progress=False, **DATA)
    train_sr(c, RECIPE, seed=2, progress=False, **DATA)
    assert ra.steps_done == 4 and ra.losses == rb.losses and ra.val == [] and rb.val == []
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(c)))


def test_validation_runs_every_val_every_steps():
    result = train_sr(_model(), RECIPE, seed=0, validate=psnr_validator(_pairs()), progress=False, **DATA)
    assert [s for s, _ in result.val] == [2, 4] and all(0 < v < 60 for _, v in result.val)


def test_a_resumed_run_ends_where_a_run_in_one_piece_ends(tmp_path):
    whole = _model()
    train_sr(whole, RECIPE, seed=3, progress=False, **DATA)
    path = tmp_path / "run.pt"
    first = _model()
    half = train_sr(first, replace(RECIPE, steps=2), seed=3, progress=False, checkpoint_path=path, **DATA)
    assert half.steps_done == 2 and path.exists()
    second = _model()
    resumed = train_sr(second, RECIPE, seed=3, progress=False, checkpoint_path=path, **DATA)
    assert resumed.steps_done == 4 and len(resumed.losses) == 4
    assert all(torch.allclose(x, y) for x, y in zip(_weights(whole), _weights(second)))


def test_bad_loss_and_empty_validation_are_refused():
    with pytest.raises(CompanionError, match="unknown loss 'l3'"):
        train_sr(_model(), RECIPE, seed=0, loss="l3", progress=False, **DATA)
    with pytest.raises(CompanionError, match="no validation pairs"):
        psnr_validator([])
