"""The tour (``00_quickstart``): distort part of an embedded image, restore it, measure PSNR, preview SHDD.

The tour previews the chapters, so it may import them (its SHDD preview uses :mod:`companion.ch7`); no chapter
imports another.
"""
