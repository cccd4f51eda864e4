"""Process pools whose workers die with their parent.

A ``ProcessPoolExecutor`` worker outlives a parent killed with SIGKILL or SIGTERM (no Python clean-up runs
then): it finishes its current task -- for a dataset build, keeps writing files into the output folder --
and then waits forever for work that never comes. :func:`process_pool` gives each worker two guards:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its parent dies;
* everywhere, a daemon watchdog thread that checks ``os.getppid()`` every :data:`POLL_S` seconds and ends
  the worker (``os._exit``) once the parent changed, i.e. the worker was orphaned and re-parented.

The parent's process id is taken when the pool is made, and each worker checks it once right after arming
the guards, so a parent that died while the worker was starting is caught too. Workers are started with the
"spawn" method, so the parent's threads (torch's, a notebook's) are never forked.

One Linux detail: ``PR_SET_PDEATHSIG`` fires when the *thread* that started the worker ends, not only the
process. ``ProcessPoolExecutor`` starts workers from the thread that calls ``submit``/``map``, so make,
use and shut down a pool from one thread that outlives it (as every caller in the companion does, with
``with process_pool(n) as pool:`` or ``try``/``finally``).
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable

from tqdm.auto import tqdm

#: Seconds between two checks of the watchdog thread.
POLL_S = 0.5
#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1
#: Exit status of a worker ended by the watchdog (128 + SIGKILL, as if the kernel had killed it).
ORPHAN_EXIT = 128 + 9


def _kernel_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(int(signal.SIGKILL)),
                          ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):  # no libc symbol table (static builds, unusual platforms)
        return False


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(ORPHAN_EXIT)


def die_with_parent(parent: int, *, kernel: bool = True, watchdog: bool = True, poll_s: float = POLL_S) -> None:
    """Make the calling process end as soon as process ``parent`` (its parent) is gone.

    ``kernel`` arms Linux's parent-death signal, ``watchdog`` starts the portable polling thread; both by
    default (the switches exist so each mechanism can be tested alone). If ``parent`` is already gone the
    process exits at once.
    """
    if kernel:
        _kernel_death_signal()
    if os.getppid() != parent:  # the parent died before the guard was armed
        os._exit(ORPHAN_EXIT)
    if watchdog:
        threading.Thread(target=_watch, args=(parent, float(poll_s)), name="companion-parent-watchdog",
                         daemon=True).start()


def _init_worker(parent: int, initializer: Callable | None, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def process_pool(workers: int, *, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes that die with this process.

    ``initializer(*initargs)`` (picklable, like every task) runs in each worker after the guards are armed.
    Use it like any executor: ``with process_pool(4) as pool: ...``.
    """
    return ProcessPoolExecutor(max_workers=int(workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), initializer, tuple(initargs)))


def run_per_seed(fn: Callable, jobs, *, workers: int, desc: str, progress: bool = True) -> dict[object, list]:
    """Run ``fn(key, seed, threads=…)`` for every ``(key, seed)`` of ``jobs`` under one progress bar, and return
    ``{key: [result, …] in seed order}`` (keys in the order they first appear).

    With ``workers`` > 1 the jobs go ``workers`` at a time to :func:`process_pool` workers with ``threads=1`` each
    (small models gain little from a second thread, so two one-thread runs do about twice the work of one
    two-thread run); otherwise they run here one after another with ``threads=None``. ``fn`` and its bound
    arguments must be picklable (a module-level function, or a ``functools.partial`` of one)."""
    jobs = list(jobs)
    done: dict[object, dict[int, object]] = {key: {} for key, _ in jobs}
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    if workers <= 1:
        for key, seed in jobs:
            bar.set_postfix_str(f"{key} seed {seed}")
            done[key][seed] = fn(key, seed, threads=None)
            bar.update()
    else:
        with process_pool(workers) as pool:
            futures = {pool.submit(fn, key, seed, threads=1): (key, seed) for key, seed in jobs}
            for future in as_completed(futures):
                key, seed = futures[future]
                done[key][seed] = future.result()
                bar.set_postfix_str(f"{key} seed {seed}")
                bar.update()
    bar.close()
    return {key: [per_seed[s] for s in sorted(per_seed)] for key, per_seed in done.items()}
