"""Named splits of the embedded photographs into train / validation / test (one declaration, every chapter).

A :class:`Split` is a frozen triple of image-name tuples that never overlap (checked when it is made). The
companion's quick profiles train on photographs that ship with scikit-image and scikit-learn
(:mod:`companion.data.images`); which of them train, which choose settings and which are scored is a fact
of the experiment, so it is declared here once and an experiment spec holds the split it used.

* :data:`EMBEDDED_SR`: the super-resolution split. ``coffee`` is the validation photograph (curves, the
  checkpoint and every recipe choice); ``china``, ``flower`` and ``rocket`` (three everyday scenes) are
  scored once per recipe and never used to choose anything; the other seven train.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """Image names for training, validation (every choice is made here) and test (scored once per recipe)."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("train", "validation", "test"):
            if not isinstance(getattr(self, name), tuple):
                raise TypeError(f"Split.{name} must be a tuple of image names")
        seen: dict[str, str] = {}
        for part in ("train", "validation", "test"):
            for image in getattr(self, part):
                if image in seen:
                    raise ValueError(f"image {image!r} is in both {seen[image]} and {part}")
                seen[image] = part

    @property
    def all_images(self) -> tuple[str, ...]:
        return self.train + self.validation + self.test


EMBEDDED_SR = Split(
    train=("astronaut", "chelsea", "hubble_deep_field", "ihc", "motorcycle_left", "motorcycle_right", "retina"),
    validation=("coffee",),
    test=("china", "flower", "rocket"),
)
