"""The user's own blurry photographs (``dataset: photos``), read from a folder: no ground truth.

Every PNG or JPEG file directly in the folder is one scene, whose id is the file name
without its suffix. A scene has **no sharp image**: ``sharp`` is None and ``blurry`` is the
photo, ``(H, W, 1)`` for a gray file or ``(H, W, 3)`` for a colour one, float32 in [0, 1]
(8-bit level / 255, 16-bit level / 65535; an alpha channel is dropped, a palette or CMYK
image becomes RGB), any size. A JPEG is turned upright by its EXIF orientation; a PNG is
read as stored. No kernel, no geometry: only blind methods apply, and no reference metric
(PSNR, SSIM, LPIPS) can be computed.

The folder (the user's own; nothing is fetched) holds::

    <id>.png, <id>.jpg, <id>.jpeg   the photos (suffix in any case), gray or RGB, 8 or 16 bits
    kernel_sizes.csv                optional: rows ``image,kernel_size``

Hidden files, subfolders and other files are ignored. Two photos whose names differ only
in the suffix or in case (``a.png`` and ``a.JPG``, ``A.jpg`` and ``a.jpg``) are refused.
``kernel_sizes.csv`` gives a photo an odd upper bound on the side of its blur kernel, px,
the size a blind method searches; ``image`` is the file name or the scene id. It is stored
as ``attrs["kernel_size_bound"]`` (the key Levin and Lai use); a photo without a row has
none.

>>> scene_id_of("IMG_0042.JPG"), parse_kernel_size("31", "kernel_sizes.csv", 2)
('IMG_0042', 31)
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.data.registry import ID_PATTERN
from inrdeblur.fileio import InputFileError
from inrdeblur.records.scene import Scene

DATASET = "photos"
#: File suffixes read as photos (compared in lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
#: The optional table of kernel side bounds in the folder, and its columns.
KERNEL_SIZES_FILE = "kernel_sizes.csv"
KERNEL_SIZES_COLUMNS: tuple[str, ...] = ("image", "kernel_size")
SOURCE = "the user's own photograph: a blurry observation without ground truth"

_EXIF_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_INTEGER = re.compile(r"^\+?[0-9]+$")


def scene_id_of(name: str) -> str:
    """The scene id of a photo's file name: the name without its suffix."""
    return Path(name).stem


def image_files(root: str | os.PathLike) -> dict[str, Path]:
    """``{scene id: path}`` of every photo in the folder ``root``, sorted by id.

    Raises:
        InputFileError: a missing folder; a folder without photos (naming it and the other
            files it holds); a file name that cannot be a scene id; two photos with the
            same id, or ids that differ only in case (naming both files).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: photos folder not found")
    found: dict[str, Path] = {}
    by_lower: dict[str, Path] = {}
    others = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            if path.name != KERNEL_SIZES_FILE:
                others.append(path.name)
            continue
        scene_id = scene_id_of(path.name)
        if not ID_PATTERN.match(scene_id):
            raise InputFileError(
                f"{path}: the name {scene_id!r} cannot be a scene id, which must match "
                f"{ID_PATTERN.pattern} (letters, digits, '_', '.', '-'); rename the file"
            )
        twin = by_lower.get(scene_id.lower())
        if twin is not None:
            raise InputFileError(
                f"{root}: {twin.name} and {path.name} would both be scene "
                f"{scene_id_of(twin.name)!r} (ids that differ only in case clash on some "
                "file systems); rename one of them"
            )
        found[scene_id] = by_lower[scene_id.lower()] = path
    if not found:
        listed = f"; other files here: {', '.join(others[:5])}" if others else ""
        suffixes = ", ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        raise InputFileError(f"{root}: no photos ({suffixes}) in this folder{listed}")
    return dict(sorted(found.items()))


def list_ids(root: str | os.PathLike) -> list[str]:
    """Every scene id of the folder ``root``, sorted (:func:`image_files`)."""
    return list(image_files(root))


def input_files(root: str | os.PathLike) -> list[Path]:
    """Every file of the folder ``root`` that the reader reads: the photos
    (:func:`image_files`, by id) and then ``kernel_sizes.csv`` when it is there."""
    paths = list(image_files(root).values())
    table = Path(root) / KERNEL_SIZES_FILE
    return [*paths, table] if table.is_file() else paths


def parse_kernel_size(text: str, source: str | os.PathLike, line: int) -> int:
    """The kernel side bound ``text`` of line ``line`` of ``source``: a positive odd integer."""
    value = text.strip()
    if not _INTEGER.match(value) or int(value) < 1:
        raise InputFileError(
            f"{source}: line {line}: kernel_size {text!r} is not a positive odd integer "
            "(the side of the blur kernel, px)"
        )
    if int(value) % 2 == 0:
        raise InputFileError(
            f"{source}: line {line}: kernel_size {text!r} is even; a kernel side must be odd "
            f"(e.g. {int(value) + 1})"
        )
    return int(value)


def _header_size(path: Path) -> tuple[int, int]:
    """(W, H) of a photo from its header, as stored (before any EXIF rotation)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except Exception as err:  # UnidentifiedImageError, OSError, SyntaxError, bombs ...
        raise InputFileError(f"{path}: not a readable image ({err})") from err


def read_kernel_sizes(
    root: str | os.PathLike, files: dict[str, Path] | None = None
) -> dict[str, int]:
    """``{scene id: kernel side bound, px}`` from ``root/kernel_sizes.csv``; ``{}`` without it.

    ``files`` is :func:`image_files` of ``root`` (read when None). Every row is checked:
    the header must be ``image,kernel_size``; ``image`` a photo of the folder (its file name
    or scene id), named once; ``kernel_size`` a positive odd integer no larger than the
    photo's shorter side.

    Raises:
        InputFileError: naming the CSV file, the line and the value at fault (and, for a
            bound larger than its photo, the photo and both sizes).
    """
    root = Path(root)
    path = root / KERNEL_SIZES_FILE
    if not path.is_file():
        return {}
    files = image_files(root) if files is None else files
    by_name = {p.name: scene_id for scene_id, p in files.items()}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputFileError(f"{path}: not a readable CSV file ({err})") from err
    if not rows:
        raise InputFileError(f"{path}: empty; expected the header 'image,kernel_size'")
    line, header = rows[0]
    if [c.strip().lower() for c in header] != list(KERNEL_SIZES_COLUMNS):
        raise InputFileError(
            f"{path}: line {line}: the header must be 'image,kernel_size', got {','.join(header)!r}"
        )
    bounds: dict[str, int] = {}
    seen: dict[str, int] = {}
    for line, row in rows[1:]:
        if len(row) != len(KERNEL_SIZES_COLUMNS):
            raise InputFileError(
                f"{path}: line {line}: expected 2 values (image,kernel_size), got {row!r}"
            )
        image = row[0].strip()
        scene_id = by_name.get(image) or (image if image in files else None)
        if scene_id is None:
            shown = ", ".join(p.name for p in list(files.values())[:8])
            raise InputFileError(
                f"{path}: line {line}: image {image!r} is not a photo in {root} "
                f"(photos: {shown}{', ...' if len(files) > 8 else ''})"
            )
        if scene_id in seen:
            raise InputFileError(
                f"{path}: line {line}: a second kernel_size for {files[scene_id].name} "
                f"(line {seen[scene_id]} gives one)"
            )
        bound = parse_kernel_size(row[1], path, line)
        width, height = _header_size(files[scene_id])
        if bound > min(width, height):
            raise InputFileError(
                f"{path}: line {line}: kernel_size {bound} px is larger than the image "
                f"{files[scene_id]} ({width}x{height} px, W x H)"
            )
        seen[scene_id], bounds[scene_id] = line, bound
    return bounds


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth in a PNG's IHDR chunk, or None when ``path`` is not a PNG."""
    with path.open("rb") as handle:
        head = handle.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return head[24]


def _read_png16(path: Path) -> np.ndarray:
    """(H, W, C) uint16 of a 16-bit PNG (Pillow would reduce colour ones to 8 bits)."""
    from torchvision.io import ImageReadMode, decode_png, read_file

    array = decode_png(read_file(str(path)), ImageReadMode.UNCHANGED).numpy()
    array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    channels = {1: 1, 2: 1, 3: 3, 4: 3}[array.shape[2]]  # drop alpha
    return array[..., :channels].astype(np.uint16)


def read_photo(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """A photo as ``(H, W, C)`` float32 in [0, 1] (C = 1 gray, 3 RGB) and facts about it.

    8-bit images are read with Pillow (level / 255) and 16-bit PNGs with torchvision
    (level / 65535); a JPEG is turned upright by its EXIF orientation. The facts:
    ``format``, ``bit_depth``, ``mode`` (Pillow's, as stored) and, for a JPEG,
    ``exif_orientation`` (1 = upright).

    Raises:
        InputFileError: a missing, unreadable or corrupt (truncated) file, or an image mode
            that is neither gray nor colour, naming the file.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        if _png_bit_depth(path) == 16:
            levels = _read_png16(path)
            facts: dict[str, Any] = {"format": "PNG", "bit_depth": 16, "mode": "16-bit PNG"}
            return levels.astype(np.float32) / 65535.0, facts
        with Image.open(path) as img:
            img.load()
            facts = {"format": img.format, "bit_depth": 8, "mode": img.mode}
            if img.format == "JPEG":
                facts["exif_orientation"] = int(img.getexif().get(_EXIF_ORIENTATION, 1))
                img = ImageOps.exif_transpose(img)
            if img.mode in ("1", "L", "LA"):
                array = np.asarray(img.convert("L"))[..., None]
            elif img.mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr"):
                array = np.asarray(img.convert("RGB"))
            else:
                raise InputFileError(f"{path}: unsupported image mode {img.mode!r}")
    except InputFileError:
        raise
    except Exception as err:  # UnidentifiedImageError, OSError (truncated), bombs ...
        raise InputFileError(f"{path}: not a readable image ({err})") from err
    if facts["mode"] == "1":
        facts["bit_depth"] = 1
    return array.astype(np.float32) / 255.0, facts


def _path_of(root: Path, files: dict[str, Path], scene_id: str) -> Path:
    if scene_id not in files:
        shown = ", ".join(list(files)[:8]) + (", ..." if len(files) > 8 else "")
        raise InputFileError(
            f"{root}: no photo {scene_id}.png, .jpg or .jpeg for scene {scene_id!r} "
            f"(scenes: {shown})"
        )
    return files[scene_id]


def verify(root: str | os.PathLike, scene_ids: list[str] | None = None) -> list[str]:
    """Check the folder before anything is written; the ids checked (all when None).

    Lists the photos (:func:`image_files`), checks ``kernel_sizes.csv``
    (:func:`read_kernel_sizes`) and decodes every selected photo in full
    (:func:`read_photo`), so that a corrupt file fails here, not halfway through a set.
    """
    root = Path(root)
    files = image_files(root)
    ids = list(files) if scene_ids is None else list(scene_ids)
    paths = [_path_of(root, files, scene_id) for scene_id in ids]
    read_kernel_sizes(root, files)
    for path in paths:
        read_photo(path)
    return ids


def make_scene(root: str | os.PathLike, scene_id: str) -> Scene:
    """Read the photo ``scene_id`` (its file name without suffix) from the folder ``root``.

    Returns a :class:`Scene` (``dataset`` ``"photos"``) with ``sharp`` None and ``blurry``
    the photo (:func:`read_photo`), and ``attrs`` ``files``, ``source``, the photo's
    facts and, when ``kernel_sizes.csv`` has a row for it, ``kernel_size_bound`` (px).

    Raises:
        InputFileError: an unknown ``scene_id``, an unreadable photo, or a problem of the
            folder or of ``kernel_sizes.csv`` (see :func:`image_files`,
            :func:`read_kernel_sizes`), naming the file.
    """
    root = Path(root)
    files = image_files(root)
    path = _path_of(root, files, scene_id)
    bounds = read_kernel_sizes(root, files)
    image, facts = read_photo(path)
    attrs: dict[str, Any] = {"files": {"blurry": path.name}, "source": SOURCE, **facts}
    if scene_id in bounds:
        attrs["kernel_size_bound"] = bounds[scene_id]
        attrs["files"]["kernel_sizes"] = KERNEL_SIZES_FILE
    return Scene(dataset=DATASET, id=scene_id, sharp=None, blurry=image, attrs=attrs)
