"""The conclusions of ``05_simusr``, rendered from the run's measurements (never typed).

:func:`simusr_vs_zssr` returns Markdown paragraphs for ``run.conclude`` (:meth:`companion.session.NotebookRun.conclude`),
which keeps them in the results file for the book and returns the text the notebook displays. Each paragraph is
made from the notebook's own results: Table 5.4's parameter counts (:func:`companion.ch5.latency.parameter_counts`),
the LR pool (:func:`companion.ch5.data.pool_summary`), the summaries over seeds and the claims judged on paired
intervals (:mod:`companion.ch5.tables`), the runtimes (:func:`companion.ch5.latency.measure_latency`); the paper's
numbers come from ``companion/paper`` (:func:`companion.ch5.latency.paper_table`), the thesis' setting from
:data:`companion.ch5.config.FULL`.
"""
from __future__ import annotations

from companion.ch5.comparison import method_label
from companion.ch5.config import FULL, SimUSRSpec
from companion.ch5.latency import paper_table
from companion.ch5.tables import paper_differences, text


def simusr_vs_zssr(counts: list[dict], pool: dict, comparison: dict | None, noisy: dict | None, latency: dict | None,
           spec: SimUSRSpec) -> list[str]:
    """The notebook's conclusions. ``comparison``: ``{"set", "summary", "claims"}`` of Table 5.1 (None: not
    run); ``noisy``: ``{"summary", "claims", "result"}`` of Table 5.3; ``latency``: Table 5.4's runtimes."""
    paragraphs = [costs(counts), no_hr(pool, spec)]
    if comparison:
        paragraphs.append(bicubic_task(comparison["summary"], comparison["claims"], comparison["set"], spec))
    if noisy:
        paragraphs.append(noisy_task(noisy["summary"], noisy["claims"], noisy["result"], spec))
    if latency:
        paragraphs.append(runtime(latency, spec))
    paragraphs.append(scale(spec))
    return [p for p in paragraphs if p]


def _verdict(claim: dict) -> str:
    return f"*{claim['verdict']}* ({claim['detail']})"


def costs(counts: list[dict]) -> str:
    """Table 5.4's parameter column, ours beside the printed one."""
    cells = "; ".join(f"{c['row']} {c['params']:,} (printed {c['printed'] / 1e6:g}M)" for c in counts if c["printed"])
    differ = [c["row"] for c in counts if c["printed"] and not c["match"]]
    match = ("every count rounds to the printed value" if not differ
             else f"these differ from the printed values: {', '.join(differ)}")
    carn = next((c for c in counts if c["network"] == "carn"), None)
    out = f"**Table 5.4's parameters** (paper-size networks, no training): {cells}: {match}."
    if carn and carn["match"]:
        channels = 3 * carn["config"]["scales"][0] ** 2
        out += (f" The printed {carn['printed'] / 1e6:g}M for CARN is the same-grid network (the LR image enters on "
                f"the output grid and is pixel-unshuffled, so the first conv sees {channels} channels), Chapter 4's "
                "input: SimUSR's backbones are Chapter 4's same-grid models, and so are ours.")
    return out


def no_hr(pool: dict, spec: SimUSRSpec) -> str:
    """What each method trained on: LR images only."""
    return (f"**No HR image in training**: SimUSR's pool is the ×{spec.scale} LR images of {pool['images']} "
            f"training image{'s' if pool['images'] != 1 else ''} ({pool['pixels']:,} LR pixels in all); its pairs "
            f"are (LR↓{spec.scale}, LR), so its network learns ×{spec.scale} one level down and is then applied one "
            "level up. ZSSR learns the same mapping from each test image's own LR image, at test time. Only the "
            "supervised reference sees HR pixels, those of the same training images.")


def bicubic_task(summary: dict, claims: list[dict], set_name: str, spec: SimUSRSpec) -> str:
    """Table 5.1 at this scale: every method's PSNR, each claim's verdict, the paper's differences."""
    seeds = next(iter(summary.values()))["seeds"]
    listed = ", ".join(f"{method_label(k)} {text(s['psnr'], seeds)} dB" for k, s in summary.items())
    verdicts = " ".join(f"{c['claim']}: {_verdict(c)}." for c in claims)
    network = spec.supervised_network.upper()
    over_zssr = paper_differences(f"SimUSR {network}", "ZSSR")
    gap = paper_differences(f"Supervised {network}", f"SimUSR {network}")
    paper = (f" In the thesis SimUSR {network} beats ZSSR by {min(over_zssr):+.2f} to {max(over_zssr):+.2f} dB and "
             f"the supervised {network} beats SimUSR {network} by {min(gap):+.2f} to {max(gap):+.2f} dB (Table 5.1's "
             "sets)." if over_zssr and gap else "")
    behind = [c for c in claims if c["claim"].startswith(f"SimUSR {network} beats") and c["verdict"] != "agrees"]
    caveat = (f" Where SimUSR {network} is not ahead, this profile's small network, short training and "
              f"{len(spec.split.train) or 'DIV2K'} LR images are below what the method needs: the comparison shows "
              "its mechanics and each method's cost, not the paper's quality." if behind else "")
    return (f"**Table 5.1 at ×{spec.scale}** ({set_name}, Y channel, {seeds} seed{'s' if seeds != 1 else ''}): "
            f"{listed}. {verdicts}{paper}{caveat}")


def noisy_task(summary: dict, claims: list[dict], result: dict, spec: SimUSRSpec) -> str:
    """Table 5.3 at this scale: BM3D, the affine mode and SimUSR on noisy LR images, beside the paper's steps."""
    seeds = result["seeds"]
    listed = ", ".join(f"{row} {text(s['psnr'], seeds)} dB" for row, s in summary.items())
    paper = paper_table("Table 5.3")
    simusr_row = f"SimUSR+{spec.supervised_network.upper()}"
    steps = [("ZSSR +BM3D", "ZSSR"), ("ZSSR +BM3D -Affine", "ZSSR +BM3D"), (simusr_row, "ZSSR +BM3D -Affine")]
    theirs = "; ".join(f"{a} over {b} {paper[a]['PSNR'] - paper[b]['PSNR']:+.2f} dB" for a, b in steps
                       if a in paper and b in paper)
    lr = result["lr_psnr"]
    return (f"**Table 5.3 on noisy LR images** (Gaussian noise of σ = {spec.noise.sigma:g} 8-bit levels on every LR "
            f"image, a stand-in for NTIRE 2020; RGB; {seeds} seed{'s' if seeds != 1 else ''}): BM3D takes the LR "
            f"images from {lr['noisy']:.2f} to {lr['denoised']:.2f} dB (against the clean LR images); {listed}. "
            + " ".join(f"{c['claim']}: {_verdict(c)}." for c in claims)
            + (f" The thesis' steps (NTIRE 2020): {theirs}." if theirs else ""))


def runtime(latency: dict, spec: SimUSRSpec) -> str:
    """Table 5.4's runtimes: ZSSR's online training against SimUSR's forward pass, beside the paper's ratio."""
    paper = paper_table("Table 5.4")
    z = latency["zssr"]
    h, w = latency["lr_size"]
    paper_h, paper_w = FULL.latency_lr
    parts = []
    for network, t in latency["simusr"].items():
        row = f"SimUSR {network.upper()}"
        ratio = paper["ZSSR"]["Runtime (s)"] / paper[row]["Runtime (s)"] if row in paper else None
        parts.append(f"{row} {t['seconds']:.3f} s, so ZSSR takes {latency['ratio'][network]:,.0f}× as long"
                     + (f" (the thesis: {paper[row]['Runtime (s)']:g} s against {paper['ZSSR']['Runtime (s)']:g} s, "
                        f"{ratio:,.0f}×, on a TITAN X with {paper_w}×{paper_h} LR images)" if ratio else ""))
    return (f"**Table 5.4's runtime** on the same {w}×{h} LR image ({latency['image']}, {latency['device']}, "
            f"{latency['threads']} thread(s)): ZSSR {z['total']:.2f} s ({z['train']:.2f} s of online training over "
            f"{z['steps']} steps, {z['infer']:.2f} s to infer); " + "; ".join(parts) + ". ZSSR's cost grows with its "
            "steps, SimUSR's is one pass of its network.")


def scale(spec: SimUSRSpec, full: SimUSRSpec = FULL) -> str:
    """How this profile's experiment differs from the thesis' setting (:data:`companion.ch5.config.FULL`)."""
    if spec == full:
        return ""
    z, fz, r, fr = spec.zssr, full.zssr, spec.simusr, full.simusr
    photographs = len(spec.split.train)
    scored = ", ".join(spec.split.test) if spec.eval_sets == ("embedded",) else ", ".join(spec.eval_sets)
    return (f"**This profile against the thesis' setting**: SimUSR's pool is the LR images of {photographs} "
            f"embedded photograph{'s' if photographs != 1 else ''} against DF2K's; the {r.size}-size "
            f"{'/'.join(n.upper() for n in r.networks)} trained {r.train.steps:,} steps at batch {r.train.batch_size} "
            f"of {r.patch}-px patches against {fr.train.steps:,} at {fr.train.batch_size} of {fr.patch} px; ZSSR's "
            f"{z.size}-size network trains {z.steps:,} steps on {z.crop}-px fathers (batch {z.batch}) against "
            f"{fz.steps:,} on {fz.crop} px, {'with' if z.ensemble else 'without'} the self-ensemble; scored on "
            f"{scored} against {', '.join(full.eval_sets)}; the noisy setting is Gaussian noise, not NTIRE 2020. "
            "The full profile configures the thesis' experiment for a GPU.")


__all__ = ["simusr_vs_zssr", "costs", "no_hr", "bicubic_task", "noisy_task", "runtime", "scale"]
