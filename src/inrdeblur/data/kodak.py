"""The Kodak true-colour test images (``dataset: kodak``), read from a folder: sharp only.

24 photographs released by the Eastman Kodak Company and used as a standard colour test
set. Each is an 8-bit RGB PNG of 768x512 px, landscape (H x W = 512 x 768) or portrait
(768 x 512). There is no blur and no kernel: a scene has ``sharp`` only, and blur is
synthesised later.

The folder (a local mirror of the PNG copies at http://r0k.us/graphics/kodak/; fetching
it is not this module's job) holds::

    kodim{NN}.png      NN = 01..24, RGB, 768x512 or 512x768
    SHA256SUMS         optional: ``<sha256>  <relative path>`` lines

Scene ids are the file names without ``.png``: ``kodim01`` ... ``kodim24``. The manifest
is known without reading any file.

>>> len(SCENE_IDS), SCENE_IDS[0], SCENE_IDS[-1]
(24, 'kodim01', 'kodim24')
>>> image_url("kodim07")
'http://r0k.us/graphics/kodak/kodak/kodim07.png'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from inrdeblur.data.checksums import CHECKSUM_FILE as CHECKSUM_FILE
from inrdeblur.data.checksums import expected_files, verify_folder
from inrdeblur.fileio import InputFileError, read_image
from inrdeblur.records.scene import Scene

DATASET = "kodak"
#: Every scene id: ``kodim01`` ... ``kodim24``.
SCENE_IDS: tuple[str, ...] = tuple(f"kodim{n:02d}" for n in range(1, 25))
#: The two image shapes (H, W) of the set: landscape and portrait.
IMAGE_SHAPES: tuple[tuple[int, int], ...] = ((512, 768), (768, 512))
URL_TEMPLATE = "http://r0k.us/graphics/kodak/kodak/{id}.png"
HOMEPAGE = "http://r0k.us/graphics/kodak/"

CITATION = "Kodak Lossless True Color Image Suite (Eastman Kodak); PNG copies at " + HOMEPAGE
LICENCE = (
    "No licence file ships with the images; they were released by Eastman Kodak and are "
    "redistributed freely as a test set (terms not re-checked here). Cite: " + CITATION
)

_SCENE_ID = re.compile(r"^kodim(0[1-9]|1[0-9]|2[0-4])$")


def _check(scene_id: str) -> int:
    match = _SCENE_ID.match(scene_id) if isinstance(scene_id, str) else None
    if match is None:
        raise ValueError(
            f"kodak dataset: unknown scene id {scene_id!r}; valid ids are kodim01 .. kodim24"
        )
    return int(match.group(1))


def image_number(scene_id: str) -> int:
    """The image number (1..24) of a scene id."""
    return _check(scene_id)


def image_path(scene_id: str) -> str:
    """Path of the scene's image, relative to the dataset root."""
    _check(scene_id)
    return f"{scene_id}.png"


def image_url(scene_id: str) -> str:
    """Download address of the scene's PNG (the r0k.us mirror)."""
    _check(scene_id)
    return URL_TEMPLATE.format(id=scene_id)


#: Every file of the set (relative paths).
EXPECTED_FILES: tuple[str, ...] = expected_files(SCENE_IDS, image_path)


def verify(root: str | os.PathLike, checksums: Mapping[str, str] | None = None) -> None:
    """Check that the folder ``root`` holds all 24 images, and their hashes where known.

    Hashes come from ``checksums`` (``{relative path: sha256 hex}``) or, when it is None,
    from ``root/SHA256SUMS`` if present. All problems are raised together as one
    :class:`InputFileError`, one line each, naming the file.
    """
    verify_folder(DATASET, root, EXPECTED_FILES, checksums)


def make_scene(root: str | os.PathLike, scene_id: str) -> Scene:
    """Read scene ``scene_id`` (``kodim{NN}``) from the dataset folder ``root``.

    Returns a :class:`Scene` (``dataset`` ``"kodak"``) whose ``sharp`` is
    ``kodim{NN}.png`` as (H, W, 3) float32 in [0, 1] (8-bit level / 255), with ``attrs``
    ``image_number``, ``orientation`` (``"landscape"`` for 512 x 768, ``"portrait"`` for
    768 x 512), ``files``, ``source``, ``licence`` and ``citation``. No blurry image, no
    kernel, no geometry.

    Raises:
        ValueError: unknown ``scene_id``.
        InputFileError: a missing or unreadable file, an image that is not RGB, or one
            whose size is neither 768x512 nor 512x768, naming the path.
    """
    number = _check(scene_id)
    path = Path(root) / image_path(scene_id)
    image = read_image(path)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputFileError(f"{path}: expected an RGB image, got shape {image.shape}")
    if image.shape[:2] not in IMAGE_SHAPES:
        raise InputFileError(
            f"{path}: expected a 768x512 or 512x768 image, got "
            f"{image.shape[1]}x{image.shape[0]} (W x H)"
        )
    attrs = {
        "image_number": number,
        "orientation": "landscape" if image.shape[1] > image.shape[0] else "portrait",
        "files": {"sharp": image_path(scene_id)},
        "source": "Kodak true-colour test images, PNG copies from r0k.us",
        "licence": LICENCE,
        "citation": CITATION,
    }
    return Scene(dataset=DATASET, id=scene_id, sharp=image, attrs=attrs)
