"""Chapter 2's models for ``python -m companion restore --model carn-m --scale 4``: super-resolution of your
own photograph with CARN or CARN-M (thesis §2.2, the models of notebooks 02a and 02d).

Each :class:`SuperResolver` loads, in this order,

1. the authors' released multi-scale weights (×2, ×3, ×4: :mod:`companion.ch2.authors_weights`), when
   ``python -m companion download carn-m`` (or ``carn``) has put them under ``<data>/weights/``;
2. else the model zoo's quick-size single-scale ×4 model (``ch2/carn-m-x4-seed0``, ``ch2/carn-x4-seed0``:
   :mod:`companion.ch2.zoo`, trained on seven embedded photographs), which has no ×2 or ×3.

and says which in its description. :data:`RESTORERS` is what the ``restore`` command finds: a chapter's
``restorers.py`` declares ``RESTORERS = {name: restorer}``, each with ``name``, ``label``, ``task``,
``scales``, ``good_for`` and ``load(scale, data_root) -> (model, description)``. Importing this module loads
nothing heavy (the command's ``--help`` stays fast); ``load`` imports PyTorch and the zoo when it runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from companion.data import folders
from companion.errors import CompanionError

#: The scales of the authors' multi-scale releases; the zoo's models are ×4 only.
AUTHORS_SCALES = (2, 3, 4)
ZOO_SCALE = 4


@dataclass(frozen=True)
class SuperResolver:
    """One super-resolution model ``restore`` can run: the authors' weights ``release`` when downloaded, else
    the zoo entry ``ch2/<zoo_stem>-seed0``."""

    name: str          # the --model value, e.g. "carn-m"
    label: str         # e.g. "CARN-M"
    release: str       # the authors' weights (companion.ch2.authors_weights.RELEASES key)
    zoo_stem: str      # companion.ch2.zoo.QUICK_X4_MODELS key
    good_for: str      # one phrase for the command's help
    task: str = "super-resolution"
    scales: tuple[int, ...] = AUTHORS_SCALES

    def authors_file(self, data_root=None) -> Path | None:
        """The downloaded authors' weights (converted, else the raw ``.pth``), or None when not downloaded."""
        for converted in (True, False):
            path = folders.weights_path(self.release, data_root, converted=converted)
            if path.is_file():
                return path
        return None

    def load(self, scale: int, data_root=None):
        """``(model in eval mode, description)`` for ×``scale``: the authors' weights when downloaded, else the
        zoo's ×4 model; a one-line :class:`CompanionError` when neither gives this scale."""
        if scale not in self.scales:
            raise CompanionError(f"{self.label} upscales ×{', ×'.join(map(str, self.scales))}, not ×{scale}; "
                                 f"pass --scale {' or '.join(map(str, self.scales))}")
        path = self.authors_file(data_root)
        if path is not None:
            # reason: PyTorch and the models load only when the command runs
            from companion.ch2.authors_weights import load_authors_carn

            return load_authors_carn(path), f"the authors' {self.label} weights ({path})"
        download = f"`python -m companion download {self.release}`"
        if scale != ZOO_SCALE:
            raise CompanionError(f"the model zoo's {self.label} is ×{ZOO_SCALE} only, and the authors' weights "
                                 f"(×2, ×3, ×4) are not downloaded; run {download} for ×{scale}, or pass --scale "
                                 f"{ZOO_SCALE}")
        # reason: the zoo loads PyTorch and the Chapter 2 training layer; only when the command runs
        from companion.ch2.zoo import main_entry
        from companion.zoo import load_entry, status

        entry = main_entry(self.zoo_stem)
        state = status(entry)
        if state != "current":
            raise CompanionError(f"zoo entry {entry.name} is {state} and the authors' {self.label} weights are not "
                                 f"downloaded; run {download}, or `python -m companion zoo build {entry.name}`")
        model, _ = load_entry(entry)
        return model, (f"zoo {entry.name} (quick size, trained on seven embedded photographs; {download} for "
                       "the authors' weights)")


#: The Chapter 2 models ``python -m companion restore`` can run, by ``--model`` name.
RESTORERS: dict[str, SuperResolver] = {
    "carn-m": SuperResolver("carn-m", "CARN-M", "carn-m", "carn-m-x4",
                            "fast super-resolution (×2, ×3, ×4) of clean photographs"),
    "carn": SuperResolver("carn", "CARN", "carn", "carn-x4",
                          "super-resolution (×2, ×3, ×4) of clean photographs, about 4× the Mult-Adds of CARN-M"),
}
