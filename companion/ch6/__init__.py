"""Chapter 6: recognising distortions (thesis §6.2): the Flickr-Distortion datasets (``06a_distortion_datasets``).

The same module roles as every chapter package (CONTRIBUTING.md):

* ``config.py``: the profiles of ``06a_distortion_datasets``
  (:class:`~companion.ch6.config.DistortionDatasetsConfig`);
* ``flickr_distortion.py``: the generator (8 types × 3 levels, classification and detection sets) and the
  thesis' settings it follows;
* ``measurements.py``: the experiment: what the generator's settings give (the levels' severity, the
  detection regions), measured;
* ``figures.py``: one function per figure (Fig. 6.1, the 8 × 3 grid, detection samples read back);
* ``conclusions.py``: the notebook's conclusions, rendered from its measurements for ``run.conclude``;
* ``datasets.py``: PyTorch datasets over the generated folders (torchvision's conventions);
* ``commands.py``: ``python -m companion data flickr-distortion``.

Nothing here trains yet, so Chapter 6 has no ``zoo.py``; the recognisers will add one.
"""
