"""The engine every chapter trains and runs its models with; it names no chapter.

* :mod:`companion.engine.settings` -- :class:`~companion.engine.settings.TrainConfig`, the loop's settings
  (a plain dataclass; chapters declare their papers' values with it, without importing PyTorch);
* :mod:`companion.engine.loop` -- ``train(model, dataset, cfg, loss=..., batch=...)``, the training loop
  (reads top to bottom), the pixel losses, batch functions and PSNR validation;
* :mod:`companion.engine.checkpoint` -- atomic checkpoints read only with ``weights_only=True``, checked
  against the model before loading; also what loops of other shapes (GAN, per-image, detection) use;
* :mod:`companion.engine.distributed` -- ``torchrun`` set-up, barriers, agreement between ranks;
* :mod:`companion.engine.inference` -- ``restore``: tiled inference at any size, with a scale factor;
* :mod:`companion.engine.sr_training` -- ``train_sr``, the one super-resolution trainer;
* :mod:`companion.engine.augmented` -- a batch function and loss that apply an augmentation
  (:mod:`companion.data.augments`) to every training batch, seeded by the step (Cutout's pixels out of the loss).

Import the submodules directly; this package imports nothing itself.
"""
