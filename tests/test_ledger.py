"""The ledger joins paper entries to measured results and reports an honest status per entry."""
from __future__ import annotations

import json

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


def test_status_is_the_weakest_measurement(tmp_path):
    _results(tmp_path, "07b", "quick", [_m("params", 2241187, "exact", "ME,PS,3", "Params"),
                                        _m("psnr", 30.1, "full-only", "ME,PS,3", "PSNR")],
             figures=[{"name": "f", "file": "f.png", "entry": "Figure 7.3", "caption": ""}])
    entries, warnings = ledger.build_ledger(PAPER, ledger.load_results([tmp_path]))
    status = {e.paper["id"]: e.status for e in entries}
    assert status == {"Table 7.3": "full profile only", "Figure 7.3": "measured at small scale",
                      "Figure 2.1": "not yet", "ACCV Table 1": "not yet"}
    assert warnings == []


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
    assert counts == {"measured (full profile)": 1, "not yet": 3}
    assert (tmp_path / "LEDGER.md").read_text().startswith("# Reproduction ledger")
    assert any("4 entries from 1 results file" in line for line in lines)


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
    assert "| ME,PS,3 | 2,200,000 | 34.29 ± 0.02 · ours **30.12** (quick) |" in text
    for e in paper:
        assert f"### {e['id']}: " in text, "every entry gets its own section"
