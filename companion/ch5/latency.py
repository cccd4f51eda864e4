"""Table 5.4 of ``05_simusr`` (thesis §5.4.4): parameters and runtime of ZSSR against SimUSR.

* :func:`parameter_counts` (exact, every profile): the trainable parameters of the paper-size networks
  (:func:`companion.models.count_parameters`, built on PyTorch's meta device): ZSSR's 8 × 64 network
  (:mod:`companion.models.zssr`) and SimUSR's same-grid ×4 backbones (:func:`companion.ch5.simusr.network_config`),
  beside Table 5.4's printed values, compared at the precision they are printed to. The same-grid first conv
  (3·4² = 48 input channels) is what makes CARN's 1.14M (1,111,875 with a 3-channel entry); the registry's other
  backbones are counted when it has them.
* :func:`measure_latency`: the runtime of both methods on **the same LR image**, one after the other in this
  process on the same number of threads: ZSSR's online training with the profile's recipe followed by its
  inference (:func:`companion.ch5.zssr.run_zssr`: what a user waits for), and SimUSR's one forward pass
  (:func:`companion.ch5.simusr.super_resolve`, the median of ``spec.latency_repeats`` timed passes after one
  warm-up). The image is ``spec.latency_image`` of ``spec.latency_set``, whole or its centre ``latency_lr``
  (the thesis: 480×320 LR at ×4; the text also says "a 1080p SR image"). A network's runtime does not depend on
  its weights, so SimUSR's backbones are timed with the profile's size as built, not loaded.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from companion.ch5 import data, simusr
from companion.ch5.config import SimUSRSpec
from companion.ch5.zssr import run_zssr
from companion.device import torch_threads
from companion.ledger import load_paper
from companion.models import MODELS, build_model, count_parameters, model_config, model_label

#: Table 5.4's row of each network.
ROWS = {"zssr": "ZSSR", "carn": "SimUSR CARN", "edsr": "SimUSR EDSR", "rcan": "SimUSR RCAN"}
#: Threads both methods are timed on (the same for both; one is what a busy two-core machine gives reliably).
THREADS = 1


def paper_table(entry_id: str) -> dict[str, dict]:
    """A paper table from ``companion/paper/thesis.json``: ``{row label: {column: value}}``."""
    [table] = [e for e in load_paper() if e["id"] == entry_id]
    return {r["label"]: r["values"] for r in table["rows"]}


def _printed_match(count: int, printed: float) -> bool:
    """Whether ``count`` rounds to ``printed`` (parameters) at the precision the thesis prints it in M."""
    millions = f"{printed / 1e6:.6g}"
    digits = len(millions.split(".")[1]) if "." in millions else 0
    return round(count / 1e6, digits) == float(millions)


def parameter_counts(spec: SimUSRSpec) -> list[dict]:
    """Rows ``{network, row, label, params, printed, match, config}`` for ZSSR and every SimUSR backbone of the
    registry at paper size (same-grid, ×``spec.scale``), with Table 5.4's printed value."""
    printed = {row: values.get("Params") for row, values in paper_table("Table 5.4").items()}
    out = []
    for network in ("zssr", "carn", "edsr", "rcan"):
        if network not in MODELS:  # a backbone the registry does not have
            continue
        config = (model_config("zssr", "paper", scale=spec.scale) if network == "zssr"
                  else simusr.network_config(network, "paper", spec.scale))
        with torch.device("meta"):
            model = build_model(network, **config)
        count = count_parameters(model)
        paper = printed.get(ROWS[network])
        out.append(dict(network=network, row=ROWS[network], label=model_label(network), params=count, printed=paper,
                        match=paper is not None and _printed_match(count, paper), config=config))
    return out


def latency_image(spec: SimUSRSpec, data_root=None) -> tuple[str, np.ndarray]:
    """(name, LR image) timed by :func:`measure_latency`."""
    images = data.test_images(spec, spec.latency_set, data_root)
    chosen = [im for im in images if im[0] == spec.latency_image] or images[:1]
    name, lr, _ = chosen[0]
    return name, data.centre_lr(lr, spec.latency_lr)


def measure_latency(spec: SimUSRSpec, *, seed: int = 0, device="cpu", progress: bool = False, data_root=None) -> dict:
    """ZSSR (online training + inference) and each SimUSR backbone (one forward pass) on the same LR image:
    ``{"image", "lr_size", "threads", "device", "zssr": {train, infer, total, steps}, "simusr": {network:
    {seconds, repeats}}, "ratio": {network: ZSSR total / SimUSR seconds}}``."""
    name, lr = latency_image(spec, data_root)
    with torch_threads(THREADS):
        zssr = run_zssr(lr, spec.zssr, scale=spec.scale, seed=seed, device=device, progress=progress,
                        desc="Table 5.4: ZSSR's runtime")
        timed = {}
        for network in spec.simusr.networks:
            model = simusr.build_network(spec, network, seed).eval()
            simusr.super_resolve(model, lr, spec.scale, device=device)  # warm-up
            seconds = []
            for _ in range(max(1, spec.latency_repeats)):
                start = time.perf_counter()
                simusr.super_resolve(model, lr, spec.scale, device=device)
                if torch.device(device).type == "cuda":
                    torch.cuda.synchronize()
                seconds.append(time.perf_counter() - start)
            timed[network] = dict(seconds=statistics.median(seconds), repeats=len(seconds))
    total = zssr["total_seconds"]
    return {"image": name, "lr_size": tuple(int(v) for v in lr.shape[:2]), "threads": THREADS, "device": str(device),
            "zssr": dict(train=zssr["train_seconds"], infer=zssr["infer_seconds"], total=total, steps=zssr["steps"]),
            "simusr": timed, "ratio": {n: total / t["seconds"] for n, t in timed.items()}}


__all__ = ["ROWS", "THREADS", "paper_table", "parameter_counts", "latency_image", "measure_latency"]
