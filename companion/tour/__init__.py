"""The tour (``00_quickstart``): distort part of an embedded image, restore it, measure PSNR, preview SHDD.

The same module roles as every chapter package (CONTRIBUTING.md):

* ``config.py``: the profiles of ``00_quickstart`` (:class:`~companion.tour.config.QuickstartConfig`);
* ``quickstart.py``: the experiment: two boxes distorted, non-local means and the zoo's MEPSNet restore the
  image, PSNR over the frame and per box;
* ``figures.py``: one function per figure (the restoration side by side, the SHDD preview);
* ``conclusions.py``: the notebook's conclusions, rendered from its PSNR table for ``run.conclude``;
* ``upload.py``: the upload widget that restores a picture of your own.

Nothing here trains, so the tour has no ``zoo.py``: it loads Chapter 7's zoo model. The tour previews the
chapters, so it may import them (its SHDD preview and its zoo model come from :mod:`companion.ch7`); no chapter
imports another.
"""
