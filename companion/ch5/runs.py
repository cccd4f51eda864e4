"""What the experiments of ``05_simusr`` share (thesis §5.4): ZSSR's online runs side by side, the offline
networks from the model zoo (or trained here), and the SR protocol's scores.

* :func:`run_zssr_jobs`: ZSSR (:func:`companion.ch5.zssr.run_zssr`) on every (variant, image) for every seed, in
  ``spec.workers`` worker processes of one thread each (:func:`companion.processes.run_per_seed`); each job
  scores its own output (:func:`score`) and returns it as 8-bit pixels;
* :func:`offline_network`: a SimUSR or supervised network (:mod:`companion.ch5.simusr`) from its current zoo
  entry when ``spec.use_zoo`` (:func:`companion.zoo.find` with :class:`companion.ch5.zoo.TrainedNetwork`), else
  trained here (resumable in the work folder); its training record says which;
* :func:`score`: PSNR and SSIM under the SR protocol (:func:`companion.metrics.sr_scores`: a border of s px,
  8-bit outputs) on the Y channel (the bicubic task, §5.4.1) or RGB (the NTIRE-like noisy task: "we calculate
  both metrics on RGB channels for the NTIRE dataset").
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from companion import zoo
from companion.ch5 import simusr
from companion.ch5.config import SimUSRSpec, ZSSRRecipe
from companion.ch5.zoo import TrainedNetwork, load_network
from companion.ch5.zssr import run_zssr
from companion.data.images import to_float, to_uint8
from companion.metrics import sr_protocol, sr_scores
from companion.processes import run_per_seed


def score(sr: np.ndarray, hr: np.ndarray, scale: int, channel: str = "y") -> dict:
    """``{"psnr", "ssim"}`` of an SR output against its HR image under the SR protocol on ``channel``."""
    out = sr_scores(sr, hr, scale, channel=channel)
    return {"psnr": float(out["psnr"]), "ssim": float(out["ssim"])}


def protocol(scale: int, channel: str = "y") -> dict:
    """The protocol dict of :func:`score` (for :func:`companion.metrics.protocol_text`)."""
    return sr_protocol(scale, channel=channel)


def _zssr_job(inputs: dict, recipes: dict, scale: int, channel: str, device: str, key: tuple, seed: int,
              threads: int | None = None) -> dict:
    """One ZSSR run: variant ``key[0]`` on image ``key[1]`` (``inputs[key]`` = (LR input, HR), 8-bit)."""
    if threads:
        torch.set_num_threads(int(threads))
    lr, hr = inputs[key]
    out = run_zssr(to_float(lr), recipes[key[0]], scale=scale, seed=seed, device=device)
    return dict(score(out["sr"], to_float(hr), scale, channel), sr=to_uint8(out.pop("sr")), **out)


def run_zssr_jobs(inputs: dict, recipes: dict[str, ZSSRRecipe], seeds, *, scale: int, channel: str = "y",
                  workers: int = 1, device="cpu", progress: bool = True, desc: str = "ZSSR") -> dict:
    """ZSSR for every ``(variant, image)`` of ``inputs`` (``{(variant, image): (LR input, HR)}``) and every seed of
    ``seeds``, with ``recipes[variant]``; ``{(variant, image): [result per seed]}``, each result the training
    record, ``psnr`` / ``ssim`` (on ``channel``), ``sr`` (8-bit) and the seconds. On a CPU with ``workers`` > 1
    the runs go that many at a time, one thread each."""
    packed = {key: (to_uint8(lr), to_uint8(hr)) for key, (lr, hr) in inputs.items()}
    jobs = [(key, int(seed)) for key in packed for seed in seeds]
    workers = workers if torch.device(device).type == "cpu" else 1
    job = partial(_zssr_job, packed, recipes, int(scale), channel, str(device))
    return run_per_seed(job, jobs, workers=min(workers, len(jobs)), desc=desc, progress=progress)


def offline_network(spec: SimUSRSpec, kind: str, network: str, seed: int, *, device="cpu", checkpoint_dir=None,
                    progress: bool = False, data_root=None):
    """``(network in eval mode, record)`` of one SimUSR / supervised network: its current zoo entry when
    ``spec.use_zoo`` (``record["checkpoint"] = "zoo:<name>"``, the steps and seconds its build recorded), else
    trained here by :func:`companion.ch5.simusr.train_network`."""
    entry = zoo.find(TrainedNetwork(spec, kind, network), seed) if spec.use_zoo else None
    if entry is not None:
        return load_network(entry)
    model, result = simusr.train_network(spec, kind, network, seed, device=device, checkpoint_dir=checkpoint_dir,
                                         progress=progress, data_root=data_root)
    path = simusr.checkpoint_path(checkpoint_dir, spec, kind, network, seed).name if checkpoint_dir else None
    return model, dict(steps=result.steps_done, seconds=round(result.seconds, 1), val=[list(v) for v in result.val],
                       checkpoint=path or "trained in this run")


__all__ = ["score", "protocol", "run_zssr_jobs", "offline_network"]
