"""Shared generator machinery: sources and splits, determinism, resumability, bad input, killed builds."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from companion.arguments import MAX_SEED
from companion.ch6.flickr_distortion import build_flickr_distortion
from companion.ch6.flickr_distortion import clean_images as flickr_clean_images, detection_split
from companion.ch7.shdd import build_shdd
from companion.ch7.shdd import clean_images as shdd_clean_images
from companion.cli import main as cli_main
from companion.data.generation import stable_int
from companion.errors import CompanionError
from tests.conftest import texture
from tests.test_processes import REPO, assert_all_die, descendants, python_env, spawned_workers, wait_until


def make_refs(folder, n, size=(130, 140), prefix="im"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(texture(*size, i)).save(folder / f"{prefix}{i}.png")
    return folder


def tree(root):
    """{relative path: bytes} of every file under root."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- sources and splits -----------------------------------------------------------------------------------


def fake_div2k(root):
    for folder, numbers in (("DIV2K_train_HR", (1, 800)), ("DIV2K_valid_HR", (801, 850, 851, 900))):
        (root / "DIV2K" / folder).mkdir(parents=True)
        for n in numbers:
            Image.fromarray(texture(16, 16, n)).save(root / "DIV2K" / folder / f"{n:04d}.png")
    return root


def test_shdd_uses_the_paper_div2k_split(tmp_path):
    root = fake_div2k(tmp_path / "data")
    for source in (root, root / "DIV2K"):
        images = shdd_clean_images(source)
        splits = {c.stem: c.split for c in images}
        assert splits == {"0001": "train", "0800": "train", "0801": "val", "0850": "val",
                          "0851": "test", "0900": "test"}
        assert all(c.path.name == f"{c.stem}.png" for c in images)


def test_shdd_plain_folder_and_bundled_splits_are_non_empty_and_disjoint(tmp_path):
    src = make_refs(tmp_path / "plain", 20, size=(8, 8))
    for source in (src, "bundled"):
        images = shdd_clean_images(source, seed=3)
        by_split = {s: {c.stem for c in images if c.split == s} for s in ("train", "val", "test")}
        assert all(by_split.values()), by_split
        assert sum(len(v) for v in by_split.values()) == len(images) == len({c.stem for c in images})
    assert {c.split for c in shdd_clean_images("bundled")} == {"train", "val", "test"}


def test_flickr_splits_by_reference(tmp_path):
    src = make_refs(tmp_path / "refs", 10, size=(8, 8))
    images = flickr_clean_images(src, seed=0)
    by_split = {s: {c.stem for c in images if c.split == s} for s in ("train", "val", "test")}
    assert [len(by_split[s]) for s in ("train", "val", "test")] == [6, 2, 2]  # 60/20/20
    assert set.union(*by_split.values()) == {f"im{i}" for i in range(10)}
    detection = {s: {c.stem for c in images if detection_split(c.split) == s} for s in ("train", "test")}
    assert [len(detection["train"]), len(detection["test"])] == [8, 2]  # 80/20
    assert detection["test"] == by_split["test"] and not detection["train"] & detection["test"]
    # seeded: same seed, same split; another seed, another one
    assert flickr_clean_images(src, seed=0) == images
    assert any(flickr_clean_images(src, seed=s) != images for s in (1, 2, 3))
    bundled = flickr_clean_images("bundled")
    assert {c.split for c in bundled} == {"train", "val", "test"}


def test_source_errors(tmp_path):
    with pytest.raises(CompanionError, match="does not exist"):
        shdd_clean_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompanionError, match="DIV2K/DIV2K_train_HR"):
        shdd_clean_images(tmp_path / "empty")
    with pytest.raises(CompanionError, match="at least 3"):
        flickr_clean_images(make_refs(tmp_path / "two", 2, size=(8, 8)))


def test_stable_int_is_stable_across_processes():
    # SHA-256 based, so the same in every process (Python's hash() of a str is salted per process):
    # the first 8 bytes of sha256(b"0001") = 88 8b 19 a4 3b 15 16 83, read little-endian
    assert stable_int("0001") == 0x8316153BA4198B88
    assert stable_int("0002") != stable_int("0001")
    code = "from companion.data.generation import stable_int; print(stable_int('0001'), hash('0001'))"
    seen = set()
    for salt in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], env={**python_env(), "PYTHONHASHSEED": salt},
                             capture_output=True, text=True, check=True).stdout.split()
        assert int(out[0]) == stable_int("0001")
        seen.add(out[1])
    assert len(seen) == 2  # while str hashes differ between those two processes


# --- bad input ----------------------------------------------------------------------------------------------


def bad_file(folder, kind):
    path = folder / "bad.png"
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    elif kind == "greyscale":
        Image.fromarray(texture(140, 140)[..., 0]).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([texture(140, 140), np.full((140, 140), 255, np.uint8)])).save(path)
    elif kind == "16-bit":
        Image.fromarray((texture(140, 140)[..., 0].astype(np.uint16) * 257)).save(path)
    return path


@pytest.mark.parametrize("kind", ["corrupt", "greyscale", "rgba", "16-bit"])
def test_bad_source_files_are_named(tmp_path, kind):
    src = make_refs(tmp_path / "src", 3)
    bad = bad_file(src, kind)
    with pytest.raises(CompanionError, match=str(bad)):
        build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, progress=False)
    with pytest.raises(CompanionError, match=str(bad)):
        build_flickr_distortion(src, tmp_path / "out", sets=("classification",), progress=False)
    assert not list(tmp_path.glob("out/**/*.png"))


def test_preflight_names_every_bad_source_in_one_line(tmp_path):
    src = make_refs(tmp_path / "src", 4, size=(220, 230))
    for kind in ("corrupt", "greyscale", "16-bit"):
        bad_file(src, kind).rename(src / f"bad_{kind}.png")
    Image.fromarray(texture(150, 300, 9)).save(src / "small.png")  # 300×150: too small for 'difficult'
    reasons = {"bad_corrupt.png": "corrupt", "bad_greyscale.png": "greyscale", "bad_16-bit.png": "8 bits",
               "small.png": "300×150 px"}
    for workers in (1, 2):
        with pytest.raises(CompanionError) as info:
            build_shdd(src, tmp_path / "out", levels=("difficult",), versions=1, workers=workers, progress=False)
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"4 source images in {src} cannot be used: ")
        for name, reason in reasons.items():
            assert f"{name} (" in message and reason in message.split(f"{name} (")[1].split(")")[0], (name, message)
        for good in ("im0.png", "im1.png", "im2.png", "im3.png"):
            assert good not in message
        assert "213 px" in message  # the minimum of the level, so the fix is clear
        assert not (tmp_path / "out").exists()
    with pytest.raises(CompanionError, match=r"^3 source images in .* cannot be used: bad_16-bit\.png"):
        build_flickr_distortion(src, tmp_path / "out", sets=("classification",), workers=2, progress=False)
    assert not (tmp_path / "out").exists()


def test_errors_cross_the_process_pool(tmp_path):
    src = make_refs(tmp_path / "src", 3)
    bad = bad_file(src, "greyscale")
    with pytest.raises(CompanionError, match=f"{bad}.*greyscale"):
        build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, workers=2, progress=False)
    assert not (tmp_path / "out").exists()  # the pre-flight stops the build before anything is written


# --- determinism and resumability ------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    src = make_refs(tmp_path / "src", 4)
    one = build_shdd(src, tmp_path / "a", levels=("easy",), versions=2, workers=1, progress=False)
    two = build_shdd(src, tmp_path / "b", levels=("easy",), versions=2, workers=2, progress=False)
    assert one.n_written == two.n_written == 4 * 3
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert len(a) == 1 + 4 + 4 * 2 * 3 and a == b  # manifest included
    flickr = make_refs(tmp_path / "refs", 3, size=(40, 48))
    build_flickr_distortion(flickr, tmp_path / "c", sets=("classification",), workers=1, progress=False)
    build_flickr_distortion(flickr, tmp_path / "d", sets=("classification",), workers=2, progress=False)
    assert tree(tmp_path / "c") == tree(tmp_path / "d")
    # and another seed changes every picture (a plain folder's split is seeded too, so match by file name)
    build_shdd(src, tmp_path / "e", levels=("easy",), versions=2, seed=1, progress=False)
    pictures = [{k.rsplit("/", 1)[1]: v for k, v in t.items() if "/distorted/" in k} for t in (a, tree(tmp_path / "e"))]
    assert len(pictures[0]) == 8 and all(pictures[0][k] != pictures[1][k] for k in pictures[0])


def test_rerun_skips_and_repairs(tmp_path):
    src = make_refs(tmp_path / "src", 3, size=(170, 180))
    out = tmp_path / "out"
    first = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    before = tree(out)
    again = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    assert (again.n_written, again.n_skipped) == (0, first.n_written)
    root = out / "shdd"
    manifest = json.loads((root / "manifest.json").read_text())
    distorted = sorted(k for k in manifest["files"] if "/distorted/" in k)
    (root / distorted[0]).unlink()  # deleted
    (root / distorted[1]).write_bytes(b"not a png")  # corrupted
    record = distorted[2].replace("/distorted/", "/records/").replace(".png", ".json")
    (root / record).write_text("{}")  # a unit's other file corrupted
    repaired = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    assert (repaired.n_written, repaired.n_skipped) == (3, first.n_written - 3)
    assert tree(out) == before
    # adding a level only makes the new level
    more = build_shdd(src, out, levels=("easy", "moderate"), versions=2, progress=False)
    assert (more.n_written, more.n_skipped) == (3 * 2, first.n_written)
    with pytest.raises(CompanionError, match="seed=0"):
        build_shdd(src, out, levels=("easy",), versions=2, seed=5, progress=False)


def test_flickr_rerun_skips(tmp_path):
    src = make_refs(tmp_path / "src", 3, size=(40, 48))
    out = tmp_path / "out"
    build_flickr_distortion(src, out, sets=("classification",), progress=False)
    before = tree(out)
    again = build_flickr_distortion(src, out, sets=("classification",), progress=False)
    assert (again.n_written, again.n_skipped) == (0, 3)
    labels = next((out / "flickr-distortion" / "classification").glob("*/labels.csv"))
    labels.write_text("broken")
    build_flickr_distortion(src, out, sets=("classification",), progress=False)
    assert tree(out) == before


# --- seeds -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 2**70, 1.5, "3", True])
def test_bad_seeds_are_refused_before_anything_is_written(tmp_path, seed):
    src = make_refs(tmp_path / "src", 3)
    for build in (lambda: build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, seed=seed, progress=False),
                  lambda: build_flickr_distortion(src, tmp_path / "out", sets=("classification",), seed=seed,
                                                  progress=False)):
        with pytest.raises(CompanionError, match=f"seed.*between 0 and {MAX_SEED:,}") as info:
            build()
        assert "\n" not in str(info.value)
        assert not (tmp_path / "out").exists()
    for clean_images in (shdd_clean_images, flickr_clean_images):
        with pytest.raises(CompanionError, match="seed"):
            clean_images(src, seed=seed)


def test_largest_seed_builds(tmp_path):
    src = make_refs(tmp_path / "src", 3, size=(40, 48))
    report = build_flickr_distortion(src, tmp_path / "out", sets=("classification",), seed=MAX_SEED, progress=False)
    assert report.n_written == 3
    assert json.loads((tmp_path / "out/flickr-distortion/manifest.json").read_text())["seed"] == MAX_SEED


@pytest.mark.parametrize("command", ["shdd", "flickr-distortion"])
def test_cli_refuses_a_negative_seed_and_creates_nothing(tmp_path, capsys, command):
    out = tmp_path / "out"
    try:
        status = cli_main(["data", command, "--source", "bundled", "--out", str(out), "--seed", "-1"])
    except SystemExit as exc:  # argparse reports bad values by exiting
        status = exc.code
    assert status == 2
    assert "seed must be between 0 and" in capsys.readouterr().err
    assert not out.exists()


# --- killed builds ---------------------------------------------------------------------------------------


def plant_leftovers(root, rels):
    """What a build killed in the middle of atomic writes leaves: start an atomic write of each ``rel`` in a
    subprocess and kill it (os._exit) before the write completes."""
    code = ("import os, sys\nfrom companion.atomic import atomic_path\n"
            "open_writes = [atomic_path(p) for p in sys.argv[1:]]\n"
            "for write in open_writes:\n"
            "    write.__enter__().write_bytes(b'half a file')\n"
            "os._exit(9)  # killed: no write finishes, no clean-up runs\n")
    result = subprocess.run([sys.executable, "-c", code, *[str(root / r) for r in rels]], env=python_env())
    assert result.returncode == 9
    left = sorted(p for p in root.rglob(".*") if p.is_file() and p.name != "manifest.json")
    assert len(left) == len(rels), left  # one temporary file per interrupted write, next to its destination
    return left


def test_atomic_temp_files_are_recognised_and_nothing_else(tmp_path):
    from companion.atomic import atomic_path, is_temp_file, remove_temp_files

    seen = []
    for name, suffix in [("im0_00.png", None), ("manifest.json", None), ("labels.csv", None), ("README", None),
                         ("x.png", ".png"), ("model.pt", ".pt")]:
        with atomic_path(tmp_path / "sub" / name, suffix=suffix) as tmp:
            assert tmp.parent == tmp_path / "sub" and tmp.name.startswith(f".{name}.") and is_temp_file(tmp)
            if Path(name).suffix or suffix:  # libraries that pick the format from the name still can
                assert tmp.suffix == (Path(name).suffix if suffix is None else suffix)
            seen.append(tmp.name)
            tmp.write_text("data")
        assert not is_temp_file(name) and (tmp_path / "sub" / name).read_text() == "data"
    for other in [".notes.txt", ".im0_00.png.backup.png", ".im0_00.png.abcdefgh.png", "im0_00.companion-tmp.png",
                  ".gitignore", ".x.abcdefgh.companion-tmpx"]:
        assert not is_temp_file(other), other
    (tmp_path / "sub" / seen[0]).write_text("left by a killed run")
    assert remove_temp_files(tmp_path) == [tmp_path / "sub" / seen[0]]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(
        ["im0_00.png", "manifest.json", "labels.csv", "README", "x.png", "model.pt"])
    assert remove_temp_files(tmp_path / "missing") == []


def test_rerun_removes_what_a_killed_run_left(tmp_path):
    src = make_refs(tmp_path / "src", 3)
    whole = tmp_path / "whole"
    build_shdd(src, whole, levels=("easy",), versions=2, progress=False)
    out = tmp_path / "out"
    build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    root = out / "shdd"
    rels = sorted(k for k in json.loads((root / "manifest.json").read_text())["files"] if "/distorted/" in k)[:2]
    rels += ["manifest.json", "easy/test/records/new.json", "easy/val/labels/x.png"]
    plant_leftovers(root, rels)
    (root / rels[0]).unlink()  # and one unit that the killed run had not finished
    assert tree(out) != tree(whole)
    again = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    assert again.n_written == 1
    assert tree(out) == tree(whole)  # every file and byte, manifest included: no temporary file is left
    # the same for Flickr-Distortion, whose index files (labels.csv) are written by the main process
    build_flickr_distortion(src, whole, sets=("classification",), progress=False)
    build_flickr_distortion(src, out, sets=("classification",), progress=False)
    plant_leftovers(out / "flickr-distortion", ["classification/train/labels.csv", "manifest.json"])
    build_flickr_distortion(src, out, sets=("classification",), progress=False)
    assert tree(out) == tree(whole)


def test_user_files_that_only_look_hidden_are_kept(tmp_path):
    src = make_refs(tmp_path / "src", 3)
    out = tmp_path / "out"
    build_shdd(src, out, levels=("easy",), versions=1, progress=False)
    mine = [out / "shdd" / ".notes.txt", out / "shdd" / "easy" / ".im0_00.png.backup.png"]
    for p in mine:
        p.write_text("keep me")
    build_shdd(src, out, levels=("easy",), versions=1, progress=False)
    assert all(p.read_text() == "keep me" for p in mine)


KILL_VERSIONS = 6


@pytest.fixture(scope="module")
def kill_source(tmp_path_factory):
    """Eight 400×400 references and their uninterrupted SHDD build (easy, 6 versions: 56 units, about 1 s
    of work for two workers after the first file appears, measured)."""
    tmp = tmp_path_factory.mktemp("kill")
    src = make_refs(tmp / "src", 8, size=(400, 400))
    build_shdd(src, tmp / "whole", levels=("easy",), versions=KILL_VERSIONS, progress=False)
    return src, tree(tmp / "whole")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_data_command_leaves_no_workers_and_resumes_identically(tmp_path, kill_source, sig):
    src, whole = kill_source
    out = tmp_path / "out"
    command = [sys.executable, "-m", "companion", "data", "shdd", "--source", str(src), "--out", str(out),
               "--level", "easy", "--versions", str(KILL_VERSIONS), "--workers", "2"]
    build = subprocess.Popen(command, cwd=REPO, env=python_env(), stderr=subprocess.DEVNULL)
    try:
        workers = wait_until(lambda: w if len(w := spawned_workers(build.pid)) == 2 else None, 60, "2 workers")
        family = descendants(build.pid)  # the workers and multiprocessing's resource tracker
        # the workers are writing (the first file is a temporary one of an atomic write)
        wait_until(lambda: out.is_dir() and any(p.is_file() for p in out.rglob("*")), 60, "the first file",
                   poll=0.01)
        running = build.poll() is None
    finally:
        build.send_signal(sig)
        build.wait()
    assert running and build.returncode == -sig, "the build finished before it could be killed"
    assert_all_die(workers, timeout=5.0)
    assert_all_die(family, timeout=10.0)
    written = tree(out)
    time.sleep(1.0)
    assert tree(out) == written  # nobody writes into the folder any more
    assert len([k for k in written if k.endswith(".png")]) < len([k for k in whole if k.endswith(".png")])
    report = build_shdd(src, out, levels=("easy",), versions=KILL_VERSIONS, progress=False)
    assert report.n_written > 0
    assert tree(out) == whole


def test_a_second_build_of_the_same_folder_is_refused_while_one_runs(tmp_path):
    """Two builds writing into one folder would delete each other's temporary files: the second stops at once,
    writes nothing, and the folder builds normally once the first is done."""
    import fcntl
    import os

    from companion.ch7.shdd import build_shdd

    src = make_refs(tmp_path / "src", 3, size=(180, 176))
    folder = tmp_path / "out" / "shdd"
    folder.mkdir(parents=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running build holds
        with pytest.raises(CompanionError, match="another build is writing into"):
            build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, progress=False)
        assert sorted(p.name for p in folder.iterdir()) == []
    finally:
        os.close(fd)
    report = build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, progress=False)
    assert report.n_written > 0 and (folder / "manifest.json").is_file()


SLOW_RENDER_S = 20.0


def slow_render(job, unit, image):
    """A render that takes SLOW_RENDER_S seconds and leaves markers: its pid on start, 'finished' at the end."""
    marks = Path(job.options[0])
    (marks / f"started-{unit.key}-{os.getpid()}").touch()
    time.sleep(SLOW_RENDER_S)
    (marks / f"finished-{unit.key}").touch()
    return {rel: "x" for rel in unit.files}


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_ctrl_c_terminates_the_workers_instead_of_letting_them_finish_their_images(tmp_path):
    """Ctrl-C during a pool build: the workers are terminated at once (their images unfinished, redone by the
    next run), not left to finish the image each is rendering (before: `data shdd` took 4.7 s to stop)."""
    import threading

    from companion.data.generation import CleanImage, Job, Manifest, Unit, run_jobs

    src = make_refs(tmp_path / "src", 3)
    marks = tmp_path / "marks"
    marks.mkdir()
    jobs = [Job(image=CleanImage(stem=p.stem, split="train", path=p), seed=0, options=(str(marks),),
                units=(Unit(key=p.stem, files=(f"{p.stem}.txt",)),)) for p in sorted(src.iterdir())]
    root = tmp_path / "out"

    def interrupt_once_two_render():
        wait_until(lambda: len(list(marks.glob("started-*"))) >= 2 or None, 60, "two workers rendering")
        # SIGINT to the main thread, as a terminal's Ctrl-C reaches a foreground command: a process-directed
        # os.kill may land on any thread (torch's pool, this one), leaving the main thread blocked until a job ends
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own Ctrl-C, whatever ran before
    threading.Thread(target=interrupt_once_two_render, daemon=True).start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_jobs(jobs, slow_render, root, Manifest(root / "manifest.json", "test", 0), workers=2, progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    stopped_after = time.perf_counter() - started  # loosely: seconds with the fix, SLOW_RENDER_S and more without
    pids = [int(p.name.rsplit("-", 1)[1]) for p in marks.glob("started-*")]
    assert len(pids) == 2 and not list(marks.glob("finished-*")), f"workers finished their images ({stopped_after:.1f} s)"
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # terminated and reaped
    assert json.loads((root / "manifest.json").read_text())["files"] == {}


@pytest.mark.parametrize("command, build", [("shdd", "shdd"), ("flickr-distortion", "flickr")])
def test_data_help_says_out_gets_a_subfolder_and_gives_the_source_default(tmp_path, capsys, command, build):
    assert cli_main(["data", command, "--help"]) == 0
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, at hyphens too
    assert f"--outOUToutputfolder:thedatasetiswrittenintoOUT/{command}/" in text
    options = text.split("options:", 1)[1]
    assert "(default:bundled)" in options.split("--sourceSOURCE", 1)[1].split("--outOUT")[0]
    src = make_refs(tmp_path / "src", 3)  # and that is where the build writes
    if build == "shdd":
        report = build_shdd(src, tmp_path / "X", levels=("easy",), versions=1, progress=False)
    else:
        report = build_flickr_distortion(src, tmp_path / "X", sets=("classification",), progress=False)
    assert report.out == tmp_path / "X" / command and report.out.is_dir()
