"""Atomic file output and image input/output.

Every file the pipeline writes goes through :func:`atomic_path`: data is written to a
temporary file in the destination folder and renamed into place, so a killed job never
leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


class InputFileError(ValueError):
    """A file the pipeline reads is missing, unreadable or holds invalid values."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so writers that pick a
    format from the extension behave. On an exception the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give outputs the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON atomically. NaN is written as ``null``."""
    write_text(path, json.dumps(_nan_to_none(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in any error."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: file not found") from err
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: not valid JSON ({err})") from err


def write_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """Write arrays to a compressed ``.npz`` atomically, byte-for-byte reproducibly.

    ``numpy.savez_compressed`` stamps each member with the current time, so equal data
    would give different files (and different DVC hashes); members here carry a fixed
    timestamp instead. The result is a normal ``.npz`` that ``numpy.load`` reads.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file into memory, naming the file in any error."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as err:  # zipfile.BadZipFile, ValueError, EOFError, OSError ...
        raise InputFileError(f"{path}: not a readable .npz file ({err})") from err


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a float image in [0, 1], (H, W), (H, W, 1) or (H, W, 3), as an 8-bit PNG
    atomically (gray for one channel).

    Values are clipped to [0, 1] and rounded to the nearest 8-bit level.
    """
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{path}: refusing to write an image with non-finite values")
    png = encode_png(image)
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)


def encode_png(image: np.ndarray, optimize: bool = False) -> bytes:
    """8-bit PNG bytes of a float image in [0, 1], (H, W), (H, W, 1) or (H, W, 3).

    Values are clipped to [0, 1] and rounded to the nearest 8-bit level.
    """
    import io

    from PIL import Image

    data = np.asarray(image, dtype=np.float64)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    data = np.round(np.clip(data, 0.0, 1.0) * 255.0)
    buffer = io.BytesIO()
    Image.fromarray(data.astype(np.uint8)).save(buffer, format="PNG", optimize=optimize)
    return buffer.getvalue()


def encode_palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """8-bit palette PNG bytes: ``indices`` ``(H, W)`` uint8 into ``palette``, ``(N, 3)``
    floats in [0, 1] (N <= 256) rounded to 8-bit levels as :func:`encode_png` rounds."""
    import io

    from PIL import Image

    table = np.round(np.clip(np.asarray(palette, dtype=np.float64), 0.0, 1.0) * 255.0)
    if table.ndim != 2 or table.shape[1] != 3 or not 1 <= len(table) <= 256:
        raise ValueError(f"palette must be (N, 3) with N <= 256, got {table.shape}")
    image = Image.fromarray(np.asarray(indices, dtype=np.uint8), mode="P")
    image.putpalette(table.astype(np.uint8).ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8- or 16-bit image as float32 in [0, 1], (H, W) or (H, W, 3).

    An alpha channel is dropped. A missing or corrupt file raises
    :class:`InputFileError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            img.load()
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise InputFileError(f"{path}: not a readable image ({err})") from err
    if array.dtype == np.uint8:
        out = array.astype(np.float32) / 255.0
    elif array.dtype in (np.uint16, np.int32) or array.dtype == np.dtype(">u2"):
        out = array.astype(np.float32) / 65535.0
    elif array.dtype == bool:
        out = array.astype(np.float32)
    else:
        raise InputFileError(f"{path}: unsupported pixel type {array.dtype}")
    if out.ndim == 3 and out.shape[2] == 4:
        out = out[..., :3]
    return out


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, np.generic):
        return _nan_to_none(value.item())
    return value
