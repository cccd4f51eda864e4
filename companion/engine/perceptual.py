"""Perceptual training of PCARN (thesis §2.3.2, Eq. 2.4–2.7): the VGG loss, and one alternating D/G step.

**VGG loss** (Eq. 2.5, :class:`VGGLoss`): the mean squared difference between VGG19 features of the SR and the
HR image. The thesis defines φ_{i,j} as "the output of the j-th ReLU following a convolutional layer before
the i-th pooling layer" and uses i = j = 5; VGG19 has only four convolutions in its fifth group, so φ_{5,5}
does not exist as printed. The authors' code (nmhkahn/PCARN-pytorch, ``pcarn/utils.py``) takes
``vgg19.features`` up to index 34 inclusive, i.e. ``features[:35]``, which ends at conv5_4 *before* its ReLU:
that is the layer read here (``layer=34``; the SRGAN-style "φ5,4" of the last conv of block 5).

Readings chosen:

* **Input normalisation**: images in [0, 1] are normalised with the ImageNet mean and std that the
  torchvision VGG19 weights were trained with (``normalize=True``, default). The authors' code feeds the
  [0, 1] images unnormalised; ``normalize=False`` reproduces it.
* **Reduction**: the mean over batch, channels and positions (``F.mse_loss``, as the authors' code).
  Eq. 2.5 sums the squared channel vectors and divides by W·H only, i.e. 512 × this value for conv5_4; the
  factor is absorbed by the loss weight λ.
* **Weights**: VGG19's ImageNet weights are read only from a file the user already has, never downloaded:
  ``weights=PATH``, else the first of ``vgg19.safetensors``, ``vgg19-dcbb9e9d.pth`` (torchvision's file name),
  ``vgg19.pth`` in ``<data root>/weights/`` (data root: ``--data``, ``$COMPANION_DATA`` or the repository's
  ``data/``), else torchvision's own cache ``<torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth``. A ``.pth`` is
  read with ``torch.load(weights_only=True)``, a ``.safetensors`` with safetensors; either may hold the whole
  torchvision VGG19 state dict (``features.N.weight`` …) or just the features (``N.weight``). Without a file,
  one :class:`CompanionError` line says where to put it. ``random_init=True`` builds the same network with
  random weights (tests, smoke runs: the loss then means nothing perceptual).
* The VGG is frozen (no gradients to its weights) and always in eval mode; gradients flow to the SR image.

**One PCARN step** (:func:`pcarn_step`), as the authors' code alternates them: a discriminator step on
``D(HR)`` vs ``D(G(LR).detach())``, then a generator step on
``gan_weight · L_GAN^MS + vgg_weight · L_VGG`` with the generator's gradient norm clipped to 10. The losses
and their weights are in :mod:`companion.models.discriminators`.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from companion.data.folders import ENV_VAR, REPO_DATA
from companion.errors import CompanionError
from companion.models.discriminators import CODE_WEIGHTS, discriminator_loss, generator_loss

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``features`` index of conv5_4 in torchvision's VGG19 (the authors' ``feature=34``, ``features[:35]``).
CONV5_4 = 34
#: Names looked for in ``<data root>/weights/``, in order; the second is torchvision's own file name.
VGG19_FILES = ("vgg19.safetensors", "vgg19-dcbb9e9d.pth", "vgg19.pth")


def _vgg19_features(last: int) -> nn.Sequential:
    """torchvision's VGG19 ``features[:last + 1]`` without building the 120M-parameter classifier."""
    from torchvision.models.vgg import cfgs, make_layers  # reason: heavy; torchvision takes seconds to import
    return make_layers(cfgs["E"], batch_norm=False)[:last + 1]


def _data_root(root) -> tuple[Path, str]:
    if root is not None and str(root) != "":
        return Path(root).expanduser(), "--data"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR
    return REPO_DATA, "the repository's data/"


def vgg19_candidates(root=None) -> list[Path]:
    """Where :func:`find_vgg19_weights` looks, in order (see the module docstring)."""
    folder = _data_root(root)[0] / "weights"
    paths = [folder / name for name in VGG19_FILES]
    paths.append(Path(torch.hub.get_dir()) / "checkpoints" / "vgg19-dcbb9e9d.pth")
    return paths


def find_vgg19_weights(weights=None, root=None) -> Path:
    """The VGG19 weights file: ``weights`` if given (it must exist), else the first of
    :func:`vgg19_candidates` that exists; otherwise a one-line :class:`CompanionError` naming where to put it."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise CompanionError(f"VGG19 weights {path} not found; pass the path of torchvision's "
                                 "vgg19-dcbb9e9d.pth (or a .safetensors of it) that exists")
        return path
    for path in vgg19_candidates(root):
        if path.is_file():
            return path
    folder, source = _data_root(root)
    raise CompanionError(f"VGG19 weights not found: put torchvision's ImageNet vgg19-dcbb9e9d.pth (or "
                         f"vgg19.safetensors) in {folder / 'weights'} (data root from {source}; set COMPANION_DATA "
                         "or --data to change it) or pass weights=PATH; the companion never downloads them")


def _read_state(path: Path) -> dict:
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise CompanionError(f"VGG19 weights {path} are unreadable by the safe loaders ({type(exc).__name__}); "
                             "use torchvision's vgg19-dcbb9e9d.pth or a .safetensors of its state dict") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CompanionError(f"VGG19 weights {path} are not a state dict of tensors; use torchvision's "
                             "vgg19-dcbb9e9d.pth or a .safetensors of its state dict")
    return state


def load_vgg19_features(features: nn.Sequential, path: Path) -> None:
    """Load the ``features`` part of a VGG19 state dict from ``path`` into ``features`` (a prefix of VGG19's
    ``features``), checking names and shapes; a mismatch is one :class:`CompanionError`."""
    state = _read_state(path)
    if any(k.startswith("features.") for k in state):
        state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    own = features.state_dict()
    missing = sorted(set(own) - set(state))
    shapes = sorted(k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or shapes:
        mismatch = f"missing {', '.join(missing[:3])}" if missing else f"shapes differ at {', '.join(shapes[:3])}"
        raise CompanionError(f"VGG19 weights {path} do not fit torchvision's VGG19 ({mismatch}); use torchvision's "
                             "vgg19-dcbb9e9d.pth")
    features.load_state_dict({k: state[k] for k in own})


class VGGLoss(nn.Module):
    """L_VGG (Eq. 2.5): ``F.mse_loss(φ(sr), φ(hr))`` with φ = VGG19 ``features[:layer + 1]`` (default conv5_4
    before ReLU), inputs B×3×H×W in [0, 1], ImageNet-normalised when ``normalize``. ``weights``: a file path,
    or None to look in the data root (see the module docstring); ``random_init=True``: random weights, no file.
    """

    def __init__(self, weights=None, *, root=None, layer: int = CONV5_4, normalize: bool = True,
                 random_init: bool = False):
        super().__init__()
        if not 0 <= int(layer) <= 35:
            raise ValueError(f"layer must be an index of VGG19's features (0..35); got {layer!r}")
        self.layer, self.normalize = int(layer), bool(normalize)
        self.features = _vgg19_features(self.layer)
        self.weights_path = None
        if not random_init:
            self.weights_path = find_vgg19_weights(weights, root)
            load_vgg19_features(self.features, self.weights_path)
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.features.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGLoss":
        super().train(mode)
        self.features.eval()  # the VGG never leaves eval mode
        return self

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): the VGG19 features of images ``x`` in [0, 1]."""
        if self.normalize:
            x = (x - self.mean) / self.std
        return self.features(x)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise CompanionError(f"the VGG loss compares images of one shape; got {tuple(sr.shape)} and "
                                 f"{tuple(hr.shape)}")
        with torch.no_grad():
            target = self.feature_map(hr)
        return F.mse_loss(self.feature_map(sr), target)


def pcarn_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer, lr_images: torch.Tensor, hr_images: torch.Tensor, *,
               vgg_loss: nn.Module, scale: int | None = None, gan_weight: float | None = None,
               vgg_weight: float | None = None, clip: float | None = None) -> dict[str, float]:
    """One alternating PCARN step, as the authors' code: update D on real ``hr_images`` and fake
    ``G(lr_images).detach()`` (:func:`~companion.models.discriminators.discriminator_loss`), then G on
    :func:`~companion.models.discriminators.generator_loss` (a fresh ``G(lr_images)`` through the updated D),
    with G's gradient norm clipped to ``clip``. ``discriminator``: a patch or multi-scale discriminator
    (logits). Weights and clip default to the authors' code (:data:`~companion.models.discriminators.CODE_WEIGHTS`).
    Returns the float losses ``d``, ``g``, ``g_adv``, ``g_vgg``."""
    gan_weight = CODE_WEIGHTS["gan"] if gan_weight is None else gan_weight
    vgg_weight = CODE_WEIGHTS["vgg"] if vgg_weight is None else vgg_weight
    clip = CODE_WEIGHTS["clip"] if clip is None else clip

    def generate():
        return generator(lr_images) if scale is None else generator(lr_images, scale)

    with torch.no_grad():
        fake = generate()
    d_loss = discriminator_loss(discriminator(hr_images), discriminator(fake))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    sr = generate()
    total, parts = generator_loss(discriminator(sr), sr, hr_images, vgg_loss, gan_weight=gan_weight,
                                  vgg_weight=vgg_weight)
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    if clip:
        nn.utils.clip_grad_norm_(generator.parameters(), clip)
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)  # the G step left gradients in D; they are never applied
    return {"d": float(d_loss.detach()), "g": float(total.detach()), "g_adv": float(parts["adversarial"].detach()),
            "g_vgg": float(parts["vgg"].detach())}
