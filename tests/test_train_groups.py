"""Per-group learning rates in the training loop (``train(..., param_groups=...)``): staged training's Γ of
thesis Algorithm 1 (earlier modules at 0.1× the rate). The group rates are the ones Adam applies, the step
schedule scales each group's own rate, ungrouped parameters stay put, a resumed run follows the uninterrupted
one, bad groups fail with one line, and leaving the option out changes nothing."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.engine.checkpoint import read_checkpoint
from companion.engine.loop import LOSSES, paired_batch, train
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError

pytestmark = pytest.mark.usefixtures("one_thread")
PAIRS = paired_batch("x", "y")


class TwoPart(nn.Module):
    """Two convolutions in a row, so each can be given its own group."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.first = nn.Conv2d(3, 6, 3, padding=1)
        self.second = nn.Conv2d(6, 3, 3, padding=1)
        self.config = {}

    def forward(self, x):
        return self.second(torch.relu(self.first(x)))


class Pairs:
    """Fixed random (x, y) pairs: y is a blurred copy of x."""

    def __init__(self, n: int = 8, size: int = 10):
        g = torch.Generator().manual_seed(3)
        self.x = torch.rand(n, 3, size, size, generator=g)
        self.y = F.avg_pool2d(self.x, 3, stride=1, padding=1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def fit(model, groups=None, path=None, **kw):
    cfg = TrainConfig(**{"steps": 1, "batch_size": 4, "lr": 1e-3, **kw})
    return train(model, Pairs(), cfg, loss=LOSSES["l2"], batch=PAIRS, model_name="twopart", checkpoint_path=path,
                 progress=False, param_groups=groups)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def largest_change(before, after, prefix: str) -> float:
    return max(float((after[k] - before[k]).abs().max()) for k in before if k.startswith(prefix))


def test_each_group_moves_at_its_own_rate():
    """Adam's first step moves every weight with a gradient by about its group's rate: 1e-2 vs 1e-4."""
    model = TwoPart()
    before = weights(model)
    fit(model, [{"name": "first", "params": model.first.parameters(), "lr": 1e-2},
                {"name": "second", "params": list(model.second.parameters()), "lr": 1e-4}])
    after = weights(model)
    fast, slow = largest_change(before, after, "first."), largest_change(before, after, "second.")
    assert fast == pytest.approx(1e-2, rel=0.01)
    assert slow == pytest.approx(1e-4, rel=0.01)


def test_ungrouped_parameters_stay_put_and_a_group_without_lr_takes_cfg_lr():
    model = TwoPart()
    before = weights(model)
    fit(model, [{"params": model.second.parameters()}], lr=3e-3)
    after = weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("first."))
    assert largest_change(before, after, "second.") == pytest.approx(3e-3, rel=0.01)


def test_the_schedule_scales_every_groups_own_rate(tmp_path):
    """After the milestone each group's rate is its own initial rate × gamma (read back from the checkpoint)."""
    model = TwoPart()
    path = tmp_path / "groups.pt"
    fit(model, [{"name": "first", "params": model.first.parameters(), "lr": 1e-2},
                {"name": "second", "params": model.second.parameters(), "lr": 1e-4}], path=path,
        steps=4, milestones=(2,), gamma=0.1)
    groups = read_checkpoint(path)["optimizer"]["param_groups"]
    assert [g["name"] for g in groups] == ["first", "second"]
    assert [g["initial_lr"] for g in groups] == pytest.approx([1e-2, 1e-4])
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-5])


def test_one_group_of_everything_is_the_default_run():
    plain, grouped = TwoPart(), TwoPart()
    a = fit(plain, steps=5)
    b = fit(grouped, [{"params": grouped.parameters()}], steps=5)
    assert a.losses == b.losses
    assert all(torch.equal(v, grouped.state_dict()[k]) for k, v in plain.state_dict().items())


def test_a_resumed_grouped_run_follows_the_uninterrupted_one(tmp_path):
    def groups(m):
        return [{"params": m.first.parameters(), "lr": 1e-2}, {"params": m.second.parameters(), "lr": 1e-3}]

    straight = TwoPart()
    fit(straight, groups(straight), steps=6, milestones=(3,), gamma=0.5)
    resumed, path = TwoPart(), tmp_path / "r.pt"
    fit(resumed, groups(resumed), path=path, steps=2, milestones=(3,), gamma=0.5)
    again = TwoPart()
    result = fit(again, groups(again), path=path, steps=6, milestones=(3,), gamma=0.5)
    assert result.steps_done == 6
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in straight.state_dict().items())


def test_bad_groups_fail_with_one_line_before_training():
    model, other = TwoPart(), TwoPart(seed=1)
    before = weights(model)
    cases = [([], "non-empty list"), ({"params": model.parameters()}, "non-empty list"),
             ([{"lr": 1e-3}], "'params'"), ([{"params": []}], "no parameters"),
             ([{"params": other.parameters()}], "not parameters of the model"),
             ([{"params": model.first.parameters()}, {"params": [model.first.weight]}], "repeats parameters"),
             ([{"params": model.parameters(), "lr": 0.0}], "lr=0.0"),
             ([{"params": model.parameters(), "lr": float("nan")}], "lr=nan")]
    for groups, message in cases:
        with pytest.raises(CompanionError, match=message) as err:
            fit(model, groups)
        assert "\n" not in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_progressive_carn_stage_groups_train_through_the_loop():
    """The use it was made for: stage 2 of the progressive CARN at Algorithm 1's rates (module 1 at 0.1×)."""
    from companion.models.progressive_carn import ProgressiveCARN

    torch.manual_seed(0)
    model = ProgressiveCARN(channels=8, blocks=1, units=1)
    before = weights(model)
    groups = model.param_groups(2, lr=1e-2)
    data = [{"x": torch.rand(3, 6, 6), "y": torch.rand(3, 24, 24)} for _ in range(4)]
    train(model.at_scale(4), data, TrainConfig(steps=1, batch_size=2, lr=1e-2), loss=LOSSES["l1"], batch=PAIRS,
          model_name="progressive_carn", progress=False, param_groups=groups)
    after = weights(model)
    assert largest_change(before, after, "carn.1.") == pytest.approx(1e-2, rel=0.02)
    assert largest_change(before, after, "carn.0.") == pytest.approx(1e-3, rel=0.02)
    assert largest_change(before, after, "entry.") == pytest.approx(1e-3, rel=0.02)
    for head in ("to_rgb.0.", "carn.2.", "to_rgb.2."):  # detached head, modules not added yet
        assert largest_change(before, after, head) == 0
