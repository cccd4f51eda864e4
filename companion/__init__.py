"""Companion to *Efficient deep image restoration* (N. Ahn) and four related papers.

Layers point one way: ``companion.data`` knows nothing of models or training (``companion.models``,
``companion.train`` and ``companion.analysis`` join as the chapters with networks land, in that order of
dependence); ``companion.figures``, the notebooks and the CLI (``python -m companion``) sit on top.
See README.md for the map.
"""
from companion.errors import CompanionError

__all__ = ["CompanionError"]
__version__ = "0.1.0"
