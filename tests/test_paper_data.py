"""Validates companion/paper/thesis.json, the transcribed tables and figures of the thesis and of seed 000.

Self-contained: reads only the JSON file (never the seed texts). Schema: companion/paper/README.md.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

PAPER_FILE = Path(__file__).resolve().parents[1] / "companion" / "paper" / "thesis.json"

# Every table and figure caption found in the seeds (thesis: "Table N.M:" / "Figure N.M:"; seed 000: "Table N." /
# "Fig. N."). Chapters 1 and 8 of the thesis have no tables or figures.
THESIS_TABLES = {2: 8, 3: 2, 4: 10, 5: 4, 6: 3, 7: 4}
THESIS_FIGURES = {2: 14, 3: 2, 4: 11, 5: 4, 6: 3, 7: 7}
EXPECTED_THESIS_TABLES = [f"Table {c}.{i}" for c, n in THESIS_TABLES.items() for i in range(1, n + 1)]
EXPECTED_THESIS_FIGURES = [f"Figure {c}.{i}" for c, n in THESIS_FIGURES.items() for i in range(1, n + 1)]
EXPECTED_ACCV_TABLES = [f"ACCV Table {i}" for i in range(1, 5)]
EXPECTED_ACCV_FIGURES = [f"ACCV Fig. {i}" for i in range(1, 8)]
EXPECTED_IDS = EXPECTED_THESIS_TABLES + EXPECTED_THESIS_FIGURES + EXPECTED_ACCV_TABLES + EXPECTED_ACCV_FIGURES

# seed-000 entries that duplicate a thesis entry (the paper's Figs. 6 and 7 are the thesis's 7.7 and 7.6)
EXPECTED_SAME_AS = {"ACCV Table 1": "Table 7.1", "ACCV Table 2": "Table 7.2", "ACCV Table 3": "Table 7.3",
                    "ACCV Table 4": "Table 7.4", "ACCV Fig. 1": "Figure 7.1", "ACCV Fig. 2": "Figure 7.2",
                    "ACCV Fig. 3": "Figure 7.3", "ACCV Fig. 4": "Figure 7.4", "ACCV Fig. 5": "Figure 7.5",
                    "ACCV Fig. 6": "Figure 7.7", "ACCV Fig. 7": "Figure 7.6"}

# captions the PDF extraction lost entirely
LOST_CAPTIONS = {"Figure 2.2"}

COMMON_KEYS = {"id", "source", "kind", "chapter", "section", "caption", "shows", "protocol", "contradictions", "notes"}
TABLE_KEYS = COMMON_KEYS | {"columns", "rows"}
OPTIONAL_KEYS = {"std", "same_as"}

# (entry id, substring that must occur in one of its contradictions): the known cases from the digests
KNOWN_CONTRADICTIONS = [
    ("Table 2.1", "not stated"), ("Table 2.2", "not stated"), ("Table 2.3", "not stated"),
    ("Table 2.4", "1,589K"), ("Table 2.4", "414,787"), ("Table 2.5", "1,589K"), ("Table 2.7", "412K"),
    ("Figure 2.12", "320x240"), ("Figure 2.8", "0.20 dB"),
    ("Table 3.1", "Algorithm 1"), ("Table 3.1", "B8U4"), ("Figure 3.1", "Algorithm 1"),
    ("Table 4.1", "Blend"), ("Table 4.3", "0.07M"), ("Table 4.7", "70 → 30"), ("Table 4.5", "+0.09"),
    ("Table 5.1", "3.63"), ("Table 5.3", "0.09"), ("Table 5.4", "swapped"), ("Table 5.4", "1080p"),
    ("Table 7.3", "Tables 7.3 and 7.4"), ("Table 7.4", "Tables 7.3 and 7.4"), ("Table 7.1", "variances"),
    ("Figure 7.3", "variances"), ("ACCV Fig. 3", "variances"), ("ACCV Table 3", "Tables 3 and 4"),
]


@pytest.fixture(scope="module")
def doc():
    return json.loads(PAPER_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def entries(doc):
    return {e["id"]: e for e in doc["entries"]}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def test_top_level(doc):
    assert set(doc) == {"sources", "entries"}
    assert set(doc["sources"]) == {"thesis", "seed000"}
    assert all(isinstance(v, str) and v for v in doc["sources"].values())
    assert isinstance(doc["entries"], list) and doc["entries"]


def test_ids_unique_and_complete(doc):
    ids = [e["id"] for e in doc["entries"]]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert sorted(ids) == sorted(EXPECTED_IDS), (
        f"missing {sorted(set(EXPECTED_IDS) - set(ids))}, unexpected {sorted(set(ids) - set(EXPECTED_IDS))}")


def test_entry_schema(doc):
    for e in doc["entries"]:
        required = TABLE_KEYS if e.get("kind") == "table" else COMMON_KEYS
        keys = set(e)
        assert required <= keys, f"{e.get('id')}: missing {required - keys}"
        assert keys <= required | OPTIONAL_KEYS, f"{e['id']}: unexpected keys {keys - required - OPTIONAL_KEYS}"
        assert e["kind"] in ("table", "figure")
        assert e["source"] in ("thesis", "seed000")
        for k in ("id", "section", "caption", "shows", "protocol"):
            assert isinstance(e[k], str), f"{e['id']}: {k} must be a string"
        assert e["shows"].strip() and e["protocol"].strip(), e["id"]
        assert e["caption"].strip() or e["id"] in LOST_CAPTIONS, f"{e['id']}: empty caption"
        assert isinstance(e["chapter"], int) and not isinstance(e["chapter"], bool)
        for k in ("contradictions", "notes"):
            assert isinstance(e[k], list) and all(isinstance(s, str) and s.strip() for s in e[k]), (e["id"], k)
        if e["kind"] == "figure":
            assert "columns" not in e and "rows" not in e and "std" not in e, e["id"]


def test_ids_match_source_kind_chapter(doc):
    for e in doc["entries"]:
        if e["source"] == "thesis":
            word, number = e["id"].split(" ")
            assert word == {"table": "Table", "figure": "Figure"}[e["kind"]], e["id"]
            assert int(number.split(".")[0]) == e["chapter"], e["id"]
            assert not e["section"] or e["section"].split(".")[0] == str(e["chapter"]), e["id"]
            assert "same_as" not in e, e["id"]
        else:
            assert e["id"].startswith("ACCV Table " if e["kind"] == "table" else "ACCV Fig. "), e["id"]
            assert e["chapter"] == 7, e["id"]


def test_tables_cells(doc):
    for e in (x for x in doc["entries"] if x["kind"] == "table"):
        cols = e["columns"]
        assert cols and all(isinstance(c, str) and c for c in cols), e["id"]
        assert len(cols) == len(set(cols)), f"{e['id']}: duplicate columns"
        assert e["rows"], f"{e['id']}: no rows"
        labels = [r["label"] for r in e["rows"]]
        assert len(labels) == len(set(labels)), f"{e['id']}: duplicate row labels"
        used = set()
        for r in e["rows"]:
            assert set(r) == {"label", "values"}, (e["id"], r.get("label"))
            assert isinstance(r["label"], str) and r["label"].strip()
            assert isinstance(r["values"], dict)
            unknown = set(r["values"]) - set(cols)
            assert not unknown, f"{e['id']} / {r['label']}: values for undeclared columns {unknown}"
            for c, v in r["values"].items():
                assert _is_number(v), f"{e['id']} / {r['label']} / {c}: {v!r} is not a number"
            used |= set(r["values"])
        # a row may lack columns (empty or '–' cells are omitted), but every declared column is used somewhere
        assert used == set(cols), f"{e['id']}: columns without any value {set(cols) - used}"


def test_value_ranges(doc):
    for e in (x for x in doc["entries"] if x["kind"] == "table"):
        for r in e["rows"]:
            for c, v in r["values"].items():
                where = f"{e['id']} / {r['label']} / {c}"
                if c == "Params":
                    assert isinstance(v, int) and 1_000 <= v <= 100_000_000, where
                elif c.endswith("SSIM") or c.endswith("LPIPS") or c.startswith("mAP@") or c.startswith("Acc "):
                    assert 0.0 <= v <= 1.0, where
                elif c.endswith("delta") or "delta" in r["label"]:  # MoA gains in dB
                    assert -1.5 <= v <= 1.5, where
                elif c.endswith("PSNR") or c.endswith(" data"):
                    assert 15.0 <= v <= 45.0, where
                elif c in ("ME", "PS", "BM3D", "w/o Affine"):
                    assert v in (0, 1), where


def test_std(doc):
    for e in (x for x in doc["entries"] if "std" in x):
        rows = {r["label"]: r["values"] for r in e["rows"]}
        for label, cells in e["std"].items():
            assert label in rows, f"{e['id']}: std for unknown row {label!r}"
            for c, v in cells.items():
                assert c in rows[label], f"{e['id']} / {label}: std for a column without a value {c!r}"
                assert _is_number(v) and v > 0, (e["id"], label, c)


def test_same_as(entries):
    found = {i: e["same_as"] for i, e in entries.items() if "same_as" in e}
    assert found == EXPECTED_SAME_AS
    for i, target in found.items():
        assert target in entries, f"{i}: same_as target {target!r} missing"
        assert entries[target]["source"] == "thesis" and entries[target]["kind"] == entries[i]["kind"], i
        if entries[i]["kind"] == "table":  # the duplicated tables carry identical numbers
            assert entries[i]["columns"] == entries[target]["columns"], i
            assert entries[i]["rows"] == entries[target]["rows"], i


def test_known_contradictions_attached(entries):
    for entry_id, needle in KNOWN_CONTRADICTIONS:
        assert any(needle in c for c in entries[entry_id]["contradictions"]), (entry_id, needle)


def test_spot_values(entries):
    def cell(i, row, col):
        return next(r for r in entries[i]["rows"] if r["label"] == row)["values"][col]
    assert cell("Table 2.4", "CARN x2", "Params") == 1_592_000
    assert cell("Table 2.4", "CARN x2", "Mult-Adds (G)") == 222.8
    assert cell("Table 2.4", "CARN x2", "Set5 PSNR") == 37.76
    assert cell("Table 2.4", "CARN-M x4", "Urban100 SSIM") == 0.7694
    assert "Urban100 PSNR" not in next(r for r in entries["Table 2.4"]["rows"] if r["label"] == "SelNet x4")["values"]
    assert cell("Table 2.5", "PCARN", "Params") == 1_589_000
    assert cell("Table 3.1", "progressive CARN", "Params") == 9_460_000
    assert cell("Table 4.7", "EDSR +MoA", "Kodak24 sigma70->50 PSNR") == 28.41
    assert cell("Table 4.10", "RCAN +MoA", "SR+DN Manga109 PSNR") == 26.11
    assert cell("Table 5.4", "SimUSR EDSR", "Params") == 43_200_000
    assert cell("Table 7.1", "MEPSNet", "Moderate PSNR") == 33.47
    assert entries["Table 2.1"]["std"]["Baseline"]["PSNR"] == 0.02


def test_the_mepsnet_parameter_count_has_a_cell(entries):
    """07b and 07c record MEPSNet's trainable parameters (2,241,187, status exact) in Table 7.3's
    ``ME+PS (3 experts)`` / ``Params`` cell; ACCV Table 3 follows it through ``same_as``."""
    def row(i, label):
        return next(r for r in entries[i]["rows"] if r["label"] == label)["values"]
    assert row("Table 7.3", "ME+PS (3 experts)") == {"ME": 1, "PS": 1, "Experts": 3, "Params": 2_200_000,
                                                       "PSNR": 34.29, "SSIM": 0.9353}
    assert entries["ACCV Table 3"]["same_as"] == "Table 7.3"
    assert row("ACCV Table 3", "ME+PS (3 experts)") == row("Table 7.3", "ME+PS (3 experts)")
    assert "Params" not in entries["Table 7.1"]["columns"] and "Params" not in entries["Table 7.4"]["columns"]
    assert any("2,241,187" in note for note in entries["Table 7.3"]["notes"])
