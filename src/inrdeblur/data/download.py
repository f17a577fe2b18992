"""Download and unpack dataset files: resumable, retried, checksummed and atomic.

The ``fetch`` stage (a Snakemake localrule, because login nodes have internet and compute
nodes often do not) calls :func:`fetch_dataset` through the CLI. The library part knows
nothing about Snakemake or DVC.

:func:`download` gets one file from ``http://``, ``https://`` (stdlib ``urllib``; the
usual ``http_proxy``/``https_proxy``/``no_proxy`` variables apply), a ``file://`` URL or a
plain local path (a mirror):

- **Streaming and atomic.** Bytes go to the sibling ``<dest>.part``, never into memory and
  never straight into ``dest``. Only after the size and SHA-256 checks pass is the part
  file renamed onto ``dest``, so ``dest`` is either absent or complete and verified. An
  exclusive lock on the part file stops two processes from writing into it at once.
- **Resume.** When ``<dest>.part`` exists (a killed run, or a dropped connection in this
  run) the request carries ``Range: bytes=N-``. A ``206`` answer is appended; a ``200``
  (a server that ignores ranges) restarts from byte zero; a ``416`` on a part file that
  already holds the whole file counts as done. Local sources are always copied from the
  start. A part file whose resumed result fails the checksum is downloaded once more
  from scratch before the error is raised, in case it was left by another version of
  the file.
- **Retries.** Connection errors, timeouts, a connection dropped before ``Content-Length``
  bytes arrived, HTTP 5xx, 408 and 429 are retried with exponential backoff
  (``backoff * 2**k`` seconds, at most 60; a ``Retry-After`` header is honoured up to
  5 minutes). Each retry resumes from the bytes already on disk, and ``retries`` counts
  failed attempts *in a row*: an attempt that added bytes starts the count again, so a
  long download over a flaky link completes. Other 4xx answers (404, 403, ...) fail at
  once with :class:`FetchError` naming the URL and status.
- **Verification.** ``size`` (bytes) and ``sha256`` are checked when given; a mismatch
  raises :class:`ChecksumError` naming the file and URL with both values, and deletes the
  bad file. ``sha256`` may be a hex prefix of at least 8 digits: torchvision/torch hub
  file names such as ``alexnet-owt-7be5be79.pth`` carry only the first 8 digits.

:func:`unpack` extracts ``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2`` and
``.tar.xz`` archives into a temporary sibling folder and renames it into place. Members
with absolute paths or ``..`` are refused, as are symbolic links and special files. A
truncated or corrupt archive raises :class:`FetchError` and leaves nothing behind.

:func:`fetch_dataset` fetches every item of one dataset's registry entry into
``<raw_dir>/<name>/``:

- **Mirrors.** With ``mirror`` (a folder, a ``file://`` URL or an ``http(s)://`` base URL)
  each item is read from ``<mirror>/<path>`` instead of its URL. For an archive that is
  not at ``<mirror>/<path>`` in a local mirror, the archive's file name from its URL is
  tried as well.
- **Atomic and idempotent.** The dataset is built in ``<raw_dir>/<name>.tmp-<random>/``,
  archives are unpacked there (and then deleted), the stamp ``.fetched.json`` is written
  last, and the folder is renamed to ``<raw_dir>/<name>``. An existing, non-empty
  ``<raw_dir>/<name>`` is verified instead of fetched again: against its stamp (every file's
  size and SHA-256, and the spec's items) or, without a stamp, against the spec's item
  files. A folder that fails raises with every problem named; nothing is deleted. A
  folder that passes without a stamp (placed by hand, or its stamp removed by a workflow
  that reruns the fetch) gets one, so that the stamp exists after every successful call.
  An empty folder (for example one that Snakemake created for an output) is replaced. A
  killed run can leave a ``<name>.tmp-*`` folder behind, which is safe to delete.
- **Recording checksums.** An item whose registry ``sha256`` is empty or absent is still
  fetched; its measured SHA-256 and size are returned (never invented) and, with
  ``record``, written atomically to that JSON file. A later fetch takes unknown hashes
  from the record and so verifies against them.

>>> import pathlib, shutil, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "abc.txt").write_bytes(b"abc")
>>> download(folder / "abc.txt", folder / "copy.txt", sha256="ba7816bf", progress=False)
'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
>>> (folder / "copy.txt").read_bytes(), (folder / "copy.txt.part").exists()
(b'abc', False)
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import bz2
import contextlib
import email.utils
import functools
import gzip
import hashlib
import http.client
import logging
import lzma
import os
import re
import shutil
import ssl
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

from inrdeblur import __version__, layout
from inrdeblur.data.checksums import file_sha256
from inrdeblur.fileio import InputFileError, read_json, write_json

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "STAMP_FILE",
    "ChecksumError",
    "FetchError",
    "download",
    "fetch_dataset",
    "file_sha256",
    "torch_hub_dir",
    "unpack",
]

log = logging.getLogger(__name__)

#: Name of the stamp written last into a fetched dataset folder.
STAMP_FILE = Path(layout.FETCH_STAMP).name  # ".fetched.json"
PART_SUFFIX = ".part"
CHUNK_SIZE = 1 << 18  # bytes per read/write while streaming
MAX_BACKOFF_S = 60.0
MAX_RETRY_AFTER_S = 300.0
#: HTTP statuses retried besides 5xx.
RETRY_STATUSES = frozenset({408, 429})
USER_AGENT = f"inrdeblur/{__version__} (Python urllib)"
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{8,64}$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)

StrPath = str | os.PathLike


class FetchError(InputFileError):
    """A dataset file could not be downloaded, copied, unpacked or verified.

    The message names the URL or path.
    """


class ChecksumError(FetchError):
    """A file's SHA-256 (or size) differs from the expected value; the message gives both."""


class _TransientError(Exception):
    """An attempt failed in a way a retry may fix (internal)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------
# Single files


def torch_hub_dir() -> Path:
    """The folder torch.hub caches into: ``$TORCH_HOME/hub``, found without importing torch.

    ``TORCH_HOME`` defaults as in torch to ``$XDG_CACHE_HOME/torch``, else
    ``~/.cache/torch``; downloaded weights go to its ``checkpoints/`` subfolder. (A
    ``torch.hub.set_dir`` call inside a process is not seen here.)
    """
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub"


def download(
    url: StrPath,
    dest: StrPath,
    *,
    sha256: str | None = None,
    size: int | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60,
    progress: bool = True,
) -> str:
    """Fetch ``url`` to ``dest`` with resume, retries and verification; return its SHA-256.

    Args:
        url: ``http://`` or ``https://`` URL, ``file://`` URL or local path.
        dest: the file to create; parent folders are made. An existing ``dest`` that
            matches a given ``sha256`` (and ``size``) is kept without any transfer;
            otherwise it is replaced once the new file has been verified.
        sha256: expected hex SHA-256, or a hex prefix of at least 8 digits; ``None`` or
            ``""`` when unknown.
        size: expected size in bytes, or ``None``.
        retries: failed attempts in a row allowed after the first (0: no retry).
        backoff: first retry delay in seconds; it doubles per failure in a row.
        timeout: socket timeout in seconds for connecting and for each read.
        progress: show a tqdm bar on stderr when the size is known.

    Returns:
        The full hex SHA-256 of ``dest``.

    Raises:
        FetchError: unsupported URL, a missing local file, HTTP 4xx (not retried), or
            retries used up (the part file is kept for a later resume).
        ChecksumError: the size or SHA-256 differs; the downloaded file is deleted.
    """
    dest = Path(dest)
    source = str(url)
    expected = _normalise_sha256(sha256, source)
    size = _normalise_size(size, source)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    kind, location = _parse_source(url)
    if dest.is_dir():
        raise FetchError(f"{dest}: is a folder; cannot download {source} there")
    if expected and dest.is_file():
        actual = file_sha256(dest)
        if actual.startswith(expected) and (size is None or dest.stat().st_size == size):
            log.info("%s: already present and verified", dest)
            return actual
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)

    with _locked_part(part, source) as handle:
        attempt: Callable[[], None]
        if kind == "local":
            attempt = functools.partial(
                _copy_once, Path(location), handle, size, progress, dest.name
            )
        else:
            attempt = functools.partial(
                _http_once, str(location), handle, size, timeout, progress, dest.name
            )
        leftover = _file_size(handle)
        if leftover:
            log.info("%s: resuming from the %d bytes in %s", source, leftover, part)
        try:
            try:
                _retrying(attempt, handle, source, part, retries, backoff)
                actual = _verify_part(handle, source, dest, expected, size)
            except ChecksumError as err:
                if not leftover or kind == "local":
                    raise
                # The part file may have come from another version of the file: once more
                # from scratch before giving up.
                log.warning("%s; downloading again from the start", err)
                _truncate(handle)
                _retrying(attempt, handle, source, part, retries, backoff)
                actual = _verify_part(handle, source, dest, expected, size)
        except ChecksumError:
            part.unlink(missing_ok=True)
            raise
        except FetchError:
            if not _file_size(handle):  # nothing worth resuming
                part.unlink(missing_ok=True)
            raise
        handle.flush()
        os.fsync(handle.fileno())
        os.replace(part, dest)
    return actual


@contextlib.contextmanager
def _locked_part(part: Path, source: str) -> Iterator[IO[bytes]]:
    """Open (or create) ``part`` for reading and writing under an exclusive lock."""
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)
    handle = os.fdopen(fd, "r+b")
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise FetchError(
                    f"{part}: another process is downloading into this file; "
                    f"wait for it to finish before fetching {source} again"
                ) from err
            except OSError:  # a file system without locks (some NFS mounts)
                pass
        handle.seek(0, os.SEEK_END)
        yield handle
    finally:
        handle.close()


def _retrying(
    attempt: Callable[[], None],
    handle: IO[bytes],
    source: str,
    part: Path,
    retries: int,
    backoff: float,
) -> None:
    """Run ``attempt`` until it succeeds or fails ``retries + 1`` times in a row."""
    failures = 0
    while True:
        before = _file_size(handle)
        try:
            attempt()
            return
        except _TransientError as err:
            after = _file_size(handle)
            failures = 1 if after > before else failures + 1
            if failures > retries:
                kept = f"; {after} bytes kept in {part} to resume later" if after else ""
                raise FetchError(
                    f"{source}: giving up after {failures} failed attempt(s) in a row: {err}{kept}"
                ) from err
            delay = min(backoff * 2 ** (failures - 1), MAX_BACKOFF_S)
            if err.retry_after is not None:
                delay = max(delay, min(err.retry_after, MAX_RETRY_AFTER_S))
            log.warning(
                "%s: %s; retry %d of %d in %.2f s (resuming at byte %d)",
                source,
                err,
                failures,
                retries,
                delay,
                after,
            )
            time.sleep(delay)


def _http_once(
    url: str, handle: IO[bytes], size: int | None, timeout: float, progress: bool, desc: str
) -> None:
    """One HTTP request, appending to (or restarting) the part file ``handle``."""
    offset = _file_size(handle)
    if size is not None and offset == size:
        return  # the part file already holds every byte; verification decides
    if size is not None and offset > size:
        _truncate(handle)
        offset = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        with contextlib.closing(err):
            _http_error(url, err, handle, offset)
        return
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        raise _network_error(url, err) from err
    with response:
        length = _int_header(response.headers.get("Content-Length"))
        if response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != offset:
                _truncate(handle)
                raise _TransientError(
                    f"asked for bytes from {offset}, the server sent a range starting at "
                    f"{first}; starting again from zero"
                )
        else:
            if offset:
                log.info("%s: the server ignored the range request; starting from zero", url)
                _truncate(handle)
                offset = 0
            total = length
        if total is None and length is not None:
            total = offset + length
        if size is not None and total is not None and total != size:
            raise ChecksumError(f"{url}: the server reports {total} bytes, expected size {size}")
        handle.seek(0, os.SEEK_END)
        received = _stream(response, handle, total or size, offset, progress, desc)
        if length is not None and received < length:
            raise _TransientError(
                f"connection closed after {offset + received} of {offset + length} bytes"
            )


def _http_error(url: str, err: urllib.error.HTTPError, handle: IO[bytes], offset: int) -> None:
    """Return when an error answer means the part file is complete, raise otherwise."""
    if err.code == 416 and offset:
        match = _UNSATISFIED_RANGE.match(err.headers.get("Content-Range") or "")
        total = int(match.group(1)) if match else None
        if total is None or total == offset:
            return  # 416 on a complete part file
        _truncate(handle)
        raise _TransientError(
            f"HTTP 416: the server has {total} bytes, the part file {offset}; starting again"
        )
    if err.code >= 500 or err.code in RETRY_STATUSES:
        raise _TransientError(
            f"HTTP {err.code} {err.reason}", retry_after=_retry_after(err.headers)
        )
    raise FetchError(f"{url}: HTTP {err.code} {err.reason} (not retried)")


def _network_error(url: str, err: BaseException) -> Exception:
    """The exception to raise for a failed connection: fatal for bad certificates."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return FetchError(f"{url}: TLS certificate verification failed ({reason})")
    return _TransientError(f"cannot connect ({type(reason).__name__}: {reason})")


def _copy_once(
    source: Path, handle: IO[bytes], size: int | None, progress: bool, desc: str
) -> None:
    """Copy a local file into the part file from byte zero."""
    _truncate(handle)
    try:
        src = source.open("rb")
    except FileNotFoundError as err:
        raise FetchError(f"{source}: file not found") from err
    except IsADirectoryError as err:
        raise FetchError(f"{source}: is a folder, not a file") from err
    except PermissionError as err:
        raise FetchError(f"{source}: permission denied") from err
    except OSError as err:
        raise _TransientError(f"cannot open {source} ({err})") from err
    with src:
        total = os.fstat(src.fileno()).st_size
        if size is not None and total != size:
            raise ChecksumError(f"{source}: the file has {total} bytes, expected size {size}")
        received = _stream(src, handle, total, 0, progress, desc)
    if received != total:
        raise _TransientError(f"read {received} of {total} bytes from {source}")


def _stream(
    src: Any, handle: IO[bytes], total: int | None, initial: int, progress: bool, desc: str
) -> int:
    """Copy ``src`` to the end of ``handle`` in chunks; the number of bytes copied."""
    bar = None
    if progress and total:
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=initial,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            leave=False,
            mininterval=0.5,
        )
    received = 0
    try:
        while True:
            try:
                chunk = src.read(CHUNK_SIZE)
            except (OSError, http.client.HTTPException) as err:
                raise _TransientError(
                    f"connection lost after {initial + received} bytes "
                    f"({type(err).__name__}: {err})"
                ) from err
            if not chunk:
                return received
            handle.write(chunk)
            received += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        handle.flush()
        if bar is not None:
            bar.close()


def _verify_part(
    handle: IO[bytes], source: str, dest: Path, expected: str | None, size: int | None
) -> str:
    """Check the finished part file's size and SHA-256; return the SHA-256."""
    actual_size = _file_size(handle)
    if size is not None and actual_size != size:
        kind = "short" if actual_size < size else "long"
        raise ChecksumError(
            f"{source}: got {actual_size} bytes for {dest}, expected size {size} "
            f"({kind} file); the download was deleted"
        )
    handle.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    actual = digest.hexdigest()
    if expected and not actual.startswith(expected):
        raise ChecksumError(
            f"{source}: sha256 mismatch for {dest}: expected {_describe(expected)}, "
            f"got {actual}; the download was deleted"
        )
    return actual


def _describe(expected: str) -> str:
    if len(expected) == 64:
        return expected
    return (
        f"{expected} (a prefix: only the first {len(expected)} hex digits of the sha256 are known)"
    )


def _parse_source(url: StrPath) -> tuple[str, str | Path]:
    """``("http", url)`` or ``("local", path)``; unsupported schemes raise."""
    if isinstance(url, os.PathLike):
        return "local", Path(url)
    if not isinstance(url, str) or not url:
        raise FetchError(f"not a URL or path: {url!r}")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise FetchError(f"{url}: no host in the URL")
        return "http", url
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"{url}: file:// URLs naming another host are not supported")
        return "local", Path(urllib.request.url2pathname(parts.path))
    if not scheme or (len(scheme) == 1 and os.name == "nt"):
        return "local", Path(url)
    raise FetchError(
        f"{url}: unsupported URL scheme {scheme!r}; use http://, https://, file:// or a local path"
    )


def _normalise_sha256(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FetchError(
            f"{what}: sha256 must be a string of hex digits, got {type(value).__name__} "
            f"{value!r} (quote it in YAML)"
        )
    text = value.strip().lower()
    text = text.removeprefix("sha256:")
    if not text:
        return None
    if not _HEX_DIGEST.match(text):
        raise FetchError(f"{what}: sha256 {value!r} is not 8 to 64 hex digits")
    return text


def _normalise_size(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FetchError(f"{what}: size must be a whole number of bytes >= 0, got {value!r}")
    return value


def _file_size(handle: IO[bytes]) -> int:
    handle.flush()
    return os.fstat(handle.fileno()).st_size


def _truncate(handle: IO[bytes]) -> None:
    handle.seek(0)
    handle.truncate(0)


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(first byte, total size or None)`` of a ``Content-Range: bytes a-b/n`` header."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None, None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --------------------------------------------------------------------------------------
# Archives


def unpack(archive: StrPath, dest_dir: StrPath, *, strip_components: int = 0) -> list[str]:
    """Unpack ``archive`` into ``dest_dir`` atomically; the relative paths of its files.

    Supports ``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2`` and ``.tar.xz`` (other
    names are recognised by content). Members are extracted into a temporary sibling
    folder that is renamed to ``dest_dir`` at the end; ``dest_dir`` must not exist or be
    empty. ``strip_components`` drops that many leading folders from each member name
    (like ``tar --strip-components``); members with no path left are skipped.

    Raises:
        FetchError: a member with an absolute path, ``..``, a link or a special file
            (path traversal is refused before anything is written), an unknown archive
            type, a truncated or corrupt archive, or a non-empty ``dest_dir``. Neither
            ``dest_dir`` nor the temporary folder is left behind.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    strip = _check_strip(strip_components, str(archive))
    if not archive.is_file():
        raise FetchError(f"{archive}: archive not found")
    if dest_dir.exists() and (not dest_dir.is_dir() or any(dest_dir.iterdir())):
        raise FetchError(
            f"{dest_dir}: already exists and is not an empty folder; "
            f"remove it to unpack {archive} again"
        )
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.unpack-"))
    try:
        files = _extract(archive, tmp, strip)
        _default_permissions(tmp)
        if dest_dir.is_dir():
            dest_dir.rmdir()
        os.rename(tmp, dest_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files


def _check_strip(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FetchError(f"{what}: strip_components must be an integer >= 0, got {value!r}")
    return value


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(_TAR_SUFFIXES):
        return "tar"
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise FetchError(
        f"{archive}: not a recognised archive (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz)"
    )


def _extract(archive: Path, root: Path, strip: int) -> list[str]:
    """Extract every member of ``archive`` under the existing folder ``root``.

    A member may not replace a file that was in ``root`` before. Returns the relative
    POSIX paths of the files written, in archive order.
    """
    kind = _archive_kind(archive)
    written: dict[str, None] = {}  # insertion-ordered set
    try:
        if kind == "zip":
            _extract_zip(archive, root, strip, written)
        else:
            _extract_tar(archive, root, strip, written)
    except FetchError:
        raise
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zlib.error,
        lzma.LZMAError,
        EOFError,
        OSError,
        RuntimeError,  # zipfile: encrypted member
        NotImplementedError,  # zipfile: unsupported compression
    ) as err:
        raise FetchError(
            f"{archive}: cannot unpack ({type(err).__name__}: {err}); "
            f"the archive may be truncated or corrupt"
        ) from err
    return list(written)


def _extract_tar(archive: Path, root: Path, strip: int, written: dict[str, None]) -> None:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            rel = _member_path(archive, member.name, strip)
            if rel is None:
                continue
            if member.issym():
                raise FetchError(
                    f"{archive}: member {member.name!r} is a symbolic link "
                    f"(to {member.linkname!r}); links are not unpacked"
                )
            if not (member.isdir() or member.isfile() or member.islnk()):
                raise FetchError(
                    f"{archive}: member {member.name!r} is a device, FIFO or other special "
                    f"file; refusing to unpack"
                )
            target = _target(archive, root, rel, member.name, written)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.islnk():
                link = _member_path(archive, member.linkname, strip)
                if link is None or link not in written:
                    raise FetchError(
                        f"{archive}: hard link {member.name!r} points to "
                        f"{member.linkname!r}, which is not a file unpacked before it"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / link, target)
                written[rel] = None
            else:
                source = tar.extractfile(member)
                assert source is not None  # regular file
                with source:
                    _write_member(source, target, member.size, archive, member.name)
                written[rel] = None
        # Read compressed streams to the end so a damaged trailer (CRC, length) is noticed.
        if isinstance(tar.fileobj, gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile):
            while tar.fileobj.read(1 << 20):
                pass


def _extract_zip(archive: Path, root: Path, strip: int, written: dict[str, None]) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            rel = _member_path(archive, info.filename, strip)
            if rel is None:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise FetchError(
                    f"{archive}: member {info.filename!r} is a symbolic link; "
                    f"links are not unpacked"
                )
            target = _target(archive, root, rel, info.filename, written)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zipped.open(info) as source:
                _write_member(source, target, info.file_size, archive, info.filename)
            written[rel] = None


def _member_path(archive: Path, name: str, strip: int) -> str | None:
    """A member's relative POSIX path after stripping; ``None`` when nothing is left."""
    windows = PureWindowsPath(name)
    if name.startswith(("/", "\\")) or windows.drive or windows.root:
        raise FetchError(
            f"{archive}: member {name!r} has an absolute path; refusing to unpack (path traversal)"
        )
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise FetchError(
            f"{archive}: member {name!r} contains '..' and would land outside the "
            f"destination folder; refusing to unpack (path traversal)"
        )
    parts = parts[strip:]
    return "/".join(parts) if parts else None


def _target(archive: Path, root: Path, rel: str, name: str, written: dict[str, None]) -> Path:
    """The output path of member ``rel``, checked to stay inside ``root``."""
    target = root / rel
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target.parent)]) != real_root:
        raise FetchError(f"{archive}: member {name!r} would land outside {root}")
    if os.path.lexists(target) and rel not in written and not target.is_dir():
        raise FetchError(f"{archive}: member {name!r} would overwrite {target}")
    return target


def _write_member(source: IO[bytes], target: Path, expected: int, archive: Path, name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(target, "wb") as out:
        for block in iter(lambda: source.read(CHUNK_SIZE), b""):
            out.write(block)
            count += len(block)
    if count != expected:
        raise FetchError(
            f"{archive}: member {name!r} has {count} of {expected} bytes; the archive is truncated"
        )


def _default_permissions(folder: Path) -> None:
    """Give a folder made by ``mkdtemp`` (mode 0700) the permissions ``mkdir`` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)


# --------------------------------------------------------------------------------------
# Datasets


@dataclass(frozen=True)
class _Item:
    """One entry of a dataset spec's ``files`` list, checked and normalised."""

    path: str
    url: str | None
    sha256: str | None
    size: int | None
    unpack: bool
    unpack_to: str
    strip_components: int

    def layout(self) -> dict[str, Any]:
        return {
            "unpack": self.unpack,
            "unpack_to": self.unpack_to,
            "strip_components": self.strip_components,
        }


def fetch_dataset(
    spec: Mapping[str, Any],
    raw_dir: StrPath,
    *,
    name: str | None = None,
    mirror: StrPath | None = None,
    record: StrPath | None = None,
    progress: bool = True,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60,
) -> dict[str, dict[str, Any]]:
    """Fetch every item of one dataset's registry entry into ``<raw_dir>/<name>/``.

    ``spec`` is ``{"name": str, "files": [item, ...]}``; each item has ``path`` (where it
    lands under ``<raw_dir>/<name>/``, POSIX, relative), ``url`` (optional with a
    mirror; ``""`` = none), ``sha256`` (hex or hex prefix; empty or absent: unknown),
    ``sha256_prefix`` (optional, used when ``sha256`` is empty: the leading hex digits a
    publisher puts in the file name), ``size`` (bytes, optional), ``unpack`` (bool: the
    item is an archive unpacked into ``<raw_dir>/<name>/<unpack_to>`` and then deleted),
    ``unpack_to`` (default ``""``) and ``strip_components`` (default 0). Other keys
    (``title``, ``licence``, ``notes``, ...) are ignored. An empty ``files`` list fetches
    nothing, creates nothing and returns ``{}``.

    Args:
        spec: the dataset's registry entry.
        raw_dir: the folder holding all raw datasets (``data/raw``).
        name: the dataset's name when ``spec`` has no ``name`` key (the registry YAML
            keys its entries by name); it must agree with ``spec["name"]`` if both exist.
        mirror: a folder, ``file://`` URL or ``http(s)://`` base URL holding the items at
            ``<mirror>/<path>``; when given, item URLs are not used.
        record: a JSON file of measured checksums (``data/raw/<name>.checksums.json``):
            read for items without a registry sha256, then written with the result.
        progress: show tqdm bars.
        retries, backoff, timeout: passed to :func:`download`.

    Returns:
        ``{path: {"sha256": hex, "size": bytes}}`` for every item, measured on the fetched
        (or already present) file; for archives, of the archive.

    Raises:
        FetchError: a bad spec, a failed download or unpack (nothing is left at
            ``<raw_dir>/<name>``), or an existing folder that fails verification (it is
            not touched).
        ChecksumError: a file differs from its registry or recorded sha256 or size.
    """
    name, items = _check_spec(spec, name)
    if not items:
        log.warning("dataset %r: no files to fetch", name)
        return {}
    raw_dir = Path(raw_dir)
    final = raw_dir / name
    recorded = _read_record(record) if record is not None else {}
    items = [_with_recorded(item, recorded.get(item.path)) for item in items]
    if (final.exists() or final.is_symlink()) and not _is_empty_dir(final):
        result = _verify_existing(final, name, items)
        log.info("%s: already fetched and verified", final)
        if not (final / STAMP_FILE).exists() and not any(item.unpack for item in items):
            _write_stamp(final, name, items, result)
            log.info("%s: wrote the missing %s", final, STAMP_FILE)
    else:
        result = _build(final, name, items, mirror, progress, retries, backoff, timeout)
    if record is not None:
        _write_record(Path(record), recorded, result)
    return result


def _build(
    final: Path,
    name: str,
    items: list[_Item],
    mirror: StrPath | None,
    progress: bool,
    retries: int,
    backoff: float,
    timeout: float,
) -> dict[str, dict[str, Any]]:
    """Fetch into a temporary sibling of ``final`` and rename it into place."""
    mirror_root = _mirror_root(mirror) if mirror is not None else None
    final.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=final.parent, prefix=f"{name}.tmp-"))
    try:
        result: dict[str, dict[str, Any]] = {}
        hashes: dict[str, str] = {}
        for item in items:
            source = _item_source(name, item, mirror_root)
            target = build / item.path
            if os.path.lexists(target):
                raise FetchError(
                    f"dataset {name!r}: {item.path} collides with a file unpacked from an "
                    f"earlier item"
                )
            log.info("%s: fetching %s from %s", name, item.path, source)
            digest = download(
                source,
                target,
                sha256=item.sha256,
                size=item.size,
                retries=retries,
                backoff=backoff,
                timeout=timeout,
                progress=progress,
            )
            result[item.path] = {"sha256": digest, "size": target.stat().st_size}
            if item.unpack:
                into = build / item.unpack_to if item.unpack_to else build
                into.mkdir(parents=True, exist_ok=True)
                _extract(target, into, item.strip_components)
                target.unlink()
                _remove_empty_parents(target, build)
            else:
                hashes[item.path] = digest
        files = {}
        for path in sorted(build.rglob("*")):
            if path.is_file() and not path.is_symlink():
                rel = path.relative_to(build).as_posix()
                digest = hashes.get(rel) or file_sha256(path)
                files[rel] = {"sha256": digest, "size": path.stat().st_size}
        _write_stamp(build, name, items, result, files)  # last: see the docstring
        _default_permissions(build)
        if _is_empty_dir(final):
            final.rmdir()
        try:
            os.rename(build, final)
        except OSError as err:
            if not (final.exists() and not _is_empty_dir(final)):
                raise FetchError(f"cannot move {build} to {final} ({err})") from err
            # Another process finished the same dataset first: check its copy instead.
            shutil.rmtree(build, ignore_errors=True)
            return _verify_existing(final, name, items)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return result


def _write_stamp(
    folder: Path,
    name: str,
    items: list[_Item],
    result: dict[str, dict[str, Any]],
    files: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Write ``folder/.fetched.json``: the items and every file's sha256 and size.

    ``files`` defaults to the (not unpacked) items themselves, with their ``result``.
    Written last into a build, so an interrupted build has no stamp.
    """
    if files is None:
        files = {item.path: result[item.path] for item in items}
    stamp = {
        "dataset": name,
        "items": [
            {"path": item.path, "url": item.url, **result[item.path], **item.layout()}
            for item in items
        ],
        "files": files,
    }
    write_json(folder / STAMP_FILE, stamp)


def _remove_empty_parents(path: Path, root: Path) -> None:
    """Remove the folders between ``path`` and ``root`` that are now empty."""
    parent = path.parent
    while parent != root and _is_empty_dir(parent):
        parent.rmdir()
        parent = parent.parent


def _check_spec(spec: Mapping[str, Any], given_name: str | None) -> tuple[str, list[_Item]]:
    if not isinstance(spec, Mapping):
        raise FetchError(f"dataset spec must be a mapping, got {type(spec).__name__}")
    name = spec.get("name", given_name)
    if given_name is not None and name != given_name:
        raise FetchError(f"dataset spec: name {name!r} disagrees with name={given_name!r}")
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise FetchError(f"dataset spec: 'name' must be a plain folder name, got {name!r}")
    entries = spec.get("files")
    if not isinstance(entries, list):
        raise FetchError(f"dataset {name!r}: 'files' must be a list of items")
    items: list[_Item] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"dataset {name!r}: files[{index}]"
        if not isinstance(entry, Mapping):
            raise FetchError(f"{where}: must be a mapping, got {type(entry).__name__}")
        path = _relative(entry.get("path"), f"{where}.path", allow_empty=False)
        where = f"dataset {name!r}: {path}"
        if path == STAMP_FILE or path in seen:
            raise FetchError(f"{where}: path is reserved or listed twice")
        seen.add(path)
        url = entry.get("url") or None
        if url is not None and not isinstance(url, str):
            raise FetchError(f"{where}: url must be a string, got {url!r}")
        unpack_flag = entry.get("unpack", False)
        if not isinstance(unpack_flag, bool):
            raise FetchError(f"{where}: unpack must be true or false, got {unpack_flag!r}")
        sha256 = _normalise_sha256(entry.get("sha256"), where)
        prefix = _normalise_sha256(entry.get("sha256_prefix"), f"{where}: sha256_prefix")
        if sha256 and prefix and not sha256.startswith(prefix):
            raise FetchError(f"{where}: sha256 {sha256} does not start with sha256_prefix {prefix}")
        items.append(
            _Item(
                path=path,
                url=url,
                sha256=sha256 or prefix,
                size=_normalise_size(entry.get("size"), where),
                unpack=unpack_flag,
                unpack_to=_relative(entry.get("unpack_to") or "", f"{where}: unpack_to"),
                strip_components=_check_strip(entry.get("strip_components", 0), where),
            )
        )
    return name, items


def _relative(value: Any, what: str, allow_empty: bool = True) -> str:
    """A safe relative POSIX path (``""`` allowed only with ``allow_empty``)."""
    if not isinstance(value, str) or (not value and not allow_empty):
        raise FetchError(f"{what}: must be a relative path string, got {value!r}")
    if not value:
        return ""
    pure = PurePosixPath(value)
    if pure.as_posix() == ".":
        if not allow_empty:
            raise FetchError(f"{what}: must name a file, got {value!r}")
        return ""
    if pure.is_absolute() or "\\" in value or ".." in pure.parts or PureWindowsPath(value).drive:
        raise FetchError(f"{what}: {value!r} must stay inside the dataset folder")
    return pure.as_posix()


def _with_recorded(item: _Item, entry: Mapping[str, Any] | None) -> _Item:
    """Fill an item's unknown (or prefix) sha256 and unknown size from the record."""
    if entry is None:
        return item
    digest = entry["sha256"]
    sha256, size = item.sha256, item.size
    if sha256 is None or (len(sha256) < 64 and digest.startswith(sha256)):
        sha256 = digest
    if size is None and sha256 == digest:
        size = entry.get("size")
    return _Item(
        item.path, item.url, sha256, size, item.unpack, item.unpack_to, item.strip_components
    )


def _mirror_root(mirror: StrPath) -> str | Path:
    kind, location = _parse_source(mirror)
    if kind == "http":
        return str(location).rstrip("/")
    root = Path(location)
    if not root.is_dir():
        raise FetchError(f"{mirror}: mirror folder not found")
    return root


def _item_source(name: str, item: _Item, mirror_root: str | Path | None) -> StrPath:
    if isinstance(mirror_root, str):
        return f"{mirror_root}/{urllib.parse.quote(item.path)}"
    if isinstance(mirror_root, Path):
        local = mirror_root / item.path
        if item.unpack and item.url and not local.exists():
            by_name = mirror_root / PurePosixPath(urllib.parse.urlsplit(item.url).path).name
            if by_name.is_file():
                return by_name
        return local
    if not item.url:
        raise FetchError(f"dataset {name!r}: {item.path} has no url and no mirror was given")
    return item.url


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _verify_existing(final: Path, name: str, items: list[_Item]) -> dict[str, dict[str, Any]]:
    """Check an existing dataset folder; its ``{path: {sha256, size}}`` or raise."""
    if not final.is_dir():
        raise FetchError(f"{final}: exists but is not a folder")
    stamp_path = final / STAMP_FILE
    problems: list[str] = []
    hash_problem = False
    result: dict[str, dict[str, Any]] = {}

    def check_file(path: Path, sha256: str | None, size: int | None) -> str | None:
        nonlocal hash_problem
        if not path.is_file():
            problems.append(f"{path}: file not found")
            return None
        actual_size = path.stat().st_size
        if size is not None and actual_size != size:
            hash_problem = True
            problems.append(f"{path}: size mismatch: expected {size} bytes, got {actual_size}")
            return None
        actual = file_sha256(path)
        if sha256 and not actual.startswith(sha256):
            hash_problem = True
            problems.append(f"{path}: sha256 mismatch: expected {_describe(sha256)}, got {actual}")
            return None
        return actual

    if stamp_path.is_file():
        stamp = read_json(stamp_path)
        stamped = _stamp_items(stamp, stamp_path)
        for item in items:
            entry = stamped.get(item.path)
            if entry is None:
                problems.append(f"{final / item.path}: in the dataset spec but not in {stamp_path}")
                continue
            if item.sha256 and not entry["sha256"].startswith(item.sha256):
                hash_problem = True
                problems.append(
                    f"{final / item.path}: fetched with sha256 {entry['sha256']}, the spec "
                    f"expects {_describe(item.sha256)}"
                )
            if item.size is not None and entry["size"] != item.size:
                hash_problem = True
                problems.append(
                    f"{final / item.path}: fetched with {entry['size']} bytes, the spec "
                    f"expects {item.size}"
                )
            if {key: entry.get(key) for key in item.layout()} != item.layout():
                problems.append(f"{final / item.path}: unpacked with other settings than the spec")
            result[item.path] = {"sha256": entry["sha256"], "size": entry["size"]}
        for path in sorted(set(stamped) - {item.path for item in items}):
            problems.append(f"{final / path}: fetched but no longer in the dataset spec")
        for rel, entry in stamp["files"].items():
            check_file(final / rel, entry["sha256"], entry["size"])
    else:
        for item in items:
            path = final / item.path
            if item.unpack and not path.exists():
                problems.append(
                    f"{final}: has no {STAMP_FILE} stamp, so the files unpacked from "
                    f"{item.path} cannot be verified"
                )
                continue
            actual = check_file(path, item.sha256, item.size)
            if actual is not None:
                result[item.path] = {"sha256": actual, "size": path.stat().st_size}
    if problems:
        error = ChecksumError if hash_problem else FetchError
        raise error(
            f"dataset {name!r} at {final} exists but failed verification "
            f"({len(problems)} problem(s)); nothing was deleted, move the folder aside to "
            f"fetch it again:\n" + "\n".join(problems)
        )
    return result


def _stamp_items(stamp: Any, stamp_path: Path) -> dict[str, dict[str, Any]]:
    """The stamp's items by path, after checking the stamp's shape."""
    try:
        items = {entry["path"]: entry for entry in stamp["items"]}
        for entry in list(items.values()) + list(stamp["files"].values()):
            if not isinstance(entry["sha256"], str) or not isinstance(entry["size"], int):
                raise TypeError("sha256 must be a string and size an integer")
    except (TypeError, KeyError, AttributeError) as err:
        raise FetchError(f"{stamp_path}: not a valid fetch stamp ({err!r})") from err
    return items


def _read_record(record: StrPath) -> dict[str, dict[str, Any]]:
    """``{path: {"sha256", "size"}}`` from a checksum record; ``{}`` when it does not exist."""
    path = Path(record)
    if not path.exists():
        return {}
    data = read_json(path)
    if not isinstance(data, dict):
        raise FetchError(f"{path}: expected a JSON object {{path: {{sha256, size}}}}")
    entries: dict[str, dict[str, Any]] = {}
    for key, entry in data.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise FetchError(f"{path}: {key!r}: sha256 must be 64 lowercase hex digits")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise FetchError(f"{path}: {key!r}: size must be an integer")
        entries[key] = {"sha256": digest, "size": size}
    return entries


def _write_record(
    path: Path, before: dict[str, dict[str, Any]], result: dict[str, dict[str, Any]]
) -> None:
    """Write the measured checksums, leaving the file untouched when nothing changed."""
    if path.exists() and before == result:
        return
    write_json(path, result)
