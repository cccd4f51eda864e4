"""Fetching datasets: resumable, checksum-verified downloads and archive extraction that refuses tricks.

:func:`download_file` streams a URL (stdlib ``urllib``) into ``<dest>.part``, resuming an interrupted
download with an HTTP ``Range`` request, checks the SHA-256 of the whole file, and only then renames it to
``dest``. A download without a known SHA-256 is refused: the user must pass one (``--sha256``).

:func:`extract_archive` unpacks zip and tar (plain, .gz, .bz2, .xz) archives. Every member is checked
before anything is written; absolute paths, ``..`` components, links and device/fifo members are refused.
Members are unpacked into a hidden temporary folder inside the target (same file system) and each file
is then renamed into place, so no half-written file ever appears under its real name.

:func:`download_dataset` does both for an entry of :data:`companion.data.folders.DATASETS`, keeping the
archives in ``<root>/downloads/`` (delete them to save space once extracted). A dataset with no published
checksum or stable URL (RealSR v1) is installed by :func:`install_archive` from an archive the user fetched (a
path or a URL, with the SHA-256 the user passes), its extracted layout checked before anything is put in place.

A file of a git repository (released weights, :data:`companion.data.folders.WEIGHTS`) can be verified by its
git blob id instead of a SHA-256 (``git_blob=``): the SHA-1 of ``b"blob <size>\0"`` followed by the bytes,
which ``git hash-object FILE`` prints and the repository's tree records, so no third-party sum is needed.
:func:`download_weights` fetches such a file into ``<root>/weights/`` and, given a converter, converts it
once into the file the companion loads (the converter comes from the chapter that owns the model).
"""
from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable

from tqdm import tqdm

from companion.atomic import atomic_write_text
from companion.data import folders
from companion.errors import CompanionError

TIMEOUT_S = 60
_USER_AGENT = "companion-download/0.1 (+python urllib)"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9a-f]{40}")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    return _sha256_of(path, chunk).hexdigest()


def file_git_blob(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex git blob id of a file: SHA-1 of ``b"blob <size>\\0"`` + its bytes (``git hash-object FILE``)."""
    digest = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _checked_blob(git_blob: str, url: str) -> str:
    value = str(git_blob).strip().lower()
    if not _HEX40.fullmatch(value):
        raise CompanionError(f"{git_blob!r} is not a git blob id (40 hex digits, as `git hash-object FILE` "
                             f"prints) for {url}")
    return value


def _verified(path: Path, sha256: str | None, git_blob: str | None) -> bool:
    """Whether ``path`` matches every sum given (at least one is)."""
    return ((sha256 is None or file_sha256(path) == sha256)
            and (git_blob is None or file_git_blob(path) == git_blob))


def _checked_sum(sha256: str | None, url: str) -> str:
    if sha256 is None:
        raise CompanionError(f"no SHA-256 known for {url}; refusing an unverified download: check the file's "
                             "source and pass its sum with --sha256 HEX")
    value = sha256.strip().lower()
    if not _HEX64.fullmatch(value):
        raise CompanionError(f"{sha256!r} is not a SHA-256 (64 hex digits); pass the published sum with --sha256")
    return value


def download_file(url: str, dest: str | os.PathLike, sha256: str | None, *, git_blob: str | None = None,
                  progress: bool = True, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` and verify it; resume a leftover ``dest.part`` if there is one.

    The file is verified by its SHA-256, or by its git blob id (``git_blob``) where no SHA-256 is published,
    or by both when both are given; without either the download is refused. A mismatch deletes the download.
    An existing ``dest`` that verifies is returned without touching the network.
    """
    blob = None if git_blob is None else _checked_blob(git_blob, url)
    expected = _checked_sum(sha256, url) if blob is None or sha256 is not None else None
    dest = Path(dest)
    if dest.is_file() and _verified(dest, expected, blob):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    actual = _fetch_part(url, part, progress=progress, chunk=chunk)
    if actual is None:  # the server has nothing past the leftover .part, which may be whole already
        if _verified(part, expected, blob):
            os.replace(part, dest)
            return dest
        part.unlink()
        return download_file(url, dest, expected, git_blob=blob, progress=progress, chunk=chunk)
    _check_download(url, part, actual, expected, blob)
    os.replace(part, dest)
    return dest


def _fetch_part(url: str, part: Path, *, progress: bool, chunk: int) -> str | None:
    """Stream ``url`` into ``part``, continuing from the bytes it already holds; the SHA-256 of the whole
    ``part``, or None when the server holds nothing past them (HTTP 416)."""
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset)
    if response is None:
        return None
    with response:
        resumed = offset > 0 and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            response.close()
            part.unlink()  # the server answered a different range than asked: start over cleanly
            return _fetch_part(url, part, progress=progress, chunk=chunk)
        digest = _sha256_of(part, chunk) if resumed else hashlib.sha256()
        offset = offset if resumed else 0  # 200: the server sent the whole file, so the .part starts again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        received = _append(response, part, digest, url, resumed=resumed, offset=offset, total=total,
                           progress=progress, chunk=chunk)
    if total is not None and received != total:
        raise CompanionError(f"download of {url} stopped at {received} of {total} bytes; run the same command "
                             "again to resume")
    return digest.hexdigest()


def _open(url: str, offset: int):
    """The HTTP response for ``url`` from byte ``offset`` on (a ``Range`` request when ``offset`` > 0), or
    None when the server has nothing past ``offset``; a one-line error when it cannot be reached."""
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:  # nothing past what we hold
            return None
        raise CompanionError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the address, "
                             "or try again later") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise CompanionError(f"cannot reach {url} ({reason}); check your network connection and retry") from None


def _sha256_of(path: str | os.PathLike, chunk: int):
    """A running SHA-256 that has read the bytes of ``path`` (a resumed download goes on from them)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest


def _append(response, part: Path, digest, url: str, *, resumed: bool, offset: int, total: int | None,
            progress: bool, chunk: int) -> int:
    """Write the body of ``response`` to ``part`` (after its ``offset`` bytes when ``resumed``, else from the
    start), feeding ``digest``, with a progress bar; the bytes ``part`` holds at the end, flushed to disk."""
    received = offset
    try:
        with open(part, "ab" if resumed else "wb") as fh, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name.removesuffix(".part"), disable=not progress, leave=False) as bar:
            while block := response.read(chunk):
                fh.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, http.client.HTTPException) as exc:
        raise CompanionError(f"download of {url} was interrupted after {received} bytes ({exc}); run the "
                             "same command again to resume") from None
    return received


def _check_download(url: str, part: Path, actual: str, expected: str | None, blob: str | None) -> None:
    """Delete ``part`` and say so in one line when its SHA-256 (``actual``) or its git blob id is not the
    one expected."""
    if expected is not None and actual != expected:
        part.unlink()
        raise CompanionError(f"checksum mismatch for {url}: expected SHA-256 {expected}, got {actual}; the "
                             "download was deleted: retry, and if it persists check the file's source and "
                             "pass its new sum with --sha256")
    if blob is not None and (actual_blob := file_git_blob(part)) != blob:
        part.unlink()
        raise CompanionError(f"git blob id mismatch for {url}: expected {blob}, got {actual_blob}; the download "
                             "was deleted: retry, and if it persists the file changed at its source (compare "
                             "`git hash-object` of the repository's copy)")


# --- archives ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Member:
    parts: tuple[str, ...]     # path inside the archive, split and checked
    is_dir: bool
    opener: Callable[[], IO[bytes]] | None


def _safe_parts(name: str, archive: Path) -> tuple[str, ...]:
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"[A-Za-z]:", text):
        raise CompanionError(f"archive {archive} has an absolute path {name!r}; refusing to extract it: "
                             "delete it and download it again from the official source")
    parts = tuple(p for p in text.split("/") if p not in ("", "."))
    if ".." in parts:
        raise CompanionError(f"archive {archive} has a path leaving its folder {name!r}; refusing to extract "
                             "it: delete it and download it again from the official source")
    return parts


def _refuse(archive: Path, name: str, kind: str) -> CompanionError:
    return CompanionError(f"archive {archive} contains {kind} {name!r}; refusing to extract it: delete it and "
                          "download it again from the official source")


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[_Member]:
    members = []
    for info in zf.infolist():
        parts = _safe_parts(info.filename, archive)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise _refuse(archive, info.filename, "a link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, info.filename, "a special file")
        if info.flag_bits & 0x1:
            raise _refuse(archive, info.filename, "an encrypted file")
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        members.append(_Member(parts, is_dir, None if is_dir else (lambda i=info: zf.open(i))))
    return members


def _tar_members(tf: tarfile.TarFile, archive: Path) -> list[_Member]:
    members = []
    for info in tf.getmembers():
        parts = _safe_parts(info.name, archive)
        if info.issym() or info.islnk():
            raise _refuse(archive, info.name, "a link")
        if not (info.isfile() or info.isdir()):
            raise _refuse(archive, info.name, "a device, fifo or other special file")
        members.append(_Member(parts, info.isdir(), None if info.isdir() else (lambda i=info: tf.extractfile(i))))
    return members


def _check_layout(members: Iterable[_Member], archive: Path) -> None:
    files = {m.parts for m in members if not m.is_dir and m.parts}
    parents = {m.parts[:k] for m in members for k in range(1, len(m.parts))}
    clash = files & (parents | {m.parts for m in members if m.is_dir})
    if clash:
        raise _refuse(archive, "/".join(sorted(clash)[0]), "a path that is both a file and a folder")
    if any(not m.is_dir and not m.parts for m in members):
        raise _refuse(archive, "", "a file without a name")


def _unpack(members: list[_Member], target: Path) -> list[Path]:
    target_existed = target.exists()
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
    try:
        for m in members:
            where = tmp.joinpath(*m.parts)
            if m.is_dir:
                where.mkdir(parents=True, exist_ok=True)
                continue
            where.parent.mkdir(parents=True, exist_ok=True)
            with m.opener() as src, open(where, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        placed: dict[tuple[str, ...], Path] = {}
        for m in members:
            final = target.joinpath(*m.parts)
            if m.is_dir:
                final.mkdir(parents=True, exist_ok=True)
            elif m.parts not in placed:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp.joinpath(*m.parts), final)
                placed[m.parts] = final
        return list(placed.values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target_existed and target.is_dir() and not any(target.iterdir()):
            target.rmdir()


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Unpack a zip or tar(.gz/.bz2/.xz) archive into ``target``; return the files written.

    All members are checked first and nothing is written if any is refused. Existing files of the same
    name are replaced; other files in ``target`` are left alone.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise CompanionError(f"archive {archive} does not exist; download it again")
    broken = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = _zip_members(zf, archive)
                _check_layout(members, archive)
                return _unpack(members, target)
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                members = _tar_members(tf, archive)
                _check_layout(members, archive)
                return _unpack(members, target)
    except broken as exc:
        raise CompanionError(f"cannot extract {archive} into {target} ({exc}); if the archive is corrupt or "
                             f"truncated delete it and download it again, else check {target} is writable "
                             "and has space") from None
    raise CompanionError(f"{archive} is not a zip or tar archive (or is truncated); delete it and download it "
                         "again")


# --- datasets ----------------------------------------------------------------------------------------

def _extract_once(archive: Path, target: Path, sha256: str) -> None:
    """Extract ``archive`` unless a marker says this very archive was already extracted and is intact."""
    marker = archive.with_name(archive.name + ".extracted")
    if marker.is_file():
        lines = marker.read_text(encoding="utf-8").splitlines()
        if lines and lines[0] == sha256 and all((target / rel).is_file() for rel in lines[1:]):
            return
    written = extract_archive(archive, target)
    rel = [p.relative_to(target).as_posix() for p in written]
    atomic_write_text(marker, "\n".join([sha256, *rel]) + "\n")


def download_dataset(name: str, root: str | os.PathLike | None = None, *, sha256: str | None = None,
                     progress: bool = True, parts: Iterable[str] = ()) -> Path:
    """Fetch, verify and extract dataset ``name`` under the data root; return the dataset's folder.

    ``sha256`` overrides the sum of a single-file dataset. ``parts`` names optional extras
    (e.g. ``("x4",)`` for DIV2K's bicubic ×4 low-resolution images).
    """
    spec = folders.dataset_spec(name)
    parts = tuple(parts)
    unknown = [p for p in parts if p not in spec.parts]
    if unknown:
        choices = ", ".join(spec.parts) or "none"
        raise CompanionError(f"{spec.name} has no part {unknown[0]!r}; available parts: {choices}")
    files = [*spec.files, *(f for p in parts for f in spec.parts[p])]
    if not files:
        raise CompanionError(spec.manual or f"{spec.name} has no download; see {spec.homepage}")
    if sha256 is not None and len(files) != 1:
        raise CompanionError(f"--sha256 applies to a single file, but {spec.name} has {len(files)}; leave it out")
    sums = [sha256 if sha256 is not None else f.sha256 for f in files]
    for f, s in zip(files, sums):
        if s is None:
            raise CompanionError(f"no published SHA-256 for {f.url}; check the file against its source and run "
                                 f"`python -m companion download {spec.name} --sha256 HEX`")
        _checked_sum(s, f.url)
    root = folders.data_root(root, create=True)
    target = root / spec.extract_to
    for f, s in zip(files, sums):
        archive = download_file(f.url, root / "downloads" / f.filename, s, progress=progress)
        _extract_once(archive, target, _checked_sum(s, f.url))
    folder = root / spec.folder
    if not folder.is_dir():
        raise CompanionError(f"the {spec.name} archives did not unpack to {folder}; their layout changed: "
                             f"unpack {root / 'downloads'} by hand so that {spec.layout[0]} exists")
    return folder


# --- released weights --------------------------------------------------------------------------------

def _convert_once(raw: Path, converted: Path, blob: str, convert: Callable[[Path, Path], object]) -> None:
    """Run ``convert(raw, converted)`` unless a marker says this very file was already converted."""
    marker = converted.with_name(converted.name + ".source")
    if converted.is_file() and marker.is_file() \
            and marker.read_text(encoding="utf-8").splitlines()[:1] == [blob]:
        return
    convert(raw, converted)
    if not converted.is_file():
        raise CompanionError(f"converting {raw} did not write {converted}; delete both and download again")
    atomic_write_text(marker, blob + "\n")


def download_weights(name: str, root: str | os.PathLike | None = None, *, sha256: str | None = None,
                     convert: Callable[[Path, Path], object] | None = None, progress: bool = True) -> Path:
    """Fetch weights ``name`` into ``<root>/weights/``, verified by git blob id; return the file to load.

    With ``convert`` (``convert(downloaded, target)``, which must write ``target`` atomically) the download
    is converted once into the catalogue's converted file beside it, which is returned; a marker beside it
    records the blob id converted, so a later call neither downloads nor converts again. ``sha256`` adds a
    SHA-256 check to the blob id's.
    """
    spec = folders.weights_spec(name)
    folder = folders.data_root(root, create=True) / spec.folder
    raw = download_file(spec.url, folder / spec.filename, sha256, git_blob=spec.git_blob, progress=progress)
    if convert is None or not spec.converted:
        return raw
    converted = folder / spec.converted
    _convert_once(raw, converted, _checked_blob(spec.git_blob, spec.url), convert)
    return converted


# --- datasets installed from an archive the user fetched ---------------------------------------------------
# RealSR v1 is shared by its authors on Google Drive and Baidu only: no published checksum and no stable
# direct URL, so ``download RealSR`` cannot fetch it itself. :func:`install_archive` takes the archive the user
# fetched (a local path or a URL) with its SHA-256, checks the sum, unpacks it into a hidden staging folder,
# finds the dataset's top folder inside (the archive may wrap it in a folder of any name), checks the whole
# layout there, and only then moves the files into ``<root>/<spec.folder>``: a wrong or partial archive leaves
# nothing behind.

#: RealSR v1's layout: ``<camera>/<split>/<scale>/<stem>_HR.png`` with ``<stem>_LR<scale>.png`` beside it, the LR
#: image on the HR image's grid (same size).
REALSR_CAMERAS = ("Canon", "Nikon")
REALSR_SPLITS = ("Train", "Test")
REALSR_SCALES = (2, 3, 4)


def realsr_pairs(folder: str | os.PathLike, camera: str, split: str, scale: int) -> list[tuple[Path, Path]]:
    """(HR, LR) paths of ``<folder>/<camera>/<split>/<scale>/``, sorted by name: every ``*_HR.png`` with the
    ``*_LR<scale>.png`` of the same stem (whether or not that file exists)."""
    where = Path(folder) / camera / split / str(int(scale))
    return [(hr, hr.with_name(hr.name[: -len("_HR.png")] + f"_LR{int(scale)}.png"))
            for hr in sorted(where.glob("*_HR.png"))]


def check_realsr_layout(folder: str | os.PathLike) -> dict[str, int]:
    """Check a RealSR v1 folder: for every camera, split and scale of :data:`REALSR_CAMERAS` ×
    :data:`REALSR_SPLITS` × :data:`REALSR_SCALES` at least one HR image, each with its LR image, both readable
    8-bit RGB PNGs of the same size. Returns ``{"Canon/Test/4": pairs, ...}``; a one-line error names the first
    problem."""
    # reason: PIL and NumPy load only when a layout is checked (this module serves the command line)
    from companion.data.images import check_image_file

    folder = Path(folder)
    counts = {}
    for camera in REALSR_CAMERAS:
        for split in REALSR_SPLITS:
            for scale in REALSR_SCALES:
                where = f"{camera}/{split}/{scale}"
                pairs = realsr_pairs(folder, camera, split, scale)
                if not pairs:
                    raise CompanionError(f"RealSR layout: no {where}/*_HR.png under {folder}; this is not the "
                                         "RealSR v1 archive (expected Canon|Nikon/Train|Test/2|3|4/<name>_HR.png "
                                         "beside <name>_LR<scale>.png)")
                for hr, lr in pairs:
                    if not lr.is_file():
                        raise CompanionError(f"RealSR layout: {hr.relative_to(folder)} has no {lr.name} beside it; "
                                             "the archive is incomplete: fetch it again")
                    hr_size, lr_size = check_image_file(hr), check_image_file(lr)
                    if hr_size != lr_size:
                        raise CompanionError(f"RealSR layout: {lr.relative_to(folder)} is {lr_size[0]}x{lr_size[1]} "
                                             f"but its HR image is {hr_size[0]}x{hr_size[1]}; RealSR v1 registers "
                                             "the LR image on the HR grid (same size): is this another version?")
                counts[where] = len(pairs)
    return counts


#: Datasets :func:`install_archive` knows: name -> (the entries that mark the dataset's top folder inside an
#: archive, the check of the extracted layout).
ARCHIVE_LAYOUTS: dict[str, tuple[tuple[str, ...], Callable[[Path], dict]]] = {
    "RealSR": (REALSR_CAMERAS, check_realsr_layout),
}


def _dataset_top(staging: Path, markers: tuple[str, ...]) -> Path:
    """The shallowest folder under ``staging`` (itself included) that holds every one of ``markers``."""
    for depth in range(4):
        for folder in sorted(p for p in ([staging] if depth == 0 else staging.glob("/".join(["*"] * depth)))
                             if p.is_dir()):
            if all((folder / m).is_dir() for m in markers):
                return folder
    raise CompanionError(f"the archive holds no folder with {', '.join(f'{m}/' for m in markers)} (looked 3 "
                         "levels deep); is it the right dataset?")


def _archive_file(source: str, downloads: Path, sha256: str, progress: bool) -> Path:
    """The archive ``source`` names: a local file (checked in place), or a URL fetched into ``downloads``."""
    if re.match(r"[a-z][a-z0-9+.-]*://", source, flags=re.I):
        name = re.sub(r"[^A-Za-z0-9._()-]", "_", urllib.request.url2pathname(source.split("?", 1)[0]).rsplit("/", 1)[-1])
        return download_file(source, downloads / (name.strip("._") or "archive"), sha256, progress=progress)
    path = Path(source).expanduser()
    if not path.is_file():
        raise CompanionError(f"archive {path} does not exist; pass the file you downloaded (or its URL) to --archive")
    actual = file_sha256(path)
    if actual != sha256:
        raise CompanionError(f"checksum mismatch for {path}: expected SHA-256 {sha256}, got {actual}; check that "
                             "this is the file you meant, and pass its sum with --sha256")
    return path


def install_archive(name: str, source: str | os.PathLike, *, sha256: str | None,
                    root: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Install dataset ``name`` (one of :data:`ARCHIVE_LAYOUTS`) from ``source``, an archive the user fetched: a
    local path or a URL, verified against ``sha256`` (required). The archive is unpacked into a hidden staging
    folder under ``<root>/downloads/``, the dataset's top folder is found inside it, its layout checked, and only
    then are its files moved into ``<root>/<folder>`` (existing files of the same name replaced, others kept).
    A marker beside the archive (local archives: ``<root>/downloads/<name>.installed``) records what was
    installed, so a rerun with the same archive returns at once when every file is still there. Returns the
    dataset's folder."""
    spec = folders.dataset_spec(name)
    if spec.name not in ARCHIVE_LAYOUTS:
        raise CompanionError(f"{spec.name} is not installed from an archive; run `python -m companion download "
                             f"{spec.name}` without --archive")
    markers, check = ARCHIVE_LAYOUTS[spec.name]
    expected = _checked_sum(sha256, str(source))
    root = folders.data_root(root, create=True)
    downloads = root / "downloads"
    target = root / spec.folder
    marker = downloads / f"{spec.name}.installed"
    if marker.is_file():
        lines = marker.read_text(encoding="utf-8").splitlines()
        if lines and lines[0] == expected and all((target / rel).is_file() for rel in lines[1:]):
            return target
    archive = _archive_file(str(source), downloads, expected, progress)
    downloads.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".install-{spec.name}-", dir=downloads))
    try:
        extract_archive(archive, staging)
        top = _dataset_top(staging, markers)
        check(top)
        files = sorted(p for p in top.rglob("*") if p.is_file())
        placed = []
        for path in files:
            rel = path.relative_to(top)
            final = target / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            placed.append(rel.as_posix())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    atomic_write_text(marker, "\n".join([expected, *placed]) + "\n")
    return target
