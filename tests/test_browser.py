"""End to end in a real browser: JupyterLab runs every notebook (smoke profile) in headless Chromium, the widgets
are moved and timed, and the book opens.

A JupyterLab server is started on a free local port with a random token, on *copies* of the notebooks in a
temporary folder (JupyterLab saves what it runs; the committed notebooks stay untouched), with its own
configuration, data, settings and runtime folders, and ``COMPANION_PROFILE=smoke`` so the parameters cell picks
the smoke profile (figures and scratch data go to the temporary folder too). The server runs in its own
process group with Linux's parent-death signal armed: it is killed at the end of the module, and by the kernel
if pytest itself is killed; its kernels follow it (ipykernel watches its parent). Playwright drives Debian's
``chromium`` (``executable_path``: no browser is ever downloaded); Playwright's driver closes the browser when
pytest goes away.

Each notebook is opened, run with JupyterLab's own "Run All Cells" and then checked: every code cell ran, no
error output, and no "Error displaying widget", traceback or raw widget repr (``VBox(children=...``) on the
page. The widgets are then moved like a user would (a dropdown choice, a slider key press), and each update
is timed in the browser, from the input event to the new picture decoded (``img.decode()``) and a frame
later; the picture's bytes must change and its aspect ratio must be kept. Scratch notebooks do the same at
512 × 512 (the quick profile's playground size). Timings go to ``runs/browser/latency.json`` and screenshots
to ``runs/browser/``. Skips, saying why, when Playwright or Chromium is missing (``.ci/run`` installs
Chromium; ``apt-get install chromium`` by hand).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from companion.runner import available_notebooks

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "runs" / "browser"
#: Longest acceptable median update, control change to new picture shown (ms). The target is 100 ms at 512 px on
#: a quiet 2-core machine (measured there: 40-90 ms); this bound leaves room for a machine busy with other work
#: (at a load average of 11 on 2 cores medians reached 140-225 ms) and still fails a widget that redraws a
#: matplotlib figure per change (0.9-1.3 s in the browser before this test existed).
LATENCY_LIMIT_MS = 400
#: Generous limits: on a 2-core machine shared with other work, starting JupyterLab alone took over 90 s.
NOTEBOOK_TIMEOUT_S = 600
START_TIMEOUT_S = 300
ACTION_TIMEOUT_MS = 120_000
WIDGET_REPR = re.compile(r"\b(?:VBox|HBox|Box|GridBox|Image|Dropdown|IntSlider|FloatSlider|ToggleButtons|FileUpload)"
                         r"\((?:children|value|layout|options|description)=")


def _chromium() -> str | None:
    """Debian's Chromium binary (the real one, not the /usr/bin wrapper script), or $COMPANION_CHROMIUM."""
    for candidate in (os.environ.get("COMPANION_CHROMIUM"), "/usr/lib/chromium/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _chromium()
try:
    import playwright.sync_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="Python playwright is not installed (`make venv` installs the "
                                                   "[test] extra, which pins it)"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: `apt-get install chromium` (Debian; .ci/run does it "
                                                "when it can), or set COMPANION_CHROMIUM to a Chromium binary"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_pytest():
    """preexec_fn of the server: SIGKILL it when pytest dies (Linux parent-death signal)."""
    from companion.processes import _kernel_death_signal

    _kernel_death_signal()


def _settings(folder: Path) -> None:
    """JupyterLab user settings for the test: every cell attached to the page (widgets render off-screen too),
    no news or update checks (nothing leaves the machine), no autosave of the copies."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                            "checkForUpdates": False},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }
    for name, value in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab: ``{"url", "token", "root", "log"}``; killed with its kernels at the end."""
    from companion.kernel import KERNEL_NAME, installed_kernel

    if installed_kernel() is None:
        pytest.fail(f"the notebooks' Jupyter kernel {KERNEL_NAME!r} is not installed in {sys.prefix}; run "
                    "`make kernel` (make venv does it)")
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    for path in available_notebooks():
        shutil.copy2(path, root / path.name)
    _settings(base / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, COMPANION_PROFILE="smoke", COMPANION_FIGURES_DIR=str(base / "figures"),
               COMPANION_WORK_DIR=str(base / "work"), JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_DATA_DIR=str(base / "data"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               IPYTHONDIR=str(base / "ipython"), PYTHONPATH=os.pathsep.join(
                   [str(REPO), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               f"--LabApp.user_settings_dir={base / 'settings'}", f"--LabApp.workspaces_dir={base / 'workspaces'}"]
    if os.getuid() == 0:
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_pytest)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on {url} within {START_TIMEOUT_S} s: "
                            f"{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield {"url": url, "token": token, "root": root, "log": log, "base": base}
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(server.pid, signal.SIGKILL)  # kernels left in the group
        except ProcessLookupError:
            pass
        server.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox"] if os.getuid() == 0 else [])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


LATENCY = {}  # (widget, size) -> {control: [ms, ...]}; written to runs/browser/latency.json


def _record(widget: str, size: str, control: str, ms: float) -> None:
    LATENCY.setdefault(f"{widget} {size}", {}).setdefault(control, []).append(round(ms, 1))
    SHOTS.mkdir(parents=True, exist_ok=True)
    summary = {key: {c: {"median_ms": statistics.median(v), "max_ms": max(v), "n": len(v), "all_ms": v}
                     for c, v in controls.items()} for key, controls in LATENCY.items()}
    (SHOTS / "latency.json").write_text(json.dumps(summary, indent=1))


def _open_and_run(page, lab, name: str) -> dict:
    """Open ``name`` in JupyterLab, wait for its kernel, Run All Cells; return the notebook model as JSON."""
    page.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}", timeout=START_TIMEOUT_S * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.context"
                           f" && window.jupyterapp.shell.currentWidget.context.path === {json.dumps(name)}",
                           timeout=START_TIMEOUT_S * 1000)
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.context.ready;
        await panel.sessionContext.ready;
        const start = Date.now();
        while (!(panel.sessionContext.session && panel.sessionContext.session.kernel
                 && panel.sessionContext.session.kernel.status === 'idle')) {
            if (Date.now() - start > 180000) throw new Error('kernel not idle after 180 s: '
                + (panel.sessionContext.session && panel.sessionContext.session.kernel
                   ? panel.sessionContext.session.kernel.status : 'no kernel'));
            await new Promise(r => setTimeout(r, 200));
        }
    }""")
    kernel = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name")
    assert kernel == "companion", f"{name} ran on kernel {kernel!r}, not the project's 'companion'"
    page.evaluate("""async (limit) => {
        const run = window.jupyterapp.commands.execute('notebook:run-all-cells');
        const timeout = new Promise((_, no) => setTimeout(() => no(new Error(`still running after ${limit} s`)),
                                                          limit * 1000));
        await Promise.race([run, timeout]);
        const panel = window.jupyterapp.shell.currentWidget;
        while (panel.sessionContext.session.kernel.status !== 'idle') await new Promise(r => setTimeout(r, 100));
    }""", NOTEBOOK_TIMEOUT_S)
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.toJSON()")


def _shutdown_kernel(page) -> None:
    """Stop the notebook's kernel (each holds torch in memory; the machine has two cores and 24 GB)."""
    page.evaluate("""async () => {
        const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        if (panel && panel.sessionContext && panel.sessionContext.session) await panel.sessionContext.shutdown();
    }""")


def _check_page(page, name: str, model: dict) -> None:
    """Every code cell ran, without error outputs; the page shows no widget error, traceback or widget repr."""
    for i, cell in enumerate(model["cells"]):
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", (
                f"{name} cell {i + 1} raised {out.get('ename')}: {out.get('evalue')}")
        assert cell.get("execution_count") is not None, f"{name} cell {i + 1} did not run"
    page.wait_for_timeout(500)  # let widget views finish rendering
    text = page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    assert "Error displaying widget" not in text, f"{name}: a widget failed to display"
    assert "Traceback (most recent call last)" not in text, f"{name}: a traceback is shown"
    repr_hit = WIDGET_REPR.search(text)
    assert not repr_hit, f"{name}: a widget shows as text: {text[repr_hit.start():repr_hit.start() + 80]!r}"


_TIMED_CHANGE = """([selector, index, limit]) => {
    const root = document.querySelectorAll(selector)[index];
    const img = root.querySelector('img.companion-picture, .companion-picture img, img');
    window.__update = new Promise((resolve) => {
        let t0 = null;
        const start = () => { if (t0 === null) t0 = performance.now(); };
        for (const kind of ['keydown', 'input', 'change', 'pointerdown'])
            root.addEventListener(kind, start, {capture: true});
        const observer = new MutationObserver(async () => {
            observer.disconnect();
            try { await img.decode(); } catch (e) {}
            requestAnimationFrame(() => resolve({ms: performance.now() - t0, started: t0 !== null}));
        });
        observer.observe(img, {attributes: true, attributeFilter: ['src']});
        setTimeout(() => { observer.disconnect(); resolve({ms: null, started: t0 !== null}); }, limit);
    });
}"""

_PICTURE = """async ([selector, index]) => {
    const root = document.querySelectorAll(selector)[index];
    const img = root.querySelector('img');
    await img.decode();
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    const box = img.getBoundingClientRect();
    return {hash: Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join(''),
            natural: [img.naturalWidth, img.naturalHeight], shown: [box.width, box.height]};
}"""


def _timed(page, selector: str, index: int, action, limit_s: float = 15) -> float:
    """Do ``action()`` (a user input on the widget) and return ms from the input event to the new picture."""
    before = page.evaluate(_PICTURE, [selector, index])
    page.evaluate(_TIMED_CHANGE, [selector, index, limit_s * 1000])
    action()
    result = page.evaluate("() => window.__update")
    assert result["started"], "the action sent no input event to the widget"
    assert result["ms"] is not None, f"the picture did not change within {limit_s:g} s of the input"
    after = page.evaluate(_PICTURE, [selector, index])
    assert after["hash"] != before["hash"], "the picture's bytes did not change"
    _check_aspect(after)
    return result["ms"]


def _check_aspect(picture: dict) -> None:
    (nw, nh), (w, h) = picture["natural"], picture["shown"]
    assert w > 0 and h > 0, "the picture is not shown"
    assert abs((w / h) / (nw / nh) - 1) < 0.03, f"picture {nw}×{nh} is drawn {w:.0f}×{h:.0f}: aspect ratio lost"


def _exercise_playground(page, index: int, size: str, rounds: int = 3) -> None:
    selector = ".companion-shdd-playground"
    root = page.locator(selector).nth(index)
    root.scroll_into_view_if_needed()
    _check_aspect(page.evaluate(_PICTURE, [selector, index]))
    slider = root.locator(".widget-slider .noUi-target").nth(2)  # first region's strength (after rows, columns)
    assert slider.bounding_box()["width"] >= 100, f"the strength slider is squeezed: {slider.bounding_box()}"
    kinds = ["gaussian_noise", "gaussian_blur", "f_noise", "contrast_change"]
    for r in range(rounds):
        dropdown = root.locator("select").nth(0)
        kind = kinds[r % len(kinds)]
        _record("playground", size, "type dropdown",
                _timed(page, selector, index, lambda: dropdown.select_option(kind)))
        handle = root.locator(".widget-slider .noUi-handle").nth(2)
        for _ in range(2):
            def press():
                handle.focus()
                page.keyboard.press("ArrowRight")
            _record("playground", size, "strength slider", _timed(page, selector, index, press))
    root.screenshot(path=str(SHOTS / f"playground_{size}.png"))


def _exercise_explorer(page, index: int, size: str, rounds: int = 3) -> None:
    selector = ".companion-expert-explorer"
    root = page.locator(selector).nth(index)
    root.scroll_into_view_if_needed()
    _check_aspect(page.evaluate(_PICTURE, [selector, index]))
    region = root.locator("select").nth(1)
    options = region.locator("option").all_inner_texts()
    assert len(options) >= 2, f"the explorer offers {len(options)} region(s)"
    width = region.bounding_box()["width"]
    assert width >= 300, f"the region dropdown is {width:.0f} px wide; its labels are cut off"
    for r in range(rounds):
        label = options[(r + 1) % len(options)]
        _record("explorer", size, "region dropdown",
                _timed(page, selector, index, lambda: region.select_option(label=label)))
        button = root.locator(".widget-toggle-buttons button").nth((r + 1) % 2)
        _record("explorer", size, "summary buttons", _timed(page, selector, index, lambda: button.click()))
    height = page.evaluate(_PICTURE, [selector, index])["shown"][1]
    images = root.locator("select").nth(0).locator("option").all_inner_texts()
    if len(images) > 1:
        _record("explorer", size, "image dropdown (runs the model)",
                _timed(page, selector, index, lambda: root.locator("select").nth(0).select_option(label=images[1]),
                       limit_s=120))
        assert page.evaluate(_PICTURE, [selector, index])["shown"][1] == pytest.approx(height, abs=1), \
            "the explorer's height changed with the image"
    root.screenshot(path=str(SHOTS / f"explorer_{size}.png"))


def _exercise_upload(page, folder: Path) -> None:
    """Upload a small PNG through the file input: the widget restores it (model zoo present) or says in its
    status line why it cannot; never a bug report or a traceback."""
    from PIL import Image

    from tests.conftest import texture

    root = page.locator(".companion-upload").first
    root.scroll_into_view_if_needed()
    picture = folder / "upload test.png"
    Image.fromarray(texture(48, 80, seed=2)).save(picture)
    status = root.locator(".widget-html").first
    before = status.inner_text()
    with page.expect_file_chooser() as chooser:  # ipywidgets' FileUpload opens a detached <input type=file>
        root.locator("button").first.click()
    chooser.value.set_files(str(picture))
    page.wait_for_function("""([el, before]) => el.innerText !== before && !el.innerText.includes('restoring…')""",
                           arg=[status.element_handle(), before], timeout=120_000)
    text = status.inner_text()
    assert "this is a bug" not in text and "Traceback" not in text, text
    if "restored in" in text:
        shown = root.locator("img").nth(1)
        shown.wait_for()
        box = shown.bounding_box()
        assert abs(box["width"] / box["height"] - 80 / 48) < 0.05, f"restored picture drawn {box}"
    else:
        assert "zoo" in text or "checkpoint" in text, f"unexpected upload status: {text!r}"
    root.screenshot(path=str(SHOTS / "upload.png"))


def _assert_fast(widget: str, size: str) -> None:
    for control, values in LATENCY.get(f"{widget} {size}", {}).items():
        if "runs the model" in control:
            continue
        assert statistics.median(values) < LATENCY_LIMIT_MS, (
            f"{widget} at {size}: {control} takes {statistics.median(values):.0f} ms (median of {values})")


NOTEBOOKS = available_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_jupyterlab(lab, page, path):
    """Run All Cells in JupyterLab (smoke profile); no error anywhere; the widgets react and are timed."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    model = _open_and_run(page, lab, path.name)
    try:
        _check_page(page, path.stem, model)
        if page.locator(".companion-shdd-playground").count():
            _exercise_playground(page, 0, "smoke")
            _assert_fast("playground", "smoke")
        if page.locator(".companion-upload").count():
            _exercise_upload(page, lab["base"])
        if page.locator(".companion-expert-explorer").count():
            _exercise_explorer(page, 0, "smoke")
            _assert_fast("explorer", "smoke")
    finally:
        page.screenshot(path=str(SHOTS / f"{path.stem}.png"))
        _shutdown_kernel(page)


PLAYGROUND_512 = ("from companion.ch7.playground import shdd_playground\n"
                  "from companion.data import references\n"
                  "from companion.data.images import embedded_image\n"
                  "image = references.fit_square(embedded_image('astronaut'), 512)\n"
                  "shdd_playground(image, rows=2, cols=2)")
EXPLORER_512 = ("import torch\n"
                "from companion.ch7.expert_explorer import expert_explorer, demo_items\n"
                "from companion.ch7.zoo import restore_entry\n"
                "from companion.data import references\n"
                "from companion.data.images import embedded_image\n"
                "from companion.models import build_model\n"
                "torch.manual_seed(0)\n"
                "model = build_model('mepsnet', **restore_entry('mepsnet').config).eval()  # quick size, untrained\n"
                "image = references.fit_square(embedded_image('astronaut'), 512)\n"
                "expert_explorer(model, demo_items([image, image[:, ::-1].copy()]))")


def _scratch(lab, name: str, source: str) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from companion.kernel import KERNELSPEC

    nb = new_notebook(cells=[new_code_cell(source)])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, lab["root"] / name)
    return name


@pytest.mark.parametrize("widget", ["playground", "explorer"])
def test_widgets_at_512_px(lab, page, widget):
    """The quick profile's size: a 512 × 512 playground, an explorer on 512 × 512 images (each in a notebook of
    its own, so that one widget's work does not slow the other's timings), moved and timed."""
    name = _scratch(lab, f"{widget}_512.ipynb", PLAYGROUND_512 if widget == "playground" else EXPLORER_512)
    model = _open_and_run(page, lab, name)
    try:
        _check_page(page, name, model)
        (_exercise_playground if widget == "playground" else _exercise_explorer)(page, 0, "512px", rounds=4)
        _assert_fast(widget, "512px")
    finally:
        page.screenshot(path=str(SHOTS / f"{widget}_512.png"))
        _shutdown_kernel(page)


def test_book_opens_in_the_browser(page, tmp_path):
    """The built book's index and a chapter page load with every picture decoded."""
    from companion.book import build_book

    index = build_book(tmp_path / "book", progress=False)
    page.goto(index.as_uri())
    links = page.locator("a.chapter").all()
    assert links, "the book's index links no chapter"
    page.screenshot(path=str(SHOTS / "book_index.png"))
    links[-1].click()
    page.wait_for_load_state("load")
    pictures = page.locator("img")
    assert pictures.count() > 0, f"{page.url} shows no figure"
    broken = page.evaluate("""async () => {  // the figures load lazily: ask for every one, then check
        const images = Array.from(document.images);
        for (const img of images) img.loading = 'eager';
        await Promise.all(images.map(img => img.decode().catch(() => null)));
        return images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src);
    }""")
    assert not broken, f"pictures that do not load: {broken}"
    page.screenshot(path=str(SHOTS / "book_chapter.png"), full_page=True)
