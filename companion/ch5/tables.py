"""Tables 5.1, 5.3 and 5.4 of thesis Chapter 5 beside ours, the claims checked, and the ledger records of
``05_simusr``.

* :func:`summarise`: mean ± std over seeds (each seed's mean over the test images) of every method or row of
  :func:`companion.ch5.comparison.run_comparison` / :func:`companion.ch5.noisy.run_noisy`, and the first
  seed's per-image PSNR;
* :func:`claims_5_1` / :func:`claims_5_3`: the chapter's claims, each judged on the paired per-seed, per-image
  PSNRs (:func:`companion.summary.check_claims`: a two-way bootstrap interval over seeds and test images);
* :func:`table_text` / :func:`costs_text` / :func:`latency_text`: the tables as Markdown, the paper's numbers
  beside ours;
* :func:`record_5_1`, :func:`record_5_3`, :func:`record_5_4`: every measured number, beside Table 5.1's cells
  where the set is the paper's (Set5 … Manga109), as a plain measurement of the entry otherwise (the embedded
  photographs and the Gaussian stand-in for NTIRE 2020 are not the paper's data: compare differences between
  rows, not absolute PSNR); Table 5.4's parameters (exact) and runtimes (measured) in its cells.
"""
from __future__ import annotations

import numpy as np

from companion.ch5.comparison import method_label
from companion.ch5.config import FULL, PAPER_SETS, SimUSRSpec
from companion.ch5.latency import paper_table
from companion.metrics import protocol_text
from companion.summary import check_claims, markdown_table, mean_std, pm


def value(ms: tuple[float, float], seeds: int, digits: int = 2):
    """A (mean, std) over seeds as recorded: the number for one seed, ``"mean ± std"`` for several."""
    return round(ms[0], digits) if seeds == 1 else pm(ms, digits)


def text(ms: tuple[float, float], seeds: int, digits: int = 2) -> str:
    return f"{ms[0]:.{digits}f}" if seeds == 1 else pm(ms, digits)


def summarise(methods: dict, images: list[str]) -> dict:
    """``{key: {"psnr": (mean, std), "ssim": (mean, std), "per_image": {image: first seed's PSNR}, "seeds"}}``:
    the mean over images of each seed, then mean ± std over seeds."""
    out = {}
    for key, scores in methods.items():
        psnr, ssim = np.asarray(scores["psnr"], float), np.asarray(scores["ssim"], float)
        out[key] = {"psnr": mean_std(psnr.mean(axis=1)), "ssim": mean_std(ssim.mean(axis=1)),
                    "per_image": dict(zip(images, psnr[0].tolist())), "seeds": int(psnr.shape[0])}
    return out


# --------------------------------------------------------------------------------------------------------
# The claims.


def claims_5_1(methods: dict, network: str = "carn") -> list[dict]:
    """Table 5.1's claims on one set: SimUSR beats ZSSR, the supervised network beats SimUSR (the gap HR images
    close), and both unsupervised methods beat bicubic; each on the paired (seed, image) PSNRs."""
    simusr, supervised = f"simusr-{network}", f"supervised-{network}"
    wanted = [(simusr, "zssr"), (supervised, simusr), ("zssr", "bicubic"), (simusr, "bicubic")]
    claims = [("Table 5.1", f"{method_label(a)} beats {method_label(b)} at x4", methods[a]["psnr"], methods[b]["psnr"])
              for a, b in wanted if a in methods and b in methods]
    return check_claims(claims)


def claims_5_3(rows: dict, network: str = "carn") -> list[dict]:
    """Table 5.3's claims: BM3D first helps ZSSR on noisy LR images, dropping the affine mode helps it further,
    and SimUSR (BM3D pool) beats the best ZSSR row; on the paired (seed, image) RGB PSNRs."""
    simusr = f"SimUSR+{network.upper()}"
    wanted = [("ZSSR +BM3D", "ZSSR"), ("ZSSR +BM3D -Affine", "ZSSR +BM3D"), (simusr, "ZSSR +BM3D -Affine")]
    claims = [("Table 5.3", f"{a} beats {b} on noisy LR", rows[a]["psnr"], rows[b]["psnr"])
              for a, b in wanted if a in rows and b in rows]
    return check_claims(claims)


# --------------------------------------------------------------------------------------------------------
# Markdown tables.


def paper_differences(row: str, over: str, table: str = "Table 5.1") -> list[float]:
    """The paper's PSNR differences ``row`` − ``over`` of Table 5.1 on every set that has both."""
    paper = paper_table(table)
    return [paper[row][f"{s} PSNR"] - paper[over][f"{s} PSNR"] for s in PAPER_SETS
            if f"{s} PSNR" in paper[row] and f"{s} PSNR" in paper[over]]


def table_text(summary: dict, set_name: str, seeds: int) -> str:
    """Table 5.1 on ``set_name``: every method's PSNR / SSIM (Y), its difference from ZSSR, and the paper's
    values where the set is one of Table 5.1's (else the paper's difference from ZSSR over its five sets)."""
    paper = paper_table("Table 5.1")
    zssr = summary["zssr"]["psnr"][0]
    rows = []
    for key, s in summary.items():
        label = method_label(key)
        if set_name in PAPER_SETS:
            cell = paper.get(label, {})
            theirs = (f"{cell[f'{set_name} PSNR']:.2f} / {cell[f'{set_name} SSIM']:.4f}"
                      if f"{set_name} PSNR" in cell else "–")
        else:
            diffs = paper_differences(label, "ZSSR") if label in paper and label != "ZSSR" else []
            theirs = f"{min(diffs):+.2f} … {max(diffs):+.2f} dB vs ZSSR" if diffs else "–"
        rows.append([label, text(s["psnr"], seeds), text(s["ssim"], seeds, 4), f"{s['psnr'][0] - zssr:+.2f}", theirs])
    head = "paper (this set)" if set_name in PAPER_SETS else "paper (Table 5.1's five sets)"
    return markdown_table(["method", "PSNR (Y, dB)", "SSIM", "vs ZSSR", head], rows)


def noisy_text(summary: dict, references: dict, seeds: int) -> str:
    """Table 5.3: every row's RGB PSNR / SSIM beside the paper's (NTIRE 2020), and the bicubic references."""
    paper = paper_table("Table 5.3")
    rows = []
    for row, s in {**summary, **references}.items():
        cell = paper.get(row)
        theirs = f"{cell['PSNR']:.2f} / {cell['SSIM']:.4f}" if cell else "(not in the table)"
        rows.append([row, text(s["psnr"], seeds), text(s["ssim"], seeds, 4), theirs])
    return markdown_table(["row", "PSNR (RGB, dB)", "SSIM", "paper (NTIRE 2020)"], rows)


def costs_text(counts: list[dict]) -> str:
    """Table 5.4's parameter column, ours beside the printed one."""
    rows = [[c["row"], f"{c['params']:,}", f"{c['printed'] / 1e6:g}M" if c["printed"] else "–",
             "yes" if c["match"] else "no"] for c in counts]
    return markdown_table(["Table 5.4 row", "parameters (paper size)", "printed", "match"], rows)


def latency_text(latency: dict) -> str:
    """Table 5.4's runtime as measured, ZSSR's parts and each SimUSR backbone's ratio, beside the paper's."""
    paper = paper_table("Table 5.4")
    z = latency["zssr"]
    rows = [["ZSSR (online training + inference)", f"{z['total']:.2f} s ({z['steps']} steps: {z['train']:.2f} s "
             f"+ {z['infer']:.2f} s)", "1", f"{paper['ZSSR']['Runtime (s)']:g} s"]]
    for network, t in latency["simusr"].items():
        row = f"SimUSR {network.upper()}"
        theirs = paper.get(row, {}).get("Runtime (s)")
        rows.append([f"{row} (one forward pass)", f"{t['seconds']:.3f} s", f"{latency['ratio'][network]:,.0f}× faster",
                     f"{theirs:g} s ({paper['ZSSR']['Runtime (s)'] / theirs:,.0f}× faster)" if theirs else "–"])
    h, w = FULL.latency_lr
    return markdown_table(["method", "ours", "ratio", f"paper (TITAN X, {w}×{h} LR)"], rows)


def sources_text(methods: dict) -> str:
    """Where every offline network's weights came from (zoo entry or trained in this run), and its steps."""
    lines = []
    for key, scores in methods.items():
        for i, r in enumerate(scores["records"]):
            if "checkpoint" in r:
                lines.append(f"{method_label(key)} seed {i}: {r['checkpoint']} ({r['steps']} steps, "
                             f"{r['seconds']:.0f} s of training)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------
# Ledger records.


def _weights(records: list[dict]) -> str:
    sources = [str(r.get("checkpoint", "")) for r in records]
    zoo = [s.split(":", 1)[1] for s in sources if s.startswith("zoo:")]
    trained = len(sources) - len(zoo)
    parts = ([f"zoo checkpoints {', '.join(zoo)}"] if zoo else []) + ([f"{trained} trained in this run"] if trained else [])
    return "weights: " + "; ".join(parts) if parts else ""


def record_5_1(run, result_set: dict, summary: dict, set_name: str, spec: SimUSRSpec) -> None:
    """Record Table 5.1's numbers on ``set_name``: in the paper's cells on one of its sets, as plain
    measurements of the entry otherwise."""
    seeds = next(iter(summary.values()))["seeds"]
    protocol = protocol_text({**result_set["protocol"], "images": len(result_set["images"])})
    caveat = "" if set_name in PAPER_SETS else "not a paper test set: compare differences between rows; "
    rows = set(paper_table("Table 5.1"))
    for key, s in summary.items():
        label = method_label(key)
        records = result_set["methods"][key]["records"]
        note = (f"{caveat}{seeds} seed(s); vs ZSSR {s['psnr'][0] - summary['zssr']['psnr'][0]:+.2f} dB"
                + (f"; {_weights(records)}" if key not in ("bicubic", "zssr") else "")
                + (f"; online: {spec.zssr.steps} steps per image" if key == "zssr" else ""))
        for metric in ("psnr", "ssim"):
            in_cell = set_name in PAPER_SETS and label in rows
            run.record(f"table5_1/{set_name}/{label}/{metric}", value(s[metric], seeds, 2 if metric == "psnr" else 4),
                       entry="Table 5.1", row=label if in_cell else None,
                       column=f"{set_name} {metric.upper()}" if in_cell else None, protocol=protocol, note=note)


def record_5_3(run, result: dict, summary: dict, spec: SimUSRSpec) -> None:
    """Record Table 5.3's rows (plain measurements of the entry: Gaussian noise on our test images, not NTIRE
    2020) and the bicubic references."""
    seeds = result["seeds"]
    protocol = protocol_text({**result["protocol"], "images": len(result["images"])})
    noise = (f"Gaussian noise sigma {spec.noise.sigma:g}/255 on every LR image (a stand-in for NTIRE 2020), "
             f"BM3D sigma {spec.noise.bm3d_sigma:g}/255; {seeds} seed(s)")
    for row, s in summary.items():
        records = result["rows"].get(row, {}).get("records", [])
        extra = f"; {_weights(records)}" if row.startswith("SimUSR") else ""
        for metric in ("psnr", "ssim"):
            run.record(f"table5_3/{row}/{metric}", value(s[metric], seeds, 2 if metric == "psnr" else 4),
                       entry="Table 5.3", protocol=protocol, note=noise + extra)


def record_5_4(run, counts: list[dict], latency: dict | None, spec: SimUSRSpec) -> None:
    """Record Table 5.4's parameters (exact, paper size) and, when measured, the runtimes (small scale) in its
    cells."""
    for c in counts:
        run.record(f"table5_4/{c['row']}/Params", c["params"], entry="Table 5.4", row=c["row"], column="Params",
                   status="exact", protocol="trainable parameters of the paper-size network, biases included; "
                                            f"SimUSR backbones same-grid x{spec.scale}",
                   note=f"printed {c['printed'] / 1e6:g}M: " + ("matches at its precision" if c["match"] else "differs"))
    if latency is None:
        return
    h, w = latency["lr_size"]
    where = (f"{latency['image']}, {w}x{h} LR, x{spec.scale}, {latency['device']}, {latency['threads']} thread(s); "
             f"the paper: TITAN X GPU, {FULL.latency_lr[1]}x{FULL.latency_lr[0]} LR")
    z = latency["zssr"]
    run.record("table5_4/ZSSR/Runtime (s)", round(z["total"], 3), entry="Table 5.4", row="ZSSR", column="Runtime (s)",
               protocol=where, note=f"online training ({z['steps']} steps, {z['train']:.2f} s) + inference "
                                    f"({z['infer']:.2f} s), {spec.zssr.size}-size network")
    for network, t in latency["simusr"].items():
        row = f"SimUSR {network.upper()}"
        run.record(f"table5_4/{row}/Runtime (s)", round(t["seconds"], 4), entry="Table 5.4", row=row,
                   column="Runtime (s)", protocol=where,
                   note=f"one forward pass, median of {t['repeats']}; {spec.simusr.size}-size network; ZSSR takes "
                        f"{latency['ratio'][network]:,.0f}x as long on the same image")


__all__ = ["value", "text", "summarise", "claims_5_1", "claims_5_3", "paper_differences", "table_text", "noisy_text",
           "costs_text", "latency_text", "sources_text", "record_5_1", "record_5_3", "record_5_4"]
