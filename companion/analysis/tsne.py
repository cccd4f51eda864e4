"""Pixel features by distortion label, their t-SNE embedding and silhouette scores (thesis Ch.7 analysis).

Does a network's feature space separate the SHDD distortion types? Sample the feature vector of pixels with
their label-map label, embed them in 2-D with t-SNE, and measure the separation with the silhouette score.

Readings chosen:

* **Sampling** (:func:`features_by_label`): pixels are drawn without replacement, the *same number* per
  label (``min(per_label, smallest label count)``), so that no type dominates the embedding or the score.
  If the feature map is smaller than the label map (a strided layer), the label map is resampled to it by
  nearest neighbour at pixel centres.
* **t-SNE** (:func:`tsne_embedding`): ``sklearn.manifold.TSNE`` with ``init="pca"``, ``learning_rate="auto"``
  and a fixed ``random_state``; vectors are used as they are (no standardisation). It runs single-threaded
  (``threadpoolctl``): the result then does not depend on the core count, and OpenMP threads measured 10-30×
  *slower* on a busy 2-core machine (60 points: 9-19 s with 2 threads vs 0.5-0.7 s with 1). The perplexity is clipped
  to ``(n − 1)/3`` (t-SNE looks at ``3·perplexity`` neighbours, and needs perplexity < n), with a warning.
* **Silhouette** (:func:`silhouette`): Euclidean ``sklearn.metrics.silhouette_score``. t-SNE exaggerates
  clusters, so :func:`embed_and_score` reports the score in the *original feature space* next to the score of
  the embedding: read the plot against the first number.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from companion.errors import CompanionError


def _numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except Exception:  # noqa: BLE001 - any unconvertible input is a user error here
        raise CompanionError(f"{name} must be an array or tensor, got {type(a).__name__}") from None


def _nearest(labels: np.ndarray, h: int, w: int) -> np.ndarray:
    """Label map ``B×H'×W'`` resampled to ``B×h×w`` by nearest neighbour at pixel centres."""
    hl, wl = labels.shape[1:]
    iy = np.minimum(((np.arange(h) + 0.5) * hl / h).astype(np.int64), hl - 1)
    ix = np.minimum(((np.arange(w) + 0.5) * wl / w).astype(np.int64), wl - 1)
    return labels[:, iy[:, None], ix[None, :]]


def features_by_label(feature, label_map, *, per_label: int = 200, rng: np.random.Generator,
                      labels=None) -> tuple[np.ndarray, np.ndarray]:
    """Sample pixel feature vectors with their distortion labels, balanced per label.

    ``feature``: B×C×H×W (tensor or array); ``label_map``: B×H'×W' (or H'×W' when B = 1) integer labels,
    e.g. SHDD label maps (``SHDD_TYPES`` index per pixel). ``labels``: the label values to keep (default:
    all present). Returns ``(vectors N×C float32, labels N int64)``, grouped by label in ascending order,
    with ``min(per_label, smallest count)`` pixels per label.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"features_by_label needs rng=np.random.default_rng(seed), got {type(rng).__name__}")
    f = _numpy(feature, "feature")
    lab = _numpy(label_map, "label_map")
    if f.ndim != 4:
        raise CompanionError(f"feature must be B×C×H×W, got shape {f.shape}")
    if lab.ndim == 2:
        lab = lab[None]
    if lab.ndim != 3 or lab.shape[0] != f.shape[0]:
        raise CompanionError(f"label_map must be B×H×W with B = {f.shape[0]}, got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise CompanionError(f"label_map must hold integer labels, got dtype {lab.dtype}")
    if int(per_label) != per_label or per_label < 1:
        raise CompanionError(f"per_label must be a positive whole number, got {per_label!r}")
    b, c, h, w = f.shape
    if lab.shape[1:] != (h, w):
        lab = _nearest(lab, h, w)
    flat_labels = lab.reshape(-1).astype(np.int64)
    present = np.unique(flat_labels)
    keep = present if labels is None else np.array(sorted({int(v) for v in labels}), dtype=np.int64)
    missing = sorted(set(keep.tolist()) - set(present.tolist()))
    if missing:
        raise CompanionError(f"labels {missing} do not occur in the label map (present: {present.tolist()})")
    if len(keep) == 0:
        raise CompanionError("no labels to sample")
    counts = {int(v): int(np.sum(flat_labels == v)) for v in keep}
    n = min(int(per_label), min(counts.values()))
    vectors = np.moveaxis(f, 1, -1).reshape(-1, c)
    chosen = [rng.choice(np.flatnonzero(flat_labels == v), size=n, replace=False) for v in keep]
    idx = np.concatenate(chosen)
    return vectors[idx].astype(np.float32), flat_labels[idx]


def effective_perplexity(n_samples: int, perplexity: float) -> float:
    """The perplexity :func:`tsne_embedding` uses for ``n_samples`` points: at most ``(n_samples − 1)/3``."""
    return float(min(perplexity, (n_samples - 1) / 3))


def tsne_embedding(vectors, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE embedding (N×2 float32) of ``vectors`` (N×D), deterministic for a given ``seed``.

    ``init="pca"``, ``learning_rate="auto"``, ``random_state=seed``. A perplexity too large for N points is
    clipped to ``(N − 1)/3`` with a ``UserWarning``. Needs at least 4 points. Single-threaded (module notes):
    about 20 s for 1000 points of 64 dimensions on one core.
    """
    # reason: heavy; scikit-learn takes seconds to import and only the t-SNE figures use it
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits  # reason: scikit-learn's thread control, loaded with it

    v = _numpy(vectors, "vectors").astype(np.float32)
    if v.ndim != 2 or v.shape[0] < 4:
        raise CompanionError(f"t-SNE needs an N×D array with N >= 4, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise CompanionError("t-SNE input has NaN/inf values")
    if perplexity <= 0:
        raise CompanionError(f"perplexity must be positive, got {perplexity}")
    used = effective_perplexity(v.shape[0], perplexity)
    if used < perplexity:
        warnings.warn(f"t-SNE perplexity {perplexity:g} is too large for {v.shape[0]} points; using {used:.3g}",
                      UserWarning, stacklevel=2)
    tsne = TSNE(n_components=2, perplexity=used, init="pca", learning_rate="auto", random_state=seed)
    with threadpool_limits(limits=1):
        return tsne.fit_transform(v).astype(np.float32)


def silhouette(vectors_or_embedding, labels) -> float:
    """Mean silhouette coefficient (Euclidean, in [-1, 1]) of the points grouped by ``labels``.

    About 1: tight, well-separated groups; about 0: no structure by label. Needs at least 2 distinct labels
    and fewer labels than points (:class:`CompanionError` otherwise).
    """
    from sklearn.metrics import silhouette_score  # reason: heavy; scikit-learn takes seconds to import

    x = _numpy(vectors_or_embedding, "vectors").astype(np.float64)
    y = _numpy(labels, "labels").reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise CompanionError(f"silhouette needs N×D points and N labels, got {x.shape} and {y.shape}")
    k = len(np.unique(y))
    if k < 2:
        raise CompanionError(f"silhouette needs at least 2 distinct labels, got {k}; sample more distortion types")
    if k >= x.shape[0]:
        raise CompanionError(f"silhouette needs fewer labels ({k}) than points ({x.shape[0]}); sample more points")
    return float(silhouette_score(x, y, metric="euclidean"))


def embed_and_score(vectors, labels, *, perplexity: float = 30.0, seed: int = 0) -> dict:
    """t-SNE embedding plus silhouettes in the feature space and in the embedding.

    Returns ``{"embedding": N×2, "labels": N, "perplexity": used, "silhouette_features": float,
    "silhouette_embedding": float}``.
    """
    y = _numpy(labels, "labels").reshape(-1)
    feats = silhouette(vectors, y)
    n = _numpy(vectors, "vectors").shape[0]
    emb = tsne_embedding(vectors, perplexity=perplexity, seed=seed)
    return {"embedding": emb, "labels": y, "perplexity": effective_perplexity(n, perplexity),
            "silhouette_features": feats, "silhouette_embedding": silhouette(emb, y)}
