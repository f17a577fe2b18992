"""The Levin et al. 2009 blind-deconvolution benchmark (``dataset: levin``), read from a folder.

Levin, Weiss, Durand, Freeman, "Understanding and evaluating blind deconvolution
algorithms", CVPR 2009. Four sharp 255x255 images times eight camera-shake kernels
measured on real hand-held shots give 32 blurred images. The set is **grayscale** (8-bit,
one channel); a scene's ``sharp`` and ``blurry`` replicate the gray image into three equal
channels so that every scene has the ``(H, W, 3)`` layout of :class:`Scene`.

The folder (a local mirror; fetching it is not this module's job) holds::

    gt_images/im{1..4}.png               sharp images, 255x255 gray
    gt_kernels/kernel{1..8}.png          kernels scaled to max 255 (sizes 19,17,15,27,13,21,23,23)
    blurred/im{i}_kernel{j}_img.png      blurred observations, 255x255 gray
    SHA256SUMS                           ``<sha256>  <relative path>`` for every file above

Scene ids are ``im{i}_kernel{j}``, image-major (``im1_kernel1``, ``im1_kernel2``, ...,
``im4_kernel8``), the loop order of SelfDeblur's ``statistic_levin.m``. The manifest is
known without reading any file.

Known quirk: the stored kernels do not reproduce the stored blurred images. Convolving a
sharp image with its stored kernel matches the blurred PNG only after a 180-degree flip
(kernels 1, 2, 5, 7) and an integer shift of up to 3 px, and kernel 6 matches poorly
even then (about 27 dB). A non-blind experiment with the "true" kernel must therefore
synthesise its own blur from ``sharp`` and ``kernel`` or estimate the flip and shift, and
every evaluation against the stored blurred images must use the shift-aligned protocol
(:func:`inrdeblur.metrics.aligned.aligned_metrics`).

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
from inrdeblur.data.scene import Scene
from inrdeblur.fileio import InputFileError, read_image

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
KERNEL_NOTE = (
    "The stored kernel does not reproduce the stored blurred image: the best match needs a "
    "180-degree flip for kernels 1, 2, 5 and 7 and an integer shift of up to 3 px (36-45 dB "
    "after that, kernel 6 only about 27 dB). Synthesise blur from sharp and kernel, or "
    "estimate the flip/shift; evaluate against the stored blurred images only with the "
    "shift-aligned protocol."
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

    - ``sharp``: ``gt_images/im{i}.png`` as (255, 255, 3) float32 in [0, 1], the gray
      image in three equal channels (8-bit level / 255);
    - ``blurry``: ``blurred/im{i}_kernel{j}_img.png``, the same way;
    - ``kernel``: ``gt_kernels/kernel{j}.png`` divided by its sum
      (:func:`~inrdeblur.blur.kernels.read_kernel`), float32 (k, k) at the stored size
      :data:`STORED_KERNEL_SIZES`; see the module docstring for why it does not reproduce
      ``blurry``;
    - ``attrs``: ``image``, ``kernel_index``, ``kernel_size_bound`` (the size bound blind
      methods use, :data:`KERNEL_SIZE_BOUNDS`), ``stored_kernel_size``, ``channels``,
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
    attrs = {
        "image": image,
        "kernel_index": kernel_index,
        "kernel_size_bound": KERNEL_SIZE_BOUNDS[kernel_index],
        "stored_kernel_size": [int(kernel.shape[0]), int(kernel.shape[1])],
        "channels": "grayscale source replicated to 3 equal channels",
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
        sharp=np.repeat(sharp[..., None], 3, axis=2),
        blurry=np.repeat(blurry[..., None], 3, axis=2),
        kernel=kernel,
        attrs=attrs,
    )
