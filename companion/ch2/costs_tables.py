"""Chapter 2's exact costs, recorded beside the paper's cells: what ``02a_carn`` prints and the ledger shows.

Every number here is a count (trainable parameters, Mult-Adds) computed from the models by
:mod:`companion.analysis.costs`; nothing is typed in. Each ``record_*`` function computes a table, records
each cell with ``run.record(..., status="exact")`` under the entry, row and column names of
``companion/paper/thesis.json``, and returns the rows it recorded, so a test can compare them with
:mod:`companion.analysis.costs`. :func:`text_table` prints them.

Where the printed value and the recount differ, the note of the recorded cell says by how much and why
(CARN-M's 412K is its count *without biases*, 412,032; the recount with biases is 414,787).
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch

from companion.analysis import costs
from companion.models import build_model
from companion.models.carn import CascadingBlock, ResidualUnit
from companion.models.carn_m import EResidual


#: How the counts were made, for every recorded cell.
PARAMS_PROTOCOL = "trainable parameters of the paper-size model, biases included, each shared tensor once"
MACS_PROTOCOL = ("Mult-Adds = conv weight MACs (no bias) x output pixels of each conv, for one {w}x{h} output "
                 "(companion.analysis.costs.mult_adds)")
#: Table 3.1's models whose parameters are not simply the paper-size model's.
TABLE_3_1_PARAMS = {"EDSR": "EDSR's parameters from its layer list (companion.analysis.costs.edsr_costs), biases "
                            "included",
                    "progressive CARN": PARAMS_PROTOCOL + "; the x8 path only (earlier toRGB heads detached)",
                    "progressive CARN+": PARAMS_PROTOCOL + "; the x8 path only (earlier toRGB heads detached)"}


def _g(macs: int) -> float:
    """Exact MACs in G (the unit the tables print), as a float."""
    return macs / 1e9


def text_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as a fixed-width text table: ``columns`` = ``[(key, header), …]``; ints get thousands separators,
    floats four significant decimals at most, booleans ``yes``/``no``."""
    def cell(v) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e5 else f"{v:,.0f}"
        return str(v)

    body = [[cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, ((_, h), w) in enumerate(zip(columns, widths)))]
    for b in body:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------
# The architecture, part by part (Figs. 2.1, 2.2, 2.4).

def parameter_breakdown(model: torch.nn.Module) -> dict[str, int]:
    """Trainable parameters of a :class:`~companion.models.carn.CascadingNetwork` (CARN or CARN-M) by part:
    ``entry``, ``residual units`` (every block's units; a recursive block's shared unit once), ``local
    fusions`` (the 1×1 convs inside the blocks, Eq. 2.2), ``global fusions`` (Eq. 2.3), one ``upsampler ×s``
    per scale, ``exit`` and ``total`` (= :func:`companion.analysis.costs.parameter_count`), plus ``total
    without biases``."""
    def n(module) -> int:
        return costs.parameter_count(module)

    units = sum(n(b.unit) if b.shared else sum(n(u) for u in b.units) for b in model.blocks)
    out = {"entry": n(model.entry), "residual units": units,
           "local fusions": sum(n(b.fusions) for b in model.blocks), "global fusions": n(model.fusions)}
    for key in sorted(model.upsample, key=lambda k: int(k[1:])):
        out[f"upsampler ×{key[1:]}"] = n(model.upsample[key])
    out["exit"] = n(model.exit)
    out["total"] = costs.parameter_count(model)
    out["total without biases"] = costs.parameter_count(model, biases=False)
    if sum(v for k, v in out.items() if not k.startswith("total")) != out["total"]:
        raise AssertionError("the parts do not add up to the model's parameter count")  # a new submodule
    return out


def block_counts(channels: int = 64, units: int = 3, groups: int = 4) -> dict[str, int]:
    """Parameters of the building blocks at the paper's width: CARN's residual unit (Fig. 2.2a) and cascading
    block (Fig. 2.2b: U units + U local 1×1 fusions), CARN-M's EResidual (Fig. 2.4a, G groups) and its
    recursive ECascading block (Fig. 2.4b: one EResidual shared by the U positions), and what that block would
    hold without the sharing."""
    with torch.device("meta"):
        residual = costs.parameter_count(ResidualUnit(channels))
        cascading = costs.parameter_count(CascadingBlock(channels, units, lambda: ResidualUnit(channels)))
        eres = costs.parameter_count(EResidual(channels, groups))
        ecasc = costs.parameter_count(CascadingBlock(channels, units, lambda: EResidual(channels, groups),
                                                     shared=True))
        unshared = costs.parameter_count(CascadingBlock(channels, units, lambda: EResidual(channels, groups)))
    return {"residual unit": residual, "cascading block": cascading, "EResidual": eres,
            "ECascading block (shared EResidual)": ecasc, "ECascading block without sharing": unshared}


def record_architecture(run) -> dict[str, dict[str, int]]:
    """Build the paper-size CARN and CARN-M (thesis reading; the code reading has the same tensors), record
    their totals beside Figure 2.1 (CARN) and Figure 2.4 (CARN-M), and the block counts of
    :func:`block_counts` beside Figures 2.2 and 2.4; return ``{"CARN": breakdown, "CARN-M": breakdown,
    "blocks": block counts}``."""
    out = {"CARN": parameter_breakdown(build_model("carn", "paper")),
           "CARN-M": parameter_breakdown(build_model("carn_m", "paper"))}
    out["blocks"] = blocks = block_counts()
    proto = PARAMS_PROTOCOL
    run.record("architecture/CARN params", out["CARN"]["total"], entry="Figure 2.1", status="exact",
               protocol=proto, note="the generator of Fig. 2.1 (multi-scale x2/x3/x4, C=64, B=U=3); "
                                    f"{out['CARN']['total without biases']:,} without biases")
    for key in ("residual unit", "cascading block"):
        run.record(f"architecture/{key} params", blocks[key], entry="Figure 2.2", status="exact", protocol=proto,
                   note="Fig. 2.2a (residual block) and 2.2b (local cascading block: 3 units, 1x1 fusions of "
                        "128/192/256 channels), C=64")
    run.record("architecture/CARN-M params", out["CARN-M"]["total"], entry="Figure 2.4", status="exact",
               protocol=proto, note="CARN-M (G4R): EResidual blocks, G=4, shared across each block's 3 positions, "
                                    f"grouped upsampler; {out['CARN-M']['total without biases']:,} without biases")
    for key in ("EResidual", "ECascading block (shared EResidual)", "ECascading block without sharing"):
        run.record(f"architecture/{key} params", blocks[key], entry="Figure 2.4", status="exact", protocol=proto,
                   note="Fig. 2.4a/b at C=64, G=4")
    return out


# --------------------------------------------------------------------------------------------------------
# Tables 2.1, 2.4, 2.5-2.7 and 3.1.

def record_table_2_1(run) -> list[dict]:
    """Table 2.1's parameter column (:func:`companion.analysis.costs.table_2_1`), recorded per row."""
    rows = costs.table_2_1()
    for r in rows:
        note = (f"printed {r['printed_params'] // 1000:,}K = {r['params']:,} truncated to K"
                if r["params_match"] else f"printed {r['printed_params']:,}; recount {r['params']:,}")
        run.record(f"table2_1/{r['label']}/Params", r["params"], entry="Table 2.1", row=r["label"],
                   column="Params", status="exact", protocol=PARAMS_PROTOCOL + "; single-scale x4 CARN variant",
                   note=note)
    return rows


def _params_note(printed: int, params: int, weights: int) -> str:
    shown = f"printed {printed // 1000:,}K"
    if costs.params_printed_as(params) == printed:
        return f"{shown} = {params:,} rounded to K"
    if costs.params_printed_as(weights) == printed:
        return (f"{shown} differs from the recount {params:,} (with biases); it is the count without biases, "
                f"{weights:,}, rounded to K")
    return f"{shown} differs from the recount {params:,} ({weights:,} without biases)"


def record_table_2_4(run) -> list[dict]:
    """Table 2.4's CARN / CARN-M cost cells (:func:`companion.analysis.costs.table_2_4`: parameters and
    Mult-Adds at ×2, ×3, ×4 for a 1280×720 output), recorded per cell; Mult-Adds in G (exact MACs / 1e9)."""
    rows = costs.table_2_4()
    h, w = costs.CH2_OUTPUT
    for r in rows:
        run.record(f"table2_4/{r['label']}/Params", r["params"], entry="Table 2.4", row=r["label"], column="Params",
                   status="exact", protocol=PARAMS_PROTOCOL,
                   note=_params_note(r["printed_params"], r["params"], r["params_weights_only"]))
        run.record(f"table2_4/{r['label']}/Mult-Adds", _g(r["mult_adds"]), entry="Table 2.4", row=r["label"],
                   column="Mult-Adds (G)", status="exact", protocol=MACS_PROTOCOL.format(h=h, w=w),
                   note=f"{r['mult_adds']:,} MACs; printed {r['printed_mult_adds_g']}G"
                        + (" (matches to 0.1G)" if r["mult_adds_match"] else " (differs)"))
    return rows


#: Tables 2.5–2.7 print the ×4 costs of these models; each is the generator of a Table 2.4 ×4 row.
TABLES_2_5_TO_2_7_MODELS = {"CARN": "CARN x4", "PCARN": "CARN x4", "PCARN-M": "CARN-M x4"}


def record_tables_2_5_to_2_7(run, table_2_4_rows: Sequence[dict]) -> list[dict]:
    """The cost cells of Tables 2.5, 2.6 and 2.7 (×4: CARN, PCARN, PCARN-M), from Table 2.4's ×4 recounts
    (PCARN is CARN's generator, PCARN-M CARN-M's). Their CARN / PCARN print 1,589K, Table 2.4 1,592K: 1,589K is
    the count without biases. One row per (table, model)."""
    by_label = {r["label"]: r for r in table_2_4_rows}
    h, w = costs.CH2_OUTPUT
    rows = []
    for table in ("Table 2.5", "Table 2.6", "Table 2.7"):
        for model, source in TABLES_2_5_TO_2_7_MODELS.items():
            r = by_label[source]
            printed = costs.TABLES_2_5_TO_2_7[model]
            row = dict(table=table, label=model, params=r["params"], params_weights_only=r["params_weights_only"],
                       mult_adds=r["mult_adds"], printed_params=printed["Params"]["printed"],
                       printed_mult_adds_g=printed["Mult-Adds (G)"]["printed"])
            rows.append(row)
            run.record(f"{table.lower().replace(' ', '')}/{model}/Params", r["params"], entry=table, row=model,
                       column="Params", status="exact", protocol=PARAMS_PROTOCOL,
                       note=_params_note(row["printed_params"], r["params"], r["params_weights_only"]))
            run.record(f"{table.lower().replace(' ', '')}/{model}/Mult-Adds", _g(r["mult_adds"]), entry=table,
                       row=model, column="Mult-Adds (G)", status="exact", protocol=MACS_PROTOCOL.format(h=h, w=w),
                       note=f"{r['mult_adds']:,} MACs at x4; printed {row['printed_mult_adds_g']}G")
    return rows


def record_table_3_1(run) -> list[dict]:
    """Table 3.1's cost cells (:func:`companion.analysis.costs.table_3_1`: ×8, a 1920×1080 output), per cell."""
    rows = costs.table_3_1()
    h, w = costs.TABLE_3_1_OUTPUT
    for r in rows:
        printed_m = r["printed_params"] / 1e6
        if r["params_match"] and not r["params_match_rounded"]:
            how = (f"printed {printed_m:.2f}M = {r['params']:,} truncated to 0.01M (rounded it would print "
                   f"{costs.params_printed_as_m(r['params']):.2f}M)")
        elif r["params_match"]:
            how = f"printed {printed_m:.2f}M = {r['params']:,} to 0.01M"
        else:
            how = f"printed {printed_m:.2f}M differs from the recount {r['params']:,}"
        run.record(f"table3_1/{r['label']}/Params", r["params"], entry="Table 3.1", row=r["label"], column="Params",
                   status="exact", protocol=TABLE_3_1_PARAMS.get(r["label"], PARAMS_PROTOCOL),
                   note=f"{how}; {r['params_weights_only']:,} without biases")
        note = f"{r['mult_adds']:,} MACs; printed {r['printed_mult_adds_g']:,.0f}G" + \
            (" (matches to 1G)" if r["mult_adds_match"] else " (differs)")
        if r["label"] == "progressive CARN+":
            note += "; one pass (the 8-pass self-ensemble costs 8x)"
        proto = MACS_PROTOCOL.format(h=h, w=w)
        if r["label"] == "EDSR":
            proto = proto.replace("companion.analysis.costs.mult_adds", "EDSR's layer list: "
                                  "companion.analysis.costs.edsr_costs")
        run.record(f"table3_1/{r['label']}/Mult-Adds", _g(r["mult_adds"]), entry="Table 3.1", row=r["label"],
                   column="Mult-Adds (G)", status="exact", protocol=proto, note=note)
    return rows


# --------------------------------------------------------------------------------------------------------
# Eq. 2.10: what an EResidual block saves, and what the whole network saves.

def eq_2_10_curve(groups: Sequence[int] = (1, 2, 4, 8, 16, 32, 64), scale: int = 4) -> list[dict]:
    """One row per group count G: ``ratio`` (Eq. 2.10, :func:`companion.analysis.costs.eq_2_10_ratio`, an
    exact fraction), ``saving`` = 1 / ratio (how many times fewer Mult-Adds an EResidual block costs than a
    residual block), ``block_saving`` (the same measured on the two modules,
    :func:`companion.analysis.costs.eresidual_ratio`), and ``network_saving``: CARN's Mult-Adds over those of
    CARN-M's family member with that G (:func:`companion.models.carn_m.efficient_variant`, grouped upsampler)
    at ``scale`` for a 1280×720 output. Models are built on the meta device: nothing is computed."""
    with torch.device("meta"):
        carn = costs.mult_adds(build_model("carn", "paper"), scale)
        rows = []
        for g in groups:
            ratio = costs.eq_2_10_ratio(g)
            measured = costs.eresidual_ratio(g)
            family = costs.mult_adds(build_model("carn_m", "paper", groups=g), scale)
            rows.append(dict(groups=int(g), ratio=ratio, saving=float(1 / ratio), block_saving=float(1 / measured),
                             block_matches=measured == ratio, network_saving=float(Fraction(carn, family)),
                             mult_adds=family))
    return rows


def record_eq_2_10(run, rows: Sequence[dict]) -> None:
    """Record the Eq. 2.10 savings beside Figure 2.4 (the EResidual block whose cost Eq. 2.8–2.10 work out):
    the thesis' "1.8 up to 14 times" are G = 2 and G = 64."""
    for r in rows:
        run.record(f"eq2_10/G={r['groups']}/saving", r["saving"], entry="Figure 2.4", status="exact",
                   protocol="Eq. 2.10: 1 / (1/G + 1/(2K^2)), K=3; checked on the modules' Mult-Adds",
                   note=f"EResidual vs residual block; whole network x4 (CARN / CARN-M with G={r['groups']}): "
                        f"{r['network_saving']:.2f}x")
