"""The book (``make book``): every figure of figures/ on its chapter's page, with caption, ledger entry and
provenance; figures of notebooks added later land on their chapter's page by themselves."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from companion import book
from companion.errors import CompanionError
from tests.conftest import make_notebook

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The book of the committed figures and notebooks, built once for this module."""
    out = tmp_path_factory.mktemp("book") / "site"
    return book.build_book(out, progress=False).parent


def _pages(site: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in site.glob("*.html")}


def _figure_block(html: str, anchor: str) -> str:
    m = re.search(rf'<figure class="fig" id="{re.escape(anchor)}">(.*?)</figure>', html, flags=re.S)
    assert m, f"no figure {anchor}"
    return m.group(1)


def test_every_committed_figure_is_in_the_book_on_its_notebooks_chapter(built):
    pages = _pages(built)
    figures = sorted((REPO / "figures").glob("*.png")) + sorted((REPO / "figures" / "full").glob("*.png"))
    assert figures, "no committed figures to check"
    for path in figures:
        subdir = "full/" if path.parent.name == "full" else ""
        src = f'src="figures/{subdir}{path.name}"'
        hits = [name for name, html in pages.items() if src in html]
        assert hits, f"{path.relative_to(REPO)} is not in the book"
        assert (built / "figures" / f"{subdir}{path.name}").read_bytes() == path.read_bytes()
        provenance, _, _ = book.read_provenance(path)
        expected = book.page_name(book.chapter_of(provenance.get("notebook")))
        assert expected in hits, f"{path.name} (notebook {provenance.get('notebook')}) is not on {expected}"


def test_a_figure_shows_the_paper_caption_ledger_entry_and_provenance(built):
    html = (built / "chapter-07.html").read_text(encoding="utf-8")
    block = _figure_block(html, "fig7_3_levels")
    paper = {e["id"]: e for e in json.loads(book.PAPER_FILE.read_text(encoding="utf-8"))["entries"]}
    caption = paper["Figure 7.3"]["caption"]
    assert "Figure 7.3" in block and caption[:60].replace("&", "&amp;") in block
    assert "Ledger entry" in block and "Figure 7.3:" in block  # the ledger section's heading line
    assert 'href="figures/fig7_3_levels.png"' in block, "the ledger's link must point into the site's figures/"
    provenance, _, _ = book.read_provenance(REPO / "figures" / "fig7_3_levels.png")
    for key in ("notebook", "profile", "seed", "commit", "device"):
        assert f"<td>{key}</td><td>{provenance[key]}</td>" in block


def test_index_links_every_page_and_lists_every_figure(built):
    index = (built / "index.html").read_text(encoding="utf-8")
    pages = sorted(p.name for p in built.glob("chapter-*.html"))
    assert sorted(set(re.findall(r'<a class="chapter" href="([^"]+)"', index))) == pages
    for path in (REPO / "figures").glob("*.png"):
        assert f"#{path.stem}\">{path.stem}</a>" in index


def _figure(path: Path, notebook: str | None, description: str = "a test figure") -> Path:
    info = PngInfo()
    info.add_text("Title", path.stem)
    info.add_text("Description", description)
    if notebook:
        info.add_text("Comment", json.dumps({"commit": "abc123", "device": "cpu", "notebook": notebook,
                                             "profile": "quick", "seed": 0}))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 20), "red").save(path, pnginfo=info)
    return path


def test_figures_of_a_new_notebook_land_on_their_chapter(tmp_path):
    """A Chapter 3 notebook added later: its figures go to chapter-03.html, placed after the cell that makes
    them, with the thesis caption; a figure without provenance goes to the 'other' page; one of a notebook not
    in notebooks/ still appears."""
    figures, notebooks = tmp_path / "figures", tmp_path / "notebooks"
    make_notebook(notebooks / "03_progressive_x8.ipynb", ["PROFILE = 'quick'", "fig3_1_curves(run)"])
    nb = json.loads((notebooks / "03_progressive_x8.ipynb").read_text())
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "md0", "metadata": {},
                           "source": "# 03 · Progressive x8\n\nProse about **Fig. 3.1**."})
    (notebooks / "03_progressive_x8.ipynb").write_text(json.dumps(nb))
    _figure(figures / "fig3_1_curves.png", "03_progressive_x8")
    _figure(figures / "pcarn_extra.png", "03_progressive_x8")
    _figure(figures / "mystery.png", None)
    _figure(figures / "full" / "fig7_1_modality.png", "07a_shdd_gone")
    (figures / "LEDGER.md").write_text("# Ledger\n\n## Chapter 3\n\n### Figure 3.1: measured at small scale\n\n"
                                       "| a | b |\n|---|---|\n| 1 | 2 |\n\n### Figure 3.2: not yet\n")
    site = book.build_book(tmp_path / "site", figures_dir=figures, notebooks_dir=notebooks, progress=False).parent
    ch3 = (site / "chapter-03.html").read_text(encoding="utf-8")
    assert "<h2>03 · Progressive x8</h2>" in ch3 and "<strong>Fig. 3.1</strong>" in ch3
    block = _figure_block(ch3, "fig3_1_curves")
    paper = {e["id"]: e for e in json.loads(book.PAPER_FILE.read_text(encoding="utf-8"))["entries"]}
    assert paper["Figure 3.1"]["caption"][:40] in block
    assert "<table>" in block and "<td>2</td>" in block, "the ledger's table is rendered beside the figure"
    assert ch3.index('id="fig3_1_curves"') < ch3.index("More figures") < ch3.index('id="pcarn_extra"')
    assert ch3.index("fig3_1_curves(run)") < ch3.index('id="fig3_1_curves"')
    other = (site / "chapter-other.html").read_text(encoding="utf-8")
    assert 'src="figures/mystery.png"' in other and "not recorded" in other
    ch7 = (site / "chapter-07.html").read_text(encoding="utf-8")
    assert 'src="figures/full/fig7_1_modality.png"' in ch7


def test_the_build_replaces_the_old_site_whole(tmp_path):
    figures = tmp_path / "figures"
    _figure(figures / "fig2_9_x.png", "02a_carn")
    out = tmp_path / "site"
    out.mkdir()
    (out / "stale.html").write_text("old")
    book.build_book(out, figures_dir=figures, notebooks_dir=tmp_path / "none", progress=False)
    assert not (out / "stale.html").exists() and (out / "chapter-02.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")], "the build folder is left behind"


def test_ledger_sections_and_names():
    text = "# L\n\n## Chapter 7\n\n### Figure 7.3: exact\n\n- a\n\n### Table 7.1: not yet\n\nb\n\n## Chapter 8\n\nc\n"
    sections = book.ledger_sections(text)
    assert sections == {"Figure 7.3": "**Figure 7.3: exact**\n\n- a", "Table 7.1": "**Table 7.1: not yet**\n\nb"}
    assert book.entry_from_name("fig7_3_levels") == "Figure 7.3"
    assert book.entry_from_name("table2_3_initialisation") == "Table 2.3"
    assert book.entry_from_name("figure_x") is None and book.entry_from_name("eq2_10_saving") is None
    assert book.chapter_of("00_quickstart") == "00" and book.chapter_of("07d_x") == "07"
    assert book.chapter_of(None) == book.OTHER


def test_command_line_and_errors(tmp_path, capsys):
    assert book.main(["--out", str(tmp_path / "site"), "--figures", str(tmp_path / "missing")]) == 1
    assert "no figures folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(CompanionError, match="is a file"):
        book.build_book(tmp_path / "file", progress=False)


def test_conclusions_from_the_results_file_render_under_the_prose(tmp_path):
    """A results file with ``conclusions`` (what ``run.conclude`` writes): its paragraphs appear after the
    notebook's prose and code, before the leftover figures; a results file without them renders nothing."""
    figures, notebooks = tmp_path / "figures", tmp_path / "notebooks"
    make_notebook(notebooks / "03_progressive_x8.ipynb", ["PROFILE = 'quick'", "print('last cell')"])
    make_notebook(notebooks / "07b_mepsnet_training.ipynb", ["PROFILE = 'quick'"])
    _figure(figures / "loose_figure.png", "03_progressive_x8")
    (figures / "results").mkdir(parents=True)
    (figures / "results" / "03_progressive_x8.json").write_text(json.dumps({
        "notebook": "03_progressive_x8", "measurements": [], "figures": [],
        "conclusions": ["At ×8 the progressive model scores **25.54 dB** against bicubic's 25.80.",
                        "All three claims are *unclear* at this scale."]}))
    (figures / "results" / "07b_mepsnet_training.json").write_text(json.dumps({
        "notebook": "07b_mepsnet_training", "measurements": [], "figures": []}))
    site = book.build_book(tmp_path / "site", figures_dir=figures, notebooks_dir=notebooks, progress=False).parent
    ch3 = (site / "chapter-03.html").read_text(encoding="utf-8")
    assert "<strong>25.54 dB</strong>" in ch3 and "<em>unclear</em>" in ch3
    assert ch3.index("last cell") < ch3.index("Conclusions of this run") < ch3.index("25.54") \
        < ch3.index("More figures")
    ch7 = (site / "chapter-07.html").read_text(encoding="utf-8")
    assert "Conclusions of this run" not in ch7
    assert book.results_conclusions(figures, "07b_mepsnet_training") == []
    assert book.results_conclusions(figures, "no_such_notebook") == []
    (figures / "results" / "bad.json").write_text("{")
    assert book.results_conclusions(figures, "bad") == []


def test_ledger_boxes_wrap_instead_of_scrolling_sideways(built):
    html = (built / "chapter-07.html").read_text(encoding="utf-8")
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", html.split("<style>", 1)[1].split("</style>", 1)[0]))
    aside = next(body for selector, body in rules.items() if selector.strip() == "figure.fig aside")
    assert "overflow-x: hidden" in aside and "overflow-wrap: anywhere" in aside
    assert "overflow-x: auto" not in aside
    cells = next(body for selector, body in rules.items() if "aside td" in selector)
    assert "overflow-wrap: anywhere" in cells
