"""Chapter 2 (and the ECCV 2018 / PCARN papers): CARN, CARN-M and PCARN.

Modules, by role (no import cycle; ``config`` imports no experiment and no PyTorch; ``zoo`` imports no
experiment back):

* ``config.py``: every notebook's spec (splits, model configuration, recipes, seeds) and profiles;
* the training layer, which the zoo builds with: ``training.py`` (the zoo's single-scale models),
  ``init_schemes.py`` / ``init_training.py`` (Table 2.3's schemes and one run), ``pcarn_training.py`` (PCARN-M's
  two stages), all through the one SR trainer :func:`companion.engine.sr_training.train_sr`;
* ``zoo.py``: the Chapter 2 model zoo (typed specs with ``zoo_entry(seed)`` for :func:`companion.zoo.find`);
* one module per experiment: ``costs_tables.py`` and ``evaluation.py`` (02a), ``init_histograms.py`` and
  ``initialisation.py`` (02b), ``pcarn.py`` (02c's run) with ``pcarn_stages.py`` (where each stage comes
  from), ``pcarn_scores.py`` (scores and PSD) and ``pcarn_report.py`` (tables and ledger), ``qualitative.py`` (02c,
  with 02a's Fig. 2.10), ``efficiency.py`` (02d); ``authors_weights.py``: the authors' released weights;
* their figures: ``figures.py``, ``pcarn_figures.py``, ``qualitative_figures.py``, ``efficiency_figures.py``;
* ``conclusions.py``: each notebook's conclusions, rendered from its measurements.

The models themselves (CARN, CARN-M with their two readings) are shared: :mod:`companion.models.carn`,
:mod:`companion.models.carn_m`.
"""
