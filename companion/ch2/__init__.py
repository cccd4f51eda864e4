"""Chapter 2 (and the ECCV 2018 / PCARN papers): CARN, CARN-M and PCARN.

* ``config.py``: profiles of the Chapter 2 notebooks (``02a_carn`` so far);
* ``costs_tables.py``, ``figures.py``, ``evaluation.py``: what ``02a_carn`` calls (exact cost tables, the
  Eq. 2.10 curve, the Fig. 2.9 bubble plot, the authors' weights on the SR protocol);
* ``authors_weights.py``: the authors' released CARN / CARN-M / PCARN / PCARN-M weights, mapped onto the
  companion's CARN and CARN-M (``python -m companion download carn-m`` etc. convert them once).

The models themselves (CARN, CARN-M with their two readings) are shared: :mod:`companion.models.carn`,
:mod:`companion.models.carn_m`.
"""
