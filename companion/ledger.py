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

The measured part of an entry takes the weakest status among its measurements and figures; exact numbers are
said beside it rather than hidden by it, so Table 7.3 (exact parameter counts, PSNRs measured at small scale)
reads ``exact + measured at small scale``. The summary counts each label and, separately, every entry that
holds exact numbers. In the rendered tables each of our numbers carries its own status.
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
#: The summary line that counts every entry holding exact numbers (alone or beside measured ones).
EXACT_NUMBERS = "entries with exact numbers"
#: Every entry label, in the order the summary lists them.
ENTRY_LABELS = ("exact", *(f"exact + {STATUS_LABEL[s]}" for s in ("full-scale", "small-scale", "full-only")),
                *(STATUS_LABEL[s] for s in ("full-scale", "small-scale", "full-only", None)))


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

    @property
    def status(self) -> str:
        """``exact``, ``exact + <weakest measured status>``, the weakest measured status, or ``not yet``."""
        if self._follows_mirror:
            return self.mirror.status
        measured = [m["status"] for m in self.measurements if m["status"] != "exact"]
        measured += ["full-scale" if f["profile"] == "full" else "small-scale" for f in self.figures]
        weakest = STATUS_LABEL[min(measured, key=STATUS_RANK.__getitem__)] if measured else None
        if self.has_exact:
            return f"exact + {weakest}" if weakest else STATUS_LABEL["exact"]
        return weakest or STATUS_LABEL[None]


def status_counts(entries: list[LedgerEntry]) -> dict[str, int]:
    """Entries per status label (labels with none left out), and :data:`EXACT_NUMBERS`: those holding exact
    numbers, whatever else they hold."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    counts[EXACT_NUMBERS] = sum(e.has_exact for e in entries)
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


def _entry_lines(e: LedgerEntry) -> list[str]:
    """One entry: status, what it shows, the paper's protocol, contradictions, its numbers beside ours."""
    lines = ["", f"### {e.paper['id']}: {e.status}", ""]
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


def render_markdown(entries: list[LedgerEntry], n_results: int, unlinked: list[dict] = ()) -> str:
    """The ledger as Markdown: a summary, then every entry of every chapter, then unlinked measurements."""
    counts = status_counts(entries)
    lines = ["# Reproduction ledger", "",
             "Generated by `python -m companion ledger` from `companion/paper/thesis.json` and "
             f"{n_results} results file(s); do not edit by hand. Paper numbers are transcribed from the seeds; "
             "ours come from the notebooks' results files, with the profile, seed and commit they were measured "
             "at. Small-scale numbers are not expected to match the paper; the protocol column says why.", "",
             "| status | entries |", "|---|---|"]
    lines += [f"| {label} | {counts.get(label, 0)} |" for label in (*ENTRY_LABELS, EXACT_NUMBERS)]
    chapters: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        key = f"Chapter {e.paper.get('chapter')}" if e.paper["source"] == "thesis" else "Seed 000 (ACCV 2020)"
        chapters.setdefault(key, []).append(e)
    for chapter, group in chapters.items():
        lines += ["", f"## {chapter}", "", "| entry | status |", "|---|---|"]
        lines += [f"| {e.paper['id']} | {e.status} |" for e in group]
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


def write_ledger(out: Path = LEDGER_FILE, *, paper_file: Path = PAPER_FILE, results_dirs=RESULTS_DIRS,
                 require_results: bool = False, echo=print) -> dict[str, int]:
    """Write the ledger atomically, print a summary, return the status counts.

    With ``require_results`` (folders the user named), every folder must exist and hold results files;
    otherwise nothing is written, so a mistyped folder never replaces the ledger with "not yet" everywhere.
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
    atomic_write_text(out, render_markdown(entries, len(results), unlinked_measurements(results)))
    counts = status_counts(entries)
    echo(f"ledger: {len(entries)} entries from {len(results)} results file(s) -> {out}")
    for label in (*ENTRY_LABELS, EXACT_NUMBERS):
        echo(f"  {label:<36}{counts.get(label, 0):>4}")
    for w in warnings:
        echo(f"warning: {w}")
    return counts
