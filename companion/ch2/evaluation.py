"""The authors' released CARN / CARN-M weights under the SR protocol, for ``02a_carn``.

* :func:`find_authors_weights`: where a release is on this machine, or why it is not (the weights are looked up,
  never downloaded: ``python -m companion download NAME`` is the user's step);
* :func:`sr_pairs`: (name, LR, HR) of an evaluation set at one scale: the embedded photographs (optionally the
  first few, centre-cropped) or a benchmark set (:class:`companion.data.sr.SRBenchmark`);
* :func:`evaluate_sr`: a model and MATLAB-bicubic upscaling scored on the same pairs
  (:func:`companion.metrics.sr_scores`: Y of BT.601, ``scale`` px border, 8-bit outputs);
* :func:`evaluate_authors_weights` / :func:`record_evaluation`: every release the profile names, every set and
  scale, recorded beside the paper's cell where the set is one of Table 2.4's and the release is the model of
  that row, and beside Figure 2.9 otherwise; a release that is not found is said, and records nothing;
* :func:`readings_check`: what the weights say about the readings of :mod:`companion.models.carn`: the file's
  own reading against the other one, and Eq. 2.2 taken literally (``concat="fused"``).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from companion.analysis import costs
from companion.ch2.authors_weights import RELEASES, load_authors_carn
from companion.data import folders
from companion.data.images import EMBEDDED_IMAGES, centre_crop_at_most, embedded_image
from companion.data.sr import SRBenchmark, bicubic_upscale, lr_hr_pair
from companion.engine.inference import restore
from companion.errors import CompanionError
from companion.metrics import protocol_text, sr_scores
from companion.models import build_model
from companion.session import REPO_ROOT

#: Table 2.4's rows by release: the ECCV 2018 CARN / CARN-M files are the models of those rows.
TABLE_2_4_ROWS = {"carn-m": "CARN-M", "carn": "CARN"}
#: Table 2.4's test sets (its columns are "<set> PSNR" / "<set> SSIM").
TABLE_2_4_SETS = ("Set5", "Set14", "B100", "Urban100")


@dataclass(frozen=True)
class WeightsLookup:
    """Where release ``name`` was looked for, and the file found (``path``) or why none was (``reason``)."""
    name: str
    label: str
    path: Path | None
    searched: tuple[Path, ...]
    reason: str = ""

    @property
    def found(self) -> bool:
        return self.path is not None


def find_authors_weights(name: str, *, data_root=None, search: Sequence[str | Path] = ()) -> WeightsLookup:
    """Find the authors' weights ``name`` (a :data:`companion.ch2.authors_weights.RELEASES` key) without
    downloading anything: the converted ``<data root>/weights/NAME.safetensors``, the downloaded
    ``NAME.pth`` beside it, then, in each folder of ``search`` (relative paths from the repository root), the
    authors' own file name (``carn_m.pth``, ``PCARN-M-L1.pth`` …) or the download's. When nothing is found,
    ``reason`` says where it looked and the command that fetches it."""
    key = str(name).lower()
    if key not in RELEASES:
        raise CompanionError(f"unknown Part I weights {name!r}; choose one of: {', '.join(RELEASES)}")
    release = RELEASES[key]
    candidates = [folders.weights_path(key, data_root), folders.weights_path(key, data_root, converted=False)]
    for folder in search:
        folder = Path(folder).expanduser()
        folder = folder if folder.is_absolute() else REPO_ROOT / folder
        candidates += [folder / release.authors_file, folder / f"{key}.safetensors", folder / f"{key}.pth"]
    searched = tuple(dict.fromkeys(p.resolve() if p.exists() else p for p in candidates))
    for path in searched:
        if path.is_file():
            return WeightsLookup(key, release.label, path, searched)
    where = ", ".join(str(p) for p in searched[:2])
    more = f" (and {len(searched) - 2} more places)" if len(searched) > 2 else ""
    reason = (f"the authors' {release.label} weights are not on this machine (looked at {where}{more}); "
              f"`python -m companion download {key}` fetches them (add --data DIR for another data folder)")
    return WeightsLookup(key, release.label, None, searched, reason)




def sr_pairs(eval_set: str, scale: int, *, images: int = 0, crop: int = 0, root=None
             ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, LR, HR), …]`` of ``eval_set`` at ``scale`` under the SR protocol (HR cropped to a multiple of
    the scale, LR its 8-bit MATLAB-bicubic downscale). ``"embedded"``: the embedded photographs (the first
    ``images`` of them when > 0); another name: :class:`companion.data.sr.SRBenchmark` on the data root
    ``root``. ``crop`` > 0 takes a centre crop of that side from each HR image first."""
    if eval_set == "embedded":
        names = list(EMBEDDED_IMAGES)[:images] if images > 0 else list(EMBEDDED_IMAGES)
        if crop > 0:
            return [(n, *lr_hr_pair(centre_crop_at_most(embedded_image(n), crop), scale)) for n in names]
        data = SRBenchmark(None, scale, names=names)
    else:
        data = SRBenchmark(eval_set, scale, root=root)
    count = len(data) if eval_set == "embedded" or images <= 0 else min(images, len(data))
    pairs = []
    for i in range(count):
        lr, hr = data.pair(i)
        if crop > 0:
            lr, hr = lr_hr_pair(centre_crop_at_most(hr, crop), scale)
        pairs.append((data.names[i], lr, hr))
    return pairs


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def super_resolve(model: torch.nn.Module, lr: np.ndarray, scale: int, *, device="cpu", tiles=(1, 1),
                  overlap: int = 16) -> np.ndarray:
    """``model``'s ×``scale`` output for an H×W×3 LR image in [0, 1], as an H·s×W·s×3 float32 array in [0, 1]
    (:func:`companion.engine.inference.restore`, tiled as asked)."""
    out = restore(model.at_scale(scale), _chw(lr), tiles=tiles, overlap=overlap, device=device, scale=scale)
    return out.numpy().transpose(1, 2, 0)


def evaluate_sr(model: torch.nn.Module, pairs, scale: int, *, device="cpu", tiles=(1, 1), overlap: int = 16,
                with_ssim: bool = True) -> dict:
    """Score ``model`` and bicubic upscaling (:func:`companion.data.sr.bicubic_upscale`) on ``pairs`` at
    ``scale`` with :func:`companion.metrics.sr_scores`. Returns ``per_image`` ({name: psnr, ssim,
    bicubic_psnr, bicubic_ssim}), the means ``psnr``, ``ssim``, ``bicubic_psnr``, ``bicubic_ssim``, ``gain``
    (mean PSNR gain over bicubic), ``wins`` (images where the model beats bicubic), ``images``, ``seconds``
    (the model's forward passes) and the ``protocol`` dict."""
    per_image, seconds, protocol = {}, 0.0, None
    for name, lr, hr in pairs:
        start = time.perf_counter()
        sr = super_resolve(model, lr, scale, device=device, tiles=tiles, overlap=overlap)
        seconds += time.perf_counter() - start
        ours = sr_scores(sr, hr, scale, with_ssim=with_ssim)
        base = sr_scores(bicubic_upscale(lr, scale), hr, scale, with_ssim=with_ssim)
        protocol = ours["protocol"]
        per_image[name] = {"psnr": ours["psnr"], "ssim": ours.get("ssim"), "bicubic_psnr": base["psnr"],
                           "bicubic_ssim": base.get("ssim")}
    if not per_image:
        raise CompanionError("no images to evaluate")

    def mean(key):
        values = [v[key] for v in per_image.values()]
        return None if values[0] is None else float(np.mean(values))

    out = {"per_image": per_image, "psnr": mean("psnr"), "ssim": mean("ssim"),
           "bicubic_psnr": mean("bicubic_psnr"), "bicubic_ssim": mean("bicubic_ssim"),
           "wins": sum(v["psnr"] > v["bicubic_psnr"] for v in per_image.values()), "images": len(per_image),
           "seconds": seconds, "protocol": {**protocol, "images": len(per_image), "tiles": tuple(tiles),
                                            "overlap": overlap}}
    out["gain"] = out["psnr"] - out["bicubic_psnr"]
    return out


@dataclass
class WeightsEvaluation:
    """What :func:`evaluate_authors_weights` found: ``results`` (one dict per release, set and scale: ``name``,
    ``label``, ``reading``, ``path``, ``set``, ``scale``, ``params``, ``mult_adds`` (MACs at 1280×720), and
    :func:`evaluate_sr`'s numbers) and ``missing`` (a :class:`WeightsLookup` per release not found)."""
    results: list[dict] = field(default_factory=list)
    missing: list[WeightsLookup] = field(default_factory=list)
    models: dict = field(default_factory=dict)  # release name -> loaded model (for readings_check)


def evaluate_authors_weights(cfg, *, device="cpu", data_root=None) -> WeightsEvaluation:
    """Evaluate every release of ``cfg.weights`` that :func:`find_authors_weights` finds (``cfg.weights_search``)
    on every set of ``cfg.eval_sets`` at every scale of ``cfg.scales``, with ``cfg.images`` / ``cfg.crop`` /
    ``cfg.tiles`` / ``cfg.overlap``. Nothing is downloaded; a release that is missing is listed with why."""
    out = WeightsEvaluation()
    pairs_cache: dict[tuple[str, int], list] = {}
    for name in cfg.weights:
        lookup = find_authors_weights(name, data_root=data_root, search=cfg.weights_search)
        if not lookup.found:
            out.missing.append(lookup)
            continue
        model = load_authors_carn(lookup.path)
        out.models[name] = model
        params = costs.parameter_count(model)
        for scale in cfg.scales:
            macs = costs.mult_adds(model, scale)
            for eval_set in cfg.eval_sets:
                key = (eval_set, scale)
                if key not in pairs_cache:
                    pairs_cache[key] = sr_pairs(eval_set, scale, images=cfg.images, crop=cfg.crop, root=data_root)
                scores = evaluate_sr(model, pairs_cache[key], scale, device=device, tiles=cfg.tiles,
                                     overlap=cfg.overlap)
                out.results.append(dict(name=name, label=lookup.label, reading=model.config["reading"],
                                        path=str(lookup.path), set=eval_set, scale=scale, params=params,
                                        mult_adds=macs, **scores))
    return out


def record_evaluation(run, evaluation: WeightsEvaluation) -> list[str]:
    """Record every result of ``evaluation`` and return one line per result and per missing release.

    A CARN / CARN-M release scored on a Table 2.4 set goes beside that table's cell (row ``"CARN-M x4"``,
    column ``"Set14 PSNR"`` …); anything else (the embedded photographs, PCARN-M (L1), whose thesis-reading
    generator has no Table 2.4 row) goes beside Figure 2.9, the PSNR-against-Mult-Adds plot it is drawn in.
    Bicubic's scores are recorded without a paper entry. A missing release records nothing."""
    lines, bicubic_done = [], set()
    for r in evaluation.results:
        proto = protocol_text(r["protocol"]) + f"; set: {r['set']}"
        row = TABLE_2_4_ROWS.get(r["name"])
        tag = f"{r['name']}/{r['set']}/x{r['scale']}"
        comparable = r["set"] in TABLE_2_4_SETS
        where = ("" if comparable else "the embedded photographs are not a paper test set: only the gain over "
                 "bicubic compares with the paper, not the absolute PSNR; ")
        note = (f"{where}authors' {r['label']} weights ({r['reading']} reading, {Path(r['path']).name}); "
                f"bicubic {r['bicubic_psnr']:.2f} dB, gain {r['gain']:+.2f} dB, beats bicubic on "
                f"{r['wins']}/{r['images']} images")
        for metric in ("psnr", "ssim"):
            if r[metric] is None:
                continue
            if comparable and row is not None:
                run.record(f"{tag}/{metric}", r[metric], entry="Table 2.4", row=f"{row} x{r['scale']}",
                           column=f"{r['set']} {metric.upper()}", status="small-scale", protocol=proto, note=note)
            elif r["scale"] == 4:
                run.record(f"{tag}/{metric}", r[metric], entry="Figure 2.9", status="small-scale", protocol=proto,
                           note=note)
            else:
                run.record(f"{tag}/{metric}", r[metric], status="small-scale", protocol=proto, note=note)
            key = f"bicubic/{r['set']}/x{r['scale']}/{metric}"
            if key not in bicubic_done:  # the same images for every release: once
                bicubic_done.add(key)
                run.record(key, r[f"bicubic_{metric}"], status="small-scale", protocol=proto,
                           note="MATLAB-bicubic upscaling of the same LR images")
        ssim = f", SSIM {r['ssim']:.4f} (bicubic {r['bicubic_ssim']:.4f})" if r["ssim"] is not None else ""
        lines.append(f"{r['label']:<14} {r['set']:<9} x{r['scale']}: {r['psnr']:.2f} dB against bicubic's "
                     f"{r['bicubic_psnr']:.2f} dB ({r['gain']:+.2f} dB, better on {r['wins']}/{r['images']} "
                     f"images){ssim}; {r['seconds']:.1f} s")
    lines += [f"not evaluated: {m.reason}" for m in evaluation.missing]
    return lines


def per_image_table(evaluation: WeightsEvaluation, eval_set: str, scale: int) -> str:
    """PSNR per image of ``eval_set`` at ``scale``: bicubic and every evaluated release, one row per image, as
    fixed-width text ("" when nothing was evaluated there)."""
    results = [r for r in evaluation.results if r["set"] == eval_set and r["scale"] == scale]
    if not results:
        return ""
    names = list(results[0]["per_image"])
    head = f"{'x' + str(scale) + ' PSNR (dB)':<20}{'bicubic':>9}" + "".join(f"{r['label']:>15}" for r in results)
    rows = [f"{n:<20}{results[0]['per_image'][n]['bicubic_psnr']:>9.2f}"
            + "".join(f"{r['per_image'][n]['psnr']:>15.2f}" for r in results) for n in names]
    rows.append(f"{'mean':<20}{results[0]['bicubic_psnr']:>9.2f}" + "".join(f"{r['psnr']:>15.2f}" for r in results))
    return "\n".join([head, *rows])


def reading_variants(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The released ``model`` (loaded by :func:`companion.ch2.authors_weights.load_authors_carn`) and the same
    tensors in the other two readings: ``"own reading (R)"``, ``"other reading (R')"`` (a ReLU after each 1×1
    fusion and no global residual, or the reverse) and ``"Eq. 2.2 as printed (concat='fused')"`` (own reading,
    the cascade concatenating the fused features). All three have the same tensors."""
    name = "carn_m" if "groups" in model.config else "carn"
    own = model.config["reading"]
    other = {"code": "thesis", "thesis": "code"}[own]
    state = model.state_dict()
    variants = {f"own reading ({own})": model}
    for label, overrides in ((f"other reading ({other})", dict(reading=other, global_residual=None)),
                             ("Eq. 2.2 as printed (concat='fused')", dict(concat="fused"))):
        net = build_model(name, **{**model.config, **overrides})
        net.load_state_dict(state, strict=True)
        variants[label] = net.eval()
    return variants


def readings_check(model: torch.nn.Module, pairs, scale: int = 4, *, device="cpu") -> dict[str, dict]:
    """:func:`evaluate_sr` (PSNR only) of each of :func:`reading_variants` on ``pairs``: which reading the
    weights were trained in, and whether the cascade concatenates the units' outputs or the fused features."""
    return {label: evaluate_sr(net, pairs, scale, device=device, with_ssim=False)
            for label, net in reading_variants(model).items()}


def record_readings_check(run, label: str, checks: dict[str, dict]) -> list[str]:
    """Record :func:`readings_check`'s mean PSNRs (no paper entry: they test the companion's readings) and
    return one line per variant."""
    lines = []
    for variant, r in checks.items():
        run.record(f"readings/{label}/{variant}", r["psnr"], status="small-scale",
                   protocol=protocol_text(r["protocol"]),
                   note=f"authors' {label} weights loaded as {variant}; bicubic {r['bicubic_psnr']:.2f} dB")
        lines.append(f"{variant:<38} {r['psnr']:6.2f} dB  ({r['gain']:+.2f} dB against bicubic, better on "
                     f"{r['wins']}/{r['images']})")
    return lines
