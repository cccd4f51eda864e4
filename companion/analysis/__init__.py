"""Analysis tools behind the thesis' figures: spectra, feature maps, embeddings and fusion weights.

* :mod:`companion.analysis.psd` -- radially averaged power spectral density and 1/f^α fits (Ch.4 §4.4,
  Fig. 4.3/4.4), per SHDD region type (Ch.7).
* :mod:`companion.analysis.features` -- forward-hook capture of intermediate outputs; MEPSNet's per-expert
  feature maps and their one-image summaries (Ch.7 §7.5.2, Fig. 7.7).
* :mod:`companion.analysis.tsne` -- pixel feature vectors by distortion label, t-SNE embeddings and
  silhouette scores (in the feature space and in the embedding).
* :mod:`companion.analysis.fusion` -- MEPSNet's attentive-fusion channel weights S (Eq. 7.4-7.5), per
  expert and per distortion type.

Import the submodules directly; this package imports nothing heavy itself.
"""
