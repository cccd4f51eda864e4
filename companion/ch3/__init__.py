"""Chapter 3: progressive CARN for ×8 super-resolution (staged training, Algorithm 1; Tables 3.1-3.2).

* ``config.py``: the profiles of ``03_progressive_x8``;
* ``progressive.py``: the ×8 data (LR images and the three stages' targets), staged training through the shared
  loop with per-module learning rates, the single-stage baseline, every head scored against bicubic, with and
  without the geometric self-ensemble;
* ``tables.py``: summaries, Tables 3.1-3.2 beside the paper's, the ledger records;
* ``figures.py``: one function per figure.

The model is shared: :mod:`companion.models.progressive_carn`; its exact costs: :mod:`companion.analysis.costs`.
"""
