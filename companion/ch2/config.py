"""Profiles of the Chapter 2 notebooks (``02a_carn`` … ``02d_efficiency``): none yet.

The package exists already for :mod:`companion.ch2.authors_weights` (the download command finds a chapter's
weights converters through its ``config.py``); each notebook adds its ``smoke`` / ``quick`` / ``full``
profiles here when it is written.
"""
from __future__ import annotations

#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {}
