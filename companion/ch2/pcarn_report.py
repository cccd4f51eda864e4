"""``02c_pcarn``'s printed tables and ledger records (thesis Tables 2.2, 2.5, 2.7, Fig. 2.5), from
:func:`companion.ch2.pcarn.run_experiment`'s result:

* :func:`stage_lines`: where each stage came from (the zoo or trained here, and why), printable;
* :func:`scores_table` and :func:`psd_table`: the scores and the PSD high-band ratios as Markdown;
* :func:`protocol_line` and :func:`record_results`: how the numbers were made, and the ledger records;
* :func:`paper_table_2_2`: Table 2.2 as the paper data (``companion/paper/thesis.json``) gives it.
"""
from __future__ import annotations

from companion.ch2.config import OURS_GAN, OURS_L1, PAPER_SETS
from companion.ledger import load_paper
from companion.metrics import protocol_text
from companion.summary import markdown_table


def paper_table_2_2() -> dict[str, dict[str, float]]:
    """Table 2.2 from the paper data: ``{row: {"LPIPS", "PSNR", "SSIM"}}`` (rows "CARN (L1)", "+GAN", "+MSD")."""
    [table] = [e for e in load_paper() if e["id"] == "Table 2.2"]
    return {r["label"]: dict(r["values"]) for r in table["rows"]}


def paper_table_2_2_line() -> str:
    """Table 2.2 in one printable line, from :func:`paper_table_2_2`."""
    return "Table 2.2 (thesis, paper-size CARN): " + "; ".join(
        f"{row}: PSNR {v['PSNR']:.2f} dB, SSIM {v['SSIM']:.4f}, LPIPS {v['LPIPS']:.3f}"
        for row, v in paper_table_2_2().items())


def _l1_source(l1: dict) -> str:
    if l1.get("source") == "zoo":
        return l1["checkpoint"]
    return f"trained here, {l1['steps']} steps" + (f" (fallback: {l1['fallback']})" if l1.get("fallback") else "")


def _gan_source(gan: dict) -> str:
    if gan.get("source") == "zoo":
        return gan["checkpoint"]
    return f"trained here, {gan['steps']} steps" + (f" (fallback: {gan['fallback']})" if gan.get("fallback") else "")


def stage_lines(result: dict) -> list[str]:
    """Printable lines about the two stages of :func:`run_experiment`'s ``result``: where stage 1 came from (the
    zoo, or trained here, and why it fell back), its loss; stage 2's steps, the discriminator's loss and mean
    probabilities over the last 10 % of steps; the evaluation time and the authors' releases not found."""
    l1, gan = result["l1"], result["gan"]
    lines = []
    if l1.get("source") == "zoo":
        curve = l1.get("loss_curve") or [[0, float("nan")]]
        lines.append(f"stage 1: L1 from the model zoo, {l1['checkpoint']} ({l1['steps']} steps, "
                     f"{l1['seconds']:.0f} s when it was built; L1 loss {curve[0][1]:.4f} -> {curve[-1][1]:.4f}"
                     + (f"; validation {l1['val_psnr']:.2f} dB on {', '.join(l1['val_images'])}"
                        if l1.get("val_psnr") is not None else "") + ")")
    else:
        if l1.get("fallback"):
            lines.append(f"stage 1 is trained here instead of taken from the model zoo: {l1['fallback']}")
        losses = l1["losses"]
        k = max(1, len(losses) // 10)
        lines.append(f"stage 1: L1 trained here, {l1['steps']} steps in {l1['seconds']:.0f} s; L1 loss "
                     f"{losses[0]:.4f} -> {sum(losses[-k:]) / k:.4f} (last 10 %); {l1['checkpoint']}")
    h = gan["history"]
    k = max(1, len(h["d"]) // 10)
    d_line = (f"D loss {h['d'][0]:.3f} -> {sum(h['d'][-k:]) / k:.3f}, D(HR) {sum(h['d_real'][-k:]) / k:.2f}, D(SR) "
              f"{sum(h['d_fake'][-k:]) / k:.2f} (last 10 %)")
    if gan.get("source") == "zoo":
        lines.append(f"stage 2: adversarial, from the model zoo, {gan['checkpoint']} ({gan['steps']} steps, "
                     f"{gan['seconds']:.0f} s when it was built; {d_line})")
    else:
        if gan.get("fallback"):
            lines.append(f"stage 2 is trained here instead of taken from the model zoo: {gan['fallback']}")
        lines.append(f"stage 2: {gan['steps']} adversarial steps in {gan['seconds']:.0f} s; {d_line}; "
                     f"{gan['checkpoint']}")
    lines.append(f"evaluation: {result['eval_seconds']:.0f} s")
    lines += [f"not compared: {reason}" for reason in result.get("authors_missing", ())]
    return lines


def scores_table(scores: dict) -> str:
    """PSNR / SSIM / LPIPS per method (mean over the test images), as Markdown."""
    rows = [[m, f"{s['psnr']:.2f}", f"{s['ssim']:.4f}", "—" if s["lpips"] is None else f"{s['lpips']:.3f}"]
            for m, s in scores.items()]
    return markdown_table(["method", "PSNR (dB, Y)", "SSIM (Y)", "LPIPS (Alex, lower better)"], rows)


def psd_table(psd: dict) -> str:
    """The high-band power of each method relative to HR (log10), per image and mean, as Markdown."""
    images = list(next(iter(psd["high_band"].values())))
    med = psd["high_band_median"]
    rows = [[m, *(f"{r[i]:+.2f} ({med[m][i]:+.2f})" for i in images),
             f"{psd['mean_high_band'][m]:+.2f} ({psd['mean_high_band_median'][m]:+.2f})"]
            for m, r in psd["high_band"].items()]
    lo, hi = psd["band"]
    return markdown_table(["method", *images, "mean over images"], rows) + \
        (f"\n\nlog10(power / HR power) over {lo:g}–{hi:g} cycles/pixel: of the mean power (of the median ring in "
         "brackets); 0 = the HR image's, −1 = a tenth of it")


def protocol_line(cfg, result: dict, eval_set: str | None = None) -> str:
    """How our numbers were made at this profile, for the ledger."""
    eval_set = cfg.eval_set if eval_set is None else eval_set
    scores = result["sets"][eval_set]
    proto = next(iter(scores.values()))["protocol"]
    where = (f"held-out embedded photographs {', '.join(cfg.eval_images)}" if eval_set == "embedded"
             else eval_set) + (f" ({cfg.eval_crop}-px centre crops)" if cfg.eval_crop else ", whole images")
    l1 = result["l1"]
    r = l1.get("recipe") or dict(batch_size=cfg.pretrain.batch_size, lr=cfg.pretrain.lr,
                                 milestones=list(cfg.pretrain.milestones), patch=cfg.patch)
    origin = "from the model zoo" if l1.get("source") == "zoo" else "trained here"
    perc = {"none": "no VGG term (L1 content in its place)", "vgg19": "VGG19 conv5_4 loss (Eq. 2.5)",
            "random": "a random-weight VGG19 (code path only)"}[cfg.perceptual]
    return (f"{where} x{cfg.scale}, {protocol_text(proto)}; LPIPS: torchmetrics AlexNet on whole RGB images; "
            f"{cfg.size}-size CARN-M x{cfg.scale} (thesis reading), seed {result['seed']}; stage 1: L1 {origin}, "
            f"{l1['steps']} steps, batch {r['batch_size']} of {r['patch']}-px LR patches, Adam LR {r['lr']:g}"
            + (f" halved at {', '.join(map(str, r['milestones']))}" if r["milestones"] else "")
            + f" (checkpoint {l1['checkpoint']}); stage 2: {result['gan']['steps']} adversarial steps"
            + (" (from the model zoo)" if result["gan"].get("source") == "zoo" else "") + ", "
            f"batch {cfg.gan_batch}, L_G = {cfg.adversarial_weight:g}·L_GAN^MS"
            + (f" + {cfg.perceptual_weight:g}·L_VGG" if cfg.perceptual != "none" else "")
            + (f" + {cfg.content_weight:g}·L1" if cfg.content_weight else "")
            + f", {perc}, "
            f"S = {len(cfg.disc_factors)} discriminators"
            + (f" at 1/{cfg.disc_width_divisor} of Fig. 2.1's widths" if cfg.disc_width_divisor > 1 else "")
            + f", Adam LR G {cfg.lr_g:g} / D {cfg.lr_d:g}, G grad-norm clip {cfg.grad_clip:g} "
            f"(checkpoint {result['gan']['checkpoint']})")


def record_results(run, cfg, result: dict) -> list[str]:
    """Record our L1 and GAN models beside Table 2.2 ("CARN (L1)" and "+MSD": PSNR, SSIM, LPIPS), the authors'
    PCARN-M beside Tables 2.5 (LPIPS) and 2.7 (PSNR / SSIM) — in the paper's cells when the set is one of
    theirs, beside the entry otherwise — and every method's high-band PSD ratio beside Figure 2.5. Returns one
    line per record group."""
    lines = []
    for eval_set, scores in result["sets"].items():
        protocol = protocol_line(cfg, result, eval_set)
        paper_set = eval_set in PAPER_SETS
        caveat = ("" if paper_set else "the embedded photographs are not a paper test set: compare the L1-vs-GAN "
                  "differences, not absolute values; ")
        for label, row in ((OURS_L1, "CARN (L1)"), (OURS_GAN, "+MSD")):
            s = scores[label]
            note = (f"{caveat}our {cfg.size}-size CARN-M (the thesis' Table 2.2 is the paper-size CARN); "
                    f"L1 stage: {_l1_source(result['l1'])}; GAN stage: {_gan_source(result['gan'])}; "
                    f"bicubic {scores['bicubic']['psnr']:.2f} dB")
            for metric, column in (("psnr", "PSNR"), ("ssim", "SSIM"), ("lpips", "LPIPS")):
                if s[metric] is not None:
                    run.record(f"{eval_set}/{label}/{metric}", s[metric], entry="Table 2.2", row=row, column=column,
                               protocol=protocol, note=note)
        for label, s in scores.items():
            if "authors'" not in label:
                continue
            gan = label.startswith("PCARN-M,")
            note = f"{caveat}the authors' released weights ({label}), scored here; no training"
            for metric, table, column in (("psnr", "Table 2.7", "PSNR"), ("ssim", "Table 2.7", "SSIM"),
                                          ("lpips", "Table 2.5", "LPIPS")):
                if s[metric] is None:
                    continue
                if gan:
                    run.record(f"{eval_set}/{label}/{metric}", s[metric], entry=table, row="PCARN-M",
                               column=f"{eval_set} {column}" if paper_set else None, protocol=protocol, note=note)
                else:  # PCARN-M (L1) has no row in Tables 2.5-2.7: beside Figure 2.5, its visual comparison
                    run.record(f"{eval_set}/{label}/{metric}", s[metric], entry="Figure 2.5", protocol=protocol,
                               note=note)
        lines.append(f"{eval_set}: " + "; ".join(
            f"{m} {s['psnr']:.2f} dB" + ("" if s["lpips"] is None else f" / LPIPS {s['lpips']:.3f}")
            for m, s in scores.items()))
    psd = result["psd"]
    lo, hi = psd["band"]
    for method, value in psd["mean_high_band"].items():
        protocol = (protocol_line(cfg, result) + f"; radial PSD of BT.601 luma, whole images, log10(power / HR "
                    f"power) over {lo:g}-{hi:g} cycles/pixel, averaged over the test images")
        run.record(f"psd_high_band/{method}", round(value, 4), entry="Figure 2.5", protocol=protocol + " (of the band's mean power)",
                   note="0 = the HR image's high-frequency power; negative = less (smoother), positive = more")
        run.record(f"psd_high_band_median/{method}", round(psd["mean_high_band_median"][method], 4),
                   entry="Figure 2.5", protocol=protocol + " (median over the band's rings)",
                   note="the broadband level: insensitive to a few spiky rings (periodic artefacts)")
    lines.append("PSD high band vs HR (log10, mean / median ring): " + ", ".join(
        f"{m} {v:+.2f} / {psd['mean_high_band_median'][m]:+.2f}" for m, v in psd["mean_high_band"].items()))
    return lines


__all__ = ["paper_table_2_2", "paper_table_2_2_line", "stage_lines", "scores_table", "psd_table", "protocol_line",
           "record_results"]
