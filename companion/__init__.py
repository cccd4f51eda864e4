"""Companion to *Efficient deep image restoration* (N. Ahn) and four related papers.

Layers point one way: ``companion.data`` and ``companion.models`` know nothing of each other or of
training; ``companion.train`` and ``companion.analysis`` use both; notebooks and the CLI
(``python -m companion``) sit on top. See README.md for the map.
"""
from companion.errors import CompanionError

__all__ = ["CompanionError"]
__version__ = "0.1.0"
