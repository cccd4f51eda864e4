"""Chapter 3: progressive CARN for ×8 super-resolution (staged training, Algorithm 1; Tables 3.1-3.2).

* ``config.py``: the experiment of ``03_progressive_x8`` declared once (:class:`~companion.ch3.config.ProgressiveSpec`:
  split, model, recipe, seeds; quick and smoke are ``replace(full, ...)``), and the settings that key a run;
* ``staged.py``: the ×8 data (LR images and the three stages' targets) and Algorithm 1's staged training
  through the shared loop with per-module learning rates;
* ``progressive.py``: the experiment: the staged run and the single-stage baseline per seed, every head scored
  against bicubic, with and without the geometric self-ensemble;
* ``zoo.py``: the trained models (:class:`~companion.ch3.zoo.TrainedStage`, found with ``companion.zoo.find``);
  it never imports the experiment;
* ``tables.py``: summaries, Tables 3.1-3.2 beside the paper's, the claims (paired intervals), the ledger records;
* ``figures.py``: one function per figure.
* ``conclusions.py``: the notebook's conclusions, rendered from its measurements for ``run.conclude``.

The model is shared: :mod:`companion.models.progressive_carn`; its exact costs: :mod:`companion.analysis.costs`.
"""
