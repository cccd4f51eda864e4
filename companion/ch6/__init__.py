"""Chapter 6: recognising distortions (thesis §6.2): the Flickr-Distortion datasets.

* ``config.py``: profiles of ``06a_distortion_datasets``;
* ``flickr_distortion.py``: the generator (8 types × 3 levels, classification and detection sets) and presets;
* ``datasets.py``: PyTorch datasets over the generated folders (torchvision's conventions);
* ``figures.py``: Fig. 6.1, the 8 × 3 grid, detection samples;
* ``commands.py``: ``python -m companion data flickr-distortion``.
"""
