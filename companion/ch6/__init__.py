"""Chapter 6: recognising distortions (thesis §6.2-6.3): the Flickr-Distortion datasets (``06a_distortion_datasets``),
the distortion classifiers (``06b_classification``) and the SSD distortion detectors (``06c_detection``).

The same module roles as every chapter package (CONTRIBUTING.md):

* ``config.py``: the profiles of the three notebooks (:class:`~companion.ch6.config.DistortionDatasetsConfig`,
  :class:`~companion.ch6.config.ClassificationConfig`, :class:`~companion.ch6.config.DetectionConfig`);
* ``flickr_distortion.py``: the generator (8 types × 3 levels, classification and detection sets) and the
  thesis' settings it follows;
* one module per experiment: ``measurements.py`` (what the generator's settings give, measured),
  ``classification.py`` (Table 6.1, Fig. 6.2) and ``detection.py`` (Tables 6.2-6.3, Fig. 6.3);
* their figures: ``figures.py`` (Fig. 6.1, the 8 × 3 grid), ``classification_figures.py``,
  ``detection_figures.py``;
* ``conclusions.py``: each notebook's conclusions, rendered from its measurements for ``run.conclude``;
* ``datasets.py``: PyTorch datasets over the generated folders (torchvision's conventions);
* ``zoo.py``: the quick profile's classifiers and detectors (it never imports back from the notebooks);
* ``commands.py``: ``python -m companion data flickr-distortion``.

The networks are in :mod:`companion.models`: ``iqa_cnn_plus``, ``iqa_cnn_plusplus`` (one file each) and
``recognisers`` (torchvision's VGG-16, Atrous VGG-16 and ResNet-101 with a new classifier).
"""
