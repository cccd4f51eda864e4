"""Chapter 7 (and seed 000): SHDD and MEPSNet.

* ``config.py``: profiles of ``07a_shdd`` and of the model notebooks ``07b``-``07d`` (the paper's training
  settings are declared once here, as a :class:`~companion.engine.settings.TrainConfig`);
* ``shdd.py``: divide-and-distort, the SHDD generator, its presets and splits;
* ``datasets.py``: PyTorch datasets over the generated folder;
* ``evaluation.py``: Table 7.1's protocol (2×4 tiles, RGB PSNR/SSIM, per distortion type);
* ``experiments.py``: train every variant × seed, summarise, record beside the paper, check the claims;
* ``expert_analysis.py``: the measurements of ``07d`` (expert responses, t-SNE sampling, spectra, fusion);
* ``shdd_figures.py``, ``model_figures.py``: one function per figure;
* ``playground.py``, ``expert_explorer.py``: the widgets;
* ``authors_weights.py``: the MEPSNet authors' released checkpoint, mapped onto the companion's MEPSNet;
* ``commands.py``: ``python -m companion data shdd``, ``train`` and ``restore``;
* ``recognition.py``, ``routing.py``, ``recognition_figures.py``: ``07e`` (Table 7.2's COCO pipeline, and the
  image-level routing experiment with its per-type restorers and SHDD-type classifier).

The models themselves (MEPSNet and the four baselines) are shared: :mod:`companion.models`.
"""
