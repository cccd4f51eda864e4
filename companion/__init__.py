"""Companion to *Efficient deep image restoration* (N. Ahn) and four related papers.

Shared layers below, one package per chapter above; layers point one way (down):

* shared layers, which name no chapter:

  - ``errors``, ``atomic``, ``device``, ``processes``: one-line errors, atomic writes, device choice, worker
    processes that die with their parent;
  - ``data``: embedded images, dataset folders and downloads, the distortions, distorting regions, the
    machinery of dataset generators, tensors for PyTorch datasets;
  - ``models``: one restoration model per file, the registry built from those files;
  - ``engine``: the training loop, checkpoints, ``torchrun`` set-up, tiled inference;
  - ``metrics``, ``analysis`` (PSD, t-SNE, feature maps, fusion weights), ``summary`` (seeds and claims),
    ``figures`` (shared style);
  - ``profiles``, ``session``, ``runner``, ``ledger``, ``cli``, ``arguments``: notebooks as runs, the
    reproduction ledger, the command line;

* chapter packages, each holding what only it uses (profiles in ``config.py``, experiments, figures,
  widgets, ``commands.py``), imported by its own notebooks: ``tour`` (00), ``ch6`` (06*), ``ch7`` (07*).
  A chapter imports the shared layers, never another chapter (the tour may preview a chapter).

See README.md, "Layout", for the map and where a new chapter goes.
"""
from companion.errors import CompanionError

__all__ = ["CompanionError"]
__version__ = "0.1.0"
