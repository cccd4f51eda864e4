"""Chapter 5: SimUSR against ZSSR, unsupervised super-resolution without any HR image in training (Tables 5.1,
5.3, 5.4; Fig. 5.3).

* ``config.py``: the experiment of ``05_simusr`` declared once (:class:`~companion.ch5.config.SimUSRSpec`: split,
  ZSSR's online recipe, SimUSR's offline recipe, the noisy setting, seeds; quick and smoke are
  ``replace(full, ...)``);
* ``data.py``: the LR-only pool, the test images, Gaussian noise and BM3D;
* ``zssr.py``: ZSSR's online training on one test image (fathers, sons, its own small loop) and its inference;
* ``simusr.py``: SimUSR's pseudo-pairs and the supervised reference, trained by the one SR trainer; one forward
  pass at test time;
* ``zoo.py``: the offline networks (:class:`~companion.ch5.zoo.TrainedNetwork`, found with ``companion.zoo.find``);
  it never imports the experiments;
* ``runs.py``: what the experiments share: ZSSR runs side by side, the networks from the zoo, the scores;
* ``comparison.py`` (Table 5.1, Fig. 5.3), ``noisy.py`` (Table 5.3), ``latency.py`` (Table 5.4): the experiments;
* ``tables.py``: summaries, claims (paired intervals), ledger records; ``figures.py``: one function per figure;
* ``conclusions.py``: the notebook's conclusions, rendered from its measurements for ``run.conclude``.

The ZSSR network is shared: :mod:`companion.models.zssr`.
"""
