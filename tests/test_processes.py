"""Worker processes die with their parent (companion.processes): killed parents leave no orphans behind.

Each kill test starts a real parent process, waits until its workers are busy, kills the parent, and then
watches the workers' process ids: they must be gone (exited, or zombies waiting for init to reap them) within
a few seconds. Before process_pool they kept running -- and, in a dataset build, kept writing -- forever.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROC = Path("/proc")

pytestmark = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="needs Linux /proc")


# --- helpers shared with tests/test_generation.py ----------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """True while ``pid`` runs; an exited process that nobody reaped yet (a zombie) counts as dead."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x")


def descendants(pid: int) -> set[int]:
    """Process ids of every living descendant of ``pid`` (children, their children, ...)."""
    parent_of = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X", "x"):
                parent_of[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def spawned_workers(pid: int) -> set[int]:
    """The multiprocessing workers (spawn start method) among the descendants of ``pid``."""
    return {p for p in descendants(pid) if "spawn_main" in cmdline(p)}


def wait_until(condition, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def assert_all_die(pids: set[int], timeout: float = 5.0) -> None:
    """Every pid in ``pids`` stops running within ``timeout`` s; otherwise kill them (no orphans left by the
    test itself) and fail, naming the survivors."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    survivors = {p: cmdline(p)[:100] for p in pids if alive(p)}
    for p in survivors:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    assert not survivors, f"still running {timeout} s after their parent was killed: {survivors}"


def python_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# --- the tests ----------------------------------------------------------------------------------------------


PARENT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    from companion.processes import process_pool


    def busy(folder):
        Path(folder, str(os.getpid())).touch()   # "I am working"
        time.sleep(120)


    if __name__ == "__main__":
        pool = process_pool(2)
        futures = [pool.submit(busy, sys.argv[1]) for _ in range(4)]
        for f in futures:
            f.result()
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_when_their_parent_is_killed(tmp_path, sig):
    script, busy = tmp_path / "parent.py", tmp_path / "busy"
    script.write_text(PARENT)
    busy.mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(busy)], env=python_env(), cwd=tmp_path)
    try:
        working = wait_until(lambda: {int(p.name) for p in busy.iterdir()} if len(list(busy.iterdir())) >= 2
                             else None, 60, "two busy workers")
        family = descendants(parent.pid)  # the two workers and multiprocessing's resource tracker
        assert working <= family and spawned_workers(parent.pid) == working
    finally:
        parent.send_signal(sig)
        parent.wait()
    assert parent.returncode == -sig
    assert_all_die(working, timeout=5.0)  # the workers were mid-task (sleeping 120 s)
    assert_all_die(family, timeout=10.0)  # and nothing else of the parent's is left either


def test_pool_runs_tasks_and_the_callers_initializer(tmp_path):
    from companion.processes import process_pool

    with process_pool(2, initializer=_set_env, initargs=("COMPANION_TEST_INIT", "yes")) as pool:
        results = list(pool.map(os.getenv, ["COMPANION_TEST_INIT"] * 4))
        pids = set(pool.map(_pid, range(8)))
    assert results == ["yes"] * 4
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert_all_die(pids, timeout=5.0)  # a clean shutdown ends the workers too


def _set_env(name, value):
    os.environ[name] = value


def _pid(_):
    return os.getpid()


WATCHED = textwrap.dedent("""
    import os, subprocess, sys, time

    if sys.argv[1] == "parent":
        child = subprocess.Popen([sys.executable, __file__, "child", sys.argv[2]])
        print(child.pid, flush=True)
        time.sleep(120)
    else:
        from companion.processes import die_with_parent

        kernel = sys.argv[2] == "prctl"
        die_with_parent(os.getppid(), kernel=kernel, watchdog=not kernel, poll_s=0.1)
        print("armed", flush=True)
        time.sleep(120)
""")


@pytest.mark.parametrize("mechanism", ["prctl", "watchdog"])
def test_die_with_parent_each_mechanism_alone(tmp_path, mechanism):
    """PR_SET_PDEATHSIG (Linux) and the portable getppid() watchdog each end the child on their own."""
    script = tmp_path / "watched.py"
    script.write_text(WATCHED)
    parent = subprocess.Popen([sys.executable, str(script), "parent", mechanism], env=python_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline() == "armed\n" and alive(child)
    finally:
        parent.kill()
        parent.wait()
    try:
        assert_all_die({child}, timeout=3.0)
    finally:
        parent.stdout.close()


def _seeded_job(offset, key, seed, threads=None):
    return (key, seed + offset, threads)


def test_run_per_seed_groups_results_by_key_in_seed_order_in_both_modes():
    from functools import partial

    from companion.processes import run_per_seed

    jobs = [("b", 1), ("a", 1), ("b", 0), ("a", 0)]
    serial = run_per_seed(partial(_seeded_job, 10), jobs, workers=1, desc="t", progress=False)
    assert list(serial) == ["b", "a"] and serial["a"] == [("a", 10, None), ("a", 11, None)]
    pooled = run_per_seed(partial(_seeded_job, 10), jobs, workers=2, desc="t", progress=False)
    assert pooled == {k: [(key, s, 1) for key, s, _ in v] for k, v in serial.items()}  # one thread per worker
