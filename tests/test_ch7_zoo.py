"""A sample of Chapter 7's committed numbers, recomputed from the zoo (as tests/test_ch3_zoo.py does for Chapter 3).

07b's DnCNN, seed 0 (``checkpoints/ch7/07b/dncnn-seed0``), restores the quick profile's SHDD moderate test images
(the first versions of ``china``, ``flower`` and ``rocket``), made here in memory exactly as the SHDD builder
makes them (:func:`companion.ch7.shdd.version_seed`, :func:`~companion.ch7.shdd.divide_and_distort`, 8-bit as on
disk); its mean PSNR must equal the seed-0 value in the committed ``figures/results/07b_mepsnet_training.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from companion.ch7 import zoo as ch7_zoo
from companion.ch7.config import TRAINING
from companion.ch7.evaluation import evaluate_shdd
from companion.ch7.shdd import BUNDLED_SPLITS, divide_and_distort, version_seed
from companion.data.images import EMBEDDED_IMAGES, embedded_image, to_float, to_uint8
from companion.data.tensors import to_chw, to_labels
from companion.zoo import load_entry, status

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "figures" / "results" / "07b_mepsnet_training.json"
ENTRY_NAME, LABEL, LEVEL, SEED = "ch7/07b/dncnn-seed0", "DnCNN", "moderate", 0


def _committed_seed_psnr() -> float:
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    values = {m["key"]: m["value"] for m in doc["measurements"]}
    key = f"Table 7.1/{LABEL}/{LEVEL}/psnr_per_seed"
    if key not in values:
        pytest.fail(f"{RESULTS.name} has no {key!r}: rerun 07b in the quick profile")
    return float(values[key][SEED])


def _moderate_test_items(versions: int, data_seed: int = 0) -> list[dict]:
    items = []
    for stem in sorted(BUNDLED_SPLITS["test"]):
        clean = to_float(embedded_image(stem))
        for version in range(versions):
            rng = np.random.default_rng(version_seed(data_seed, stem, version, LEVEL))
            distorted, labels, _ = divide_and_distort(clean, LEVEL, rng)
            on_disk = to_float(to_uint8(distorted))  # SHDD writes 8-bit PNGs
            items.append({"distorted": to_chw(on_disk), "clean": to_chw(clean), "label": to_labels(labels),
                          "name": f"{stem}_{version:02d}"})
    return items


def test_07b_dncnn_seed0_moderate_psnr_is_recomputed_from_the_zoo():
    if not set(BUNDLED_SPLITS["test"]) <= set(EMBEDDED_IMAGES):
        pytest.skip("this scikit-image / scikit-learn install lacks a test photograph of the SHDD split")
    cfg = TRAINING["quick"]
    [entry] = [e for e in ch7_zoo.entries() if e.name == ENTRY_NAME]
    assert status(entry) == "current", f"{ENTRY_NAME} is {status(entry)}"
    model, _ = load_entry(entry)
    items = _moderate_test_items(cfg.eval_versions)
    result = evaluate_shdd(model, items, tiles=cfg.tiles, overlap=cfg.overlap, progress=False)
    assert len(result["per_image"]) == 3 * cfg.eval_versions
    assert result["psnr"] == pytest.approx(_committed_seed_psnr(), abs=0.01)
