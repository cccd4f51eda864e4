"""Data layer, shared by every chapter; it names no chapter's dataset.

* ``images``: embedded photographs, checked image IO; ``folders``, ``download``: benchmark datasets on disk
  and their verified download; ``references``: where a notebook's clean images come from;
* ``distortions``: one function per synthetic distortion, with its valid range and context margin;
* ``regions``: distort rectangular regions, each with its own distortion (SHDD, Flickr-Distortion detection);
* ``generation``: the machinery of dataset generators (sources and splits, jobs, process pool, manifest);
* ``tensors``: from arrays to tensors, paired augmentation, finding a generated dataset's folder;
* ``sr``: the super-resolution protocol's data (MATLAB-bicubic LR images, training patches, benchmark sets);
* ``augments``: the data augmentations of (LQ, HQ) training batches (Blend, RGB permutation, Mixup, Cutout,
  CutMix, CutMixup, CutBlur and their mixture MoA), seeded batch transforms on CPU or GPU tensors.

The generators themselves and their presets live in their chapter: ``companion.ch6.flickr_distortion``,
``companion.ch7.shdd``.
"""
