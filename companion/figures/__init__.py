"""One function per figure. Each builds a matplotlib figure, saves it through ``run.save_figure`` (atomic, with
profile, seed and commit) and returns it, so a notebook cell is a single call.

- :mod:`companion.figures.ch6`: Flickr-Distortion (thesis Ch.6, Fig. 6.1 and the 8 × 3 grid).
- :mod:`companion.figures.ch7`: SHDD (thesis Ch.7 / seed 000, Fig. 7.1 and Fig. 7.3).
"""
