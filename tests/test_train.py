"""The one trainer (companion.train): §7.5 optimiser and schedule, exact resume, safe checkpoints, bad input,
time budget, bf16, and 2-process DDP on gloo equal to one process."""
from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.errors import CompanionError
from companion.metrics import psnr
from companion.train import (TrainConfig, TrainResult, batch_indices, load_checkpoint, load_weights,
                             make_optimizer, make_scheduler, save_checkpoint, train, validate)

FAST = dict(steps=12, batch_size=4, lr=1e-3, milestones=(), weight_decay=0.0)


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


def run(model, data, path=None, **kw) -> TrainResult:
    cfg = TrainConfig(**{**FAST, **kw})
    return train(model, data, cfg, model_name="tiny", checkpoint_path=path, progress=False)


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_decreases_and_history(tmp_path):
    res = run(tiny(), NoiseToy(), steps=30)
    assert res.steps_done == 30 and res.stopped == "steps" and len(res.losses) == 30
    assert all(isinstance(v, float) for v in res.losses)
    assert sum(res.losses[-5:]) / 5 < 0.7 * sum(res.losses[:5]) / 5


def test_batches_are_a_function_of_seed_and_step():
    cfg = TrainConfig(batch_size=6, seed=3)
    assert batch_indices(10, cfg, 7) == batch_indices(10, cfg, 7)
    assert batch_indices(10, cfg, 7) != batch_indices(10, cfg, 8)
    assert all(0 <= i < 10 for i in batch_indices(10, cfg, 0)) and len(batch_indices(10, cfg, 0)) == 6


def test_resume_after_a_kill_is_bit_identical(tmp_path):
    # seed=None: the data draws from torch's global RNG, so the RNG state must be restored too.
    straight = tiny()
    a = run(straight, NoiseToy(seed=None), tmp_path / "a.pt", steps=10, checkpoint_every=4)
    rng_after_straight = torch.get_rng_state()

    with pytest.raises(RuntimeError, match="simulated kill"):  # dies at step 7, after the step-4 checkpoint
        run(tiny(), NoiseToy(seed=None, fail_at=6), tmp_path / "b.pt", steps=10, checkpoint_every=4)
    assert torch.load(tmp_path / "b.pt", weights_only=True)["step"] == 4

    resumed = tiny(seed=123)  # different init and fresh optimizer: everything must come from the checkpoint
    msgs = []
    b = train(resumed, NoiseToy(seed=None), TrainConfig(**{**FAST, "steps": 10, "checkpoint_every": 4}),
              model_name="tiny", checkpoint_path=tmp_path / "b.pt", progress=False, log=msgs.append)
    assert any("step 4" in m for m in msgs)
    assert b.steps_done == 10 and b.losses == a.losses
    assert same_tensors(straight.state_dict(), resumed.state_dict())
    assert torch.equal(torch.get_rng_state(), rng_after_straight)
    ca, cb = (torch.load(tmp_path / f, weights_only=True) for f in ("a.pt", "b.pt"))
    for k, sa in ca["optimizer"]["state"].items():
        assert same_tensors(sa, cb["optimizer"]["state"][k])
    assert ca["scheduler"] == cb["scheduler"]

    again = run(resumed, NoiseToy(seed=None), tmp_path / "b.pt", steps=10)  # already done: nothing to do
    assert again.steps_done == 10 and again.losses == a.losses


def test_scheduler_halves_lr_at_milestones(tmp_path):
    cfg = TrainConfig(lr=1e-3, milestones=(3, 5))
    opt = make_optimizer(tiny(), cfg)
    sched = make_scheduler(opt, cfg)
    used = []
    for _ in range(7):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert used == pytest.approx([1e-3] * 3 + [5e-4] * 2 + [2.5e-4] * 2)
    assert opt.param_groups[0]["betas"] == (0.9, 0.99) and opt.param_groups[0]["eps"] == 1e-8
    assert TrainConfig().weight_decay == 1e-4 and TrainConfig().milestones == (120_000, 300_000)

    run(tiny(), NoiseToy(), tmp_path / "c.pt", steps=5, milestones=(2, 4))
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 4)
    assert state["scheduler"]["last_epoch"] == 5


def test_checkpoint_round_trips_with_weights_only(tmp_path):
    model = tiny()
    res = run(model, NoiseToy(), tmp_path / "m.pt", steps=3)
    assert res.checkpoint == tmp_path / "m.pt"
    state = torch.load(res.checkpoint, weights_only=True)
    assert {"format", "version", "model", "model_name", "model_config", "optimizer", "scheduler", "step",
            "train_config", "rng"} <= state.keys()
    assert state["model_name"] == "tiny" and state["model_config"] == {"width": 8, "depth": 2}
    assert state["step"] == 3 and state["train_config"]["lr"] == 1e-3 and isinstance(state["rng"]["torch"],
                                                                                      torch.Tensor)
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


@pytest.mark.parametrize("kind", ["garbage", "truncated", "version"])
def test_corrupt_checkpoint_is_reported_and_kept(tmp_path, kind):
    path = tmp_path / "m.pt"
    if kind == "garbage":
        path.write_bytes(b"definitely not a checkpoint")
    else:
        run(tiny(), NoiseToy(), path, steps=1)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:300])
        else:
            state = torch.load(path, weights_only=True)
            torch.save({**state, "version": 99}, path)
    before = path.read_bytes()
    with pytest.raises(CompanionError, match=rf"checkpoint {path} is corrupt or not a companion checkpoint "
                                             r"\(.+\); delete it or point to another file"):
        run(tiny(), NoiseToy(), path, steps=2)
    assert path.read_bytes() == before
    with pytest.raises(CompanionError, match="corrupt"):
        load_checkpoint(path)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(CompanionError, match=rf"nan at step 6 .*last good checkpoint {path} \(step 4\) was kept"):
        run(tiny(), NoiseToy(nan_at=5), path, steps=10, checkpoint_every=2)
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
    with pytest.raises(CompanionError, match="weights became NaN/inf at step 1 .*no checkpoint had been written"):
        run(model, NoiseToy(), tmp_path / "w.pt", steps=3, checkpoint_every=1)
    assert not (tmp_path / "w.pt").exists()


def test_max_seconds_stops_on_time(tmp_path):
    res = run(tiny(), NoiseToy(), tmp_path / "t.pt", steps=10**9, max_seconds=0.3)
    assert res.stopped == "time" and 1 <= res.steps_done < 10**9 and res.seconds >= 0.3
    assert load_checkpoint(tmp_path / "t.pt")["step"] == res.steps_done
    again = run(tiny(), NoiseToy(), tmp_path / "t.pt", steps=10**9, max_seconds=0.3)  # budget spans resumes
    assert again.stopped == "time" and again.steps_done == res.steps_done


def test_bf16_and_channels_last_track_fp32():
    fp32 = run(tiny(), NoiseToy(), steps=6)
    bf16 = run(tiny(), NoiseToy(), steps=6, bf16=True, channels_last=True)
    assert all(abs(a - b) <= 0.05 * a for a, b in zip(fp32.losses, bf16.losses))
    cl = tiny()
    run(cl, NoiseToy(), steps=2, channels_last=True)
    assert cl.body[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_l1_loss_and_bad_loss_name():
    data, model = NoiseToy(), tiny()
    idx = batch_indices(len(data), TrainConfig(**FAST), 0)
    data.set_epoch(0)
    x = torch.stack([data[i]["distorted"] for i in idx])
    y = torch.stack([data[i]["clean"] for i in idx])
    with torch.no_grad():
        expected = F.l1_loss(model(x), y).item()
    res = run(model, data, steps=1, loss="l1")
    assert res.losses[0] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(CompanionError, match="unknown loss 'l3'; choose one of: l2, l1"):
        run(tiny(), NoiseToy(), loss="l3")


def test_validation_psnr_matches_metrics():
    data = NoiseToy(n=4)
    pairs = [(data[i]["distorted"][None], data[i]["clean"][None]) for i in range(4)]
    model = tiny()
    res = train(model, NoiseToy(), TrainConfig(**{**FAST, "steps": 6, "val_every": 3}), model_name="tiny",
                val_data=pairs, progress=False)
    assert [s for s, _ in res.val] == [3, 6] and model.training
    hwc = lambda t: t[0].permute(1, 2, 0).numpy()  # noqa: E731
    with torch.no_grad():
        expected = sum(psnr(hwc(model(x)), hwc(y)) for x, y in pairs) / len(pairs)
    assert res.val[-1][1] == pytest.approx(expected, abs=1e-4)
    assert validate(model, [data[i] for i in range(4)]) == pytest.approx(expected, abs=1e-4)  # dicts, 3×H×W


def test_save_checkpoint_refuses_non_plain_config(tmp_path):
    model = tiny()
    model.config = {"act": nn.ReLU()}
    cfg = TrainConfig()
    opt = make_optimizer(model, cfg)
    with pytest.raises(CompanionError, match="model.config"):
        save_checkpoint(tmp_path / "x.pt", model=model, model_name="tiny", optimizer=opt,
                        scheduler=make_scheduler(opt, cfg), step=0, cfg=cfg)
    assert not (tmp_path / "x.pt").exists()


DDP_SCRIPT = """
import json, sys
import torch
import torch.nn.functional as F
from torch import nn
from companion.train import TrainConfig, train
"""

RANK_MAIN = """
torch.manual_seed(0)
model = TinyNet()
res = train(model, NoiseToy(), TrainConfig(**json.loads(sys.argv[2])), model_name="tiny",
            checkpoint_path=sys.argv[1], progress=False)
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
    run(single, NoiseToy(), **kw)
    ddp = tiny(seed=9)
    load_weights(ddp, tmp_path / "ddp.pt", model_name="tiny")
    for k, v in single.state_dict().items():
        assert torch.allclose(v, ddp.state_dict()[k], atol=1e-6), k
