"""A general GAN training loop: ``train_gan(generator, discriminator, dataset, cfg, batch=...)``.

The second loop shape :mod:`companion.engine.loop` leaves to its own module: two networks, two optimizers,
alternating steps. It reads top to bottom like that loop: device, the two Adam optimizers, resume, then per
step draw the batch, update the discriminator, update the generator, save now and then. What it trains is the
adversarial formulation of thesis §2.3.2 (Eq. 2.4–2.7), written without naming a model:

* **Discriminator step** (Eq. 2.4 negated, summed over the scales of a multi-scale discriminator, Eq. 2.6):
  ``Σ_i BCE(D_i(HR), 1) + BCE(D_i(G(LR)), 0)`` with ``G(LR)`` computed without gradients
  (:func:`companion.models.discriminators.discriminator_loss`). The discriminator returns logits (one map, or a
  list of maps for a multi-scale one).
* **Generator step**, on a fresh ``G(LR)`` through the just-updated discriminator:
  ``L_G = adversarial_weight · L_GAN + perceptual_weight · L_perc(SR, HR) + content_weight · L1(SR, HR)``.
  ``L_GAN`` is, by :attr:`GANConfig.adversarial`, ``"non-saturating"`` (default: ``Σ_i BCE(D_i(SR), 1)``, i.e.
  −log D(G(x)), what the authors' code and SRGAN use, :func:`~companion.models.discriminators.
  generator_adversarial_loss`) or ``"minimax"`` (Eq. 2.4 as printed: the generator minimises
  ``Σ_i mean log(1 − D_i(SR))``). ``L_perc`` is any callable ``(sr, hr) -> scalar``, e.g.
  :class:`companion.engine.perceptual.VGGLoss` (Eq. 2.5); the thesis' Eq. 2.7 is content_weight = 0.
  The generator's gradient norm is clipped to ``grad_clip`` (the authors' code: 10); the discriminator's is not.
* **Optimizers**: Adam for each network (their own learning rates, shared betas and eps); no schedule.

Readings and guarantees shared with :mod:`companion.engine.loop`:

* **Batches are a pure function of the step** (:func:`companion.engine.loop.batch_indices` with
  ``(cfg.seed, step)``; ``dataset.set_epoch(step)`` when it has one), and nothing else draws random numbers,
  so a run is deterministic on a CPU for a seed and a resumed run is bit-identical to an uninterrupted one
  (the checkpoint carries both networks, both optimizers, BatchNorm statistics, the RNG and the history).
* **Checkpoints** go through :mod:`companion.engine.checkpoint` (atomic, ``weights_only`` loading): the
  generator is the checkpoint's model; the discriminator and its optimizer are the named states ``disc`` and
  ``disc_opt``. A checkpoint of another loop (no ``disc`` state) is refused in one line.
* **NaN guard**: a non-finite loss or weight stops the run with one :class:`CompanionError` line; nothing bad
  is saved and the last good checkpoint is kept.
* **One process** (a CPU or one GPU), float32: no ``torchrun`` ranks, no bf16 autocast. On CUDA, bit-identical
  reruns also need ``torch.backends.cudnn.deterministic = True``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.device import resolve_device
from companion.engine.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from companion.engine.loop import batch_indices
from companion.engine.settings import TrainConfig, _real, _whole
from companion.errors import CompanionError
from companion.models.discriminators import discriminator_loss, generator_adversarial_loss

#: Forms of the generator's adversarial term (see the module docstring).
ADVERSARIAL_FORMS = ("non-saturating", "minimax")
#: The history kept per step, in this order (``d_real`` / ``d_fake``: the mean probability D gives HR / SR).
HISTORY = ("d", "g", "g_adv", "g_perc", "g_content", "d_real", "d_fake")


@dataclass(frozen=True)
class GANConfig:
    """What :func:`train_gan` needs; the defaults are the authors' PCARN fine-tuning (Adam, lr 1e-4 for both,
    ``5e-3 · L_GAN + 1.0 · L_VGG``, generator gradient norm clipped to 10)."""

    steps: int
    batch_size: int
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    adversarial_weight: float = 5e-3
    perceptual_weight: float = 1.0
    content_weight: float = 0.0
    adversarial: str = "non-saturating"
    grad_clip: float | None = 10.0  # the generator's max gradient norm (None = no clipping)
    checkpoint_every: int = 0  # 0 = only at the end
    max_seconds: float | None = None
    seed: int = 0

    def check(self) -> None:
        """Raise one :class:`CompanionError` naming every setting out of range."""
        bad = []
        if not _whole(self.steps) or self.steps < 1:
            bad.append(f"steps={self.steps!r} (need a whole number >= 1)")
        if not _whole(self.batch_size) or self.batch_size < 1:
            bad.append(f"batch_size={self.batch_size!r} (need >= 1)")
        for name in ("lr_g", "lr_d", "eps"):
            value = getattr(self, name)
            if not (_real(value) and value > 0):
                bad.append(f"{name}={value!r} (need a finite number > 0)")
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                and all(_real(b) and 0 <= b < 1 for b in self.betas)):
            bad.append(f"betas={self.betas!r} (need two numbers in [0, 1))")
        weights = ("adversarial_weight", "perceptual_weight", "content_weight")
        for name in weights:
            value = getattr(self, name)
            if not (_real(value) and value >= 0):
                bad.append(f"{name}={value!r} (need a finite number >= 0)")
        if all(_real(getattr(self, n)) and getattr(self, n) == 0 for n in weights):
            bad.append("every loss weight is 0 (the generator would learn nothing)")
        if self.adversarial not in ADVERSARIAL_FORMS:
            bad.append(f"adversarial={self.adversarial!r} (choose {' or '.join(ADVERSARIAL_FORMS)})")
        if self.grad_clip is not None and not (_real(self.grad_clip) and self.grad_clip > 0):
            bad.append(f"grad_clip={self.grad_clip!r} (need a finite number > 0, or None)")
        if not _whole(self.checkpoint_every) or self.checkpoint_every < 0:
            bad.append(f"checkpoint_every={self.checkpoint_every!r} (need a whole number >= 0; 0 = at the end)")
        if self.max_seconds is not None and not (_real(self.max_seconds) and self.max_seconds > 0):
            bad.append(f"max_seconds={self.max_seconds!r} (need a finite number > 0, or None)")
        if not _whole(self.seed) or self.seed < 0:
            bad.append(f"seed={self.seed!r} (need a whole number >= 0)")
        if bad:
            raise CompanionError("bad GAN training settings: " + "; ".join(bad))


@dataclass
class GANResult:
    """What a run did: ``history[name][i]`` is quantity ``name`` (:data:`HISTORY`) at step ``i + 1`` over the whole
    run including resumed parts; ``seconds`` is the training wall time, also across resumes."""

    steps_done: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    stop_reason: str = "step limit"  # "step limit" (every step ran) or "time budget" (max_seconds reached)
    checkpoint: Path | None = None


def _maps(logits) -> list[torch.Tensor]:
    """One logit map, or the list of a multi-scale discriminator's maps, as a list."""
    return list(logits) if isinstance(logits, (list, tuple)) else [logits]


def minimax_generator_loss(fake_logits) -> torch.Tensor:
    """Eq. 2.4's generator term as printed, summed over scales: ``Σ_i mean log(1 − sigmoid(z_i))`` =
    ``−Σ_i mean softplus(z_i)`` (minimised by the generator; it saturates when D rejects the fakes)."""
    return sum((-F.softplus(z.float()).mean() for z in _maps(fake_logits)))


def _mean_probability(logits) -> float:
    maps = _maps(logits)
    return float(sum(torch.sigmoid(z.detach().float()).mean() for z in maps) / len(maps))


def _finite_weights(*models: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in models for p in m.parameters())


@dataclass
class _Progress:
    """A run's state between steps, and its checkpoint: ``step`` done, training ``seconds``, ``history`` and the
    last step saved with finite weights (``last_good``)."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    cfg: GANConfig
    model_name: str
    path: Path | None
    step: int = 0
    seconds: float = 0.0
    history: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY})
    last_good: int | None = None

    def resume(self, say: Callable[[str], None]) -> None:
        """Load the checkpoint at ``path``: both networks, both optimizers, the RNG, seconds and history."""
        state = load_checkpoint(self.path, model=self.generator, model_name=self.model_name, optimizer=self.opt_g,
                                states={"disc": self.discriminator, "disc_opt": self.opt_d})
        self.step = self.last_good = int(state["step"])
        restore_rng(state)
        extra = state.get("extra") or {}
        self.seconds = float(extra.get("seconds", 0.0))
        saved = extra.get("history")
        if saved is not None and saved.numel():
            self.history = {k: saved[:, i].tolist() for i, k in enumerate(HISTORY)}
        saved_cfg = state.get("train_config") or {}
        changed = [k for k, v in asdict(self.cfg).items() if k in saved_cfg and saved_cfg[k] != v
                   and k not in ("steps", "max_seconds", "checkpoint_every")]
        say(f"resumed {self.model_name} (GAN) from {self.path} at step {self.step}"
            + (f" (settings changed since: {', '.join(changed)})" if changed else ""))

    def kept(self) -> str:
        if self.path is not None and self.last_good is not None:
            return f"the last good checkpoint {self.path} (step {self.last_good}) was kept"
        return "no checkpoint had been written, so none was kept"

    def save(self) -> None:
        """Save the state at ``step`` (only with finite weights; without ``path`` only mark it good)."""
        if not _finite_weights(self.generator, self.discriminator):
            raise CompanionError(f"GAN training of {self.model_name} stopped: the weights became NaN/inf at step "
                                 f"{self.step} and were not saved; {self.kept()}; lower the learning rates or the "
                                 "adversarial weight")
        if self.path is not None:
            rows = torch.tensor([self.history[k] for k in HISTORY], dtype=torch.float64).T.reshape(-1, len(HISTORY))
            save_checkpoint(self.path, model=self.generator, model_name=self.model_name, optimizer=self.opt_g,
                            step=self.step, cfg=self.cfg, extra={"seconds": self.seconds, "history": rows},
                            states={"disc": self.discriminator, "disc_opt": self.opt_d})
        self.last_good = self.step


def _check_inputs(cfg, dataset, perceptual, checkpoint_path) -> Path | None:
    """Refuse bad settings before anything is built; return the checkpoint path (or None)."""
    if not isinstance(cfg, GANConfig):
        raise CompanionError(f"cfg must be a GANConfig, got {type(cfg).__name__}")
    cfg.check()
    if cfg.perceptual_weight > 0 and perceptual is None:
        raise CompanionError(f"perceptual_weight={cfg.perceptual_weight:g} needs a perceptual loss: pass "
                             "perceptual=VGGLoss(...) (companion.engine.perceptual) or set perceptual_weight=0")
    if len(dataset) == 0:
        raise CompanionError("the training dataset is empty; generate the data first")
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if path is not None and path.is_dir():
        raise CompanionError(f"checkpoint {path} is a folder, not a file; pass a file path inside it")
    return path


def _discriminator_step(generator, discriminator, opt_d, x, y):
    """One D step: real HR against the generator's detached output. Returns ``(d_loss, real_logits,
    fake_logits)``."""
    with torch.no_grad():
        fake = generator(x)
    if fake.shape != y.shape:
        raise CompanionError(f"the generator's output {tuple(fake.shape)} does not match the targets "
                             f"{tuple(y.shape)}; check the model's scale and the batch function")
    real_logits, fake_logits = discriminator(y), discriminator(fake)
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return d_loss, real_logits, fake_logits


def _generator_losses(generator, discriminator, cfg: GANConfig, perceptual, x, y):
    """Eq. 2.7's generator loss on a fresh output through the updated discriminator. Returns ``(g_loss, adv,
    perc, content)``."""
    sr = generator(x)
    logits = discriminator(sr)
    adv = (generator_adversarial_loss(logits) if cfg.adversarial == "non-saturating"
           else minimax_generator_loss(logits))
    zero = sr.new_zeros(())
    perc = perceptual(sr, y) if cfg.perceptual_weight > 0 else zero
    content = F.l1_loss(sr, y) if cfg.content_weight > 0 else zero
    g_loss = cfg.adversarial_weight * adv + cfg.perceptual_weight * perc + cfg.content_weight * content
    return g_loss, adv, perc, content


def _generator_step(generator, opt_g, opt_d, g_loss, grad_clip) -> None:
    """One G step (gradient norm clipped to ``grad_clip``); the gradients it left in D are cleared, never applied."""
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(generator.parameters(), grad_clip)
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)


def train_gan(generator: nn.Module, discriminator: nn.Module, dataset, cfg: GANConfig, *, batch: Callable,
              perceptual: Callable | None = None, model_name: str = "generator", device="cpu",
              checkpoint_path=None, resume: bool = True, progress: bool = True,
              log: Callable[[str], None] | None = None) -> GANResult:
    """Train ``generator`` against ``discriminator`` on ``dataset`` with ``cfg`` (see the module docstring).

    ``batch(dataset, indices, step) -> (inputs, targets)`` as in :mod:`companion.engine.loop` (e.g.
    ``paired_batch("lr", "hr")``); the generator maps inputs to outputs of the targets' shape. ``perceptual``:
    the perceptual loss (needed when ``cfg.perceptual_weight`` > 0). With ``checkpoint_path`` the state is
    saved every ``cfg.checkpoint_every`` steps and at the end, and an existing checkpoint there is resumed
    (``resume=True``). ``log`` gets messages (default ``print`` when ``progress``). Raises
    :class:`CompanionError` on bad input and on a NaN/inf loss or weights, keeping the last good checkpoint.
    """
    path = _check_inputs(cfg, dataset, perceptual, checkpoint_path)
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    say = log or (print if progress else (lambda _msg: None))
    generator.to(device)
    discriminator.to(device)
    if perceptual is not None and isinstance(perceptual, nn.Module):
        perceptual.to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), eps=cfg.eps)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas), eps=cfg.eps)
    # Batches come from the loop's own (seed, step) hash: a TrainConfig carries the two numbers it reads.
    draw = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr_g, seed=cfg.seed)
    run = _Progress(generator, discriminator, opt_g, opt_d, cfg, model_name, path)
    if path is not None and resume and path.exists():
        run.resume(say)

    generator.train()
    discriminator.train()
    stop_reason = "step limit"
    bar = tqdm(total=cfg.steps, initial=min(run.step, cfg.steps), desc=f"{model_name} (GAN)", disable=not progress,
               dynamic_ncols=True)
    t0 = time.perf_counter() - run.seconds
    try:
        while run.step < cfg.steps:
            if cfg.max_seconds is not None and run.seconds >= cfg.max_seconds:
                stop_reason = "time budget"
                break
            x, y = batch(dataset, batch_indices(len(dataset), draw, run.step), run.step)
            x, y = x.to(device, torch.float32), y.to(device, torch.float32)
            d_loss, real_logits, fake_logits = _discriminator_step(generator, discriminator, opt_d, x, y)
            g_loss, adv, perc, content = _generator_losses(generator, discriminator, cfg, perceptual, x, y)
            values = dict(d=float(d_loss.detach()), g=float(g_loss.detach()), g_adv=float(adv.detach()),
                          g_perc=float(perc.detach()), g_content=float(content.detach()),
                          d_real=_mean_probability(real_logits), d_fake=_mean_probability(fake_logits))
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                say(f"{model_name}: non-finite {', '.join(bad)} at step {run.step + 1}; stopping")
                raise CompanionError(f"GAN training of {model_name} stopped: {bad[0]} loss became "
                                     f"{values[bad[0]]} at step {run.step + 1} and the bad state was not saved; "
                                     f"{run.kept()}; lower the learning rates or the adversarial weight, or check "
                                     "the data for NaN/inf")
            _generator_step(generator, opt_g, opt_d, g_loss, cfg.grad_clip)

            run.step += 1
            for k, v in values.items():
                run.history[k].append(v)
            run.seconds = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix({"D": f"{values['d']:.3f}", "G": f"{values['g']:.4g}",
                             "D(HR)": f"{values['d_real']:.2f}", "D(SR)": f"{values['d_fake']:.2f}"},
                            refresh=False)
            if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
                run.save()
    finally:
        bar.close()
    if stop_reason == "time budget":
        say(f"{model_name}: time budget of {cfg.max_seconds:g} s reached at step {run.step}")
    if run.last_good != run.step:
        run.save()
    return GANResult(steps_done=run.step, seconds=run.seconds, history=run.history, stop_reason=stop_reason,
                     checkpoint=path)


__all__ = ["ADVERSARIAL_FORMS", "HISTORY", "GANConfig", "GANResult", "minimax_generator_loss", "train_gan"]
