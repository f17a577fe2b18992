"""Sharp/blurry image pairs in the GoPro layout (``dataset: gopro``), read from a folder.

Nah, Kim, Lee, "Deep Multi-Scale Convolutional Neural Network for Dynamic Scene
Deblurring", CVPR 2017. GOPRO_Large holds real blurry frames (averages of consecutive
frames of 240 fps GoPro video) with the sharp middle frame: 22 training and 11 test
sequences, 2103 and 1111 pairs (:data:`GOPRO_PAIR_COUNTS`), 1280x720 RGB. No kernels:
the blur is not uniform.

The folder (``GOPRO_Large/`` after unpacking; fetching it is not this module's job)
holds::

    {split}/{sequence}/sharp/{frame}.png        sharp frame
    {split}/{sequence}/blur/{frame}.png         blurry frame, camera response taken as linear
    {split}/{sequence}/blur_gamma/{frame}.png   blurry frame, camera response taken as gamma 2.2

e.g. ``train/GOPR0372_07_00/sharp/000047.png``. The README calls the two blurry versions
"gamma corrected and not corrected (linear CRF)"; DeepDeblur's demo picks one with
``-blur_type linear`` or ``gamma2.2``.

``split`` is ``train`` or ``test`` in GOPRO_Large; any folder with this shape reads the
same way (pass ``dataset=`` to name it). The layout is that of the DeepDeblur README
(``GOPRO_Large/train/GOPRxxxx_xx_xx/blur/xxxxxx.png``); which blurry folder to read is
the ``blur`` argument (``"blur"`` by default, or ``"blur_gamma"``).

Scene ids must match ``[A-Za-z0-9][A-Za-z0-9_.-]*`` (no slashes), so a pair is named
``{split}.{sequence}.{frame}``, e.g. ``train.GOPR0372_07_00.000047``. Each part must match
``[A-Za-z0-9][A-Za-z0-9_-]*`` (no dots), which keeps the encoding reversible. There is no
fixed manifest: :func:`list_ids` scans the folder.

>>> encode_id("train", "GOPR0372_07_00", "000047")
'train.GOPR0372_07_00.000047'
>>> decode_id("test.GOPR0384_11_00.000001")
('test', 'GOPR0384_11_00', '000001')
>>> sharp_path("train.GOPR0372_07_00.000047"), blurry_path("train.GOPR0372_07_00.000047")
('train/GOPR0372_07_00/sharp/000047.png', 'train/GOPR0372_07_00/blur/000047.png')
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from inrdeblur.data.checksums import raise_problems
from inrdeblur.fileio import InputFileError, read_image
from inrdeblur.records.scene import Scene

DATASET = "gopro"
SHARP_FOLDER = "sharp"
#: The blurry folders of a GOPRO_Large sequence: linear and gamma-2.2 camera response.
BLUR_FOLDERS: tuple[str, ...] = ("blur", "blur_gamma")
SUFFIX = ".png"
#: Pairs per split in GOPRO_Large (DeepDeblur_release README: 2103 train, 1111 test).
GOPRO_PAIR_COUNTS: dict[str, int] = {"train": 2103, "test": 1111}

CITATION = (
    "S. Nah, T. H. Kim, K. M. Lee. Deep Multi-Scale Convolutional Neural Network for Dynamic "
    "Scene Deblurring. CVPR 2017."
)
LICENCE = (
    "No licence is stated in the DeepDeblur_release README; see the dataset page "
    "https://seungjunnah.github.io/Datasets/gopro. Cite: " + CITATION
)

_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _check_part(kind: str, value: str, where: str | Path | None = None) -> str:
    if not isinstance(value, str) or _PART.match(value) is None:
        prefix = f"{where}: " if where is not None else ""
        raise ValueError(
            f"{prefix}{kind} name {value!r} cannot be part of a scene id: it must match "
            "[A-Za-z0-9][A-Za-z0-9_-]* (letters, digits, '_' and '-', no dots)"
        )
    return value


def _check_blur(blur: str) -> str:
    if blur not in BLUR_FOLDERS:
        raise ValueError(f"unknown blurry folder {blur!r}; valid: {', '.join(BLUR_FOLDERS)}")
    return blur


def encode_id(split: str, sequence: str, frame: str) -> str:
    """The scene id ``{split}.{sequence}.{frame}`` of a pair (``frame`` without suffix)."""
    return ".".join(
        (
            _check_part("split", split),
            _check_part("sequence", sequence),
            _check_part("frame", frame),
        )
    )


def decode_id(scene_id: str) -> tuple[str, str, str]:
    """``(split, sequence, frame)`` of a scene id made by :func:`encode_id`."""
    parts = scene_id.split(".") if isinstance(scene_id, str) else []
    if len(parts) != 3 or any(_PART.match(p) is None for p in parts):
        raise ValueError(
            f"pairs dataset: scene id {scene_id!r} is not '<split>.<sequence>.<frame>' "
            "(e.g. 'train.GOPR0372_07_00.000047')"
        )
    return parts[0], parts[1], parts[2]


def sharp_path(scene_id: str) -> str:
    """Path of the pair's sharp frame, relative to the dataset root."""
    split, sequence, frame = decode_id(scene_id)
    return f"{split}/{sequence}/{SHARP_FOLDER}/{frame}{SUFFIX}"


def blurry_path(scene_id: str, blur: str = "blur") -> str:
    """Path of the pair's blurry frame in folder ``blur``, relative to the dataset root."""
    split, sequence, frame = decode_id(scene_id)
    return f"{split}/{sequence}/{_check_blur(blur)}/{frame}{SUFFIX}"


def _frames(folder: Path) -> set[str]:
    return {p.stem for p in folder.iterdir() if p.is_file() and p.suffix == SUFFIX}


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_ids(
    root: str | os.PathLike, splits: Iterable[str] | None = None, blur: str = "blur"
) -> list[str]:
    """Scene ids of every pair under ``root``, sorted by split, sequence and frame.

    ``splits`` names the split folders to scan in that order (default: every folder in
    ``root``, sorted by name). In each sequence folder every ``sharp/<frame>.png`` must
    have ``<blur>/<frame>.png`` and the other way round; only ``.png`` files count.

    Raises:
        InputFileError: a missing root, split, ``sharp/`` or ``<blur>/`` folder, or a
            frame without its partner, naming the expected path; a split, sequence or
            frame name that cannot be part of an id, naming the path.
    """
    root = Path(root)
    _check_blur(blur)
    if not root.is_dir():
        raise InputFileError(f"{root}: pairs dataset folder not found")
    split_dirs = _subfolders(root) if splits is None else [root / s for s in splits]
    ids: list[str] = []
    for split_dir in split_dirs:
        if not split_dir.is_dir():
            raise InputFileError(f"{split_dir}: split folder not found")
        for sequence_dir in _subfolders(split_dir):
            sharp_dir, blur_dir = sequence_dir / SHARP_FOLDER, sequence_dir / blur
            for folder in (sharp_dir, blur_dir):
                if not folder.is_dir():
                    raise InputFileError(f"{folder}: folder not found")
            sharp, blurry = _frames(sharp_dir), _frames(blur_dir)
            for frame in sorted(sharp ^ blurry):
                missing = (blur_dir if frame in sharp else sharp_dir) / f"{frame}{SUFFIX}"
                present = (sharp_dir if frame in sharp else blur_dir) / f"{frame}{SUFFIX}"
                raise InputFileError(f"{missing}: file not found (partner of {present})")
            try:
                _check_part("split", split_dir.name, split_dir)
                _check_part("sequence", sequence_dir.name, sequence_dir)
                for frame in sorted(sharp):
                    _check_part("frame", frame, sharp_dir / f"{frame}{SUFFIX}")
            except ValueError as err:
                raise InputFileError(str(err)) from err
            ids.extend(encode_id(split_dir.name, sequence_dir.name, f) for f in sorted(sharp))
    return ids


def _image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise InputFileError(f"{path}: not a readable image ({err})") from err
    return height, width


def verify(
    root: str | os.PathLike,
    blur: str = "blur",
    expected_counts: Mapping[str, int] | None = None,
) -> list[str]:
    """Check every pair under ``root`` and return the scene ids (:func:`list_ids` order).

    Every pair must exist (see :func:`list_ids`) and its two images must have the same
    size (read from the file headers). With ``expected_counts`` (``{split: pairs}``, e.g.
    :data:`GOPRO_PAIR_COUNTS`) only those splits are scanned and each must have exactly
    that many pairs. No per-file checksums of GOPRO_Large are published; the archive's
    hash is the registry's business. Size and count problems are raised together as one
    :class:`InputFileError`, one line each.
    """
    root = Path(root)
    splits = None if expected_counts is None else list(expected_counts)
    ids = list_ids(root, splits=splits, blur=blur)
    problems = []
    for sid in ids:
        sharp_file, blurry_file = root / sharp_path(sid), root / blurry_path(sid, blur)
        sharp_size, blurry_size = _image_size(sharp_file), _image_size(blurry_file)
        if sharp_size != blurry_size:
            problems.append(
                f"{blurry_file}: size {blurry_size[1]}x{blurry_size[0]} differs from its "
                f"sharp frame {sharp_file} ({sharp_size[1]}x{sharp_size[0]}, W x H)"
            )
    for split, expected in (expected_counts or {}).items():
        found = sum(1 for sid in ids if decode_id(sid)[0] == split)
        if found != expected:
            problems.append(f"{root / split}: {found} pairs, expected {expected}")
    raise_problems("pairs", root, problems)
    return ids


def make_scene(
    root: str | os.PathLike, scene_id: str, blur: str = "blur", dataset: str = DATASET
) -> Scene:
    """Read the pair ``scene_id`` (``{split}.{sequence}.{frame}``) from the folder ``root``.

    Returns a :class:`Scene` named ``dataset`` with ``sharp`` from
    ``{split}/{sequence}/sharp/{frame}.png`` and ``blurry`` from
    ``{split}/{sequence}/{blur}/{frame}.png``, both (H, W, 3) float32 in [0, 1] (8-bit
    level / 255; a gray file is replicated into three channels), and ``attrs`` ``split``,
    ``sequence``, ``frame``, ``blur_folder``, ``files`` and ``source`` (plus GoPro's
    ``licence`` and ``citation`` when ``dataset`` is ``"gopro"``). No kernel, no geometry.

    Raises:
        ValueError: a malformed ``scene_id`` or an unknown ``blur`` folder.
        InputFileError: a missing or unreadable file (naming the expected path), or two
            images of different sizes (naming both files).
    """
    split, sequence, frame = decode_id(scene_id)
    root = Path(root)
    sharp_file, blurry_file = root / sharp_path(scene_id), root / blurry_path(scene_id, blur)
    images = []
    for path in (sharp_file, blurry_file):
        if not path.is_file():
            partner = blurry_file if path == sharp_file else sharp_file
            raise InputFileError(f"{path}: file not found (partner of {partner})")
        image = read_image(path)
        if image.ndim == 2:
            image = image[..., None].repeat(3, axis=2)
        elif image.shape[2] != 3:
            raise InputFileError(f"{path}: expected an RGB or gray image, got {image.shape}")
        images.append(image)
    sharp, blurry = images
    if sharp.shape != blurry.shape:
        raise InputFileError(
            f"{blurry_file}: size {blurry.shape[1]}x{blurry.shape[0]} differs from its sharp "
            f"frame {sharp_file} ({sharp.shape[1]}x{sharp.shape[0]}, W x H)"
        )
    attrs = {
        "split": split,
        "sequence": sequence,
        "frame": frame,
        "blur_folder": blur,
        "files": {"sharp": sharp_path(scene_id), "blurry": blurry_path(scene_id, blur)},
        "source": "sharp/blurry pair folder in the GoPro layout (Nah et al. 2017)",
    }
    if dataset == DATASET:
        attrs.update(licence=LICENCE, citation=CITATION)
    return Scene(dataset=dataset, id=scene_id, sharp=sharp, blurry=blurry, attrs=attrs)
