"""The book: a static website of every committed figure, one page per chapter (``make book``).

The committed notebooks carry no outputs and a quick run of all of them takes a quarter of an hour, so the
book is built from committed files only, in seconds:

- each notebook's prose (its markdown cells, rendered with mistune) and, folded away, its code cells;
- under the prose, the notebook's conclusions: the Markdown paragraphs its run rendered from its measurements
  (``run.conclude``) into its results file ``figures/results/<notebook>.json`` (``"conclusions"``); nothing
  when the file has none;
- every PNG in ``figures/`` (and ``figures/full/``): the provenance the notebook run wrote into it
  (:meth:`companion.session.NotebookRun.save_figure`: notebook, profile, seed, commit, device, read with
  Pillow), the paper entry it reproduces (the notebook's results file ``figures/results/<notebook>.json``,
  else the figure's name: ``fig7_3_*`` -> Figure 7.3, ``table2_3_*`` -> Table 2.3) with that entry's caption
  from ``companion/paper/thesis.json``, and the entry's section of ``figures/LEDGER.md`` beside it.

A figure goes to the chapter of the notebook named in its provenance (``00_*`` -> the tour, ``07d_*`` ->
Chapter 7), so figures of notebooks added later land on the right page without any change here; one without
provenance goes to an "Other figures" page, so every figure is in the book. Inside its notebook's section a
figure follows the code cell that names it (or, failing that, the cell after the markdown that names its
paper entry); the rest close the section. Pages are jinja2 templates; the site needs no network (no
JavaScript, no web fonts) and is written atomically (built next to the destination, then swapped in).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from companion.errors import CompanionError

REPO_ROOT = Path(__file__).resolve().parents[1]
FIGURES_DIR = REPO_ROOT / "figures"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PAPER_FILE = REPO_ROOT / "companion" / "paper" / "thesis.json"
OUT_DIR = REPO_ROOT / "runs" / "book"
OTHER = "other"


@dataclass
class Figure:
    """One PNG of ``figures/`` with what the book says about it."""

    name: str
    path: Path
    subdir: str = ""                 # "" for figures/, "full" for figures/full/
    provenance: dict = field(default_factory=dict)
    description: str = ""
    entry: str | None = None         # "Figure 7.3", "Table 2.3" or None
    caption: str = ""                # the paper's caption of ``entry``
    ledger_html: str = ""
    width: int = 0
    height: int = 0

    @property
    def notebook(self) -> str | None:
        return self.provenance.get("notebook")

    @property
    def href(self) -> str:
        return "figures/" + (f"{self.subdir}/" if self.subdir else "") + self.path.name

    @property
    def anchor(self) -> str:
        return (f"{self.subdir}-" if self.subdir else "") + self.name


def chapter_of(notebook: str | None) -> str:
    """The page of a notebook: ``"00"`` for the tour (``00_*``), ``"07"`` for ``07d_*``; :data:`OTHER` when
    the name does not start with two digits (or there is no notebook)."""
    m = re.match(r"(\d\d)", notebook or "")
    return m.group(1) if m else OTHER


def chapter_title(chapter: str) -> str:
    if chapter == OTHER:
        return "Other figures"
    return "Tour" if int(chapter) == 0 else f"Chapter {int(chapter)}"


def page_name(chapter: str) -> str:
    return f"chapter-{chapter}.html"


def read_provenance(path: Path) -> tuple[dict, str, tuple[int, int]]:
    """(provenance dict, description, size) from a figure's PNG text chunks; ({}, "", size) without them."""
    # reason: Pillow is needed only when the book is built, not when the module is imported
    from PIL import Image

    with Image.open(path) as im:  # the text chunks come before the pixels: ``info`` has them without decoding
        text = {k: v for k, v in im.info.items() if isinstance(v, str)}
        size = im.size
    try:
        provenance = json.loads(text.get("Comment", "") or "{}")
    except json.JSONDecodeError:
        provenance = {}
    return (provenance if isinstance(provenance, dict) else {}), text.get("Description", ""), size


def entry_from_name(name: str) -> str | None:
    """The paper entry a figure's name points at: ``fig7_3_levels`` -> Figure 7.3, ``table2_3_x`` -> Table 2.3."""
    m = re.match(r"(fig|table)(\d+)_(\d+)(?:_|$)", name)
    if not m:
        return None
    return f"{'Figure' if m.group(1) == 'fig' else 'Table'} {int(m.group(2))}.{int(m.group(3))}"


def results_entries(figures_dir: Path) -> dict[tuple[str, str], str]:
    """``(notebook, figure name) -> paper entry`` from the notebooks' results files (``<dir>/results``)."""
    out = {}
    for path in sorted((figures_dir / "results").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for fig in data.get("figures", []) or []:
            if isinstance(fig, dict) and fig.get("entry") and fig.get("name"):
                out[(data.get("notebook", path.stem), fig["name"])] = fig["entry"]
    return out


def results_conclusions(figures_dir: Path, notebook: str) -> list[str]:
    """The conclusions (Markdown paragraphs) a notebook's run wrote into ``<figures_dir>/results/<notebook>.json``
    with ``run.conclude``; [] when the file or the list is absent (a run from before ``conclude`` existed)."""
    path = Path(figures_dir) / "results" / f"{notebook}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    found = data.get("conclusions") if isinstance(data, dict) else None
    if not isinstance(found, list):
        return []
    return [p.strip() for p in found if isinstance(p, str) and p.strip()]


def ledger_sections(text: str) -> dict[str, str]:
    """The markdown of each ``### <entry>: <status>`` section of ``LEDGER.md``, keyed by entry."""
    sections, current, lines = {}, None, []

    def close():
        if current:
            sections[current] = f"**{heading_text}**\n\n" + "\n".join(lines).strip()

    heading_text = ""
    for line in text.splitlines():
        heading = re.match(r"(#{1,3}) (.+?)\s*$", line)
        if heading:
            close()
            current, lines = None, []
            if len(heading.group(1)) == 3:
                heading_text = heading.group(2)
                current = heading_text.split(":", 1)[0].strip()
            continue
        if current:
            lines.append(line)
    close()
    return sections


def _markdown():
    # reason: mistune is needed only when the book is built
    import mistune

    return mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])


def _shift_headings(rendered: str, by: int = 1) -> str:
    """h1 -> h2 ... so that a notebook's title sits under the chapter's."""
    return re.sub(r"<(/?)h([1-5])\b", lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + by)}", rendered)


def collect_figures(figures_dir: Path = FIGURES_DIR, paper_file: Path = PAPER_FILE) -> list[Figure]:
    """Every PNG of ``figures_dir`` (and its ``full/``), with provenance, paper entry, caption and ledger."""
    paper = {e["id"]: e for e in json.loads(paper_file.read_text(encoding="utf-8"))["entries"]}
    ledger_file = figures_dir / "LEDGER.md"
    ledger = ledger_sections(ledger_file.read_text(encoding="utf-8")) if ledger_file.exists() else {}
    by_results = results_entries(figures_dir)
    md = _markdown()
    figures = []
    for subdir in ("", "full"):
        folder = figures_dir / subdir if subdir else figures_dir
        for path in sorted(folder.glob("*.png")):
            if path.name.startswith("."):  # an interrupted atomic write
                continue
            provenance, description, (width, height) = read_provenance(path)
            fig = Figure(path.stem, path, subdir, provenance, description, width=width, height=height)
            fig.entry = by_results.get((fig.notebook, fig.name)) or entry_from_name(fig.name)
            if fig.entry in paper:
                fig.caption = paper[fig.entry].get("caption", "")
            if fig.entry in ledger:  # its links are relative to figures/, the site keeps them in figures/
                fig.ledger_html = re.sub(r'(href|src)="(?![a-z]+:|/|#)([^"]+)"', r'\1="figures/\2"',
                                         md(ledger[fig.entry]))
            figures.append(fig)
    return figures


@dataclass
class Section:
    """One notebook on a chapter page: its blocks of HTML (prose, folded code, figures) in order."""

    notebook: str
    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)  # ("html", str) | ("code", str) | ("figure", Figure)


def notebook_section(path: Path, figures: list[Figure], md, conclusions: list[str] = ()) -> Section:
    """The prose and code of one notebook with its figures placed after the cell that makes them, then its
    conclusions (Markdown paragraphs from its results file)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [(c["cell_type"], "".join(c.get("source", ""))) for c in nb.get("cells", [])]
    title = path.stem
    for kind, src in cells:
        if kind == "markdown":
            m = re.search(r"^#\s+(.+)$", src, flags=re.M)
            if m:
                title = m.group(1).strip()
                break
    placed: dict[int, list[Figure]] = {}
    left = []
    for fig in figures:
        spot = next((i for i, (kind, src) in enumerate(cells) if kind == "code" and fig.name in src), None)
        if spot is None and fig.entry:
            number = fig.entry.split()[-1]
            word = "Fig(?:ure|\\.)" if fig.entry.startswith("Figure") else "Table"
            mention = re.compile(rf"{word}\s*{re.escape(number)}(?!\d)")
            for i, (kind, src) in enumerate(cells):
                if kind == "markdown" and mention.search(src):
                    spot = next((j for j in range(i + 1, len(cells)) if cells[j][0] == "code"), None)
                    break
        if spot is None:
            left.append(fig)
        else:
            placed.setdefault(spot, []).append(fig)
    section = Section(path.stem, title)
    for i, (kind, src) in enumerate(cells):
        if kind == "markdown":
            section.blocks.append(("html", _shift_headings(md(src))))
        elif kind == "code" and src.strip():
            section.blocks.append(("code", src))
        for fig in placed.get(i, []):
            section.blocks.append(("figure", fig))
    if conclusions:
        section.blocks.append(("html", '<div class="conclusions"><h3>Conclusions of this run</h3>\n'
                               + "\n".join(md(p) for p in conclusions) + "</div>"))
    if left:
        section.blocks.append(("html", "<h3>More figures of this notebook</h3>"))
        section.blocks.extend(("figure", fig) for fig in left)
    return section


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d1d1f; line-height: 1.5; }
header { background: #243447; color: white; padding: 0.8em 2em; }
header a { color: #cfe3ff; margin-right: 1.2em; text-decoration: none; }
main { max-width: 1500px; margin: 0 auto; padding: 1em 2em 4em; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.88em; }
pre { background: #f5f6f8; padding: 0.6em; overflow-x: auto; }
details.code summary { cursor: pointer; color: #555; font-size: 0.9em; }
figure.fig { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.2em;
             border-top: 1px solid #ddd; margin: 1.5em 0; padding-top: 1em; }
figure.fig img { max-width: 100%; height: auto; border: 1px solid #eee; }
figure.fig aside { font-size: 0.85em; max-height: 42em; overflow-y: auto; overflow-x: hidden;
                   overflow-wrap: anywhere; }
figure.fig aside table { table-layout: fixed; width: 100%; }
figure.fig aside td, figure.fig aside th { overflow-wrap: anywhere; word-break: break-word; }
div.conclusions { border-left: 3px solid #243447; padding-left: 1em; margin: 1.5em 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.5em; vertical-align: top; }
table.provenance td:first-child { color: #555; }
.caption { font-weight: 600; }
.muted { color: #666; }
@media (max-width: 1000px) { figure.fig { grid-template-columns: 1fr; } }
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Efficient deep image restoration, the companion</title><style>{{ style }}</style></head>
<body><header><a href="index.html"><b>The companion book</b></a>
{% for ch in chapters %}<a href="{{ ch.page }}">{{ ch.title }}</a>{% endfor %}</header>
<main>{% block main %}{% endblock %}</main></body></html>"""

INDEX = """{% extends "base" %}{% block main %}
<h1>Efficient deep image restoration: the companion's figures</h1>
<p>Every figure the notebooks committed to <code>figures/</code>, on the page of its chapter, with the paper's
caption, the reproduction ledger's entry (<code>figures/LEDGER.md</code>) beside it and the provenance the run
wrote into the PNG. Built {{ built }} from commit {{ commit }} by <code>make book</code>; the notebooks' prose
is the committed text, the figures are those of the last quick-profile run (profile per figure below).</p>
<table><tr><th>page</th><th>notebooks</th><th>figures</th></tr>
{% for ch in chapters %}<tr><td><a class="chapter" href="{{ ch.page }}">{{ ch.title }}</a></td>
<td>{{ ch.notebooks | join(", ") }}</td><td>{{ ch.figures | length }}</td></tr>{% endfor %}</table>
<h2>All figures</h2><table><tr><th>figure</th><th>paper entry</th><th>notebook</th><th>profile</th></tr>
{% for ch in chapters %}{% for fig in ch.figures %}<tr><td><a href="{{ ch.page }}#{{ fig.anchor }}">{{ fig.name }}</a></td>
<td>{{ fig.entry or "" }}</td><td>{{ fig.notebook or "unknown" }}</td>
<td>{{ fig.provenance.get("profile", "") }}</td></tr>{% endfor %}{% endfor %}</table>
{% endblock %}"""

CHAPTER = """{% extends "base" %}{% block main %}
<h1>{{ chapter.title }}</h1>
{% macro figure(fig) %}<figure class="fig" id="{{ fig.anchor }}">
<div><a href="{{ fig.href }}"><img src="{{ fig.href }}" alt="{{ fig.name }}" width="{{ fig.width }}"
 height="{{ fig.height }}" loading="lazy"></a>
<figcaption>{% if fig.entry %}<p><span class="caption">{{ fig.entry }}</span>{% if fig.caption %} (paper):
{{ fig.caption }}{% else %} <span class="muted">(no caption transcribed)</span>{% endif %}</p>{% endif %}
<p><b>{{ fig.name }}</b>{% if fig.description %}: {{ fig.description }}{% endif %}</p>
<table class="provenance">{% for key in ["notebook", "profile", "seed", "commit", "device"] %}
<tr><td>{{ key }}</td><td>{{ fig.provenance.get(key, "not recorded") }}</td></tr>{% endfor %}
<tr><td>file</td><td><code>figures/{{ fig.subdir + "/" if fig.subdir else "" }}{{ fig.path.name }}</code>
({{ fig.width }}×{{ fig.height }} px)</td></tr></table></figcaption></div>
<aside>{% if fig.ledger_html %}<p class="muted">Ledger entry (figures/LEDGER.md)</p>{{ fig.ledger_html | safe }}
{% elif fig.entry %}<p class="muted">{{ fig.entry }} has no ledger entry yet.</p>
{% else %}<p class="muted">A companion figure: it reproduces no single paper entry, so the ledger has none.</p>
{% endif %}</aside></figure>{% endmacro %}
{% for section in chapter.sections %}<section id="{{ section.notebook }}">
<p class="muted">notebook <code>notebooks/{{ section.notebook }}.ipynb</code></p>
{% for kind, value in section.blocks %}{% if kind == "html" %}{{ value | safe }}
{% elif kind == "code" %}<details class="code"><summary>code</summary><pre><code>{{ value }}</code></pre></details>
{% else %}{{ figure(value) }}{% endif %}{% endfor %}</section>{% endfor %}
{% if chapter.loose %}<h2>Figures of notebooks not in notebooks/</h2>
{% for fig in chapter.loose %}{{ figure(fig) }}{% endfor %}{% endif %}
{% endblock %}"""


def _swap_in(built: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``built`` folder (two renames; the old site is removed afterwards)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(built, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_book(out_dir: Path = OUT_DIR, *, figures_dir: Path = FIGURES_DIR, notebooks_dir: Path = NOTEBOOKS_DIR,
               paper_file: Path = PAPER_FILE, progress: bool = True) -> Path:
    """Build the site into ``out_dir`` (replaced whole); return its ``index.html``."""
    # reason: jinja2 is needed only when the book is built
    import jinja2
    # reason: tqdm is needed only when the book is built
    from tqdm.auto import tqdm

    # reason: companion.session imports NumPy, which building the book otherwise never needs
    from companion.session import git_commit

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CompanionError(f"{out_dir} is a file; the book needs a folder there")
    if not Path(figures_dir).is_dir():
        raise CompanionError(f"no figures folder at {figures_dir}; run `make reproduce` first")
    figures = collect_figures(Path(figures_dir), Path(paper_file))
    notebooks = {p.stem: p for p in sorted(Path(notebooks_dir).glob("*.ipynb"))}
    pages: dict[str, dict] = {}
    for stem in notebooks:
        pages.setdefault(chapter_of(stem), {"notebooks": []})["notebooks"].append(stem)
    for fig in figures:
        pages.setdefault(chapter_of(fig.notebook), {"notebooks": []})
    md = _markdown()
    chapters = []
    for chapter in sorted(pages, key=lambda c: (c == OTHER, c)):
        stems = pages[chapter]["notebooks"]
        mine = [f for f in figures if chapter_of(f.notebook) == chapter]
        sections = [notebook_section(notebooks[s], [f for f in mine if f.notebook == s], md,
                                     results_conclusions(Path(figures_dir), s)) for s in stems]
        loose = [f for f in mine if f.notebook not in stems]
        chapters.append({"id": chapter, "title": chapter_title(chapter), "page": page_name(chapter),
                         "notebooks": stems, "sections": sections, "loose": loose,
                         "figures": [b[1] for s in sections for b in s.blocks if b[0] == "figure"] + loose})
    env = jinja2.Environment(loader=jinja2.DictLoader({"base": BASE, "index": INDEX, "chapter": CHAPTER}),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    common = {"style": STYLE, "chapters": chapters}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        (build / "figures" / "full").mkdir(parents=True)
        for fig in tqdm(figures, desc="book: figures", unit="fig", disable=not progress):
            shutil.copy2(fig.path, build / fig.href)
        (build / "index.html").write_text(env.get_template("index").render(
            title="Figures", built=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            commit=html.escape(git_commit()), **common), encoding="utf-8")
        for chapter in chapters:
            (build / chapter["page"]).write_text(env.get_template("chapter").render(
                title=chapter["title"], chapter=chapter, **common), encoding="utf-8")
        build.chmod(0o755)
        _swap_in(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return out_dir / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion.book", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    parser.add_argument("--figures", type=Path, default=FIGURES_DIR, help="figures folder (default figures/)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        index = build_book(args.out, figures_dir=args.figures)
    except CompanionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n = len(list((args.out / "figures").rglob("*.png")))
    print(f"book: {n} figures, {len(list(args.out.glob('chapter-*.html')))} pages, built in "
          f"{time.perf_counter() - started:.1f} s -> {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
