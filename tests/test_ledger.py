"""The ledger joins paper entries to measured results and reports an honest status per entry."""
from __future__ import annotations

import json
import os

import pytest

from companion import ledger
from companion.errors import CompanionError

PAPER = [
    {"id": "Table 7.3", "source": "thesis", "kind": "table", "chapter": 7, "caption": "Ablation",
     "protocol": "SHDD test, RGB", "columns": ["Params", "PSNR"],
     "rows": [{"label": "ME,PS,3", "values": {"Params": 2200000, "PSNR": 34.29}}],
     "contradictions": ["Table 7.3 vs 7.4 single-expert rows"]},
    {"id": "Figure 7.3", "source": "thesis", "kind": "figure", "chapter": 7, "caption": "SHDD levels"},
    {"id": "Figure 2.1", "source": "thesis", "kind": "figure", "chapter": 2, "caption": "CARN"},
    {"id": "ACCV Table 1", "source": "seed000", "kind": "table", "chapter": 7, "caption": "x", "rows": []},
]


def _results(tmp_path, name, profile, measurements, figures=()):
    doc = {"notebook": name, "profile": profile, "seed": 0, "commit": "abc", "device": "cpu",
           "measurements": measurements, "figures": list(figures)}
    path = tmp_path / f"{name}.{profile}.json"
    path.write_text(json.dumps(doc))
    return path


def _m(key, value, status, row=None, column=None, entry="Table 7.3"):
    return {"key": key, "value": value, "entry": entry, "row": row, "column": column, "status": status,
            "protocol": "p", "note": ""}


def test_status_keeps_exact_numbers_beside_the_weakest_measured_one(tmp_path):
    _results(tmp_path, "07b", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params"),
                                        _m("psnr", 30.1, "full-only", "ME,PS,3", "PSNR")],
             figures=[{"name": "f", "file": "f.png", "entry": "Figure 7.3", "caption": ""}])
    entries, warnings = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    status = {e.paper["id"]: e.status for e in entries}
    assert status == {"Table 7.3": "exact + full profile only", "Figure 7.3": "measured at small scale",
                      "Figure 2.1": "not yet", "ACCV Table 1": "not yet"}
    assert warnings == []


def test_measured_statuses_take_the_weakest(tmp_path):
    _results(tmp_path, "07b", "full", [_m("psnr", 34.0, "full-scale", "ME,PS,3", "PSNR")])
    _results(tmp_path, "07c", "quick", [_m("ssim", 0.9, "small-scale", "ME,PS,3", "PSNR")])
    entries, _ = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    assert entries[0].status == "measured at small scale" and not entries[0].has_exact


def test_exact_only_mixed_and_summary_counts(tmp_path):
    """Table 7.3 mixes exact parameter counts with small-scale PSNRs: each column group says its own status, and
    the summary counts each group."""
    paper = PAPER + [{"id": "Table 2.1", "source": "thesis", "kind": "table", "chapter": 2, "caption": "c",
                      "columns": ["Params"], "rows": [{"label": "CARN", "values": {"Params": 1592000}}]},
                     {"id": "ACCV Table 3", "source": "seed000", "kind": "table", "chapter": 7, "caption": "c",
                      "same_as": "Table 7.3", "columns": [], "rows": []}]
    _results(tmp_path, "02", "quick", [_m("carn", 1592203, "exact", "CARN", "Params", entry="Table 2.1")])
    _results(tmp_path, "07c", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params"),
                                        _m("psnr", 30.12, "small-scale", "ME,PS,3", "PSNR")])
    entries, warnings = ledger.build_ledger(paper, ledger.load_results([tmp_path]))
    assert warnings == []
    by_id = {e.paper["id"]: e for e in entries}
    assert by_id["Table 2.1"].status == "exact" and by_id["Table 2.1"].has_exact
    assert by_id["Table 7.3"].status == "exact + measured at small scale" and by_id["Table 7.3"].has_exact
    assert by_id["Table 7.3"].group_statuses == {"costs": "exact", "PSNR/SSIM": "measured at small scale"}
    assert by_id["Table 7.3"].status_text == "costs exact · PSNR/SSIM measured at small scale"
    assert by_id["ACCV Table 3"].status_text == "costs exact · PSNR/SSIM measured at small scale"  # its twin's
    assert by_id["Figure 7.3"].status_text == "not yet" and not by_id["Figure 7.3"].has_exact
    counts = ledger.status_counts(entries)
    assert counts == {"costs": {"exact": 3}, "PSNR/SSIM": {"measured at small scale": 2}, "perceptual": {},
                      "recognition": {}, "figure": {"not yet": 3}}
    text = ledger.render_markdown(entries, 2)
    summary = text.split("## ")[0]
    assert "| status | costs | PSNR/SSIM | perceptual | recognition | figure |" in summary
    assert "| exact | 3 | 0 | 0 | 0 | 0 |" in summary
    assert "| measured at small scale | 0 | 2 | 0 | 0 | 0 |" in summary
    assert "| not yet | 0 | 0 | 0 | 0 | 3 |" in summary
    assert "| entries with the group | 3 | 2 | 0 | 0 | 3 |" in summary
    assert "### Table 7.3: costs exact · PSNR/SSIM measured at small scale" in text
    assert "### Table 2.1: costs exact" in text
    assert "| Table 7.3 | costs exact · PSNR/SSIM measured at small scale |" in text


def test_exact_costs_do_not_stand_for_unmeasured_psnr_columns(tmp_path):
    """The issue's case: Table 2.4 holds our exact costs but none of its PSNRs, so it is not "exact" as a
    whole; a measurement without a column counts in the group its key names, else the table's result group."""
    paper = [{"id": "Table 2.4", "source": "thesis", "kind": "table", "chapter": 2, "caption": "c",
              "columns": ["Scale", "Params", "Mult-Adds (G)", "Set5 PSNR", "Set5 SSIM", "Set5 LPIPS"],
              "rows": [{"label": "CARN x4", "values": {"Scale": 4, "Params": 1592000, "Mult-Adds (G)": 90.9,
                                                       "Set5 PSNR": 32.13, "Set5 SSIM": 0.8937,
                                                       "Set5 LPIPS": 0.2}}]}]
    _results(tmp_path, "02a", "quick", [_m("p", 1591939, "exact", "CARN x4", "Params", entry="Table 2.4"),
                                        _m("m", 90.87, "exact", "CARN x4", "Mult-Adds (G)", entry="Table 2.4")])
    entries, _ = ledger.build_ledger(paper, ledger.load_results([tmp_path]))
    [entry] = entries
    assert entry.status == "exact"  # the whole-entry rule alone would say so
    assert entry.status_text == "costs exact · PSNR/SSIM not yet · perceptual not yet"
    assert ledger.cell_coverage(entry) == {"costs": (2, 2), "PSNR/SSIM": (0, 2), "perceptual": (0, 1)}
    assert "- Paper cells with a number of ours: costs 2 of 2, PSNR/SSIM 0 of 2, perceptual 0 of 1" in \
        ledger.render_markdown(entries, 1)
    _results(tmp_path, "02c", "quick", [_m("embedded/x4/lpips", 0.3, "small-scale", "CARN x4", entry="Table 2.4"),
                                        _m("claim/beats bicubic", "unclear", "full-only", entry="Table 2.4")])
    entries, _ = ledger.build_ledger(paper, ledger.load_results([tmp_path]))
    assert entries[0].group_statuses == {"costs": "exact", "PSNR/SSIM": "full profile only",
                                         "perceptual": "measured at small scale"}


def test_every_paper_column_has_a_group_or_is_a_setting():
    groups = {ledger.column_group(c) for e in ledger.load_paper() for c in e.get("columns") or []}
    assert groups == {None, *ledger.COLUMN_GROUPS}
    assert ledger.column_group("Params") == "costs" and ledger.column_group("Urban100 NIMA") == "perceptual"
    assert ledger.column_group("Moderate delta") == "PSNR/SSIM" and ledger.column_group("mAP@0.5") == "recognition"
    assert ledger.column_group("Scale") is None
    with pytest.raises(CompanionError, match="'FLOPs' has no column group"):
        ledger.column_group("FLOPs")


def test_committed_results_give_tables_2_1_and_2_4_to_2_6_a_status_per_group():
    entries, _ = ledger.build_ledger(ledger.load_paper(), ledger.load_results([ledger.QUICK_RESULTS_DIR]))
    text = ledger.render_markdown(entries, 0)
    for table, scores in (("2.1", "PSNR/SSIM"), ("2.4", "PSNR/SSIM"), ("2.5", "perceptual"), ("2.6", "perceptual")):
        assert f"| Table {table} | costs exact · {scores} not yet |" in text, table


def test_each_measured_cell_shows_its_own_status(tmp_path):
    _results(tmp_path, "07b", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params")])
    _results(tmp_path, "07c", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params"),
                                        _m("psnr", 30.12, "small-scale", "ME,PS,3", "PSNR")])
    _results(tmp_path, "07c", "full", [_m("psnr", 34.01, "full-scale", "ME,PS,3", "PSNR")])
    entries, _ = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    text = ledger.render_markdown(entries, 3)
    # the same count from two notebooks appears once in the cell (both rows stay in the measurement list)
    assert ("| ME,PS,3 | 2,200,000 · ours **2,241,187** (exact, quick) | "
            "34.29 · ours **34.01** (full scale, full), **30.12** (small scale, quick) |") in text
    assert text.count("| ME,PS,3 / Params | 2,200,000 | 2,241,187 | exact | quick · 0 · abc | p |") == 2


def test_exact_count_without_a_paper_cell_is_warned(tmp_path):
    _results(tmp_path, "07b", "quick", [_m("mepsnet_paper_parameters", 2241187, "exact", entry=None),
                                        _m("mean_regions", 4.5, "small-scale", entry=None),
                                        _m("params", 1, "exact", "ME,PS,3", "FLOPs"),
                                        _m("odd", 1, "great", "ME,PS,3", "PSNR")])
    entries, warnings = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    file = tmp_path / "07b.quick.json"
    assert warnings == [
        f"{file}: exact measurement 'mepsnet_paper_parameters' names no paper entry; give it entry=, row= and "
        "column= so the ledger puts it beside the paper's number",
        f"{file}: Table 7.3 has no column 'FLOPs'",
        f"{file}: measurement 'odd' has unknown status 'great'; it is left out",
    ]
    assert [m["key"] for m in entries[0].measurements] == ["params"]


def test_write_ledger_refuses_a_folder_as_output_and_a_file_as_results(tmp_path):
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"entries": PAPER}))
    with pytest.raises(CompanionError) as info:
        ledger.write_ledger(tmp_path, paper_file=paper, results_dirs=[], echo=lambda *_: None)
    assert str(info.value) == f"ledger output {tmp_path} is a folder; name a file such as {tmp_path / 'LEDGER.md'}"
    (tmp_path / "results.txt").write_text("x")
    out = tmp_path / "LEDGER.md"
    with pytest.raises(CompanionError) as info:
        ledger.write_ledger(out, paper_file=paper, results_dirs=[tmp_path / "results.txt"], require_results=True,
                            echo=lambda *_: None)
    assert str(info.value) == f"results folder {tmp_path / 'results.txt'} is a file, not a folder; check the path"
    with pytest.raises(CompanionError) as info:
        ledger.write_ledger(out, paper_file=paper, results_dirs=[tmp_path / "nope"], require_results=True,
                            echo=lambda *_: None)
    assert str(info.value).startswith(f"results folder {tmp_path / 'nope'} does not exist; check the path")
    assert not out.exists()


def test_exact_only_and_paper_values(tmp_path):
    _results(tmp_path, "07b", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params")])
    entries, _ = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    assert entries[0].status == "exact"
    assert ledger.paper_value(PAPER[0], "ME,PS,3", "Params") == 2200000
    text = ledger.render_markdown(entries, 1)
    assert "| ME,PS,3 / Params | 2,200,000 | 2,241,187 | exact | quick · 0 · abc | p |" in text
    assert "Known contradiction: Table 7.3 vs 7.4" in text
    assert "## Seed 000 (ACCV 2020)" in text


def test_unknown_references_are_warned(tmp_path):
    _results(tmp_path, "x", "quick", [_m("a", 1, "exact", entry="Table 9.9"),
                                      _m("b", 1, "exact", row="no such row", column="PSNR")])
    _, warnings = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    assert any("unknown entry 'Table 9.9'" in w for w in warnings)
    assert any("no row 'no such row'" in w for w in warnings)


def test_write_ledger_and_summary(tmp_path):
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"entries": PAPER}))
    res = tmp_path / "results"
    res.mkdir()
    _results(res, "07b", "full", [_m("psnr", 34.0, "full-scale", "ME,PS,3", "PSNR")])
    lines = []
    counts = ledger.write_ledger(tmp_path / "LEDGER.md", paper_file=paper, results_dirs=[res], echo=lines.append)
    assert counts == {"costs": {"not yet": 1}, "PSNR/SSIM": {"measured (full profile)": 1}, "perceptual": {},
                      "recognition": {}, "figure": {"not yet": 3}}
    text = (tmp_path / "LEDGER.md").read_text()
    assert text.startswith("# Reproduction ledger") and "| measured (full profile) | 0 | 1 | 0 | 0 | 0 |" in text
    assert "| ME,PS,3 / PSNR | 34.29 | 34 | measured (full profile) | full · 0 · abc | p |" in text
    assert lines[0] == f"ledger: 4 entries from 1 results file(s) -> {tmp_path / 'LEDGER.md'}"
    assert lines[1:6] == ["  costs       not yet 1", "  PSNR/SSIM   measured (full profile) 1",
                          "  perceptual  no entries", "  recognition no entries", "  figure      not yet 3"]
    assert not any("README" in line for line in lines), "a ledger of other folders leaves README alone"


def test_an_unchanged_ledger_is_not_rewritten(tmp_path):
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"entries": PAPER}))
    res = tmp_path / "results"
    res.mkdir()
    _results(res, "07b", "full", [_m("psnr", 34.0, "full-scale", "ME,PS,3", "PSNR")])
    out = tmp_path / "LEDGER.md"
    ledger.write_ledger(out, paper_file=paper, results_dirs=[res], echo=lambda *_: None)
    os.utime(out, (1_000_000, 1_000_000))
    lines = []
    ledger.write_ledger(out, paper_file=paper, results_dirs=[res], echo=lines.append)
    assert out.stat().st_mtime == 1_000_000, "the same text must not be written again"
    assert lines[0].endswith("(unchanged)")
    _results(res, "07c", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params")])
    ledger.write_ledger(out, paper_file=paper, results_dirs=[res], echo=lambda *_: None)
    assert out.stat().st_mtime != 1_000_000 and "2,241,187" in out.read_text()


def test_corrupt_results_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CompanionError, match="bad.json is not valid JSON"):
        ledger.load_results([tmp_path])


def test_real_paper_data_renders(tmp_path):
    entries, _ = ledger.build_ledger(ledger.load_paper(), [])
    ids = {e.paper["id"] for e in entries}
    assert {"Table 2.1", "Table 7.4", "Figure 2.1", "Figure 7.7"} <= ids
    text = ledger.render_markdown(entries, 0)
    assert text.count("| not yet |") >= len(entries)


def test_same_as_mirrors_status_and_unlinked_are_listed(tmp_path):
    paper = PAPER + [{"id": "ACCV Fig. 3", "source": "seed000", "kind": "figure", "chapter": 7, "caption": "c",
                      "same_as": "Figure 7.3"}]
    _results(tmp_path, "07a", "quick", [_m("mean_regions", 4.5, "small-scale", entry=None)],
             figures=[{"name": "f", "file": "f.png", "entry": "Figure 7.3", "caption": ""}])
    results = ledger.load_results([tmp_path])
    entries, _ = ledger.build_ledger(paper, results)
    assert {e.paper["id"]: e.status for e in entries}["ACCV Fig. 3"] == "measured at small scale"
    text = ledger.render_markdown(entries, 1, ledger.unlinked_measurements(results))
    assert "Same work as Figure 7.3" in text
    assert "| 07a | mean_regions | 4.5 | quick · 0 · abc | p |" in text


def test_every_table_is_rendered_with_ours_beside_the_paper(tmp_path):
    paper = [dict(PAPER[0], std={"ME,PS,3": {"PSNR": 0.02}})] + PAPER[1:]
    _results(tmp_path, "07b", "quick", [_m("psnr", 30.12, "small-scale", "ME,PS,3", "PSNR")])
    entries, _ = ledger.build_ledger(paper, ledger.load_results([tmp_path]))
    text = ledger.render_markdown(entries, 1)
    assert "| ME,PS,3 | 2,200,000 | 34.29 ± 0.02 · ours **30.12** (small scale, quick) |" in text
    for e in paper:
        assert f"### {e['id']}: " in text, "every entry gets its own section"


def test_an_exact_number_without_a_column_counts_in_costs():
    """07c records how much sharing removes (exact, no paper column, no cost word in its key): a count of
    parameters, so Table 7.3's costs group holds it, never its PSNR/SSIM group; a measured number still counts
    in the table's result group."""
    groups = ["costs", "PSNR/SSIM"]
    assert ledger.measurement_group({"key": "sharing_removes/ours, 1 expert", "status": "exact"}, groups) == "costs"
    assert ledger.measurement_group({"key": "claim/x", "status": "small-scale"}, groups) == "PSNR/SSIM"
    assert ledger.measurement_group({"key": "x", "status": "exact"}, ["PSNR/SSIM"]) == "PSNR/SSIM"
