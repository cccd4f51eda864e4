"""What every figure of the companion shares; the figures themselves live in their chapter's package.

Each chapter has one function per figure (``companion.<chapter>.*figures``): it builds a matplotlib figure,
saves it through ``run.save_figure`` (atomic, at :data:`companion.figures.style.DPI` dpi, with notebook,
profile, seed, commit and device in the PNG) and returns it, so a notebook cell is a single call.
:mod:`companion.figures.style` has the shared pieces: the resolution, label maps in colour with their legend,
and colorbars.
"""
