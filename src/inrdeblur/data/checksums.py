"""Checking a dataset folder: ``SHA256SUMS`` files, file hashes and expected file lists.

Shared by the folder readers (:mod:`~inrdeblur.data.levin`, :mod:`~inrdeblur.data.lai`,
:mod:`~inrdeblur.data.kodak`, :mod:`~inrdeblur.data.gopro`): each reader's ``verify``
names its dataset and its expected files and calls :func:`verify_folder` (or gathers its
own problems and calls :func:`raise_problems`), so every reader reports all problems of
a folder at once, as one :class:`~inrdeblur.fileio.InputFileError`, one line each.

>>> expected_files(["a_1", "a_2", "b_1"], lambda s: f"img/{s[0]}.png", lambda s: f"{s}.png")
('img/a.png', 'img/b.png', 'a_1.png', 'a_2.png', 'b_1.png')
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from inrdeblur.fileio import InputFileError

#: Name of the checksum file in a dataset folder (``sha256sum`` format).
CHECKSUM_FILE = "SHA256SUMS"

_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_checksums(root: str | os.PathLike) -> dict[str, str]:
    """The ``{relative path: sha256 hex}`` entries of ``root/SHA256SUMS``.

    Lines are ``<64 hex digits>  <path>`` (``sha256sum`` format; a ``*`` binary marker
    before the path is accepted); blank lines and ``#`` comments are skipped. A missing
    file, a malformed line, a duplicate entry or a path leaving ``root`` raises
    :class:`InputFileError` naming the file and line.
    """
    sums_path = Path(root) / CHECKSUM_FILE
    if not sums_path.is_file():
        raise InputFileError(f"{sums_path}: file not found")
    try:
        lines = sums_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"{sums_path}: not readable ({err})") from err
    entries: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line.rstrip("\r"))
        if match is None:
            raise InputFileError(f"{sums_path}:{number}: not a '<sha256>  <path>' line: {line!r}")
        digest, rel = match.group(1).lower(), match.group(2)
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts:
            raise InputFileError(f"{sums_path}:{number}: path {rel!r} leaves the dataset folder")
        if rel in entries:
            raise InputFileError(f"{sums_path}:{number}: {rel!r} is listed twice")
        entries[rel] = digest
    return entries


def expected_files(scene_ids: Iterable[str], *path_of: Callable[[str], str]) -> tuple[str, ...]:
    """Every file the scenes use: ``path(id)`` for each function of ``path_of`` in turn
    and each scene id, without repeats, in order of first use."""
    ids = tuple(scene_ids)
    return tuple(dict.fromkeys(path(sid) for path in path_of for sid in ids))


def raise_problems(dataset: str, root: Path, problems: list[str]) -> None:
    """Raise the ``problems`` found in ``dataset``'s folder ``root`` as one
    :class:`InputFileError`, one line each; do nothing when there are none."""
    if problems:
        raise InputFileError(
            f"{dataset} dataset at {root} failed verification ({len(problems)} problem(s)):\n"
            + "\n".join(problems)
        )


def verify_folder(
    dataset: str,
    root: str | os.PathLike,
    expected: Iterable[str],
    checksums: Mapping[str, str] | None = None,
    *,
    require_sums: bool = False,
) -> None:
    """Check that the folder ``root`` of ``dataset`` holds the ``expected`` files and
    that the files with a known hash have it.

    Hashes (``{relative path: sha256 hex}``) come from ``checksums`` or, when it is None,
    from ``root/SHA256SUMS`` if present (:func:`read_checksums`). With ``require_sums``,
    ``root/SHA256SUMS`` must exist and list every expected file, and ``checksums`` is
    not used. A file with a hash must exist, and a missing expected file is reported once.
    All problems are raised together (:func:`raise_problems`); a missing ``root`` is an
    :class:`InputFileError` of its own.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: {dataset} dataset folder not found")
    if require_sums or (checksums is None and (root / CHECKSUM_FILE).is_file()):
        checksums = read_checksums(root)
    checksums = checksums or {}
    expected = tuple(expected)
    problems: list[str] = []
    for rel in expected:
        if not (root / rel).is_file():
            problems.append(f"{root / rel}: file not found")
        elif require_sums and rel not in checksums:
            problems.append(f"{root / rel}: not listed in {root / CHECKSUM_FILE}")
    listed = f"listed in {CHECKSUM_FILE}" if require_sums else "listed with a checksum"
    for rel, digest in checksums.items():
        path = root / rel
        if not path.is_file():
            if rel not in expected:  # expected files were reported above
                problems.append(f"{path}: file not found ({listed})")
            continue
        actual = file_sha256(path)
        if actual != digest.lower():
            problems.append(f"{path}: sha256 mismatch: expected {digest}, got {actual}")
    raise_problems(dataset, root, problems)
