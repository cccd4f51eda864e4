"""Atomic writes: a killed run leaves either the old file or the new one, never half of either.

Every file users depend on (figures, datasets, checkpoints, results, the ledger) goes through here. The
data is written to a temporary file in the destination folder, flushed to disk, then moved over the
destination with :func:`os.replace`, which is atomic on POSIX and Windows within one file system.

A run killed hard (SIGKILL, power loss) between creating the temporary file and moving it leaves that
temporary file behind. Its name says what it is -- ``.<destination name>.<8 random characters>``
:data:`TEMP_MARK` ``<suffix>``, e.g. ``.im0_03.png.k2x9q1ab.companion-tmp.png`` -- so :func:`is_temp_file`
recognises it and :func:`remove_temp_files` clears a folder of them (the dataset generators do so before
every build, so a resumed build ends with exactly the files of an uninterrupted one).
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

#: Marks the name of every temporary file made by :func:`atomic_path`.
TEMP_MARK = ".companion-tmp"

# "." + destination name + "." + mkstemp's 8 characters + TEMP_MARK + the suffix (possibly empty)
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(TEMP_MARK) + r"(\.[^/\\]*)?")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path``, on error delete it.

    ``suffix`` defaults to the destination's suffix, so libraries that pick a format from the file name
    (matplotlib, Pillow) still do the right thing.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.",
                               suffix=TEMP_MARK + (dest.suffix if suffix is None else suffix), dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def is_temp_file(name: str | os.PathLike) -> bool:
    """True if ``name`` (a file name or path) is a temporary file of :func:`atomic_path`."""
    return _TEMP_NAME.fullmatch(Path(name).name) is not None


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes anywhere under ``folder``; returns them.

    Only for folders no running process is writing into: a write still in progress would fail at its final
    move. A missing folder holds none.
    """
    removed = []
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            if is_temp_file(name):
                path = Path(parent) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return sorted(removed)
