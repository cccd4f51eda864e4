"""The reproduction ledger: every table and figure of the thesis and of seed 000, the paper's numbers beside ours.

Inputs: ``companion/paper/thesis.json`` (transcribed from the seeds; schema in ``companion/paper/README.md``)
and the results files that notebooks write (``figures/results/*.json`` for the quick profile,
``figures/full/results/*.json`` for the full one). Output: ``figures/LEDGER.md`` and a printed summary.

Status of an entry, from what the results files say about it:

- ``exact``: every number is analytic or deterministic and directly comparable (a parameter count);
- ``measured (full profile)``: measured at the papers' settings;
- ``measured at small scale``: measured in the quick profile (smaller images, fewer steps; see protocol);
- ``full profile only``: a notebook configures the measurement, but only the full profile makes it;
- ``not yet``: no notebook touches it yet.

"Measured" says that our number exists, not that it agrees: whether it does is in the numbers beside the
paper's and in each measurement's note (the notebooks say "differs from the paper" where it does).

A table's columns fall into **column groups** (:data:`COLUMN_GROUPS`: costs, PSNR/SSIM, perceptual,
recognition; columns that describe a row, such as the scale or a check mark, belong to none), and each group
of an entry has its own status, so Table 2.4 reads ``costs exact · PSNR/SSIM not yet``: our parameter counts
and Mult-Adds are exact, its PSNR columns are unmeasured. A figure has one group, ``figure``. Within a group
the status is the weakest among its measurements (and, for a figure, its drawn figures); exact numbers are
said beside it rather than hidden by it (``exact + measured at small scale``). The summary counts the entries
per status in each column group. In the rendered tables each of our numbers carries its own status.

:attr:`LedgerEntry.status` is the same rule over the whole entry (every measurement and figure at once); the
rendered ledger uses :attr:`LedgerEntry.status_text`, the status per column group.

The same command writes the generated parts of ``README.md`` (:func:`write_readme_tables`): the headline
results (:data:`HEADLINES`, per chapter the main measured result beside the paper's) and the notebook table
(titles from the notebooks, quick-profile times from the results files' ``wall_seconds``), each between its
markers. No file is rewritten when its text would not change.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from companion.atomic import atomic_write_text
from companion.errors import CompanionError
from companion.session import REPO_ROOT

PAPER_FILE = Path(__file__).resolve().parent / "paper" / "thesis.json"
RESULTS_DIRS = (REPO_ROOT / "figures" / "results", REPO_ROOT / "figures" / "full" / "results")
LEDGER_FILE = REPO_ROOT / "figures" / "LEDGER.md"

STATUS_LABEL = {"exact": "exact", "full-scale": "measured (full profile)",
                "small-scale": "measured at small scale", "full-only": "full profile only", None: "not yet"}
STATUS_RANK = {"full-only": 0, "small-scale": 1, "full-scale": 2, "exact": 3}
#: A measured cell of a rendered table: ``ours **34.01** (full scale, full)``.
CELL_LABEL = {"exact": "exact", "full-scale": "full scale", "small-scale": "small scale",
              "full-only": "full profile only"}
#: Every status label of a column group (and of a whole entry), in the order the summary lists them.
ENTRY_LABELS = ("exact", *(f"exact + {STATUS_LABEL[s]}" for s in ("full-scale", "small-scale", "full-only")),
                *(STATUS_LABEL[s] for s in ("full-scale", "small-scale", "full-only", None)))

#: The column groups of a paper table, in the order an entry's status lists them, then ``figure`` (the one
#: group of a figure entry).
COLUMN_GROUPS = ("costs", "PSNR/SSIM", "perceptual", "recognition")
FIGURE_GROUP = "figure"
SUMMARY_GROUPS = (*COLUMN_GROUPS, FIGURE_GROUP)
#: Columns that describe a row (the model's setting) rather than hold a result: in no group.
SETTING_COLUMNS = frozenset({"Scale", "Blocks", "Experts", "ME", "PS", "BM3D", "w/o Affine", "Default alpha",
                             "Default alpha2"})
COST_COLUMNS = frozenset({"Params", "Mult-Adds (G)", "Runtime (s)", "FPS"})
#: Words of a measurement key that name its group when the measurement names no paper column.
KEY_WORDS = (("costs", ("params", "mult-adds", "runtime", "fps")), ("perceptual", ("lpips", "nima")),
             ("recognition", ("map", "accuracy")), ("PSNR/SSIM", ("psnr", "ssim", "gain")))


def column_group(column: str) -> str | None:
    """The group of a paper column: ``costs``, ``PSNR/SSIM``, ``perceptual``, ``recognition``; None for a
    setting column (:data:`SETTING_COLUMNS`). An unknown column raises, so a new one is classified here."""
    if column in SETTING_COLUMNS:
        return None
    if column in COST_COLUMNS:
        return "costs"
    if column.endswith(("LPIPS", "NIMA")):
        return "perceptual"
    if "mAP" in column or column.startswith("Acc "):
        return "recognition"
    if column.endswith(("PSNR", "SSIM", "delta")) or column.endswith("% data"):  # Table 4.3: PSNR per data share
        return "PSNR/SSIM"
    raise CompanionError(f"paper column {column!r} has no column group; add it to companion.ledger.column_group")


def table_groups(paper: dict) -> list[str]:
    """The column groups of a paper table, in :data:`COLUMN_GROUPS` order (empty for a figure)."""
    present = {column_group(c) for c in paper.get("columns") or []}
    return [g for g in COLUMN_GROUPS if g in present]


def measurement_group(measurement: dict, groups: list[str]) -> str:
    """The group a measurement of a table counts in: its column's, else the one its key names (``…/psnr``,
    ``…/Params``), else costs for an exact (analytic) number, else the table's first result group after the
    costs (what the table measures)."""
    column = measurement.get("column")
    if column is not None:
        try:
            group = column_group(column)
        except CompanionError:
            group = None
        if group in groups:
            return group
    words = set(str(measurement.get("key", "")).lower().replace("/", " ").replace("_", " ").split())
    for group, names in KEY_WORDS:
        if group in groups and words & set(names):
            return group
    if measurement.get("status") == "exact" and "costs" in groups:  # analytic: a count, never a measured score
        return "costs"
    results = [g for g in groups if g != "costs"]
    return results[0] if results else groups[0]


def combined_status(statuses: list[str]) -> str:
    """``exact``, ``exact + <weakest measured status>``, the weakest measured status, or ``not yet``."""
    measured = [s for s in statuses if s != "exact"]
    weakest = STATUS_LABEL[min(measured, key=STATUS_RANK.__getitem__)] if measured else None
    if "exact" in statuses:
        return f"exact + {weakest}" if weakest else STATUS_LABEL["exact"]
    return weakest or STATUS_LABEL[None]


@dataclass
class LedgerEntry:
    paper: dict
    measurements: list[dict] = field(default_factory=list)  # each with the results file's provenance merged in
    figures: list[dict] = field(default_factory=list)
    mirror: "LedgerEntry | None" = None  # the thesis entry a seed-000 entry duplicates (``same_as``)

    @property
    def _follows_mirror(self) -> bool:
        return self.mirror is not None and not (self.measurements or self.figures)

    @property
    def has_exact(self) -> bool:
        """Whether the entry holds an exact number (its own, or its thesis twin's when it follows one)."""
        if self._follows_mirror:
            return self.mirror.has_exact
        return any(m["status"] == "exact" for m in self.measurements)

    def _statuses(self, measurements: list[dict], with_figures: bool) -> list[str]:
        found = [m["status"] for m in measurements]
        if with_figures:
            found += ["full-scale" if f["profile"] == "full" else "small-scale" for f in self.figures]
        return found

    @property
    def status(self) -> str:
        """The whole entry's status: :func:`combined_status` of every measurement and figure."""
        if self._follows_mirror:
            return self.mirror.status
        return combined_status(self._statuses(self.measurements, with_figures=True))

    @property
    def group_statuses(self) -> dict[str, str]:
        """The status of each column group of the entry (``{"figure": …}`` for a figure or a table without
        result columns), from the measurements that fall in it."""
        if self._follows_mirror:
            return self.mirror.group_statuses
        groups = table_groups(self.paper) if self.paper.get("kind") == "table" else []
        if not groups:
            return {FIGURE_GROUP: self.status}
        by_group: dict[str, list[dict]] = {g: [] for g in groups}
        for m in self.measurements:
            by_group[measurement_group(m, groups)].append(m)
        return {g: combined_status(self._statuses(ms, with_figures=False)) for g, ms in by_group.items()}

    @property
    def status_text(self) -> str:
        """What the ledger prints: ``costs exact · PSNR/SSIM not yet`` for a table (plain ``not yet`` when
        nothing of it is measured), the status alone for a figure."""
        statuses = self.group_statuses
        if set(statuses) == {FIGURE_GROUP} or set(statuses.values()) == {STATUS_LABEL[None]}:
            return self.status
        return " · ".join(f"{group} {status}" for group, status in statuses.items())


def status_counts(entries: list[LedgerEntry]) -> dict[str, dict[str, int]]:
    """Per column group (:data:`SUMMARY_GROUPS`), the number of entries at each status label (labels with none
    left out); an entry counts once in each group it has."""
    counts: dict[str, dict[str, int]] = {g: {} for g in SUMMARY_GROUPS}
    for e in entries:
        for group, status in e.group_statuses.items():
            counts[group][status] = counts[group].get(status, 0) + 1
    return counts


def load_paper(path: Path = PAPER_FILE) -> list[dict]:
    """The paper entries, in file order."""
    try:
        return json.loads(Path(path).read_text())["entries"]
    except (OSError, ValueError, KeyError) as exc:
        raise CompanionError(f"cannot read the paper data {path} ({exc}); restore it from git") from None


def load_results(dirs=RESULTS_DIRS) -> list[dict]:
    """Every results file under ``dirs`` (missing folders are skipped), sorted by notebook and profile."""
    docs = []
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.json")):
            try:
                doc = json.loads(path.read_text())
            except ValueError:
                raise CompanionError(f"results file {path} is not valid JSON; rerun its notebook with "
                                     "`python -m companion run`") from None
            doc["_file"] = str(path)
            docs.append(doc)
    return docs


def paper_value(entry: dict, row: str | None, column: str | None):
    """The paper's number for (row, column) of a table entry, or None."""
    for r in entry.get("rows", []):
        if r.get("label") == row:
            return r.get("values", {}).get(column)
    return None


def build_ledger(paper: list[dict], results: list[dict]) -> tuple[list[LedgerEntry], list[str]]:
    """Join the measurements to the paper entries; also return warnings for references that match nothing.

    A seed-000 entry marked ``same_as`` a thesis entry takes that entry's status unless measured itself.
    """
    entries = {e["id"]: LedgerEntry(e) for e in paper}
    for entry in entries.values():
        entry.mirror = entries.get(entry.paper.get("same_as"))
    warnings = []
    for doc in results:
        prov = {k: doc.get(k) for k in ("notebook", "profile", "seed", "commit", "device")}
        for m in doc.get("measurements", []):
            if m.get("entry") is None:
                if m.get("status") == "exact":
                    warnings.append(f"{doc['_file']}: exact measurement {m['key']!r} names no paper entry; give "
                                    "it entry=, row= and column= so the ledger puts it beside the paper's number")
                continue
            if m["entry"] not in entries:
                warnings.append(f"{doc['_file']}: measurement {m['key']!r} names unknown entry {m['entry']!r}")
                continue
            if m.get("status") not in STATUS_RANK:
                warnings.append(f"{doc['_file']}: measurement {m['key']!r} has unknown status "
                                f"{m.get('status')!r}; it is left out")
                continue
            entry = entries[m["entry"]]
            if m.get("row") is not None and entry.paper.get("rows") and \
                    not any(r.get("label") == m["row"] for r in entry.paper["rows"]):
                warnings.append(f"{doc['_file']}: {m['entry']} has no row {m['row']!r}")
            if m.get("column") is not None and entry.paper.get("columns") and \
                    m["column"] not in entry.paper["columns"]:
                warnings.append(f"{doc['_file']}: {m['entry']} has no column {m['column']!r}")
            entry.measurements.append({**m, **prov})
        for f in doc.get("figures", []):
            if f.get("entry") is None:
                continue
            if f["entry"] not in entries:
                warnings.append(f"{doc['_file']}: figure {f['name']!r} names unknown entry {f['entry']!r}")
                continue
            entries[f["entry"]].figures.append({**f, **prov})
    return list(entries.values()), warnings


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return _esc(value)


def unlinked_measurements(results: list[dict]) -> list[dict]:
    """Measurements that name no paper entry (dataset statistics, readings checked): shown in their own section."""
    return [{**m, "notebook": doc.get("notebook"), "profile": doc.get("profile"), "seed": doc.get("seed"),
             "commit": doc.get("commit")} for doc in results for m in doc.get("measurements", [])
            if m.get("entry") is None]


def _esc(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _paper_table(entry: LedgerEntry) -> list[str]:
    """The paper's table, every cell; a measured cell shows ours beside the paper's number."""
    columns = entry.paper.get("columns") or []
    rows = entry.paper.get("rows") or []
    if not columns or not rows:
        return []
    ours: dict[tuple, list[str]] = {}
    for m in entry.measurements:
        shown = ours.setdefault((m.get("row"), m.get("column")), [])
        text = f"**{_fmt(m['value'])}** ({CELL_LABEL[m['status']]}, {m['profile']})"
        if text not in shown:  # the same number from two notebooks is listed once (both are in the list below)
            shown.append(text)
    lines = ["", "| | " + " | ".join(_esc(c) for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    spreads = entry.paper.get("std") or {}
    for row in rows:
        cells = []
        for column in columns:
            cell = _fmt(row.get("values", {}).get(column))
            if spreads.get(row["label"], {}).get(column) is not None:
                cell += f" ± {_fmt(spreads[row['label']][column])}"
            if (row["label"], column) in ours:
                cell += " · ours " + ", ".join(ours[(row["label"], column)])
            cells.append(cell)
        lines.append(f"| {_esc(row['label'])} | " + " | ".join(cells) + " |")
    return lines


def cell_coverage(e: LedgerEntry) -> dict[str, tuple[int, int]]:
    """Per column group of a table: (paper cells that have a number of ours beside them, paper cells)."""
    groups = table_groups(e.paper) if e.paper.get("kind") == "table" else []
    ours = {(m.get("row"), m.get("column")) for m in e.measurements if m.get("value") is not None}
    coverage = {}
    for group in groups:
        cells = [(row["label"], column) for row in e.paper.get("rows", []) for column in row.get("values", {})
                 if column in (e.paper.get("columns") or []) and column_group(column) == group]
        coverage[group] = (sum(cell in ours for cell in cells), len(cells))
    return coverage


def _entry_lines(e: LedgerEntry) -> list[str]:
    """One entry: status, what it shows, the paper's protocol, contradictions, its numbers beside ours."""
    lines = ["", f"### {e.paper['id']}: {e.status_text}", ""]
    if e.paper.get("caption"):
        lines.append(f"- Caption: {_esc(e.paper['caption'])}")
    if e.paper.get("kind") == "figure" and e.paper.get("shows"):
        lines.append(f"- Shows: {_esc(e.paper['shows'])}")
    if e.mirror is not None:
        lines.append(f"- Same work as {e.mirror.paper['id']} of the thesis; status follows it.")
    if e.paper.get("protocol"):
        lines.append(f"- Paper protocol: {_esc(e.paper['protocol'])}")
    for c in e.paper.get("contradictions", []):
        lines.append(f"- Known contradiction: {_esc(c)}")
    coverage = cell_coverage(e)
    if coverage and e.measurements:
        lines.append("- Paper cells with a number of ours: " + ", ".join(
            f"{group} {ours} of {cells}" for group, (ours, cells) in coverage.items()))
    for f in e.figures:
        lines.append(f"- Ours: [{f['file']}]({f['file'] if f['profile'] != 'full' else 'full/' + f['file']})"
                     f" ({f['profile']} profile, seed {f['seed']}, commit {f['commit']})"
                     + (f": {_esc(f['caption'])}" if f.get("caption") else ""))
    lines += _paper_table(e)
    if e.measurements:
        lines += ["", "| measurement | paper | ours | status | profile · seed · commit | our protocol |",
                  "|---|---|---|---|---|---|"]
        for m in e.measurements:
            cell = " / ".join(str(x) for x in (m.get("row"), m.get("column")) if x) or m["key"]
            proto = "; ".join(x for x in (m.get("protocol"), m.get("note")) if x)
            lines.append(f"| {_esc(cell)} | {_fmt(paper_value(e.paper, m.get('row'), m.get('column')))} | "
                         f"{_fmt(m['value'])} | {STATUS_LABEL[m['status']]} | "
                         f"{m['profile']} · {m['seed']} · {m['commit']} | {_esc(proto)} |")
    return lines


def summary_lines(counts: dict[str, dict[str, int]]) -> list[str]:
    """The summary as a Markdown table: a row per status label, a column per column group."""
    lines = ["| status | " + " | ".join(SUMMARY_GROUPS) + " |", "|---" * (len(SUMMARY_GROUPS) + 1) + "|"]
    for label in ENTRY_LABELS:
        lines.append(f"| {label} | " + " | ".join(str(counts[g].get(label, 0)) for g in SUMMARY_GROUPS) + " |")
    lines.append("| entries with the group | " + " | ".join(str(sum(counts[g].values())) for g in SUMMARY_GROUPS)
                 + " |")
    return lines


def render_markdown(entries: list[LedgerEntry], n_results: int, unlinked: list[dict] = ()) -> str:
    """The ledger as Markdown: a summary, then every entry of every chapter, then unlinked measurements."""
    lines = ["# Reproduction ledger", "",
             "Generated by `python -m companion ledger` from `companion/paper/thesis.json` and "
             f"{n_results} results file(s); do not edit by hand. Paper numbers are transcribed from the seeds; "
             "ours come from the notebooks' results files, with the profile, seed and commit they were measured "
             "at. Small-scale numbers are not expected to match the paper; the protocol column says why.", "",
             "Each table has a status per column group (costs: parameters, Mult-Adds, run time; PSNR/SSIM and "
             "their printed gains; perceptual: LPIPS, NIMA; recognition: accuracy, mAP), so exact costs never "
             "stand for unmeasured PSNRs; a figure has one status. Entries per status, in each group:", ""]
    lines += summary_lines(status_counts(entries))
    chapters: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        key = f"Chapter {e.paper.get('chapter')}" if e.paper["source"] == "thesis" else "Seed 000 (ACCV 2020)"
        chapters.setdefault(key, []).append(e)
    for chapter, group in chapters.items():
        lines += ["", f"## {chapter}", "", "| entry | status |", "|---|---|"]
        lines += [f"| {e.paper['id']} | {e.status_text} |" for e in group]
        for e in group:
            lines += _entry_lines(e)
    if unlinked:
        lines += ["", "## Measurements without a paper table", "",
                  "What the notebooks measure about the companion's own readings and data (no paper cell to sit "
                  "beside).", "", "| notebook | measurement | ours | profile · seed · commit | protocol |",
                  "|---|---|---|---|---|"]
        for m in unlinked:
            proto = "; ".join(x for x in (m.get("protocol"), m.get("note")) if x)
            lines.append(f"| {m['notebook']} | {m['key']} | {_fmt(m['value'])} | "
                         f"{m['profile']} · {m['seed']} · {m['commit']} | {_esc(proto)} |")
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it; return whether it was written."""
    path = Path(path)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


# ── the generated parts of README.md ──────────────────────────────────────────────────────────────────────

README_FILE = REPO_ROOT / "README.md"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
QUICK_RESULTS_DIR = REPO_ROOT / "figures" / "results"
#: Marker names of README's generated blocks: ``<!-- headline:start -->`` … ``<!-- headline:end -->``.
HEADLINE_MARKER = "headline"
NOTEBOOKS_MARKER = "notebooks"


@dataclass(frozen=True)
class Headline:
    """One line of README's headline table: a measurement of a committed results file (by notebook and key)
    beside the paper's cell (the measurement's own row and column unless named here)."""

    chapter: str
    result: str
    notebook: str
    key: str
    paper_entry: str | None = None     # defaults to the measurement's entry
    paper_row: str | None = None       # defaults to the measurement's row
    paper_column: str | None = None    # defaults to the measurement's column


#: Per chapter, the main measured results. Keys, never numbers: the numbers come from the results files.
HEADLINES = (
    Headline("2", "CARN ×4 parameters (Table 2.4)", "02a_carn", "table2_4/CARN x4/Params"),
    Headline("2", "CARN ×4 Mult-Adds, G (Table 2.4)", "02a_carn", "table2_4/CARN x4/Mult-Adds"),
    Headline("2", "best initialisation, 1.0 × U(±√(1/F)), PSNR (Table 2.3)", "02b_initialisation",
             "Table 2.3/default_1.0/psnr"),
    Headline("3", "progressive CARN ×8, PSNR (Table 3.2; paper: Set14, ours: the embedded test photographs)",
             "03_progressive_x8",
             "embedded/x8/progressive/psnr", paper_row="Progressive CARN", paper_column="Set14 PSNR"),
    Headline("3", "bicubic ×8, PSNR (Table 3.2; paper: Set14, ours: the embedded test photographs)",
             "03_progressive_x8", "embedded/x8/bicubic/psnr",
             paper_row="Bicubic", paper_column="Set14 PSNR"),
    Headline("4", "MoA's gain over the EDSR baseline, ×4 (Table 4.2; paper: DIV2K, ours: the embedded test "
                  "photographs)", "04d_augmentation_tables", "table4_2/embedded/MoA/gain"),
    Headline("4", "an HR photograph fed to the ×4 CutBlur model: PSNR of its output to that input (Fig. 4.4; the "
                  "paper shows it, without a number)", "04b_cutblur_psd", "fig4_4/cutblur/identity_psnr"),
    Headline("4", "the same for the baseline EDSR (Fig. 4.4)", "04b_cutblur_psd", "fig4_4/baseline/identity_psnr"),
    Headline("5", "SimUSR CARN ×4, PSNR (Table 5.1; paper: Set14, ours: the embedded test photographs)",
             "05_simusr", "table5_1/embedded/SimUSR CARN/psnr", paper_row="SimUSR CARN", paper_column="Set14 PSNR"),
    Headline("5", "ZSSR ×4, PSNR (Table 5.1; paper: Set14, ours: the embedded test photographs)",
             "05_simusr", "table5_1/embedded/ZSSR/psnr", paper_row="ZSSR", paper_column="Set14 PSNR"),
    Headline("5", "ZSSR's runtime on one image, s (Table 5.4; paper: its full recipe on a GPU, ours: the quick "
                  "recipe on a CPU)", "05_simusr", "table5_4/ZSSR/Runtime (s)"),
    Headline("5", "SimUSR CARN's runtime on the same image, s (Table 5.4)", "05_simusr",
             "table5_4/SimUSR CARN/Runtime (s)"),
    Headline("6", "Flickr-Distortion detection (difficult): mean region side ratio (Fig. 6.1)",
             "06a_distortion_datasets", "detection_difficult_mean_side_ratio"),
    Headline("6", "IQA-CNN++ distortion accuracy, 24 classes (Table 6.1; ours: small scale, from scratch)",
             "06b_classification", "table6_1/iqa_cnn_plusplus/tuned_accuracy"),
    Headline("6", "ResNet-101 fine-tuned, 24 classes (Table 6.1; ours: 1/8 width, random init, no ImageNet)",
             "06b_classification", "table6_1/resnet101/tuned_accuracy"),
    Headline("6", "SSD on Atrous VGG-16, basic, mAP@0.5 (Table 6.2; ours: 1/8 width)", "06c_detection",
             "table6_2/atrous_vgg16/map@0.5"),
    Headline("7", "MEPSNet parameters, paper size (Table 7.3)", "07c_ablations",
             "table7_3_params/ME+PS (3 experts)"),
    Headline("7", "MEPSNet, SHDD moderate test PSNR (Table 7.1; ours: SHDD of the embedded photographs)",
             "07b_mepsnet_training",
             "Table 7.1/MEPSNet/moderate/psnr"),
    Headline("7", "DnCNN, SHDD moderate test PSNR (Table 7.1; ours: SHDD of the embedded photographs)",
             "07b_mepsnet_training", "Table 7.1/DnCNN/moderate/psnr"),
)


def _results_by_notebook(results_dir: Path) -> dict[str, dict]:
    return {doc.get("notebook", Path(doc["_file"]).stem): doc for doc in load_results([results_dir])}


def headline_table(results_dir: Path = QUICK_RESULTS_DIR, paper_file: Path = PAPER_FILE,
                   headlines=HEADLINES) -> str:
    """README's headline table, from the committed (quick-profile) results files and the paper data."""
    paper = {e["id"]: e for e in load_paper(paper_file)}
    docs = _results_by_notebook(results_dir)
    lines = ["| chapter | result | paper | ours | status | notebook |", "|---|---|---|---|---|---|"]
    for h in headlines:
        found = next((m for m in docs.get(h.notebook, {}).get("measurements", []) if m.get("key") == h.key), None)
        m = found or {}
        entry = paper.get(h.paper_entry or m.get("entry"), {})
        theirs = paper_value(entry, h.paper_row or m.get("row"), h.paper_column or m.get("column"))
        ours = _fmt(m["value"]) if found else "—"
        status = STATUS_LABEL[m.get("status") if found else None]
        lines.append(f"| {h.chapter} | {_esc(h.result)} | {_fmt(theirs)} | {ours} | {status} | "
                     f"[{h.notebook}](notebooks/{h.notebook}.ipynb) |")
    return "\n".join(lines) + "\n"


def notebook_title(path: Path) -> str:
    """A notebook's title: its first Markdown heading, without the ``02a ·`` prefix."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].split(" · ", 1)[-1].strip()
    return Path(path).stem


def _chapter_of(stem: str) -> str:
    number = int(stem[:2]) if stem[:2].isdigit() else None
    return "tour" if number == 0 else (f"Ch. {number}" if number is not None else "")


def _seconds(value) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def notebook_table(notebooks_dir: Path = NOTEBOOKS_DIR, results_dir: Path = QUICK_RESULTS_DIR) -> str:
    """README's notebook table: each notebook's title (its first heading) and the wall time of the run that
    wrote its committed results file."""
    docs = _results_by_notebook(results_dir)
    lines = ["| notebook | chapter | what it does | quick profile, last committed run |", "|---|---|---|---|"]
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        doc = docs.get(path.stem, {})
        lines.append(f"| [`{path.stem}`](notebooks/{path.name}) | {_chapter_of(path.stem)} | "
                     f"{_esc(notebook_title(path))} | {_seconds(doc.get('wall_seconds'))} |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, marker: str, block: str) -> str:
    """``text`` with what lies between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` replaced."""
    begin, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise CompanionError(f"README needs one {begin} line before one {end} line")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def readme_text(text: str, *, results_dir: Path = QUICK_RESULTS_DIR, notebooks_dir: Path = NOTEBOOKS_DIR,
                paper_file: Path = PAPER_FILE) -> str:
    """README's text with its generated blocks brought up to date."""
    text = replace_block(text, HEADLINE_MARKER, headline_table(results_dir, paper_file))
    return replace_block(text, NOTEBOOKS_MARKER, notebook_table(notebooks_dir, results_dir))


def write_readme_tables(readme: Path = README_FILE, **kwargs) -> bool:
    """Bring README's generated blocks up to date; return whether the file changed (it is left alone if not)."""
    return write_if_changed(readme, readme_text(Path(readme).read_text(encoding="utf-8"), **kwargs))


def write_ledger(out: Path = LEDGER_FILE, *, paper_file: Path = PAPER_FILE, results_dirs=RESULTS_DIRS,
                 require_results: bool = False, readme: Path | None = None,
                 echo=print) -> dict[str, dict[str, int]]:
    """Write the ledger (only when its text changes), print a summary, return the counts per column group.

    With ``require_results`` (folders the user named), every folder must exist and hold results files;
    otherwise nothing is written, so a mistyped folder never replaces the ledger with "not yet" everywhere.
    ``readme``: the README whose generated blocks to update; by default README.md when the ledger is the
    committed one from the committed results (``figures/LEDGER.md`` from :data:`RESULTS_DIRS`), else none.
    The counts are :func:`status_counts`'s.
    """
    out = Path(out)
    if out.is_dir():
        raise CompanionError(f"ledger output {out} is a folder; name a file such as {out / 'LEDGER.md'}")
    if require_results:
        for folder in map(Path, results_dirs):
            if folder.exists() and not folder.is_dir():
                raise CompanionError(f"results folder {folder} is a file, not a folder; check the path")
            if not folder.is_dir():
                raise CompanionError(f"results folder {folder} does not exist; check the path (the notebooks "
                                     "write <figures dir>/results/)")
            if not any(folder.glob("*.json")):
                raise CompanionError(f"results folder {folder} holds no results files (*.json); run the notebooks "
                                     "first or check the path; the ledger was left as it was")
    results = load_results(results_dirs)
    entries, warnings = build_ledger(load_paper(paper_file), results)
    written = write_if_changed(out, render_markdown(entries, len(results), unlinked_measurements(results)))
    counts = status_counts(entries)
    echo(f"ledger: {len(entries)} entries from {len(results)} results file(s) -> {out}"
         + ("" if written else " (unchanged)"))
    for group in SUMMARY_GROUPS:
        shown = ", ".join(f"{label} {counts[group][label]}" for label in ENTRY_LABELS if counts[group].get(label))
        echo(f"  {group:<12}{shown or 'no entries'}")
    if readme is None and out.resolve() == LEDGER_FILE.resolve() and \
            [Path(d).resolve() for d in results_dirs] == [d.resolve() for d in RESULTS_DIRS]:
        readme = README_FILE
    if readme is not None and Path(readme).exists():
        changed = write_readme_tables(Path(readme))
        echo(f"README tables -> {readme}" + ("" if changed else " (unchanged)"))
    for w in warnings:
        echo(f"warning: {w}")
    return counts
