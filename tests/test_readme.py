"""README.md is a newcomer's entry point: short, no development-log wording, and its generated tables (headline
results, notebooks) are what ``python -m companion ledger`` writes from the committed results files."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from companion import ledger
from companion.errors import CompanionError

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_LINES = 260
#: Wording that narrates the project's history (what changed when, relative to an earlier round of work):
#: history goes to docs/decisions.md with dates.
DEVELOPMENT_LOG = (r"\bthis session\b", r"\blatest session\b", r"\bearlier session\b", r"\blast stop\b",
                   r"\bthis stop\b", r"\bbefore:", r"\bnow\b", r"\bwas\b", r"\bwere\b", r"\bno longer\b",
                   r"\bused to\b", r"\bhas since\b", r"\bsince then\b", r"\bformerly\b", r"\bthe old\b")


def development_log_phrases(text: str) -> list[str]:
    """Each development-log phrase of ``text`` with its line number."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern in DEVELOPMENT_LOG:
            for m in re.finditer(pattern, line, flags=re.I):
                found.append(f"line {number}: {m.group(0)!r} in {line.strip()[:80]!r}")
    return found


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; move detail to CONTRIBUTING.md, " \
                                    "docs/decisions.md or benchmarks/README.md"


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_no_development_log_wording(name):
    assert development_log_phrases((REPO / name).read_text(encoding="utf-8")) == []


def test_the_phrase_check_finds_history_wording():
    text = "A table.\nMEPSNet was last (before: +0.9 dB); now first.\nThis session measured it.\n"
    found = development_log_phrases(text)
    assert [f.split(":")[0] for f in found] == ["line 2"] * 3 + ["line 3"]
    assert development_log_phrases("Nowhere known; a snowy image.") == []


def test_generated_tables_match_the_committed_results_files():
    """Fails when a results file changed and `python -m companion ledger` did not rewrite README's tables."""
    text = README.read_text(encoding="utf-8")
    assert ledger.readme_text(text) == text, "README's generated tables are stale: run `python -m companion ledger`"


def test_every_headline_names_a_committed_measurement():
    docs = {doc["notebook"]: doc for doc in ledger.load_results([ledger.QUICK_RESULTS_DIR])}
    paper = {e["id"]: e for e in ledger.load_paper()}
    for h in ledger.HEADLINES:
        keys = {m["key"]: m for m in docs[h.notebook]["measurements"]}
        assert h.key in keys, f"{h.notebook} records no {h.key!r}"
        m = keys[h.key]
        entry = h.paper_entry or m.get("entry")
        assert entry in paper, h
        if paper[entry].get("kind") == "table":
            assert ledger.paper_value(paper[entry], h.paper_row or m.get("row"),
                                      h.paper_column or m.get("column")) is not None, h


def test_headline_and_notebook_tables_come_from_the_files(tmp_path):
    results, notebooks = tmp_path / "results", tmp_path / "notebooks"
    results.mkdir()
    notebooks.mkdir()
    (results / "07b.json").write_text(json.dumps({
        "notebook": "07b_x", "wall_seconds": 269.03, "measurements": [
            {"key": "psnr", "value": "23.64 ± 0.18", "entry": "Table 7.1", "row": "MEPSNet",
             "column": "Moderate PSNR", "status": "small-scale"}]}))
    (notebooks / "07b_x.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["# 07b · MEPSNet on SHDD\n", "prose"]}]}))
    (notebooks / "08a_new.ipynb").write_text(json.dumps({"cells": []}))
    headlines = (ledger.Headline("7", "MEPSNet moderate", "07b_x", "psnr"),
                 ledger.Headline("7", "missing", "07b_x", "nothing", paper_entry="Table 7.1", paper_row="DnCNN",
                                 paper_column="Easy PSNR"))
    table = ledger.headline_table(results, headlines=headlines)
    assert "| 7 | MEPSNet moderate | 33.47 | 23.64 ± 0.18 | measured at small scale | [07b_x]" in table
    assert "| 7 | missing | 25.29 | — | not yet |" in table
    rows = ledger.notebook_table(notebooks, results).splitlines()
    assert rows[2] == "| [`07b_x`](notebooks/07b_x.ipynb) | Ch. 7 | MEPSNet on SHDD | 4.5 min |"
    assert rows[3] == "| [`08a_new`](notebooks/08a_new.ipynb) | Ch. 8 | 08a_new | — |"


def test_write_readme_tables_rewrites_only_what_changed(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# R\n\n<!-- headline:start -->\nold\n<!-- headline:end -->\n\n"
                      "<!-- notebooks:start -->\n<!-- notebooks:end -->\ntail\n")
    assert ledger.write_readme_tables(readme) is True
    text = readme.read_text()
    assert "old" not in text and "| chapter | result | paper | ours | status | notebook |" in text
    assert text.startswith("# R\n") and text.endswith("<!-- notebooks:end -->\ntail\n")
    os.utime(readme, (1_000_000, 1_000_000))
    assert ledger.write_readme_tables(readme) is False
    assert readme.stat().st_mtime == 1_000_000, "an unchanged README must not be rewritten"
    readme.write_text("# R without markers\n")
    with pytest.raises(CompanionError, match="README needs one <!-- headline:start --> line"):
        ledger.write_readme_tables(readme)


def test_local_links_of_readme_and_contributing_exist():
    for name in ("README.md", "CONTRIBUTING.md", "docs/decisions.md", "benchmarks/README.md"):
        path = REPO / name
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            assert (path.parent / target).exists(), f"{name} links to missing {target}"
