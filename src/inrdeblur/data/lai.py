"""The Lai et al. 2016 synthetic uniform-blur set (``dataset: lai``), read from a folder.

Lai, Huang, Hu, Ahuja, Yang, "A Comparative Study for Single Image Blind Deblurring",
CVPR 2016. 25 sharp colour images in five categories (manmade, natural, people,
saturated, text; five images each) times four camera-shake kernels give 100 blurred
images. The images are RGB; sizes differ from image to image.

The folder is the ``synthetic_dataset`` folder of the authors' download (a local mirror;
fetching it is not this module's job). Its uniform-blur part holds::

    ground_truth/{category}_{NN}.png           sharp images, RGB, NN = 01..05
    kernel/kernel_{KK}.png                     kernels scaled to max 255, KK = 01..04
    uniform/{category}_{NN}_kernel_{KK}.png    blurred images, same size as the sharp one
    SHA256SUMS                                 optional: ``<sha256>  <relative path>`` lines

(Folder and file names: the authors' list ``list/synthetic_uniform.txt`` and
``list/ground_truth.txt`` in ``phoenix104104/cvpr16_deblur_study``, and loaders that read
``synthetic_dataset/{uniform,kernel,ground_truth}/`` of the download. The set also has a
``nonuniform/`` part, which this module does not read.)

Scene ids are the blurred file names without ``.png``: ``{category}_{NN}_kernel_{KK}``,
category-major, then image, then kernel (``manmade_01_kernel_01``,
``manmade_01_kernel_02``, ..., ``text_05_kernel_04``), the order of the authors' list and
of SelfDeblur's ``statistic_lai.m``. The manifest is known without reading any file.

Kernel orientation (measured on the authors' files, ``../shared/data/lai``): the blurred
images are the sharp image *correlated* with the kernel PNG (MATLAB ``imfilter``), i.e.
convolved with it rotated by 180 degrees. A scene's ``kernel`` is therefore the PNG rotated
by 180 degrees, so that this pipeline's convolution reproduces the stored image: RMSE
0.0050-0.0059 in [0, 1] units on a crop one kernel wide, with no shift, for the 8 stored
images of kernels 1 and 2 outside ``saturated`` (the PNG as stored: 0.036-0.116). The
``saturated`` images were blurred before clipping to 8 bits, so neither orientation
reproduces them from the clipped sharp image (0.147-0.158 rotated).
``tests/unit/test_kernel_conventions.py`` checks this on the real files.

Kernel sizes: the blind methods in the literature fix the kernel side to 31, 51, 55 and
75 px for kernels 1..4 (SelfDeblur ``selfdeblur_lai.py``, Deblur-INR ``demo_deblur.py``);
the authors' list gives 51, 75, 75 and 101 beside every image of kernels 1..4
(:data:`LISTED_KERNEL_SIZES`). The stored kernel PNG's own size is read from the file and
kept in ``attrs["stored_kernel_size"]``.

>>> len(SCENE_IDS), SCENE_IDS[0], SCENE_IDS[-1]
(100, 'manmade_01_kernel_01', 'text_05_kernel_04')
>>> category_of("people_03_kernel_02"), image_of("people_03_kernel_02")
('people', 'people_03')
>>> kernel_of("people_03_kernel_02"), KERNEL_SIZE_BOUNDS[2]
(2, 51)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from inrdeblur.blur.kernels import read_kernel
from inrdeblur.data.checksums import CHECKSUM_FILE as CHECKSUM_FILE
from inrdeblur.data.checksums import expected_files, verify_folder
from inrdeblur.fileio import InputFileError, read_image
from inrdeblur.records.scene import Scene

DATASET = "lai"
CATEGORIES: tuple[str, ...] = ("manmade", "natural", "people", "saturated", "text")
IMAGE_NUMBERS: tuple[int, ...] = (1, 2, 3, 4, 5)
KERNEL_INDICES: tuple[int, ...] = (1, 2, 3, 4)
#: Every sharp image name, category-major: ``manmade_01`` ... ``text_05``.
IMAGE_IDS: tuple[str, ...] = tuple(f"{c}_{n:02d}" for c in CATEGORIES for n in IMAGE_NUMBERS)
#: Every scene id, category-major, then image, then kernel.
SCENE_IDS: tuple[str, ...] = tuple(f"{i}_kernel_{k:02d}" for i in IMAGE_IDS for k in KERNEL_INDICES)
#: Kernel side (px) the blind methods use for kernels 1..4 (SelfDeblur ``selfdeblur_lai.py``).
KERNEL_SIZE_BOUNDS: dict[int, int] = {1: 31, 2: 51, 3: 55, 4: 75}
#: Number listed beside each blurred image of kernels 1..4 in the authors'
#: ``list/synthetic_uniform.txt`` (``phoenix104104/cvpr16_deblur_study``).
LISTED_KERNEL_SIZES: dict[int, int] = {1: 51, 2: 75, 3: 75, 4: 101}

CITATION = (
    "W.-S. Lai, J.-B. Huang, Z. Hu, N. Ahuja, M.-H. Yang. A Comparative Study for Single "
    "Image Blind Deblurring. CVPR 2016."
)
LICENCE = (
    "No licence is stated with the data or in the authors' code repository; the authors "
    "distribute it for research use. Cite: " + CITATION
)
HOMEPAGE = "http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/"

_SCENE_ID = re.compile(r"^(manmade|natural|people|saturated|text)_(0[1-5])_kernel_(0[1-4])$")


def _parse(scene_id: str) -> tuple[str, int, int]:
    match = _SCENE_ID.match(scene_id) if isinstance(scene_id, str) else None
    if match is None:
        raise ValueError(
            f"lai dataset: unknown scene id {scene_id!r}; valid ids are "
            "{category}_{NN}_kernel_{KK} with category in "
            f"{', '.join(CATEGORIES)}, NN in 01..05 and KK in 01..04 "
            f"(e.g. {SCENE_IDS[0]!r})"
        )
    return match.group(1), int(match.group(2)), int(match.group(3))


def scene_ids(
    category: str | None = None, image: int | None = None, kernel: int | None = None
) -> list[str]:
    """Scene ids in manifest order, optionally of one ``category``, image number, ``kernel``.

    >>> scene_ids(category="text", kernel=4)
    ['text_01_kernel_04', 'text_02_kernel_04', 'text_03_kernel_04', 'text_04_kernel_04', \
'text_05_kernel_04']
    """
    if category is not None and category not in CATEGORIES:
        raise ValueError(
            f"lai dataset: unknown category {category!r}; valid: {', '.join(CATEGORIES)}"
        )
    if image is not None and image not in IMAGE_NUMBERS:
        raise ValueError(f"lai dataset: unknown image number {image!r}; valid: 1..5")
    if kernel is not None and kernel not in KERNEL_INDICES:
        raise ValueError(f"lai dataset: unknown kernel index {kernel!r}; valid: 1..4")
    selected = []
    for sid in SCENE_IDS:
        c, n, k = _parse(sid)
        if (category in (None, c)) and (image in (None, n)) and (kernel in (None, k)):
            selected.append(sid)
    return selected


def category_of(scene_id: str) -> str:
    """The category (``"manmade"`` ... ``"text"``) of a scene id."""
    return _parse(scene_id)[0]


def image_of(scene_id: str) -> str:
    """The sharp image name (``"manmade_01"`` ... ``"text_05"``) of a scene id."""
    category, number, _ = _parse(scene_id)
    return f"{category}_{number:02d}"


def kernel_of(scene_id: str) -> int:
    """The kernel index (1..4) of a scene id."""
    return _parse(scene_id)[2]


def sharp_path(scene_id: str) -> str:
    """Path of the scene's sharp image, relative to the dataset root."""
    return f"ground_truth/{image_of(scene_id)}.png"


def kernel_path(scene_id: str) -> str:
    """Path of the scene's kernel PNG, relative to the dataset root."""
    return f"kernel/kernel_{kernel_of(scene_id):02d}.png"


def blurry_path(scene_id: str) -> str:
    """Path of the scene's blurred image, relative to the dataset root."""
    _parse(scene_id)
    return f"uniform/{scene_id}.png"


#: Every file of the uniform set (relative paths, POSIX separators).
EXPECTED_FILES: tuple[str, ...] = expected_files(SCENE_IDS, sharp_path, kernel_path, blurry_path)


def verify(root: str | os.PathLike, checksums: Mapping[str, str] | None = None) -> None:
    """Check that the folder ``root`` holds every file of :data:`EXPECTED_FILES`.

    Hashes are checked where they are known: ``checksums`` (``{relative path: sha256
    hex}``, e.g. from the registry) or, when it is None, ``root/SHA256SUMS`` if present
    (``sha256sum`` format, read by :func:`inrdeblur.data.checksums.read_checksums`). No
    upstream hashes of this set are published, so without either only presence is
    checked. All problems are raised together as one :class:`InputFileError`, one line
    each, naming the file.
    """
    verify_folder(DATASET, root, EXPECTED_FILES, checksums)


def _read_rgb(path: Path) -> tuple[np.ndarray, str]:
    """An image file as (H, W, 3) float32 in [0, 1] and a note on its channels."""
    image = read_image(path)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2), "grayscale source replicated to 3 channels"
    if image.shape[2] != 3:
        raise InputFileError(f"{path}: expected an RGB or gray image, got shape {image.shape}")
    return image, "rgb"


def make_scene(root: str | os.PathLike, scene_id: str) -> Scene:
    """Read scene ``scene_id`` (``{category}_{NN}_kernel_{KK}``) from the folder ``root``.

    Returns a :class:`Scene` (``dataset`` ``"lai"``) with

    - ``sharp``: ``ground_truth/{category}_{NN}.png`` as (H, W, 3) float32 in [0, 1]
      (8-bit level / 255; a gray file is replicated into three equal channels);
    - ``blurry``: ``uniform/{id}.png``, the same way, with the shape of ``sharp``;
    - ``kernel``: ``kernel/kernel_{KK}.png`` divided by its sum
      (:func:`~inrdeblur.blur.kernels.read_kernel`), float32 at the stored size, rotated
      by 180 degrees (the authors blurred by correlation; module docstring);
    - ``attrs``: ``category``, ``image``, ``kernel_index``, ``kernel_size_bound``
      (:data:`KERNEL_SIZE_BOUNDS`), ``kernel_size_listed`` (:data:`LISTED_KERNEL_SIZES`),
      ``stored_kernel_size``, ``channels``, ``kernel_orientation``, ``files``, ``source``,
      ``licence``, ``citation``.

    No depth, trajectory or intrinsics. Files are not checksummed here; call
    :func:`verify` once per folder.

    Raises:
        ValueError: unknown ``scene_id`` (the message says what ids look like).
        InputFileError: a missing or unreadable file, a kernel image that is all zero,
            or a blurred image whose size differs from the sharp one, naming the path.
    """
    category, _, kernel_index = _parse(scene_id)
    root = Path(root)
    sharp, sharp_channels = _read_rgb(root / sharp_path(scene_id))
    blurry, blurry_channels = _read_rgb(root / blurry_path(scene_id))
    if blurry.shape != sharp.shape:
        raise InputFileError(
            f"{root / blurry_path(scene_id)}: blurred image is {blurry.shape[0]}x"
            f"{blurry.shape[1]} but its sharp image {root / sharp_path(scene_id)} is "
            f"{sharp.shape[0]}x{sharp.shape[1]}"
        )
    kernel = np.ascontiguousarray(read_kernel(root / kernel_path(scene_id))[::-1, ::-1])
    attrs = {
        "category": category,
        "image": image_of(scene_id),
        "kernel_index": kernel_index,
        "kernel_size_bound": KERNEL_SIZE_BOUNDS[kernel_index],
        "kernel_size_listed": LISTED_KERNEL_SIZES[kernel_index],
        "stored_kernel_size": [int(kernel.shape[0]), int(kernel.shape[1])],
        "channels": {"sharp": sharp_channels, "blurry": blurry_channels},
        "kernel_orientation": "stored PNG rotated by 180 degrees (the authors correlated)",
        "files": {
            "sharp": sharp_path(scene_id),
            "blurry": blurry_path(scene_id),
            "kernel": kernel_path(scene_id),
        },
        "source": "Lai et al. 2016 synthetic dataset, uniform blur",
        "licence": LICENCE,
        "citation": CITATION,
    }
    return Scene(
        dataset=DATASET,
        id=scene_id,
        sharp=sharp,
        blurry=blurry,
        kernel=kernel,
        attrs=attrs,
    )
