"""Chapter 2 (and the ECCV 2018 / PCARN papers): CARN, CARN-M and PCARN.

* ``config.py``: profiles of the Chapter 2 notebooks (none yet);
* ``authors_weights.py``: the authors' released CARN / CARN-M / PCARN / PCARN-M weights, mapped onto the
  companion's CARN and CARN-M (``python -m companion download carn-m`` etc. convert them once).

The models themselves (CARN, CARN-M with their two readings) are shared: :mod:`companion.models.carn`,
:mod:`companion.models.carn_m`.
"""
