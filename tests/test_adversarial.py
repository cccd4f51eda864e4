"""The general GAN loop (companion.engine.adversarial) on tiny models: the discriminator learns, the generator
moves, a resumed run is bit-identical, the losses are the ones named, and bad input is one line."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.engine.adversarial import HISTORY, GANConfig, minimax_generator_loss, train_gan
from companion.engine.checkpoint import load_checkpoint, save_checkpoint
from companion.engine.loop import batch_indices, paired_batch
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from companion.models.discriminators import discriminator_loss, generator_adversarial_loss

pytestmark = pytest.mark.usefixtures("one_thread")


class Pairs:
    """Items {"lr": noise-ish input, "hr": smooth target}: a generator that copies its input is easy to catch."""

    def __init__(self, n=16, side=16, nan_at=None):
        g = torch.Generator().manual_seed(0)
        yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        self.items = []
        for i in range(n):
            phase = torch.rand(3, 1, 1, generator=g) * 6
            hr = 0.5 + 0.3 * torch.sin(xx / 3 + phase) * torch.cos(yy / 4 + phase)
            lr = (hr + 0.3 * torch.randn(3, side, side, generator=g)).clamp(0, 1)
            self.items.append({"lr": lr.float(), "hr": hr.float()})
        self.nan_at = nan_at
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        if self.nan_at is not None and self.epoch >= self.nan_at:
            return {"lr": item["lr"] * float("nan"), "hr": item["hr"]}
        return item


class TinyGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
        self.config = {"channels": 8}

    def forward(self, x):
        return x + self.body(x)


class TinyDiscriminator(nn.Module):
    """Two scales, like Eq. 2.6's (the full one is too slow for a unit test): returns a list of logit maps."""

    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, 1, 1))
            for _ in range(2))

    def forward(self, x):
        return [self.heads[0](x), self.heads[1](F.avg_pool2d(x, 2))]


def nets(seed=0):
    torch.manual_seed(seed)
    return TinyGenerator(), TinyDiscriminator()


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run(g, d, data=None, path=None, **kw):
    settings = dict(steps=6, batch_size=4, lr_g=1e-3, lr_d=1e-3, adversarial_weight=1e-2, perceptual_weight=0.0,
                    content_weight=1.0)
    settings.update(kw)
    return train_gan(g, d, data if data is not None else Pairs(), GANConfig(**settings),
                     batch=paired_batch("lr", "hr"), model_name="tiny", progress=False, checkpoint_path=path,
                     log=lambda _m: None)


def test_the_discriminator_learns_and_the_generator_moves():
    g, d = nets()
    g0 = {k: v.clone() for k, v in g.state_dict().items()}
    res = run(g, d, steps=40, lr_g=1e-4, lr_d=1e-2)
    h = res.history
    assert res.steps_done == 40 and set(h) == set(HISTORY) and all(len(v) == 40 for v in h.values())
    first, last = sum(h["d"][:5]) / 5, sum(h["d"][-5:]) / 5
    assert first > 2.4  # two scales of BCE(real) + BCE(fake) start near 2 · 2 · ln 2 = 2.77
    assert last < 0.8 * first
    # D tells them apart by the end: higher probability on HR than on SR
    assert sum(h["d_real"][-5:]) / 5 > sum(h["d_fake"][-5:]) / 5 + 0.2
    assert not same(g.state_dict(), g0)
    assert sum(h["g_content"][-5:]) < sum(h["g_content"][:5])  # the L1 term pulls the output toward HR


def test_generator_loss_is_the_weighted_sum_and_the_losses_are_the_named_ones():
    g, d = nets()
    res = run(g, d, steps=3, adversarial_weight=0.5, content_weight=2.0)
    h = res.history
    for i in range(3):
        assert h["g"][i] == pytest.approx(0.5 * h["g_adv"][i] + 2.0 * h["g_content"][i], rel=1e-5)
        assert h["g_perc"][i] == 0.0
    # step 1 by hand: D on the fresh nets, then G through the updated D
    g2, d2 = nets()
    x, y = paired_batch("lr", "hr")(Pairs(), batch_indices(16, TrainConfig(steps=1, batch_size=4, lr=1.0), 0), 0)
    with torch.no_grad():
        d_loss = discriminator_loss(d2(y), d2(g2(x)))
    assert h["d"][0] == pytest.approx(float(d_loss), rel=1e-5)


def test_perceptual_term_is_called_and_weighted():
    calls = []

    def perceptual(sr, hr):
        calls.append(tuple(sr.shape))
        return (sr - hr).pow(2).mean() * 10

    g, d = nets()
    res = train_gan(g, d, Pairs(), GANConfig(steps=2, batch_size=4, perceptual_weight=3.0, content_weight=0.0),
                    batch=paired_batch("lr", "hr"), perceptual=perceptual, progress=False)
    assert calls == [(4, 3, 16, 16)] * 2
    h = res.history
    assert h["g"][1] == pytest.approx(5e-3 * h["g_adv"][1] + 3.0 * h["g_perc"][1], rel=1e-5)
    assert h["g_content"] == [0.0, 0.0]


def test_minimax_is_eq_2_4_as_printed():
    z = [torch.randn(2, 1, 4, 4), torch.randn(2, 1, 2, 2)]
    expected = sum(torch.log(1 - torch.sigmoid(m)).mean() for m in z)
    assert float(minimax_generator_loss(z)) == pytest.approx(float(expected), rel=1e-5)
    assert float(generator_adversarial_loss(z)) == pytest.approx(
        float(sum(-torch.log(torch.sigmoid(m)).mean() for m in z)), rel=1e-5)
    g1, d1 = nets()
    g2, d2 = nets()
    a = run(g1, d1, steps=2, adversarial="minimax").history
    b = run(g2, d2, steps=2).history
    assert a["d"][0] == b["d"][0]  # the same D step
    assert a["g_adv"][0] < 0 < b["g_adv"][0]  # log(1 - D) is negative, -log D positive
    assert not same(g1.state_dict(), g2.state_dict())


def test_deterministic_for_a_seed_and_different_for_another():
    a, b, c = nets(), nets(), nets()
    ra, rb, rc = run(*a), run(*b), run(*c, seed=1)
    assert ra.history == rb.history and same(a[0].state_dict(), b[0].state_dict())
    assert same(a[1].state_dict(), b[1].state_dict())
    assert rc.history["d"] != ra.history["d"]


def test_resume_is_bit_identical(tmp_path):
    straight = nets()
    full = run(*straight, steps=6)
    part = nets()
    path = tmp_path / "gan.pt"
    first = run(*part, path=path, steps=3)
    assert first.steps_done == 3 and path.is_file()
    state = torch.load(path, weights_only=True)
    assert set(state["states"]) == {"disc", "disc_opt"} and state["step"] == 3
    resumed_nets = nets(seed=5)  # other weights: all of it must come from the file
    resumed = run(*resumed_nets, path=path, steps=6)
    assert resumed.steps_done == 6
    assert resumed.history == full.history
    assert same(resumed_nets[0].state_dict(), straight[0].state_dict())
    assert same(resumed_nets[1].state_dict(), straight[1].state_dict())  # BatchNorm statistics included
    # a finished run only loads
    again = nets(seed=9)
    res = run(*again, path=path, steps=6)
    assert res.steps_done == 6 and same(again[0].state_dict(), straight[0].state_dict())


def test_periodic_checkpoints_and_resume_false(tmp_path):
    path = tmp_path / "gan.pt"
    run(*nets(), path=path, steps=4, checkpoint_every=2)
    assert load_checkpoint(path)["step"] == 4
    fresh = nets()
    out = train_gan(*fresh, Pairs(), GANConfig(steps=2, batch_size=4, perceptual_weight=0.0, content_weight=1.0),
                    batch=paired_batch("lr", "hr"), model_name="tiny", checkpoint_path=path, resume=False,
                    progress=False)
    assert out.steps_done == 2 and load_checkpoint(path)["step"] == 2  # started over, replaced the file


def test_bad_settings_are_one_line_naming_each():
    with pytest.raises(CompanionError) as err:
        GANConfig(steps=0, batch_size=2, lr_g=-1.0, adversarial="wasserstein", content_weight=float("nan")).check()
    message = str(err.value)
    assert "\n" not in message
    for name in ("steps=0", "lr_g=-1.0", "adversarial='wasserstein'", "content_weight=nan"):
        assert name in message
    with pytest.raises(CompanionError, match="every loss weight is 0"):
        GANConfig(steps=1, batch_size=1, adversarial_weight=0.0, perceptual_weight=0.0).check()
    g, d = nets()
    with pytest.raises(CompanionError, match="needs a perceptual loss"):
        train_gan(g, d, Pairs(), GANConfig(steps=1, batch_size=2), batch=paired_batch("lr", "hr"), progress=False)
    with pytest.raises(CompanionError, match="must be a GANConfig"):
        train_gan(g, d, Pairs(), {"steps": 1}, batch=paired_batch("lr", "hr"), progress=False)
    with pytest.raises(CompanionError, match="dataset is empty"):
        run(g, d, data=[])


def test_a_generator_of_the_wrong_size_is_named():
    class Half(nn.Module):
        def forward(self, x):
            return F.avg_pool2d(x, 2) + 0 * self.w

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

    with pytest.raises(CompanionError, match=r"output \(4, 3, 8, 8\) does not match the targets \(4, 3, 16, 16\)"):
        run(Half(), TinyDiscriminator())


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "gan.pt"
    with pytest.raises(CompanionError, match=rf"became nan at step 5 .*last good checkpoint {path} \(step 4\) was kept"
                       ) as err:
        run(*nets(), data=Pairs(nan_at=4), path=path, steps=8, checkpoint_every=2)
    assert "\n" not in str(err.value)
    reference = nets()
    run(*reference, steps=4)
    assert same(load_checkpoint(path)["model"], reference[0].state_dict())
    with pytest.raises(CompanionError, match="no checkpoint had been written"):
        run(*nets(), data=Pairs(nan_at=0), steps=3)


def test_another_loops_checkpoint_is_refused(tmp_path):
    g, d = nets()
    path = save_checkpoint(tmp_path / "plain.pt", model=g, model_name="tiny", step=1)
    with pytest.raises(CompanionError, match="no state for disc"):
        run(*nets(), path=path)
    with pytest.raises(CompanionError, match="is a folder"):
        run(*nets(), path=tmp_path)
