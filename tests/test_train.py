"""The training engine (companion.engine): the loop with its loss and batch arguments, the settings check,
exact resume, safe checkpoints (with extra named states), bad input, time budget, bf16, super-resolution and
classification through the same loop, and 2-process DDP on gloo equal to one process."""
from __future__ import annotations

import fractions
import inspect
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.engine.checkpoint import load_checkpoint, load_weights, read_checkpoint, save_checkpoint
from companion.engine.loop import (LOSSES, TrainResult, batch_indices, paired_batch, psnr_on_pairs, step_seed,
                                   train, tuple_batch)
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from companion.metrics import psnr

FAST = dict(steps=12, batch_size=4, lr=1e-3)
PAIRS = paired_batch("distorted", "clean")


class TinyNet(nn.Module):
    """A residual conv net: x + body(x), with its constructor arguments in ``config``."""

    def __init__(self, width: int = 8, depth: int = 2):
        super().__init__()
        self.config = {"width": width, "depth": depth}
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(width, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


class NoiseToy:
    """Brightening and denoising: smooth clean images, distorted = 0.7 clean + Gaussian noise drawn per
    (epoch, index) from ``seed`` (like SHDDTrain with a seed) or, with ``seed=None``, torch's global RNG.
    ``nan_at``: distorted is NaN at that epoch; ``fail_at``: set_epoch raises there (a simulated kill)."""

    def __init__(self, n: int = 12, size: int = 12, sigma: float = 0.05, seed: int | None = 0,
                 nan_at: int | None = None, fail_at: int | None = None):
        g = torch.Generator().manual_seed(1)
        self.clean = F.interpolate(torch.rand(n, 3, 3, 3, generator=g), size=(size, size), mode="bilinear",
                                   align_corners=False)
        self.sigma, self.seed, self.nan_at, self.fail_at, self.epoch = sigma, seed, nan_at, fail_at, 0

    def __len__(self):
        return len(self.clean)

    def set_epoch(self, epoch):
        if epoch == self.fail_at:
            raise RuntimeError("simulated kill")
        self.epoch = epoch

    def __getitem__(self, i):
        clean = self.clean[i]
        g = None if self.seed is None else torch.Generator().manual_seed(self.seed * 10**6 + self.epoch * 1000 + i)
        distorted = 0.7 * clean + self.sigma * torch.randn(clean.shape, generator=g)
        if self.epoch == self.nan_at:
            distorted = distorted * float("nan")
        return {"distorted": distorted, "clean": clean, "label": torch.zeros(clean.shape[1:], dtype=torch.long)}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(seed: int = 0, **kw) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kw)


def run(model, data, path=None, *, loss="l2", log=None, resume=True, **kw) -> TrainResult:
    cfg = TrainConfig(**{**FAST, **kw})
    return train(model, data, cfg, loss=LOSSES[loss], batch=PAIRS, model_name="tiny", checkpoint_path=path,
                 resume=resume, progress=False, log=log)


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def mean(values) -> float:
    return sum(values) / len(values)


# --------------------------------------------------------------------------------------------------------
# Settings.


def test_check_names_every_bad_setting_in_one_error():
    with pytest.raises(CompanionError) as err:
        TrainConfig(steps=0, batch_size=4, lr=-1.0, max_seconds=-1.0).check()
    message = str(err.value)
    assert "\n" not in message and message.startswith("bad training settings")
    for named in ("steps=0", "lr=-1.0", "max_seconds=-1.0"):
        assert named in message, named
    assert "batch_size" not in message and "grad_clip" not in message  # only the bad ones are named

    for bad, named in ((dict(lr=float("nan")), "lr=nan"), (dict(lr=float("inf")), "lr=inf"),
                       (dict(batch_size=0), "batch_size=0"), (dict(grad_clip=0.0), "grad_clip=0.0"),
                       (dict(max_seconds=float("nan")), "max_seconds=nan"), (dict(steps=2.5), "steps=2.5"),
                       (dict(checkpoint_every=-1), "checkpoint_every=-1"), (dict(lr="1e-3"), "lr='1e-3'"),
                       (dict(weight_decay=-1.0), "weight_decay=-1.0"), (dict(betas=(0.9, 1.5)), r"betas=\(0.9, 1.5\)"),
                       (dict(eps=0.0), "eps=0.0"), (dict(gamma=-0.5), "gamma=-0.5"),
                       (dict(milestones=(5, 0)), r"milestones=\(5, 0\)")):
        with pytest.raises(CompanionError, match=named):
            TrainConfig(**{**FAST, **bad}).check()
    TrainConfig(**FAST).check()  # a good config passes
    TrainConfig(**FAST, max_seconds=0.5, grad_clip=1.0).check()


def test_neutral_defaults():
    cfg = TrainConfig(**FAST)
    assert (cfg.milestones, cfg.betas, cfg.weight_decay, cfg.bf16, cfg.channels_last, cfg.max_seconds,
            cfg.grad_clip) == ((), (0.9, 0.999), 0.0, False, False, None, None)
    with pytest.raises(TypeError):
        TrainConfig()  # steps, batch_size and lr are required: no hidden paper defaults


def test_train_checks_the_settings_before_touching_anything(tmp_path):
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CompanionError, match=r"steps=0 .*lr=nan"):
        run(model, NoiseToy(), tmp_path / "m.pt", steps=0, lr=float("nan"))
    assert same_tensors(model.state_dict(), before) and not (tmp_path / "m.pt").exists()
    with pytest.raises(CompanionError, match="training dataset is empty"):
        run(model, [], steps=1)


# --------------------------------------------------------------------------------------------------------
# The loop.


def test_loss_decreases_and_history():
    res = run(tiny(), NoiseToy(), steps=30)
    assert res.steps_done == 30 and res.stop_reason == "step limit" and len(res.losses) == 30
    assert all(isinstance(v, float) for v in res.losses) and res.checkpoint is None
    assert mean(res.losses[-5:]) < 0.7 * mean(res.losses[:5])


def test_batches_are_a_function_of_seed_and_step():
    cfg = TrainConfig(steps=1, batch_size=6, lr=1e-3, seed=3)
    assert batch_indices(10, cfg, 7) == batch_indices(10, cfg, 7)
    assert batch_indices(10, cfg, 7) != batch_indices(10, cfg, 8)
    assert batch_indices(10, cfg, 7) != batch_indices(10, TrainConfig(steps=1, batch_size=6, lr=1e-3, seed=4), 7)
    assert all(0 <= i < 10 for i in batch_indices(10, cfg, 0)) and len(batch_indices(10, cfg, 0)) == 6
    assert step_seed(3, 7) == step_seed(3, 7) != step_seed(3, 8) and 0 <= step_seed(3, 7) < 2**64


def test_the_loop_is_adam_with_l2_weight_decay_and_the_step_schedule(tmp_path):
    """Three steps of train() equal a hand-written loop with torch.optim.Adam (classic L2 weight decay, not
    AdamW), the configured betas/eps, and MultiStepLR; the batches are the ones batch_indices names."""
    kw = dict(steps=4, batch_size=4, lr=1e-2, milestones=(2, 3), gamma=0.1, betas=(0.8, 0.9), eps=1e-6,
              weight_decay=0.5)
    trained = tiny()
    res = run(trained, NoiseToy(), tmp_path / "m.pt", **kw)

    cfg, data, model = TrainConfig(**{**FAST, **kw}), NoiseToy(), tiny()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 3], gamma=0.1)
    lrs, losses = [], []
    for step in range(4):
        x, y = PAIRS(data, batch_indices(len(data), cfg, step), step)
        lrs.append(opt.param_groups[0]["lr"])
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert lrs == pytest.approx([1e-2, 1e-2, 1e-3, 1e-4])
    assert res.losses == pytest.approx(losses, rel=1e-5)
    for k, v in model.state_dict().items():
        assert torch.allclose(trained.state_dict()[k], v, atol=1e-6), k
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    group = state["optimizer"]["param_groups"][0]
    assert group["lr"] == pytest.approx(1e-4) and tuple(group["betas"]) == (0.8, 0.9)
    assert group["weight_decay"] == 0.5 and group["eps"] == 1e-6 and state["scheduler"]["last_epoch"] == 4

    adamw = tiny()  # the same steps with decoupled decay (AdamW) end elsewhere: the test tells the two apart
    opt = torch.optim.AdamW(adamw.parameters(), lr=1e-2, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 3], gamma=0.1)
    for step in range(4):
        x, y = PAIRS(data, batch_indices(len(data), cfg, step), step)
        opt.zero_grad()
        F.mse_loss(adamw(x), y).backward()
        opt.step()
        sched.step()
    assert not torch.allclose(adamw.body[0].weight, trained.body[0].weight, atol=1e-4)


def test_grad_clip_clips():
    free, clipped = tiny(), tiny()
    start = tiny().body[0].weight.detach().clone()
    run(free, NoiseToy(), steps=3)
    run(clipped, NoiseToy(), steps=3, grad_clip=1e-12)  # gradients far below Adam's eps: almost no update
    moved = (free.body[0].weight - start).abs().max().item()
    barely = (clipped.body[0].weight - start).abs().max().item()
    assert moved > 1e-3 and barely < 1e-5


def test_resume_after_a_kill_is_bit_identical(tmp_path):
    # seed=None: the data draws from torch's global RNG, so the RNG state must be restored too.
    straight = tiny()
    a = run(straight, NoiseToy(seed=None), tmp_path / "a.pt", steps=10, checkpoint_every=4, milestones=(5,))
    rng_after_straight = torch.get_rng_state()

    with pytest.raises(RuntimeError, match="simulated kill"):  # dies at step 7, after the step-4 checkpoint
        run(tiny(), NoiseToy(seed=None, fail_at=6), tmp_path / "b.pt", steps=10, checkpoint_every=4,
            milestones=(5,))
    assert torch.load(tmp_path / "b.pt", weights_only=True)["step"] == 4

    resumed = tiny(seed=123)  # different init and fresh optimizer: everything must come from the checkpoint
    msgs = []
    b = run(resumed, NoiseToy(seed=None), tmp_path / "b.pt", steps=10, checkpoint_every=4, milestones=(5,),
            log=msgs.append)
    assert any("step 4" in m for m in msgs)
    assert b.steps_done == 10 and b.losses == a.losses
    assert same_tensors(straight.state_dict(), resumed.state_dict())
    assert torch.equal(torch.get_rng_state(), rng_after_straight)
    ca, cb = (torch.load(tmp_path / f, weights_only=True) for f in ("a.pt", "b.pt"))
    for k, sa in ca["optimizer"]["state"].items():
        assert same_tensors(sa, cb["optimizer"]["state"][k])
    assert ca["scheduler"] == cb["scheduler"] and cb["scheduler"]["last_epoch"] == 10

    again = run(resumed, NoiseToy(seed=None), tmp_path / "b.pt", steps=10)  # already done: nothing to do
    assert again.steps_done == 10 and again.losses == a.losses



def test_a_longer_schedule_resumed_from_a_shorter_run_equals_it_from_scratch(tmp_path):
    # 4 steps halved at 2, then resumed to 8 steps with two more halvings at 4 and 6 (one on the saved step).
    short = tiny()
    run(short, NoiseToy(), tmp_path / "r.pt", steps=4, milestones=(2,), lr=8e-3)
    msgs = []
    resumed = tiny(seed=9)
    b = run(resumed, NoiseToy(), tmp_path / "r.pt", steps=8, milestones=(2, 4, 6), lr=8e-3, log=msgs.append)
    straight = tiny()
    a = run(straight, NoiseToy(), tmp_path / "s.pt", steps=8, milestones=(2, 4, 6), lr=8e-3)
    assert any("settings changed since: milestones" in m for m in msgs), msgs
    assert b.losses == a.losses and same_tensors(straight.state_dict(), resumed.state_dict())
    saved = torch.load(tmp_path / "r.pt", weights_only=True)
    assert saved["optimizer"]["param_groups"][0]["lr"] == 8e-3 / 8  # three halvings passed
    # without the extra milestones the same resume would keep 4e-3 and end elsewhere
    other = tiny(seed=9)
    run(tiny(), NoiseToy(), tmp_path / "o.pt", steps=4, milestones=(2,), lr=8e-3)
    run(other, NoiseToy(), tmp_path / "o.pt", steps=8, milestones=(2,), lr=8e-3)
    assert not same_tensors(other.state_dict(), straight.state_dict())

def test_resume_names_changed_settings_and_resume_false_starts_over(tmp_path):
    path = tmp_path / "m.pt"
    run(tiny(), NoiseToy(), path, steps=3)
    msgs = []
    run(tiny(), NoiseToy(), path, steps=4, lr=2e-3, log=msgs.append)
    assert any("step 3" in m and "settings changed since: lr" in m for m in msgs), msgs
    assert not any("steps" in m.split("settings changed since:")[-1] for m in msgs if "changed" in m)

    fresh, reference = tiny(), tiny()
    res = run(fresh, NoiseToy(), path, steps=2, resume=False)
    run(reference, NoiseToy(), steps=2)
    assert res.steps_done == 2 and load_checkpoint(path)["step"] == 2
    assert same_tensors(load_checkpoint(path)["model"], reference.state_dict())


def test_checkpoint_round_trips_with_weights_only(tmp_path):
    model = tiny()
    res = run(model, NoiseToy(), tmp_path / "m.pt", steps=3)
    assert res.checkpoint == tmp_path / "m.pt"
    state = torch.load(res.checkpoint, weights_only=True)
    assert {"format", "version", "model", "model_name", "model_config", "optimizer", "scheduler", "step",
            "train_config", "rng", "extra", "states"} <= state.keys()
    assert state["model_name"] == "tiny" and state["model_config"] == {"width": 8, "depth": 2}
    assert state["step"] == 3 and state["train_config"]["lr"] == 1e-3 and isinstance(state["rng"]["torch"],
                                                                                      torch.Tensor)
    assert state["extra"]["losses"].tolist() == res.losses and state["extra"]["seconds"] == pytest.approx(res.seconds)
    fresh = tiny(seed=5)
    load_weights(fresh, res.checkpoint, model_name="tiny")
    assert same_tensors(fresh.state_dict(), model.state_dict())
    assert not list(tmp_path.glob(".m.pt.*"))  # no temp file left behind


def test_mismatched_architecture_and_config_are_named(tmp_path):
    path = tmp_path / "m.pt"
    run(tiny(), NoiseToy(), path, steps=1)
    before = path.read_bytes()

    with pytest.raises(CompanionError, match=r"width=8 in checkpoint vs 16 here") as err:
        run(tiny(width=16), NoiseToy(), path, steps=2)
    assert "\n" not in str(err.value) and "shapes differ" in str(err.value)

    deeper = tiny(depth=3)
    deeper.config = {"width": 8, "depth": 2}  # same config claimed, different weights
    with pytest.raises(CompanionError, match=r"missing from the checkpoint: body\.6\.bias, body\.6\.weight; "
                                             r"shapes differ: body\.4\.bias \(3,\) vs \(8,\)"):
        load_weights(deeper, path, model_name="tiny")

    with pytest.raises(CompanionError, match="for model 'tiny', not 'edsr'"):
        load_weights(tiny(), path, model_name="edsr")
    assert path.read_bytes() == before


@pytest.mark.parametrize("kind", ["garbage", "truncated", "version", "pickle"])
def test_corrupt_checkpoint_is_reported_and_kept(tmp_path, kind):
    path = tmp_path / "m.pt"
    if kind == "garbage":
        path.write_bytes(b"definitely not a checkpoint")
    elif kind == "pickle":  # an object the safe loader refuses; torch's own message then advises unsafe loading
        torch.save({"format": "companion-checkpoint", "version": 1, "x": fractions.Fraction(1, 3)}, path)
        with pytest.raises(Exception, match="weights_only"):
            torch.load(path, weights_only=True)
    else:
        run(tiny(), NoiseToy(), path, steps=1)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:300])
        else:
            state = torch.load(path, weights_only=True)
            torch.save({**state, "version": 99}, path)
    before = path.read_bytes()
    with pytest.raises(CompanionError, match=rf"checkpoint {path} is corrupt or not a companion checkpoint "
                                             r"\(.+\); delete it or point to another file") as err:
        run(tiny(), NoiseToy(), path, steps=2)
    message = str(err.value)
    assert "weights_only" not in message and "unsafe" not in message.lower() and "trust" not in message.lower()
    assert "\n" not in message
    assert path.read_bytes() == before
    for reader in (lambda: load_checkpoint(path), lambda: load_weights(tiny(), path, model_name="tiny")):
        with pytest.raises(CompanionError, match="corrupt") as err:
            reader()
        assert "weights_only" not in str(err.value) and "unsafe" not in str(err.value).lower()


def test_a_folder_as_checkpoint_is_named(tmp_path):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for call in (lambda: run(tiny(), NoiseToy(), folder, steps=1), lambda: read_checkpoint(folder),
                 lambda: load_weights(tiny(), folder, model_name="tiny")):
        with pytest.raises(CompanionError, match=rf"checkpoint {folder} is a folder, not a file"):
            call()
    assert list(folder.iterdir()) == []
    with pytest.raises(CompanionError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")


def test_extra_named_states_round_trip_as_a_gan_loop_would(tmp_path):
    """A GAN loop saves its discriminator and its optimizer next to the generator's through ``states``."""
    def parts(seed):
        torch.manual_seed(seed)
        gen, disc = TinyNet(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(1))
        disc(torch.rand(1, 3, 8, 8))  # materialise the lazy layer
        return (gen, torch.optim.Adam(gen.parameters(), lr=1e-3), disc,
                torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.999)))

    gen, g_opt, disc, d_opt = parts(0)
    x = torch.rand(2, 3, 8, 8)
    for _ in range(2):  # a few updates, so both optimizers hold moment estimates
        d_loss = F.softplus(-disc(x)).mean() + F.softplus(disc(gen(x).detach())).mean()
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = F.softplus(-disc(gen(x))).mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
    cfg = TrainConfig(steps=2, batch_size=2, lr=1e-3)
    path = save_checkpoint(tmp_path / "gan.pt", model=gen, model_name="gan", optimizer=g_opt, step=2, cfg=cfg,
                           states={"disc": disc, "disc_opt": d_opt})
    assert set(torch.load(path, weights_only=True)["states"]) == {"disc", "disc_opt"}

    gen2, g_opt2, disc2, d_opt2 = parts(7)
    assert not same_tensors(disc2.state_dict(), disc.state_dict())
    state = load_checkpoint(path, model=gen2, model_name="gan", optimizer=g_opt2,
                            states={"disc": disc2, "disc_opt": d_opt2})
    assert state["step"] == 2 and state["train_config"]["steps"] == 2
    assert same_tensors(gen2.state_dict(), gen.state_dict())
    assert same_tensors(disc2.state_dict(), disc.state_dict())
    assert d_opt2.param_groups[0]["betas"] == (0.5, 0.999) and d_opt2.param_groups[0]["lr"] == 1e-4
    saved, loaded = d_opt.state_dict()["state"], d_opt2.state_dict()["state"]
    assert saved.keys() == loaded.keys() and all(same_tensors(saved[k], loaded[k]) for k in saved)

    # A state the file does not hold is refused before anything is loaded.
    gen3, _, disc3, _ = parts(9)
    gen3_before = {k: v.clone() for k, v in gen3.state_dict().items()}
    with pytest.raises(CompanionError, match=r"has no state for critic; it was written by another training loop"):
        load_checkpoint(path, model=gen3, model_name="gan", states={"disc": disc3, "critic": disc3})
    assert same_tensors(gen3.state_dict(), gen3_before)
    run(tiny(), NoiseToy(), tmp_path / "plain.pt", steps=1)  # the one loop's file has no discriminator
    with pytest.raises(CompanionError, match="no state for disc"):
        load_checkpoint(tmp_path / "plain.pt", states={"disc": disc3})


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(CompanionError, match=rf"nan at step 6 .*last good checkpoint {path} \(step 4\) was kept") \
            as err:
        run(tiny(), NoiseToy(nan_at=5), path, steps=10, checkpoint_every=2)
    message = str(err.value)
    # grad_clip is named only as where to set it
    assert message.count("grad_clip") == message.count("grad-clip") == 1
    assert "(TrainConfig.grad_clip, --grad-clip)" in message and "\n" not in message
    reference = tiny()
    run(reference, NoiseToy(), steps=4)
    assert same_tensors(load_checkpoint(path)["model"], reference.state_dict())

    before = path.read_bytes()  # resuming into the same NaN leaves the file alone
    with pytest.raises(CompanionError, match="step 6"):
        run(tiny(), NoiseToy(nan_at=5), path, steps=10, checkpoint_every=2)
    assert path.read_bytes() == before

    with pytest.raises(CompanionError, match="no checkpoint had been written"):
        run(tiny(), NoiseToy(nan_at=0), steps=3)


def test_non_finite_weights_are_never_saved(tmp_path):
    model = tiny()
    model.body[0].weight.register_hook(lambda g: g * float("inf"))  # finite loss, inf gradient
    with pytest.raises(CompanionError, match="weights became NaN/inf at step 1 .*no checkpoint had been written") \
            as err:
        run(model, NoiseToy(), tmp_path / "w.pt", steps=3, checkpoint_every=1)
    message = str(err.value)
    assert message.count("grad_clip") == message.count("grad-clip") == 1
    assert "(TrainConfig.grad_clip, --grad-clip)" in message
    assert not (tmp_path / "w.pt").exists()


def test_max_seconds_stops_on_time(tmp_path):
    res = run(tiny(), NoiseToy(), tmp_path / "t.pt", steps=10**9, max_seconds=0.3)
    assert res.stop_reason == "time budget" and 1 <= res.steps_done < 10**9 and res.seconds >= 0.3
    assert load_checkpoint(tmp_path / "t.pt")["step"] == res.steps_done
    again = run(tiny(), NoiseToy(), tmp_path / "t.pt", steps=10**9, max_seconds=0.3)  # budget spans resumes
    assert again.stop_reason == "time budget" and again.steps_done == res.steps_done


def test_bf16_and_channels_last_track_fp32():
    fp32 = run(tiny(), NoiseToy(), steps=6)
    bf16 = run(tiny(), NoiseToy(), steps=6, bf16=True, channels_last=True)
    assert all(abs(a - b) <= 0.05 * a for a, b in zip(fp32.losses, bf16.losses))
    assert fp32.losses != bf16.losses  # bf16 did round something
    cl = tiny()
    run(cl, NoiseToy(), steps=2, channels_last=True)
    assert cl.body[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_l1_loss_is_the_loss_used():
    assert set(LOSSES) == {"l2", "l1"}
    data, model = NoiseToy(), tiny()
    x, y = PAIRS(data, batch_indices(len(data), TrainConfig(**FAST), 0), 0)
    with torch.no_grad():
        l1, l2 = F.l1_loss(model(x), y).item(), F.mse_loss(model(x), y).item()
    assert abs(l1 - l2) > 1e-3
    assert run(model, data, steps=1, loss="l1").losses[0] == pytest.approx(l1, rel=1e-6)
    assert run(tiny(), NoiseToy(), steps=1, loss="l2").losses[0] == pytest.approx(l2, rel=1e-6)


def test_validation_psnr_matches_metrics():
    data = NoiseToy(n=4)
    pairs = [(data[i]["distorted"][None], data[i]["clean"][None]) for i in range(4)]
    model = tiny()
    calls = []

    def validate(m):
        calls.append(m.training)
        return psnr_on_pairs(m, pairs)
    res = train(model, NoiseToy(), TrainConfig(**{**FAST, "steps": 6, "val_every": 3}), loss=LOSSES["l2"],
                batch=PAIRS, model_name="tiny", validate=validate, progress=False)
    assert [s for s, _ in res.val] == [3, 6] and model.training and len(calls) == 2
    hwc = lambda t: t[0].permute(1, 2, 0).numpy()  # noqa: E731
    with torch.no_grad():
        expected = sum(psnr(hwc(model(x)), hwc(y)) for x, y in pairs) / len(pairs)
    assert res.val[-1][1] == pytest.approx(expected, abs=1e-4)
    assert res.val[0][1] != res.val[1][1]
    assert psnr_on_pairs(model, [data[i] for i in range(4)]) == pytest.approx(expected, abs=1e-4)  # dicts, 3×H×W
    with pytest.raises(CompanionError, match="validation pairs are empty"):
        psnr_on_pairs(model, [])


def test_save_checkpoint_refuses_non_plain_config(tmp_path):
    model = tiny()
    model.config = {"act": nn.ReLU()}
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(CompanionError, match="model.config"):
        save_checkpoint(tmp_path / "x.pt", model=model, model_name="tiny", optimizer=opt, step=0,
                        cfg=TrainConfig(**FAST))
    assert not (tmp_path / "x.pt").exists()


# --------------------------------------------------------------------------------------------------------
# Other tasks through the same loop.


class Upsampler(nn.Module):
    """Super-resolution ×2: nearest upsampling plus a learned pixel-shuffle residual."""

    def __init__(self):
        super().__init__()
        self.config = {"scale": 2}
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1),
                                  nn.PixelShuffle(2))

    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest") + self.body(x)


class SRToy:
    """Items {"lr": 3×8×8, "hr": 3×16×16}: smooth HR images and their 2×2 average-pooled LR."""

    def __init__(self, n: int = 8):
        g = torch.Generator().manual_seed(3)
        self.hr = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(16, 16), mode="bicubic",
                                align_corners=False).clamp(0, 1)
        self.lr = F.avg_pool2d(self.hr, 2)

    def __len__(self):
        return len(self.hr)

    def __getitem__(self, i):
        return {"lr": self.lr[i], "hr": self.hr[i]}


def test_the_loop_serves_super_resolution(tmp_path):
    torch.manual_seed(0)
    model, data = Upsampler(), SRToy()
    pairs = [(data[i]["lr"], data[i]["hr"]) for i in range(2)]
    cfg = TrainConfig(steps=150, batch_size=4, lr=3e-3, val_every=75)
    res = train(model, data, cfg, loss=LOSSES["l1"], batch=paired_batch("lr", "hr"), model_name="sr2",
                checkpoint_path=tmp_path / "sr.pt", validate=lambda m: psnr_on_pairs(m, pairs), progress=False)
    assert res.steps_done == 150 and all(math.isfinite(v) for v in res.losses)
    assert mean(res.losses[-5:]) < 0.5 * mean(res.losses[:5])
    nearest = F.l1_loss(F.interpolate(data.lr, scale_factor=2, mode="nearest"), data.hr).item()
    assert mean(res.losses[-5:]) < 0.7 * nearest  # it learned more than the upsampling it starts from
    assert [s for s, _ in res.val] == [75, 150] and res.val[1][1] > res.val[0][1] > 20
    with torch.no_grad():
        assert model(data[0]["lr"][None]).shape == (1, 3, 16, 16)
    assert load_checkpoint(tmp_path / "sr.pt", model=Upsampler(), model_name="sr2")["model_config"] == {"scale": 2}


class Shades:
    """Classification: (3×8×8 image, class id) where the class is the brightest colour channel."""

    def __init__(self, n: int = 24):
        g = torch.Generator().manual_seed(4)
        self.labels = torch.randint(0, 3, (n,), generator=g).tolist()
        self.images = 0.3 * torch.rand(n, 3, 8, 8, generator=g)
        for i, c in enumerate(self.labels):
            self.images[i, c] += 0.4

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]  # a plain int target


def test_the_loop_serves_classification():
    data = Shades()
    x, y = tuple_batch(data, [0, 1, 2], 0)
    assert x.shape == (3, 3, 8, 8) and y.dtype == torch.int64 and y.tolist() == data.labels[:3]

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    res = train(model, data, TrainConfig(steps=60, batch_size=8, lr=2e-2), loss=F.cross_entropy, batch=tuple_batch,
                model_name="shades", progress=False)
    assert res.steps_done == 60
    assert mean(res.losses[-10:]) < 0.5 * mean(res.losses[:5])
    with torch.no_grad():
        predicted = model(data.images).argmax(1).tolist()
    assert sum(p == t for p, t in zip(predicted, data.labels)) >= 0.9 * len(data)


# --------------------------------------------------------------------------------------------------------
# Several processes.


DDP_SCRIPT = """
import json, sys
import torch
import torch.nn.functional as F
from torch import nn
from companion.engine.loop import LOSSES, paired_batch, train
from companion.engine.settings import TrainConfig
"""

RANK_MAIN = """
torch.manual_seed(0)
model = TinyNet()
cfg = json.loads(sys.argv[2])
cfg["milestones"] = tuple(cfg["milestones"])
res = train(model, NoiseToy(), TrainConfig(**cfg), loss=LOSSES["l2"], batch=paired_batch("distorted", "clean"),
            model_name="tiny", checkpoint_path=sys.argv[1], progress=False)
print("rank done %d" % res.steps_done, flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_one(tmp_path):
    kw = {**FAST, "steps": 5, "batch_size": 4, "milestones": [3]}
    script = tmp_path / "ddp.py"
    # the toy model and data travel as source, so the ranks skip importing this module (scipy, pytest)
    script.write_text(DDP_SCRIPT + "\n" + inspect.getsource(TinyNet) + "\n" + inspect.getsource(NoiseToy) + RANK_MAIN)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR",
                                                            "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(script), str(tmp_path / "ddp.pt"), json.dumps(kw)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.count("rank done") == 2

    single = tiny()
    one = run(single, NoiseToy(), **{**kw, "milestones": (3,)})
    ddp = tiny(seed=9)
    state = load_weights(ddp, tmp_path / "ddp.pt", model_name="tiny")
    assert state["step"] == 5 and state["scheduler"]["last_epoch"] == 5
    assert state["extra"]["losses"].tolist() == pytest.approx(one.losses, rel=1e-5)  # mean over both ranks
    moved = False
    for k, v in single.state_dict().items():
        assert torch.allclose(v, ddp.state_dict()[k], atol=1e-6), k
        moved |= not torch.allclose(v, tiny().state_dict()[k], atol=1e-4)
    assert moved
