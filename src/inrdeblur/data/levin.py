"""The Levin et al. 2009 blind-deconvolution benchmark (``dataset: levin``), read from a folder.

Levin, Weiss, Durand, Freeman, "Understanding and evaluating blind deconvolution
algorithms", CVPR 2009. Four sharp 255x255 images times eight camera-shake kernels
measured on real hand-held shots give 32 blurred images. The set is **grayscale** (8-bit,
one channel), and so are its scenes: ``sharp`` and ``blurry`` are ``(255, 255, 1)``.

The folder (a local mirror; fetching it is not this module's job) holds::

    gt_images/im{1..4}.png               sharp images, 255x255 gray
    gt_kernels/kernel{1..8}.png          kernels scaled to max 255 (sizes 19,17,15,27,13,21,23,23)
    blurred/im{i}_kernel{j}_img.png      blurred observations, 255x255 gray
    SHA256SUMS                           ``<sha256>  <relative path>`` for every file above

Scene ids are ``im{i}_kernel{j}``, image-major (``im1_kernel1``, ``im1_kernel2``, ...,
``im4_kernel8``), the loop order of SelfDeblur's ``statistic_levin.m``. The manifest is
known without reading any file.

Kernel orientation (measured on the real files of this PNG copy, every one of the 32
scenes): a scene's ``kernel`` is the stored PNG **rotated by 180 degrees for kernels 1, 2,
3, 5, 6 and 7** and as stored for kernels 4 and 8 (:data:`ROTATED_KERNELS`), so that this
pipeline's convolution of ``sharp`` with ``kernel`` reproduces ``blurry``. The evidence:
``sharp`` convolved with each orientation (replicate border) against the stored blurred
image after the best sub-pixel shift (``comp_upto_shift``: 0.25 px steps up to 10 px, 15 px
border crop), RMSE in [0, 1] units over the 4 images:

======  ================  ==============  =========================
kernel  kept orientation  other one       best shift (dy, dx), px
======  ================  ==============  =========================
1       0.0050-0.0066     0.0069-0.0106   within 1.5
2       0.0061-0.0068     0.0124-0.0209   up to 4.75
3       0.0050-0.0074     0.0102-0.0141   up to 2.75
4       0.0038-0.0046     0.0450-0.0548   up to 3.5
5       0.0056-0.0066     0.0174-0.0265   up to 1.75
6       0.0043-0.0046     0.0292-0.0377   up to 5.25
7       0.0053-0.0062     0.0401-0.0439   up to 3.25
8       0.0086-0.0099     0.0385-0.0412   up to 2.25
======  ================  ==============  =========================

The remaining error is the noise of the real photographs (about 0.005). The blurred
images of kernel 8 are also 3 % brighter than ``sharp`` convolved with the kernel (a
least-squares gain of 1.027-1.030; an RMSE of 0.0041-0.0046 with it), which a kernel that sums to 1
cannot express; it is left as is. The shift differs from image to image for the same
kernel (kernel 6: from (-2, 3) to (-5, 5.25) px), so it is a registration of each
photograph, not a property of the kernel: the sharp and blurred images are not
pixel-aligned, and every evaluation against the stored blurred images uses the
shift-aligned protocol (:func:`inrdeblur.metrics.aligned.aligned_metrics`).
``tests/unit/test_kernel_conventions.py`` checks all of this on the real files.

>>> len(SCENE_IDS), SCENE_IDS[0], SCENE_IDS[-1]
(32, 'im1_kernel1', 'im4_kernel8')
>>> image_of("im3_kernel7"), kernel_of("im3_kernel7"), KERNEL_SIZE_BOUNDS[7]
('im3', 7, 21)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from inrdeblur.blur.kernels import read_kernel
from inrdeblur.data import checksums
from inrdeblur.fileio import InputFileError, read_image
from inrdeblur.records.scene import Scene

DATASET = "levin"
IMAGE_IDS: tuple[str, ...] = ("im1", "im2", "im3", "im4")
KERNEL_INDICES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
#: Every scene id, image-major: ``im1_kernel1`` ... ``im1_kernel8``, ``im2_kernel1`` ...
SCENE_IDS: tuple[str, ...] = tuple(f"{i}_kernel{j}" for i in IMAGE_IDS for j in KERNEL_INDICES)
#: Kernel size bound (odd side, px) the blind methods use for kernels 1..8
#: (SelfDeblur ``selfdeblur_levin.py``); it differs from the stored PNG size.
KERNEL_SIZE_BOUNDS: dict[int, int] = {1: 17, 2: 15, 3: 13, 4: 27, 5: 11, 6: 19, 7: 21, 8: 21}
#: Side (px) of the stored kernel PNGs for kernels 1..8 (square).
STORED_KERNEL_SIZES: dict[int, int] = {1: 19, 2: 17, 3: 15, 4: 27, 5: 13, 6: 21, 7: 23, 8: 23}
IMAGE_SIZE = (255, 255)
CHECKSUM_FILE = checksums.CHECKSUM_FILE

CITATION = (
    "A. Levin, Y. Weiss, F. Durand, W. T. Freeman. Understanding and evaluating blind "
    "deconvolution algorithms. CVPR 2009."
)
LICENCE = (
    "No licence file ships with the data; the authors distribute it for research use. "
    "Cite: " + CITATION + " This copy is the PNG version redistributed with the SelfDeblur "
    "code (Ren et al., CVPR 2020)."
)
#: Kernels whose stored PNG is the 180-degree rotation of the kernel that blurred the
#: stored images (module docstring); the reader rotates them back.
ROTATED_KERNELS: frozenset[int] = frozenset({1, 2, 3, 5, 6, 7})
KERNEL_NOTE = (
    "Kernels 1, 2, 3, 5, 6 and 7 are the stored PNG rotated by 180 degrees, 4 and 8 as "
    "stored: with that, sharp convolved with the kernel reproduces the stored blurred image "
    "to an RMSE of 0.0038-0.0099 after the best sub-pixel shift (up to 5.25 px, different for "
    "every image). Evaluate against the stored blurred images only with the shift-aligned "
    "protocol."
)

_SCENE_ID = re.compile(r"^(im[1-4])_kernel([1-8])$")


def scene_ids(image: str | None = None, kernel: int | None = None) -> list[str]:
    """Scene ids in manifest order, optionally only those of one ``image`` and/or ``kernel``.

    >>> scene_ids(kernel=4)
    ['im1_kernel4', 'im2_kernel4', 'im3_kernel4', 'im4_kernel4']
    """
    if image is not None and image not in IMAGE_IDS:
        raise ValueError(f"levin dataset: unknown image {image!r}; valid: {', '.join(IMAGE_IDS)}")
    if kernel is not None and kernel not in KERNEL_INDICES:
        raise ValueError(f"levin dataset: unknown kernel index {kernel!r}; valid: 1..8")
    return [
        sid
        for sid in SCENE_IDS
        if (image is None or image_of(sid) == image)
        and (kernel is None or kernel_of(sid) == kernel)
    ]


def _parse(scene_id: str) -> tuple[str, int]:
    match = _SCENE_ID.match(scene_id) if isinstance(scene_id, str) else None
    if match is None:
        raise ValueError(
            f"levin dataset: unknown scene id {scene_id!r}; valid ids are {', '.join(SCENE_IDS)}"
        )
    return match.group(1), int(match.group(2))


def image_of(scene_id: str) -> str:
    """The sharp image (``"im1"`` .. ``"im4"``) of a scene id."""
    return _parse(scene_id)[0]


def kernel_of(scene_id: str) -> int:
    """The kernel index (1..8) of a scene id."""
    return _parse(scene_id)[1]


def sharp_path(scene_id: str) -> str:
    """Path of the scene's sharp image, relative to the dataset root."""
    return f"gt_images/{image_of(scene_id)}.png"


def kernel_path(scene_id: str) -> str:
    """Path of the scene's kernel PNG, relative to the dataset root."""
    return f"gt_kernels/kernel{kernel_of(scene_id)}.png"


def blurry_path(scene_id: str) -> str:
    """Path of the scene's blurred image, relative to the dataset root."""
    _parse(scene_id)
    return f"blurred/{scene_id}_img.png"


#: Every file of the set (relative paths, POSIX separators); SHA256SUMS must list each.
EXPECTED_FILES: tuple[str, ...] = checksums.expected_files(
    SCENE_IDS, sharp_path, kernel_path, blurry_path
)


def read_checksums(root: str | os.PathLike) -> dict[str, str]:
    """The ``{relative path: sha256 hex}`` entries of ``root/SHA256SUMS``.

    See :func:`inrdeblur.data.checksums.read_checksums`: a missing file, a malformed
    line, a duplicate entry or a path leaving ``root`` raises :class:`InputFileError`
    naming the file and line.
    """
    return checksums.read_checksums(root)


def verify(root: str | os.PathLike) -> None:
    """Check the dataset folder ``root`` against its ``SHA256SUMS``.

    Every file listed in ``SHA256SUMS`` must exist and have the listed SHA-256, and every
    file of :data:`EXPECTED_FILES` must exist and be listed. All problems are gathered and
    raised together as one :class:`InputFileError`, one line each: a hash mismatch names
    the file with the expected and the actual hash, a missing file names its path.
    """
    checksums.verify_folder(DATASET, root, EXPECTED_FILES, require_sums=True)


def _read_gray(path: Path) -> np.ndarray:
    """A grayscale image file as (H, W) float32 in [0, 1]; colour or wrong size is an error."""
    image = read_image(path)
    if image.ndim == 3:
        if not (
            np.array_equal(image[..., 0], image[..., 1])
            and np.array_equal(image[..., 0], image[..., 2])
        ):
            raise InputFileError(
                f"{path}: expected a grayscale image, got differing colour channels"
            )
        image = image[..., 0]
    if image.shape != IMAGE_SIZE:
        raise InputFileError(
            f"{path}: expected a {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} image, got {image.shape}"
        )
    return image


def make_scene(root: str | os.PathLike, scene_id: str) -> Scene:
    """Read scene ``scene_id`` (``im{i}_kernel{j}``) from the dataset folder ``root``.

    Returns a :class:`Scene` (``dataset`` ``"levin"``) with

    - ``sharp``: ``gt_images/im{i}.png`` as (255, 255, 1) float32 in [0, 1] (8-bit
      level / 255);
    - ``blurry``: ``blurred/im{i}_kernel{j}_img.png``, the same way;
    - ``kernel``: ``gt_kernels/kernel{j}.png`` divided by its sum
      (:func:`~inrdeblur.blur.kernels.read_kernel`), float32 (k, k) at the stored size
      :data:`STORED_KERNEL_SIZES`, rotated by 180 degrees for :data:`ROTATED_KERNELS`
      (module docstring);
    - ``attrs``: ``image``, ``kernel_index``, ``kernel_size_bound`` (the size bound blind
      methods use, :data:`KERNEL_SIZE_BOUNDS`), ``stored_kernel_size``, ``channels``,
      ``kernel_orientation``,
      ``files``, ``source``, ``licence``, ``citation`` and ``kernel_note`` (the quirk).

    No depth, trajectory or intrinsics. The files are not checksummed here; call
    :func:`verify` once per folder.

    Raises:
        ValueError: unknown ``scene_id`` (the message lists the valid ids).
        InputFileError: a missing or unreadable file, a colour or wrongly sized image,
            naming the path.
    """
    image, kernel_index = _parse(scene_id)
    root = Path(root)
    sharp = _read_gray(root / sharp_path(scene_id))
    blurry = _read_gray(root / blurry_path(scene_id))
    kernel = read_kernel(root / kernel_path(scene_id))
    if kernel_index in ROTATED_KERNELS:
        kernel = np.ascontiguousarray(kernel[::-1, ::-1])
    attrs = {
        "image": image,
        "kernel_index": kernel_index,
        "kernel_size_bound": KERNEL_SIZE_BOUNDS[kernel_index],
        "stored_kernel_size": [int(kernel.shape[0]), int(kernel.shape[1])],
        "channels": "gray, one channel",
        "kernel_orientation": (
            "stored PNG rotated by 180 degrees" if kernel_index in ROTATED_KERNELS else "as stored"
        ),
        "files": {
            "sharp": sharp_path(scene_id),
            "blurry": blurry_path(scene_id),
            "kernel": kernel_path(scene_id),
        },
        "source": "Levin et al. 2009 benchmark, PNG copy from the SelfDeblur release",
        "licence": LICENCE,
        "citation": CITATION,
        "kernel_note": KERNEL_NOTE,
    }
    return Scene(
        dataset=DATASET,
        id=scene_id,
        sharp=sharp[..., None],
        blurry=blurry[..., None],
        kernel=kernel,
        attrs=attrs,
    )
